//! The real all-MiniLM-L6-v2 (fetched by `make setup` into `$TUNA_DATA`): mean-pooled sentence
//! embeddings equal Python's (`tests/fixtures/models/minilm`, written by `make_fixtures.py`),
//! and the published cosine similarity of two sentences.

mod models_support;

use models_support::{expected, fixture, max_abs, temp_dir, tuna_data};
use tch::{Kind, Tensor};
use tokenizers::{PaddingParams, Tokenizer};
use tuna::models::*;
use tuna::Result;

fn minilm_dir() -> std::path::PathBuf {
    let dir = tuna_data().join("all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").is_file(),
        "{} has no model.safetensors: run `make setup` to fetch all-MiniLM-L6-v2 (or set TUNA_DATA)",
        dir.display()
    );
    dir
}

fn encode(dir: &std::path::Path, sentences: &[String]) -> (Tensor, Tensor) {
    let mut tok = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    tok.with_truncation(None).unwrap();
    tok.with_padding(Some(PaddingParams::default()));
    let enc = tok.encode_batch(sentences.to_vec(), true).unwrap();
    let rows = |f: &dyn Fn(&tokenizers::Encoding) -> Vec<i64>| {
        let v: Vec<Vec<i64>> = enc.iter().map(f).collect();
        Tensor::from_slice2(&v)
    };
    let ids = rows(&|e| e.get_ids().iter().map(|&i| i as i64).collect());
    let mask = rows(&|e| e.get_attention_mask().iter().map(|&i| i as i64).collect());
    (ids, mask)
}

#[test]
fn mean_pooled_embeddings_match_python_and_the_published_cosine() -> Result<()> {
    let dir = minilm_dir();
    let text = std::fs::read_to_string(fixture("minilm").join("sentences.txt")).unwrap();
    let sentences: Vec<String> = text.lines().map(str::to_owned).collect();
    assert!(sentences.len() >= 5);
    let (ids, mask) = encode(&dir, &sentences);
    let want = expected("minilm");
    assert_eq!(Vec::<i64>::try_from(ids.flatten(0, -1)).unwrap(), Vec::<i64>::try_from(want.require("input_ids")?.flatten(0, -1)).unwrap());

    let model = BertModel::from_pretrained(&dir)?;
    let report = model.load_report().unwrap();
    assert!(report.is_complete(), "{}", report.summary());
    let emb = tch::no_grad(|| mean_pooling(&model.forward(&ids, Some(&mask), None), &mask));
    let d = max_abs(&emb, want.require("embeddings")?);
    let cos = f64::try_from(cosine_similarity(&emb.narrow(0, 0, 1), &emb.narrow(0, 1, 1)).sum(Kind::Double)).unwrap();
    println!("minilm: {} sentences, max-abs {d:.2e}, cosine {cos:.4}", sentences.len());
    assert!(d < 1e-5, "max-abs {d}");
    assert!((cos - 0.755).abs() <= 0.001, "cosine {cos}");

    // Saving writes a directory that loads back to the same embeddings, tokenizer files included.
    let out = temp_dir("minilm");
    model.save_pretrained(&out)?;
    assert!(out.join("tokenizer.json").is_file() && out.join("vocab.txt").is_file());
    let again = BertModel::from_pretrained(&out)?;
    let emb2 = tch::no_grad(|| mean_pooling(&again.forward(&ids, Some(&mask), None), &mask));
    assert_eq!(max_abs(&emb, &emb2), 0.0);
    std::fs::remove_dir_all(&out).ok();
    Ok(())
}
