//! Text generation with GPT-2: greedy decoding or sampling with temperature, top-k and top-p,
//! a seed, a token budget and a stop at end-of-text, as `transformers/generation/utils.py`
//! (`GenerationMixin._sample`) and `logits_process.py` (`TopKLogitsWarper`, `TopPLogitsWarper`) do it.

use super::gpt2::{GPT2LMHeadModel, KvCache};
use super::pretrained::PretrainedModel;
use crate::{Error, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tch::{Device, Kind, Tensor};

/// How to generate: built with [`Generation::greedy`] or [`Generation::sample`], then setters.
///
/// ```no_run
/// use tuna::models::Generation;
/// let greedy = Generation::greedy(20);
/// let creative = Generation::sample(50).temperature(0.9).top_k(40).top_p(0.95).seed(7);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Tokens to add at most.
    pub max_new_tokens: i64,
    /// Sample from the distribution (true) or take the most likely token (false).
    pub do_sample: bool,
    /// Divides the logits before sampling; below 1 sharpens, above 1 flattens (default 1).
    pub temperature: f64,
    /// Sample only among the k most likely tokens (default: all).
    pub top_k: Option<i64>,
    /// Sample only among the most likely tokens whose probabilities sum to p (default: all).
    pub top_p: Option<f64>,
    /// Seed of this generation's own random generator, for repeatable samples that other threads
    /// drawing random numbers cannot disturb (default: drawn from libtorch's global generator).
    pub seed: Option<i64>,
    /// Token that ends a sequence; `None` takes the model's `eos_token_id` (default None).
    pub eos_token_id: Option<i64>,
    /// Whether to stop at the end-of-text token at all (default true).
    pub stop_at_eos: bool,
}

impl Generation {
    /// Greedy decoding: the most likely token each step, up to `max_new_tokens`.
    pub fn greedy(max_new_tokens: i64) -> Self {
        Generation {
            max_new_tokens,
            do_sample: false,
            temperature: 1.0,
            top_k: None,
            top_p: None,
            seed: None,
            eos_token_id: None,
            stop_at_eos: true,
        }
    }

    /// Sampling at temperature 1 from the whole vocabulary, up to `max_new_tokens`.
    pub fn sample(max_new_tokens: i64) -> Self {
        Generation { do_sample: true, ..Self::greedy(max_new_tokens) }
    }

    /// Sets the temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = temperature;
        self
    }

    /// Samples among the `k` most likely tokens only.
    pub fn top_k(mut self, k: i64) -> Self {
        self.top_k = Some(k);
        self
    }

    /// Samples among the smallest set of tokens whose probabilities reach `p` only.
    pub fn top_p(mut self, p: f64) -> Self {
        self.top_p = Some(p);
        self
    }

    /// Seeds the random generator.
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets the end-of-text token.
    pub fn eos_token_id(mut self, id: i64) -> Self {
        self.eos_token_id = Some(id);
        self
    }

    /// Generates exactly `max_new_tokens`, ignoring the end-of-text token.
    pub fn ignore_eos(mut self) -> Self {
        self.stop_at_eos = false;
        self
    }

    fn check(&self) -> Result<()> {
        if self.max_new_tokens < 0 {
            return Err(Error::config("max_new_tokens", "must be zero or more"));
        }
        if self.temperature <= 0.0 || !self.temperature.is_finite() {
            return Err(Error::config("temperature", format!("must be positive, got {}", self.temperature)));
        }
        if matches!(self.top_k, Some(k) if k < 1) {
            return Err(Error::config("top_k", "must be at least 1"));
        }
        if matches!(self.top_p, Some(p) if !(p > 0.0 && p <= 1.0)) {
            return Err(Error::config("top_p", "must be in (0, 1]"));
        }
        Ok(())
    }

    /// The next token of each row: `logits` (batch, vocab) → (batch,).
    fn next_token(&self, logits: &Tensor, rng: &mut StdRng) -> Tensor {
        if !self.do_sample {
            return logits.argmax(-1, false);
        }
        let mut scores = logits.to_kind(Kind::Float) / self.temperature;
        if let Some(k) = self.top_k {
            let k = k.min(scores.size()[1]);
            // Everything below the k-th largest score is out.
            let (kth, _) = scores.topk(k, -1, true, true);
            let threshold = kth.narrow(1, k - 1, 1);
            scores = scores.masked_fill(&scores.lt_tensor(&threshold), f64::NEG_INFINITY);
        }
        if let Some(p) = self.top_p {
            // Ascending order: drop the low tail whose cumulative probability stays within 1 - p,
            // always keeping the most likely token.
            let (sorted, idx) = scores.sort(-1, false);
            let cum = sorted.softmax(-1, Kind::Float).cumsum(-1, Kind::Float);
            let drop_sorted = cum.le(1.0 - p);
            let n = drop_sorted.size()[1];
            let _ = drop_sorted.narrow(1, n - 1, 1).fill_(0);
            let drop = drop_sorted.scatter(1, &idx, &drop_sorted);
            scores = scores.masked_fill(&drop, f64::NEG_INFINITY);
        }
        // Inverse-CDF sampling with uniforms from this generation's own generator, so that a seeded
        // generation is repeatable even while other threads draw from libtorch's global generator.
        let cum = scores.softmax(-1, Kind::Float).cumsum(-1, Kind::Float);
        let batch = cum.size()[0];
        let vocab = cum.size()[1];
        let total = cum.narrow(1, vocab - 1, 1);
        // Uniforms in (0, 1], so a token of probability zero is never the answer.
        let uniforms: Vec<f32> = (0..batch).map(|_| 1.0 - rng.random::<f32>()).collect();
        let u = Tensor::from_slice(&uniforms).to_device(cum.device()).unsqueeze(1) * &total;
        cum.lt_tensor(&u).sum_dim_intlist(-1, false, Kind::Int64).clamp_max(vocab - 1)
    }
}

impl GPT2LMHeadModel {
    /// Continues each row of `input_ids` (batch, prompt_len; rows of equal length, no padding)
    /// and returns prompt and continuation (batch, prompt_len + new). Rows that reach the
    /// end-of-text token stop there (the token is kept) and are padded with it while the others go on.
    pub fn generate(&self, input_ids: &Tensor, how: &Generation) -> Result<Tensor> {
        how.check()?;
        let (_, prompt_len) = input_ids
            .size2()
            .map_err(|_| Error::Shape { context: "generate".into(), message: format!("input_ids must be (batch, seq), got {:?}", input_ids.size()) })?;
        if prompt_len == 0 {
            return Err(Error::Shape { context: "generate".into(), message: "the prompt is empty".into() });
        }
        let budget = how.max_new_tokens.min(self.max_positions() - prompt_len);
        if budget < how.max_new_tokens {
            return Err(Error::config(
                "max_new_tokens",
                format!("prompt ({prompt_len}) + max_new_tokens ({}) exceeds the model's n_positions ({})", how.max_new_tokens, self.max_positions()),
            ));
        }
        // Seeded: its own generator. Unseeded: seeded from libtorch's global generator, so that
        // `tch::manual_seed` before the call still makes the samples repeatable.
        let seed = how.seed.map(|s| s as u64).unwrap_or_else(|| Tensor::randint(i64::MAX, [1], (Kind::Int64, Device::Cpu)).int64_value(&[0]) as u64);
        let mut rng = StdRng::seed_from_u64(seed);
        let eos = if how.stop_at_eos { how.eos_token_id.or(self.config().eos_token_id) } else { None };
        let input_ids = input_ids.to_device(self.device());
        Ok(tch::no_grad(|| {
            let mut cache = KvCache::new();
            let mut out = input_ids.shallow_clone();
            let mut step_input = input_ids;
            // (batch,) true once a row has produced its end-of-text token.
            let mut done: Option<Tensor> = None;
            for _ in 0..how.max_new_tokens {
                let logits = self.forward_cached(&step_input, &mut cache);
                let last = logits.select(1, -1);
                let mut next = how.next_token(&last, &mut rng);
                if let (Some(eos), Some(d)) = (eos, &done) {
                    next = next.where_self(&d.logical_not(), &Tensor::from(eos).to_device(next.device()));
                }
                out = Tensor::cat(&[out, next.unsqueeze(1)], 1);
                if let Some(eos) = eos {
                    let d = match done {
                        Some(d) => d.logical_or(&next.eq(eos)),
                        None => next.eq(eos),
                    };
                    let all = bool::try_from(d.all()).unwrap_or(false);
                    done = Some(d);
                    if all {
                        break;
                    }
                }
                step_input = next.unsqueeze(1);
            }
            out
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_draws_tokens_with_their_probabilities() {
        let probs = [0.1f32, 0.2, 0.0, 0.7];
        let rows = 20_000;
        let logits = Tensor::from_slice(&probs).log().unsqueeze(0).repeat([rows, 1]);
        let how = Generation::sample(1);
        let drawn = Vec::<i64>::try_from(how.next_token(&logits, &mut StdRng::seed_from_u64(5))).unwrap();
        for (token, p) in probs.iter().enumerate() {
            let freq = drawn.iter().filter(|&&t| t == token as i64).count() as f32 / rows as f32;
            assert!((freq - p).abs() < 0.015, "token {token}: drawn {freq}, probability {p}");
        }
        assert!(!drawn.contains(&2));
    }
}
