//! Metrics that need each row's class scores, not only its predicted class: top-k accuracy,
//! the ROC curve and the area under it (binary, and one-vs-rest macro for several classes),
//! defined as scikit-learn's `top_k_accuracy_score`, `roc_curve` (with its default
//! `drop_intermediate=True`) and `roc_auc_score(multi_class="ovr", average="macro")`.
//!
//! ```no_run
//! use tuna::train::{roc_auc, roc_curve};
//! let scores = [0.1, 0.4, 0.35, 0.8];
//! let labels = [0, 0, 1, 1];
//! let curve = roc_curve(&scores, &labels, 1); // (fpr, tpr, threshold) points, from (0, 0)
//! assert_eq!(roc_auc(&scores, &labels, 1), Some(0.75));
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

/// One point of a ROC curve: predicting positive when the score is at least `threshold`
/// gives this false-positive and true-positive rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// False-positive rate (1 − specificity).
    pub fpr: f64,
    /// True-positive rate (sensitivity, recall).
    pub tpr: f64,
    /// Score threshold; the first point's is +∞ (nothing predicted positive), as scikit-learn.
    pub threshold: f64,
}

/// The ROC curve of `scores` (higher: more likely positive) against `labels`, where the class
/// `positive` is the positive one: points from (0, 0) to (1, 1) by decreasing threshold,
/// collinear points dropped (scikit-learn's `roc_curve`). Empty when `labels` lacks either
/// positives or negatives (the rates are undefined), or when the lengths differ.
pub fn roc_curve(scores: &[f64], labels: &[i64], positive: i64) -> Vec<RocPoint> {
    if scores.len() != labels.len() || scores.iter().any(|s| s.is_nan()) {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    // Cumulative counts at the last row of each run of equal scores (the distinct thresholds).
    let (mut tps, mut fps, mut thresholds) = (Vec::new(), Vec::new(), Vec::new());
    let (mut tp, mut fp) = (0.0, 0.0);
    for (i, &row) in order.iter().enumerate() {
        if labels[row] == positive {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_run = order.get(i + 1).is_none_or(|&next| scores[next] != scores[row]);
        if last_of_run {
            tps.push(tp);
            fps.push(fp);
            thresholds.push(scores[row]);
        }
    }
    if tp == 0.0 || fp == 0.0 {
        return Vec::new();
    }
    // Keep the ends and every point where the curve bends (second difference non-zero), then
    // start from (0, 0) at threshold +∞: scikit-learn's order of the two steps.
    let n = tps.len();
    let bends = (0..n).filter(|&i| {
        i == 0 || i == n - 1 || tps[i - 1] - 2.0 * tps[i] + tps[i + 1] != 0.0 || fps[i - 1] - 2.0 * fps[i] + fps[i + 1] != 0.0
    });
    std::iter::once(RocPoint { fpr: 0.0, tpr: 0.0, threshold: f64::INFINITY })
        .chain(bends.map(|i| RocPoint { fpr: fps[i] / fp, tpr: tps[i] / tp, threshold: thresholds[i] }))
        .collect()
}

/// Area under a curve by the trapezoid rule.
fn area(points: &[RocPoint]) -> f64 {
    points.windows(2).map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0).sum()
}

/// The area under the ROC curve of `scores` for class `positive` (scikit-learn's binary
/// `roc_auc_score`); None when `labels` has only one of the two kinds.
pub fn roc_auc(scores: &[f64], labels: &[i64], positive: i64) -> Option<f64> {
    let curve = roc_curve(scores, labels, positive);
    (!curve.is_empty()).then(|| area(&curve))
}

/// Fraction of rows whose target is among the `k` highest of its `scores` row
/// (scikit-learn's `top_k_accuracy_score`).
pub fn top_k_accuracy(scores: &[Vec<f64>], targets: &[i64], k: usize) -> f64 {
    if targets.is_empty() {
        return 0.0;
    }
    let right = scores
        .iter()
        .zip(targets)
        .filter(|(row, &t)| {
            let Some(&own) = usize::try_from(t).ok().and_then(|t| row.get(t)) else { return false };
            // Rank of the target: how many classes score strictly higher.
            row.iter().filter(|&&s| s > own).count() < k
        })
        .count();
    right as f64 / targets.len() as f64
}

/// Class probabilities of every row an evaluation scored, with its target: what ROC curves
/// and top-k accuracy are computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scored {
    /// Softmax probabilities, one row per target, one column per class.
    pub probabilities: Vec<Vec<f64>>,
    /// The target class of each row.
    pub targets: Vec<i64>,
}

impl Scored {
    /// Appends a batch: `logits` (rows, classes) and `targets` (rows,).
    pub fn push(&mut self, logits: &Tensor, targets: &Tensor) -> crate::Result<()> {
        let classes = logits.size().last().copied().unwrap_or(0);
        let p = logits.f_to_kind(Kind::Double)?.f_softmax(-1, Kind::Double)?.f_to_device(Device::Cpu)?.f_reshape([-1])?;
        let flat = Vec::<f64>::try_from(&p)?;
        if classes > 0 {
            self.probabilities.extend(flat.chunks(classes as usize).map(<[f64]>::to_vec));
        }
        self.targets.extend(Vec::<i64>::try_from(targets.f_to_kind(Kind::Int64)?.f_to_device(Device::Cpu)?.f_reshape([-1])?)?);
        Ok(())
    }

    /// Number of classes (columns).
    pub fn classes(&self) -> usize {
        self.probabilities.first().map_or(0, Vec::len)
    }

    /// The probability of class `class` for each row.
    pub fn column(&self, class: usize) -> Vec<f64> {
        self.probabilities.iter().map(|r| r.get(class).copied().unwrap_or(f64::NAN)).collect()
    }

    /// Fraction of rows whose target is among the `k` most probable classes.
    pub fn top_k_accuracy(&self, k: usize) -> f64 {
        top_k_accuracy(&self.probabilities, &self.targets, k)
    }

    /// The ROC curve of class `positive` against the rest (empty when it is absent, or alone).
    pub fn roc_curve(&self, positive: usize) -> Vec<RocPoint> {
        roc_curve(&self.column(positive), &self.targets, positive as i64)
    }

    /// ROC-AUC: for two classes, of class 1's probability; for more, the mean over classes of
    /// each class against the rest (one-vs-rest, macro), over the classes that occur and do
    /// not make up every row. None when no class qualifies.
    pub fn roc_auc(&self) -> Option<f64> {
        match self.classes() {
            0 | 1 => None,
            2 => roc_auc(&self.column(1), &self.targets, 1),
            n => {
                let per_class: Vec<f64> = (0..n).filter_map(|c| roc_auc(&self.column(c), &self.targets, c as i64)).collect();
                (!per_class.is_empty()).then(|| per_class.iter().sum::<f64>() / per_class.len() as f64)
            }
        }
    }

    /// Named values: `roc_auc`, and `top3_accuracy` / `top5_accuracy` when there are more
    /// classes than k.
    pub fn values(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        if let Some(auc) = self.roc_auc() {
            out.insert("roc_auc".into(), auc);
        }
        for k in [3, 5] {
            if self.classes() > k {
                out.insert(format!("top{k}_accuracy"), self.top_k_accuracy(k));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_one_sided_inputs_have_no_curve() {
        assert!(roc_curve(&[], &[], 1).is_empty());
        assert!(roc_curve(&[0.2, 0.3], &[1, 1], 1).is_empty());
        assert_eq!(roc_auc(&[0.2, 0.3], &[0, 0], 1), None);
        assert!(roc_curve(&[0.2], &[0, 1], 1).is_empty(), "lengths differ");
    }

    #[test]
    fn perfect_and_reversed_scores() {
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &[0, 0, 1, 1], 1), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &[0, 0, 1, 1], 1), Some(0.0));
        // All tied: the diagonal.
        assert_eq!(roc_auc(&[0.5; 4], &[0, 1, 0, 1], 1), Some(0.5));
    }

    #[test]
    fn top_k_counts_rank() {
        let s = vec![vec![0.5, 0.3, 0.2], vec![0.1, 0.2, 0.7]];
        assert_eq!(top_k_accuracy(&s, &[1, 0], 1), 0.0);
        assert_eq!(top_k_accuracy(&s, &[1, 0], 2), 0.5);
        assert_eq!(top_k_accuracy(&s, &[1, 0], 3), 1.0);
    }
}
