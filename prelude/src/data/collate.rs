//! Collators: rows of a dataset → one batch of tensors. Text collators pad dynamically to the
//! longest row of the batch (optionally to a multiple of N) and build the labels of each
//! objective, after Hugging Face `transformers`' `data/data_collator.py`:
//!
//! - [`MaskedLm`]: `DataCollatorForLanguageModeling(mlm=True)` exactly: each token that is not
//!   special and not padding is chosen with probability 0.15; of the chosen, 80 % become
//!   `[MASK]`, 10 % a random token (uniform over `len(tokenizer)`), 10 % stay; labels hold the
//!   original id where chosen and -100 everywhere else. With `.whole_word()` it follows HF's
//!   whole-word masking: words are found from token offsets (a token starts a word after a gap
//!   or a special token), the probability applies to a word's first token, a chosen word is
//!   masked whole, and every chosen token becomes `[MASK]`.
//! - [`CausalLm`]: `mlm=False`: labels are the input ids, -100 on padding (found from the
//!   padding positions, so a real end-of-text token that shares the pad id keeps its label).
//! - [`Classification`]: `DataCollatorWithPadding` plus the row labels.
//!
//! Randomness comes from the `seed` the loader passes for each batch, so a batch is the same
//! whichever thread builds it.
//!
//! ```no_run
//! use tuna::prelude::*;
//! let tok = Tokenizer::from_file(data_dir().join("all-MiniLM-L6-v2"))?.max_length(128);
//! let encoded = tok.tokenize(&tweets()?)?;
//! let mlm = MaskedLm::new(&tok)?.probability(0.15);
//! let rows: Vec<_> = encoded.iter().take(16).collect();
//! let batch = mlm.collate(&rows, 0)?;
//! batch.get("labels")?.size()
//! # ; Ok::<(), tuna::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::text::{Encoded, Tokenizer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tch::{Device, Tensor};

/// Named tensors: `input_ids`, `attention_mask`, `labels`, `pixel_values`, … (HF's batch dict).
#[derive(Debug, Default)]
pub struct Batch {
    tensors: Vec<(String, Tensor)>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch::default()
    }

    /// Adds (or replaces) the tensor called `name`.
    pub fn tensor(mut self, name: impl Into<String>, tensor: Tensor) -> Self {
        let name = name.into();
        self.tensors.retain(|(n, _)| *n != name);
        self.tensors.push((name, tensor));
        self
    }

    /// The tensor called `name`; the error lists the names there are.
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t).ok_or_else(|| {
            Error::msg(format!("the batch has no `{name}`; it has: {}", self.names().join(", ")))
        })
    }

    /// Whether the batch holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.iter().any(|(n, _)| n == name)
    }

    /// The tensor names, in the order they were added.
    pub fn names(&self) -> Vec<&str> {
        self.tensors.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Rows in the batch (the first dimension of its first tensor).
    pub fn size(&self) -> i64 {
        self.tensors.first().map_or(0, |(_, t)| t.size().first().copied().unwrap_or(0))
    }

    /// The batch on `device`.
    pub fn to_device(&self, device: Device) -> Batch {
        Batch { tensors: self.tensors.iter().map(|(n, t)| (n.clone(), t.to_device(device))).collect() }
    }
}

impl std::ops::Index<&str> for Batch {
    type Output = Tensor;

    /// The tensor called `name`; panics with the names there are (use [`Batch::get`] to handle it).
    fn index(&self, name: &str) -> &Tensor {
        match self.get(name) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Turns rows (an item and its label) into a batch; `seed` fixes any randomness.
pub trait Collate<T>: Send + Sync {
    /// Builds the batch.
    fn collate(&self, rows: &[(&T, Option<usize>)], seed: u64) -> Result<Batch>;
}

/// Encodings padded on the right into flat `(rows × len)` arrays.
pub(crate) struct Padded {
    pub rows: usize,
    pub len: usize,
    pub ids: Vec<i64>,
    pub attention: Vec<i64>,
    pub type_ids: Vec<i64>,
    /// Special tokens and padding: never masked.
    pub special: Vec<bool>,
    pub offsets: Vec<(usize, usize)>,
}

pub(crate) fn pad(rows: &[&Encoded], pad_id: u32, multiple: Option<usize>) -> Padded {
    let longest = rows.iter().map(|e| e.len()).max().unwrap_or(0);
    let len = match multiple {
        Some(m) if m > 1 => longest.div_ceil(m) * m,
        _ => longest,
    };
    let n = rows.len() * len;
    let mut p = Padded {
        rows: rows.len(),
        len,
        ids: vec![pad_id as i64; n],
        attention: vec![0; n],
        type_ids: vec![0; n],
        special: vec![true; n],
        offsets: vec![(0, 0); n],
    };
    for (r, e) in rows.iter().enumerate() {
        let base = r * len;
        for t in 0..e.len() {
            p.ids[base + t] = e.ids[t] as i64;
            p.attention[base + t] = e.attention_mask.get(t).copied().unwrap_or(1) as i64;
            p.type_ids[base + t] = e.type_ids.get(t).copied().unwrap_or(0) as i64;
            p.special[base + t] = e.special_tokens_mask.get(t).is_some_and(|&s| s == 1) || p.attention[base + t] == 0;
            p.offsets[base + t] = e.offsets.get(t).copied().unwrap_or((0, 0));
        }
    }
    p
}

fn matrix(values: &[i64], rows: usize, len: usize) -> Tensor {
    Tensor::from_slice(values).view([rows as i64, len as i64])
}

fn text_batch(p: &Padded) -> Batch {
    Batch::new()
        .tensor("input_ids", matrix(&p.ids, p.rows, p.len))
        .tensor("attention_mask", matrix(&p.attention, p.rows, p.len))
        .tensor("token_type_ids", matrix(&p.type_ids, p.rows, p.len))
}

fn pad_id_of(tokenizer: &Tokenizer) -> u32 {
    tokenizer.pad_id().or_else(|| tokenizer.eos_id()).unwrap_or(0)
}

/// Masked-language-model batches (BERT pretraining), as HF `DataCollatorForLanguageModeling`.
#[derive(Debug, Clone)]
pub struct MaskedLm {
    mask_id: u32,
    pad_id: u32,
    vocab_size: usize,
    probability: f64,
    mask_replace_prob: f64,
    random_replace_prob: f64,
    pad_to_multiple_of: Option<usize>,
    whole_word: bool,
}

impl MaskedLm {
    /// A collator for `tokenizer`, which must have a mask token (`[MASK]` or `<mask>`).
    pub fn new(tokenizer: &Tokenizer) -> Result<Self> {
        let mask_id = tokenizer.mask_id().ok_or_else(|| {
            Error::config("tokenizer", "this tokenizer has no mask token ([MASK] or <mask>): use CausalLm for causal language modelling")
        })?;
        Ok(MaskedLm {
            mask_id,
            pad_id: pad_id_of(tokenizer),
            vocab_size: tokenizer.vocab_size(),
            probability: 0.15,
            mask_replace_prob: 0.8,
            random_replace_prob: 0.1,
            pad_to_multiple_of: None,
            whole_word: false,
        })
    }

    /// The chance that a token is chosen (`mlm_probability`, default 0.15).
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = p.clamp(0.0, 1.0);
        self
    }

    /// Of the chosen tokens, the share replaced by the mask token (default 0.8).
    pub fn mask_replace_prob(mut self, p: f64) -> Self {
        self.mask_replace_prob = p.clamp(0.0, 1.0);
        self
    }

    /// Of the chosen tokens, the share replaced by a random token (default 0.1).
    pub fn random_replace_prob(mut self, p: f64) -> Self {
        self.random_replace_prob = p.clamp(0.0, 1.0 - self.mask_replace_prob);
        self
    }

    /// Pads each batch to a multiple of `n` tokens.
    pub fn pad_to_multiple_of(mut self, n: usize) -> Self {
        self.pad_to_multiple_of = Some(n);
        self
    }

    /// Masks whole words (HF's `whole_word_mask=True`): every chosen token becomes the mask token.
    pub fn whole_word(mut self, on: bool) -> Self {
        self.whole_word = on;
        self
    }

    /// Masks encodings directly: `input_ids`, `attention_mask`, `token_type_ids`, `labels`.
    pub fn collate_encoded(&self, rows: &[&Encoded], seed: u64) -> Result<Batch> {
        let mut p = pad(rows, self.pad_id, self.pad_to_multiple_of);
        let mut rng = StdRng::seed_from_u64(seed);
        let chosen = if self.whole_word { self.choose_words(&p, &mut rng) } else { self.choose_tokens(&p, &mut rng) };
        let (mask_p, random_p) = if self.whole_word {
            (1.0, 0.0)
        } else {
            (self.mask_replace_prob, self.mask_replace_prob + self.random_replace_prob)
        };
        let mut labels = vec![-100i64; p.ids.len()];
        for (i, &c) in chosen.iter().enumerate() {
            if !c {
                continue;
            }
            labels[i] = p.ids[i];
            let r: f64 = rng.random();
            if r < mask_p {
                p.ids[i] = self.mask_id as i64;
            } else if r < random_p {
                p.ids[i] = rng.random_range(0..self.vocab_size as i64);
            }
        }
        Ok(text_batch(&p).tensor("labels", matrix(&labels, p.rows, p.len)))
    }

    fn choose_tokens(&self, p: &Padded, rng: &mut StdRng) -> Vec<bool> {
        p.special.iter().map(|&s| !s && rng.random::<f64>() < self.probability).collect()
    }

    /// HF's `_calc_word_ids_and_prob_mask` + `_whole_word_mask`, row by row.
    fn choose_words(&self, p: &Padded, rng: &mut StdRng) -> Vec<bool> {
        let mut chosen = vec![false; p.ids.len()];
        for r in 0..p.rows {
            let row = r * p.len..(r + 1) * p.len;
            let mut word_chosen = false;
            let mut prev_end: Option<usize> = None;
            let mut prev_special = false;
            for i in row {
                if p.special[i] {
                    prev_special = true;
                    prev_end = Some(p.offsets[i].1);
                    continue;
                }
                let (start, end) = p.offsets[i];
                let new_word = prev_special || prev_end != Some(start);
                if new_word {
                    word_chosen = rng.random::<f64>() < self.probability;
                }
                chosen[i] = word_chosen;
                prev_special = false;
                prev_end = Some(end);
            }
        }
        chosen
    }
}

impl Collate<Encoded> for MaskedLm {
    fn collate(&self, rows: &[(&Encoded, Option<usize>)], seed: u64) -> Result<Batch> {
        let encs: Vec<&Encoded> = rows.iter().map(|r| r.0).collect();
        self.collate_encoded(&encs, seed)
    }
}

/// Causal-language-model batches (GPT-2 pretraining): labels are the inputs, -100 on padding;
/// the model shifts them.
#[derive(Debug, Clone)]
pub struct CausalLm {
    pad_id: u32,
    pad_to_multiple_of: Option<usize>,
}

impl CausalLm {
    /// A collator padding with `tokenizer`'s pad token (its end-of-text token when it has none).
    pub fn new(tokenizer: &Tokenizer) -> Self {
        CausalLm { pad_id: pad_id_of(tokenizer), pad_to_multiple_of: None }
    }

    /// Pads each batch to a multiple of `n` tokens.
    pub fn pad_to_multiple_of(mut self, n: usize) -> Self {
        self.pad_to_multiple_of = Some(n);
        self
    }
}

impl Collate<Encoded> for CausalLm {
    fn collate(&self, rows: &[(&Encoded, Option<usize>)], _seed: u64) -> Result<Batch> {
        let encs: Vec<&Encoded> = rows.iter().map(|r| r.0).collect();
        let p = pad(&encs, self.pad_id, self.pad_to_multiple_of);
        let labels: Vec<i64> = p.ids.iter().zip(&p.attention).map(|(&id, &a)| if a == 1 { id } else { -100 }).collect();
        Ok(text_batch(&p).tensor("labels", matrix(&labels, p.rows, p.len)))
    }
}

/// Sequence-classification batches: padded inputs and the rows' class labels.
#[derive(Debug, Clone)]
pub struct Classification {
    pad_id: u32,
    pad_to_multiple_of: Option<usize>,
}

impl Classification {
    /// A collator padding with `tokenizer`'s pad token.
    pub fn new(tokenizer: &Tokenizer) -> Self {
        Classification { pad_id: pad_id_of(tokenizer), pad_to_multiple_of: None }
    }

    /// Pads each batch to a multiple of `n` tokens.
    pub fn pad_to_multiple_of(mut self, n: usize) -> Self {
        self.pad_to_multiple_of = Some(n);
        self
    }
}

pub(crate) fn row_labels<T>(rows: &[(&T, Option<usize>)]) -> Result<Tensor> {
    let labels = rows
        .iter()
        .map(|r| r.1.map(|l| l as i64))
        .collect::<Option<Vec<i64>>>()
        .ok_or_else(|| Error::msg("this collator needs class labels, but the dataset is not labelled"))?;
    Ok(Tensor::from_slice(&labels))
}

impl Collate<Encoded> for Classification {
    fn collate(&self, rows: &[(&Encoded, Option<usize>)], _seed: u64) -> Result<Batch> {
        let encs: Vec<&Encoded> = rows.iter().map(|r| r.0).collect();
        let p = pad(&encs, self.pad_id, self.pad_to_multiple_of);
        Ok(text_batch(&p).tensor("labels", row_labels(rows)?))
    }
}
