//! The trainer's controls: seeded runs repeat exactly, weight-decay groups, the stop button
//! (a partial run that a second `fit` finishes exactly as an uninterrupted one), NaN losses,
//! early stopping, keep-best, gradient accumulation, class weights, history export.

mod train_support;

use train_support::*;
use tuna::models::{BertConfig, BertForSequenceClassification, PretrainedModel};
use tuna::train::{Optimizer, Schedule, Stop, Trainer};
use tuna::{interrupt, Error, Result};

/// Dropout on, so that the seed of every micro-batch matters.
fn dropout_bert() -> BertConfig {
    BertConfig { hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1, ..tiny_bert(3) }
}

fn trainer(seed: i64) -> Result<Trainer<BertForSequenceClassification, ToyClassification>> {
    tch::manual_seed(seed);
    let model = BertForSequenceClassification::new(dropout_bert())?;
    Ok(Trainer::new(model, ToyClassification)
        .epochs(2)
        .batch_size(16)
        .lr(2e-3)
        .weight_decay(0.01)
        .warmup_steps(3)
        .seed(7)
        .live_plot(false))
}


#[test]
fn same_seed_same_history() -> Result<()> {
    let _g = locked();
    let data = counting(64, 3, 1)?;
    let mut a = trainer(0)?;
    let mut b = trainer(0)?;
    let (ra, rb) = (a.fit(&data, Some(&data))?, b.fit(&data, Some(&data))?);
    assert_eq!(ra.history, rb.history);
    assert!(same_weights(&sorted_weights(a.model()), &sorted_weights(b.model())));
    // Another trainer seed changes batch order and dropout.
    let mut c = trainer(0)?.seed(8);
    let rc = c.fit(&data, None)?;
    assert_ne!(ra.history.steps, rc.history.steps);
    Ok(())
}

#[test]
fn history_records_schedule_and_grad_norm() -> Result<()> {
    let _g = locked();
    let data = counting(64, 3, 1)?;
    let mut t = trainer(0)?.max_grad_norm(0.5);
    let run = t.fit(&data, None)?;
    let s = &run.history.steps;
    assert_eq!(s.len(), 8);
    // Linear warmup over 3 steps from 0, then linear decay to 0 at step 8.
    let want = [0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0, 0.8, 0.6, 0.4, 0.2];
    for (r, w) in s.iter().zip(want) {
        assert!((r.learning_rate - 2e-3 * w).abs() < 1e-12, "step {}: {}", r.step, r.learning_rate);
    }
    assert!(s.iter().all(|r| r.grad_norm > 0.0 && r.grad_norm.is_finite()));
    assert!((s[3].epoch - 1.0).abs() < 1e-12 && (s[7].epoch - 2.0).abs() < 1e-12);
    let csv = run.history.to_csv();
    assert!(csv.starts_with("step,epoch,loss,grad_norm,learning_rate\n1,0.25,"), "{csv}");
    assert_eq!(csv.lines().count(), 9);
    assert!(run.plot_loss().to_svg().contains("train"));
    Ok(())
}

#[test]
fn weight_decay_skips_biases_and_layer_norms() -> Result<()> {
    let _g = locked();
    let t = trainer(0)?;
    let (decay, no_decay) = t.decay_groups();
    assert!(decay.iter().all(|n| !n.ends_with(".bias") && !n.contains("LayerNorm")), "{decay:?}");
    assert!(decay.contains(&"bert.encoder.layer.0.attention.self.query.weight".to_string()));
    assert!(decay.contains(&"classifier.weight".to_string()));
    assert!(no_decay.contains(&"bert.embeddings.LayerNorm.weight".to_string()));
    assert!(no_decay.contains(&"classifier.bias".to_string()));
    assert!(no_decay.iter().all(|n| n.ends_with(".bias") || n.contains("LayerNorm")), "{no_decay:?}");
    Ok(())
}

#[test]
fn stop_button_returns_a_partial_run_that_fit_continues_exactly() -> Result<()> {
    let _g = locked();
    let data = counting(64, 3, 1)?;
    let mut whole = trainer(0)?;
    let full = whole.fit(&data, Some(&data))?;

    let mut t = trainer(0)?.on_step(|r| {
        if r.step == 3 || r.step == 6 {
            interrupt::request();
        }
    });
    let first = t.fit(&data, Some(&data))?;
    assert_eq!(first.stop, Stop::Interrupted);
    assert!(first.interrupted());
    assert_eq!(first.step, 3);
    assert_eq!(t.history().steps.len(), 3, "history kept in the trainer");
    interrupt::clear();
    let second = t.fit(&data, Some(&data))?;
    assert_eq!(second.stop, Stop::Interrupted);
    assert_eq!(second.step, 6);
    interrupt::clear();
    let third = t.fit(&data, Some(&data))?;
    assert_eq!(third.stop, Stop::Finished);
    assert_eq!(third.step, 8);
    // Interrupted twice, then finished: the same steps, evaluations and weights as one run.
    assert_eq!(third.history, full.history);
    assert!(same_weights(&sorted_weights(t.model()), &sorted_weights(whole.model())));
    // A finished run stays finished.
    assert_eq!(t.fit(&data, None)?.step, 8);
    Ok(())
}

#[test]
fn non_finite_loss_names_the_step() -> Result<()> {
    let _g = locked();
    let data = counting(64, 3, 1)?;
    let mut t = trainer(0)?.on_step(|r| {
        if r.step == 2 {
            interrupt::request();
        }
    });
    t.fit(&data, None)?;
    interrupt::clear();
    // Poison a weight: the next step's loss is NaN.
    let mut w = t.model().classifier.weight.shallow_clone();
    let _ = tch::no_grad(|| w.fill_(f64::NAN));
    match t.fit(&data, None) {
        Err(Error::NonFiniteLoss { step, value }) => {
            assert_eq!(step, 3);
            assert!(value.is_nan());
        }
        other => panic!("expected NonFiniteLoss, got {other:?}"),
    }
    assert_eq!(t.step(), 2, "the failed step was not taken");
    Ok(())
}

#[test]
fn early_stopping_and_keep_best() -> Result<()> {
    let _g = locked();
    let data = counting(64, 3, 1)?;
    // Learning rate 0: the evaluation never improves after the first.
    let mut t = trainer(0)?.lr(0.0).eval_every(1).early_stopping(2, 0.0).schedule(Schedule::Constant);
    let run = t.fit(&data, Some(&data))?;
    assert_eq!(run.stop, Stop::EarlyStopped);
    assert_eq!(run.step, 3);
    assert_eq!(run.history.evals.len(), 3);
    assert_eq!(run.best.map(|b| b.0), Some(1));

    // Keep-best with a huge learning rate: the end state is worse, the best weights come back.
    let mut k = trainer(0)?.lr(0.5).optimizer(Optimizer::sgd(0.0)).eval_every(2).keep_best(true).max_grad_norm(0.0);
    let run = k.fit(&data, Some(&data))?;
    let (best_step, best_loss) = run.best.expect("evaluations ran");
    let eval = k.evaluate(&data)?;
    assert!((eval.loss - best_loss).abs() < 1e-6, "restored loss {} vs best {best_loss} at step {best_step}", eval.loss);
    Ok(())
}

#[test]
fn gradient_accumulation_matches_a_larger_batch() -> Result<()> {
    let _g = locked();
    let data = counting(64, 3, 1)?;
    let make = |bs: usize, acc: usize| -> Result<_> {
        tch::manual_seed(0);
        let model = BertForSequenceClassification::new(tiny_bert(3))?;
        Ok(Trainer::new(model, ToyClassification).epochs(1).batch_size(bs).grad_accumulation(acc).lr(1e-3).live_plot(false))
    };
    let (mut big, mut small) = (make(16, 1)?, make(8, 2)?);
    let (a, b) = (big.fit(&data, None)?, small.fit(&data, None)?);
    assert_eq!(a.step, 4);
    assert_eq!(b.step, 4);
    for (x, y) in a.history.steps.iter().zip(&b.history.steps) {
        assert!((x.loss - y.loss).abs() < 1e-4, "{x:?} vs {y:?}");
        assert!((x.grad_norm - y.grad_norm).abs() < 1e-4, "{x:?} vs {y:?}");
    }
    Ok(())
}

#[test]
fn class_weights_change_the_loss_and_are_checked() -> Result<()> {
    let _g = locked();
    let data = counting(32, 3, 1)?;
    let first_loss = |w: Option<Vec<f64>>| -> Result<f64> {
        let mut t = trainer(0)?.max_steps(1);
        if let Some(w) = w {
            t = t.class_weights(w);
        }
        Ok(t.fit(&data, None)?.history.steps[0].loss)
    };
    let plain = first_loss(None)?;
    assert!((first_loss(Some(vec![1.0, 1.0, 1.0]))? - plain).abs() < 1e-6);
    assert!((first_loss(Some(vec![5.0, 1.0, 0.1]))? - plain).abs() > 1e-4);
    let err = first_loss(Some(vec![1.0, 2.0])).unwrap_err().to_string();
    assert!(err.contains("class_weights") && err.contains("3 classes"), "{err}");
    Ok(())
}
