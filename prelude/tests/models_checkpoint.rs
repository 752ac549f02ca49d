//! Checkpoint files: sharded checkpoints through `model.safetensors.index.json`, and the
//! errors for a directory without weights or with an index that lies.

mod models_support;

use models_support::{expected, fixture, max_abs, temp_dir};
use tch::Tensor;
use tuna::models::checkpoint::write_safetensors;
use tuna::models::*;
use tuna::Result;

/// The GPT-2 fixture split into two shards plus the index transformers writes.
fn sharded_copy(name: &str, index_extra: &str) -> std::path::PathBuf {
    let dir = temp_dir(name);
    std::fs::copy(fixture("gpt2").join("config.json"), dir.join("config.json")).unwrap();
    let ckpt = Checkpoint::from_dir(fixture("gpt2")).unwrap();
    let keys: Vec<String> = ckpt.keys().map(str::to_owned).collect();
    let (a, b) = keys.split_at(keys.len() / 2);
    let mut map = Vec::new();
    for (file, part) in [("model-00001-of-00002.safetensors", a), ("model-00002-of-00002.safetensors", b)] {
        let tensors: Vec<(String, Tensor)> = part.iter().map(|k| (k.clone(), ckpt.get(k).unwrap().shallow_clone())).collect();
        write_safetensors(&dir.join(file), &tensors).unwrap();
        map.extend(part.iter().map(|k| format!("\"{k}\": \"{file}\"")));
    }
    let index = format!("{{\"metadata\": {{}}, \"weight_map\": {{{}{index_extra}}}}}", map.join(", "));
    std::fs::write(dir.join("model.safetensors.index.json"), index).unwrap();
    dir
}

#[test]
fn sharded_checkpoints_load_like_single_files() -> Result<()> {
    let dir = sharded_copy("sharded", "");
    let model = GPT2LMHeadModel::from_pretrained(&dir)?;
    let report = model.load_report().unwrap();
    assert!(report.is_complete(), "{}", report.summary());
    assert!(report.source.ends_with("model.safetensors.index.json"));
    let e = expected("gpt2");
    let logits = tch::no_grad(|| model.forward(e.require("input_ids").unwrap(), None));
    assert!(max_abs(&logits, e.require("logits")?) < 1e-5);
    Ok(())
}

#[test]
fn an_index_naming_a_tensor_no_shard_holds_is_an_error() {
    let dir = sharded_copy("badindex", ", \"h.9.ln_1.weight\": \"model-00001-of-00002.safetensors\"");
    let err = GPT2LMHeadModel::from_pretrained(&dir).unwrap_err().to_string();
    assert!(err.contains("model.safetensors.index.json") && err.contains("`h.9.ln_1.weight`"), "{err}");
}

#[test]
fn a_directory_without_weights_says_what_it_looked_for() {
    let dir = temp_dir("noweights");
    std::fs::copy(fixture("gpt2").join("config.json"), dir.join("config.json")).unwrap();
    std::fs::write(dir.join("pytorch_model.bin"), b"not read").unwrap();
    let err = GPT2LMHeadModel::from_pretrained(&dir).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("pytorch_model.bin"), "{err}");
}
