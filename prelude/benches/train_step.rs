//! Masked-LM training step on MiniLM-L6 (batch 16, length 128, the tweets): the vocabulary
//! projection on the masked positions only (what `Objective::compute` does) against the
//! projection of every position (what Hugging Face does), same model, batches and optimizer,
//! measured in one run; then the whole `Trainer` loop.
//!
//! Run: `cargo bench -p tuna --bench train_step -- --test --nocapture` (a `#[test]`, as
//! `models_inference.rs`). Threads: `TUNA_BENCH_THREADS` (default 2). Prints JSON lines.

use std::time::Instant;
use tch::nn::OptimizerConfig;
use tuna::prelude::*;
use tuna::train::Objective;

const BATCH: usize = 16;
const WARMUP: usize = 2;
const TIMED: usize = 6;

fn samples_per_s(steps: usize, seconds: f64) -> f64 {
    (steps * BATCH) as f64 / seconds
}

#[test]
fn masked_lm_step() -> Result<()> {
    let threads = std::env::var("TUNA_BENCH_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(2);
    tch::set_num_threads(threads);
    let dir = data_dir().join("all-MiniLM-L6-v2");
    let tok = Tokenizer::from_file(&dir)?.max_length(128);
    let encoded = tok.tokenize(&tweets()?.take(BATCH * (WARMUP + TIMED)))?;
    let loader = Loader::new(encoded.clone(), BATCH, MaskedLm::new(&tok)?.pad_to_multiple_of(128)).seed(0).workers(0);
    let batches: Vec<Batch> = loader.epoch(0).collect::<Result<_>>()?;

    let mut rates = Vec::new();
    for gathered in [true, false] {
        tch::manual_seed(0);
        let mut model = BertForMaskedLM::pretrained(&dir).load()?;
        model.set_training(true);
        let mut opt = tch::nn::AdamW::default().build(model.var_store(), 5e-5)?;
        let mut started = Instant::now();
        for (i, batch) in batches.iter().enumerate() {
            if i == WARMUP {
                started = Instant::now();
            }
            let loss = if gathered {
                model.compute(batch, &Default::default())?.loss
            } else {
                let logits = model.forward(&batch["input_ids"], Some(&batch["attention_mask"]), Some(&batch["token_type_ids"]));
                let vocab = logits.size()[2];
                logits.reshape([-1, vocab]).cross_entropy_loss::<Tensor>(&batch["labels"].reshape([-1]), None, tch::Reduction::Mean, -100, 0.0)
            };
            opt.zero_grad();
            loss.backward();
            opt.step();
        }
        let rate = samples_per_s(TIMED, started.elapsed().as_secs_f64());
        let name = if gathered { "mlm_masked_positions" } else { "mlm_all_positions" };
        println!("{{\"name\": \"{name}\", \"samples_per_s\": {rate:.2}, \"threads\": {threads}}}");
        rates.push(rate);
    }
    println!("{{\"name\": \"mlm_projection_speedup\", \"ratio\": {:.3}}}", rates[0] / rates[1]);

    let model = BertForMaskedLM::pretrained(&dir).load()?;
    let mut trainer = Trainer::new(model, MaskedLm::new(&tok)?.pad_to_multiple_of(128)).batch_size(BATCH).max_steps(WARMUP + TIMED).live_plot(false);
    let started = Instant::now();
    trainer.fit(&encoded, None)?;
    let rate = samples_per_s(WARMUP + TIMED, started.elapsed().as_secs_f64());
    println!("{{\"name\": \"mlm_trainer\", \"samples_per_s\": {rate:.2}, \"threads\": {threads}, \"note\": \"includes warm-up steps\"}}");
    Ok(())
}
