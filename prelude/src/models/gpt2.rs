//! GPT-2 (Radford et al., 2019), mirroring `transformers/models/gpt2/modeling_gpt2.py`:
//! pre-LayerNorm decoder blocks, causal attention, learned positions, `Conv1D` weights stored
//! (in, out) as in the checkpoints, LM head tied to the token embeddings, key/value cache for
//! generation (see `generate.rs`).

use super::config::GPT2Config;
use super::layers::{attention, dropout, merge_heads, split_heads, Activation, Embedding, LayerNorm};
use super::linear::Linear;
use super::pretrained::{model_boilerplate, ModelState};
use super::prefix::{prepend, KvPrefix, TuningHooks};
use crate::Result;
use tch::{nn, nn::VarStore, Device, Kind, Tensor};

/// Keys and values of earlier positions, one (key, value) pair per block, each
/// (batch, heads, past_len, head_dim): lets generation feed one new token at a time.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        KvCache::default()
    }

    /// Number of positions cached.
    pub fn len(&self) -> i64 {
        self.layers.first().and_then(|l| l.as_ref()).map_or(0, |(k, _)| k.size()[2])
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends this step's keys and values to layer `i`'s and returns the whole.
    fn update(&mut self, i: usize, k: Tensor, v: Tensor) -> (Tensor, Tensor) {
        if self.layers.len() <= i {
            self.layers.resize_with(i + 1, || None);
        }
        let (k, v) = match self.layers[i].take() {
            Some((pk, pv)) => (Tensor::cat(&[pk, k], 2), Tensor::cat(&[pv, v], 2)),
            None => (k, v),
        };
        self.layers[i] = Some((k.shallow_clone(), v.shallow_clone()));
        (k, v)
    }
}

/// Causal self-attention (`GPT2Attention`): fused `c_attn` projection, output `c_proj`.
#[derive(Debug)]
pub struct GPT2Attention {
    /// `attn.c_attn`: (hidden, 3·hidden), Conv1D layout.
    pub c_attn: Linear,
    /// `attn.c_proj`: (hidden, hidden), Conv1D layout.
    pub c_proj: Linear,
    /// Key/value vectors prepended to this block's (prefix tuning); `None` by default.
    pub prefix: Option<KvPrefix>,
    heads: i64,
    hidden: i64,
    scale: f64,
    attn_dropout: f64,
    resid_dropout: f64,
}

impl GPT2Attention {
    fn new(p: nn::Path, c: &GPT2Config, layer: i64) -> Result<Self> {
        let (h, std) = (c.n_embd, c.initializer_range);
        let proj_std = std / (2.0 * c.n_layer as f64).sqrt();
        let mut scale = if c.scale_attn_weights { ((h / c.n_head) as f64).powf(-0.5) } else { 1.0 };
        if c.scale_attn_by_inverse_layer_idx {
            scale /= (layer + 1) as f64;
        }
        Ok(GPT2Attention {
            c_attn: Linear::conv1d(&p / "c_attn", h, 3 * h, std)?,
            c_proj: Linear::conv1d(&p / "c_proj", h, h, proj_std)?,
            prefix: None,
            heads: c.n_head,
            hidden: h,
            scale,
            attn_dropout: c.attn_pdrop,
            resid_dropout: c.resid_pdrop,
        })
    }

    /// `x` (batch, seq, hidden) → (batch, seq, hidden). `mask`: boolean (batch, 1, seq, past+seq)
    /// or `None` for plain causal attention over the whole sequence.
    fn forward(&self, x: &Tensor, layer: usize, cache: Option<&mut KvCache>, mask: Option<&Tensor>, train: bool) -> Tensor {
        let qkv = self.c_attn.forward(x).split(self.hidden, 2);
        // (batch, heads, seq, head_dim)
        let q = split_heads(&qkv[0], self.heads);
        let mut k = split_heads(&qkv[1], self.heads);
        let mut v = split_heads(&qkv[2], self.heads);
        if let Some(cache) = cache {
            (k, v) = cache.update(layer, k, v);
        }
        // With a prefix the keys outnumber the queries: causal attention needs an explicit mask.
        let own_mask = match (mask, &self.prefix) {
            (None, Some(_)) => {
                let (s, total) = (q.size()[2], k.size()[2]);
                Some(Tensor::ones([s, total], (Kind::Bool, q.device())).tril(total - s).view([1, 1, s, total]))
            }
            _ => None,
        };
        let (k, v, mask) = prepend(self.prefix.as_ref(), k, v, own_mask.as_ref().or(mask));
        let p = if train { self.attn_dropout } else { 0.0 };
        let ctx = attention(&q, &k, &v, mask.as_ref(), p, mask.is_none(), self.scale);
        dropout(self.c_proj.forward(&merge_heads(&ctx)), self.resid_dropout, train)
    }
}

/// One decoder block (`GPT2Block`): x + attn(ln_1(x)), then + mlp(ln_2(·)).
#[derive(Debug)]
pub struct GPT2Block {
    /// `ln_1`.
    pub ln_1: LayerNorm,
    /// `attn`.
    pub attn: GPT2Attention,
    /// `ln_2`.
    pub ln_2: LayerNorm,
    /// `mlp.c_fc`: (hidden, inner), Conv1D layout.
    pub c_fc: Linear,
    /// `mlp.c_proj`: (inner, hidden), Conv1D layout.
    pub c_proj: Linear,
    act: Activation,
    resid_dropout: f64,
}

impl GPT2Block {
    fn new(p: nn::Path, c: &GPT2Config, layer: i64) -> Result<Self> {
        let (h, eps, std) = (c.n_embd, c.layer_norm_epsilon, c.initializer_range);
        let proj_std = std / (2.0 * c.n_layer as f64).sqrt();
        Ok(GPT2Block {
            ln_1: LayerNorm::new(&p / "ln_1", h, eps)?,
            attn: GPT2Attention::new(&p / "attn", c, layer)?,
            ln_2: LayerNorm::new(&p / "ln_2", h, eps)?,
            c_fc: Linear::conv1d(&p / "mlp" / "c_fc", h, c.inner_size(), std)?,
            c_proj: Linear::conv1d(&p / "mlp" / "c_proj", c.inner_size(), h, proj_std)?,
            act: c.activation_function,
            resid_dropout: c.resid_pdrop,
        })
    }

    fn forward(&self, x: &Tensor, layer: usize, cache: Option<&mut KvCache>, mask: Option<&Tensor>, train: bool) -> Tensor {
        let x = self.attn.forward(&self.ln_1.forward(x), layer, cache, mask, train) + x;
        let m = self.c_proj.forward(&self.act.forward(&self.c_fc.forward(&self.ln_2.forward(&x))));
        dropout(m, self.resid_dropout, train) + x
    }
}

/// The decoder every GPT-2 model shares (`GPT2Model` in `transformers`): `wte`, `wpe`, `h.{i}`,
/// `ln_f`. Task models hold it under the `transformer.` prefix.
#[derive(Debug)]
pub struct GPT2Body {
    /// `wte`: token embeddings (vocab, hidden).
    pub wte: Embedding,
    /// `wpe`: position embeddings (n_positions, hidden).
    pub wpe: Embedding,
    /// `h.{i}`.
    pub blocks: Vec<GPT2Block>,
    /// `ln_f`.
    pub ln_f: LayerNorm,
    /// Virtual-token vectors (n, hidden) put before the input (prompt tuning); `None` by default.
    pub prompt: Option<Tensor>,
    embd_dropout: f64,
}

impl GPT2Body {
    /// Registers the decoder under `p` (the root, or `transformer` in task models).
    pub fn new(p: nn::Path, c: &GPT2Config) -> Result<Self> {
        let std = c.initializer_range;
        let blocks = (0..c.n_layer).map(|i| GPT2Block::new(&p / "h" / i, c, i)).collect::<Result<Vec<_>>>()?;
        Ok(GPT2Body {
            wte: Embedding::new(&p / "wte", c.vocab_size, c.n_embd, std, None)?,
            wpe: Embedding::new(&p / "wpe", c.n_positions, c.n_embd, std, None)?,
            blocks,
            ln_f: LayerNorm::new(&p / "ln_f", c.n_embd, c.layer_norm_epsilon)?,
            prompt: None,
            embd_dropout: c.embd_pdrop,
        })
    }

    /// `input_ids` (batch, seq) → final hidden states (batch, seq, hidden). `attention_mask`
    /// (batch, past+seq) of 1 / 0 hides padding; `cache` holds earlier positions and grows.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>, cache: Option<&mut KvCache>, train: bool) -> Tensor {
        self.forward_embeds(&self.wte.forward(input_ids), attention_mask, cache, train)
    }

    /// As [`GPT2Body::forward`] from token vectors `inputs_embeds` (batch, seq, hidden) instead of
    /// ids (Hugging Face's `inputs_embeds`): prompt tuning prepends its virtual tokens here.
    pub fn forward_embeds(&self, inputs_embeds: &Tensor, attention_mask: Option<&Tensor>, mut cache: Option<&mut KvCache>, train: bool) -> Tensor {
        let past = cache.as_ref().map_or(0, |c| c.len());
        // Prompt tuning, as PEFT: virtual tokens before the input (not again after a cache).
        let (embeds, attention_mask) = match (&self.prompt, past) {
            (Some(p), 0) => {
                let (b, n) = (inputs_embeds.size()[0], p.size()[0]);
                let prompt = p.to_kind(inputs_embeds.kind()).unsqueeze(0).expand([b, n, -1], false);
                let mask = attention_mask.map(|m| Tensor::cat(&[Tensor::ones([b, n], (m.kind(), m.device())), m.shallow_clone()], 1));
                (Tensor::cat(&[prompt, inputs_embeds.shallow_clone()], 1), mask)
            }
            _ => (inputs_embeds.shallow_clone(), attention_mask.map(Tensor::shallow_clone)),
        };
        let inputs_embeds = &embeds;
        let seq = inputs_embeds.size()[1];
        // A key/value prefix counts as earlier positions, as `past_key_values` in `transformers`.
        let shift = self.blocks.first().and_then(|b| b.attn.prefix.as_ref()).map_or(0, |p| p.len());
        // Positions past..past+seq are rows of the table: (seq, hidden), broadcast over the batch.
        let positions = self.wpe.weight.narrow(0, past + shift, seq);
        let mut h = dropout(inputs_embeds + positions, self.embd_dropout, train);
        let mask = causal_mask(attention_mask.as_ref(), seq, past, inputs_embeds.device());
        for (i, block) in self.blocks.iter().enumerate() {
            h = block.forward(&h, i, cache.as_deref_mut(), mask.as_ref(), train);
        }
        self.ln_f.forward(&h)
    }

    /// The prompt and prefix slots, for prompt and prefix tuning.
    pub(crate) fn tuning_hooks(&mut self) -> TuningHooks<'_> {
        let heads = self.blocks.first().map_or(1, |b| b.attn.heads);
        let word_embeddings = self.wte.weight.shallow_clone();
        TuningHooks {
            hidden: word_embeddings.size()[1],
            word_embeddings: Some(word_embeddings),
            heads,
            prefixes: self.blocks.iter_mut().map(|b| &mut b.attn.prefix).collect(),
            prompt: Some(&mut self.prompt),
        }
    }

    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        self.blocks.iter_mut().flat_map(|b| [&mut b.attn.c_attn, &mut b.attn.c_proj, &mut b.c_fc, &mut b.c_proj]).collect()
    }

    fn linears(&self) -> Vec<&Linear> {
        self.blocks.iter().flat_map(|b| [&b.attn.c_attn, &b.attn.c_proj, &b.c_fc, &b.c_proj]).collect()
    }
}

/// The boolean mask (batch, 1, seq, past+seq) for `seq` new queries after `past` cached
/// positions, or `None` when plain causal attention (no padding, no cache) is enough.
fn causal_mask(attention_mask: Option<&Tensor>, seq: i64, past: i64, device: Device) -> Option<Tensor> {
    let padded = attention_mask.filter(|m| !bool::try_from(Tensor::ne(m, 0).all()).unwrap_or(false));
    if padded.is_none() && past == 0 {
        return None;
    }
    let total = past + seq;
    // Query i (at absolute position past+i) sees keys 0..=past+i: (seq, total).
    let causal = Tensor::ones([seq, total], (Kind::Bool, device)).tril(past);
    Some(match padded {
        Some(m) => {
            let (b, _) = m.size2().unwrap_or((1, total));
            causal.unsqueeze(0).unsqueeze(0).logical_and(&Tensor::ne(m, 0).view([b, 1, 1, total]))
        }
        None => causal.view([1, 1, seq, total]),
    })
}

/// The bare GPT-2 decoder; keys without prefix (`wte.weight`, `h.0.attn.c_attn.weight`).
#[derive(Debug)]
pub struct GPT2Model {
    /// The decoder.
    pub transformer: GPT2Body,
    config: GPT2Config,
    state: ModelState,
}

impl GPT2Model {
    fn build_in(vs: VarStore, config: GPT2Config) -> Result<Self> {
        let transformer = GPT2Body::new(vs.root(), &config)?;
        Ok(GPT2Model { transformer, config, state: ModelState::new(vs) })
    }

    /// Final hidden states (batch, seq, hidden).
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>) -> Tensor {
        self.transformer.forward(input_ids, attention_mask, None, self.state.training)
    }
}

model_boilerplate!(GPT2Model, GPT2Config, "GPT2Model", "transformer", [], |s| s.transformer.linears_mut(), |s| s.transformer.linears(), hooks |s| s.transformer.tuning_hooks());

/// GPT-2 with its language-modelling head (`lm_head`, tied to `transformer.wte`).
///
/// ```no_run
/// use tuna::models::*;
/// use tch::Tensor;
/// let model = GPT2LMHeadModel::new(GPT2Config::tiny())?;
/// let prompt = Tensor::from_slice2(&[[464i64, 3290, 318]]);
/// let ids = model.generate(&prompt, &Generation::sample(40).temperature(0.8).top_p(0.9).seed(1))?;
/// # Ok::<(), tuna::Error>(())
/// ```
#[derive(Debug)]
pub struct GPT2LMHeadModel {
    /// The decoder, under `transformer.`.
    pub transformer: GPT2Body,
    /// `lm_head`: weight (vocab, hidden), shared with `transformer.wte` unless the config unties it.
    pub lm_head: Linear,
    config: GPT2Config,
    state: ModelState,
}

impl GPT2LMHeadModel {
    fn build_in(vs: VarStore, config: GPT2Config) -> Result<Self> {
        let root = vs.root();
        let transformer = GPT2Body::new(&root / "transformer", &config)?;
        let lm_head = if config.tie_word_embeddings {
            Linear::tied("lm_head".into(), transformer.wte.weight.shallow_clone(), None)
        } else {
            Linear::new(&root / "lm_head", config.n_embd, config.vocab_size, false, config.initializer_range)?
        };
        Ok(GPT2LMHeadModel { transformer, lm_head, config, state: ModelState::new(vs) })
    }

    /// Next-token logits (batch, seq, vocab).
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>) -> Tensor {
        self.lm_head.forward(&self.transformer.forward(input_ids, attention_mask, None, self.state.training))
    }

    /// Logits (batch, seq, vocab) of `input_ids` after the positions in `cache`, which grows by
    /// `seq`.
    pub fn forward_cached(&self, input_ids: &Tensor, cache: &mut KvCache) -> Tensor {
        self.lm_head.forward(&self.transformer.forward(input_ids, None, Some(cache), self.state.training))
    }

    /// Longest sequence the position table covers.
    pub fn max_positions(&self) -> i64 {
        self.config.n_positions
    }
}

model_boilerplate!(
    GPT2LMHeadModel, GPT2Config, "GPT2LMHeadModel", "transformer", ["lm_head.weight"],
    |s| { let mut v = s.transformer.linears_mut(); v.push(&mut s.lm_head); v },
    |s| { let mut v = s.transformer.linears(); v.push(&s.lm_head); v },
    hooks |s| s.transformer.tuning_hooks()
);
