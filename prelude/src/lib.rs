//! tuna's prelude: what a Rust notebook running on the tuna kernel imports with
//! `use tuna::prelude::*;` (the kernel does it for you).
//!
//! One concern per module: `display` (rich output and in-place updates), `interrupt` (the stop
//! button), `progress` (loops that show progress and stop cleanly), `device` (CPU / CUDA),
//! `input` (reading from the notebook user), `plot` (charts), `explain` (attention maps,
//! attributions, saliency), `models` (transformers on
//! libtorch), `text` (tokenizers), `data` (datasets, collators, loaders), `train` (the trainer, objectives, metrics).

pub mod ablation;
pub mod data;
pub mod device;
pub mod dist;
pub mod display;
pub mod error;
pub mod explain;
pub mod input;
pub mod interrupt;
pub mod kernel;
pub mod models;
pub mod plot;
pub mod progress;
pub mod text;
pub mod tune;
pub mod train;
pub mod tutorial;

pub use error::{Error, Result};

/// Everything a notebook needs in scope.
pub mod prelude {
    pub use crate::ablation::{Auto, AutoResult, Scores, Sweep, SweepResults, Trial};
    pub use crate::device::*;
    pub use crate::display::*;
    pub use crate::error::{Error, Result};
    pub use crate::input::*;
    pub use crate::interrupt;
    #[doc(hidden)]
    pub use crate::interrupt::{__TunaCheckedLoop, __TunaCleanLoop};
    pub use crate::models::{
        cosine_similarity, mean_pooling, BertConfig, FillMask, BertForMaskedLM, BertForSequenceClassification,
        BertForTokenClassification, BertModel, GPT2Config, GPT2LMHeadModel, GPT2Model, Generation, Linear,
        LinearAdapter, LoadReport, with_attentions, ModelConfig, ModelSummary, PretrainedModel, ViTConfig,
        ViTForImageClassification, ViTModel,
    };
    pub use crate::explain::*;
    pub use crate::plot::*;
    pub use crate::progress::*;
    pub use crate::tutorial::quick;
    pub use crate::data::*;
    pub use crate::text::*;
    pub use crate::tune::{
        AdapterActivation, AdapterConfig, AdapterKind, Freeze, Ia3Config, LoraBias, LoraConfig, LoraInit, PrefixTuningConfig, PromptInit, PromptTuningConfig, Strategy, Targets, Tune, Tuned,
    };
    pub use crate::train::{
        roc_auc, roc_curve, Evaluation, History, Objective, Optimizer, RocPoint, Run, Schedule, Stop, Trainer, ViTForSimCLR,
        ViTMAEConfig, ViTMAEForPreTraining,
    };
    pub use tch::{self, Device, Kind, Tensor};
}
