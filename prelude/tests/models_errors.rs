//! Bad input gives an error naming the file and the key: no config.json, a truncated
//! safetensors file, an unexpected dtype, a key with the wrong shape, a config.json that does
//! not parse.

mod models_support;

use models_support::{fixture, temp_dir};
use std::path::{Path, PathBuf};
use tch::Kind;
use tuna::models::checkpoint::write_safetensors;
use tuna::models::*;

/// A copy of the sequence-classification fixture in a fresh directory.
fn copy_of_fixture(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture("bert_seqcls").join(f), dir.join(f)).unwrap();
    }
    dir
}

/// Rewrites the checkpoint in `dir` with `change` applied to `classifier.weight`.
fn rewrite(dir: &Path, change: impl Fn(tch::Tensor) -> tch::Tensor) {
    let path = dir.join("model.safetensors");
    let ckpt = Checkpoint::from_file(&path).unwrap();
    let tensors: Vec<(String, tch::Tensor)> = ckpt
        .keys()
        .map(|k| {
            let t = ckpt.get(k).unwrap().shallow_clone();
            (k.to_owned(), if k == "classifier.weight" { change(t) } else { t })
        })
        .collect();
    write_safetensors(&path, &tensors).unwrap();
}

#[test]
fn missing_config_json() {
    let dir = copy_of_fixture("noconfig");
    std::fs::remove_file(dir.join("config.json")).unwrap();
    let err = BertModel::from_pretrained(&dir).unwrap_err().to_string();
    assert!(err.contains(&dir.join("config.json").display().to_string()) && err.contains("not found"), "{err}");
}

#[test]
fn unparsable_config_json() {
    let dir = copy_of_fixture("badjson");
    std::fs::write(dir.join("config.json"), "{\"hidden_size\": 32,,}").unwrap();
    let err = BertModel::from_pretrained(&dir).unwrap_err().to_string();
    assert!(err.contains("config.json") && err.contains("line 1"), "{err}");
    std::fs::write(dir.join("config.json"), "{\"hidden_act\": \"wiggle\"}").unwrap();
    let err = BertModel::from_pretrained(&dir).unwrap_err().to_string();
    assert!(err.contains("config.json") && err.contains("wiggle"), "{err}");
}

#[test]
fn truncated_safetensors() {
    let dir = copy_of_fixture("truncated");
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = BertModel::from_pretrained(&dir).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()) && err.contains("truncated"), "{err}");
}

#[test]
fn unexpected_dtype() {
    let dir = copy_of_fixture("dtype");
    rewrite(&dir, |t| t.to_kind(Kind::Int64));
    let err = BertForSequenceClassification::from_pretrained(&dir).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("`classifier.weight`") && err.contains("Int64"), "{err}");
}

#[test]
fn wrong_shape_names_the_key_and_both_shapes() {
    let dir = copy_of_fixture("shape");
    rewrite(&dir, |t| t.narrow(1, 0, 16).contiguous());
    let err = BertForSequenceClassification::from_pretrained(&dir).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("`classifier.weight`"), "{err}");
    assert!(err.contains("[3, 16]") && err.contains("[3, 32]") && err.contains("ignore_mismatched_sizes"), "{err}");
}

#[test]
fn a_head_of_another_size_is_reinitialised_when_asked() {
    let dir = fixture("bert_seqcls");
    assert!(BertForSequenceClassification::pretrained(&dir).num_labels(5).load().is_err());
    let model = BertForSequenceClassification::pretrained(&dir).num_labels(5).ignore_mismatched_sizes().load().unwrap();
    let report = model.load_report().unwrap();
    let keys: Vec<&str> = report.mismatched.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(keys, ["classifier.bias", "classifier.weight"]);
    assert_eq!(report.mismatched[1].1, [3, 32]);
    assert_eq!(model.classifier.weight.size(), [5, 32]);
}
