//! Why a model said what it said: attention maps of every layer × head for a sentence
//! (`transformers`' `output_attentions`, drawn as bertviz draws them), token attributions by
//! integrated gradients (Sundararajan et al., 2017, "Axiomatic Attribution for Deep Networks",
//! as Captum's `LayerIntegratedGradients` on the word embeddings), and image saliency maps
//! (Simonyan et al., 2013, vanilla gradients; integrated gradients on pixels); SHAP values
//! (exact, KernelSHAP, partition) for any model through maskers of rows, tokens and image patches.
//!
//! ```no_run
//! use tuna::prelude::*;
//! # fn f(model: &BertForSequenceClassification, tok: &Tokenizer) -> tuna::Result<()> {
//! show(&bert_attentions(&model.bert, tok, "what a lovely day")?);
//! show(&bert_integrated_gradients(model, tok, "what a lovely day", None, 50, Baseline::Pad)?);
//! # Ok(()) }
//! ```

mod attention;
mod integrated;
mod saliency;
mod shap;

pub use attention::{bert_attentions, gpt2_attentions, Attentions};
pub use integrated::{bert_integrated_gradients, integrated_gradients, Baseline, TokenAttributions};
pub use saliency::{image_integrated_gradients, vanilla_gradient};
pub use shap::{masked, ExactShap, Explainer, ImageFill, ImageMasker, KernelShap, Masker, PartitionShap, ShapValues, TabularMasker, TokenFill, TokenMasker};
