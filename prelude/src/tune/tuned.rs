//! A model with a fine-tuning strategy applied (PEFT's `PeftModel`): the model itself (reached
//! through `Deref`, so `tuned.forward(…)` works), and its named LoRA adapters with their
//! switches — active adapter, on/off, merge into the base weights and back, delete.

use super::ia3::{Ia3Config, Ia3Module};
use super::lora::{
    dora_norm, lock, new_control, LinearView, LoraBias, LoraConfig, LoraInit, LoraModule, SavedModule, SharedControl,
};
use super::select::{layer_index, Targets};
use super::strategy::{set_trainable, Strategy};
use crate::display::{MimeBundle, Render};
use crate::models::{ModelState, ModelSummary, PretrainedModel};
use crate::{Error, Result};
use std::collections::BTreeMap;
use tch::{nn, Tensor};

/// LoRA tensors of one adapter on one linear layer.
pub(crate) struct LayerRecord {
    pub(crate) linear: String,
    pub(crate) a: Tensor,
    pub(crate) b: Tensor,
    pub(crate) scaling: f64,
    pub(crate) transposed: bool,
    /// DoRA's magnitude vector (out,), PEFT's `lora_magnitude_vector`.
    pub(crate) magnitude: Option<Tensor>,
}

/// A trainable copy of a layer kept by one adapter (`modules_to_save`).
pub(crate) struct SavedRecord {
    pub(crate) linear: String,
    pub(crate) weight: Tensor,
    pub(crate) bias: Option<Tensor>,
}

/// An (IA)³ vector of one adapter on one linear layer.
pub(crate) struct ScaleRecord {
    pub(crate) linear: String,
    pub(crate) scale: Tensor,
    pub(crate) feedforward: bool,
}

/// What an adapter is.
pub(crate) enum Method {
    Lora(LoraConfig),
    Ia3(Ia3Config),
    Prompt(super::prompt::PromptTuningConfig),
    Prefix(super::prompt::PrefixTuningConfig),
    Bottleneck(super::bottleneck::AdapterConfig),
}

/// One named adapter.
pub(crate) struct AdapterRecord {
    pub(crate) method: Method,
    pub(crate) layers: Vec<LayerRecord>,
    pub(crate) scales: Vec<ScaleRecord>,
    pub(crate) saved: Vec<SavedRecord>,
    /// Prompt tuning's virtual-token vectors (n, hidden).
    pub(crate) prompt: Option<Tensor>,
    /// Prefix tuning's table.
    pub(crate) prefix: Option<crate::models::prefix::SharedPrefixTable>,
    /// Bottleneck adapters: projection name, [down w, down b, up w, up b].
    pub(crate) bottlenecks: Vec<(String, [Tensor; 4])>,
    /// The model's (layers, heads, hidden), recorded by prompt learning for its files.
    pub(crate) shape: (i64, i64, i64),
    /// Its variables in the model's store.
    pub(crate) var_names: Vec<String>,
}

/// A model with a strategy applied; see [`Strategy`]. Derefs to the model.
///
/// ```no_run
/// use tuna::prelude::*;
/// let model = BertForSequenceClassification::pretrained("models/minilm").num_labels(3).load()?;
/// let mut model = model.tune(&Strategy::Lora(LoraConfig::rank(8).targets(["query", "value"])))?;
/// println!("{}", model.trainable_line()); // trainable params: … || all params: … || trainable%: …
/// model.merge()?;
/// model.save_adapter("out/lora")?;
/// # Ok::<(), tuna::Error>(())
/// ```
pub struct Tuned<M: PretrainedModel> {
    pub(crate) model: M,
    pub(crate) strategy: Option<Strategy>,
    pub(crate) control: SharedControl,
    pub(crate) adapters: BTreeMap<String, AdapterRecord>,
    /// DoRA weight norms of the merged adapter, by layer: unmerging needs the norms of the
    /// unmerged weights (PEFT caches them the same way).
    pub(crate) dora_norms: BTreeMap<String, Tensor>,
}

impl AdapterRecord {
    pub(crate) fn new(method: Method) -> Self {
        AdapterRecord { method, layers: Vec::new(), scales: Vec::new(), saved: Vec::new(), prompt: None, prefix: None, bottlenecks: Vec::new(), shape: (0, 0, 0), var_names: Vec::new() }
    }
}

/// What adding an adapter needs to know of a linear layer.
pub(crate) struct LinearShape {
    pub(crate) name: String,
    pub(crate) fan_in: i64,
    pub(crate) fan_out: i64,
    pub(crate) transposed: bool,
    pub(crate) kind: tch::Kind,
}

/// A new variable at the dotted `name` of the store (dtype `kind`), recorded as the adapter's.
fn new_var(root: &nn::Path, name: &str, shape: &[i64], init: nn::Init, kind: tch::Kind, record: &mut AdapterRecord) -> Result<Tensor> {
    let (module, param) = name.rsplit_once('.').unwrap_or(("", name));
    let t = var_path(root.clone(), module).f_var(param, shape, init)?;
    if t.kind() != kind {
        tch::no_grad(|| t.shallow_clone().set_data(&t.to_kind(kind)));
    }
    record.var_names.push(name.to_owned());
    Ok(t)
}

impl<M: PretrainedModel> std::ops::Deref for Tuned<M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.model
    }
}

impl<M: PretrainedModel> std::ops::DerefMut for Tuned<M> {
    fn deref_mut(&mut self) -> &mut M {
        &mut self.model
    }
}

/// A linear layer's own weight and bias (shared tensors).
fn view_of(lin: &crate::models::Linear) -> LinearView {
    LinearView { weight: lin.weight.shallow_clone(), bias: lin.bias.as_ref().map(Tensor::shallow_clone), transposed: lin.is_transposed() }
}

pub(crate) fn var_path<'a>(root: nn::Path<'a>, dotted: &str) -> nn::Path<'a> {
    dotted.split('.').fold(root, |p, c| p / c)
}

impl<M: PretrainedModel> Tuned<M> {
    /// The model as it is, every parameter's `requires_grad` untouched, no adapter.
    pub fn wrap(model: M) -> Self {
        Tuned { model, strategy: None, control: new_control("default"), adapters: BTreeMap::new(), dora_norms: BTreeMap::new() }
    }

    /// The model without the wrapper (adapters stay attached; see [`Tuned::merge_and_unload`]).
    pub fn into_inner(self) -> M {
        self.model
    }

    /// The strategy applied, if any.
    pub fn strategy(&self) -> Option<&Strategy> {
        self.strategy.as_ref()
    }

    /// PEFT's line: `trainable params: T || all params: A || trainable%: P`.
    pub fn trainable_line(&self) -> String {
        self.summary().parameter_line()
    }

    /// Names of the adapters, in order.
    pub fn adapter_names(&self) -> Vec<String> {
        self.adapters.keys().cloned().collect()
    }

    /// The active adapter's name, when there are adapters.
    pub fn active_adapter(&self) -> Option<String> {
        let active = lock(&self.control).active.clone();
        self.adapters.contains_key(&active).then_some(active)
    }

    /// The LoRA configuration of adapter `name` (None for another kind of adapter).
    pub fn adapter_config(&self, name: &str) -> Option<&LoraConfig> {
        match self.adapters.get(name).map(|a| &a.method) {
            Some(Method::Lora(c)) => Some(c),
            _ => None,
        }
    }

    /// Adds a LoRA adapter named `name` on the layers `config` targets; the first adapter
    /// becomes active. Only the active adapter's parameters train.
    pub fn add_adapter(&mut self, name: &str, config: &LoraConfig) -> Result<()> {
        config.validate()?;
        let (linears, mut targets, saved_names) = self.plan(name, &config.targets, &config.modules_to_save)?;
        if let Some(keep) = &config.layers_to_transform {
            targets.retain(|n| layer_index(n).is_some_and(|i| keep.contains(&i)));
            if targets.is_empty() {
                return Err(Error::config("layers_to_transform", format!("no target layer has an index in {keep:?}")));
            }
        }

        let scaling = config.scaling();
        let mut record = AdapterRecord::new(Method::Lora(config.clone()));
        let views = self.linear_views();
        let root = self.model.var_store().root();
        for l in linears.iter().filter(|l| targets.contains(&l.name)) {
            let init_a = match config.init {
                // kaiming_uniform_(a=√5) on (r, in): bound = gain·√(3/fan_in), gain = √(2/(1+5)).
                LoraInit::Kaiming => {
                    let bound = 1.0 / (l.fan_in as f64).sqrt();
                    nn::Init::Uniform { lo: -bound, up: bound }
                }
                LoraInit::Gaussian => nn::Init::Randn { mean: 0.0, stdev: 1.0 / config.r as f64 },
            };
            let a = new_var(&root, &format!("{}.lora_A.{name}.weight", l.name), &[config.r, l.fan_in], init_a, l.kind, &mut record)?;
            let b = new_var(&root, &format!("{}.lora_B.{name}.weight", l.name), &[l.fan_out, config.r], nn::Init::Const(0.0), l.kind, &mut record)?;
            let magnitude = match (config.use_dora, views.get(&l.name)) {
                (true, Some(view)) => {
                    // ‖W + s·BA‖ per row, B zero or not (a loaded adapter overwrites it).
                    let m = new_var(&root, &format!("{}.lora_magnitude_vector.{name}.weight", l.name), &[l.fan_out], nn::Init::Const(0.0), l.kind, &mut record)?;
                    tch::no_grad(|| m.shallow_clone().copy_(&dora_norm(&view.weight_out_in(), &b.matmul(&a), scaling)));
                    Some(m)
                }
                _ => None,
            };
            record.layers.push(LayerRecord { linear: l.name.clone(), a, b, scaling, transposed: l.transposed, magnitude });
        }
        drop(root);
        self.copy_saved(name, &saved_names, &mut record)?;

        let mut by_name: BTreeMap<String, &mut crate::models::Linear> = self.model.linears_mut().into_iter().collect();
        for l in &record.layers {
            if let Some(lin) = by_name.get_mut(&l.linear) {
                lin.attach(Box::new(LoraModule {
                    label: format!("lora:{name}"),
                    adapter: name.to_owned(),
                    a: l.a.shallow_clone(),
                    b: l.b.shallow_clone(),
                    scaling,
                    dropout: config.dropout,
                    control: self.control.clone(),
                    dora: l.magnitude.as_ref().map(|m| (m.shallow_clone(), view_of(lin))),
                }));
            }
        }
        drop(by_name);
        self.finish_adapter(name, record);
        Ok(())
    }

    /// Adds an (IA)³ adapter named `name`; the first adapter becomes active.
    pub fn add_ia3_adapter(&mut self, name: &str, config: &Ia3Config) -> Result<()> {
        let (linears, targets, saved_names) = self.plan(name, &config.targets, &config.modules_to_save)?;
        let mut record = AdapterRecord::new(Method::Ia3(config.clone()));
        let root = self.model.var_store().root();
        for l in linears.iter().filter(|l| targets.contains(&l.name)) {
            let feedforward = config.feedforward.matches(&l.name);
            let shape = if feedforward { [1, l.fan_in] } else { [l.fan_out, 1] };
            let scale = new_var(&root, &format!("{}.ia3_l.{name}", l.name), &shape, nn::Init::Const(1.0), l.kind, &mut record)?;
            record.scales.push(ScaleRecord { linear: l.name.clone(), scale, feedforward });
        }
        drop(root);
        self.copy_saved(name, &saved_names, &mut record)?;
        let mut by_name: BTreeMap<String, &mut crate::models::Linear> = self.model.linears_mut().into_iter().collect();
        for s in &record.scales {
            if let Some(lin) = by_name.get_mut(&s.linear) {
                let module = Ia3Module {
                    label: format!("ia3:{name}"),
                    adapter: name.to_owned(),
                    scale: s.scale.shallow_clone(),
                    feedforward: s.feedforward,
                    layer: view_of(lin),
                    control: self.control.clone(),
                };
                lin.attach(Box::new(module));
            }
        }
        drop(by_name);
        self.finish_adapter(name, record);
        Ok(())
    }

    /// Checks the name; returns the linear layers, the targets among them and the layers to
    /// save (targets exclude those, as in PEFT).
    pub(crate) fn plan(&self, name: &str, targets: &Targets, modules_to_save: &Option<Targets>) -> Result<(Vec<LinearShape>, Vec<String>, Vec<String>)> {
        self.check_new_name(name)?;
        if let Some((other, _)) = self.adapters.iter().find(|(_, a)| matches!(a.method, Method::Prompt(_) | Method::Prefix(_))) {
            return Err(Error::config(
                "adapter_name",
                format!("adapter `{other}` is prompt or prefix tuning, which take the whole model: delete it before adding `{name}`"),
            ));
        }
        let linears = self.linear_shapes();
        let names: Vec<&str> = linears.iter().map(|l| l.name.as_str()).collect();
        let saved = match modules_to_save {
            Some(t) => t.select(names.iter().copied())?,
            None => Vec::new(),
        };
        let mut chosen = targets.select(names.iter().copied())?;
        chosen.retain(|n| !saved.contains(n));
        Ok((linears, chosen, saved))
    }

    pub(crate) fn check_new_name(&self, name: &str) -> Result<()> {
        if name.is_empty() || name.contains('.') {
            return Err(Error::config("adapter_name", format!("`{name}`: must be non-empty and without dots")));
        }
        if self.adapters.contains_key(name) {
            return Err(Error::config("adapter_name", format!("an adapter named `{name}` exists; delete it first or pick another name")));
        }
        Ok(())
    }

    /// Each linear layer's own weight and bias, by name.
    fn linear_views(&self) -> BTreeMap<String, LinearView> {
        self.model.linears().into_iter().map(|(n, l)| (n, view_of(l))).collect()
    }

    fn linear_shapes(&self) -> Vec<LinearShape> {
        self.model
            .linears()
            .into_iter()
            .map(|(name, l)| LinearShape {
                name,
                fan_in: l.in_features(),
                fan_out: l.out_features(),
                transposed: l.is_transposed(),
                kind: l.weight.kind(),
            })
            .collect()
    }

    /// Trainable copies of the `modules_to_save` layers, attached so that they replace the
    /// originals while the adapter is active.
    pub(crate) fn copy_saved(&mut self, name: &str, saved_names: &[String], record: &mut AdapterRecord) -> Result<()> {
        let originals: BTreeMap<String, (Tensor, Option<Tensor>)> = self
            .model
            .linears()
            .into_iter()
            .filter(|(n, _)| saved_names.contains(n))
            .map(|(n, l)| (n, (l.weight.shallow_clone(), l.bias.as_ref().map(Tensor::shallow_clone))))
            .collect();
        let root = self.model.var_store().root();
        for (lname, (w, bias)) in &originals {
            let p = var_path(root.clone(), &format!("{lname}.modules_to_save.{name}"));
            let weight = p.f_var_copy("weight", &w.detach())?;
            record.var_names.push(format!("{lname}.modules_to_save.{name}.weight"));
            let bias = match bias {
                Some(b) => {
                    record.var_names.push(format!("{lname}.modules_to_save.{name}.bias"));
                    Some(p.f_var_copy("bias", &b.detach())?)
                }
                None => None,
            };
            record.saved.push(SavedRecord { linear: lname.clone(), weight, bias });
        }
        drop(root);
        let mut by_name: BTreeMap<String, &mut crate::models::Linear> = self.model.linears_mut().into_iter().collect();
        for s in &record.saved {
            if let Some(lin) = by_name.get_mut(&s.linear) {
                let transposed = lin.is_transposed();
                lin.attach(Box::new(SavedModule {
                    label: format!("modules_to_save:{name}"),
                    adapter: name.to_owned(),
                    copy: LinearView {
                        weight: s.weight.shallow_clone(),
                        bias: s.bias.as_ref().map(Tensor::shallow_clone),
                        transposed,
                    },
                    control: self.control.clone(),
                }));
            }
        }
        Ok(())
    }

    pub(crate) fn finish_adapter(&mut self, name: &str, record: AdapterRecord) {
        let first = self.adapters.is_empty();
        self.adapters.insert(name.to_owned(), record);
        if first {
            lock(&self.control).active = name.to_owned();
        }
        self.mark_trainable();
    }

    /// Only the active adapter's tensors, its saved modules and the biases its `bias` names train.
    fn mark_trainable(&self) {
        let active = lock(&self.control).active.clone();
        let Some(rec) = self.adapters.get(&active) else { return };
        let own: std::collections::BTreeSet<&str> = rec.var_names.iter().map(String::as_str).collect();
        let lora_biases: Vec<String> = rec.layers.iter().map(|l| format!("{}.bias", l.linear)).collect();
        let bias = match &rec.method {
            Method::Lora(c) => c.bias,
            _ => LoraBias::None,
        };
        set_trainable(self, |n| {
            own.contains(n)
                || match bias {
                    LoraBias::None => false,
                    LoraBias::LoraOnly => lora_biases.iter().any(|b| b == n),
                    LoraBias::All => n.ends_with(".bias") && !is_adapter_var(n),
                }
        });
    }

    pub(crate) fn require(&self, name: &str) -> Result<&AdapterRecord> {
        self.adapters.get(name).ok_or_else(|| {
            Error::config("adapter_name", format!("no adapter `{name}`; adapters: {}", self.adapter_names().join(", ")))
        })
    }

    /// Makes `name` the active adapter (unmerging a merged one first); only its tensors train.
    pub fn set_adapter(&mut self, name: &str) -> Result<()> {
        self.require(name)?;
        self.unmerge()?;
        lock(&self.control).active = name.to_owned();
        self.mark_trainable();
        self.sync_prompt_slots();
        Ok(())
    }

    /// Turns every adapter off (unmerging first): the base model's outputs.
    pub fn disable_adapters(&mut self) -> Result<()> {
        self.unmerge()?;
        lock(&self.control).enabled = false;
        self.sync_prompt_slots();
        Ok(())
    }

    /// Turns the active adapter back on.
    pub fn enable_adapters(&mut self) {
        lock(&self.control).enabled = true;
        self.sync_prompt_slots();
    }

    /// Deletes adapter `name`: its modules leave the layers and its tensors the store. When it
    /// was active, the first remaining adapter becomes active.
    pub fn delete_adapter(&mut self, name: &str) -> Result<()> {
        self.require(name)?;
        if lock(&self.control).merged.contains(name) {
            self.unmerge()?;
        }
        let labels = attachment_labels(name);
        self.detach_where(|label| labels.iter().any(|l| l == label));
        if let Some(rec) = self.adapters.remove(name) {
            remove_vars(self.model.var_store(), &rec.var_names);
        }
        let next = self.adapters.keys().next().cloned();
        let was_active = lock(&self.control).active == name;
        if let (true, Some(next)) = (was_active, next) {
            lock(&self.control).active = next;
            self.mark_trainable();
        }
        self.sync_prompt_slots();
        Ok(())
    }

    pub(crate) fn detach_where(&mut self, remove: impl Fn(&str) -> bool) {
        for (_, lin) in self.model.linears_mut() {
            let kept: Vec<_> = lin.detach_all().into_iter().filter(|a| !remove(a.name())).collect();
            for a in kept {
                lin.attach(a);
            }
        }
    }
}

/// The labels under which adapter `name`'s modules attach to linear layers.
pub(crate) fn attachment_labels(name: &str) -> [String; 4] {
    [format!("lora:{name}"), format!("ia3:{name}"), format!("modules_to_save:{name}"), format!("bottleneck:{name}")]
}

pub(crate) fn is_adapter_var(name: &str) -> bool {
    name.contains(".lora_A.") || name.contains(".lora_magnitude_vector.") || name.contains(".lora_B.") || name.contains(".ia3_l.") || name.contains(".modules_to_save.") || name.starts_with("prompt_encoder.") || name.contains(".adapters.")
}

pub(crate) fn remove_vars(vs: &nn::VarStore, names: &[String]) {
    let mut vars = vs.variables_.lock().unwrap_or_else(|p| p.into_inner());
    for n in names {
        if let Some(t) = vars.named_variables.remove(n) {
            let ptr = t.data_ptr();
            vars.trainable_variables.retain(|v| v.tensor.data_ptr() != ptr);
        }
    }
}

impl<M: PretrainedModel> PretrainedModel for Tuned<M> {
    type Config = M::Config;
    const ARCHITECTURE: &'static str = M::ARCHITECTURE;
    const BASE_PREFIX: &'static str = M::BASE_PREFIX;
    const TIED_KEYS: &'static [&'static str] = M::TIED_KEYS;

    fn build(vs: nn::VarStore, config: Self::Config) -> Result<Self> {
        M::build(vs, config).map(Tuned::wrap)
    }
    fn config(&self) -> &Self::Config {
        self.model.config()
    }
    fn state(&self) -> &ModelState {
        self.model.state()
    }
    fn state_mut(&mut self) -> &mut ModelState {
        self.model.state_mut()
    }
    fn linears_mut(&mut self) -> Vec<(String, &mut crate::models::Linear)> {
        self.model.linears_mut()
    }
    fn linears(&self) -> Vec<(String, &crate::models::Linear)> {
        self.model.linears()
    }
    fn tuning_hooks(&mut self) -> crate::models::prefix::TuningHooks<'_> {
        self.model.tuning_hooks()
    }
    /// Also turns the adapters' dropout on or off.
    fn set_training(&mut self, training: bool) {
        self.model.set_training(training);
        lock(&self.control).training = training;
    }
    fn summary(&self) -> ModelSummary {
        self.model.summary()
    }
    /// As PEFT's `PeftModel.save_pretrained`: with adapters, writes the adapters only
    /// ([`Tuned::save_adapter`]); without, the whole model. For a plain model with the
    /// adapters folded in, use [`Tuned::merge_and_unload`] and save that.
    fn save_pretrained(&self, dir: impl AsRef<std::path::Path>) -> Result<()> {
        if self.adapters.is_empty() {
            self.model.save_pretrained(dir)
        } else {
            self.save_adapter(dir)
        }
    }
}

impl<M: PretrainedModel> Render for Tuned<M> {
    fn render(&self) -> MimeBundle {
        self.summary().render()
    }
}

impl<M: PretrainedModel> Tuned<M> {
    /// Called by evcxr when this value ends a cell: the summary with PEFT's line.
    pub fn evcxr_display(&self) {
        crate::display::evcxr_print(&self.render());
    }
}

/// A tuned model trains with the [`Trainer`](crate::train::Trainer) as its base model does: the
/// loss runs through the adapters, and the optimiser takes the variables that require
/// gradients, the adapters' among them.
impl<M: crate::train::Objective> crate::train::Objective for Tuned<M> {
    const TASK: &'static str = M::TASK;
    const CLASSIFIES: bool = M::CLASSIFIES;

    fn compute(&self, batch: &crate::data::Batch, options: &crate::train::LossOptions) -> Result<crate::train::StepOutput> {
        self.model.compute(batch, options)
    }
}
