//! Prompt tuning (Lester et al. 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning")
//! and prefix tuning (Li & Liang 2021, "Prefix-Tuning: Optimizing Continuous Prompts for
//! Generation"), as PEFT 0.21 implements them (`peft/tuners/{prompt_tuning,prefix_tuning}`):
//! n trained virtual-token vectors put before the input embeddings (PEFT's `PromptEmbedding`);
//! or n trained key/value vectors per attention layer, read from a table (n, layers·2·hidden),
//! optionally produced by an MLP from a smaller table (PEFT's `PrefixEncoder` with
//! `prefix_projection`). The base model stays frozen.
//!
//! As in PEFT, the virtual tokens see and are seen by every token (the attention mask grows by
//! n ones), take segment 0 and positions 0…n−1 (so BERT's classifier pools the first virtual
//! token), and GPT-2's logits cover them too; a prefix shifts the positions of the real tokens by
//! n, as `past_key_values` does in `transformers`.

use super::select::Targets;
use crate::text::Tokenizer;
use crate::{Error, Result};
use std::path::PathBuf;

/// How the virtual tokens start (PEFT's `PromptTuningInit`).
#[derive(Debug, Clone, PartialEq)]
pub enum PromptInit {
    /// Normal(0, 1) (PEFT's `RANDOM`, the default).
    Random,
    /// The word embeddings of this text's tokens, with special tokens, cut or repeated to n
    /// (PEFT's `TEXT` with `prompt_tuning_init_text`).
    Text(String),
    /// The word embeddings of n tokens drawn uniformly from the vocabulary (PEFT's `SAMPLE_VOCAB`).
    SampleVocab,
}

/// A prompt-tuning configuration, PEFT's `PromptTuningConfig`.
///
/// ```no_run
/// use tuna::tune::{PromptInit, PromptTuningConfig};
/// let pt = PromptTuningConfig::new(20).init(PromptInit::Text("Classify the sentiment:".into())).modules_to_save(["classifier"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PromptTuningConfig {
    /// Number of virtual tokens n (≥ 1).
    pub num_virtual_tokens: i64,
    /// Initialisation.
    pub init: PromptInit,
    /// The tokenizer for [`PromptInit::Text`] (a `tokenizer.json` or its folder); default: the
    /// model's own checkpoint folder.
    pub tokenizer: Option<PathBuf>,
    /// Layers trained in full as copies saved with the adapter (the classifier head). Default none.
    pub modules_to_save: Option<Targets>,
}

impl PromptTuningConfig {
    /// `n` virtual tokens, initialised at random.
    pub fn new(n: i64) -> Self {
        PromptTuningConfig { num_virtual_tokens: n, init: PromptInit::Random, tokenizer: None, modules_to_save: None }
    }
    /// Sets the initialisation.
    pub fn init(mut self, init: PromptInit) -> Self {
        self.init = init;
        self
    }
    /// Sets the tokenizer used by [`PromptInit::Text`].
    pub fn tokenizer(mut self, path: impl Into<PathBuf>) -> Self {
        self.tokenizer = Some(path.into());
        self
    }
    /// Sets `modules_to_save` (linear layers only, such as `classifier`).
    pub fn modules_to_save(mut self, modules: impl Into<Targets>) -> Self {
        self.modules_to_save = Some(modules.into());
        self
    }
}

/// A prefix-tuning configuration, PEFT's `PrefixTuningConfig`.
///
/// ```no_run
/// use tuna::tune::PrefixTuningConfig;
/// let px = PrefixTuningConfig::new(10).projection(128).modules_to_save(["classifier"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixTuningConfig {
    /// Number of prefix positions n (≥ 1).
    pub num_virtual_tokens: i64,
    /// The reparameterisation MLP's hidden width (`prefix_projection` with `encoder_hidden_size`);
    /// `None`: the table is trained directly.
    pub projection: Option<i64>,
    /// Layers trained in full as copies saved with the adapter (the classifier head). Default none.
    pub modules_to_save: Option<Targets>,
}

impl PrefixTuningConfig {
    /// `n` prefix positions per layer, no projection.
    pub fn new(n: i64) -> Self {
        PrefixTuningConfig { num_virtual_tokens: n, projection: None, modules_to_save: None }
    }
    /// Produces the table with the MLP Linear(hidden, `width`) → tanh → Linear(`width`, layers·2·hidden).
    pub fn projection(mut self, width: i64) -> Self {
        self.projection = Some(width);
        self
    }
    /// Sets `modules_to_save` (linear layers only, such as `classifier`).
    pub fn modules_to_save(mut self, modules: impl Into<Targets>) -> Self {
        self.modules_to_save = Some(modules.into());
        self
    }
}

pub(crate) fn check_tokens(n: i64) -> Result<()> {
    if n < 1 {
        return Err(Error::config("num_virtual_tokens", format!("must be at least 1, got {n}")));
    }
    Ok(())
}

/// PEFT's `TEXT` initialisation: the text's ids (special tokens included), cut or repeated to `n`.
pub(crate) fn text_ids(text: &str, tokenizer: &std::path::Path, n: i64) -> Result<Vec<i64>> {
    let tok = Tokenizer::from_file(tokenizer)?;
    let ids: Vec<i64> = tok.encode(text)?.ids.into_iter().map(i64::from).collect();
    if ids.is_empty() {
        return Err(Error::config("prompt_tuning_init_text", "the text has no tokens"));
    }
    Ok(ids.iter().cycle().take(n as usize).copied().collect())
}

use super::lora::lock;
use super::tuned::{AdapterRecord, Method, Tuned};
use crate::models::prefix::{KvPrefix, PrefixTable};
use crate::models::PretrainedModel;
use std::sync::{Arc, Mutex};
use tch::{nn, Kind, Tensor};

impl<M: PretrainedModel> Tuned<M> {
    /// Adds a prompt-tuning adapter named `name`. Prompt and prefix tuning take the whole
    /// model: no other adapter may be present.
    pub fn add_prompt_adapter(&mut self, name: &str, config: &PromptTuningConfig) -> Result<()> {
        check_tokens(config.num_virtual_tokens)?;
        self.check_prompt_learning(name)?;
        let hooks = self.model.tuning_hooks();
        let shape = (hooks.prefixes.len() as i64, hooks.heads, hooks.hidden);
        let (Some(_), Some(words)) = (hooks.prompt, hooks.word_embeddings) else {
            return Err(Error::config("peft_type", format!("prompt tuning needs a text model; {} has no token embeddings", M::ARCHITECTURE)));
        };
        let n = config.num_virtual_tokens;
        let (vocab, hidden) = words.size2()?;
        let start: Tensor = match &config.init {
            PromptInit::Random => Tensor::randn([n, hidden], (Kind::Float, words.device())),
            PromptInit::SampleVocab => words.index_select(0, &Tensor::randint(vocab, [n], (Kind::Int64, words.device()))),
            PromptInit::Text(text) => {
                let dir = match (&config.tokenizer, &self.model.state().source_dir) {
                    (Some(t), _) => t.clone(),
                    (None, Some(d)) => d.clone(),
                    (None, None) => {
                        return Err(Error::config("tokenizer_name_or_path", "PromptInit::Text needs a tokenizer: set `.tokenizer(path)`"))
                    }
                };
                let ids = text_ids(text, &dir, n)?;
                if let Some(bad) = ids.iter().find(|&&i| i >= vocab) {
                    return Err(Error::config("tokenizer_name_or_path", format!("token id {bad} is outside this model's vocabulary of {vocab}: another model's tokenizer?")));
                }
                words.index_select(0, &Tensor::from_slice(&ids).to_device(words.device()))
            }
        };
        let mut record = AdapterRecord::new(Method::Prompt(config.clone()));
        record.shape = shape;
        let root = self.model.var_store().root();
        let p = root.clone() / "prompt_encoder" / name / "embedding";
        let emb = p.f_var_copy("weight", &start.detach().to_kind(words.kind()))?;
        record.var_names.push(format!("prompt_encoder.{name}.embedding.weight"));
        drop(root);
        record.prompt = Some(emb);
        self.saved_copies(name, &config.modules_to_save, &mut record)?;
        self.finish_adapter(name, record);
        self.sync_prompt_slots();
        Ok(())
    }

    /// Adds a prefix-tuning adapter named `name` (the only adapter of the model).
    pub fn add_prefix_adapter(&mut self, name: &str, config: &PrefixTuningConfig) -> Result<()> {
        check_tokens(config.num_virtual_tokens)?;
        self.check_prompt_learning(name)?;
        let hooks = self.model.tuning_hooks();
        let (layers, hidden, heads) = (hooks.prefixes.len() as i64, hooks.hidden, hooks.heads);
        if layers == 0 {
            return Err(Error::config("peft_type", format!("{} has no attention layer to give a prefix", M::ARCHITECTURE)));
        }
        let kind = self.model.linears().first().map_or(Kind::Float, |(_, l)| l.weight.kind());
        let n = config.num_virtual_tokens;
        let mut record = AdapterRecord::new(Method::Prefix(config.clone()));
        record.shape = (layers, heads, hidden);
        let root = self.model.var_store().root();
        let enc = root.clone() / "prompt_encoder" / name;
        let mut var = |path: nn::Path, pname: &str, full: String, shape: &[i64], init: nn::Init| -> Result<Tensor> {
            let t = path.f_var(pname, shape, init)?;
            if t.kind() != kind {
                tch::no_grad(|| t.shallow_clone().set_data(&t.to_kind(kind)));
            }
            record.var_names.push(full);
            Ok(t)
        };
        let normal = nn::Init::Randn { mean: 0.0, stdev: 1.0 };
        // nn.Linear's default: weight and bias uniform(±1/√fan_in).
        let uniform = |fan_in: i64| nn::Init::Uniform { lo: -1.0 / (fan_in as f64).sqrt(), up: 1.0 / (fan_in as f64).sqrt() };
        let out = layers * 2 * hidden;
        let (embedding, projection) = match config.projection {
            None => (var(&enc / "embedding", "weight", format!("prompt_encoder.{name}.embedding.weight"), &[n, out], normal)?, None),
            Some(width) => {
                if width < 1 {
                    return Err(Error::config("encoder_hidden_size", format!("must be at least 1, got {width}")));
                }
                let e = var(&enc / "embedding", "weight", format!("prompt_encoder.{name}.embedding.weight"), &[n, hidden], normal)?;
                let t = &enc / "transform";
                let w1 = var(&t / "0", "weight", format!("prompt_encoder.{name}.transform.0.weight"), &[width, hidden], uniform(hidden))?;
                let b1 = var(&t / "0", "bias", format!("prompt_encoder.{name}.transform.0.bias"), &[width], uniform(hidden))?;
                let w2 = var(&t / "2", "weight", format!("prompt_encoder.{name}.transform.2.weight"), &[out, width], uniform(width))?;
                let b2 = var(&t / "2", "bias", format!("prompt_encoder.{name}.transform.2.bias"), &[out], uniform(width))?;
                (e, Some([w1, b1, w2, b2]))
            }
        };
        drop(root);
        record.prefix = Some(Arc::new(Mutex::new(PrefixTable { embedding, projection, heads, layers })));
        self.saved_copies(name, &config.modules_to_save, &mut record)?;
        self.finish_adapter(name, record);
        self.sync_prompt_slots();
        Ok(())
    }

    fn check_prompt_learning(&self, name: &str) -> Result<()> {
        self.check_new_name(name)?;
        if let Some(other) = self.adapters.keys().next() {
            return Err(Error::config(
                "adapter_name",
                format!("prompt and prefix tuning take the whole model, which already has adapter `{other}`: delete it first"),
            ));
        }
        Ok(())
    }

    /// Trainable copies of the `modules_to_save` layers.
    fn saved_copies(&mut self, name: &str, modules: &Option<Targets>, record: &mut AdapterRecord) -> Result<()> {
        let Some(t) = modules else { return Ok(()) };
        let names: Vec<String> = self.model.linears().into_iter().map(|(n, _)| n).collect();
        let chosen = t.select(names.iter().map(String::as_str))?;
        self.copy_saved(name, &chosen, record)
    }

    /// Puts the active prompt or prefix into the model's slots, or clears them when adapters
    /// are off or the active adapter is of another kind.
    pub(crate) fn sync_prompt_slots(&mut self) {
        let (active, enabled) = {
            let c = lock(&self.control);
            (c.active.clone(), c.enabled)
        };
        let rec = self.adapters.get(&active).filter(|_| enabled);
        let prompt = rec.and_then(|r| r.prompt.as_ref().map(Tensor::shallow_clone));
        let prefix = rec.and_then(|r| r.prefix.clone());
        let hooks = self.model.tuning_hooks();
        if let Some(slot) = hooks.prompt {
            *slot = prompt;
        }
        for (i, slot) in hooks.prefixes.into_iter().enumerate() {
            *slot = prefix.as_ref().map(|t| KvPrefix::from_table(t.clone(), i));
        }
    }
}
