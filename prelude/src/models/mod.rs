//! Transformers on libtorch that read and write Hugging Face checkpoints: BERT (masked LM,
//! sequence and token classification), GPT-2 (with generation) and ViT (image classification).
//!
//! Variable names equal the checkpoint keys, so loading needs no renaming table; every linear
//! layer is one [`Linear`] with a slot for adapters, reachable by name through
//! [`PretrainedModel::linears_mut`].
//!
//! ```no_run
//! use tuna::prelude::*;
//! let model = BertForSequenceClassification::pretrained("models/all-MiniLM-L6-v2").num_labels(3).load()?;
//! let names: Vec<String> = model.linears().into_iter().map(|(name, _)| name).collect();
//! model.summary()
//! # ; Ok::<(), tuna::Error>(())
//! ```

pub mod attention_probs;
pub mod bert;
pub mod checkpoint;
pub mod config;
pub mod generate;
pub mod gpt2;
pub mod layers;
pub mod linear;
pub mod pipeline;
pub mod prefix;
pub mod pretrained;
pub mod summary;
pub mod vit;

pub use attention_probs::with_attentions;
pub use bert::{BertBody, BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification, BertModel};
pub use checkpoint::{Checkpoint, LoadReport};
pub use config::{BertConfig, GPT2Config, Labels, ModelConfig, ViTConfig};
pub use generate::Generation;
pub use gpt2::{GPT2Body, GPT2LMHeadModel, GPT2Model, KvCache};
pub use layers::{cosine_similarity, mean_pooling, Activation, Embedding, LayerNorm};
pub use linear::{Linear, LinearAdapter};
pub use pipeline::FillMask;
pub use prefix::KvPrefix;
pub use pretrained::{FromPretrained, ModelState, PretrainedModel};
pub use summary::ModelSummary;
pub use vit::{ViTBody, ViTForImageClassification, ViTModel};
