//! Attention probabilities on request (Hugging Face's `output_attentions=True`): fused
//! scaled-dot-product attention does not return its weights, so while a closure runs inside
//! [`with_attentions`] every attention layer computes softmax(q·kᵀ·scale + mask) explicitly
//! (as `transformers`' eager attention does), records it, and multiplies it with v. Outside such
//! a closure the fused path runs untouched; the only cost is one thread-local flag read.

use std::cell::{Cell, RefCell};
use tch::{Kind, Tensor};

thread_local! {
    static RECORDING: Cell<bool> = const { Cell::new(false) };
    static RECORDED: RefCell<Vec<Tensor>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` and returns its value with the attention probabilities of every attention layer it
/// ran, in order, each (batch, heads, queries, keys). Rows of padding queries are still
/// distributions; keys that are padding get weight 0.
///
/// ```no_run
/// use tuna::prelude::*;
/// # fn f(model: &BertModel, ids: &Tensor) {
/// let (hidden, attentions) = with_attentions(|| tch::no_grad(|| model.forward(ids, None, None)));
/// assert_eq!(attentions.len(), 6); // one per layer of MiniLM-L6
/// # }
/// ```
pub fn with_attentions<T>(f: impl FnOnce() -> T) -> (T, Vec<Tensor>) {
    let was = RECORDING.with(|r| r.replace(true));
    let outer = RECORDED.with(|r| std::mem::take(&mut *r.borrow_mut()));
    // Restores the outer state even if `f` panics, so the flag never stays on.
    struct Restore(bool, Option<Vec<Tensor>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            RECORDING.with(|r| r.set(self.0));
            if let Some(outer) = self.1.take() {
                RECORDED.with(|r| *r.borrow_mut() = outer);
            }
        }
    }
    let mut restore = Restore(was, Some(outer));
    let value = f();
    let mine = RECORDED.with(|r| std::mem::take(&mut *r.borrow_mut()));
    if let Some(outer) = restore.1.as_mut() {
        // A recording around this one also sees these layers.
        outer.extend(mine.iter().map(Tensor::shallow_clone));
    }
    drop(restore);
    (value, mine)
}

/// Whether a [`with_attentions`] closure is running on this thread.
pub(crate) fn recording() -> bool {
    RECORDING.with(Cell::get)
}

/// Called by [`super::layers::attention`]: `None` when not recording (take the fused path),
/// else the attention output computed from explicit probabilities, which are recorded.
pub(crate) fn recorded(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, dropout: f64, causal: bool, scale: f64) -> Option<Tensor> {
    if !RECORDING.with(Cell::get) {
        return None;
    }
    let probs = probabilities(q, k, mask, causal, scale);
    let out = if dropout > 0.0 { probs.dropout(dropout, true) } else { probs.shallow_clone() }.matmul(v);
    RECORDED.with(|r| r.borrow_mut().push(probs));
    Some(out)
}

/// softmax(q·kᵀ·scale + mask) in float32 or wider; `mask` boolean, true = may attend; `causal`
/// lets query i see keys 0..=i (top-left aligned, as SDPA's `is_causal`). Masked scores get the
/// smallest finite value rather than −∞, as `transformers` does, so no row becomes NaN.
pub fn probabilities(q: &Tensor, k: &Tensor, mask: Option<&Tensor>, causal: bool, scale: f64) -> Tensor {
    let kind = if q.kind() == Kind::Double { Kind::Double } else { Kind::Float };
    let scores = q.to_kind(kind).matmul(&k.to_kind(kind).transpose(-2, -1)) * scale;
    let (lq, lk) = (q.size()[q.dim() - 2], k.size()[k.dim() - 2]);
    let lowest = if kind == Kind::Double { f64::MIN } else { f32::MIN as f64 };
    let mut scores = scores;
    if causal {
        let allowed = Tensor::ones([lq, lk], (Kind::Bool, q.device())).tril(0);
        scores = scores.masked_fill(&allowed.logical_not(), lowest);
    }
    if let Some(m) = mask {
        scores = scores.masked_fill(&m.logical_not(), lowest);
    }
    scores.softmax(-1, kind).to_kind(q.kind())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn explicit_attention_equals_the_fused_kernel() {
        tch::manual_seed(0);
        let opts = (Kind::Double, Device::Cpu);
        let (q, k, v) = (Tensor::randn([2, 3, 5, 4], opts), Tensor::randn([2, 3, 5, 4], opts), Tensor::randn([2, 3, 5, 4], opts));
        let mask = Tensor::from_slice(&[true, true, true, false, false, true, true, true, true, true]).view([2, 1, 1, 5]);
        for (m, causal) in [(Some(&mask), false), (None, true), (None, false)] {
            let fused = super::super::layers::attention(&q, &k, &v, m, 0.0, causal, 0.5);
            let (explicit, probs) = with_attentions(|| super::super::layers::attention(&q, &k, &v, m, 0.0, causal, 0.5));
            assert!(fused.allclose(&explicit, 1e-10, 1e-10, false), "causal {causal}");
            assert_eq!(probs.len(), 1);
            assert_eq!(probs[0].size(), [2, 3, 5, 5]);
            let row_sums = probs[0].sum_dim_intlist(-1, false, Kind::Double);
            assert!(row_sums.allclose(&row_sums.ones_like(), 1e-12, 1e-12, false));
        }
        // Nothing is recorded outside the closure, and nesting records in both.
        let _ = super::super::layers::attention(&q, &k, &v, None, 0.0, false, 0.5);
        let ((_, inner), outer) = with_attentions(|| with_attentions(|| super::super::layers::attention(&q, &k, &v, None, 0.0, false, 0.5)));
        assert_eq!((inner.len(), outer.len()), (1, 1));
        assert!(!RECORDING.with(Cell::get));
    }
}
