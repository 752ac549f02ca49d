//! One convergence test per objective (tch's `optimizer_test` pattern): on toy data with a
//! learnable rule, the training loss falls under a stated bound after a fixed number of steps.

mod train_support;

use train_support::*;
use tuna::models::{BertForMaskedLM, BertForSequenceClassification, GPT2LMHeadModel, PretrainedModel};
use tuna::train::{Objective, Schedule, Stop, Trainer};
use tuna::Result;

fn mean_last(run: &tuna::train::Run, n: usize) -> f64 {
    let s = &run.history.steps;
    let tail = &s[s.len().saturating_sub(n)..];
    tail.iter().map(|r| r.loss).sum::<f64>() / tail.len() as f64
}

#[test]
fn sequence_classification_converges_and_scores() -> Result<()> {
    let _lock = locked();
    tch::manual_seed(0);
    let (train, valid) = (counting(256, 3, 1)?, counting(96, 3, 2)?);
    let model = BertForSequenceClassification::new(tiny_bert(3))?;
    let mut trainer = Trainer::new(model, ToyClassification)
        .epochs(4)
        .batch_size(16)
        .lr(3e-3)
        .weight_decay(0.01)
        .warmup_ratio(0.1)
        .live_plot(false);
    let run = trainer.fit(&train, Some(&valid))?;
    assert_eq!(run.stop, Stop::Finished);
    assert_eq!(run.step, 4 * 16);
    assert_eq!(run.history.evals.len(), 4, "one evaluation per epoch");
    let first = run.history.steps[0].loss;
    let last = mean_last(&run, 8);
    println!("classification: loss {first:.3} → {last:.3}");
    assert!(last < 0.15, "loss {last} after 64 steps (started at {first})");
    let eval = trainer.evaluate(&valid)?;
    println!("{}", eval.text());
    assert!(eval.metric("accuracy").unwrap() > 0.9, "{}", eval.text());
    assert!(eval.metric("f1_macro").unwrap() > 0.9, "{}", eval.text());
    assert_eq!(eval.classes.as_ref().unwrap().confusion.iter().flatten().sum::<u64>(), 96);
    Ok(())
}

#[test]
fn masked_lm_converges_on_masked_positions() -> Result<()> {
    let _lock = locked();
    tch::manual_seed(0);
    let train = repeated(256, 3)?;
    let model = BertForMaskedLM::new(tiny_bert(2))?;
    let mut trainer =
        Trainer::new(model, ToyMaskedLm).max_steps(300).batch_size(16).lr(1e-2).schedule(Schedule::Cosine).live_plot(false);
    let run = trainer.fit(&train, Some(&repeated(64, 4)?))?;
    let (first, last) = (run.history.steps[0].loss, mean_last(&run, 10));
    println!("masked LM: loss {first:.3} → {last:.3}");
    assert!(first > 3.5, "starts near ln(64) = 4.16: {first}");
    assert!(last < 0.6, "loss {last} after 300 steps");
    let eval = run.last_eval.expect("evaluated at the end of the run");
    assert_eq!(eval.step, 300, "evaluated after the last step");
    // Held-out rows: perplexity from 64 (chance) to under 4, most masked tokens right.
    assert!(eval.metric("perplexity").unwrap() < 4.0, "{}", eval.text());
    assert!(eval.metric("accuracy").unwrap() > 0.6, "{}", eval.text());
    Ok(())
}

#[test]
fn masked_lm_loss_equals_the_full_projection() -> Result<()> {
    // Projecting only the masked positions must give Hugging Face's loss, which projects every
    // position and ignores label -100.
    let _lock = locked();
    tch::manual_seed(1);
    let model = BertForMaskedLM::new(tiny_bert(2))?;
    let data = repeated(8, 9)?;
    let rows: Vec<_> = data.iter().collect();
    let batch = tuna::data::Collate::collate(&ToyMaskedLm, &rows, 3)?;
    let out = model.compute(&batch, &Default::default())?;
    let logits = model.forward(&batch["input_ids"], Some(&batch["attention_mask"]), None);
    let full = logits.reshape([-1, VOCAB]).cross_entropy_loss::<tch::Tensor>(&batch["labels"].reshape([-1]), None, tch::Reduction::Mean, -100, 0.0);
    let masked = batch["labels"].ne(-100).sum(tch::Kind::Int64).int64_value(&[]);
    assert_eq!(out.count, masked);
    let (a, b) = (out.loss.double_value(&[]), full.double_value(&[]));
    assert!((a - b).abs() < 1e-5, "gathered {a} vs full {b}");
    Ok(())
}

#[test]
fn causal_lm_converges() -> Result<()> {
    let _lock = locked();
    tch::manual_seed(0);
    let train = repeated(256, 5)?;
    let model = GPT2LMHeadModel::new(tiny_gpt2())?;
    let mut trainer = Trainer::new(model, ToyCausalLm).max_steps(150).batch_size(16).lr(1e-2).live_plot(false);
    let run = trainer.fit(&train, None)?;
    let (first, last) = (run.history.steps[0].loss, mean_last(&run, 10));
    println!("causal LM: loss {first:.3} → {last:.3}");
    assert!(last < 0.3, "loss {last} after 150 steps");
    assert!(!trainer.model().is_training(), "fit leaves the model in eval mode");
    Ok(())
}
