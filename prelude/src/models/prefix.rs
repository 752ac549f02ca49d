//! The hook for prefix tuning (Li & Liang, 2021; `peft/tuners/prefix_tuning`): extra key and
//! value vectors that every attention layer prepends to its own, so that each token can attend
//! to them. Attention layers hold an `Option<KvPrefix>`, `None` unless a tuning method sets it;
//! this file only joins a prefix to keys, values and mask.

use tch::{Kind, Tensor};

/// Key and value vectors prepended in one attention layer.
#[derive(Debug)]
pub struct KvPrefix {
    /// Keys: (heads, n_prefix, head_dim), shared by the batch, or (batch, heads, n_prefix, head_dim).
    pub key: Tensor,
    /// Values, with the shape of `key`.
    pub value: Tensor,
}

impl KvPrefix {
    /// Number of prefix positions.
    pub fn len(&self) -> i64 {
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
    // (batch, heads, n_prefix, head_dim)
    let pk = p.key.to_kind(k.kind()).expand([b, h, n, d], false);
    let pv = p.value.to_kind(v.kind()).expand([b, h, n, d], false);
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
        let prefix = KvPrefix { key: Tensor::randn([2, 1, 4], opts), value: Tensor::randn([2, 1, 4], opts) };
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
