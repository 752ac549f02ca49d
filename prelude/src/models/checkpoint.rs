//! Reading and writing Hugging Face checkpoints: `model.safetensors`, sharded checkpoints
//! (`model.safetensors.index.json`), key prefixes between base and head models, and the
//! [`LoadReport`] of what was loaded, newly initialised or left over. Mirrors the loading half of
//! `transformers/modeling_utils.py` (`_load_pretrained_model`, `_find_missing_and_unexpected_keys`).

use crate::display::{escape_html, MimeBundle, Render};
use crate::{Error, Result};
use safetensors::tensor::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Device, Kind, Tensor};

/// File name of a single-file checkpoint.
pub const WEIGHTS_NAME: &str = "model.safetensors";
/// File name of the index of a sharded checkpoint.
pub const WEIGHTS_INDEX_NAME: &str = "model.safetensors.index.json";

/// Tensors of a checkpoint by key, each with the file it came from.
pub struct Checkpoint {
    tensors: BTreeMap<String, (Tensor, PathBuf)>,
    /// The file (or index) the checkpoint was read from.
    pub path: PathBuf,
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F64 => Kind::Double,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::I16 => Kind::Int16,
        Dtype::I8 => Kind::Int8,
        Dtype::U8 => Kind::Uint8,
        Dtype::BOOL => Kind::Bool,
        _ => return None,
    })
}

fn dtype_of(kind: Kind) -> Option<Dtype> {
    Some(match kind {
        Kind::Float => Dtype::F32,
        Kind::Half => Dtype::F16,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Double => Dtype::F64,
        Kind::Int64 => Dtype::I64,
        Kind::Int => Dtype::I32,
        Kind::Int16 => Dtype::I16,
        Kind::Int8 => Dtype::I8,
        Kind::Uint8 => Dtype::U8,
        Kind::Bool => Dtype::BOOL,
        _ => return None,
    })
}

fn bad_file(path: &Path, message: impl Into<String>) -> Error {
    Error::Checkpoint { path: path.to_owned(), message: message.into() }
}

impl Checkpoint {
    /// Reads the checkpoint in `dir`: `model.safetensors`, or the shards that
    /// `model.safetensors.index.json` lists.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let single = dir.join(WEIGHTS_NAME);
        let index = dir.join(WEIGHTS_INDEX_NAME);
        if single.is_file() {
            return Self::from_file(&single);
        }
        if index.is_file() {
            return Self::from_index(&index);
        }
        let hint = if dir.join("pytorch_model.bin").is_file() {
            " It has pytorch_model.bin: tuna reads safetensors only; convert it in Python with \
             `AutoModel.from_pretrained(d).save_pretrained(d)`."
        } else {
            ""
        };
        Err(bad_file(dir, format!("no {WEIGHTS_NAME} or {WEIGHTS_INDEX_NAME} in this directory.{hint}")))
    }

    /// Reads one `.safetensors` file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut tensors = BTreeMap::new();
        read_safetensors(path, &mut tensors)?;
        Ok(Checkpoint { tensors, path: path.to_owned() })
    }

    /// Reads the shards named by a `model.safetensors.index.json`.
    pub fn from_index(index: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(index).map_err(|e| Error::io(index, e))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| Error::Json { path: index.to_owned(), source })?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad_file(index, "has no `weight_map` object"))?;
        let dir = index.parent().unwrap_or(Path::new("."));
        let mut files: Vec<&str> = map.values().filter_map(|v| v.as_str()).collect();
        files.sort_unstable();
        files.dedup();
        let mut tensors = BTreeMap::new();
        for file in files {
            read_safetensors(&dir.join(file), &mut tensors)?;
        }
        for key in map.keys() {
            if !tensors.contains_key(key) {
                return Err(bad_file(index, format!("lists tensor `{key}`, which none of its shards holds")));
            }
        }
        Ok(Checkpoint { tensors, path: index.to_owned() })
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The tensor stored under `key`, on the CPU in its stored dtype.
    pub fn get(&self, key: &str) -> Option<&Tensor> {
        self.tensors.get(key).map(|(t, _)| t)
    }

    /// The tensor under `key`, or an error naming the file and the key.
    pub fn require(&self, key: &str) -> Result<&Tensor> {
        self.get(key).ok_or_else(|| bad_file(&self.path, format!("has no tensor `{key}`")))
    }

    /// The file that holds `key`.
    pub fn file_of(&self, key: &str) -> &Path {
        self.tensors.get(key).map_or(&self.path, |(_, p)| p)
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the checkpoint holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }
}

fn read_safetensors(path: &Path, out: &mut BTreeMap<String, (Tensor, PathBuf)>) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| {
        bad_file(path, format!("is not a readable safetensors file ({e:?}); it may be truncated or corrupt: save or fetch it again"))
    })?;
    for (key, view) in st.iter() {
        let kind = kind_of(view.dtype()).ok_or_else(|| {
            bad_file(path, format!("tensor `{key}` has dtype {:?}, which tuna cannot read", view.dtype()))
        })?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let tensor = Tensor::f_from_data_size(view.data(), &shape, kind)?;
        out.insert(key.to_owned(), (tensor, path.to_owned()));
    }
    Ok(())
}

/// A tensor's bytes on the CPU, in the form the safetensors writer takes.
struct HostTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &HostTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Writes `tensors` to `path` as safetensors with the metadata `format: pt` that
/// `transformers` expects.
pub fn write_safetensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let mut host = Vec::with_capacity(tensors.len());
    for (key, t) in tensors {
        let dtype = dtype_of(t.kind())
            .ok_or_else(|| bad_file(path, format!("cannot write tensor `{key}` of kind {:?}", t.kind())))?;
        let t = t.to_device(Device::Cpu).contiguous();
        let numel = t.numel();
        let mut data = vec![0u8; numel * t.kind().elt_size_in_bytes()];
        t.f_copy_data_u8(&mut data, numel)?;
        let shape = t.size().iter().map(|&d| d as usize).collect();
        host.push((key.clone(), HostTensor { dtype, shape, data }));
    }
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    safetensors::serialize_to_file(host.iter().map(|(k, h)| (k.as_str(), h)), Some(metadata), path)
        .map_err(|e| bad_file(path, format!("cannot be written: {e:?}")))
}

/// What `from_pretrained` did with each tensor: shown as a table in the notebook.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// The checkpoint file (or index) read.
    pub source: PathBuf,
    /// Model variables filled from the checkpoint.
    pub loaded: Vec<String>,
    /// Model variables the checkpoint lacks, newly initialised as Hugging Face initialises them.
    pub missing: Vec<String>,
    /// Checkpoint keys the model has no variable for (ignored).
    pub unexpected: Vec<String>,
    /// Variables whose checkpoint shape differed, re-initialised because the loader was told
    /// `.ignore_mismatched_sizes()`: (key, checkpoint shape, model shape).
    pub mismatched: Vec<(String, Vec<i64>, Vec<i64>)>,
}

impl LoadReport {
    /// Whether every variable came from the checkpoint and nothing was left over.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }

    /// One line for logs: counts and the names that need attention.
    pub fn summary(&self) -> String {
        let mut s = format!("loaded {} tensors from {}", self.loaded.len(), self.source.display());
        if !self.missing.is_empty() {
            s += &format!("; newly initialised (train before use): {}", self.missing.join(", "));
        }
        for (key, ckpt, model) in &self.mismatched {
            s += &format!("; re-initialised {key}: checkpoint {ckpt:?}, model {model:?}");
        }
        if !self.unexpected.is_empty() {
            s += &format!("; unused checkpoint tensors: {}", self.unexpected.join(", "));
        }
        s
    }
}

impl Render for LoadReport {
    fn render(&self) -> MimeBundle {
        let mut rows = String::new();
        let mut row = |status: &str, color: &str, names: &[String]| {
            if names.is_empty() {
                return;
            }
            let list = names.iter().map(|n| format!("<code>{}</code>", escape_html(n))).collect::<Vec<_>>().join(" ");
            rows += &format!(
                "<tr><td style=\"color:{color};text-align:left\">{status}</td><td>{}</td><td style=\"text-align:left\">{list}</td></tr>",
                names.len()
            );
        };
        row("newly initialised", "#b45309", &self.missing);
        let mism: Vec<String> =
            self.mismatched.iter().map(|(k, c, m)| format!("{k} (checkpoint {c:?}, model {m:?})")).collect();
        row("re-initialised (shape mismatch)", "#b45309", &mism);
        row("unexpected (ignored)", "#6b7280", &self.unexpected);
        let html = format!(
            "<div><b>Loaded {} tensors</b> from <code>{}</code>{}</div>{}",
            self.loaded.len(),
            escape_html(&self.source.display().to_string()),
            if self.is_complete() { " — every variable came from the checkpoint" } else { "" },
            if rows.is_empty() {
                String::new()
            } else {
                format!("<table><tr><th>status</th><th>count</th><th>keys</th></tr>{rows}</table>")
            }
        );
        MimeBundle::text(self.summary()).with("text/html", html)
    }
}

crate::impl_evcxr_display!(LoadReport);

/// How to load: prefix of the base model's keys, keys tied to other variables, whether shape
/// mismatches re-initialise instead of failing.
pub(crate) struct LoadPlan<'a> {
    pub base_prefix: &'a str,
    pub tied_keys: &'a [&'a str],
    pub ignore_mismatched_sizes: bool,
}

/// Buffers that old checkpoints carry and models recompute (as `_keys_to_ignore_on_load_unexpected`).
fn is_ignored_buffer(key: &str) -> bool {
    key.ends_with("position_ids") || key.ends_with("attn.bias") || key.ends_with("attn.masked_bias")
}

/// Copies the checkpoint into the variables of `vs` whose names equal its keys, adding or
/// removing the base prefix as Hugging Face does between base and head models.
pub(crate) fn load_into(vs: &VarStore, ckpt: &Checkpoint, plan: &LoadPlan<'_>) -> Result<LoadReport> {
    let vars = vs.variables();
    let dotted = format!("{}.", plan.base_prefix);
    let expects_prefix = vars.keys().any(|k| k.starts_with(&dotted));
    let has_prefix = ckpt.keys().any(|k| k.starts_with(&dotted));
    let tied: HashSet<&str> = plan.tied_keys.iter().copied().collect();
    let mut report = LoadReport { source: ckpt.path.clone(), ..LoadReport::default() };
    let mut done = HashSet::new();
    for key in ckpt.keys() {
        let model_key = match (expects_prefix, has_prefix) {
            (true, false) => format!("{dotted}{key}"),
            (false, true) => key.strip_prefix(&dotted).unwrap_or(key).to_owned(),
            _ => key.to_owned(),
        };
        let Some(var) = vars.get(&model_key) else {
            if !tied.contains(model_key.as_str()) && !is_ignored_buffer(key) {
                report.unexpected.push(key.to_owned());
            }
            continue;
        };
        let src = ckpt.require(key)?;
        let file = ckpt.file_of(key);
        if var.is_floating_point() && !src.is_floating_point() {
            return Err(bad_file(
                file,
                format!("tensor `{key}` has dtype {:?}; the model expects a floating-point tensor (F32, F16, BF16 or F64)", src.kind()),
            ));
        }
        if src.size() != var.size() {
            if plan.ignore_mismatched_sizes {
                report.mismatched.push((model_key.clone(), src.size(), var.size()));
                done.insert(model_key);
                continue;
            }
            return Err(bad_file(
                file,
                format!(
                    "tensor `{key}` has shape {:?} in the checkpoint but the model expects {:?}; \
                     pass `.ignore_mismatched_sizes()` to re-initialise it",
                    src.size(),
                    var.size()
                ),
            ));
        }
        tch::no_grad(|| var.shallow_clone().f_copy_(src))?;
        report.loaded.push(model_key.clone());
        done.insert(model_key);
    }
    let mut missing: Vec<String> = vars.into_keys().filter(|k| !done.contains(k)).collect();
    missing.sort();
    report.missing = missing;
    report.loaded.sort();
    Ok(report)
}
