//! What every model can do with Hugging Face checkpoints: `from_pretrained`, `save_pretrained`,
//! moving between devices and dtypes, listing its linear layers by name. Mirrors
//! `transformers/modeling_utils.py` (`PreTrainedModel`).

use super::checkpoint::{load_into, write_safetensors, Checkpoint, LoadPlan, LoadReport};
use super::config::ModelConfig;
use super::linear::Linear;
use super::summary::ModelSummary;
use crate::{Error, Result};
use serde_json::Value;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Device, Kind, Tensor};

/// Tokenizer files that `save_pretrained` copies along when the model was loaded from a
/// directory that has them.
const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
];

/// The state every model carries besides its layers: its variables, where they came from and
/// whether it is training (dropout on) or evaluating.
#[derive(Debug)]
pub struct ModelState {
    pub(crate) vs: VarStore,
    pub(crate) report: Option<LoadReport>,
    pub(crate) source_dir: Option<PathBuf>,
    pub(crate) training: bool,
}

impl ModelState {
    pub(crate) fn new(vs: VarStore) -> Self {
        crate::device::keep_freed_memory();
        ModelState { vs, report: None, source_dir: None, training: false }
    }
}

/// A model whose variables are named by Hugging Face checkpoint keys.
///
/// ```no_run
/// use tuna::prelude::*;
/// use tuna::models::*;
/// let model = BertForSequenceClassification::pretrained("models/minilm").num_labels(3).load()?;
/// model.load_report()   // shown as a table when it ends a cell
/// # ; Ok::<(), tuna::Error>(())
/// ```
pub trait PretrainedModel: Sized {
    /// The configuration type.
    type Config: ModelConfig;
    /// The `transformers` class this model mirrors, written to `architectures`.
    const ARCHITECTURE: &'static str;
    /// Prefix of the base model's keys inside task models: "bert", "transformer", "vit".
    const BASE_PREFIX: &'static str;
    /// Checkpoint keys of tensors shared with another variable (tied weights): accepted when
    /// loading, not written when saving (as `transformers` does).
    const TIED_KEYS: &'static [&'static str] = &[];

    /// Builds the model with freshly initialised weights (as Hugging Face initialises them)
    /// in `vs`, on `vs`'s device.
    fn build(vs: VarStore, config: Self::Config) -> Result<Self>;
    /// The configuration.
    fn config(&self) -> &Self::Config;
    /// Variables, load report, mode.
    fn state(&self) -> &ModelState;
    /// Mutable access to the same.
    fn state_mut(&mut self) -> &mut ModelState;
    /// Every linear layer with its full dotted name (the checkpoint key without `.weight`),
    /// for attaching adapters by name.
    fn linears_mut(&mut self) -> Vec<(String, &mut Linear)>;
    /// Every linear layer with its full dotted name.
    fn linears(&self) -> Vec<(String, &Linear)>;
    /// The prompt and prefix slots (prompt and prefix tuning); none by default.
    fn tuning_hooks(&mut self) -> super::prefix::TuningHooks<'_> {
        super::prefix::TuningHooks::default()
    }

    /// A freshly initialised model on the CPU.
    fn new(config: Self::Config) -> Result<Self> {
        config.validate()?;
        Self::build(VarStore::new(Device::Cpu), config)
    }

    /// Loads `config.json` and the safetensors checkpoint from `dir`, on the CPU, in eval mode.
    fn from_pretrained(dir: impl AsRef<Path>) -> Result<Self> {
        Self::pretrained(dir).load()
    }

    /// A loader with options: `.num_labels(n)`, `.ignore_mismatched_sizes()`, `.device(d)`, `.kind(k)`.
    fn pretrained(dir: impl AsRef<Path>) -> FromPretrained<Self> {
        FromPretrained::new(dir)
    }

    /// The variable store holding every parameter under its checkpoint key.
    fn var_store(&self) -> &VarStore {
        &self.state().vs
    }

    /// Mutable access to the variable store, for freezing (`freeze`, `unfreeze`) and the like.
    fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.state_mut().vs
    }

    /// What the last `from_pretrained` loaded, initialised and ignored.
    fn load_report(&self) -> Option<&LoadReport> {
        self.state().report.as_ref()
    }

    /// Whether dropout is on.
    fn is_training(&self) -> bool {
        self.state().training
    }

    /// Turns dropout on (training) or off (evaluation).
    fn set_training(&mut self, training: bool) {
        self.state_mut().training = training;
    }

    /// The device the parameters live on.
    fn device(&self) -> Device {
        self.state().vs.device()
    }

    /// Moves every parameter to `device`.
    fn to(mut self, device: Device) -> Self {
        self.state_mut().vs.set_device(device);
        self
    }

    /// Casts the floating-point parameters to `kind` (`Kind::BFloat16`, `Kind::Float`, …).
    fn to_kind(mut self, kind: Kind) -> Self {
        let vs = &mut self.state_mut().vs;
        match kind {
            Kind::BFloat16 => vs.bfloat16(),
            Kind::Half => vs.half(),
            Kind::Double => vs.double(),
            _ => vs.float(),
        }
        self
    }

    /// Number of parameters (tied weights counted once).
    fn num_parameters(&self) -> i64 {
        self.state().vs.variables().values().map(|t| t.numel() as i64).sum()
    }

    /// Modules, shapes and parameter counts, trainable or frozen; renders as a table.
    fn summary(&self) -> ModelSummary {
        ModelSummary::new(Self::ARCHITECTURE, &self.state().vs, &self.linears())
    }

    /// Writes `config.json` (with `architectures` and `model_type`) and `model.safetensors`
    /// to `dir`, which `transformers`' `from_pretrained` loads; copies the tokenizer files of
    /// the directory the model came from.
    fn save_pretrained(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let state = self.state();
        let mut config = serde_json::to_value(self.config())
            .map_err(|e| Error::msg(format!("cannot serialise the config: {e}")))?;
        if let Value::Object(map) = &mut config {
            map.insert("architectures".into(), Value::from(vec![Self::ARCHITECTURE]));
            map.insert("model_type".into(), Value::from(Self::Config::MODEL_TYPE));
            let dtype = match super::layers::float_kind(&state.vs) {
                Kind::BFloat16 => "bfloat16",
                Kind::Half => "float16",
                Kind::Double => "float64",
                _ => "float32",
            };
            map.insert("dtype".into(), Value::from(dtype));
        }
        let path = dir.join("config.json");
        let text = serde_json::to_string_pretty(&config).map_err(|source| Error::Json { path: path.clone(), source })?;
        std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))?;

        let mut tensors: Vec<(String, Tensor)> = state.vs.variables().into_iter().collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        write_safetensors(&dir.join(super::checkpoint::WEIGHTS_NAME), &tensors)?;

        if let Some(src) = &state.source_dir {
            for file in TOKENIZER_FILES {
                let from = src.join(file);
                if from.is_file() && from.canonicalize().ok() != dir.join(file).canonicalize().ok() {
                    std::fs::copy(&from, dir.join(file)).map_err(|e| Error::io(&from, e))?;
                }
            }
        }
        Ok(())
    }
}

/// A change to a configuration before the model is built.
type ConfigEdit<M> = Box<dyn FnOnce(&mut <M as PretrainedModel>::Config)>;

/// Loads a model from a Hugging Face checkpoint directory, with options.
///
/// ```no_run
/// use tuna::models::*;
/// use tch::{Device, Kind};
/// let model = BertForTokenClassification::pretrained("models/minilm")
///     .num_labels(9)
///     .device(Device::cuda_if_available())
///     .kind(Kind::BFloat16)
///     .load()?;
/// # Ok::<(), tuna::Error>(())
/// ```
pub struct FromPretrained<M: PretrainedModel> {
    dir: PathBuf,
    num_labels: Option<usize>,
    ignore_mismatched_sizes: bool,
    device: Device,
    kind: Kind,
    configure: Vec<ConfigEdit<M>>,
    model: PhantomData<M>,
}

impl<M: PretrainedModel> FromPretrained<M> {
    /// A loader for the checkpoint in `dir`, on the CPU, in f32.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        FromPretrained {
            dir: dir.as_ref().to_owned(),
            num_labels: None,
            ignore_mismatched_sizes: false,
            device: Device::Cpu,
            kind: Kind::Float,
            configure: Vec::new(),
            model: PhantomData,
        }
    }

    /// Sets the number of labels of the classification head (a head of another size in the
    /// checkpoint then needs `.ignore_mismatched_sizes()`).
    pub fn num_labels(mut self, n: usize) -> Self {
        self.num_labels = Some(n);
        self
    }

    /// Re-initialises tensors whose checkpoint shape differs from the model's instead of failing.
    pub fn ignore_mismatched_sizes(mut self) -> Self {
        self.ignore_mismatched_sizes = true;
        self
    }

    /// The device to load onto (default CPU).
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// The floating-point kind of the parameters (default `Kind::Float`).
    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Changes the configuration read from `config.json` before the model is built
    /// (for example the dropout).
    pub fn configure(mut self, f: impl FnOnce(&mut M::Config) + 'static) -> Self {
        self.configure.push(Box::new(f));
        self
    }

    /// Reads, builds and loads; the model starts in eval mode, as in `transformers`.
    pub fn load(self) -> Result<M> {
        let config_path = self.dir.join("config.json");
        if !config_path.is_file() {
            return Err(Error::Checkpoint {
                path: config_path,
                message: "not found: a Hugging Face model directory needs config.json beside model.safetensors".into(),
            });
        }
        let mut config = M::Config::from_file(&config_path)?;
        if let Some(n) = self.num_labels {
            config.set_num_labels(n);
        }
        for f in self.configure {
            f(&mut config);
        }
        config.validate()?;
        let ckpt = Checkpoint::from_dir(&self.dir)?;
        let mut model = M::build(VarStore::new(self.device), config)?;
        let plan = LoadPlan {
            base_prefix: M::BASE_PREFIX,
            tied_keys: M::TIED_KEYS,
            ignore_mismatched_sizes: self.ignore_mismatched_sizes,
        };
        let report = load_into(model.var_store(), &ckpt, &plan)?;
        if !report.missing.is_empty() || !report.mismatched.is_empty() {
            eprintln!("{}: {}", M::ARCHITECTURE, report.summary());
        }
        let state = model.state_mut();
        state.report = Some(report);
        state.source_dir = Some(self.dir);
        state.training = false;
        Ok(if self.kind == Kind::Float { model } else { model.to_kind(self.kind) })
    }
}

pub(crate) fn named(v: Vec<&mut Linear>) -> Vec<(String, &mut Linear)> {
    v.into_iter().map(|l| (l.name().to_owned(), l)).collect()
}

pub(crate) fn named_ref(v: Vec<&Linear>) -> Vec<(String, &Linear)> {
    v.into_iter().map(|l| (l.name().to_owned(), l)).collect()
}

/// Implements `PretrainedModel`'s accessors, `Render` (the summary) and evcxr display for a
/// model struct with fields `state` and `config`.
macro_rules! model_boilerplate {
    ($ty:ty, $config:ty, $arch:literal, $prefix:literal, [$($tied:literal),*], |$s:ident| $linears:expr, |$r:ident| $linears_ref:expr) => {
        $crate::models::pretrained::model_boilerplate!(
            $ty, $config, $arch, $prefix, [$($tied),*], |$s| $linears, |$r| $linears_ref,
            hooks |_h| $crate::models::prefix::TuningHooks::default()
        );
    };
    // `hooks`: the prompt and prefix slots (see `prefix.rs`), for models that have them.
    ($ty:ty, $config:ty, $arch:literal, $prefix:literal, [$($tied:literal),*], |$s:ident| $linears:expr, |$r:ident| $linears_ref:expr, hooks |$h:ident| $hooks:expr) => {
        impl $crate::models::PretrainedModel for $ty {
            type Config = $config;
            const ARCHITECTURE: &'static str = $arch;
            const BASE_PREFIX: &'static str = $prefix;
            const TIED_KEYS: &'static [&'static str] = &[$($tied),*];
            fn build(vs: tch::nn::VarStore, config: $config) -> $crate::Result<Self> {
                <$ty>::build_in(vs, config)
            }
            fn config(&self) -> &$config {
                &self.config
            }
            fn state(&self) -> &$crate::models::ModelState {
                &self.state
            }
            fn state_mut(&mut self) -> &mut $crate::models::ModelState {
                &mut self.state
            }
            fn linears_mut(&mut self) -> Vec<(String, &mut $crate::models::Linear)> {
                let $s = self;
                $crate::models::pretrained::named($linears)
            }
            fn linears(&self) -> Vec<(String, &$crate::models::Linear)> {
                let $r = self;
                $crate::models::pretrained::named_ref($linears_ref)
            }
            fn tuning_hooks(&mut self) -> $crate::models::prefix::TuningHooks<'_> {
                let $h = self;
                $hooks
            }
        }

        impl $crate::display::Render for $ty {
            fn render(&self) -> $crate::display::MimeBundle {
                $crate::display::Render::render(&$crate::models::PretrainedModel::summary(self))
            }
        }

        $crate::impl_evcxr_display!($ty);
    };
}
pub(crate) use model_boilerplate;
