//! Learning-rate schedules with warmup, after `transformers/optimization.py`
//! (`get_linear_schedule_with_warmup`, `get_cosine_schedule_with_warmup`,
//! `get_constant_schedule_with_warmup`). The factor for optimizer step `k` (0-based) multiplies
//! the peak learning rate; as in Hugging Face, the first step of a warmup runs at factor 0.

use serde::{Deserialize, Serialize};

/// How the learning rate moves after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Schedule {
    /// Linear decay from the peak to 0 at the last step (Hugging Face's default).
    #[default]
    Linear,
    /// Half a cosine from the peak to 0 at the last step.
    Cosine,
    /// The peak, held.
    Constant,
}

impl Schedule {
    /// The factor of the peak learning rate at optimizer step `step` (0-based) of `total`, after
    /// `warmup` steps of linear warmup from 0.
    pub fn factor(self, step: usize, warmup: usize, total: usize) -> f64 {
        if step < warmup {
            return step as f64 / warmup.max(1) as f64;
        }
        match self {
            Schedule::Constant => 1.0,
            Schedule::Linear => {
                let left = total.saturating_sub(step) as f64;
                (left / total.saturating_sub(warmup).max(1) as f64).max(0.0)
            }
            Schedule::Cosine => {
                let progress = (step - warmup) as f64 / total.saturating_sub(warmup).max(1) as f64;
                (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
            }
        }
    }
}

/// Warmup length given as steps or as a fraction of the training steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Warmup {
    /// A number of optimizer steps.
    Steps(usize),
    /// A fraction of the total optimizer steps, rounded up (as `TrainingArguments.warmup_ratio`).
    Ratio(f64),
}

impl Warmup {
    /// Warmup steps for a run of `total` optimizer steps.
    pub fn steps(self, total: usize) -> usize {
        match self {
            Warmup::Steps(n) => n,
            Warmup::Ratio(r) => (r.clamp(0.0, 1.0) * total as f64).ceil() as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn linear_matches_hugging_face() {
        // get_linear_schedule_with_warmup(opt, 2, 10): lambdas at steps 0..=10.
        let want = [0.0, 0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0];
        for (k, w) in want.iter().enumerate() {
            assert!(close(Schedule::Linear.factor(k, 2, 10), *w), "step {k}");
        }
    }

    #[test]
    fn cosine_matches_hugging_face() {
        // get_cosine_schedule_with_warmup(opt, 2, 10): half way through decay is 0.5.
        assert!(close(Schedule::Cosine.factor(1, 2, 10), 0.5));
        assert!(close(Schedule::Cosine.factor(2, 2, 10), 1.0));
        assert!(close(Schedule::Cosine.factor(6, 2, 10), 0.5));
        assert!(close(Schedule::Cosine.factor(10, 2, 10), 0.0));
        assert!(close(Schedule::Cosine.factor(4, 2, 10), 0.5 * (1.0 + (std::f64::consts::PI / 4.0).cos())));
    }

    #[test]
    fn constant_and_no_warmup() {
        assert!(close(Schedule::Constant.factor(0, 4, 10), 0.0));
        assert!(close(Schedule::Constant.factor(2, 4, 10), 0.5));
        assert!(close(Schedule::Constant.factor(9, 4, 10), 1.0));
        assert!(close(Schedule::Linear.factor(0, 0, 4), 1.0));
        assert!(close(Schedule::Linear.factor(3, 0, 4), 0.25));
    }

    #[test]
    fn warmup_ratio_rounds_up() {
        assert_eq!(Warmup::Ratio(0.1).steps(95), 10);
        assert_eq!(Warmup::Steps(7).steps(95), 7);
    }
}
