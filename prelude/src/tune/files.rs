//! LoRA and (IA)³ adapters on disk in PEFT 0.21's layout (`peft/utils/save_and_load.py`,
//! `get_peft_model_state_dict`): `adapter_config.json` and `adapter_model.safetensors` with keys
//! `base_model.model.<layer>.lora_A.weight` (and `<layer>.ia3_l`), saved modules as `base_model.model.<layer>.weight`,
//! trained biases of LoRA layers as `<layer>.base_layer.bias`; metadata `format: pt`. The adapter
//! named `default` goes to the directory itself, any other to a sub-directory of its name.

use super::lora::{LoraBias, LoraConfig, LoraInit};
use super::select::Targets;
use super::ia3::Ia3Config;
use super::tuned::{is_adapter_var, AdapterRecord, Method, ScaleRecord, Tuned};
use crate::models::checkpoint::write_safetensors;
use crate::models::{Checkpoint, PretrainedModel};
use crate::{Error, Result};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use tch::Tensor;

const PREFIX: &str = "base_model.model.";
const CONFIG_NAME: &str = "adapter_config.json";
const WEIGHTS_NAME: &str = "adapter_model.safetensors";

impl<M: PretrainedModel> Tuned<M> {
    /// Writes every adapter as PEFT's `save_pretrained` does, loadable by Python's
    /// `PeftModel.from_pretrained(base, dir)`.
    pub fn save_adapter(&self, dir: impl AsRef<Path>) -> Result<()> {
        if self.adapters.is_empty() {
            return Err(Error::msg("this model has no adapter to save: apply a LoRA strategy first"));
        }
        for name in self.adapter_names() {
            let sub = if name == "default" { dir.as_ref().to_owned() } else { dir.as_ref().join(&name) };
            self.save_one(&name, &sub)?;
        }
        Ok(())
    }

    fn save_one(&self, name: &str, dir: &Path) -> Result<()> {
        let Some(rec) = self.adapters.get(name) else { return Ok(()) };
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let c = match &rec.method {
            Method::Lora(c) => c,
            Method::Ia3(c) => return self.save_ia3(rec, c, dir),
            Method::Prompt(_) | Method::Prefix(_) => return self.save_prompt_learning(rec, dir),
            Method::Bottleneck(c) => return self.save_bottleneck(rec, c, dir),
        };
        let lora_layers: BTreeSet<&str> = rec.layers.iter().map(|l| l.linear.as_str()).collect();
        let arch = M::ARCHITECTURE;
        let mut tensors: Vec<(String, Tensor)> =
            adapter_tensors(rec, arch).into_iter().map(|(k, t)| (k, t.detach())).collect();
        if c.bias != LoraBias::None {
            for (var, t) in self.var_store().variables() {
                let Some(module) = var.strip_suffix(".bias") else { continue };
                if is_adapter_var(&var) || rec.saved.iter().any(|s| s.linear == module) {
                    continue;
                }
                let on_lora = lora_layers.contains(module);
                if on_lora {
                    tensors.push((format!("{PREFIX}{}.base_layer.bias", peft_name(arch, module)), t.detach()));
                } else if c.bias == LoraBias::All {
                    tensors.push((format!("{PREFIX}{}.bias", peft_name(arch, module)), t.detach()));
                }
            }
        }
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        write_safetensors(&dir.join(WEIGHTS_NAME), &tensors)?;

        let fan_in_fan_out = rec.layers.iter().any(|l| l.transposed);
        // Where transformers names modules otherwise than the checkpoint (ViT), PEFT gets the
        // exact list of the layers that carry LoRA, in its names.
        let target_modules = if rec.layers.iter().any(|l| peft_name(arch, &l.linear) != l.linear) {
            json!(rec.layers.iter().map(|l| peft_name(arch, &l.linear)).collect::<Vec<_>>())
        } else {
            c.targets.to_json()
        };
        let config = json!({
            "alpha_pattern": {},
            "auto_mapping": {"base_model_class": M::ARCHITECTURE, "parent_library": parent_library_of(M::ARCHITECTURE)},
            "base_model_name_or_path": self.state().source_dir.as_ref().map(|p| p.display().to_string()),
            "bias": c.bias.as_str(),
            "exclude_modules": null,
            "fan_in_fan_out": fan_in_fan_out,
            "inference_mode": true,
            "init_lora_weights": match c.init { LoraInit::Kaiming => json!(true), LoraInit::Gaussian => json!("gaussian") },
            "layer_replication": null,
            "layers_pattern": null,
            "layers_to_transform": c.layers_to_transform,
            "loftq_config": {},
            "lora_alpha": c.alpha,
            "lora_bias": false,
            "lora_dropout": c.dropout,
            "megatron_config": null,
            "megatron_core": "megatron.core",
            "modules_to_save": c.modules_to_save.as_ref().map(Targets::to_json),
            "peft_type": "LORA",
            "peft_version": "0.21.2",
            "r": c.r,
            "rank_pattern": {},
            "revision": null,
            "target_modules": target_modules,
            "target_parameters": null,
            "task_type": null,
            "use_dora": c.use_dora,
            "use_rslora": c.use_rslora,
        });
        write_json(&dir.join(CONFIG_NAME), &config)
    }

    fn save_ia3(&self, rec: &AdapterRecord, c: &Ia3Config, dir: &Path) -> Result<()> {
        let arch = M::ARCHITECTURE;
        let mut tensors: Vec<(String, Tensor)> =
            adapter_tensors(rec, arch).into_iter().map(|(k, t)| (k, t.detach())).collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        write_safetensors(&dir.join(WEIGHTS_NAME), &tensors)?;
        // The exact layers, in PEFT's names, where those differ from tuna's (ViT).
        let exact = rec.scales.iter().any(|s| peft_name(arch, &s.linear) != s.linear);
        let list = |pick: &dyn Fn(&ScaleRecord) -> bool| -> Value {
            json!(rec.scales.iter().filter(|s| pick(s)).map(|s| peft_name(arch, &s.linear)).collect::<Vec<_>>())
        };
        let (targets, feedforward) =
            if exact { (list(&|_| true), list(&|s| s.feedforward)) } else { (c.targets.to_json(), c.feedforward.to_json()) };
        let config = json!({
            "auto_mapping": {"base_model_class": arch, "parent_library": parent_library_of(arch)},
            "base_model_name_or_path": self.state().source_dir.as_ref().map(|p| p.display().to_string()),
            "exclude_modules": null,
            "fan_in_fan_out": rec.scales.iter().any(|s| self.linears().iter().any(|(n, l)| *n == s.linear && l.is_transposed())),
            "feedforward_modules": feedforward,
            "inference_mode": true,
            "init_ia3_weights": true,
            "modules_to_save": c.modules_to_save.as_ref().map(Targets::to_json),
            "peft_type": "IA3",
            "peft_version": "0.21.2",
            "revision": null,
            "target_modules": targets,
            "task_type": null,
        });
        write_json(&dir.join(CONFIG_NAME), &config)
    }

    /// Reads a LoRA adapter written by PEFT (or by [`Tuned::save_adapter`]) from `dir` and adds
    /// it as `name`; the first adapter becomes active. Config keys tuna does not know are
    /// ignored; an adapter made for another architecture, or whose tensors do not fit this
    /// model's layers, is an error naming the key.
    pub fn load_adapter(&mut self, dir: impl AsRef<Path>, name: &str) -> Result<()> {
        let dir = dir.as_ref();
        let path = dir.join(CONFIG_NAME);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let v: Value = serde_json::from_str(&text).map_err(|source| Error::Json { path: path.clone(), source })?;
        if let Some(arch) = v.pointer("/auto_mapping/base_model_class").and_then(Value::as_str) {
            if arch != M::ARCHITECTURE {
                return Err(Error::Checkpoint {
                    path,
                    message: format!("this adapter was made for {arch}; the model is {}: load it onto a {arch}", M::ARCHITECTURE),
                });
            }
        }
        // Resolve the targets on PEFT's names, then name the layers in tuna's.
        let arch = M::ARCHITECTURE;
        let names: Vec<String> = self.linears().into_iter().map(|(n, _)| n).collect();
        let renamed = names.iter().any(|n| peft_name(arch, n) != *n);
        let resolve = |t: &Targets| -> Targets {
            let hit: Vec<String> = names.iter().filter(|n| t.matches(&peft_name(arch, n))).cloned().collect();
            // Nothing matched: keep the original, whose error lists the layers.
            if hit.is_empty() || !renamed { t.clone() } else { Targets::Names(hit) }
        };
        match v.get("peft_type").and_then(Value::as_str) {
            Some("PROMPT_TUNING" | "PREFIX_TUNING") => return self.load_prompt_learning(&v, dir, name),
            Some("BOTTLENECK") => return self.load_bottleneck(&v, dir, name),
            _ => {}
        }
        let weights = Checkpoint::from_file(&dir.join(WEIGHTS_NAME))?;
        let bad = |message: String| Error::Checkpoint { path: dir.join(WEIGHTS_NAME), message };
        let added = match v.get("peft_type").and_then(Value::as_str).unwrap_or("") {
            "IA3" => {
                let targets = Targets::from_json("target_modules", v.get("target_modules").unwrap_or(&Value::Null))?
                    .ok_or_else(|| Error::config("target_modules", "an IA3 adapter needs target_modules"))?;
                let feedforward = Targets::from_json("feedforward_modules", v.get("feedforward_modules").unwrap_or(&Value::Null))?
                    .unwrap_or(Targets::Names(Vec::new()));
                let mut config = Ia3Config::new(resolve(&targets), resolve(&feedforward));
                config.modules_to_save =
                    Targets::from_json("modules_to_save", v.get("modules_to_save").unwrap_or(&Value::Null))?.as_ref().map(resolve);
                self.add_ia3_adapter(name, &config)
            }
            _ => {
                let mut config = config_from_json(&v, &path)?;
                config.targets = resolve(&config.targets);
                config.modules_to_save = config.modules_to_save.as_ref().map(resolve);
                self.add_adapter(name, &config)
            }
        };
        added.map_err(|e| match e {
            Error::NoSuchLayer { .. } => bad(format!("its target_modules match no layer of this {}: {e}", M::ARCHITECTURE)),
            other => other,
        })?;
        let result = self.fill(name, &weights, &bad);
        if result.is_err() {
            let _ = self.delete_adapter(name);
        }
        result
    }

    fn fill(&self, name: &str, weights: &Checkpoint, bad: &dyn Fn(String) -> Error) -> Result<()> {
        let Some(rec) = self.adapters.get(name) else { return Ok(()) };
        let arch = M::ARCHITECTURE;
        let pairs = adapter_tensors(rec, arch);
        // Every variable under its PEFT name (`<module>.<param>`).
        let vars: std::collections::HashMap<String, Tensor> = self
            .var_store()
            .variables()
            .into_iter()
            .filter(|(n, _)| !is_adapter_var(n))
            .map(|(n, t)| {
                let (module, param) = n.rsplit_once('.').unwrap_or(("", n.as_str()));
                (format!("{}.{param}", peft_name(arch, module)), t)
            })
            .collect();
        copy_named(&weights, &pairs, bad, "", false)?;
        // Trained biases: `<layer>.base_layer.bias` or `<name>.bias`.
        for key in weights.keys().filter(|k| !pairs.iter().any(|(p, _)| p == k)) {
            let var = key.strip_prefix(PREFIX).unwrap_or(key).replace(".base_layer.bias", ".bias");
            match (vars.get(&var), weights.get(key)) {
                (Some(dst), Some(src)) if var.ends_with(".bias") || dst.size() != src.size() => copy_checked(key, src, dst, bad)?,
                _ => return Err(bad(format!("tensor `{key}` belongs to no layer of this {}", M::ARCHITECTURE))),
            }
        }
        Ok(())
    }
}

/// The adapter's own tensors under their file keys: LoRA's A and B, the saved modules' copies.
fn adapter_tensors(rec: &AdapterRecord, arch: &str) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    for l in &rec.layers {
        let name = peft_name(arch, &l.linear);
        out.push((format!("{PREFIX}{name}.lora_A.weight"), l.a.shallow_clone()));
        out.push((format!("{PREFIX}{name}.lora_B.weight"), l.b.shallow_clone()));
        if let Some(m) = &l.magnitude {
            out.push((format!("{PREFIX}{name}.lora_magnitude_vector"), m.shallow_clone()));
        }
    }
    for s in &rec.scales {
        out.push((format!("{PREFIX}{}.ia3_l", peft_name(arch, &s.linear)), s.scale.shallow_clone()));
    }
    for s in &rec.saved {
        let name = peft_name(arch, &s.linear);
        out.push((format!("{PREFIX}{name}.weight"), s.weight.shallow_clone()));
        if let Some(b) = &s.bias {
            out.push((format!("{PREFIX}{name}.bias"), b.shallow_clone()));
        }
    }
    out
}

/// The name `transformers` 5 gives a module in memory, which PEFT's keys use: the checkpoint
/// key for BERT and GPT-2; for ViT, `vit.layers.N.attention.q_proj` for the checkpoint's
/// `vit.encoder.layer.N.attention.attention.query` (and `k_proj`, `v_proj`, `o_proj`, `mlp.fc1`, `mlp.fc2`).
pub fn peft_name(arch: &str, module: &str) -> String {
    if !arch.starts_with("ViT") {
        return module.to_owned();
    }
    let mut s = format!(".{module}");
    for (from, to) in [
        (".encoder.layer.", ".layers."),
        (".attention.attention.query", ".attention.q_proj"),
        (".attention.attention.key", ".attention.k_proj"),
        (".attention.attention.value", ".attention.v_proj"),
        (".attention.output.dense", ".attention.o_proj"),
        (".intermediate.dense", ".mlp.fc1"),
        (".output.dense", ".mlp.fc2"),
    ] {
        s = s.replace(from, to);
    }
    s[1..].to_owned()
}

/// `transformers`' module of a model class, which PEFT writes in `auto_mapping`.
pub(crate) fn parent_library_of(arch: &str) -> String {
    let family = if arch.starts_with("Bert") {
        "bert"
    } else if arch.starts_with("GPT2") {
        "gpt2"
    } else if arch.starts_with("ViT") {
        "vit"
    } else {
        "auto"
    };
    format!("transformers.models.{family}.modeling_{family}")
}

pub(crate) fn write_json(path: &Path, config: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(config).map_err(|source| Error::Json { path: path.to_owned(), source })?;
    std::fs::write(path, text + "\n").map_err(|e| Error::io(path, e))
}

fn config_from_json(v: &Value, path: &Path) -> Result<LoraConfig> {
    let peft_type = v.get("peft_type").and_then(Value::as_str).unwrap_or("");
    if peft_type != "LORA" {
        return Err(Error::Checkpoint { path: path.to_owned(), message: format!("peft_type is `{peft_type}`; tuna loads LORA, IA3, PROMPT_TUNING and PREFIX_TUNING adapters") });
    }
    for key in ["rank_pattern", "alpha_pattern"] {
        if v.get(key).and_then(Value::as_object).is_some_and(|m| !m.is_empty()) {
            return Err(Error::Checkpoint { path: path.to_owned(), message: format!("`{key}` is not supported yet") });
        }
    }
    let num = |key: &str, default: f64| v.get(key).and_then(Value::as_f64).unwrap_or(default);
    let mut c = LoraConfig::rank(num("r", 8.0) as i64).alpha(num("lora_alpha", 8.0)).dropout(num("lora_dropout", 0.0));
    c.use_rslora = v.get("use_rslora").and_then(Value::as_bool).unwrap_or(false);
    c.use_dora = v.get("use_dora").and_then(Value::as_bool).unwrap_or(false);
    if let Some(t) = Targets::from_json("target_modules", v.get("target_modules").unwrap_or(&Value::Null))? {
        c.targets = t;
    }
    c.modules_to_save = Targets::from_json("modules_to_save", v.get("modules_to_save").unwrap_or(&Value::Null))?;
    c.bias = LoraBias::parse(v.get("bias").and_then(Value::as_str).unwrap_or("none"))?;
    c.layers_to_transform = match v.get("layers_to_transform") {
        Some(Value::Array(items)) => Some(items.iter().filter_map(Value::as_u64).map(|i| i as usize).collect()),
        Some(Value::Number(n)) => n.as_u64().map(|i| vec![i as usize]),
        _ => None,
    };
    c.validate()?;
    Ok(c)
}

/// Copies the file tensor named by each pair's key into the pair's model tensor: a missing key
/// or a shape that differs is an error made by `bad`. Then any file tensor no pair names is one
/// too, unless `rest` is false (the caller handles those).
pub(crate) fn copy_named(weights: &Checkpoint, pairs: &[(String, Tensor)], bad: &dyn Fn(String) -> Error, owner: &str, rest: bool) -> Result<()> {
    for (key, dst) in pairs {
        let src = weights.get(key).ok_or_else(|| bad(format!("has no tensor `{key}`, which this model's adapter needs")))?;
        copy_checked(key, src, dst, bad)?;
    }
    if let Some(extra) = weights.keys().find(|k| rest && !pairs.iter().any(|(p, _)| p == k)) {
        return Err(bad(format!("tensor `{extra}` belongs to no {owner}")));
    }
    Ok(())
}

/// Copies `src` (file tensor `key`) into `dst` in `dst`'s kind and device, shapes checked.
fn copy_checked(key: &str, src: &Tensor, dst: &Tensor, bad: &dyn Fn(String) -> Error) -> Result<()> {
    if src.size() != dst.size() {
        return Err(bad(format!("tensor `{key}` has shape {:?}; this model needs {:?}", src.size(), dst.size())));
    }
    tch::no_grad(|| dst.shallow_clone().copy_(&src.to_kind(dst.kind()).to_device(dst.device())));
    Ok(())
}
