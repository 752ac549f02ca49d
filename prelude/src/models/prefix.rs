//! The hooks for prompt and prefix tuning (Lester et al. 2021; Li & Liang, 2021;
//! `peft/tuners/{prompt_tuning,prefix_tuning}`): trained vectors that a text model prepends to its
//! input embeddings (a prompt), and extra key and value vectors that every attention layer
//! prepends to its own (a prefix), so that each token can attend to them. Attention layers hold an
//! `Option<KvPrefix>` and text bodies an `Option<Tensor>` prompt, `None` unless a tuning method
//! sets them; [`TuningHooks`] hands them to the method. This file only joins a prefix to keys,
//! values and mask, and computes a prefix from its trained table.

use std::sync::{Arc, Mutex};
use tch::{Kind, Tensor};

/// Key and value vectors prepended in one attention layer.
#[derive(Debug)]
pub struct KvPrefix {
    /// Keys: (heads, n_prefix, head_dim), shared by the batch, or (batch, heads, n_prefix, head_dim).
    pub key: Tensor,
    /// Values, with the shape of `key`.
    pub value: Tensor,
    /// When set, key and value are computed at each forward from this trained table (layer index
    /// given), so that training reaches the table; `key` and `value` are then unused.
    pub(crate) source: Option<(SharedPrefixTable, usize)>,
}

/// A prefix table shared by every layer of one model.
pub type SharedPrefixTable = Arc<Mutex<PrefixTable>>;

/// PEFT's `PrefixEncoder`: a table (n, layers·2·hidden) of keys and values, or, with the
/// reparameterisation (`prefix_projection`), a table (n, hidden) passed through
/// Linear(hidden, encoder_hidden) → tanh → Linear(encoder_hidden, layers·2·hidden).
#[derive(Debug)]
pub struct PrefixTable {
    /// The embedding: (n, layers·2·hidden), or (n, hidden) with a projection.
    pub embedding: Tensor,
    /// The projection's (w1 (enc, hidden), b1, w2 (layers·2·hidden, enc), b2), when used.
    pub projection: Option<[Tensor; 4]>,
    /// Attention heads per layer.
    pub heads: i64,
    /// Number of layers.
    pub layers: i64,
}

impl PrefixTable {
    /// The whole (n, layers·2·hidden) table: PEFT's `prompt_encoder(prompt_tokens)`.
    pub fn table(&self) -> Tensor {
        match &self.projection {
            None => self.embedding.shallow_clone(),
            Some([w1, b1, w2, b2]) => self.embedding.linear(w1, Some(b1)).tanh().linear(w2, Some(b2)),
        }
    }

    /// Keys and values of `layer`, each (heads, n, head_dim), as PEFT's `get_prompt` views
    /// them: (n, layers·2, heads, head_dim), key at 2·layer, value at 2·layer + 1.
    pub fn key_value(&self, layer: usize) -> (Tensor, Tensor) {
        let t = self.table();
        let n = t.size()[0];
        let t = t.view([n, self.layers * 2, self.heads, -1]);
        let pick = |i: i64| t.select(1, i).permute([1, 0, 2]);
        (pick(2 * layer as i64), pick(2 * layer as i64 + 1))
    }

    /// Number of prefix positions.
    pub fn len(&self) -> i64 {
        self.embedding.size()[0]
    }

    /// Whether the table has no positions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a tuning method reaches into a model: its prompt slot (text models), its attention
/// layers' prefix slots, and what it needs to initialise them.
#[derive(Default)]
pub struct TuningHooks<'a> {
    /// Virtual-token embeddings (n, hidden) prepended to the input embeddings; `None` for a
    /// model without token embeddings (ViT).
    pub prompt: Option<&'a mut Option<Tensor>>,
    /// One prefix slot per attention layer, in order.
    pub prefixes: Vec<&'a mut Option<KvPrefix>>,
    /// The word-embedding table (vocab, hidden), for a prompt initialised from tokens.
    pub word_embeddings: Option<Tensor>,
    /// Hidden width.
    pub hidden: i64,
    /// Attention heads per layer.
    pub heads: i64,
}

impl KvPrefix {
    /// A fixed prefix: keys and values (heads, n, head_dim).
    pub fn new(key: Tensor, value: Tensor) -> Self {
        KvPrefix { key, value, source: None }
    }

    /// Layer `layer`'s prefix, computed from `table` at each forward.
    pub fn from_table(table: SharedPrefixTable, layer: usize) -> Self {
        let empty = Tensor::zeros([0], (Kind::Float, tch::Device::Cpu));
        KvPrefix { key: empty.shallow_clone(), value: empty, source: Some((table, layer)) }
    }

    /// Keys and values (heads, n, head_dim) or (batch, heads, n, head_dim).
    pub fn key_value(&self) -> (Tensor, Tensor) {
        match &self.source {
            Some((table, layer)) => table.lock().unwrap_or_else(|p| p.into_inner()).key_value(*layer),
            None => (self.key.shallow_clone(), self.value.shallow_clone()),
        }
    }

    /// Number of prefix positions.
    pub fn len(&self) -> i64 {
        if let Some((table, _)) = &self.source {
            return table.lock().unwrap_or_else(|p| p.into_inner()).len();
        }
        self.key.size().get(self.key.dim().saturating_sub(2)).copied().unwrap_or(0)
    }

    /// Whether the prefix has no positions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Prepends `prefix` to `k`, `v` (batch, heads, seq, head_dim) and lets every query see it:
/// a boolean `mask` (…, q_len, k_len) grows by `n_prefix` allowed columns in front.
pub(crate) fn prepend(prefix: Option<&KvPrefix>, k: Tensor, v: Tensor, mask: Option<&Tensor>) -> (Tensor, Tensor, Option<Tensor>) {
    let Some(p) = prefix.filter(|p| !p.is_empty()) else {
        return (k, v, mask.map(Tensor::shallow_clone));
    };
    let (b, h, _, d) = k.size4().unwrap_or((0, 0, 0, 0));
    let n = p.len();
    let (key, value) = p.key_value();
    // (batch, heads, n_prefix, head_dim)
    let pk = key.to_kind(k.kind()).expand([b, h, n, d], false);
    let pv = value.to_kind(v.kind()).expand([b, h, n, d], false);
    let k = Tensor::cat(&[pk, k], 2);
    let v = Tensor::cat(&[pv, v], 2);
    let mask = mask.map(|m| {
        let mut size = m.size();
        if let Some(last) = size.last_mut() {
            *last = n;
        }
        let ones = Tensor::ones(size.as_slice(), (Kind::Bool, m.device()));
        Tensor::cat(&[ones, m.shallow_clone()], -1)
    });
    (k, v, mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::layers::attention;
    use tch::Device;

    /// Attending with a prefix equals attending over keys and values that start with it.
    #[test]
    fn prefix_joins_keys_values_and_mask() {
        let opts = (Kind::Float, Device::Cpu);
        let q = Tensor::randn([2, 2, 3, 4], opts);
        let k = Tensor::randn([2, 2, 3, 4], opts);
        let v = Tensor::randn([2, 2, 3, 4], opts);
        let prefix = KvPrefix::new(Tensor::randn([2, 1, 4], opts), Tensor::randn([2, 1, 4], opts));
        // Second sequence: its last key is padding.
        let mask = Tensor::from_slice(&[true, true, true, true, true, false]).view([2, 1, 1, 3]);
        let (k2, v2, m2) = prepend(Some(&prefix), k.shallow_clone(), v.shallow_clone(), Some(&mask));
        assert_eq!(k2.size(), [2, 2, 4, 4]);
        assert_eq!(m2.as_ref().unwrap().size(), [2, 1, 1, 4]);
        let got = attention(&q, &k2, &v2, m2.as_ref(), 0.0, false, 0.5);
        // By hand: softmax over [prefix, keys] with padding at -inf.
        let full_k = Tensor::cat(&[prefix.key.expand([2, 2, 1, 4], false), k], 2);
        let full_v = Tensor::cat(&[prefix.value.expand([2, 2, 1, 4], false), v], 2);
        let scores = q.matmul(&full_k.transpose(-1, -2)) * 0.5;
        let allowed = Tensor::from_slice(&[true, true, true, true, true, true, true, false]).view([2, 1, 1, 4]);
        let scores = scores.masked_fill(&allowed.logical_not(), f64::NEG_INFINITY);
        let want = scores.softmax(-1, Kind::Float).matmul(&full_v);
        assert!(f64::try_from((got - want).abs().max()).unwrap() < 1e-5);
    }
}
