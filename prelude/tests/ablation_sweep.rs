//! A sweep of real (tiny) training runs: killed halfway — the process aborted mid-trial, the
//! results file ending in half a line — and started again, it finishes with exactly the table
//! of a sweep left to run; the stop button ends it after the running trial, which is not stored.

#[path = "train_support/mod.rs"]
mod train_support;

use std::path::Path;
use train_support::*;
use tuna::ablation::{Scores, Sweep, SweepResults, Trial};
use tuna::models::{BertForSequenceClassification, PretrainedModel};
use tuna::train::Trainer;
use tuna::tune::{LoraConfig, Strategy, Tune};
use tuna::Result;

fn sweep(dir: &Path) -> Sweep<Strategy> {
    Sweep::new(dir)
        .arm("full", Strategy::Full)
        .arm("lora", Strategy::Lora(LoraConfig::rank(4).alpha(8.0).targets(["query", "value"]).modules_to_save(["classifier"])))
        .sizes([48, 24])
        .seeds([0, 1])
        .live(false)
}

/// Trains a tiny BERT on `size` toy examples with the trial's strategy and seed; validation
/// accuracy and loss.
fn train(trial: &Trial<Strategy>) -> Result<Scores> {
    tch::manual_seed(trial.seed as i64);
    let model = BertForSequenceClassification::new(tiny_bert(3))?.tune(trial.arm)?;
    let train = counting(trial.size, 3, 10 + trial.seed)?;
    let mut trainer = Trainer::new(model, ToyClassification).epochs(2).batch_size(8).lr(1e-2).seed(trial.seed).live_plot(false);
    trainer.fit(&train, None)?;
    let eval = trainer.evaluate(&counting(60, 3, 99)?)?;
    Ok(eval.into())
}

/// An empty folder of this test's own.
fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tuna-sweep-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn without_times(r: &SweepResults) -> Vec<(String, usize, u64, Scores)> {
    r.trials.iter().map(|t| (t.arm.clone(), t.size, t.seed, t.scores.clone())).collect()
}

/// Not a test by itself: the process the kill test starts and aborts during trial `ABORT_AT`.
#[test]
#[ignore]
fn child_sweep_that_aborts() {
    let dir = std::env::var("SWEEP_DIR").expect("run by sweep_killed_halfway_finishes_with_the_same_table");
    let abort_at: usize = std::env::var("ABORT_AT").ok().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    let _lock = locked();
    let _ = sweep(Path::new(&dir)).run(|trial| {
        if trial.index == abort_at {
            std::process::abort();
        }
        train(trial)
    });
}

#[test]
fn sweep_killed_halfway_finishes_with_the_same_table() -> Result<()> {
    let (whole, killed) = (fresh_dir("whole"), fresh_dir("killed"));

    // The same sweep in a process that dies during its fourth trial.
    let status = std::process::Command::new(std::env::current_exe().map_err(|e| tuna::Error::msg(e.to_string()))?)
        .args(["--exact", "child_sweep_that_aborts", "--ignored", "--test-threads", "1"])
        .env("SWEEP_DIR", &killed)
        .env("ABORT_AT", "3")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| tuna::Error::msg(e.to_string()))?;
    assert!(!status.success(), "the child sweep was meant to abort");
    let file = killed.join("results.jsonl");
    let stored = std::fs::read_to_string(&file).map_err(|e| tuna::Error::io(&file, e))?;
    assert_eq!(stored.lines().count(), 3, "three trials finished before the crash:\n{stored}");
    // A crash in the middle of writing the fourth line.
    std::fs::write(&file, format!("{stored}{{\"arm\":\"lora\",\"size\":2")).map_err(|e| tuna::Error::io(&file, e))?;

    let _lock = locked();
    let mut ran = Vec::new();
    let resumed = sweep(&killed).run(|trial| {
        ran.push(trial.index);
        train(trial)
    })?;
    assert_eq!(ran, vec![3, 4, 5, 6, 7], "only the trials that had not finished run again");
    let uninterrupted = sweep(&whole).run(train)?;
    assert!(uninterrupted.complete() && resumed.complete());
    assert_eq!(without_times(&resumed), without_times(&uninterrupted));
    assert!(uninterrupted.trials.iter().all(|t| t.scores.get("accuracy").is_some_and(|a| (0.0..=1.0).contains(&a))));
    assert_eq!(std::fs::read_to_string(killed.join("results.csv")).ok(), Some(resumed.csv()));
    // Sizes ascending come first, whatever order they were given in.
    assert_eq!(uninterrupted.trials[0].size, 24);
    Ok(())
}

#[test]
fn the_stop_button_ends_a_sweep_after_the_running_trial_without_storing_it() -> Result<()> {
    let dir = fresh_dir("stopped");
    let _lock = locked();
    let stopped = sweep(&dir).run(|trial| {
        if trial.index == 2 {
            tuna::interrupt::request();
        }
        train(trial)
    })?;
    tuna::interrupt::clear();
    assert!(stopped.interrupted && !stopped.complete());
    assert_eq!(stopped.trials.len(), 2);
    assert!(stopped.html().contains("2 of 8 trials (stopped; run again to continue)"));
    let mut ran = Vec::new();
    let finished = sweep(&dir).run(|trial| {
        ran.push(trial.index);
        Ok(Scores::from(trial.index as f64))
    })?;
    assert_eq!(ran, vec![2, 3, 4, 5, 6, 7]);
    assert!(finished.complete());
    Ok(())
}

#[test]
fn bad_sweeps_are_clear_errors() {
    let dir = fresh_dir("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let no_sizes = Sweep::new(&dir).arm("a", 1).run(|_| Ok(0.0)).unwrap_err().to_string();
    assert!(no_sizes.contains("sizes"), "{no_sizes}");
    let twice = Sweep::new(&dir).arm("a", 1).arm("a", 2).sizes([1]).run(|_| Ok(0.0)).unwrap_err().to_string();
    assert!(twice.contains("two arms are called `a`"), "{twice}");
    let failing = Sweep::new(&dir).arm("a", 1).sizes([5]).live(false).run(|_| -> Result<f64> { Err(tuna::Error::msg("boom")) });
    let message = failing.unwrap_err().to_string();
    assert!(message.contains("trial `a`, size 5, seed 0 failed") && message.contains("boom"), "{message}");
    std::fs::write(&dir.join("results.jsonl"), "not json\n{\"arm\":\"a\"").unwrap();
    let corrupt = Sweep::new(&dir).arm("a", 1).sizes([5]).results().unwrap_err().to_string();
    assert!(corrupt.contains("results.jsonl:1"), "{corrupt}");
}
