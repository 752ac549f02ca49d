//! (IA)³ (Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than
//! In-Context Learning"), as PEFT 0.21 implements it (`peft/tuners/ia3/{config,layer}.py`): a
//! learned vector rescales a layer's output (keys, values: `ia3_l` of shape (out, 1)) or, for
//! feed-forward layers, its input (`ia3_l` of shape (1, in)); initialised to ones.

use super::lora::{is_live, LinearView, SharedControl};
use super::select::Targets;
use crate::models::LinearAdapter;
use tch::Tensor;

/// An (IA)³ configuration, PEFT's `IA3Config`.
///
/// ```no_run
/// use tuna::tune::Ia3Config;
/// let ia3 = Ia3Config::new(["key", "value", "output.dense"], ["output.dense"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Ia3Config {
    /// Layers that get a scaling vector (PEFT's `target_modules`).
    pub targets: Targets,
    /// Those among them whose input, not output, is scaled (PEFT's `feedforward_modules`).
    pub feedforward: Targets,
    /// Layers trained in full as copies saved with the adapter (the classifier head). Default none.
    pub modules_to_save: Option<Targets>,
}

impl Ia3Config {
    /// Scales the outputs of `targets`, or the inputs of those also in `feedforward`.
    pub fn new(targets: impl Into<Targets>, feedforward: impl Into<Targets>) -> Self {
        Ia3Config { targets: targets.into(), feedforward: feedforward.into(), modules_to_save: None }
    }
    /// Sets `modules_to_save` (linear layers only, such as `classifier`).
    pub fn modules_to_save(mut self, modules: impl Into<Targets>) -> Self {
        self.modules_to_save = Some(modules.into());
        self
    }
}

/// The (IA)³ vector of one adapter on one linear layer.
pub(crate) struct Ia3Module {
    pub(crate) label: String,
    pub(crate) adapter: String,
    /// (out, 1), or (1, in) when `feedforward`.
    pub(crate) scale: Tensor,
    pub(crate) feedforward: bool,
    /// The layer's own weight and bias, to run it again on the rescaled input.
    pub(crate) layer: LinearView,
    pub(crate) control: SharedControl,
}

impl LinearAdapter for Ia3Module {
    fn name(&self) -> &str {
        &self.label
    }

    fn forward(&self, x: &Tensor, base_out: Tensor) -> Tensor {
        if !is_live(&self.control, &self.adapter) {
            base_out
        } else if self.feedforward {
            // base(x · l): (1, in) broadcasts over (…, in).
            self.layer.forward(&(x * self.scale.view([-1])))
        } else {
            base_out * self.scale.view([-1])
        }
    }
}
