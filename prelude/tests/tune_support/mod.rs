//! Helpers shared by the fine-tuning tests: the tiny fixtures as models with their inputs, and
//! making adapter tensors non-trivial (LoRA's B starts at zero).
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;
use tch::{Kind, Tensor};
use tuna::models::*;

#[path = "../models_support/mod.rs"]
pub mod models_support;
pub use models_support::{expected, fixture, max_abs, python, temp_dir};

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
