//! Tokenizers: the real MiniLM `tokenizer.json` encodes pairs and batches with padding and
//! truncation exactly as Python `transformers` does (fixture written by
//! `tests/fixtures/data/make_fixtures.py`); tiny WordPiece and BPE tokenizers train, round-trip
//! and save; a broken `tokenizer.json` is a clear error.

use serde_json::Value;
use std::path::PathBuf;
use tuna::prelude::*;

fn minilm() -> Result<Tokenizer> {
    let dir = data_dir().join("all-MiniLM-L6-v2");
    assert!(dir.exists(), "{} is missing: run `make setup` first", dir.display());
    Tokenizer::from_file(dir)
}

fn column(v: &Value) -> Vec<Vec<u32>> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

fn field(rows: &[Encoded], f: impl Fn(&Encoded) -> Vec<u32>) -> Vec<Vec<u32>> {
    rows.iter().map(f).collect()
}

#[test]
fn minilm_matches_python_transformers() -> Result<()> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/data/minilm_pairs.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let cases: Vec<Value> = serde_json::from_str(&text).map_err(|e| Error::Json { path, source: e })?;
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let kwargs = &case["kwargs"];
        let mut tok = minilm()?.no_truncation();
        if kwargs["truncation"] == Value::Bool(true) {
            tok = tok.max_length(kwargs["max_length"].as_u64().unwrap_or(0) as usize);
        }
        tok = match kwargs["padding"].as_str() {
            Some("max_length") => tok.padding(Padding::Fixed(kwargs["max_length"].as_u64().unwrap_or(0) as usize)),
            _ => tok.padding(Padding::Longest),
        };
        let first: Vec<String> = serde_json::from_value(case["first"].clone()).unwrap_or_default();
        let rows = match case["second"].as_array() {
            Some(second) => {
                let pairs: Vec<(String, String)> =
                    first.iter().cloned().zip(second.iter().map(|s| s.as_str().unwrap_or_default().to_owned())).collect();
                tok.encode_pairs(&pairs)?
            }
            None => tok.encode_batch(&first)?,
        };
        assert_eq!(field(&rows, |e| e.ids.clone()), column(&case["input_ids"]), "{kwargs}");
        assert_eq!(field(&rows, |e| e.type_ids.clone()), column(&case["token_type_ids"]), "{kwargs}");
        assert_eq!(field(&rows, |e| e.attention_mask.clone()), column(&case["attention_mask"]), "{kwargs}");
        assert_eq!(field(&rows, |e| e.special_tokens_mask.clone()), column(&case["special_tokens_mask"]), "{kwargs}");
        if let Some(decoded) = case["decoded"].as_array() {
            for (row, text) in rows.iter().zip(decoded) {
                assert_eq!(tok.decode(&row.ids, true)?, text.as_str().unwrap_or_default());
            }
        }
    }
    // A single pair, encoded alone, is the first row of the padded batch without the padding.
    let tok = minilm()?;
    let one = tok.encode_pair("A man is eating food.", "A man is eating a piece of bread.")?;
    assert_eq!(one.ids[..3], [101, 1037, 2158]);
    assert_eq!(one.word_ids[0], None);
    assert_eq!(one.word_ids[1], Some(0));
    Ok(())
}

fn corpus() -> Vec<String> {
    [
        "The cat sat on the mat.",
        "The dog sat on the log.",
        "Cats and dogs are friends, sometimes.",
        "A tokenizer splits text into tokens.",
        "Unbelievable tokenization of unusual words!",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn wordpiece_trains_round_trips_and_saves() -> Result<()> {
    let tok = Tokenizer::train_wordpiece(&corpus(), 200)?;
    assert!(tok.vocab_size() <= 200 && tok.vocab_size() > 30);
    assert_eq!(tok.token_to_id("[PAD]"), Some(0));
    assert_eq!(tok.mask_id(), Some(4));
    let enc = tok.encode("The cat sat on the log.")?;
    assert_eq!(tok.tokens(&enc.ids)[0], "[CLS]");
    assert_eq!(enc.special_tokens_mask.first(), Some(&1));
    assert_eq!(tok.decode(&enc.ids, true)?, "the cat sat on the log.");
    let pair = tok.encode_pair("the cat", "the dog")?;
    assert_eq!(pair.type_ids.iter().filter(|&&t| t == 1).count(), 3, "dog, the, [SEP]");
    let dir = std::env::temp_dir().join(format!("tuna-wp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let saved = tok.save(&dir)?;
    let back = Tokenizer::from_file(&saved)?;
    assert_eq!(back.encode("The cat sat on the log.")?.ids, enc.ids);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[test]
fn wordpiece_ids_are_the_same_in_every_training() -> Result<()> {
    // tokenizers' WordPieceTrainer meets tokens in hash-map order, which differs between maps
    // and runs: it learned `##atio` in one training on this corpus and `##ation` in another.
    let vocab = |tok: &Tokenizer| (0..tok.vocab_size() as u32).map(|i| tok.tokens(&[i])[0].clone()).collect::<Vec<_>>();
    let first = vocab(&Tokenizer::train_wordpiece(&corpus(), 200)?);
    assert_eq!(&first[..8], ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!", ",", "."], "specials, then the alphabet in order");
    for _ in 0..5 {
        assert_eq!(vocab(&Tokenizer::train_wordpiece(&corpus(), 200)?), first);
    }
    Ok(())
}

#[test]
fn byte_level_bpe_trains_and_round_trips_any_text() -> Result<()> {
    let tok = Tokenizer::train_bpe(&corpus(), 300)?;
    assert_eq!(tok.token_to_id("<|endoftext|>"), Some(0));
    for text in ["The cat sat on the mat.", "Zebras ünïcödé 🦓 never seen"] {
        let enc = tok.encode(text)?;
        assert_eq!(tok.decode(&enc.ids, false)?, text);
    }
    let batch = tok.clone().padding(Padding::Longest).encode_batch(&["the cat", "the cat sat on the mat"])?;
    assert_eq!(batch[0].len(), batch[1].len());
    assert_eq!(batch[0].attention_mask.last(), Some(&0));
    let rounded = tok.clone().pad_to_multiple_of(8).padding(Padding::Longest).encode_batch(&["the cat", "the cat sat on the mat"])?;
    assert!(rounded[0].len() % 8 == 0 && rounded[0].len() >= batch[0].len(), "padded to a multiple of 8");
    assert!(tok.encode("the cat")?.len() < "the cat".len(), "merges were learned");
    Ok(())
}

#[test]
fn broken_tokenizer_json_is_a_clear_error() {
    let path = std::env::temp_dir().join(format!("tuna-bad-tokenizer-{}.json", std::process::id()));
    let _ = std::fs::write(&path, "{\"version\": \"1.0\",\n \"model\": [}\n");
    let err = Tokenizer::from_file(&path).expect_err("must fail").to_string();
    assert!(err.contains("tuna-bad-tokenizer") && err.contains("line 2"), "{err}");
    let _ = std::fs::write(&path, "{\"version\": \"1.0\"}");
    let err = Tokenizer::from_file(&path).expect_err("must fail").to_string();
    assert!(err.contains("tuna-bad-tokenizer"), "{err}");
    let _ = std::fs::remove_file(&path);
}
