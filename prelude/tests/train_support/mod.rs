//! Toy data for the trainer tests: token sequences with a learnable rule, collated without a
//! tokenizer file so the tests are fast and need no data on disk.

#![allow(dead_code)]

use std::sync::Mutex;
use tch::Tensor;
use tuna::data::{Batch, Collate, Dataset};
use tuna::models::{BertConfig, GPT2Config};
use tuna::Result;

#[path = "../margin_support/mod.rs"]
mod margin_support;
pub use margin_support::*;

/// The stop flag and libtorch's random generator are process-wide and tests run on parallel
/// threads: every test that seeds, initialises a model, trains or raises the flag holds this.
pub static PROCESS_LOCK: Mutex<()> = Mutex::new(());

pub const VOCAB: i64 = 64;
pub const MASK_ID: i64 = 1;
pub const SEQ: usize = 12;

/// Rows of token ids (as f32, the dataset's numeric sample type).
pub type Row = Vec<f32>;

/// Sequences counting up from a start token (mod the vocabulary, above the special ids);
/// class = start token mod `classes`.
pub fn counting(n: usize, classes: usize, seed: u64) -> Result<Dataset<Row>> {
    let mut items = Vec::new();
    let mut labels = Vec::new();
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    for _ in 0..n {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let start = 4 + (state >> 33) as i64 % (VOCAB - 4);
        let row: Row = (0..SEQ as i64).map(|i| (4 + (start - 4 + i) % (VOCAB - 4)) as f32).collect();
        labels.push(start as usize % classes);
        items.push(row);
    }
    let names = (0..classes).map(|c| format!("class {c}")).collect();
    Dataset::labelled("counting", items, labels, names)
}

/// Rows that repeat one token (drawn from the seed): a masked or next token is the row's token.
pub fn repeated(n: usize, seed: u64) -> Result<Dataset<Row>> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let items = (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            vec![(4 + (state >> 33) as i64 % (VOCAB - 4)) as f32; SEQ]
        })
        .collect();
    Ok(Dataset::new("repeated", items))
}

fn ids(rows: &[(&Row, Option<usize>)]) -> Vec<i64> {
    rows.iter().flat_map(|(r, _)| r.iter().map(|&v| v as i64)).collect()
}

fn matrix(v: &[i64], rows: usize) -> Tensor {
    Tensor::from_slice(v).reshape([rows as i64, -1])
}

/// Sequence classification: ids, mask, row labels.
#[derive(Clone)]
pub struct ToyClassification;

impl Collate<Row> for ToyClassification {
    fn collate(&self, rows: &[(&Row, Option<usize>)], _seed: u64) -> Result<Batch> {
        let labels: Vec<i64> = rows.iter().map(|r| r.1.unwrap_or(0) as i64).collect();
        let ids = matrix(&ids(rows), rows.len());
        Ok(Batch::new()
            .tensor("attention_mask", ids.ones_like())
            .tensor("input_ids", ids)
            .tensor("labels", Tensor::from_slice(&labels)))
    }
}

/// Masked LM: a quarter of the positions (chosen from the seed) become [MASK] with their
/// original id as label; the others are labelled -100.
#[derive(Clone)]
pub struct ToyMaskedLm;

impl Collate<Row> for ToyMaskedLm {
    fn collate(&self, rows: &[(&Row, Option<usize>)], seed: u64) -> Result<Batch> {
        let original = ids(rows);
        let mut input = original.clone();
        let mut labels = vec![-100i64; original.len()];
        for (i, (inp, lab)) in input.iter_mut().zip(labels.iter_mut()).enumerate() {
            if (i as u64).wrapping_mul(2654435761).wrapping_add(seed).is_multiple_of(4) {
                *lab = *inp;
                *inp = MASK_ID;
            }
        }
        let input = matrix(&input, rows.len());
        Ok(Batch::new()
            .tensor("attention_mask", input.ones_like())
            .tensor("input_ids", input)
            .tensor("labels", matrix(&labels, rows.len())))
    }
}

/// Causal LM: labels are the inputs.
#[derive(Clone)]
pub struct ToyCausalLm;

impl Collate<Row> for ToyCausalLm {
    fn collate(&self, rows: &[(&Row, Option<usize>)], _seed: u64) -> Result<Batch> {
        let ids = matrix(&ids(rows), rows.len());
        Ok(Batch::new().tensor("attention_mask", ids.ones_like()).tensor("labels", ids.copy()).tensor("input_ids", ids))
    }
}

/// Holds [`PROCESS_LOCK`] with the stop flag lowered and one libtorch thread (see [`one_thread`]).
pub fn locked() -> std::sync::MutexGuard<'static, ()> {
    let guard = PROCESS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    tuna::interrupt::clear();
    one_thread();
    guard
}

/// Every variable of `model`, sorted by name.
pub fn sorted_weights(model: &impl tuna::models::PretrainedModel) -> Vec<(String, Tensor)> {
    let mut v: Vec<_> = model.var_store().variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Whether two weight lists are equal bit for bit.
pub fn same_weights(a: &[(String, Tensor)], b: &[(String, Tensor)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((n, x), (m, y))| n == m && x.equal(y))
}

/// One libtorch thread: these models are tiny and the test machine is shared
/// (`TUNA_TEST_THREADS` asks for more, see [`test_threads`]).
pub fn one_thread() {
    tch::set_num_threads(test_threads());
}

/// BERT small enough to train in a second: 2 layers, hidden 32, the toy vocabulary, no dropout
/// (the control tests turn it back on where it matters).
pub fn tiny_bert(classes: usize) -> BertConfig {
    let mut c = BertConfig {
        hidden_size: 32,
        intermediate_size: 64,
        max_position_embeddings: 32,
        vocab_size: VOCAB,
        hidden_dropout_prob: 0.0,
        attention_probs_dropout_prob: 0.0,
        ..BertConfig::tiny()
    };
    tuna::models::ModelConfig::set_num_labels(&mut c, classes);
    c
}

/// GPT-2 of the same size.
pub fn tiny_gpt2() -> GPT2Config {
    GPT2Config { n_embd: 32, n_positions: 32, vocab_size: VOCAB, resid_pdrop: 0.0, embd_pdrop: 0.0, attn_pdrop: 0.0, ..GPT2Config::tiny() }
}
