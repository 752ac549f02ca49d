//! LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"), as PEFT 0.21
//! implements it (`peft/tuners/lora/{config,layer}.py`): y = base(x) + s · B(A(dropout(x))) with
//! A (r, in) Kaiming-uniform(a=√5), B (out, r) zero, s = alpha / r (or alpha / √r with rsLoRA).
//!
//! The tensors live in the model's `VarStore` under PEFT's in-model names
//! (`<layer>.lora_A.<adapter>.weight`), so an optimiser over the store trains them and the
//! summary counts them; the adapter object attached to the [`Linear`](crate::models::Linear)
//! holds handles to the same tensors and a shared [`Control`] (active adapter, on/off, merged).

use super::select::Targets;
use crate::models::LinearAdapter;
use crate::{Error, Result};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use tch::Tensor;

/// Which biases LoRA trains (PEFT's `bias`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoraBias {
    /// No bias is trained (default).
    None,
    /// The biases of the layers LoRA is attached to.
    LoraOnly,
    /// Every bias of the model.
    All,
}

impl LoraBias {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LoraBias::None => "none",
            LoraBias::LoraOnly => "lora_only",
            LoraBias::All => "all",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(LoraBias::None),
            "lora_only" => Ok(LoraBias::LoraOnly),
            "all" => Ok(LoraBias::All),
            other => Err(Error::config("bias", format!("`{other}`: expected none, lora_only or all"))),
        }
    }
}

/// How A and B start (PEFT's `init_lora_weights`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoraInit {
    /// A Kaiming-uniform(a=√5), B zero: the model starts unchanged (PEFT's `True`, default).
    Kaiming,
    /// A normal(0, 1/r), B zero (PEFT's `"gaussian"`).
    Gaussian,
}

/// A LoRA configuration, PEFT's `LoraConfig`; build with [`LoraConfig::rank`] and setters.
///
/// ```no_run
/// use tuna::tune::LoraConfig;
/// let lora = LoraConfig::rank(8).alpha(16.0).targets(["query", "value"]).modules_to_save(["classifier"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    /// Rank r of A (r, in) and B (out, r); must be ≥ 1. Default 8.
    pub r: i64,
    /// Scale numerator `lora_alpha`; the update is scaled by alpha / r. Default 8.
    pub alpha: f64,
    /// Dropout on the adapter's input during training. Default 0.
    pub dropout: f64,
    /// rsLoRA: scale by alpha / √r instead of alpha / r. Default false.
    pub use_rslora: bool,
    /// Layers that get LoRA (PEFT's `target_modules`). Default `["query", "value"]`.
    pub targets: Targets,
    /// Initialisation of A and B. Default Kaiming.
    pub init: LoraInit,
    /// Which biases train. Default none.
    pub bias: LoraBias,
    /// Layers trained in full as copies saved with the adapter (the classifier head). Default none.
    pub modules_to_save: Option<Targets>,
    /// Only layers with these transformer-layer indices get LoRA. Default all.
    pub layers_to_transform: Option<Vec<usize>>,
    /// DoRA (Liu et al. 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation"): a trained magnitude
    /// per output row rescales the adapted weight W + s·BA to unit-norm rows. Default false.
    pub use_dora: bool,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            r: 8,
            alpha: 8.0,
            dropout: 0.0,
            use_rslora: false,
            targets: Targets::from(["query", "value"]),
            init: LoraInit::Kaiming,
            bias: LoraBias::None,
            modules_to_save: None,
            layers_to_transform: None,
            use_dora: false,
        }
    }
}

impl LoraConfig {
    /// Rank `r`, alpha = r, targets `query` and `value`.
    pub fn rank(r: i64) -> Self {
        LoraConfig { r, alpha: r as f64, ..Default::default() }
    }
    /// Sets `lora_alpha`.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }
    /// Sets `lora_dropout`.
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
    /// Turns rsLoRA scaling (alpha / √r) on or off.
    pub fn use_rslora(mut self, on: bool) -> Self {
        self.use_rslora = on;
        self
    }
    /// Sets `target_modules`: a `&str` is a full-match regex, an array a list of names.
    pub fn targets(mut self, targets: impl Into<Targets>) -> Self {
        self.targets = targets.into();
        self
    }
    /// Sets the initialisation.
    pub fn init(mut self, init: LoraInit) -> Self {
        self.init = init;
        self
    }
    /// Sets which biases train.
    pub fn bias(mut self, bias: LoraBias) -> Self {
        self.bias = bias;
        self
    }
    /// Sets `modules_to_save` (linear layers only, such as `classifier`).
    pub fn modules_to_save(mut self, modules: impl Into<Targets>) -> Self {
        self.modules_to_save = Some(modules.into());
        self
    }
    /// Sets `layers_to_transform`.
    pub fn layers_to_transform(mut self, layers: impl IntoIterator<Item = usize>) -> Self {
        self.layers_to_transform = Some(layers.into_iter().collect());
        self
    }

    /// Turns DoRA (PEFT's `use_dora`) on or off.
    pub fn use_dora(mut self, on: bool) -> Self {
        self.use_dora = on;
        self
    }

    /// The factor on B·A.
    pub fn scaling(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.r as f64).sqrt()
        } else {
            self.alpha / self.r as f64
        }
    }

    /// Rejects a rank below 1 and a dropout outside [0, 1).
    pub fn validate(&self) -> Result<()> {
        if self.r < 1 {
            return Err(Error::config("r", format!("LoRA rank must be at least 1, got {}", self.r)));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::config("lora_dropout", format!("must be in [0, 1), got {}", self.dropout)));
        }
        if self.layers_to_transform.is_some() && matches!(self.targets, Targets::Regex(_)) {
            // As PEFT: a regex already says which layers it means.
            return Err(Error::config("layers_to_transform", "cannot be used when the targets are a regex; give a list of names"));
        }
        Ok(())
    }
}

/// State shared by every adapter module of one model: which adapter is active, whether
/// adapters are on, which are merged into the base weights, and whether dropout is on.
#[derive(Debug)]
pub struct Control {
    pub(crate) active: String,
    pub(crate) enabled: bool,
    pub(crate) merged: BTreeSet<String>,
    pub(crate) training: bool,
}

pub(crate) type SharedControl = Arc<Mutex<Control>>;

pub(crate) fn new_control(active: &str) -> SharedControl {
    Arc::new(Mutex::new(Control { active: active.to_owned(), enabled: true, merged: BTreeSet::new(), training: false }))
}

/// Locks the control; a panic elsewhere while it was held leaves plain flags behind, still valid.
pub(crate) fn lock(c: &SharedControl) -> MutexGuard<'_, Control> {
    c.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The LoRA update of one adapter on one linear layer.
pub(crate) struct LoraModule {
    pub(crate) label: String,
    pub(crate) adapter: String,
    pub(crate) a: Tensor,
    pub(crate) b: Tensor,
    pub(crate) scaling: f64,
    pub(crate) dropout: f64,
    pub(crate) control: SharedControl,
    /// DoRA: the magnitude vector (out,) and the layer's own weight and bias.
    pub(crate) dora: Option<(Tensor, LinearView)>,
}

impl LinearAdapter for LoraModule {
    fn name(&self) -> &str {
        &self.label
    }

    fn forward(&self, x: &Tensor, base_out: Tensor) -> Tensor {
        let (on, training) = {
            let c = lock(&self.control);
            (c.enabled && c.active == self.adapter && !c.merged.contains(&self.adapter), c.training)
        };
        if !on {
            return base_out;
        }
        let dropped = training && self.dropout > 0.0;
        let h = if dropped { x.dropout(self.dropout, true) } else { x.shallow_clone() };
        // (…, in) → (…, r) → (…, out)
        let lora = h.linear::<&Tensor>(&self.a, None).linear::<&Tensor>(&self.b, None);
        let Some((magnitude, layer)) = &self.dora else {
            return base_out + lora * self.scaling;
        };
        // DoRA (PEFT's `DoraLinearLayer.forward`): m / ‖W + s·BA‖ per output row, the norm
        // detached; the unbiased base output is rescaled, and so is the LoRA update.
        let w = layer.weight_out_in();
        let norm = dora_norm(&w, &self.b.matmul(&self.a).detach(), self.scaling).detach();
        let factor = (magnitude / norm).view([1, -1]);
        let base = if dropped {
            h.linear::<&Tensor>(&w, None)
        } else {
            match &layer.bias {
                Some(b) => &base_out - b,
                None => base_out.shallow_clone(),
            }
        };
        base_out + (&factor - 1.0) * base + factor * lora * self.scaling
    }
}

/// DoRA's weight norm, row by row: ‖W + s·ΔW‖₂ over the inputs, W and ΔW (out, in) → (out,).
pub(crate) fn dora_norm(w: &Tensor, lora_weight: &Tensor, scaling: f64) -> Tensor {
    let full = w + lora_weight * scaling;
    full.linalg_norm(2.0, [1i64].as_slice(), false, None::<tch::Kind>)
}

/// A linear layer's weight and bias held by an adapter: a trained copy, or the layer's own.
pub(crate) struct LinearView {
    /// (out, in), or (in, out) when `transposed` (GPT-2's Conv1D).
    pub(crate) weight: Tensor,
    pub(crate) bias: Option<Tensor>,
    pub(crate) transposed: bool,
}

impl LinearView {
    /// The weight as (out, in).
    pub(crate) fn weight_out_in(&self) -> Tensor {
        if self.transposed {
            self.weight.tr()
        } else {
            self.weight.shallow_clone()
        }
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        // A Conv1D weight is (in, out): its transpose is a view, not a copy.
        let weight = if self.transposed { self.weight.tr() } else { self.weight.shallow_clone() };
        x.linear(&weight, self.bias.as_ref())
    }
}

/// Whether `adapter` is the one in use.
pub(crate) fn is_active(control: &SharedControl, adapter: &str) -> bool {
    let c = lock(control);
    c.enabled && c.active == adapter
}

/// Whether `adapter` is in use and not merged into the base weights.
pub(crate) fn is_live(control: &SharedControl, adapter: &str) -> bool {
    let c = lock(control);
    c.enabled && c.active == adapter && !c.merged.contains(adapter)
}

/// A trainable copy of a whole linear layer (PEFT's `ModulesToSaveWrapper`): while its adapter
/// is active it replaces the layer's output; the original stays frozen and unchanged.
pub(crate) struct SavedModule {
    pub(crate) label: String,
    pub(crate) adapter: String,
    pub(crate) copy: LinearView,
    pub(crate) control: SharedControl,
}

impl LinearAdapter for SavedModule {
    fn name(&self) -> &str {
        &self.label
    }

    fn forward(&self, x: &Tensor, base_out: Tensor) -> Tensor {
        if is_active(&self.control, &self.adapter) {
            self.copy.forward(x)
        } else {
            base_out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_and_validation() {
        assert_eq!(LoraConfig::rank(4).alpha(8.0).scaling(), 2.0);
        assert_eq!(LoraConfig::rank(4).alpha(8.0).use_rslora(true).scaling(), 4.0);
        let err = LoraConfig::rank(0).validate().unwrap_err().to_string();
        assert!(err.contains("`r`") && err.contains("at least 1"), "{err}");
        assert!(LoraConfig::rank(2).dropout(1.0).validate().is_err());
    }
}
