//! Early stopping and keep-best, after Hugging Face's `EarlyStoppingCallback` and
//! `load_best_model_at_end`: an evaluation improves on the best so far when it is better by
//! more than `threshold`; after `patience` evaluations in a row without improvement, training
//! stops.

use serde::{Deserialize, Serialize};

/// Which metric counts and which way is better.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestMetric {
    /// An evaluation value: `loss`, `accuracy`, `f1_macro`, `perplexity`, …
    pub name: String,
    /// Whether larger is better (default: false for `loss` and `perplexity`, true otherwise).
    pub greater_is_better: bool,
}

impl BestMetric {
    /// `name`, with the direction guessed from it.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let greater_is_better = !(name.contains("loss") || name == "perplexity");
        BestMetric { name, greater_is_better }
    }

    /// Whether `value` beats `best` by more than `threshold`.
    pub fn improves(&self, value: f64, best: Option<f64>, threshold: f64) -> bool {
        match best {
            None => value.is_finite(),
            Some(b) if self.greater_is_better => value > b + threshold,
            Some(b) => value < b - threshold,
        }
    }
}

impl Default for BestMetric {
    fn default() -> Self {
        BestMetric::new("loss")
    }
}

/// Early stopping settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Evaluations in a row without improvement before stopping.
    pub patience: usize,
    /// How much better than the best a value must be to count as an improvement.
    pub threshold: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_follows_the_name() {
        let loss = BestMetric::new("loss");
        assert!(loss.improves(0.5, Some(0.6), 0.0));
        assert!(!loss.improves(0.59, Some(0.6), 0.05));
        let f1 = BestMetric::new("f1_macro");
        assert!(f1.improves(0.7, Some(0.6), 0.05));
        assert!(!f1.improves(0.6, Some(0.6), 0.0));
        assert!(f1.improves(0.1, None, 0.0));
    }
}
