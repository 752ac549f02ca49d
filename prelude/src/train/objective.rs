//! What a model is trained to do: each task model computes its loss from a batch, and the
//! predictions the metrics need.
//!
//! - Sequence classification: cross-entropy over the class logits, with optional class weights.
//! - Masked LM: the encoder runs on every position, but the vocabulary projection (the head's
//!   transform and the decoder, the largest matmul of a small BERT) only on the positions whose
//!   label is not -100 (~15 %); Hugging Face projects every position.
//! - Causal LM: the hidden state at position t predicts token t+1; again only positions with a
//!   label reach `lm_head`.
//! - Image classification (ViT): cross-entropy over the class logits of `pixel_values`.
//!
//! The self-supervised vision objectives, SimCLR and MAE, are in `objective_simclr.rs` and
//! `objective_mae.rs`.

use crate::data::Batch;
use crate::models::{
    BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification, GPT2LMHeadModel, PretrainedModel,
    ViTForImageClassification,
};
use crate::{Error, Result};
use tch::{Kind, Reduction, Tensor};

/// Label value that takes no part in the loss (PyTorch's `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// Options the trainer passes to every loss.
#[derive(Debug, Default)]
pub struct LossOptions {
    /// Weight of each class in the cross-entropy (length = number of classes).
    pub class_weights: Option<Tensor>,
}

/// The loss of one batch and what the metrics need.
#[derive(Debug)]
pub struct StepOutput {
    /// The mean loss (a scalar with a graph when training).
    pub loss: Tensor,
    /// Predicted class of each scored target, flattened (None when the task has no classes).
    pub predictions: Option<Tensor>,
    /// The targets those predictions are scored against.
    pub targets: Option<Tensor>,
    /// Class logits of each scored target (targets, classes), for ROC-AUC and top-k accuracy;
    /// None when the task has no classes to rank.
    pub scores: Option<Tensor>,
    /// Number of targets the loss averages over (rows, or labelled tokens).
    pub count: i64,
}

/// A model that can be trained by [`Trainer`](super::Trainer): it computes its own loss.
pub trait Objective: PretrainedModel {
    /// Name shown in displays ("sequence classification", "masked LM", …).
    const TASK: &'static str;
    /// Whether evaluation reports class metrics (accuracy, precision, recall, F1).
    const CLASSIFIES: bool;
    /// Whether evaluation reports `perplexity` = exp(loss): language models (default: those
    /// that do not classify).
    const PERPLEXITY: bool = !Self::CLASSIFIES;
    /// The loss and predictions of `batch` (its `labels` tensor holds the targets).
    fn compute(&self, batch: &Batch, options: &LossOptions) -> Result<StepOutput>;
}

fn optional<'a>(batch: &'a Batch, name: &str) -> Option<&'a Tensor> {
    if batch.contains(name) {
        batch.get(name).ok()
    } else {
        None
    }
}

fn cross_entropy(logits: &Tensor, targets: &Tensor, weights: Option<&Tensor>) -> Result<Tensor> {
    Ok(logits.f_cross_entropy_loss(targets, weights, Reduction::Mean, IGNORE_INDEX, 0.0)?)
}

/// Keeps the rows of `hidden` (…, hidden) whose label in `labels` is not -100, flattened:
/// (labelled, hidden) and (labelled,).
fn labelled_positions(hidden: &Tensor, labels: &Tensor) -> Result<(Tensor, Tensor)> {
    let width = hidden.size().last().copied().unwrap_or(0);
    let flat_labels = labels.f_reshape([-1])?;
    let keep = flat_labels.f_ne(IGNORE_INDEX)?.f_nonzero()?.f_squeeze_dim(1)?;
    let flat_hidden = hidden.f_reshape([-1, width])?;
    Ok((flat_hidden.f_index_select(0, &keep)?, flat_labels.f_index_select(0, &keep)?))
}

/// A zero loss still connected to the graph, for a batch with nothing to predict.
fn zero_loss(like: &Tensor) -> Tensor {
    like.sum(Kind::Float) * 0.0
}

/// Cross-entropy of one row of class `logits` (rows, classes) per label, checking that the
/// class weights fit the head.
pub(crate) fn classify(logits: Tensor, labels: &Tensor, options: &LossOptions) -> Result<StepOutput> {
    let classes = logits.size().last().copied().unwrap_or(0);
    if let Some(w) = &options.class_weights {
        if w.size() != [classes] {
            return Err(Error::config(
                "class_weights",
                format!("{} weights for a head of {classes} classes: pass one weight per class", w.numel()),
            ));
        }
    }
    let loss = cross_entropy(&logits, labels, options.class_weights.as_ref())?;
    let predictions = Some(logits.argmax(-1, false));
    Ok(StepOutput { loss, predictions, targets: Some(labels.shallow_clone()), scores: Some(logits), count: labels.size()[0] })
}

/// Projects the hidden states of the labelled positions only (`project`: hidden → logits) and
/// scores them.
fn project_labelled(hidden: &Tensor, labels: &Tensor, options: &LossOptions, project: impl Fn(&Tensor) -> Tensor) -> Result<StepOutput> {
    let (scored, targets) = labelled_positions(hidden, labels)?;
    let count = targets.size()[0];
    if count == 0 {
        return Ok(StepOutput { loss: zero_loss(hidden), predictions: None, targets: None, scores: None, count });
    }
    let logits = project(&scored);
    let loss = cross_entropy(&logits, &targets, options.class_weights.as_ref())?;
    Ok(StepOutput { loss, predictions: Some(logits.argmax(-1, false)), targets: Some(targets), scores: None, count })
}

impl Objective for BertForSequenceClassification {
    const TASK: &'static str = "sequence classification";
    const CLASSIFIES: bool = true;

    fn compute(&self, batch: &Batch, options: &LossOptions) -> Result<StepOutput> {
        let logits = self.forward(batch.get("input_ids")?, optional(batch, "attention_mask"), optional(batch, "token_type_ids"));
        classify(logits, batch.get("labels")?, options)
    }
}

impl Objective for BertForTokenClassification {
    const TASK: &'static str = "token classification";
    const CLASSIFIES: bool = true;

    fn compute(&self, batch: &Batch, options: &LossOptions) -> Result<StepOutput> {
        let labels = batch.get("labels")?;
        let logits = self.forward(batch.get("input_ids")?, optional(batch, "attention_mask"), optional(batch, "token_type_ids"));
        let (scored, targets) = labelled_positions(&logits, labels)?;
        let count = targets.size()[0];
        let loss = if count == 0 { zero_loss(&logits) } else { cross_entropy(&scored, &targets, options.class_weights.as_ref())? };
        Ok(StepOutput { loss, predictions: Some(scored.argmax(-1, false)), targets: Some(targets), scores: Some(scored), count })
    }
}

impl Objective for BertForMaskedLM {
    const TASK: &'static str = "masked LM";
    const CLASSIFIES: bool = false;

    fn compute(&self, batch: &Batch, options: &LossOptions) -> Result<StepOutput> {
        let labels = batch.get("labels")?;
        let (ids, mask, types) = (batch.get("input_ids")?, optional(batch, "attention_mask"), optional(batch, "token_type_ids"));
        // Packed real tokens when the batch holds enough padding, unless a label sits on
        // padding (no collator puts one there; Hugging Face predicts there all the same).
        let labels_on_padding = mask.is_some_and(|m| labels.ne(-100).logical_and(&m.eq(0)).any().int64_value(&[]) != 0);
        let (hidden, packing) = if labels_on_padding {
            (self.bert.forward(ids, mask, types, self.is_training()), None)
        } else {
            self.bert.forward_packed(ids, mask, types, self.is_training())
        };
        let labels = packing.as_ref().map_or_else(|| labels.shallow_clone(), |p| p.pack(labels));
        // → (masked, hidden): the vocabulary projection runs on these only.
        project_labelled(&hidden, &labels, options, |h| self.predict(h))
    }
}

impl Objective for GPT2LMHeadModel {
    const TASK: &'static str = "causal LM";
    const CLASSIFIES: bool = false;

    fn compute(&self, batch: &Batch, options: &LossOptions) -> Result<StepOutput> {
        let labels = batch.get("labels")?;
        let hidden = self.transformer.forward(batch.get("input_ids")?, optional(batch, "attention_mask"), None, self.is_training());
        let seq = hidden.size()[1];
        if seq < 2 {
            return Ok(StepOutput { loss: zero_loss(&hidden), predictions: None, targets: None, scores: None, count: 0 });
        }
        // Position t predicts token t + 1: (batch, seq-1, hidden) against labels shifted left.
        project_labelled(&hidden.narrow(1, 0, seq - 1), &labels.narrow(1, 1, seq - 1), options, |h| self.lm_head.forward(h))
    }
}

impl Objective for ViTForImageClassification {
    const TASK: &'static str = "image classification";
    const CLASSIFIES: bool = true;

    fn compute(&self, batch: &Batch, options: &LossOptions) -> Result<StepOutput> {
        classify(self.forward(batch.get("pixel_values")?), batch.get("labels")?, options)
    }
}
