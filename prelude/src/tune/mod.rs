//! Fine-tuning strategies, one value each so an ablation can loop over them: full fine-tuning,
//! freezing, BitFit, LoRA (and DoRA), (IA)³, bottleneck adapters, prompt and prefix tuning ([`Strategy`]), applied with `model.tune(&strategy)` to any BERT,
//! GPT-2 or ViT model; LoRA adapters saved and loaded in PEFT 0.21's files. Mirrors PEFT
//! (`peft/peft_model.py`, `peft/tuners/lora/`).
//!
//! ```no_run
//! use tuna::prelude::*;
//! let model = BertForSequenceClassification::pretrained("models/minilm").num_labels(3).load()?;
//! let lora = LoraConfig::rank(8).alpha(16.0).targets(["query", "value"]).modules_to_save(["classifier"]);
//! let model = model.tune(&Strategy::Lora(lora))?;
//! model.save_adapter("runs/lora")?;   // PeftModel.from_pretrained(base, "runs/lora") in Python
//! model                               // the summary, with PEFT's trainable-parameter line
//! # ; Ok::<(), tuna::Error>(())
//! ```

pub mod bottleneck;
pub mod files;
pub mod ia3;
pub mod lora;
pub mod prompt;
pub mod prompt_files;
pub mod select;
pub mod strategy;
pub mod tuned;
mod merge;

pub use bottleneck::{AdapterActivation, AdapterConfig, AdapterKind};
pub use ia3::Ia3Config;
pub use lora::{LoraBias, LoraConfig, LoraInit};
pub use prompt::{PrefixTuningConfig, PromptInit, PromptTuningConfig};
pub use select::{layer_index, Targets};
pub use strategy::{Freeze, Strategy, Tune};
pub use tuned::Tuned;
