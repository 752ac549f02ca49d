//! Training: a [`Trainer`] that runs a model's objective (sequence / token / image
//! classification, masked LM, causal LM, SimCLR, MAE) with AdamW or SGD, warmup and decay schedules, gradient clipping and
//! accumulation, evaluation with class metrics, early stopping and keep-best, a live loss curve
//! and the stop button; a run stopped by the user continues on the next `fit`, and a
//! checkpoint written by `save_checkpoint` (or `save_every`) resumes bit-exactly.

mod checkpoint;
mod fit;
mod history;
mod metrics;
mod metrics_scores;
mod objective;
mod objective_mae;
mod objective_simclr;
mod optim;
mod precision;
mod schedule;
mod stopping;
mod trainer;

pub use history::{EvalRecord, History, Run, StepRecord, Stop};
pub use metrics::{ClassMetrics, ClassScores, Evaluation};
pub use metrics_scores::{roc_auc, roc_curve, top_k_accuracy, RocPoint, Scored};
pub use objective::{LossOptions, Objective, StepOutput, IGNORE_INDEX};
pub use objective_mae::{MaeOutput, ViTMAEConfig, ViTMAEDecoder, ViTMAEForPreTraining};
pub use objective_simclr::{nt_xent, ViTForSimCLR};
pub use optim::{decays, Optimizer};
pub use precision::{cpu_has_bf16, Autocast};
pub use schedule::{Schedule, Warmup};
pub use stopping::{BestMetric, EarlyStopping};
pub use trainer::{StepCallback, TrainConfig, Trainer};
