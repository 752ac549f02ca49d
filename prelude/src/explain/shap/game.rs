//! Coalitions and their values: the value-function contract every explainer evaluates, in
//! batches, and the tabular masker of shap's `KernelExplainer` (masked features take each
//! background row's values; a coalition's value is the mean over the background rows).

use super::values::ShapValues;
use crate::{Error, Result};
use tch::{Device, Kind, Tensor};

/// Makes model inputs for coalitions of features. `masks[k][i]` is true when feature i keeps
/// the explained input's value in coalition k.
pub trait Masker {
    /// Number of features a coalition switches on or off.
    fn features(&self) -> usize;
    /// A name per feature (column names, tokens, patches), for display.
    fn names(&self) -> Vec<String>;
    /// The model inputs of every coalition, [`Masker::rows`] per coalition, stacked on dim 0.
    fn inputs(&self, masks: &[Vec<bool>]) -> Result<Tensor>;
    /// Inputs per coalition (background rows); a coalition's value is the model's mean over them.
    fn rows(&self) -> usize {
        1
    }
}

/// A SHAP explainer ([`ExactShap`](super::ExactShap), [`KernelShap`](super::KernelShap),
/// [`PartitionShap`](super::PartitionShap)): the values of a game given by its value function,
/// or of a model under a masker.
pub trait Explainer {
    /// SHAP values of the game with `features` players whose coalition values `value` gives
    /// (a batch of coalitions in, one value each out).
    fn explain(&self, features: usize, value: impl FnMut(&[Vec<bool>]) -> Result<Vec<f64>>) -> Result<ShapValues>;

    /// SHAP values of `model` at the masker's input (see [`masked`]), named by the masker.
    fn explain_masked<M: Masker + ?Sized>(&self, masker: &M, model: impl FnMut(&Tensor) -> Tensor) -> Result<ShapValues> {
        Ok(self.explain(masker.features(), masked(masker, model))?.named(masker.names()))
    }
}

/// The value function of `model` under `masker`: for each coalition, the mean of the model's
/// outputs over the masker's rows. `model` maps inputs (N, …) to one number each, (N,) or
/// (N, 1): pick the class first, e.g. `|x| model.forward(x).select(1, 2)`. It runs without
/// gradients.
pub fn masked<'a, M: Masker + ?Sized>(masker: &'a M, mut model: impl FnMut(&Tensor) -> Tensor + 'a) -> impl FnMut(&[Vec<bool>]) -> Result<Vec<f64>> + 'a {
    move |masks: &[Vec<bool>]| {
        let inputs = masker.inputs(masks)?;
        let out = tch::no_grad(|| model(&inputs));
        let rows = masker.rows().max(1);
        if out.numel() != masks.len() * rows {
            return Err(Error::Shape {
                context: "SHAP model".into(),
                message: format!("the model must return one number per input row ({} rows); got {:?}", masks.len() * rows, out.size()),
            });
        }
        let flat: Vec<f64> = Vec::try_from(out.detach().to_kind(Kind::Double).to_device(Device::Cpu).reshape([-1]))?;
        Ok(flat.chunks(rows).map(|c| c.iter().sum::<f64>() / rows as f64).collect())
    }
}

/// Evaluates `value` on `masks`, `batch` coalitions per call, checking each answer's length
/// and the stop button between calls.
pub(crate) fn evaluate<F>(value: &mut F, masks: &[Vec<bool>], batch: usize) -> Result<Vec<f64>>
where
    F: FnMut(&[Vec<bool>]) -> Result<Vec<f64>> + ?Sized,
{
    let mut out = Vec::with_capacity(masks.len());
    for chunk in masks.chunks(batch.max(1)) {
        if crate::interrupt::requested() {
            return Err(Error::Interrupted);
        }
        let values = value(chunk)?;
        if values.len() != chunk.len() {
            return Err(Error::Shape { context: "SHAP value function".into(), message: format!("{} values for {} coalitions", values.len(), chunk.len()) });
        }
        out.extend(values);
    }
    Ok(out)
}

/// One tabular instance explained against a background set, as shap's `KernelExplainer`
/// with a data matrix: a masked feature takes each background row's value in turn.
///
/// ```no_run
/// use tuna::prelude::*;
/// # fn f(x: &Tensor, background: &Tensor) -> tuna::Result<()> {
/// let masker = TabularMasker::new(x, background)?.columns(["a", "b", "c"]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TabularMasker {
    x: Tensor,
    background: Tensor,
    columns: Vec<String>,
}

impl TabularMasker {
    /// `x` (M,) explained against `background` (B, M), the rows masked features are drawn from
    /// (a few dozen rows, or k-means centres, as shap advises: cost grows with B).
    pub fn new(x: &Tensor, background: &Tensor) -> Result<Self> {
        let m = x.size();
        if m.len() != 1 || background.dim() != 2 || background.size()[1] != m[0] || background.size()[0] == 0 {
            return Err(Error::Shape { context: "TabularMasker".into(), message: format!("x must be (M,) and background (B ≥ 1, M); got {:?} and {:?}", m, background.size()) });
        }
        let columns = (0..m[0]).map(|i| format!("x{i}")).collect();
        Ok(TabularMasker { x: x.detach(), background: background.detach().to_kind(x.kind()).to_device(x.device()), columns })
    }

    /// Names of the columns (default `x0`, `x1`, …).
    pub fn columns<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.columns = names.into_iter().map(Into::into).collect();
        self
    }
}

impl Masker for TabularMasker {
    fn features(&self) -> usize {
        self.x.size()[0] as usize
    }

    fn names(&self) -> Vec<String> {
        self.columns.clone()
    }

    fn inputs(&self, masks: &[Vec<bool>]) -> Result<Tensor> {
        let (k, m) = (masks.len() as i64, self.x.size()[0]);
        let keep = mask_tensor(masks, self.features(), self.x.device())?.view([k, 1, m]);
        // (k, B, M): x where the coalition keeps the feature, the background row elsewhere.
        let rows = self.x.view([1, 1, m]).where_self(&keep, &self.background.unsqueeze(0));
        Ok(rows.reshape([-1, m]))
    }

    fn rows(&self) -> usize {
        self.background.size()[0] as usize
    }
}

/// The coalitions as a bool tensor (k, M), after checking every mask has M entries.
pub(crate) fn mask_tensor(masks: &[Vec<bool>], features: usize, device: Device) -> Result<Tensor> {
    if let Some(bad) = masks.iter().find(|m| m.len() != features) {
        return Err(Error::Shape { context: "SHAP masker".into(), message: format!("a coalition of {} features for a masker of {features}", bad.len()) });
    }
    let flat: Vec<bool> = masks.iter().flatten().copied().collect();
    Ok(Tensor::from_slice(&flat).view([masks.len() as i64, features as i64]).to_device(device))
}
