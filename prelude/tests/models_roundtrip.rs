//! Round trip: models saved by tuna's `save_pretrained` load in Python transformers
//! (`tests/fixtures/models/roundtrip.py`, through the Auto classes, with no missing or
//! unexpected key) and give the same logits; and they load back in tuna unchanged.

mod models_support;

use models_support::{expected, fixture, max_abs, python, temp_dir};
use std::path::Path;
use tch::{Kind, Tensor};
use tuna::models::checkpoint::write_safetensors;
use tuna::models::*;
use tuna::Result;

fn save_inputs(dir: &Path, inputs: &[(&str, &Tensor)]) {
    let t: Vec<(String, Tensor)> = inputs.iter().map(|(k, v)| (k.to_string(), v.shallow_clone())).collect();
    write_safetensors(&dir.join("inputs.safetensors"), &t).unwrap();
}

#[test]
fn python_loads_what_tuna_saves_and_computes_the_same_logits() -> Result<()> {
    let root = temp_dir("roundtrip");
    let e = expected("bert");
    let (ids, mask) = (e.require("input_ids")?, e.require("attention_mask")?);
    let mut ours: Vec<(std::path::PathBuf, Tensor)> = Vec::new();

    // A classifier built from a config in Rust, randomly initialised: nothing came from Python.
    tch::manual_seed(0);
    let mut config = BertConfig { vocab_size: 99, hidden_size: 32, num_attention_heads: 4, intermediate_size: 37, ..BertConfig::tiny() };
    config.set_num_labels(3);
    let cls = BertForSequenceClassification::new(config)?;
    let dir = root.join("bert_seqcls");
    cls.save_pretrained(&dir)?;
    save_inputs(&dir, &[("input_ids", ids), ("attention_mask", mask)]);
    ours.push((dir, tch::no_grad(|| cls.forward(ids, Some(mask), None))));

    // Masked LM with its tied decoder, which is not written (as transformers does).
    let mlm = BertForMaskedLM::from_pretrained(fixture("bert_mlm"))?;
    let dir = root.join("bert_mlm");
    mlm.save_pretrained(&dir)?;
    let saved = Checkpoint::from_dir(&dir)?;
    assert!(saved.get("cls.predictions.decoder.weight").is_none());
    save_inputs(&dir, &[("input_ids", ids), ("attention_mask", mask)]);
    ours.push((dir, tch::no_grad(|| mlm.forward(ids, Some(mask), None))));

    // GPT-2 from a config, Conv1D weights written in their (in, out) layout.
    let gpt = GPT2LMHeadModel::new(GPT2Config { vocab_size: 99, n_embd: 32, n_head: 4, n_positions: 64, ..GPT2Config::tiny() })?;
    let dir = root.join("gpt2");
    gpt.save_pretrained(&dir)?;
    let gids = expected("gpt2").require("input_ids")?.shallow_clone();
    save_inputs(&dir, &[("input_ids", &gids)]);
    ours.push((dir, tch::no_grad(|| gpt.forward(&gids, None))));

    let vit = ViTForImageClassification::from_pretrained(fixture("vit"))?;
    let dir = root.join("vit");
    vit.save_pretrained(&dir)?;
    let ev = expected("vit");
    let pixels = ev.require("pixel_values")?;
    save_inputs(&dir, &[("pixel_values", pixels)]);
    ours.push((dir, tch::no_grad(|| vit.forward(pixels))));

    let out = std::process::Command::new(python())
        .arg(fixture("roundtrip.py"))
        .args(ours.iter().map(|(d, _)| d))
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("run python");
    assert!(out.status.success(), "roundtrip.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    for (dir, logits) in &ours {
        let theirs = Checkpoint::from_file(&dir.join("python.safetensors"))?;
        let d = max_abs(logits, theirs.require("logits")?);
        println!("{}: max-abs {d:.2e}", dir.file_name().unwrap().to_string_lossy());
        assert!(d <= 1e-5, "{}: max-abs {d}", dir.display());
    }

    // And back into tuna: the same logits, every key accounted for.
    let again = BertForSequenceClassification::from_pretrained(root.join("bert_seqcls"))?;
    assert!(again.load_report().unwrap().is_complete());
    assert_eq!(again.config().labels.len(), 3);
    assert!(max_abs(&tch::no_grad(|| again.forward(ids, Some(mask), None)), &ours[0].1) == 0.0);
    let again = BertForMaskedLM::from_pretrained(root.join("bert_mlm"))?;
    assert!(again.load_report().unwrap().is_complete());
    Ok(())
}

#[test]
fn bf16_models_save_bf16_tensors() -> Result<()> {
    let dir = temp_dir("bf16");
    let model = ViTForImageClassification::pretrained(fixture("vit")).kind(Kind::BFloat16).load()?;
    model.save_pretrained(&dir)?;
    let saved = Checkpoint::from_dir(&dir)?;
    assert_eq!(saved.require("classifier.weight")?.kind(), Kind::BFloat16);
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["dtype"], "bfloat16");
    assert_eq!(config["model_type"], "vit");
    let back = ViTForImageClassification::from_pretrained(&dir)?;
    assert_eq!(back.classifier.weight.kind(), Kind::Float);
    Ok(())
}
