//! tuna's training benchmarks, one task per process (so its peak RSS is its own), the same work
//! as `../shared/bench/hf_baseline.py` with the same task names:
//!
//! - `cls_full`: MiniLM-L6 sequence classification (3 labels), full fine-tuning, batch 32,
//!   length 64 (every batch padded to 64, as `padding="max_length"`);
//! - `cls_lora`: the same with LoRA r=8, alpha 16 on query and value (classifier trained, as
//!   PEFT's SEQ_CLS task);
//! - `mlm`: masked LM, batch 16, length 128 (padded to 128), 15 % dynamic masking;
//! - `*_bf16`: the same under bf16 autocast, master weights f32;
//! - `ceiling`: a 1024³ f32 matmul, the yardstick for the achieved GFLOP/s.
//!
//! As the Python script: AdamW lr 5e-5, weight decay 0.01, no clipping, no schedule, dropout on,
//! 2 threads, 3 warm-up then 20 timed optimizer steps (`TUNA_BENCH_TIMED` for quick experiments), through the whole `Trainer` (loader
//! threads, collation, dynamic masking). Python tokenizes each classification batch inside its
//! step, so the time to tokenize the same texts is added to tuna's time for those tasks.
//! Prints one JSON line; `flop_step` is this step's analytic FLOPs (matmuls and attention,
//! forward and backward, only the gradients that are needed) and `flop_step_hf` those of the
//! Hugging Face step (which projects every position onto the vocabulary in `mlm`, and runs the
//! last layer at every position in `cls_*`).
//!
//! `cargo run --release -p tuna --example train_bench TASK` (threads: `TUNA_BENCH_THREADS`).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;
use tuna::prelude::*;

const WARMUP: usize = 3;

// MiniLM-L6: layers, hidden, intermediate, vocabulary.
const LAYERS: f64 = 6.0;
const HIDDEN: f64 = 384.0;
const INTER: f64 = 1536.0;
const VOCAB: f64 = 30522.0;

/// Analytic FLOPs of one training step over `batch` rows of `seq` tokens: forward, the input
/// gradients, and the weight gradients of the trainable matmuls (`full`: all; else LoRA r=8
/// on query and value). `projected`: positions that go through the MLM head (0 for the
/// classifier, whose head is negligible).
fn flop_step(batch: f64, seq: f64, full: bool, projected: f64) -> f64 {
    let tokens = batch * seq;
    let weights = LAYERS * (4.0 * HIDDEN * HIDDEN + 2.0 * HIDDEN * INTER); // multiply-adds per token
    let attention = LAYERS * 2.0 * seq * HIDDEN; // QKᵀ and AV, multiply-adds per token
    let lora = LAYERS * 2.0 * 2.0 * 8.0 * HIDDEN; // A and B of query and value
    let head = HIDDEN * HIDDEN + HIDDEN * VOCAB; // MLM transform and decoder, per projected position
    let forward = 2.0 * (tokens * (weights + attention + lora) + projected * head);
    let input_grads = forward; // every matmul passes its gradient to its input
    let weight_grads = 2.0 * (tokens * (if full { weights } else { lora }) + projected * head) + 2.0 * tokens * attention;
    forward + input_grads + weight_grads - 2.0 * tokens * attention // attention has no weights: counted twice above
}

fn peak_rss_mb() -> i64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss / 1024
}

fn ceiling() {
    let a = Tensor::randn([1024, 1024], (Kind::Float, Device::Cpu));
    let b = Tensor::randn([1024, 1024], (Kind::Float, Device::Cpu));
    for _ in 0..3 {
        let _ = a.matmul(&b);
    }
    let t = Instant::now();
    for _ in 0..20 {
        let _ = a.matmul(&b);
    }
    let s = t.elapsed().as_secs_f64() / 20.0;
    println!("{}", serde_json::json!({"task": "ceiling", "impl": "rust", "matmul_gflops": (2.0 * 1024f64.powi(3) / s / 1e8).round() / 10.0}));
}

/// Trains `model` for WARMUP + timed_steps() steps; returns seconds per timed step and the fraction of
/// the whole run (first batch included) that the loop spent waiting for the loader.
fn timed_steps() -> usize {
    // Fewer steps only for quick experiments (peak RSS is reached by the second step).
    std::env::var("TUNA_BENCH_TIMED").ok().and_then(|t| t.parse().ok()).unwrap_or(20)
}

fn timed<M: Objective, C: Collate<Encoded> + Clone + 'static>(model: M, collate: C, data: &Dataset<Encoded>, batch: usize, bf16: bool) -> Result<(f64, f64)> {
    let stamps = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&stamps);
    let mut trainer = Trainer::new(model, collate)
        .batch_size(batch)
        .max_steps(WARMUP + timed_steps())
        .lr(5e-5)
        .weight_decay(0.01)
        .max_grad_norm(0.0)
        .schedule(Schedule::Constant)
        .bf16(bf16)
        .live_plot(false)
        .on_step(move |_| log.borrow_mut().push(Instant::now()));
    let started = Instant::now();
    trainer.fit(data, None)?;
    let whole = started.elapsed().as_secs_f64();
    let stamps = stamps.borrow();
    let seconds = (stamps[WARMUP + timed_steps() - 1] - stamps[WARMUP - 1]).as_secs_f64();
    Ok((seconds / timed_steps() as f64, trainer.data_wait().as_secs_f64() / whole))
}

fn main() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_else(|| "cls_full".into());
    let threads = std::env::var("TUNA_BENCH_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(2);
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let bf16 = task.ends_with("_bf16");
    let base = task.trim_end_matches("_bf16");
    if base == "ceiling" {
        ceiling();
        return Ok(());
    }
    let dir = data_dir().join("all-MiniLM-L6-v2");
    let texts = tweets()?.take(4096);
    let (batch, seq) = if base == "mlm" { (16, 128) } else { (32, 64) };
    let tok = Tokenizer::from_file(&dir)?.max_length(seq);
    let rows = texts.take(batch * (WARMUP + timed_steps()));
    let t = Instant::now();
    let data = tok.tokenize(&rows)?;
    let tokenize_s = t.elapsed().as_secs_f64() / (WARMUP + timed_steps()) as f64;
    let (step_s, wait, flop, flop_hf) = match base {
        "cls_full" | "cls_lora" => {
            let model = BertForSequenceClassification::pretrained(&dir).num_labels(3).load()?;
            let collate = Classification::new(&tok).pad_to_multiple_of(seq);
            let full = base == "cls_full";
            let (s, w) = if full {
                timed(model, collate, &data, batch, bf16)?
            } else {
                let lora = LoraConfig::rank(8).alpha(16.0).targets(["query", "value"]).modules_to_save(["classifier"]);
                timed(model.tune(&Strategy::Lora(lora))?, collate, &data, batch, bf16)?
            };
            let f = flop_step(batch as f64, seq as f64, full, 0.0);
            // tuna's last layer computes queries, output and feed-forward at the first token only.
            let per_token = 2.0 * HIDDEN * HIDDEN + 2.0 * HIDDEN * INTER + 2.0 * seq as f64 * HIDDEN;
            let skipped = 2.0 * (batch * (seq - 1)) as f64 * per_token * if full { 3.0 } else { 2.0 };
            // Python tokenizes inside the step.
            (s + tokenize_s, w, f - skipped, f)
        }
        "mlm" => {
            let model = BertForMaskedLM::pretrained(&dir).load()?;
            let collate = MaskedLm::new(&tok)?.pad_to_multiple_of(seq);
            // Positions the vocabulary projection sees: tuna's (the masked ones) and Python's (all).
            let loader = Loader::new(data.clone(), batch, collate.clone()).workers(0).seed(42);
            let mut masked = 0i64;
            for b in loader.epoch(0) {
                masked += b?["labels"].ne(-100).sum(Kind::Int64).int64_value(&[]);
            }
            let per_batch = masked as f64 / loader.len() as f64;
            let (s, w) = timed(model, collate, &data, batch, bf16)?;
            (s, w, flop_step(batch as f64, seq as f64, true, per_batch), flop_step(batch as f64, seq as f64, true, (batch * seq) as f64))
        }
        other => return Err(Error::msg(format!("unknown task `{other}`: cls_full, cls_lora, mlm (+ _bf16), ceiling"))),
    };
    println!(
        "{}",
        serde_json::json!({
            "task": task, "impl": "rust", "step_s": (step_s * 1e4).round() / 1e4,
            "samples_per_s": (batch as f64 / step_s * 100.0).round() / 100.0,
            "peak_rss_mb": peak_rss_mb(), "data_wait_frac": (wait * 1e4).round() / 1e4,
            "flop_step": flop, "flop_step_hf": flop_hf, "threads": threads,
        })
    );
    Ok(())
}
