//! KernelSHAP (Lundberg & Lee, 2017, §4.1), as shap's `KernelExplainer.explain`: coalition
//! sizes are enumerated whole, smallest and largest first, while the sample budget covers
//! their share of the Shapley kernel weight; the rest of the budget samples sizes in
//! proportion to that weight (each sample with its complement), repeated draws adding
//! weight. The values solve the Shapley-kernel weighted least squares with efficiency as a
//! constraint, eliminating the last feature as shap does, so Σφ = f(x) − f(∅) exactly.
//! With a budget of 2^M − 2 every coalition is enumerated and the values are exact.
//! shap's L1 feature selection (`l1_reg`) is not implemented: all features keep a value.

use super::exact::binomial;
use super::game::{evaluate, Explainer};
use super::values::ShapValues;
use crate::{Error, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use tch::{Kind, Tensor};

/// KernelSHAP with shap's sampling of coalitions.
///
/// ```no_run
/// use tuna::prelude::*;
/// # fn f(x: &Tensor, background: &Tensor, w: &Tensor) -> tuna::Result<()> {
/// let masker = TabularMasker::new(x, background)?;
/// let shap = KernelShap::new().samples(1000).seed(7).batch(128).explain_masked(&masker, |rows| rows.matmul(w))?;
/// assert!(shap.efficiency_gap().abs() < 1e-9);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct KernelShap {
    samples: Option<usize>,
    seed: u64,
    batch: usize,
}

impl Default for KernelShap {
    fn default() -> Self {
        KernelShap { samples: None, seed: 0, batch: 256 }
    }
}

impl KernelShap {
    /// KernelSHAP with shap's default budget (2M + 2048 coalitions), seed 0, 256 coalitions per call.
    pub fn new() -> Self {
        Self::default()
    }

    /// Coalitions to evaluate besides the empty and the full one (shap's `nsamples`); capped
    /// at 2^M − 2, which enumerates them all.
    pub fn samples(mut self, samples: usize) -> Self {
        self.samples = Some(samples);
        self
    }

    /// Seed of the coalition sampling.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Coalitions per call of the value function (default 256).
    pub fn batch(mut self, coalitions: usize) -> Self {
        self.batch = coalitions.max(1);
        self
    }

    /// The coalitions to evaluate and their kernel weights (shap's `addsample` calls).
    fn coalitions(&self, m: usize) -> (Vec<Vec<bool>>, Vec<f64>) {
        let mut samples = self.samples.unwrap_or(2 * m + 2048);
        if m <= 30 {
            samples = samples.min((1usize << m) - 2);
        }
        let sizes = m / 2; // ⌈(M−1)/2⌉
        let paired = (m - 1) / 2; // sizes s whose complement M − s is another size
        // Kernel weight of each size s = 1..=sizes, counting size M − s with s when paired.
        let mut weight: Vec<f64> = (1..=sizes).map(|s| (m as f64 - 1.0) / (s as f64 * (m - s) as f64)).collect();
        for w in weight.iter_mut().take(paired) {
            *w *= 2.0;
        }
        let total: f64 = weight.iter().sum();
        weight.iter_mut().for_each(|w| *w /= total);

        let (mut masks, mut kernel) = (Vec::new(), Vec::new());
        let mut full_sizes = 0;
        let mut left = samples as f64;
        let mut remaining = weight.clone();
        for s in 1..=sizes {
            let mut count = binomial(m, s);
            if s <= paired {
                count *= 2.0;
            }
            if left * remaining[s - 1] / count < 1.0 - 1e-8 {
                break;
            }
            full_sizes += 1;
            left -= count;
            if remaining[s - 1] < 1.0 {
                let rest = 1.0 - remaining[s - 1];
                remaining.iter_mut().for_each(|w| *w /= rest);
            }
            let w = weight[s - 1] / binomial(m, s) / if s <= paired { 2.0 } else { 1.0 };
            for subset in Combinations::new(m, s) {
                let mut mask = vec![false; m];
                subset.iter().for_each(|&i| mask[i] = true);
                let complement: Vec<bool> = mask.iter().map(|b| !b).collect();
                masks.push(mask);
                kernel.push(w);
                if s <= paired {
                    masks.push(complement);
                    kernel.push(w);
                }
            }
        }

        let fixed = masks.len();
        let mut samples_left = samples.saturating_sub(fixed);
        if full_sizes != sizes && samples_left > 0 {
            // Draw sizes in proportion to their weight, halved for paired sizes (two samples a draw).
            let mut draw: Vec<f64> = weight.iter().enumerate().map(|(i, w)| if i < paired { w / 2.0 } else { *w }).collect();
            draw.drain(..full_sizes);
            let total: f64 = draw.iter().sum();
            let mut rng = StdRng::seed_from_u64(self.seed);
            let mut seen: HashMap<Vec<bool>, usize> = HashMap::new();
            for _ in 0..4 * samples_left {
                if samples_left == 0 {
                    break;
                }
                let mut u = rng.random::<f64>() * total;
                let index = draw.iter().position(|&w| {
                    u -= w;
                    u < 0.0
                });
                let s = index.unwrap_or(draw.len() - 1) + full_sizes + 1;
                let mut mask = vec![false; m];
                rand::seq::index::sample(&mut rng, m, s).into_iter().for_each(|i| mask[i] = true);
                let at = match seen.get(&mask) {
                    Some(&at) => {
                        kernel[at] += 1.0;
                        None
                    }
                    None => {
                        seen.insert(mask.clone(), masks.len());
                        masks.push(mask.clone());
                        kernel.push(1.0);
                        samples_left -= 1;
                        Some(masks.len() - 1)
                    }
                };
                if samples_left > 0 && s <= paired {
                    match at {
                        Some(_) => {
                            masks.push(mask.iter().map(|b| !b).collect());
                            kernel.push(1.0);
                            samples_left -= 1;
                        }
                        // The complement was added right after the subset the first time.
                        None => {
                            let next = seen[&mask] + 1;
                            if masks.get(next).is_some_and(|c| c.iter().zip(&mask).all(|(a, b)| a != b)) {
                                kernel[next] += 1.0;
                            }
                        }
                    }
                }
            }
            // The sampled coalitions share the weight the enumerated sizes left over.
            let weight_left: f64 = weight[full_sizes..].iter().sum();
            let sampled: f64 = kernel[fixed..].iter().sum();
            kernel[fixed..].iter_mut().for_each(|k| *k *= weight_left / sampled);
        }
        (masks, kernel)
    }
}

/// The Shapley-kernel weighted least squares with Σφ = f(x) − f(∅) imposed by eliminating
/// the last feature: φ_last = Δ − Σ_{i<last} φᵢ (shap's `KernelExplainer.solve`).
fn solve(masks: &[Vec<bool>], weights: &[f64], v: &[f64], base: f64, output: f64) -> Result<Vec<f64>> {
    let m = masks.first().map_or(0, Vec::len);
    let delta = output - base;
    let n = masks.len() as i64;
    let z: Vec<f64> = masks.iter().flat_map(|mask| (0..m - 1).map(move |i| f64::from(u8::from(mask[i])) - f64::from(u8::from(mask[m - 1])))).collect();
    let y: Vec<f64> = masks.iter().zip(v).map(|(mask, &vs)| vs - base - f64::from(u8::from(mask[m - 1])) * delta).collect();
    // (n, M−1), (n,), (n,)
    let z = Tensor::from_slice(&z).view([n, m as i64 - 1]);
    let y = Tensor::from_slice(&y).view([n, 1]);
    let w = Tensor::from_slice(weights).view([n, 1]);
    let wz = &z * &w;
    let normal = z.tr().matmul(&wz);
    let rhs = wz.tr().matmul(&y);
    let coef = match Tensor::f_linalg_solve(&normal, &rhs, true) {
        Ok(c) => c,
        // Singular normal equations (too few distinct coalitions): the minimum-norm least
        // squares solution, as shap's fallback to `np.linalg.lstsq`.
        Err(_) => {
            let sw = w.sqrt();
            (&z * &sw).f_linalg_lstsq(&(&y * &sw), None, "gelsd").map_err(|e| Error::msg(format!("KernelSHAP regression failed: {e}")))?.0
        }
    };
    let mut phi: Vec<f64> = Vec::try_from(coef.to_kind(Kind::Double).reshape([-1]))?;
    phi.push(delta - phi.iter().sum::<f64>());
    Ok(phi)
}

/// The k-subsets of 0..n in lexicographic order (Python's `itertools.combinations`).
struct Combinations {
    n: usize,
    current: Option<Vec<usize>>,
}

impl Combinations {
    fn new(n: usize, k: usize) -> Self {
        Combinations { n, current: (k <= n).then(|| (0..k).collect()) }
    }
}

impl Iterator for Combinations {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        let out = self.current.clone()?;
        let k = out.len();
        let mut next = out.clone();
        // The rightmost index that can still move right.
        match (0..k).rev().find(|&i| next[i] < self.n - k + i) {
            Some(i) => {
                next[i] += 1;
                for j in i + 1..k {
                    next[j] = next[j - 1] + 1;
                }
                self.current = Some(next);
            }
            None => self.current = None,
        }
        Some(out)
    }
}

impl Explainer for KernelShap {
    /// SHAP values of the game with `features` players whose coalition values `value` gives.
    fn explain(&self, features: usize, mut value: impl FnMut(&[Vec<bool>]) -> Result<Vec<f64>>) -> Result<ShapValues> {
        let m = features;
        let ends = evaluate(&mut value, &[vec![false; m], vec![true; m]], self.batch)?;
        let (base, output) = (ends[0], ends[1]);
        if m <= 1 {
            return Ok(ShapValues::new(vec![output - base; m], base, output, 2, "kernel"));
        }
        let (masks, weights) = self.coalitions(m);
        let v = evaluate(&mut value, &masks, self.batch)?;
        let phi = solve(&masks, &weights, &v, base, output)?;
        Ok(ShapValues::new(phi, base, output, masks.len() + 2, "kernel"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_are_lexicographic() {
        let all: Vec<Vec<usize>> = Combinations::new(4, 2).collect();
        assert_eq!(all, vec![vec![0, 1], vec![0, 2], vec![0, 3], vec![1, 2], vec![1, 3], vec![2, 3]]);
        assert_eq!(Combinations::new(3, 0).count(), 1);
        assert_eq!(Combinations::new(10, 4).count(), 210);
    }

    #[test]
    fn a_full_budget_enumerates_every_coalition_once() {
        for m in 2..=9 {
            let (masks, weights) = KernelShap::new().samples(1 << 20).coalitions(m);
            assert_eq!(masks.len(), (1 << m) - 2, "M = {m}");
            let distinct: std::collections::HashSet<_> = masks.iter().collect();
            assert_eq!(distinct.len(), masks.len());
            assert!(weights.iter().all(|&w| w > 0.0));
        }
    }

    #[test]
    fn a_small_budget_samples_that_many_distinct_coalitions() {
        let (masks, weights) = KernelShap::new().samples(60).seed(3).coalitions(12);
        assert_eq!(masks.len(), 60);
        let distinct: std::collections::HashSet<_> = masks.iter().collect();
        assert_eq!(distinct.len(), 60);
        assert!(masks.iter().all(|m| m.iter().any(|&b| b) && m.iter().any(|&b| !b)));
        assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-9, "kernel weights sum to 1 as in shap");
    }
}
