//! The building blocks every model shares: activations (`transformers/activations.py`),
//! LayerNorm and Embedding registered at their Hugging Face key paths (`torch.nn.LayerNorm`,
//! `torch.nn.Embedding`), attention masks and scaled-dot-product attention
//! (`transformers/integrations/sdpa_attention.py`), and mean pooling as sentence-transformers does it.

use crate::Result;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

/// An activation function, named as in Hugging Face's `ACT2FN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// Exact GELU, x·Φ(x) (`"gelu"`).
    #[serde(rename = "gelu")]
    Gelu,
    /// GELU's tanh approximation, as GPT-2 uses it (`"gelu_new"`, also `"gelu_pytorch_tanh"`, `"gelu_fast"`).
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluNew,
    /// max(0, x) (`"relu"`).
    #[serde(rename = "relu")]
    Relu,
    /// x·σ(x) (`"silu"`, also `"swish"`).
    #[serde(rename = "silu", alias = "swish")]
    Silu,
    /// tanh(x) (`"tanh"`).
    #[serde(rename = "tanh")]
    Tanh,
}

impl Activation {
    /// Applies the activation.
    pub fn forward(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Gelu => x.gelu("none"),
            Activation::GeluNew => x.gelu("tanh"),
            Activation::Relu => x.relu(),
            Activation::Silu => x.silu(),
            Activation::Tanh => x.tanh(),
        }
    }
}

/// The dotted name of a var-store path ("encoder.layer.0.attention.self.query").
pub(crate) fn path_name(p: &nn::Path) -> String {
    p.components().collect::<Vec<_>>().join(".")
}

/// Dropout that is the identity outside training.
pub(crate) fn dropout(x: Tensor, p: f64, train: bool) -> Tensor {
    if train && p > 0.0 {
        x.dropout(p, true)
    } else {
        x
    }
}

/// Layer normalisation over the last dimension (`torch.nn.LayerNorm`); keys `weight`, `bias`.
#[derive(Debug)]
pub struct LayerNorm {
    /// Scale, initialised to ones: (hidden,).
    pub weight: Tensor,
    /// Shift, initialised to zeros: (hidden,).
    pub bias: Tensor,
    eps: f64,
    size: i64,
}

impl LayerNorm {
    /// Registers `weight` (ones) and `bias` (zeros) under `p`.
    pub fn new(p: nn::Path, size: i64, eps: f64) -> Result<Self> {
        let weight = p.f_ones("weight", &[size])?;
        let bias = p.f_zeros("bias", &[size])?;
        Ok(LayerNorm { weight, bias, eps, size })
    }

    /// Normalises `x` (…, hidden).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm([self.size], Some(&self.weight), Some(&self.bias), self.eps, true)
    }
}

/// A lookup table (`torch.nn.Embedding`); key `weight`, initialised normal(0, std) with the
/// padding row at zero, as Hugging Face initialises it.
#[derive(Debug)]
pub struct Embedding {
    /// The table: (num_embeddings, dim).
    pub weight: Tensor,
    padding_idx: Option<i64>,
}

impl Embedding {
    /// Registers `weight` under `p`.
    pub fn new(p: nn::Path, num: i64, dim: i64, std: f64, padding_idx: Option<i64>) -> Result<Self> {
        let weight = p.f_var("weight", &[num, dim], nn::Init::Randn { mean: 0.0, stdev: std })?;
        let padding_idx = padding_idx.filter(|&i| (0..num).contains(&i));
        if let Some(i) = padding_idx {
            let _ = tch::no_grad(|| weight.get(i).fill_(0.0));
        }
        Ok(Embedding { weight, padding_idx })
    }

    /// Looks up `ids` (…) → (…, dim). The padding row gets no gradient, as in PyTorch.
    pub fn forward(&self, ids: &Tensor) -> Tensor {
        Tensor::embedding(&self.weight, ids, self.padding_idx.unwrap_or(-1), false, false)
    }
}

/// Turns a padding mask (batch, seq) of 1 = token / 0 = padding into the boolean mask
/// (batch, 1, 1, seq) that scaled-dot-product attention takes, or `None` when nothing is
/// padded so that attention runs its fastest kernel (as Hugging Face's `create_bidirectional_mask`).
pub fn padding_mask(attention_mask: Option<&Tensor>) -> Option<Tensor> {
    let mask = attention_mask?;
    let keep = mask.ne(0);
    if bool::try_from(keep.all()).unwrap_or(false) {
        return None;
    }
    let seq = keep.size().last().copied().unwrap_or(1).max(1);
    // (batch, 1, 1, seq): broadcast over heads and queries.
    Some(keep.reshape([-1, 1, 1, seq]))
}

/// The real tokens of a padded batch, for running a model on them alone: position-wise layers
/// (linear maps, feed-forward, LayerNorm) take the packed rows (tokens, hidden), and only
/// attention, where tokens meet, sees them padded again. Outputs at the real tokens are those of
/// the padded computation; the padding's share of the work is never done.
#[derive(Debug)]
pub struct Packing {
    /// (tokens,): each real token's index in the flattened (batch · seq) grid.
    index: Tensor,
    batch: i64,
    seq: i64,
}

impl Packing {
    /// Packing is worth its two copies per attention only when at least this share of a batch
    /// is padding.
    pub const MIN_PADDING: f64 = 0.15;

    /// The real tokens of `attention_mask` (batch, seq) of 1 / 0, or `None` when padding is
    /// under [`Packing::MIN_PADDING`] of the batch.
    pub fn of(attention_mask: Option<&Tensor>) -> Option<Packing> {
        let mask = attention_mask?;
        let (batch, seq) = mask.size2().ok()?;
        let keep = mask.ne(0).reshape([-1]);
        let tokens = i64::try_from(keep.sum(Kind::Int64)).ok()?;
        if (tokens as f64) > (1.0 - Self::MIN_PADDING) * (batch * seq) as f64 {
            return None;
        }
        Some(Packing { index: keep.nonzero().squeeze_dim(1), batch, seq })
    }

    /// Every position of a (batch, seq) grid, nothing to skip: `pack` and `unpack` only reshape.
    pub fn dense(batch: i64, seq: i64, device: Device) -> Packing {
        Packing { index: Tensor::arange(batch * seq, (Kind::Int64, device)), batch, seq }
    }

    /// (batch, seq, …) → (tokens, …): the rows of the real tokens.
    pub fn pack(&self, x: &Tensor) -> Tensor {
        let mut shape = x.size();
        let rest = shape.split_off(2);
        x.reshape([[self.batch * self.seq].as_slice(), &rest].concat()).index_select(0, &self.index)
    }

    /// (tokens, …) → (batch, seq, …), zeros at the padding.
    pub fn unpack(&self, x: &Tensor) -> Tensor {
        let mut shape = x.size();
        let rest = shape.split_off(1);
        let grid = Tensor::zeros([[self.batch * self.seq].as_slice(), &rest].concat(), (x.kind(), x.device()));
        grid.index_copy(0, &self.index, x).reshape([[self.batch, self.seq].as_slice(), &rest].concat())
    }

    /// (batch,): the packed row of each sequence's first position, which must be a real token.
    pub fn first_rows(&self, attention_mask: &Tensor) -> Tensor {
        let counts = attention_mask.ne(0).sum_dim_intlist(1, false, Kind::Int64);
        counts.cumsum(0, Kind::Int64) - counts
    }
}

/// The number of leading positions that hold a token in at least one row of `attention_mask`
/// (batch, seq): positions after it are padding everywhere and change no other position's output.
pub(crate) fn used_length(attention_mask: &Tensor) -> i64 {
    let seq = attention_mask.size().last().copied().unwrap_or(0);
    // (seq,): 1-based index where some row has a token, else 0.
    let used = Tensor::ne(attention_mask, 0).any_dim(0, false).to_kind(Kind::Int64)
        * Tensor::arange_start(1, seq + 1, (Kind::Int64, attention_mask.device()));
    i64::try_from(used.max()).unwrap_or(seq)
}

/// Softmax(q·kᵀ·scale + mask)·v with libtorch's fused kernel.
/// `q`: (batch, heads, q_len, head_dim); `k`, `v`: (batch, heads, k_len, head_dim);
/// `mask`: boolean, broadcastable to (batch, heads, q_len, k_len), true where attention is allowed.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, dropout: f64, causal: bool, scale: f64) -> Tensor {
    // Inside `with_attentions` the probabilities are computed explicitly and recorded.
    if let Some(out) = super::attention_probs::recorded(q, k, v, mask, dropout, causal, scale) {
        return out;
    }
    Tensor::scaled_dot_product_attention(q, k, v, mask, dropout, causal, Some(scale), false)
}

/// (batch, seq, heads·head_dim) → (batch, heads, seq, head_dim).
pub(crate) fn split_heads(x: &Tensor, heads: i64) -> Tensor {
    let (b, s, h) = x.size3().unwrap_or((0, 0, 0));
    x.view([b, s, heads, h / heads]).transpose(1, 2)
}

/// (batch, heads, seq, head_dim) → (batch, seq, heads·head_dim).
pub(crate) fn merge_heads(x: &Tensor) -> Tensor {
    let (b, h, s, d) = x.size4().unwrap_or((0, 0, 0, 0));
    x.transpose(1, 2).reshape([b, s, h * d])
}

/// Mean of the token vectors of each sequence, ignoring padding, as sentence-transformers
/// pools all-MiniLM-L6-v2: `hidden` (batch, seq, dim), `attention_mask` (batch, seq) → (batch, dim).
pub fn mean_pooling(hidden: &Tensor, attention_mask: &Tensor) -> Tensor {
    // (batch, seq, 1)
    let weights = attention_mask.unsqueeze(-1).to_kind(hidden.kind());
    let summed = (hidden * &weights).sum_dim_intlist(1, false, hidden.kind());
    let counts = weights.sum_dim_intlist(1, false, hidden.kind()).clamp_min(1e-9);
    summed / counts
}

/// Cosine similarity of the rows of `a` and `b` (both (n, dim)) → (n,).
pub fn cosine_similarity(a: &Tensor, b: &Tensor) -> Tensor {
    Tensor::cosine_similarity(a, b, -1, 1e-8)
}

/// The kind of floating-point tensor a var store holds (f32 when it holds none).
pub(crate) fn float_kind(vs: &nn::VarStore) -> Kind {
    vs.variables().values().find(|t| t.is_floating_point()).map_or(Kind::Float, |t| t.kind())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn padding_mask_is_none_without_padding() {
        let full = Tensor::ones([2, 3], (Kind::Int64, Device::Cpu));
        assert!(padding_mask(Some(&full)).is_none());
        let padded = Tensor::from_slice(&[1i64, 1, 0, 1, 1, 1]).view([2, 3]);
        let m = padding_mask(Some(&padded)).unwrap();
        assert_eq!(m.size(), [2, 1, 1, 3]);
        assert!(!bool::try_from(m.get(0).get(0).get(0).get(2)).unwrap());
    }

    #[test]
    fn mean_pooling_ignores_padding() {
        let h = Tensor::from_slice(&[1f32, 3., 100.]).view([1, 3, 1]);
        let m = Tensor::from_slice(&[1i64, 1, 0]).view([1, 3]);
        assert_eq!(f64::try_from(mean_pooling(&h, &m).sum(Kind::Float)).unwrap(), 2.0);
    }
}
