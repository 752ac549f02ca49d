//! Corpora for language-model pretraining: tokenized documents concatenated and cut into blocks
//! of a fixed number of tokens, as `group_texts` in Hugging Face's `run_mlm.py` / `run_clm.py`.
//!
//! ```no_run
//! use tuna::prelude::*;
//! let tok = Tokenizer::from_file(data_dir().join("all-MiniLM-L6-v2"))?.no_truncation();
//! let docs = Dataset::new("wikipedia", wikipedia_articles(wikipedia_dump()?)?.into_iter().map(|a| a.text).collect());
//! let blocks = group_texts(&tok.tokenize(&docs)?, 128)?;
//! # Ok::<(), tuna::Error>(())
//! ```

use super::Encoded;
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Concatenates every field of the encodings (ids, segment ids, attention and special-token
/// masks, offsets) and cuts them into blocks of `block_size` tokens, dropping the remainder.
/// HF's `group_texts` does the same within each `map` batch of 1,000 documents; here the whole
/// corpus is one batch, so at most one partial block is lost. Labels and word ids are dropped:
/// a block mixes documents.
pub fn group_texts(encoded: &Dataset<Encoded>, block_size: usize) -> Result<Dataset<Encoded>> {
    if block_size == 0 {
        return Err(Error::config("block_size", "must be at least 1"));
    }
    let total: usize = encoded.items().iter().map(Encoded::len).sum();
    let blocks = total / block_size;
    let mut out: Vec<Encoded> = (0..blocks)
        .map(|_| Encoded {
            ids: Vec::with_capacity(block_size),
            type_ids: Vec::with_capacity(block_size),
            attention_mask: Vec::with_capacity(block_size),
            special_tokens_mask: Vec::with_capacity(block_size),
            word_ids: Vec::with_capacity(block_size),
            offsets: Vec::with_capacity(block_size),
        })
        .collect();
    let mut position = 0usize;
    'docs: for doc in encoded.items() {
        for t in 0..doc.len() {
            let block = position / block_size;
            if block >= blocks {
                break 'docs;
            }
            let b = &mut out[block];
            b.ids.push(doc.ids[t]);
            b.type_ids.push(doc.type_ids.get(t).copied().unwrap_or(0));
            b.attention_mask.push(doc.attention_mask.get(t).copied().unwrap_or(1));
            b.special_tokens_mask.push(doc.special_tokens_mask.get(t).copied().unwrap_or(0));
            b.word_ids.push(None);
            b.offsets.push(doc.offsets.get(t).copied().unwrap_or_default());
            position += 1;
        }
    }
    Ok(Dataset::new(format!("{} in blocks of {block_size}", encoded.name()), out))
}

/// The texts of `texts` tokenized (without truncation) and grouped into blocks of `block_size`:
/// the usual pretraining corpus in one call.
pub fn text_blocks(tokenizer: &super::Tokenizer, texts: &Dataset<String>, block_size: usize) -> Result<Dataset<Encoded>> {
    let tok = tokenizer.clone().no_truncation().padding(super::Padding::None);
    group_texts(&tok.tokenize(texts)?, block_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(ids: &[u32]) -> Encoded {
        Encoded {
            ids: ids.to_vec(),
            type_ids: vec![0; ids.len()],
            attention_mask: vec![1; ids.len()],
            special_tokens_mask: vec![0; ids.len()],
            word_ids: vec![None; ids.len()],
            offsets: vec![(0, 0); ids.len()],
        }
    }

    #[test]
    fn blocks_concatenate_and_drop_the_remainder() {
        let ds = Dataset::new("t", vec![enc(&[1, 2, 3]), enc(&[4, 5]), enc(&[6, 7, 8, 9])]);
        let blocks = group_texts(&ds, 4).unwrap();
        let ids: Vec<Vec<u32>> = blocks.items().iter().map(|b| b.ids.clone()).collect();
        assert_eq!(ids, vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]]);
        assert!(group_texts(&ds, 0).is_err());
    }
}
