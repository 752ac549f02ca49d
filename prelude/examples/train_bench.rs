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
//! Hugging Face step (which runs every layer at every padded position, and projects every
//! position onto the vocabulary in `mlm`); tuna's count follows the real batches: trailing
//! padding cut, real tokens packed, the classifier's last layer at the first token only.
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

/// The matmul work of one training step, in rows per layer.
#[derive(Default)]
struct Work {
    /// Rows of every layer's key and value projections, and of all projections but the last layer's.
    rows: f64,
    /// Rows of the last layer's query, output and feed-forward.
    last_query_rows: f64,
    /// Query-key pairs of attention in each layer but the last, and in the last.
    pairs: f64,
    last_pairs: f64,
    /// Positions that go through the masked-LM head.
    projected: f64,
}

impl Work {
    /// Python's step: every position of the padded (batch, seq) grid, in every layer.
    fn padded(batch: f64, seq: f64, projected: f64) -> Work {
        Work { rows: batch * seq, last_query_rows: batch * seq, pairs: batch * seq * seq, last_pairs: batch * seq * seq, projected }
    }

    /// tuna's step on `batch`: trailing padding columns cut (classification), real tokens
    /// packed when at least `Packing::MIN_PADDING` is padding, the classifier's last layer at
    /// the first token only, the vocabulary projection at the masked positions only.
    fn tuna(batch: &Batch, classify: bool) -> Result<Work> {
        let mask = batch.get("attention_mask")?;
        let (rows, seq) = mask.size2()?;
        let real = mask.ne(0);
        let width = if classify { i64::try_from(real.any_dim(0, false).nonzero().max())? + 1 } else { seq };
        let tokens = real.sum(Kind::Int64).int64_value(&[]) as f64;
        let grid = (rows * width) as f64;
        let starts_real = bool::try_from(real.select(1, 0).all())?;
        let packed = tokens <= (1.0 - tuna::models::layers::Packing::MIN_PADDING) * grid && (starts_real || !classify);
        let (b, w) = (rows as f64, width as f64);
        let projected = if classify { 0.0 } else { batch.get("labels")?.ne(-100).sum(Kind::Int64).int64_value(&[]) as f64 };
        let used = if packed { tokens } else { grid };
        let (last_query_rows, last_pairs) = if classify { (b, b * w) } else { (used, b * w * w) };
        Ok(Work { rows: used, last_query_rows, pairs: b * w * w, last_pairs, projected })
    }

    fn add(&mut self, other: &Work, weight: f64) {
        self.rows += other.rows * weight;
        self.last_query_rows += other.last_query_rows * weight;
        self.pairs += other.pairs * weight;
        self.last_pairs += other.last_pairs * weight;
        self.projected += other.projected * weight;
    }

    /// Analytic FLOPs: forward, the input gradients of every matmul, and the weight gradients
    /// of the trained ones (`full`: all; else LoRA r=8 on query and value; the MLM head is
    /// always trained).
    fn flops(&self, full: bool) -> f64 {
        let kv = 2.0 * HIDDEN * HIDDEN; // key and value, multiply-adds per row
        let q_o_ffn = 2.0 * HIDDEN * HIDDEN + 2.0 * HIDDEN * INTER;
        let lora = 2.0 * 8.0 * HIDDEN; // A and B of one adapted projection
        let head = HIDDEN * HIDDEN + HIDDEN * VOCAB;
        let query_rows = (LAYERS - 1.0) * self.rows + self.last_query_rows;
        let weights = LAYERS * self.rows * kv + query_rows * q_o_ffn;
        let adapters = if full { 0.0 } else { lora * (LAYERS * self.rows + query_rows) };
        let attention = 2.0 * HIDDEN * ((LAYERS - 1.0) * self.pairs + self.last_pairs);
        let forward = 2.0 * (weights + adapters + attention + self.projected * head);
        let trained = if full { weights } else { adapters };
        2.0 * forward + 2.0 * (trained + self.projected * head)
    }
}

/// tuna's mean work per step over the batches of the run's first epoch.
fn mean_work<C: Collate<Encoded> + Clone + 'static>(data: &Dataset<Encoded>, batch: usize, collate: &C, classify: bool) -> Result<Work> {
    let loader = Loader::new(data.clone(), batch, collate.clone()).workers(0).seed(42);
    let mut mean = Work::default();
    for b in loader.epoch(0) {
        mean.add(&Work::tuna(&b?, classify)?, 1.0 / loader.len() as f64);
    }
    Ok(mean)
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
    // As the kernel does first thing in every notebook.
    tuna::device::keep_freed_memory();
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
            let collate_for_work = collate.clone();
            let full = base == "cls_full";
            let (s, w) = if full {
                timed(model, collate, &data, batch, bf16)?
            } else {
                let lora = LoraConfig::rank(8).alpha(16.0).targets(["query", "value"]).modules_to_save(["classifier"]);
                timed(model.tune(&Strategy::Lora(lora))?, collate, &data, batch, bf16)?
            };
            let work = mean_work(&data, batch, &collate_for_work, true)?;
            // Python tokenizes inside the step.
            (s + tokenize_s, w, work.flops(full), Work::padded(batch as f64, seq as f64, 0.0).flops(full))
        }
        "mlm" => {
            let model = BertForMaskedLM::pretrained(&dir).load()?;
            let collate = MaskedLm::new(&tok)?.pad_to_multiple_of(seq);
            let work = mean_work(&data, batch, &collate, false)?;
            let (s, w) = timed(model, collate, &data, batch, bf16)?;
            (s, w, work.flops(true), Work::padded(batch as f64, seq as f64, (batch * seq) as f64).flops(true))
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
