//! BERT against the golden fixtures that `tests/fixtures/models/make_fixtures.py` wrote with
//! Python transformers: each head, prefix handling between base and head checkpoints, tied
//! weights, adapters by name, summaries, bf16.

#[path = "margin_support/mod.rs"]
mod margin_support;
mod models_support;

use models_support::{expected, fixture, max_abs};
use tch::{Kind, Tensor};
use tuna::display::Render;
use tuna::models::*;
use tuna::Result;

const TOL: f64 = 1e-5;

fn inputs() -> (Tensor, Tensor, Tensor) {
    let e = expected("bert");
    let get = |k: &str| e.get(k).unwrap().shallow_clone();
    (get("input_ids"), get("attention_mask"), get("token_type_ids"))
}

#[test]
fn base_model_matches_python() -> Result<()> {
    let (ids, mask, types) = inputs();
    let model = BertModel::from_pretrained(fixture("bert"))?;
    assert!(model.load_report().unwrap().is_complete(), "{}", model.load_report().unwrap().summary());
    let (hidden, pooled) = tch::no_grad(|| model.forward_pooled(&ids, Some(&mask), Some(&types)));
    let e = expected("bert");
    let d = max_abs(&hidden, e.require("last_hidden_state")?);
    let p = max_abs(&pooled.unwrap(), e.require("pooler_output")?);
    println!("bert base: max-abs hidden {d:.2e}, pooler {p:.2e}");
    assert!(d < TOL && p < TOL);
    Ok(())
}

#[test]
fn masked_lm_matches_python_with_tied_decoder() -> Result<()> {
    let (ids, mask, types) = inputs();
    let model = BertForMaskedLM::from_pretrained(fixture("bert_mlm"))?;
    let report = model.load_report().unwrap();
    assert!(report.is_complete(), "{}", report.summary());
    let logits = tch::no_grad(|| model.forward(&ids, Some(&mask), Some(&types)));
    let d = max_abs(&logits, expected("bert_mlm").require("logits")?);
    println!("bert mlm: max-abs logits {d:.2e}");
    assert!(d < TOL);
    // The decoder is the word-embedding matrix itself, not a copy.
    assert_eq!(model.decoder.weight.data_ptr(), model.bert.embeddings.word_embeddings.weight.data_ptr());
    Ok(())
}

#[test]
fn sequence_classification_matches_python() -> Result<()> {
    let (ids, mask, types) = inputs();
    let model = BertForSequenceClassification::from_pretrained(fixture("bert_seqcls"))?;
    let logits = tch::no_grad(|| model.forward(&ids, Some(&mask), Some(&types)));
    assert_eq!(logits.size(), [2, 3]);
    let d = max_abs(&logits, expected("bert_seqcls").require("logits")?);
    println!("bert seqcls: max-abs logits {d:.2e}");
    assert!(d < TOL);
    Ok(())
}

#[test]
fn trailing_padding_columns_do_not_change_classification() -> Result<()> {
    let (ids, mask, types) = inputs();
    let pad = |t: &Tensor| Tensor::cat(&[t.shallow_clone(), t.zeros_like().narrow(1, 0, 5)], 1);
    let model = BertForSequenceClassification::from_pretrained(fixture("bert_seqcls"))?;
    let logits = tch::no_grad(|| model.forward(&pad(&ids), Some(&pad(&mask)), Some(&pad(&types))));
    let d = max_abs(&logits, expected("bert_seqcls").require("logits")?);
    assert!(d < TOL, "max-abs {d}");
    Ok(())
}

#[test]
fn token_classification_matches_python() -> Result<()> {
    let (ids, mask, types) = inputs();
    let model = BertForTokenClassification::from_pretrained(fixture("bert_tokcls"))?;
    let logits = tch::no_grad(|| model.forward(&ids, Some(&mask), Some(&types)));
    assert_eq!(logits.size(), [2, 8, 4]);
    let d = max_abs(&logits, expected("bert_tokcls").require("logits")?);
    println!("bert tokcls: max-abs logits {d:.2e}");
    assert!(d < TOL);
    Ok(())
}

#[test]
fn base_model_loads_a_head_checkpoint_without_its_prefix() -> Result<()> {
    let (ids, mask, types) = inputs();
    let model = BertModel::from_pretrained(fixture("bert_seqcls"))?;
    let report = model.load_report().unwrap();
    assert_eq!(report.unexpected, ["classifier.bias", "classifier.weight"]);
    assert!(report.missing.is_empty());
    assert!(report.loaded.contains(&"encoder.layer.1.attention.self.query.weight".to_string()));
    let (hidden, pooled) = tch::no_grad(|| model.forward_pooled(&ids, Some(&mask), Some(&types)));
    let e = expected("bert_seqcls");
    assert!(max_abs(&hidden, e.require("last_hidden_state")?) < TOL);
    assert!(max_abs(&pooled.unwrap(), e.require("pooler_output")?) < TOL);
    Ok(())
}

#[test]
fn head_model_loads_a_base_checkpoint_and_initialises_the_head() -> Result<()> {
    let model = BertForSequenceClassification::pretrained(fixture("bert")).num_labels(5).load()?;
    let report = model.load_report().unwrap();
    assert_eq!(report.missing, ["classifier.bias", "classifier.weight"]);
    assert!(report.unexpected.is_empty());
    assert!(report.loaded.iter().all(|k| k.starts_with("bert.")));
    // As Hugging Face initialises a new head: normal(0, 0.02) weight, zero bias.
    let w = &model.classifier.weight;
    assert_eq!(w.size(), [5, 32]);
    let std = f64::try_from(w.std(true)).unwrap();
    assert!((0.01..0.03).contains(&std), "classifier std {std}");
    assert_eq!(f64::try_from(model.classifier.bias.as_ref().unwrap().abs().sum(Kind::Float)).unwrap(), 0.0);
    let html = report.render();
    let html = html.get("text/html").unwrap().as_str().unwrap();
    assert!(html.contains("newly initialised") && html.contains("classifier.weight"), "{html}");
    Ok(())
}

#[test]
fn every_linear_is_reachable_by_its_checkpoint_name() -> Result<()> {
    let mut model = BertForSequenceClassification::from_pretrained(fixture("bert_seqcls"))?;
    let keys: Vec<String> = model.var_store().variables().into_keys().collect();
    let names: Vec<String> = model.linears_mut().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 2 * 6 + 2);
    for n in &names {
        assert!(keys.contains(&format!("{n}.weight")), "{n} is not a checkpoint key");
    }
    assert!(names.contains(&"bert.encoder.layer.1.attention.self.value".to_string()));

    struct Zero;
    impl LinearAdapter for Zero {
        fn name(&self) -> &str {
            "zero"
        }
        fn forward(&self, _x: &Tensor, base_out: Tensor) -> Tensor {
            base_out.zeros_like()
        }
    }
    for (name, linear) in model.linears_mut() {
        if name == "classifier" {
            linear.attach(Box::new(Zero));
        }
    }
    let (ids, mask, types) = inputs();
    let logits = tch::no_grad(|| model.forward(&ids, Some(&mask), Some(&types)));
    assert_eq!(f64::try_from(logits.abs().sum(Kind::Float)).unwrap(), 0.0, "the adapter's output must be used");
    let summary = model.summary();
    assert!(summary.rows.iter().any(|r| r.name == "classifier" && r.adapters == ["zero"]));
    Ok(())
}

#[test]
fn summary_folds_layers_and_counts_parameters() -> Result<()> {
    let model = BertForSequenceClassification::from_pretrained(fixture("bert_seqcls"))?;
    let summary = model.summary();
    let query = summary.rows.iter().find(|r| r.name == "bert.encoder.layer.*.attention.self.query").unwrap();
    assert_eq!(query.count, 2);
    assert_eq!(query.params, [("bias".to_string(), vec![32]), ("weight".to_string(), vec![32, 32])]);
    assert_eq!(summary.total, model.num_parameters());
    let text = summary.render();
    let plain = text.get("text/plain").unwrap().as_str().unwrap();
    let n = model.num_parameters();
    assert!(plain.contains(&format!("trainable params: {} || all params: {} || trainable%: 100.0000", fmt(n), fmt(n))), "{plain}");
    assert!(text.get("text/html").unwrap().as_str().unwrap().contains("<table>"));

    // Frozen parameters show as frozen and leave the trainable count.
    let mut frozen = 0;
    for (name, t) in model.var_store().variables() {
        if name.starts_with("bert.embeddings.") {
            let _ = t.set_requires_grad(false);
            frozen += t.numel() as i64;
        }
    }
    let summary = model.summary();
    assert_eq!(summary.trainable, n - frozen);
    let words = summary.rows.iter().find(|r| r.name == "bert.embeddings.word_embeddings").unwrap();
    assert!(!words.trainable);
    assert!(summary.render().get("text/html").unwrap().as_str().unwrap().contains("frozen"));
    Ok(())
}

fn fmt(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn bf16_and_the_gpu_when_present_run_close_to_f32() -> Result<()> {
    let (ids, mask, types) = inputs();
    let want = expected("bert_seqcls");
    let want = want.require("logits")?;
    let model = BertForSequenceClassification::pretrained(fixture("bert_seqcls")).kind(Kind::BFloat16).load()?;
    assert_eq!(model.classifier.weight.kind(), Kind::BFloat16);
    let logits = tch::no_grad(|| model.forward(&ids, Some(&mask), Some(&types)));
    assert_eq!(logits.kind(), Kind::BFloat16);
    margin_support::assert_below("bf16_and_the_gpu_when_present_run_close_to_f32", "bf16 logits max-abs vs f32 golden", max_abs(&logits, want), 0.05, f64::NAN);

    let device = tuna::device::device();
    if device.is_cuda() {
        let model = BertForSequenceClassification::from_pretrained(fixture("bert_seqcls"))?.to(device);
        let logits = tch::no_grad(|| model.forward(&ids.to(device), Some(&mask.to(device)), Some(&types.to(device))));
        let d = max_abs(&logits.to(tch::Device::Cpu), want);
        println!("bert seqcls on {device:?}: max-abs {d:.2e}");
        assert!(d < 1e-4);
    }
    Ok(())
}
