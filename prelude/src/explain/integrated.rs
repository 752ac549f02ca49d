//! Integrated gradients (Sundararajan et al., 2017): the attribution of input feature i is
//! (xᵢ − x'ᵢ) · ∫₀¹ ∂f(x' + α(x − x'))/∂xᵢ dα, computed with the trapezoid rule over `steps`
//! intervals. Attributions add up to f(x) − f(x') (completeness) up to the quadrature error.
//! For text the inputs are the word embeddings, as Captum's `LayerIntegratedGradients` on
//! `embeddings.word_embeddings`; position and segment embeddings are left as they are.

use crate::display::{escape_html, MimeBundle, Render};
use crate::models::{BertForSequenceClassification, PretrainedModel};
use crate::text::Tokenizer;
use crate::{Error, Result};
use tch::{Kind, Tensor};

/// Integrated gradients of `f` at `input` from `baseline` (same shape, one example without a
/// batch dimension). `f` maps a batch of inputs (k, …) to one number each (k,), e.g. the
/// target class's logit. Evaluates f at `steps` + 1 points, `batch` at a time. Returns the
/// attributions (the shape of `input`), f(input) and f(baseline).
pub fn integrated_gradients(f: impl Fn(&Tensor) -> Tensor, input: &Tensor, baseline: &Tensor, steps: usize, batch: usize) -> Result<(Tensor, f64, f64)> {
    if input.size() != baseline.size() {
        return Err(Error::Shape { context: "integrated_gradients".into(), message: format!("input {:?} but baseline {:?}", input.size(), baseline.size()) });
    }
    let steps = steps.max(1);
    let (x, b) = (input.detach(), baseline.detach());
    let diff = &x - &b;
    let mut total = diff.zeros_like();
    let (mut f_x, mut f_b) = (f64::NAN, f64::NAN);
    let alphas: Vec<f64> = (0..=steps).map(|i| i as f64 / steps as f64).collect();
    for chunk in alphas.chunks(batch.max(1)) {
        let a = Tensor::from_slice(chunk).to_kind(x.kind()).to_device(x.device());
        let shape: Vec<i64> = std::iter::once(chunk.len() as i64).chain(std::iter::repeat_n(1, x.dim())).collect();
        let points = (b.unsqueeze(0) + a.view(shape.as_slice()) * diff.unsqueeze(0)).set_requires_grad(true);
        let out = f(&points);
        if out.size() != [chunk.len() as i64] {
            return Err(Error::Shape { context: "integrated_gradients".into(), message: format!("f must return one number per input, (k,); got {:?} for k = {}", out.size(), chunk.len()) });
        }
        let values: Vec<f64> = Vec::try_from(out.detach().to_kind(Kind::Double).to_device(tch::Device::Cpu))?;
        // Gradients with respect to the points only (torch.autograd.grad): parameters' .grad stay untouched.
        let grads = Tensor::f_run_backward(&[out.sum(out.kind())], &[&points], false, false)?;
        let grads = grads.into_iter().next().ok_or_else(|| Error::Message("no gradient".into()))?;
        // Trapezoid weights: ½ at both ends, 1 between.
        let w: Vec<f64> = chunk.iter().map(|&al| if al == 0.0 || al == 1.0 { 0.5 } else { 1.0 }).collect();
        let w = Tensor::from_slice(&w).to_kind(grads.kind()).to_device(grads.device()).view(shape.as_slice());
        total += (grads * w).sum_dim_intlist(0, false, x.kind());
        for (&al, &v) in chunk.iter().zip(&values) {
            if al == 0.0 {
                f_b = v;
            }
            if al == 1.0 {
                f_x = v;
            }
        }
    }
    Ok((diff * total / steps as f64, f_x, f_b))
}

/// What the text's tokens are replaced by at the start of the integration path. Special tokens
/// (`[CLS]`, `[SEP]`) stay as they are in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// The `[PAD]` token's embedding (Captum's BERT tutorial).
    Pad,
    /// Zero vectors.
    Zero,
}

/// Per-token attributions of one prediction.
#[derive(Debug, Clone)]
pub struct TokenAttributions {
    /// The tokens.
    pub tokens: Vec<String>,
    /// Attribution of each token: its embedding's attributions summed.
    pub scores: Vec<f64>,
    /// The class explained.
    pub target: i64,
    /// Its name, from the model's labels.
    pub label: String,
    /// The model's probability for it.
    pub probability: f64,
    /// f(input): the target logit.
    pub f_input: f64,
    /// f(baseline).
    pub f_baseline: f64,
    /// Integration steps.
    pub steps: usize,
}

impl TokenAttributions {
    /// Sum of attributions − (f(input) − f(baseline)): near 0 when enough steps were taken.
    pub fn completeness_gap(&self) -> f64 {
        self.scores.iter().sum::<f64>() - (self.f_input - self.f_baseline)
    }

    /// The tokens with their scores, most positive first.
    pub fn ranked(&self) -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = self.tokens.iter().cloned().zip(self.scores.iter().copied()).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }

    /// The tokens coloured by attribution (red for, blue against the class), as HTML.
    pub fn html(&self) -> String {
        let max = self.scores.iter().map(|s| s.abs()).fold(1e-12, f64::max);
        let spans: Vec<String> = self
            .tokens
            .iter()
            .zip(&self.scores)
            .map(|(t, &s)| {
                let (r, g, b) = crate::plot::diverging_color(s / max);
                format!(
                    "<span title=\"{s:+.4}\" style=\"background:rgb({r},{g},{b});padding:2px 3px;margin:1px;border-radius:3px;display:inline-block;font-family:monospace\">{}</span>",
                    escape_html(t)
                )
            })
            .collect();
        format!(
            "<div><div style=\"margin-bottom:4px\"><b>{}</b> (p = {:.3}) — integrated gradients, {} steps: Σ attributions = {:.4}, f(x) − f(baseline) = {:.4}</div><div style=\"line-height:2\">{}</div></div>",
            escape_html(&self.label),
            self.probability,
            self.steps,
            self.scores.iter().sum::<f64>(),
            self.f_input - self.f_baseline,
            spans.join(" ")
        )
    }
}

impl Render for TokenAttributions {
    fn render(&self) -> MimeBundle {
        let plain: Vec<String> = self.tokens.iter().zip(&self.scores).map(|(t, s)| format!("{t}: {s:+.4}")).collect();
        MimeBundle::text(format!("{} (p={:.3}): {}", self.label, self.probability, plain.join(", "))).with("text/html", self.html())
    }
}

crate::impl_evcxr_display!(TokenAttributions);

/// Integrated gradients of a BERT classifier's logit for class `target` (the predicted class
/// when `None`) with respect to the word embeddings of `text`, in evaluation mode.
pub fn bert_integrated_gradients(
    model: &BertForSequenceClassification,
    tokenizer: &Tokenizer,
    text: &str,
    target: Option<i64>,
    steps: usize,
    baseline: Baseline,
) -> Result<TokenAttributions> {
    let body = &model.bert;
    let table = &body.embeddings.word_embeddings.weight;
    let device = table.device();
    let enc = tokenizer.encode(text)?;
    let n = enc.attention_mask.iter().filter(|&&m| m != 0).count().max(1).min(enc.ids.len());
    let ids: Vec<i64> = enc.ids[..n].iter().map(|&i| i as i64).collect();
    let tokens = tokenizer.tokens(&enc.ids[..n]);
    let ids_t = Tensor::from_slice(&ids).to_device(device);
    // (n, hidden)
    let input = body.embeddings.word_embeddings.forward(&ids_t).detach();
    let special = Tensor::from_slice(&enc.special_tokens_mask[..n].iter().map(|&s| s != 0).collect::<Vec<bool>>()).to_device(device).view([n as i64, 1]);
    let replacement = match baseline {
        Baseline::Pad => {
            let pad = tokenizer.pad_id().ok_or_else(|| Error::Config { key: "baseline".into(), message: "the tokenizer has no [PAD] token; use Baseline::Zero".into() })?;
            table.get(pad as i64).detach().unsqueeze(0).expand_as(&input)
        }
        Baseline::Zero => input.zeros_like(),
    };
    let base = input.where_self(&special, &replacement);
    let logits_of = |embeds: &Tensor| {
        let h = body.forward_embeds(embeds, None, None, false);
        let pooled = body.pool(&h).unwrap_or_else(|| h.select(1, 0));
        model.classifier.forward(&pooled)
    };
    let logits = tch::no_grad(|| logits_of(&input.unsqueeze(0))).squeeze_dim(0);
    let target = target.unwrap_or_else(|| logits.argmax(0, false).int64_value(&[]));
    let classes = logits.size()[0];
    if !(0..classes).contains(&target) {
        return Err(Error::Config { key: "target".into(), message: format!("class {target} does not exist; the model has {classes} classes") });
    }
    let probability = logits.softmax(0, Kind::Double).double_value(&[target]);
    let (attr, f_input, f_baseline) = integrated_gradients(|e| logits_of(e).select(1, target), &input, &base, steps, 16)?;
    let scores: Vec<f64> = Vec::try_from(attr.sum_dim_intlist(-1, false, Kind::Double).to_device(tch::Device::Cpu))?;
    let label = model.config().labels.id2label.get(&target.to_string()).cloned().unwrap_or_else(|| target.to_string());
    Ok(TokenAttributions { tokens, scores, target, label, probability, f_input, f_baseline, steps })
}
