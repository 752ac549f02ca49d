//! One value per fine-tuning strategy, so an ablation can loop over them: full fine-tuning,
//! freezing (by name, layer index, embeddings, all but the head), BitFit (Ben Zaken et al. 2021,
//! biases only), LoRA and (IA)³. `strategy.apply(model)` or `model.tune(&strategy)` gives a [`Tuned`]
//! model whose parameters' `requires_grad` say exactly what trains.

use super::ia3::Ia3Config;
use super::bottleneck::{AdapterConfig, AdapterKind};
use super::lora::LoraConfig;
use super::prompt::{PrefixTuningConfig, PromptTuningConfig};
use super::select::{is_embedding, layer_index, module_of, Targets};
use super::tuned::Tuned;
use crate::models::PretrainedModel;
use crate::{Error, Result};

/// What to freeze; everything not frozen trains.
#[derive(Debug, Clone, PartialEq)]
pub enum Freeze {
    /// Parameters whose name or module matches (PEFT's rules; see [`Targets`]).
    Matching(Targets),
    /// The embeddings (`*.embeddings.*`, GPT-2's `wte` and `wpe`).
    Embeddings,
    /// Transformer layers 0 … k−1.
    Lowest(usize),
    /// The last k transformer layers.
    Top(usize),
    /// Everything outside the task head (everything, for a model without a head).
    AllButHead,
}

/// A fine-tuning strategy; see the module documentation.
///
/// ```no_run
/// use tuna::prelude::*;
/// for strategy in [Strategy::Full, Strategy::BitFit, Strategy::freeze([Freeze::Embeddings, Freeze::Lowest(4)]),
///                  Strategy::Lora(LoraConfig::rank(8).alpha(16.0).targets(["query", "value"]))] {
///     let model = BertForSequenceClassification::pretrained("models/minilm").num_labels(3).load()?;
///     let model = model.tune(&strategy)?;
///     println!("{strategy}: {}", model.trainable_line());
/// }
/// # Ok::<(), tuna::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// Every parameter trains.
    Full,
    /// The listed parts are frozen, the rest trains.
    Freeze(Vec<Freeze>),
    /// Only biases train.
    BitFit,
    /// Base frozen; LoRA adapters (and `modules_to_save`, and biases as configured) train.
    Lora(LoraConfig),
    /// Base frozen; (IA)³ scaling vectors (and `modules_to_save`) train.
    Ia3(Ia3Config),
    /// Base frozen; n virtual-token vectors before the input (and `modules_to_save`) train.
    PromptTuning(PromptTuningConfig),
    /// Base frozen; per-layer key/value prefixes (or their MLP) and `modules_to_save` train.
    PrefixTuning(PrefixTuningConfig),
    /// Base frozen; bottleneck adapters (Houlsby, Pfeiffer, parallel) and `modules_to_save` train.
    Adapter(AdapterConfig),
}

impl Strategy {
    /// `Strategy::Freeze` from any list of rules.
    pub fn freeze(rules: impl IntoIterator<Item = Freeze>) -> Self {
        Strategy::Freeze(rules.into_iter().collect())
    }

    /// Applies the strategy to `model`.
    pub fn apply<M: PretrainedModel>(&self, model: M) -> Result<Tuned<M>> {
        let mut tuned = Tuned::wrap(model);
        match self {
            Strategy::Full => set_trainable(&tuned, |_| true),
            Strategy::BitFit => set_trainable(&tuned, |name| name.ends_with(".bias") || name == "bias"),
            Strategy::Freeze(rules) => {
                let frozen = frozen_names::<M>(&tuned, rules)?;
                set_trainable(&tuned, |name| !frozen.contains(name))
            }
            Strategy::Lora(config) => tuned.add_adapter("default", config)?,
            Strategy::Ia3(config) => tuned.add_ia3_adapter("default", config)?,
            Strategy::PromptTuning(config) => tuned.add_prompt_adapter("default", config)?,
            Strategy::PrefixTuning(config) => tuned.add_prefix_adapter("default", config)?,
            Strategy::Adapter(config) => tuned.add_bottleneck_adapter("default", config)?,
        }
        tuned.strategy = Some(self.clone());
        Ok(tuned)
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Strategy::Full => write!(f, "full"),
            Strategy::BitFit => write!(f, "bitfit"),
            Strategy::Freeze(rules) => {
                let parts: Vec<String> = rules
                    .iter()
                    .map(|r| match r {
                        Freeze::Matching(t) => format!("{}", t.to_json()),
                        Freeze::Embeddings => "embeddings".into(),
                        Freeze::Lowest(k) => format!("lowest {k}"),
                        Freeze::Top(k) => format!("top {k}"),
                        Freeze::AllButHead => "all but head".into(),
                    })
                    .collect();
                write!(f, "freeze {}", parts.join(" + "))
            }
            Strategy::Lora(c) => write!(f, "lora r={} alpha={}", c.r, c.alpha),
            Strategy::Ia3(c) => write!(f, "ia3 {}", c.targets.to_json()),
            Strategy::Adapter(c) => write!(
                f,
                "{} adapter r={}{}",
                if c.kind == AdapterKind::Houlsby { "houlsby" } else { "pfeiffer" },
                c.reduction_factor,
                if c.parallel.is_some() { " parallel" } else { "" }
            ),
            Strategy::PromptTuning(c) => write!(f, "prompt tuning n={}", c.num_virtual_tokens),
            Strategy::PrefixTuning(c) => match c.projection {
                Some(w) => write!(f, "prefix tuning n={} mlp={w}", c.num_virtual_tokens),
                None => write!(f, "prefix tuning n={}", c.num_virtual_tokens),
            },
        }
    }
}

/// Applies a strategy with one call: `model.tune(&Strategy::BitFit)?`.
pub trait Tune: PretrainedModel {
    /// See [`Strategy::apply`].
    fn tune(self, strategy: &Strategy) -> Result<Tuned<Self>> {
        strategy.apply(self)
    }
}

impl<M: PretrainedModel> Tune for M {}

pub(crate) fn set_trainable<M: PretrainedModel>(model: &Tuned<M>, trainable: impl Fn(&str) -> bool) {
    for (name, t) in model.var_store().variables() {
        let _ = t.set_requires_grad(trainable(&name));
    }
}

fn frozen_names<M: PretrainedModel>(model: &Tuned<M>, rules: &[Freeze]) -> Result<std::collections::BTreeSet<String>> {
    let mut names: Vec<String> = model.var_store().variables().into_keys().collect();
    names.sort();
    let layers = names.iter().filter_map(|n| layer_index(n)).max().map_or(0, |m| m + 1);
    let head_prefix = format!("{}.", M::BASE_PREFIX);
    let has_head = names.iter().any(|n| n.starts_with(&head_prefix));
    let mut frozen = std::collections::BTreeSet::new();
    for rule in rules {
        let chosen: Vec<&String> = match rule {
            Freeze::Matching(t) => {
                let hit: Vec<&String> = names.iter().filter(|n| t.matches(n) || t.matches(module_of(n))).collect();
                if hit.is_empty() {
                    // Say which names exist, with PEFT's wording.
                    t.select(names.iter().map(String::as_str))?;
                }
                hit
            }
            Freeze::Embeddings => names.iter().filter(|n| is_embedding(n)).collect(),
            Freeze::Lowest(k) => names.iter().filter(|n| layer_index(n).is_some_and(|i| i < *k)).collect(),
            Freeze::Top(k) => names.iter().filter(|n| layer_index(n).is_some_and(|i| i + k >= layers)).collect(),
            Freeze::AllButHead => names.iter().filter(|n| !has_head || n.starts_with(&head_prefix)).collect(),
        };
        match rule {
            Freeze::Lowest(k) | Freeze::Top(k) if *k > layers => {
                return Err(Error::config("layers", format!("cannot freeze {k} layers: the model has {layers}")));
            }
            _ => {}
        }
        frozen.extend(chosen.into_iter().cloned());
    }
    Ok(frozen)
}
