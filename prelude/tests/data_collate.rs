//! Collators on the real tweets, tokenized by the real MiniLM tokenizer: masked-LM statistics
//! match Hugging Face's `DataCollatorForLanguageModeling`, labels are exact, seeds repeat;
//! causal-LM and classification batches; the loader's order, drop_last and determinism.

use std::sync::Mutex;
use tuna::prelude::*;

/// The MiniLM tokenizer and ~8,000 tweets tokenized by it (about 190k tokens), made once for
/// all the tests of this file.
fn setup() -> Result<(Tokenizer, Dataset<Encoded>)> {
    // Tests run in parallel: the first one tokenizes while the others wait for its result.
    static DATA: Mutex<Option<(Tokenizer, Dataset<Encoded>)>> = Mutex::new(None);
    let mut data = DATA.lock().unwrap_or_else(|e| e.into_inner());
    if data.is_none() {
        let dir = data_dir().join("all-MiniLM-L6-v2");
        assert!(dir.exists(), "{} is missing: run `make setup` first", dir.display());
        let tok = Tokenizer::from_file(&dir)?.max_length(128);
        let encoded = tok.tokenize(&tweets()?.take(8_000))?;
        *data = Some((tok, encoded));
    }
    data.clone().ok_or_else(|| Error::msg("no data"))
}

fn values(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.flatten(0, -1)).unwrap_or_default()
}

#[test]
fn masked_lm_statistics_match_hugging_face() -> Result<()> {
    let (tok, data) = setup()?;
    let mlm = MaskedLm::new(&tok)?;
    let mask_id = tok.mask_id().unwrap_or(u32::MAX) as i64;
    let pad_id = tok.pad_id().unwrap_or(u32::MAX) as i64;
    let specials: Vec<i64> = ["[CLS]", "[SEP]", "[PAD]"].iter().filter_map(|t| tok.token_to_id(t)).map(i64::from).collect();
    let (mut candidates, mut chosen, mut masked, mut random, mut kept) = (0usize, 0usize, 0usize, 0usize, 0usize);
    let rows: Vec<(&Encoded, Option<usize>)> = data.iter().collect();
    for (b, batch_rows) in rows.chunks(16).enumerate() {
        let batch = mlm.collate(batch_rows, b as u64)?;
        let inputs = values(&batch["input_ids"]);
        let labels = values(&batch["labels"]);
        let attention = values(&batch["attention_mask"]);
        // The originals, padded the same way, to see what each chosen token became.
        let encs: Vec<&Encoded> = batch_rows.iter().map(|r| r.0).collect();
        let len = inputs.len() / encs.len();
        for (r, e) in encs.iter().enumerate() {
            for t in 0..len {
                let i = r * len + t;
                let original = e.ids.get(t).map_or(pad_id, |&x| x as i64);
                let special = e.special_tokens_mask.get(t).is_none_or(|&s| s == 1);
                if special {
                    assert_eq!(labels[i], -100, "a special or padding token was chosen");
                    assert_eq!(inputs[i], original, "a special or padding token was changed");
                    assert!(specials.contains(&original));
                    if t >= e.len() {
                        assert_eq!(attention[i], 0);
                    }
                    continue;
                }
                candidates += 1;
                if labels[i] == -100 {
                    assert_eq!(inputs[i], original, "a token that was not chosen changed");
                    continue;
                }
                assert_eq!(labels[i], original, "labels hold the original id where chosen");
                chosen += 1;
                if inputs[i] == mask_id {
                    masked += 1;
                } else if inputs[i] == original {
                    kept += 1;
                } else {
                    random += 1;
                }
            }
        }
    }
    assert!(candidates >= 100_000, "only {candidates} tokens");
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b as f64;
    let chosen_pct = pct(chosen, candidates);
    // A random replacement that draws the original id counts as kept: 1 / vocab of them.
    let (m, r, k) = (pct(masked, chosen), pct(random, chosen), pct(kept, chosen));
    eprintln!("tokens {candidates}, chosen {chosen_pct:.2} %, of which [MASK] {m:.2} %, random {r:.2} %, kept {k:.2} %");
    assert!((chosen_pct - 15.0).abs() <= 0.5, "chosen {chosen_pct}");
    assert!((m - 80.0).abs() <= 1.5, "[MASK] {m}");
    assert!((r - 10.0).abs() <= 1.5, "random {r}");
    assert!((k - 10.0).abs() <= 1.5, "kept {k}");
    Ok(())
}

#[test]
fn same_seed_same_batches_through_the_loader() -> Result<()> {
    let (tok, data) = setup()?;
    let data = data.take(600);
    let loader = Loader::new(data.clone(), 16, MaskedLm::new(&tok)?).seed(5).workers(3).prefetch(2);
    let again = Loader::new(data.clone(), 16, MaskedLm::new(&tok)?).seed(5).workers(0);
    let other = Loader::new(data, 16, MaskedLm::new(&tok)?).seed(6).workers(2);
    let a: Vec<Batch> = loader.epoch(0).collect::<Result<_>>()?;
    let b: Vec<Batch> = again.epoch(0).collect::<Result<_>>()?;
    let c: Vec<Batch> = other.epoch(0).collect::<Result<_>>()?;
    assert_eq!(a.len(), 38, "600 rows in batches of 16, last partial kept");
    for (x, y) in a.iter().zip(&b) {
        assert!(x["input_ids"].equal(&y["input_ids"]) && x["labels"].equal(&y["labels"]), "same seed, same batch whatever the threads");
    }
    assert!(!a[0]["labels"].equal(&c[0]["labels"]) || !a[0]["input_ids"].equal(&c[0]["input_ids"]));
    // Each epoch is reshuffled from the seed; every row appears once.
    assert_ne!(loader.order(0), loader.order(1));
    let mut seen = loader.order(1);
    seen.sort();
    assert_eq!(seen, (0..600).collect::<Vec<_>>());
    let dropped = Loader::new(loader.dataset().clone(), 16, MaskedLm::new(&tok)?).drop_last(true);
    assert_eq!(dropped.len(), 37);
    assert!(dropped.epoch(0).all(|b| b.map(|b| b.size() == 16).unwrap_or(false)));
    Ok(())
}

#[test]
fn whole_word_masking_masks_whole_words() -> Result<()> {
    let (tok, data) = setup()?;
    let mlm = MaskedLm::new(&tok)?.whole_word(true);
    let mask_id = tok.mask_id().unwrap_or(u32::MAX) as i64;
    let rows: Vec<&Encoded> = data.items().iter().take(2_000).collect();
    let (mut words, mut chosen_words) = (0usize, 0usize);
    for (b, chunk) in rows.chunks(32).enumerate() {
        let batch = mlm.collate_encoded(chunk, b as u64)?;
        let inputs = values(&batch["input_ids"]);
        let labels = values(&batch["labels"]);
        let len = inputs.len() / chunk.len();
        for (r, e) in chunk.iter().enumerate() {
            // Words as HF finds them: a new word after a gap in the offsets or a special token.
            let mut word: Vec<usize> = Vec::new();
            let mut flush = |word: &mut Vec<usize>| {
                if word.is_empty() {
                    return;
                }
                let picked: Vec<bool> = word.iter().map(|&t| labels[r * len + t] != -100).collect();
                assert!(picked.iter().all(|&p| p == picked[0]), "a word was masked in part");
                if picked[0] {
                    chosen_words += 1;
                    assert!(word.iter().all(|&t| inputs[r * len + t] == mask_id), "whole-word masking always uses [MASK]");
                }
                words += 1;
                word.clear();
            };
            for t in 0..e.len() {
                if e.special_tokens_mask[t] == 1 {
                    flush(&mut word);
                    continue;
                }
                if t > 0 && e.special_tokens_mask[t - 1] == 0 && e.offsets[t].0 != e.offsets[t - 1].1 {
                    flush(&mut word);
                }
                word.push(t);
            }
            flush(&mut word);
        }
    }
    let pct = 100.0 * chosen_words as f64 / words as f64;
    assert!((pct - 15.0).abs() < 1.0, "{pct} % of {words} words chosen");
    Ok(())
}

#[test]
fn causal_and_classification_batches() -> Result<()> {
    let (tok, data) = setup()?;
    let rows: Vec<(&Encoded, Option<usize>)> = data.iter().take(8).collect();
    let batch = CausalLm::new(&tok).pad_to_multiple_of(8).collate(&rows, 0)?;
    let (ids, labels, attention) = (values(&batch["input_ids"]), values(&batch["labels"]), values(&batch["attention_mask"]));
    assert_eq!(batch["input_ids"].size()[1] % 8, 0);
    for i in 0..ids.len() {
        assert_eq!(labels[i], if attention[i] == 1 { ids[i] } else { -100 });
    }
    assert!(attention.contains(&0), "some padding in a batch of tweets");

    let batch = Classification::new(&tok).collate(&rows, 0)?;
    let expected: Vec<i64> = rows.iter().map(|r| r.1.unwrap_or(99) as i64).collect();
    assert_eq!(values(&batch["labels"]), expected);
    assert!(batch.get("pixel_values").is_err_and(|e| e.to_string().contains("input_ids")));
    let unlabelled = Dataset::new("u", vec![rows[0].0.clone()]);
    let only: Vec<_> = unlabelled.iter().collect();
    assert!(Classification::new(&tok).collate(&only, 0).is_err());
    Ok(())
}
