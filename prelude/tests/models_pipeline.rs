//! fill_mask and complete on freshly built models with tokenizers trained here: the shapes of
//! the answers, probabilities in order, and clear errors for text without a mask or an empty prompt.

use tuna::prelude::*;

const CORPUS: [&str; 4] = [
    "the cat sat on the mat and the dog sat on the log",
    "in the beginning god created the heaven and the earth",
    "the earth was without form and void",
    "a cat and a dog are friends on the mat",
];

#[test]
fn fill_mask_gives_top_k_tokens_per_mask_most_likely_first() -> Result<()> {
    tch::manual_seed(0);
    let tok = Tokenizer::train_wordpiece(&CORPUS, 200)?;
    let config = BertConfig { vocab_size: tok.vocab_size() as i64, ..BertConfig::tiny() };
    let model = BertForMaskedLM::new(config)?;
    let filled = model.fill_mask(&tok, "the cat sat on the [MASK] and the [MASK] sat", 5)?;
    assert_eq!(filled.predictions.len(), 2);
    for p in &filled.predictions {
        assert_eq!(p.len(), 5);
        assert!(p.windows(2).all(|w| w[0].1 >= w[1].1), "{p:?}");
        assert!(p.iter().all(|(_, prob)| (0.0..=1.0).contains(prob)));
    }
    assert!(!filled.best().contains("[MASK]"));
    let err = model.fill_mask(&tok, "no mask here", 5).unwrap_err().to_string();
    assert!(err.contains("has no `[MASK]`"), "{err}");
    Ok(())
}

#[test]
fn complete_continues_the_prompt() -> Result<()> {
    tch::manual_seed(0);
    let tok = Tokenizer::train_bpe(&CORPUS, 300)?;
    let config = GPT2Config { vocab_size: tok.vocab_size() as i64, ..GPT2Config::tiny() };
    let model = GPT2LMHeadModel::new(config)?;
    let text = model.complete(&tok, "the cat sat", &Generation::greedy(8).ignore_eos())?;
    assert!(text.starts_with("the cat sat"), "{text}");
    assert!(text.len() > "the cat sat".len(), "{text}");
    let sampled = model.complete(&tok, "the cat sat", &Generation::sample(8).top_p(0.9).seed(3).ignore_eos())?;
    assert_eq!(sampled, model.complete(&tok, "the cat sat", &Generation::sample(8).top_p(0.9).seed(3).ignore_eos())?);
    assert!(model.complete(&tok, "", &Generation::greedy(4)).unwrap_err().to_string().contains("empty"));
    Ok(())
}
