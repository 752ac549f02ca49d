//! GPT-2 against the golden fixture of `make_fixtures.py`: logits, hidden states, greedy
//! generation token for token as Python's `generate`, the stop at end-of-text, sampling.

mod models_support;

use models_support::{expected, fixture, max_abs};
use tch::Tensor;
use tuna::models::*;
use tuna::Result;

fn ids(key: &str) -> Tensor {
    expected("gpt2").get(key).unwrap().shallow_clone()
}

fn to_vec(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.flatten(0, -1)).unwrap()
}

#[test]
fn lm_head_and_hidden_states_match_python() -> Result<()> {
    let model = GPT2LMHeadModel::from_pretrained(fixture("gpt2"))?;
    assert!(model.load_report().unwrap().is_complete(), "{}", model.load_report().unwrap().summary());
    assert_eq!(model.lm_head.weight.data_ptr(), model.transformer.wte.weight.data_ptr());
    let logits = tch::no_grad(|| model.forward(&ids("input_ids"), None));
    let d = max_abs(&logits, expected("gpt2").require("logits")?);
    println!("gpt2: max-abs logits {d:.2e}");
    assert!(d < 1e-5);

    let base = GPT2Model::from_pretrained(fixture("gpt2"))?;
    assert!(base.load_report().unwrap().is_complete());
    let hidden = tch::no_grad(|| base.forward(&ids("input_ids"), None));
    let d = max_abs(&hidden, expected("gpt2").require("last_hidden_state")?);
    println!("gpt2: max-abs hidden {d:.2e}");
    assert!(d < 1e-5);
    Ok(())
}

#[test]
fn cached_decoding_equals_a_full_forward() -> Result<()> {
    let model = GPT2LMHeadModel::from_pretrained(fixture("gpt2"))?;
    let input = ids("input_ids");
    let full = tch::no_grad(|| model.forward(&input, None));
    let mut cache = KvCache::new();
    let head = tch::no_grad(|| model.forward_cached(&input.narrow(1, 0, 5), &mut cache));
    let tail = tch::no_grad(|| model.forward_cached(&input.narrow(1, 5, 3), &mut cache));
    assert_eq!(cache.len(), 8);
    assert!(max_abs(&Tensor::cat(&[head, tail], 1), &full) < 1e-5);
    // A padded second row: its real positions do not change.
    let mask = Tensor::from_slice2(&[[1i64, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0]]);
    let masked = tch::no_grad(|| model.forward(&input, Some(&mask)));
    assert!(max_abs(&masked.get(1).narrow(0, 0, 5), &full.get(1).narrow(0, 0, 5)) < 1e-5);
    Ok(())
}

#[test]
fn greedy_generation_equals_python_generate() -> Result<()> {
    let model = GPT2LMHeadModel::from_pretrained(fixture("gpt2"))?;
    let prompt = ids("prompt");
    let out = model.generate(&prompt, &Generation::greedy(20).ignore_eos())?;
    assert_eq!(to_vec(&out), to_vec(&ids("greedy")));
    Ok(())
}

#[test]
fn generation_stops_at_the_end_of_text_token() -> Result<()> {
    let model = GPT2LMHeadModel::from_pretrained(fixture("gpt2"))?;
    let eos = to_vec(&ids("eos_id"))[0];
    let out = model.generate(&ids("prompt"), &Generation::greedy(20).eos_token_id(eos))?;
    let want = to_vec(&ids("eos_stop"));
    assert_eq!(to_vec(&out), want);
    assert_eq!(*want.last().unwrap(), eos);
    assert!(want.len() < to_vec(&ids("greedy")).len());
    Ok(())
}

#[test]
fn sampling_is_seeded_and_top_k_one_is_greedy() -> Result<()> {
    let model = GPT2LMHeadModel::from_pretrained(fixture("gpt2"))?;
    let prompt = ids("prompt");
    let greedy = to_vec(&model.generate(&prompt, &Generation::greedy(12).ignore_eos())?);
    let top1 = to_vec(&model.generate(&prompt, &Generation::sample(12).top_k(1).seed(3).ignore_eos())?);
    assert_eq!(top1, greedy);
    let how = Generation::sample(12).temperature(1.5).top_p(0.9).seed(11).ignore_eos();
    let a = to_vec(&model.generate(&prompt, &how)?);
    let b = to_vec(&model.generate(&prompt, &how)?);
    assert_eq!(a, b);
    assert_eq!(a.len(), 16);
    assert!(a.iter().all(|&t| (0..99).contains(&t)));
    let bad = model.generate(&prompt, &Generation::sample(4).top_p(1.5));
    assert!(bad.unwrap_err().to_string().contains("top_p"));
    let too_long = model.generate(&prompt, &Generation::greedy(100));
    assert!(too_long.unwrap_err().to_string().contains("n_positions"));
    Ok(())
}
