//! Checkpoints: a run resumed from a checkpoint ends with exactly the history and weights of an
//! uninterrupted run; keep-last pruning; errors that name the folder and the fix.

mod train_support;

use std::path::PathBuf;
use train_support::*;
use tuna::models::{BertConfig, BertForSequenceClassification, PretrainedModel};
use tuna::train::{Stop, Trainer};
use tuna::Result;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tuna-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn trainer(init_seed: i64) -> Result<Trainer<BertForSequenceClassification, ToyClassification>> {
    tch::manual_seed(init_seed);
    let config = BertConfig { hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1, ..tiny_bert(3) };
    let model = BertForSequenceClassification::new(config)?;
    Ok(Trainer::new(model, ToyClassification).epochs(2).batch_size(16).lr(2e-3).weight_decay(0.01).warmup_steps(2).seed(3).live_plot(false))
}

#[test]
fn resume_is_bit_exact() -> Result<()> {
    let _g = locked();
    let data = counting(64, 3, 1)?;
    let dir = scratch("resume");
    let mut whole = trainer(0)?.save_every(3).output_dir(&dir);
    let full = whole.fit(&data, Some(&data))?;
    assert_eq!(full.stop, Stop::Finished);
    assert!(dir.join("checkpoint-3/model.safetensors").is_file() && dir.join("checkpoint-6/optimizer.safetensors").is_file());

    // Another initialisation: everything must come from the checkpoint.
    let mut resumed = trainer(99)?;
    resumed.resume(dir.join("checkpoint-3"))?;
    assert_eq!(resumed.step(), 3);
    let run = resumed.fit(&data, Some(&data))?;
    assert_eq!(run.history, full.history);
    assert!(same_weights(&sorted_weights(whole.model()), &sorted_weights(resumed.model())), "weights differ after resume");

    // Another seed cannot resume this run.
    let err = trainer(0)?.seed(4).resume(dir.join("checkpoint-6")).unwrap_err().to_string();
    assert!(err.contains("seed 3") && err.contains(".seed(3)"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[test]
fn keep_last_prunes_old_checkpoints() -> Result<()> {
    let _g = locked();
    let data = counting(64, 3, 1)?;
    let dir = scratch("prune");
    let mut t = trainer(0)?.save_every(2).keep_last(2).output_dir(&dir);
    t.fit(&data, None)?;
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec!["checkpoint-6", "checkpoint-8"]);
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[test]
fn checkpoint_errors_name_the_folder() -> Result<()> {
    let _g = locked();
    let data = counting(32, 3, 1)?;
    let t = trainer(0)?;
    assert!(t.save_checkpoint(scratch("none")).unwrap_err().to_string().contains("call `fit` first"));
    let mut t = t.max_steps(1);
    t.fit(&data, None)?;
    // A file where the folder should be: the write fails and says where.
    let blocker = scratch("blocker");
    std::fs::write(&blocker, "not a folder").unwrap();
    let err = t.save_checkpoint(&blocker).unwrap_err().to_string();
    assert!(err.contains(&blocker.display().to_string()), "{err}");
    std::fs::remove_file(&blocker).ok();
    let missing = scratch("missing");
    let err = trainer(0)?.resume(missing.join("checkpoint-1")).unwrap_err().to_string();
    assert!(err.contains("trainer_state.json"), "{err}");
    Ok(())
}
