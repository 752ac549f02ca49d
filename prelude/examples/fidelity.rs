//! Training fidelity, tuna's side (issue 5): MiniLM-L6 full fine-tuning on the tweets
//! (3 classes) with the Trainer's Hugging Face defaults — 1,000 training examples, batch 32,
//! truncation to 64 tokens (each batch padded to its longest row), 3 epochs, AdamW lr 5e-5,
//! linear decay, no warmup, no weight decay, clipping at 1.0, seed 42 — then accuracy on a fixed
//! held-out 2,000. `benches/fidelity_hf.py` runs the same protocol in Python `transformers`; both
//! read the rows from `benches/fidelity_split.json` (which the Python script writes).
//!
//! `cargo run --release -p tuna --example fidelity [SPLIT_JSON]` → one JSON line.

use std::time::Instant;
use tuna::prelude::*;

fn main() -> Result<()> {
    let threads = std::env::var("TUNA_BENCH_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(2);
    tch::set_num_threads(threads);
    let path = std::env::args().nth(1).unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../benches/fidelity_split.json").into());
    let text = std::fs::read_to_string(&path).map_err(|e| Error::msg(format!("{path}: {e}; run benches/fidelity_hf.py first, it writes the split")))?;
    let split: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::msg(format!("{path}: {e}")))?;
    let indices = |key: &str| -> Vec<usize> {
        split[key].as_array().map(|a| a.iter().filter_map(|v| v.as_u64()).map(|v| v as usize).collect()).unwrap_or_default()
    };
    let tweets = tweets()?;
    if split["rows"].as_u64() != Some(tweets.len() as u64) {
        return Err(Error::msg(format!("{path}: drawn from {} rows, the tweets have {}", split["rows"], tweets.len())));
    }
    let dir = data_dir().join("all-MiniLM-L6-v2");
    let tok = Tokenizer::from_file(&dir)?.max_length(64);
    let train = tok.tokenize(&tweets.select(&indices("train"))?)?;
    let test = tok.tokenize(&tweets.select(&indices("test"))?)?;
    tch::manual_seed(42);
    let model = BertForSequenceClassification::pretrained(&dir).num_labels(3).load()?;
    let mut trainer = Trainer::new(model, Classification::new(&tok)).epochs(3).batch_size(32).lr(5e-5).seed(42).live_plot(false);
    let started = Instant::now();
    let run = trainer.fit(&train, None)?;
    let eval = trainer.evaluate(&test)?;
    let steps = &run.history.steps;
    let last = steps[steps.len().saturating_sub(10)..].iter().map(|r| r.loss).sum::<f64>() / steps.len().clamp(1, 10) as f64;
    println!(
        "{}",
        serde_json::json!({
            "name": "fidelity", "impl": "rust", "accuracy": eval.metric("accuracy").map(|a| (a * 1e4).round() / 1e4),
            "first_loss": steps.first().map(|r| (r.loss * 1e4).round() / 1e4), "last_loss": (last * 1e4).round() / 1e4,
            "steps": steps.len(), "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        })
    );
    Ok(())
}
