//! The [`Trainer`]: a model that computes its own loss ([`Objective`]), a collator, and the
//! settings of a run, after Hugging Face's `Trainer` / `TrainingArguments` (same defaults:
//! AdamW lr 5e-5, betas 0.9/0.999, eps 1e-8, no weight decay, linear decay, no warmup,
//! batch 8, 3 epochs). The training loop itself is in `fit.rs`.
//!
//! ```no_run
//! use tuna::prelude::*;
//! let tok = Tokenizer::from_file(data_dir().join("all-MiniLM-L6-v2"))?.max_length(64);
//! let [train, valid] = tweets()?.subsample(3_000, 0)?.split([0.8, 0.2], 0)?;
//! let (train, valid) = (tok.tokenize(&train)?, tok.tokenize(&valid)?);
//! let model = BertForSequenceClassification::pretrained(data_dir().join("all-MiniLM-L6-v2")).num_labels(3).load()?;
//! let mut trainer = Trainer::new(model, Classification::new(&tok))
//!     .epochs(3).batch_size(32).lr(5e-5).weight_decay(0.01).warmup_ratio(0.1).max_grad_norm(1.0);
//! let run = trainer.fit(&train, Some(&valid))?;   // the stop button ends it; fit again continues
//! run.plot_loss()
//! # ; Ok::<(), tuna::Error>(())
//! ```

use super::history::{History, StepRecord};
use super::metrics::Evaluation;
use super::objective::Objective;
use super::optim::{Optimizer, OptimizerState};
use super::schedule::{Schedule, Warmup};
use super::stopping::{BestMetric, EarlyStopping};
use std::path::PathBuf;
use tch::Tensor;

/// Called after every optimizer step with its record.
pub type StepCallback = Box<dyn FnMut(&StepRecord)>;

/// The settings of a run, one field per builder method of [`Trainer`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set (default 3); `max_steps` overrides it.
    pub epochs: usize,
    /// Rows per micro-batch (default 8).
    pub batch_size: usize,
    /// Peak learning rate (default 5e-5).
    pub lr: f64,
    /// Decoupled weight decay for every variable but biases and LayerNorm weights (default 0).
    pub weight_decay: f64,
    /// Linear warmup from 0 (default none).
    pub warmup: Warmup,
    /// Shape of the learning rate after warmup (default linear decay to 0).
    pub schedule: Schedule,
    /// Gradients are scaled to this norm when above it; 0 turns clipping off (default 1.0).
    pub max_grad_norm: f64,
    /// Micro-batches whose gradients add up to one optimizer step (default 1).
    pub grad_accumulation: usize,
    /// Optimizer steps of the run, overriding `epochs` (default none).
    pub max_steps: Option<usize>,
    /// Evaluate every this many optimizer steps; None: at the end of each epoch (default).
    pub eval_every: Option<usize>,
    /// Seeds the batch order, the collator's masking and dropout (default 42, as HF).
    pub seed: u64,
    /// Update rule (default AdamW).
    pub optimizer: Optimizer,
    /// Weight of each class in the cross-entropy (default none: all 1).
    pub class_weights: Option<Vec<f64>>,
    /// The metric for early stopping and keep-best (default `loss`, lower is better).
    pub best_metric: BestMetric,
    /// Stop after evaluations without improvement (default off).
    pub early_stopping: Option<EarlyStopping>,
    /// At the end, put back the weights of the best evaluation (default off).
    pub keep_best: bool,
    /// Draw the loss curve under the cell while training, in the notebook (default on).
    pub live_plot: bool,
    /// Write a checkpoint every this many optimizer steps into `output_dir` (default never).
    pub save_every: Option<usize>,
    /// Where checkpoints go (`<output_dir>/checkpoint-<step>/`; default `checkpoints`).
    pub output_dir: PathBuf,
    /// Keep only the newest this many checkpoints, plus the best (default all).
    pub keep_last: Option<usize>,
    /// bf16 mixed precision: forward passes under bf16 autocast on the CPU or CUDA, master
    /// weights, gradients and optimizer state in f32 (default off).
    pub bf16: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 3,
            batch_size: 8,
            lr: 5e-5,
            weight_decay: 0.0,
            warmup: Warmup::Steps(0),
            schedule: Schedule::Linear,
            max_grad_norm: 1.0,
            grad_accumulation: 1,
            max_steps: None,
            eval_every: None,
            seed: 42,
            optimizer: Optimizer::adamw(),
            class_weights: None,
            best_metric: BestMetric::default(),
            early_stopping: None,
            keep_best: false,
            live_plot: true,
            save_every: None,
            output_dir: PathBuf::from("checkpoints"),
            keep_last: None,
            bf16: false,
        }
    }
}

/// Where a run stands between calls to `fit`.
pub(crate) struct TrainState {
    pub optimizer: OptimizerState,
    /// Optimizer steps done.
    pub step: usize,
    /// Planned optimizer steps (fixed when the run starts).
    pub total: usize,
    /// Warmup steps (fixed when the run starts).
    pub warmup: usize,
    /// Epoch in progress, and the index of its next micro-batch (always a step boundary).
    pub epoch: usize,
    pub batch: usize,
    /// An evaluation is owed (it was interrupted, or the step that called for it just ended).
    pub eval_due: bool,
    pub history: History,
    pub last_eval: Option<Evaluation>,
    pub best: Option<(usize, f64)>,
    pub best_weights: Option<Vec<(String, Tensor)>>,
    pub evals_without_improvement: usize,
    pub early_stopped: bool,
    /// Time the training loop waited for the loader (batches not ready yet), all calls to `fit`.
    pub data_wait: std::time::Duration,
}

/// Trains a model on its objective; holds the model, the optimizer state and the history
/// between calls to [`Trainer::fit`], so a run that the user stopped continues where it was.
pub struct Trainer<M: Objective, C> {
    pub(crate) model: M,
    pub(crate) collate: C,
    pub(crate) config: TrainConfig,
    pub(crate) state: Option<TrainState>,
    pub(crate) on_step: Option<StepCallback>,
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty => $field:ident $(= $wrap:expr)?) => {
        $(#[$doc])*
        pub fn $name(mut self, $name: $ty) -> Self {
            self.config.$field = setter!(@value $name $(, $wrap)?);
            self
        }
    };
    (@value $v:ident) => { $v };
    (@value $v:ident, $wrap:expr) => { $wrap($v) };
}

impl<M: Objective, C> Trainer<M, C> {
    /// A trainer for `model` with batches made by `collate`, Hugging Face's default settings.
    pub fn new(model: M, collate: C) -> Self {
        crate::device::keep_freed_memory();
        Trainer { model, collate, config: TrainConfig::default(), state: None, on_step: None }
    }

    setter!(/// Passes over the training set.
        epochs: usize => epochs);
    setter!(/// Rows per micro-batch.
        batch_size: usize => batch_size);
    setter!(/// Peak learning rate.
        lr: f64 => lr);
    setter!(/// Decoupled weight decay (biases and LayerNorm weights excluded).
        weight_decay: f64 => weight_decay);
    setter!(/// Warmup as a fraction of the optimizer steps.
        warmup_ratio: f64 => warmup = Warmup::Ratio);
    setter!(/// Warmup in optimizer steps.
        warmup_steps: usize => warmup = Warmup::Steps);
    setter!(/// Learning-rate shape after warmup.
        schedule: Schedule => schedule);
    setter!(/// Clip gradients to this total norm (0: no clipping).
        max_grad_norm: f64 => max_grad_norm);
    setter!(/// Micro-batches per optimizer step.
        grad_accumulation: usize => grad_accumulation);
    setter!(/// Optimizer steps in all, instead of epochs.
        max_steps: usize => max_steps = Some);
    setter!(/// Evaluate every `n` optimizer steps instead of each epoch.
        eval_every: usize => eval_every = Some);
    setter!(/// Seed of batch order, masking and dropout.
        seed: u64 => seed);
    setter!(/// The update rule: `Optimizer::adamw()` or `Optimizer::sgd(momentum)`.
        optimizer: Optimizer => optimizer);
    setter!(/// One weight per class in the cross-entropy, e.g. `train.class_weights()`.
        class_weights: Vec<f64> => class_weights = Some);
    setter!(/// Keep the weights of the best evaluation and restore them at the end.
        keep_best: bool => keep_best);
    setter!(/// Draw the live loss curve in the notebook.
        live_plot: bool => live_plot);
    setter!(/// Write a checkpoint every `n` optimizer steps (see `output_dir`).
        save_every: usize => save_every = Some);
    setter!(/// Keep only the newest `n` checkpoints (and the best).
        keep_last: usize => keep_last = Some);
    setter!(/// bf16 mixed precision (autocast on the CPU or CUDA; master weights stay f32). Fast on
        /// GPUs and on CPUs with bf16 units (see [`cpu_has_bf16`](super::cpu_has_bf16)).
        bf16: bool => bf16);

    /// The folder checkpoints are written to (default `checkpoints`).
    pub fn output_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.output_dir = dir.into();
        self
    }

    /// The metric that early stopping and keep-best watch (default `loss`); the direction is
    /// guessed from the name (lower for `loss` and `perplexity`), see [`Trainer::greater_is_better`].
    pub fn best_metric(mut self, name: impl Into<String>) -> Self {
        self.config.best_metric = BestMetric::new(name);
        self
    }

    /// Whether a larger value of the best metric is better.
    pub fn greater_is_better(mut self, greater: bool) -> Self {
        self.config.best_metric.greater_is_better = greater;
        self
    }

    /// Stops after `patience` evaluations in a row that do not beat the best by more than
    /// `threshold`.
    pub fn early_stopping(mut self, patience: usize, threshold: f64) -> Self {
        self.config.early_stopping = Some(EarlyStopping { patience: patience.max(1), threshold });
        self
    }

    /// Calls `f` after every optimizer step with its record (logging, custom stopping:
    /// `interrupt::request()` inside it ends the run at the next step).
    pub fn on_step(mut self, f: impl FnMut(&StepRecord) + 'static) -> Self {
        self.on_step = Some(Box::new(f));
        self
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The model being trained.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, mutable (changing its trainable variables after `fit` started is not seen by
    /// the optimizer).
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }

    /// The model, ending the trainer.
    pub fn into_model(self) -> M {
        self.model
    }

    /// Every record so far (empty before the first `fit`).
    pub fn history(&self) -> History {
        self.state.as_ref().map(|s| s.history.clone()).unwrap_or_default()
    }

    /// Time the training loop spent waiting for batches that the loader had not made yet.
    pub fn data_wait(&self) -> std::time::Duration {
        self.state.as_ref().map_or(std::time::Duration::ZERO, |s| s.data_wait)
    }

    /// Optimizer steps done.
    pub fn step(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.step)
    }

    /// Names of the trainable variables that get weight decay, and of those that do not.
    pub fn decay_groups(&self) -> (Vec<String>, Vec<String>) {
        match &self.state {
            Some(s) => s.optimizer.groups(),
            None => OptimizerState::new(self.config.optimizer, self.model.var_store()).groups(),
        }
    }
}
