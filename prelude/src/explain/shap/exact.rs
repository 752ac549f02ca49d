//! Exact Shapley values (Shapley, 1953): φᵢ = Σ_{S ⊆ N∖{i}} |S|!(M−|S|−1)!/M! · (v(S ∪ {i}) − v(S)),
//! from the values of all 2^M coalitions (shap's `ExactExplainer` without its Gray-code
//! ordering). Efficiency, symmetry, dummy and additivity hold exactly.

use super::game::{evaluate, Explainer};
use super::values::ShapValues;
use crate::{Error, Result};

/// Exact Shapley values over every coalition: 2^M model evaluations, so M ≤ 14.
///
/// ```no_run
/// use tuna::prelude::*;
/// # fn f() -> tuna::Result<()> {
/// // v(S) = x0·x1 + x2 with x = (1, 2, 3) and a zero baseline.
/// let x = [1.0, 2.0, 3.0];
/// let shap = ExactShap::new().explain(3, |masks| {
///     Ok(masks.iter().map(|m| {
///         let xi = |i: usize| if m[i] { x[i] } else { 0.0 };
///         xi(0) * xi(1) + xi(2)
///     }).collect())
/// })?;
/// assert!((shap.values[0] - 1.0).abs() < 1e-12);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ExactShap {
    batch: usize,
}

impl Default for ExactShap {
    fn default() -> Self {
        ExactShap { batch: 256 }
    }
}

impl ExactShap {
    /// The largest number of features: 2^14 = 16,384 coalitions.
    pub const MAX_FEATURES: usize = 14;

    /// Exact Shapley values, 256 coalitions per model call.
    pub fn new() -> Self {
        Self::default()
    }

    /// Coalitions per call of the value function (default 256).
    pub fn batch(mut self, coalitions: usize) -> Self {
        self.batch = coalitions.max(1);
        self
    }
}

/// C(n, k) as f64 (exact for the sizes used here).
pub(crate) fn binomial(n: usize, k: usize) -> f64 {
    (0..k.min(n - k.min(n))).fold(1.0, |acc, j| acc * (n - j) as f64 / (j + 1) as f64)
}

impl Explainer for ExactShap {
    /// Shapley values of the game with `features` players whose coalition values `value` gives.
    fn explain(&self, features: usize, mut value: impl FnMut(&[Vec<bool>]) -> Result<Vec<f64>>) -> Result<ShapValues> {
        let m = features;
        if m > Self::MAX_FEATURES {
            return Err(Error::config(
                "features",
                format!("exact Shapley values need all 2^M coalitions: {m} features would take {} evaluations, and the limit is {} features; use KernelShap (sampled) or PartitionShap", 1u64 << m.min(63), Self::MAX_FEATURES),
            ));
        }
        let total = 1usize << m;
        // Coalition `bits` keeps feature i when bit i is set.
        let mut v = Vec::with_capacity(total);
        for start in (0..total).step_by(self.batch.max(1) * 16) {
            let masks: Vec<Vec<bool>> = (start..(start + self.batch * 16).min(total)).map(|bits| (0..m).map(|i| bits >> i & 1 == 1).collect()).collect();
            v.extend(evaluate(&mut value, &masks, self.batch)?);
        }
        // weight[s] = s!(M−s−1)!/M! = 1 / (M · C(M−1, s)).
        let weight: Vec<f64> = (0..m).map(|s| 1.0 / (m as f64 * binomial(m - 1, s))).collect();
        let mut phi = vec![0.0; m];
        for (bits, &v_s) in v.iter().enumerate() {
            let size = bits.count_ones() as usize;
            for (i, p) in phi.iter_mut().enumerate() {
                if bits >> i & 1 == 0 {
                    *p += weight[size] * (v[bits | 1 << i] - v_s);
                }
            }
        }
        Ok(ShapValues::new(phi, v[0], v[total - 1], total, "exact"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomials() {
        assert_eq!(binomial(5, 2), 10.0);
        assert_eq!(binomial(7, 0), 1.0);
        assert_eq!(binomial(7, 7), 1.0);
        assert_eq!(binomial(10, 3), 120.0);
    }

    #[test]
    fn too_many_features_is_a_clear_error() {
        let err = ExactShap::new().explain(20, |m| Ok(vec![0.0; m.len()])).unwrap_err().to_string();
        assert!(err.contains("KernelShap") && err.contains("14"), "{err}");
    }
}
