//! Owen values over a balanced binary tree of contiguous features (Owen, 1977; shap's
//! `PartitionExplainer.owen` with `fixed_context=None`), for long inputs such as texts and
//! images. A tree node is explained in a context (the coalition outside it): splitting it into
//! left and right children costs two evaluations, and each child is then explained both with
//! and without its sibling, at half the weight. Nodes are expanded largest |Δ| · weight first
//! until `max_evals` is spent; an unexpanded node's Δ · weight is shared evenly by its
//! features. Every split keeps the total, so Σφ = f(x) − f(∅) exactly; fully expanded, the
//! values are the Owen values (Shapley values for additive models), at ~M² evaluations.

use super::game::{evaluate, Explainer};
use super::values::ShapValues;
use crate::Result;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Partition (hierarchical) SHAP with a budget of model evaluations.
///
/// ```no_run
/// use tuna::prelude::*;
/// # fn f(masker: &TokenMasker, model: impl FnMut(&Tensor) -> Tensor) -> tuna::Result<()> {
/// let shap = PartitionShap::new().max_evals(500).explain_masked(masker, model)?;
/// show(&shap);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PartitionShap {
    max_evals: usize,
    batch: usize,
}

impl Default for PartitionShap {
    fn default() -> Self {
        PartitionShap { max_evals: 500, batch: 64 }
    }
}

/// A node of the tree, features lo..hi, to be explained in the context `off`.
struct Task {
    priority: f64,
    order: usize,
    lo: usize,
    hi: usize,
    off: Vec<bool>,
    f_off: f64,
    f_on: f64,
    weight: f64,
}

impl PartialEq for Task {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Task {}

impl PartialOrd for Task {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Task {
    // Largest priority first; among equals the earliest queued, so runs are deterministic.
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority.total_cmp(&other.priority).then(other.order.cmp(&self.order))
    }
}

impl PartitionShap {
    /// Partition SHAP with 500 evaluations, 64 coalitions per call.
    pub fn new() -> Self {
        Self::default()
    }

    /// The most coalitions to evaluate, f(x) and f(∅) included (shap's `max_evals`).
    pub fn max_evals(mut self, evaluations: usize) -> Self {
        self.max_evals = evaluations;
        self
    }

    /// Coalitions per call of the value function (default 64).
    pub fn batch(mut self, coalitions: usize) -> Self {
        self.batch = coalitions.max(2);
        self
    }
}

impl Explainer for PartitionShap {
    /// Owen values of the game with `features` players whose coalition values `value` gives.
    fn explain(&self, features: usize, mut value: impl FnMut(&[Vec<bool>]) -> Result<Vec<f64>>) -> Result<ShapValues> {
        let m = features;
        let ends = evaluate(&mut value, &[vec![false; m], vec![true; m]], self.batch)?;
        let (base, output) = (ends[0], ends[1]);
        let mut phi = vec![0.0; m];
        let mut evaluations = 2;
        let mut queue = BinaryHeap::new();
        let mut order = 0;
        let mut push = |queue: &mut BinaryHeap<Task>, lo, hi, off, f_off: f64, f_on: f64, weight: f64| {
            queue.push(Task { priority: (f_on - f_off).abs() * weight, order, lo, hi, off, f_off, f_on, weight });
            order += 1;
        };
        if m > 0 {
            push(&mut queue, 0, m, vec![false; m], base, output, 1.0);
        }
        while let Some(task) = queue.pop() {
            // Leaves, and every node once the budget is spent, keep their share.
            if task.hi - task.lo == 1 || evaluations + 2 > self.max_evals {
                let share = (task.f_on - task.f_off) * task.weight / (task.hi - task.lo) as f64;
                phi[task.lo..task.hi].iter_mut().for_each(|p| *p += share);
                continue;
            }
            // Split up to `batch / 2` nodes per call, within the budget.
            let room = ((self.max_evals - evaluations) / 2).min(self.batch / 2).max(1);
            let mut tasks = vec![task];
            while tasks.len() < room && queue.peek().is_some_and(|t| t.hi - t.lo > 1) {
                tasks.extend(queue.pop());
            }
            let mut masks = Vec::with_capacity(2 * tasks.len());
            for t in &tasks {
                let mid = (t.lo + t.hi) / 2;
                let (mut left_on, mut right_on) = (t.off.clone(), t.off.clone());
                left_on[t.lo..mid].iter_mut().for_each(|b| *b = true);
                right_on[mid..t.hi].iter_mut().for_each(|b| *b = true);
                masks.push(left_on);
                masks.push(right_on);
            }
            let values = evaluate(&mut value, &masks, self.batch)?;
            evaluations += masks.len();
            let mut masks = masks.into_iter();
            for (t, pair) in tasks.into_iter().zip(values.chunks(2)) {
                let (left_on, right_on) = (masks.next().unwrap_or_default(), masks.next().unwrap_or_default());
                let (f_left, f_right) = (pair[0], pair[1]);
                let mid = (t.lo + t.hi) / 2;
                let half = t.weight / 2.0;
                // Each child without its sibling (context `off`) and with it.
                push(&mut queue, t.lo, mid, t.off.clone(), t.f_off, f_left, half);
                push(&mut queue, mid, t.hi, t.off, t.f_off, f_right, half);
                push(&mut queue, t.lo, mid, right_on, f_right, t.f_on, half);
                push(&mut queue, mid, t.hi, left_on, f_left, t.f_on, half);
            }
        }
        Ok(ShapValues::new(phi, base, output, evaluations, "partition"))
    }
}
