//! Prompt- and prefix-tuning adapters on disk in PEFT 0.21's layout (`peft/utils/save_and_load.py`):
//! `adapter_config.json` (`peft_type` `PROMPT_TUNING` / `PREFIX_TUNING`, `task_type`, `num_virtual_tokens`,
//! `token_dim`, `num_layers`, …) and `adapter_model.safetensors` with one key `prompt_embeddings`:
//! the virtual tokens (n, hidden), or the prefix table (n, layers·2·hidden) that the MLP produces
//! (PEFT saves the table, not the MLP); saved modules as `base_model.<layer>.weight`; metadata
//! `format: pt`. A loaded prefix is that table, trained directly.

use super::files::{parent_library_of, peft_name, write_json};
use super::prompt::{PrefixTuningConfig, PromptInit, PromptTuningConfig};
use super::select::Targets;
use super::tuned::{AdapterRecord, Method, Tuned};
use crate::models::checkpoint::write_safetensors;
use crate::models::{Checkpoint, PretrainedModel};
use crate::{Error, Result};
use serde_json::{json, Value};
use std::path::Path;
use tch::Tensor;

const WEIGHTS_NAME: &str = "adapter_model.safetensors";

/// PEFT's `task_type` for a model class: prompt learning needs one to know where the tokens go.
pub(crate) fn task_type(arch: &str) -> Option<&'static str> {
    if arch.ends_with("ForSequenceClassification") {
        Some("SEQ_CLS")
    } else if arch.ends_with("ForTokenClassification") {
        Some("TOKEN_CLS")
    } else if arch.ends_with("LMHeadModel") || arch.ends_with("ForCausalLM") {
        Some("CAUSAL_LM")
    } else if arch == "BertModel" || arch == "GPT2Model" {
        Some("FEATURE_EXTRACTION")
    } else {
        None
    }
}

impl<M: PretrainedModel> Tuned<M> {
    pub(crate) fn save_prompt_learning(&self, rec: &AdapterRecord, dir: &Path) -> Result<()> {
        let arch = M::ARCHITECTURE;
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        let (layers, heads, hidden) = rec.shape;
        let (peft_type, n, modules, extra) = match &rec.method {
            Method::Prompt(c) => {
                let p = rec.prompt.as_ref().ok_or_else(|| Error::msg("prompt adapter without its tensor"))?;
                tensors.push(("prompt_embeddings".into(), p.detach()));
                let (init, text) = match &c.init {
                    PromptInit::Random => ("RANDOM", Value::Null),
                    PromptInit::SampleVocab => ("SAMPLE_VOCAB", Value::Null),
                    PromptInit::Text(t) => ("TEXT", json!(t)),
                };
                let tokenizer = match (&c.init, &c.tokenizer, &self.state().source_dir) {
                    (PromptInit::Text(_), Some(t), _) | (PromptInit::Text(_), None, Some(t)) => json!(t.display().to_string()),
                    _ => Value::Null,
                };
                let extra = json!({"prompt_tuning_init": init, "prompt_tuning_init_text": text,
                                   "tokenizer_kwargs": null, "tokenizer_name_or_path": tokenizer});
                ("PROMPT_TUNING", c.num_virtual_tokens, &c.modules_to_save, extra)
            }
            Method::Prefix(c) => {
                let t = rec.prefix.as_ref().ok_or_else(|| Error::msg("prefix adapter without its table"))?;
                tensors.push(("prompt_embeddings".into(), tch::no_grad(|| t.lock().unwrap_or_else(|p| p.into_inner()).table()).detach()));
                let extra = json!({"encoder_hidden_size": c.projection.unwrap_or(hidden), "init_weights": null,
                                   "prefix_projection": c.projection.is_some()});
                ("PREFIX_TUNING", c.num_virtual_tokens, &c.modules_to_save, extra)
            }
            _ => return Err(Error::msg("not a prompt-learning adapter")),
        };
        for s in &rec.saved {
            let name = peft_name(arch, &s.linear);
            tensors.push((format!("base_model.{name}.weight"), s.weight.detach()));
            if let Some(b) = &s.bias {
                tensors.push((format!("base_model.{name}.bias"), b.detach()));
            }
        }
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        write_safetensors(&dir.join(WEIGHTS_NAME), &tensors)?;
        let task = task_type(arch);
        let mut config = json!({
            // PEFT writes no auto_mapping when the task type says which model class to build.
            "auto_mapping": if task.is_some() { Value::Null } else { json!({"base_model_class": arch, "parent_library": parent_library_of(arch)}) },
            "base_model_name_or_path": self.state().source_dir.as_ref().map(|p| p.display().to_string()),
            "inference_mode": true,
            "modules_to_save": modules.as_ref().map(Targets::to_json),
            "num_attention_heads": heads,
            "num_layers": layers,
            "num_transformer_submodules": 1,
            "num_virtual_tokens": n,
            "peft_type": peft_type,
            "peft_version": "0.21.2",
            "revision": null,
            "task_type": task,
            "token_dim": hidden,
        });
        if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        write_json(&dir.join("adapter_config.json"), &config)
    }

    /// (layers, heads, hidden) of the model, as PEFT's prompt-learning config names them.
    fn prompt_shape(&mut self) -> (i64, i64, i64) {
        let h = self.model.tuning_hooks();
        (h.prefixes.len() as i64, h.heads, h.hidden)
    }

    /// Adds a prompt- or prefix-tuning adapter read from PEFT's files; see the module documentation.
    pub(crate) fn load_prompt_learning(&mut self, v: &Value, dir: &Path, name: &str) -> Result<()> {
        let arch = M::ARCHITECTURE;
        let path = dir.join("adapter_config.json");
        let bad_config = |message: String| Error::Checkpoint { path: path.clone(), message };
        let task = v.get("task_type").and_then(Value::as_str);
        if let (Some(theirs), ours) = (task, task_type(arch)) {
            if Some(theirs) != ours {
                return Err(bad_config(format!(
                    "task_type is {theirs}; this {arch} is {}: load it onto a model made for {theirs}",
                    ours.unwrap_or("not a PEFT task model")
                )));
            }
        }
        let (layers, heads, hidden) = self.prompt_shape();
        let int = |key: &str| v.get(key).and_then(Value::as_i64);
        for (key, ours) in [("token_dim", hidden), ("num_layers", layers), ("num_attention_heads", heads)] {
            if let Some(theirs) = int(key) {
                if theirs != ours {
                    return Err(bad_config(format!("`{key}` is {theirs}; this {arch} has {ours}: the adapter was made for another model")));
                }
            }
        }
        let n = int("num_virtual_tokens").ok_or_else(|| bad_config("no `num_virtual_tokens`".into()))?;
        // PEFT lists the head names of every model class (`classifier`, `score`): keep those this model has.
        let names: Vec<String> = self.linears().into_iter().map(|(n, _)| n).collect();
        let modules = Targets::from_json("modules_to_save", v.get("modules_to_save").unwrap_or(&Value::Null))?
            .map(|t| names.iter().filter(|n| t.matches(&peft_name(arch, n))).cloned().collect::<Vec<_>>())
            .filter(|hit| !hit.is_empty())
            .map(Targets::Names);
        let weights = Checkpoint::from_file(&dir.join(WEIGHTS_NAME))?;
        let bad = |message: String| Error::Checkpoint { path: dir.join(WEIGHTS_NAME), message };
        match v.get("peft_type").and_then(Value::as_str) {
            Some("PROMPT_TUNING") => {
                let mut c = PromptTuningConfig::new(n);
                c.modules_to_save = modules;
                self.add_prompt_adapter(name, &c)?;
            }
            _ => {
                let mut c = PrefixTuningConfig::new(n);
                c.modules_to_save = modules;
                self.add_prefix_adapter(name, &c)?;
            }
        }
        let result = self.fill_prompt_learning(name, &weights, &bad);
        if result.is_err() {
            let _ = self.delete_adapter(name);
        }
        result
    }

    fn fill_prompt_learning(&self, name: &str, weights: &Checkpoint, bad: &dyn Fn(String) -> Error) -> Result<()> {
        let Some(rec) = self.adapters.get(name) else { return Ok(()) };
        let arch = M::ARCHITECTURE;
        let mut pairs: Vec<(String, Tensor)> = Vec::new();
        if let Some(p) = &rec.prompt {
            pairs.push(("prompt_embeddings".into(), p.shallow_clone()));
        }
        if let Some(t) = &rec.prefix {
            pairs.push(("prompt_embeddings".into(), t.lock().unwrap_or_else(|p| p.into_inner()).embedding.shallow_clone()));
        }
        for s in &rec.saved {
            let n = peft_name(arch, &s.linear);
            pairs.push((format!("base_model.{n}.weight"), s.weight.shallow_clone()));
            if let Some(b) = &s.bias {
                pairs.push((format!("base_model.{n}.bias"), b.shallow_clone()));
            }
        }
        super::files::copy_named(weights, &pairs, bad, &format!("part of this {arch}"), true)
    }
}
