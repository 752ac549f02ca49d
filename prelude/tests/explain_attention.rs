//! Attention probabilities recorded by `with_attentions` against Python transformers'
//! `output_attentions=True` (eager attention) on the tiny golden checkpoints: BERT with padding,
//! GPT-2 causal with padding, ViT. `tests/fixtures/explain/make_attentions.py` wrote the numbers.

#[path = "models_support/mod.rs"]
mod models_support;

use models_support::{fixture, max_abs};
use std::path::PathBuf;
use tch::{Kind, Tensor};
use tuna::models::*;
use tuna::prelude::{bert_attentions, gpt2_attentions, Tokenizer};
use tuna::Result;

const TOL: f64 = 1e-5;

fn golden() -> Checkpoint {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/explain/attentions.safetensors");
    Checkpoint::from_file(&path).expect("tests/fixtures/explain/attentions.safetensors")
}

fn stacked(layers: &[Tensor]) -> Tensor {
    Tensor::stack(layers, 0)
}

/// Padded query rows are not compared: Hugging Face fills them over the unpadded keys too,
/// but nothing downstream reads them; every real query row must match.
fn real_rows(t: &Tensor, mask: &Tensor) -> Tensor {
    t * mask.to_kind(Kind::Float).view([1, 2, 1, 8, 1])
}

#[test]
fn bert_attentions_match_python() -> Result<()> {
    let g = golden();
    let (ids, mask, types) = (g.require("bert_input_ids")?, g.require("bert_attention_mask")?, g.require("bert_token_type_ids")?);
    let model = BertModel::from_pretrained(fixture("bert"))?;
    let fused = tch::no_grad(|| model.forward(ids, Some(mask), Some(types)));
    let (explicit, layers) = with_attentions(|| tch::no_grad(|| model.forward(ids, Some(mask), Some(types))));
    assert_eq!(layers.len(), 2);
    let ours = stacked(&layers);
    let expected = g.require("bert_attentions")?;
    let d = max_abs(&real_rows(&ours, mask), &real_rows(expected, mask));
    let h = max_abs(&fused, &explicit);
    println!("bert attentions: max-abs {d:.2e}; hidden fused vs explicit {h:.2e}");
    assert!(d < TOL, "{d}");
    assert!(h < TOL, "recording must not change the output: {h}");
    // Padding keys get no weight.
    assert_eq!(f64::try_from(ours.get(0).get(1).narrow(-1, 5, 3).abs().max())?, 0.0);
    Ok(())
}

#[test]
fn gpt2_causal_attentions_match_python() -> Result<()> {
    let g = golden();
    let (ids, mask) = (g.require("gpt2_input_ids")?, g.require("gpt2_attention_mask")?);
    let model = GPT2LMHeadModel::from_pretrained(fixture("gpt2"))?;
    let (_, layers) = with_attentions(|| tch::no_grad(|| model.forward(ids, Some(mask))));
    let ours = stacked(&layers);
    let d = max_abs(&real_rows(&ours, mask), &real_rows(g.require("gpt2_attentions")?, mask));
    println!("gpt2 attentions: max-abs {d:.2e}");
    assert!(d < TOL, "{d}");
    // Causal: nothing above the diagonal.
    assert_eq!(f64::try_from(ours.triu(1).abs().max())?, 0.0);
    Ok(())
}

#[test]
fn vit_attentions_match_python() -> Result<()> {
    let g = golden();
    let model = ViTForImageClassification::from_pretrained(fixture("vit"))?;
    let (_, layers) = with_attentions(|| tch::no_grad(|| model.forward(g.require("vit_pixel_values").unwrap())));
    let d = max_abs(&stacked(&layers), g.require("vit_attentions")?);
    println!("vit attentions: max-abs {d:.2e}");
    assert!(d < TOL, "{d}");
    Ok(())
}

/// A WordPiece tokenizer whose ids fit the fixtures' 99-token vocabulary.
fn tiny_tokenizer() -> Tokenizer {
    let texts = ["the cat sat on the mat", "a dog ran in the park", "what a lovely day it is", "the movie was great"];
    Tokenizer::train_wordpiece(&texts, 99).unwrap()
}

#[test]
fn attention_maps_for_a_sentence() -> Result<()> {
    let tok = tiny_tokenizer();
    let bert = BertModel::from_pretrained(fixture("bert"))?;
    let a = bert_attentions(&bert.bert, &tok, "the cat sat on the mat")?;
    let n = a.tokens.len() as i64;
    assert_eq!(a.tokens.first().map(String::as_str), Some("[CLS]"));
    assert_eq!(a.weights.size(), [2, 4, n, n]);
    let sums = a.weights.sum_dim_intlist(-1, false, Kind::Float);
    assert!(sums.allclose(&sums.ones_like(), 1e-5, 1e-5, false), "rows are distributions");
    assert!(a.head(1, 3)?.to_svg().contains("layer 1, head 3"));
    assert!(a.head(2, 0).unwrap_err().to_string().contains("layers 0..2"));
    assert_eq!(a.grid()?.to_svg().matches("<image").count(), 8);

    let gpt2 = GPT2Model::from_pretrained(fixture("gpt2"))?;
    let c = gpt2_attentions(&gpt2.transformer, &tok, "the cat sat on the mat")?;
    assert_eq!(c.weights.size()[..2], [2, 4]);
    assert_eq!(f64::try_from(c.weights.triu(1).abs().max())?, 0.0);
    Ok(())
}
