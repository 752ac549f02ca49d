//! Bottleneck adapters: Houlsby et al. 2019 ("Parameter-Efficient Transfer Learning for NLP":
//! an adapter after the attention output and after the feed-forward output of every layer) and
//! Pfeiffer et al. 2021 ("AdapterFusion": after the feed-forward only), as AdapterHub's
//! `adapters` library configures them (`reduction_factor`, `non_linearity`, `residual`), and the
//! parallel variant (He et al. 2022, "Towards a Unified View of Parameter-Efficient Transfer Learning").
//!
//! Each adapter is down (hidden → hidden / reduction_factor) → activation → up (→ hidden), attached
//! to a sublayer's output projection (BERT/ViT `attention.output.dense` and `output.dense`, GPT-2
//! `attn.c_proj` and `mlp.c_proj`), before the residual connection and LayerNorm. Sequential:
//! y' = y + up(act(down(y))) (without `residual`, y' = up(act(down(y)))). Parallel: y' = y +
//! s·up(act(down(x))) from the projection's input x — beside the projection, where He et al. put it
//! beside the whole sublayer. down is normal(0, 0.01), up zero, so the model starts unchanged.
//!
//! Files (a layout of tuna's, AdapterHub's names): `adapter_config.json` with `peft_type`
//! `BOTTLENECK`, `architecture` (houlsby / pfeiffer), `reduction_factor`, `non_linearity`,
//! `residual`, `parallel`, `scaling`, `base_model_class`; `adapter_model.safetensors` with
//! `<layer>.adapters.adapter_down.{weight,bias}` and `<layer>.adapters.adapter_up.{weight,bias}`,
//! `<layer>` the projection's checkpoint name.

use super::lora::{is_live, SharedControl};
use super::select::Targets;
use crate::models::LinearAdapter;
use crate::{Error, Result};
use tch::Tensor;

/// Where the adapters go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterKind {
    /// After the attention and after the feed-forward sublayer of every layer.
    Houlsby,
    /// After the feed-forward sublayer only.
    Pfeiffer,
}

/// The bottleneck's activation (AdapterHub's `non_linearity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterActivation {
    /// `relu` (Pfeiffer's default).
    Relu,
    /// `swish` / SiLU (Houlsby's default).
    Swish,
    /// `gelu`.
    Gelu,
    /// `tanh`.
    Tanh,
}

impl AdapterActivation {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AdapterActivation::Relu => "relu",
            AdapterActivation::Swish => "swish",
            AdapterActivation::Gelu => "gelu",
            AdapterActivation::Tanh => "tanh",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "relu" => AdapterActivation::Relu,
            "swish" | "silu" => AdapterActivation::Swish,
            "gelu" => AdapterActivation::Gelu,
            "tanh" => AdapterActivation::Tanh,
            other => return Err(Error::config("non_linearity", format!("`{other}`: expected relu, swish, gelu or tanh"))),
        })
    }

    fn forward(self, x: &Tensor) -> Tensor {
        match self {
            AdapterActivation::Relu => x.relu(),
            AdapterActivation::Swish => x.silu(),
            AdapterActivation::Gelu => x.gelu("none"),
            AdapterActivation::Tanh => x.tanh(),
        }
    }
}

/// A bottleneck-adapter configuration; see the module documentation.
///
/// ```no_run
/// use tuna::tune::{AdapterConfig, AdapterKind};
/// let pfeiffer = AdapterConfig::new(AdapterKind::Pfeiffer).reduction_factor(16).modules_to_save(["classifier"]);
/// let parallel = AdapterConfig::new(AdapterKind::Houlsby).parallel(4.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterConfig {
    /// Houlsby or Pfeiffer placement.
    pub kind: AdapterKind,
    /// hidden / bottleneck width (≥ 1). Default 16.
    pub reduction_factor: i64,
    /// Activation. Default swish for Houlsby, relu for Pfeiffer.
    pub activation: AdapterActivation,
    /// Sequential adapters add their input back (y + f(y)). Default true.
    pub residual: bool,
    /// The parallel variant with this scaling s, beside the projection; `None`: sequential.
    pub parallel: Option<f64>,
    /// Layers trained in full as copies saved with the adapter (the classifier head). Default none.
    pub modules_to_save: Option<Targets>,
}

impl AdapterConfig {
    /// Adapters placed as `kind`, reduction factor 16, the kind's default activation, residual.
    pub fn new(kind: AdapterKind) -> Self {
        let activation = if kind == AdapterKind::Houlsby { AdapterActivation::Swish } else { AdapterActivation::Relu };
        AdapterConfig { kind, reduction_factor: 16, activation, residual: true, parallel: None, modules_to_save: None }
    }
    /// Sets the reduction factor.
    pub fn reduction_factor(mut self, r: i64) -> Self {
        self.reduction_factor = r;
        self
    }
    /// Sets the activation.
    pub fn activation(mut self, a: AdapterActivation) -> Self {
        self.activation = a;
        self
    }
    /// Turns the residual connection of sequential adapters on or off.
    pub fn residual(mut self, on: bool) -> Self {
        self.residual = on;
        self
    }
    /// The parallel variant, its output scaled by `scaling`.
    pub fn parallel(mut self, scaling: f64) -> Self {
        self.parallel = Some(scaling);
        self
    }
    /// Sets `modules_to_save` (linear layers only, such as `classifier`).
    pub fn modules_to_save(mut self, modules: impl Into<Targets>) -> Self {
        self.modules_to_save = Some(modules.into());
        self
    }

    /// The projections that get an adapter: a full-match regex over tuna's layer names.
    pub(crate) fn targets(&self) -> Targets {
        let ffn = r".*\.(layer\.\d+\.output\.dense|mlp\.c_proj)";
        let attn = r".*\.(attention\.output\.dense|attn\.c_proj)";
        match self.kind {
            AdapterKind::Pfeiffer => Targets::regex(ffn),
            AdapterKind::Houlsby => Targets::regex(&format!("{ffn}|{attn}")),
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.reduction_factor < 1 {
            return Err(Error::config("reduction_factor", format!("must be at least 1, got {}", self.reduction_factor)));
        }
        Ok(())
    }
}

/// One adapter on one projection: [down weight (b, in), down bias (b,), up weight (out, b), up bias (out,)].
pub(crate) struct BottleneckModule {
    pub(crate) label: String,
    pub(crate) adapter: String,
    pub(crate) tensors: [Tensor; 4],
    pub(crate) activation: AdapterActivation,
    pub(crate) residual: bool,
    pub(crate) parallel: Option<f64>,
    pub(crate) control: SharedControl,
}

impl LinearAdapter for BottleneckModule {
    fn name(&self) -> &str {
        &self.label
    }

    fn forward(&self, x: &Tensor, base_out: Tensor) -> Tensor {
        if !is_live(&self.control, &self.adapter) {
            return base_out;
        }
        let [dw, db, uw, ub] = &self.tensors;
        let f = |h: &Tensor| self.activation.forward(&h.linear(dw, Some(db))).linear(uw, Some(ub));
        match self.parallel {
            Some(s) => f(x) * s + base_out,
            None if self.residual => f(&base_out) + base_out,
            None => f(&base_out),
        }
    }
}

use super::tuned::{AdapterRecord, Method, Tuned};
use crate::models::PretrainedModel;
use std::collections::BTreeMap;
use tch::nn;

impl<M: PretrainedModel> Tuned<M> {
    /// Adds bottleneck adapters named `name` (see the module documentation); the first adapter
    /// becomes active.
    pub fn add_bottleneck_adapter(&mut self, name: &str, config: &AdapterConfig) -> Result<()> {
        config.validate()?;
        let (linears, targets, saved_names) = self.plan(name, &config.targets(), &config.modules_to_save)?;
        let mut record = AdapterRecord::new(Method::Bottleneck(config.clone()));
        let root = self.model.var_store().root();
        for l in linears.iter().filter(|l| targets.contains(&l.name)) {
            let width = (l.fan_out / config.reduction_factor).max(1);
            let fan_in = if config.parallel.is_some() { l.fan_in } else { l.fan_out };
            let p = super::tuned::var_path(root.clone(), &format!("{}.adapters.{name}", l.name));
            let mut var = |sub: &str, pname: &str, shape: &[i64], init: nn::Init| -> Result<Tensor> {
                let t = (&p / sub).f_var(pname, shape, init)?;
                if t.kind() != l.kind {
                    tch::no_grad(|| t.shallow_clone().set_data(&t.to_kind(l.kind)));
                }
                record.var_names.push(format!("{}.adapters.{name}.{sub}.{pname}", l.name));
                Ok(t)
            };
            let normal = nn::Init::Randn { mean: 0.0, stdev: 0.01 };
            let tensors = [
                var("adapter_down", "weight", &[width, fan_in], normal)?,
                var("adapter_down", "bias", &[width], nn::Init::Const(0.0))?,
                var("adapter_up", "weight", &[l.fan_out, width], nn::Init::Const(0.0))?,
                var("adapter_up", "bias", &[l.fan_out], nn::Init::Const(0.0))?,
            ];
            record.bottlenecks.push((l.name.clone(), tensors));
        }
        drop(root);
        self.copy_saved(name, &saved_names, &mut record)?;
        let mut by_name: BTreeMap<String, &mut crate::models::Linear> = self.model.linears_mut().into_iter().collect();
        for (lname, t) in &record.bottlenecks {
            if let Some(lin) = by_name.get_mut(lname) {
                lin.attach(Box::new(BottleneckModule {
                    label: format!("bottleneck:{name}"),
                    adapter: name.to_owned(),
                    tensors: t.each_ref().map(Tensor::shallow_clone),
                    activation: config.activation,
                    residual: config.residual,
                    parallel: config.parallel,
                    control: self.control.clone(),
                }));
            }
        }
        drop(by_name);
        self.finish_adapter(name, record);
        Ok(())
    }
}

use crate::models::checkpoint::write_safetensors;
use crate::models::Checkpoint;
use serde_json::{json, Value};
use std::path::Path;

impl<M: PretrainedModel> Tuned<M> {
    pub(crate) fn save_bottleneck(&self, rec: &AdapterRecord, c: &AdapterConfig, dir: &Path) -> Result<()> {
        let tensors: Vec<(String, Tensor)> = bottleneck_tensors(rec).into_iter().map(|(k, t)| (k, t.detach())).collect();
        write_safetensors(&dir.join("adapter_model.safetensors"), &tensors)?;
        let config = json!({
            "architecture": match c.kind { AdapterKind::Houlsby => "houlsby", AdapterKind::Pfeiffer => "pfeiffer" },
            "base_model_class": M::ARCHITECTURE,
            "base_model_name_or_path": self.state().source_dir.as_ref().map(|p| p.display().to_string()),
            "modules_to_save": c.modules_to_save.as_ref().map(Targets::to_json),
            "non_linearity": c.activation.as_str(),
            "parallel": c.parallel.is_some(),
            "peft_type": "BOTTLENECK",
            "reduction_factor": c.reduction_factor,
            "residual": c.residual,
            "scaling": c.parallel,
        });
        super::files::write_json(&dir.join("adapter_config.json"), &config)
    }

    pub(crate) fn load_bottleneck(&mut self, v: &Value, dir: &Path, name: &str) -> Result<()> {
        let path = dir.join("adapter_config.json");
        let bad_config = |message: String| Error::Checkpoint { path: path.clone(), message };
        let arch = v.get("base_model_class").and_then(Value::as_str).unwrap_or(M::ARCHITECTURE);
        if arch != M::ARCHITECTURE {
            return Err(bad_config(format!("this adapter was made for {arch}; the model is {}: load it onto a {arch}", M::ARCHITECTURE)));
        }
        let kind = match v.get("architecture").and_then(Value::as_str) {
            Some("houlsby") => AdapterKind::Houlsby,
            Some("pfeiffer") => AdapterKind::Pfeiffer,
            other => return Err(bad_config(format!("`architecture` is {other:?}; expected houlsby or pfeiffer"))),
        };
        let mut c = AdapterConfig::new(kind);
        if let Some(r) = v.get("reduction_factor").and_then(Value::as_i64) {
            c.reduction_factor = r;
        }
        if let Some(a) = v.get("non_linearity").and_then(Value::as_str) {
            c.activation = AdapterActivation::parse(a)?;
        }
        c.residual = v.get("residual").and_then(Value::as_bool).unwrap_or(true);
        if v.get("parallel").and_then(Value::as_bool) == Some(true) {
            c.parallel = Some(v.get("scaling").and_then(Value::as_f64).unwrap_or(1.0));
        }
        c.modules_to_save = Targets::from_json("modules_to_save", v.get("modules_to_save").unwrap_or(&Value::Null))?;
        let weights = Checkpoint::from_file(&dir.join("adapter_model.safetensors"))?;
        self.add_bottleneck_adapter(name, &c)?;
        let bad = |message: String| Error::Checkpoint { path: dir.join("adapter_model.safetensors"), message };
        let result = (|| {
            let rec = self.adapters.get(name).ok_or_else(|| Error::msg("adapter vanished"))?;
            let pairs = bottleneck_tensors(rec);
            super::files::copy_named(&weights, &pairs, &bad, &format!("layer of this {}", M::ARCHITECTURE), true)
        })();
        if result.is_err() {
            let _ = self.delete_adapter(name);
        }
        result
    }
}

/// The adapter's tensors under their file keys (module documentation), saved copies as `<layer>.weight`.
fn bottleneck_tensors(rec: &AdapterRecord) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    for (layer, [dw, db, uw, ub]) in &rec.bottlenecks {
        for (key, t) in [("adapter_down.weight", dw), ("adapter_down.bias", db), ("adapter_up.weight", uw), ("adapter_up.bias", ub)] {
            out.push((format!("{layer}.adapters.{key}"), t.shallow_clone()));
        }
    }
    for s in &rec.saved {
        out.push((format!("{}.weight", s.linear), s.weight.shallow_clone()));
        if let Some(b) = &s.bias {
            out.push((format!("{}.bias", s.linear), b.shallow_clone()));
        }
    }
    out
}
