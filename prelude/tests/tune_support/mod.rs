//! Helpers shared by the fine-tuning tests: the tiny fixtures as models with their inputs, and
//! making adapter tensors non-trivial (LoRA's B starts at zero).
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;
use tch::{Kind, Tensor};
use tuna::models::*;

#[path = "../models_support/mod.rs"]
pub mod models_support;
pub use models_support::{expected, fixture, max_abs, python, temp_dir, tuna_data};

/// `tests/fixtures/tune/<name>` (written by `make_fixtures.py` there).
pub fn tune_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tune").join(name)
}

pub fn bert() -> BertForSequenceClassification {
    BertForSequenceClassification::from_pretrained(fixture("bert_seqcls")).expect("bert_seqcls fixture")
}
pub fn gpt2() -> GPT2LMHeadModel {
    GPT2LMHeadModel::from_pretrained(fixture("gpt2")).expect("gpt2 fixture")
}
pub fn vit() -> ViTForImageClassification {
    ViTForImageClassification::from_pretrained(fixture("vit")).expect("vit fixture")
}

/// (input_ids, attention_mask) of the BERT fixtures.
pub fn bert_inputs() -> (Tensor, Tensor) {
    let e = expected("bert");
    (e.require("input_ids").unwrap().shallow_clone(), e.require("attention_mask").unwrap().shallow_clone())
}
pub fn gpt2_inputs() -> Tensor {
    expected("gpt2").require("input_ids").unwrap().shallow_clone()
}
pub fn vit_inputs() -> Tensor {
    expected("vit").require("pixel_values").unwrap().shallow_clone()
}

pub fn bert_logits(m: &BertForSequenceClassification) -> Tensor {
    let (ids, mask) = bert_inputs();
    m.forward(&ids, Some(&mask), None)
}
pub fn gpt2_logits(m: &GPT2LMHeadModel) -> Tensor {
    m.forward(&gpt2_inputs(), None)
}
pub fn vit_logits(m: &ViTForImageClassification) -> Tensor {
    m.forward(&vit_inputs())
}

/// Adds noise to every trainable variable, as if trained.
pub fn perturb(vs: &tch::nn::VarStore, seed: i64) {
    tch::manual_seed(seed);
    let mut vars: Vec<_> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, t) in vars {
        if t.requires_grad() {
            let noise = Tensor::randn(t.size(), (Kind::Float, t.device())) * 0.1;
            tch::no_grad(|| t.shallow_clone().copy_(&(&t + noise)));
        }
    }
}

/// Writes what `make_fixtures.py check` needs beside an adapter tuna saved: the base checkpoint's
/// folder (`tests/fixtures/models/<base>`) and the inputs.
pub fn write_for_python(dir: &std::path::Path, base: &str, inputs: &[(&str, Tensor)]) {
    std::fs::write(dir.join("base.txt"), fixture(base).display().to_string()).unwrap();
    let t: Vec<(String, Tensor)> = inputs.iter().map(|(k, v)| (k.to_string(), v.shallow_clone())).collect();
    tuna::models::checkpoint::write_safetensors(&dir.join("inputs.safetensors"), &t).unwrap();
}

/// Loads each adapter folder with Python's `PeftModel.from_pretrained` and asserts that its logits
/// equal tuna's (≤ 1e-5), printing the distance.
pub fn python_peft_agrees(ours: &[(PathBuf, Tensor)]) {
    let out = std::process::Command::new(python())
        .arg(tune_fixture("make_fixtures.py"))
        .arg("check")
        .args(ours.iter().map(|(d, _)| d))
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("run python");
    assert!(out.status.success(), "make_fixtures.py check failed:\n{}", String::from_utf8_lossy(&out.stderr));
    for (dir, logits) in ours {
        let theirs = Checkpoint::from_file(&dir.join("python.safetensors")).expect("python.safetensors");
        let d = max_abs(logits, theirs.require("logits").expect("logits"));
        println!("{}: max-abs {d:.2e}", dir.display());
        assert!(d <= 1e-5, "{}: max-abs {d}", dir.display());
    }
}
