//! tuna's `collate` benchmark: tokenizing the real tweets (parallel batches) and masked-LM
//! collation (batch 16, truncation to 128, dynamic padding, 15 % masking) — the same work as
//! `benches/collate_hf.py` does with Hugging Face `tokenizers` + `DataCollatorForLanguageModeling`.
//! Prints one JSON line: {"name": "collate", "impl": "rust", "samples_per_s": …}.
//!
//! `cargo run --release -p tuna --example collate_bench [ROWS]`

use std::time::Instant;
use tuna::prelude::*;

fn main() -> Result<()> {
    let rows: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(38_158);
    let tweets = tweets()?.take(rows);
    let tok = Tokenizer::from_file(data_dir().join("all-MiniLM-L6-v2"))?.max_length(128);
    let mlm = MaskedLm::new(&tok)?;
    let start = Instant::now();
    let encoded = tok.tokenize(&tweets)?;
    let all: Vec<&Encoded> = encoded.items().iter().collect();
    let mut tokens = 0i64;
    for (b, chunk) in all.chunks(16).enumerate() {
        let batch = mlm.collate_encoded(chunk, b as u64)?;
        tokens += batch["input_ids"].numel() as i64;
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "name": "collate", "impl": "rust", "samples": tweets.len(), "seconds": (seconds * 1000.0).round() / 1000.0,
            "samples_per_s": (tweets.len() as f64 / seconds * 10.0).round() / 10.0, "padded_tokens": tokens,
        })
    );
    Ok(())
}
