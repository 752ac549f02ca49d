//! Training checkpoints: everything a run needs to continue bit-exactly, in one folder
//! (`checkpoint-<step>/`, as Hugging Face's `Trainer`): `model.safetensors` (every variable,
//! by checkpoint key), `optimizer.safetensors` (AdamW moments `<key>.exp_avg` /
//! `<key>.exp_avg_sq`, SGD momentum `<key>.momentum_buffer`) and `trainer_state.json` (step,
//! position in the epoch, schedule, history, best metric). No RNG state is needed: each
//! micro-batch reseeds libtorch from (seed, micro-batch number) and the loader's batches depend
//! only on (seed, epoch, index).
//!
//! A checkpoint is written into a temporary folder beside its destination and renamed into
//! place, so a failed write (full disk, read-only folder) leaves earlier checkpoints intact.

use super::history::History;
use super::metrics::Evaluation;
use super::objective::Objective;
use super::optim::{Optimizer, OptimizerState};
use super::trainer::{TrainState, Trainer};
use crate::models::checkpoint::{write_safetensors, Checkpoint};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Tensor;

const MODEL_FILE: &str = "model.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const STATE_FILE: &str = "trainer_state.json";

/// `trainer_state.json`.
#[derive(Debug, Serialize, Deserialize)]
struct SavedState {
    step: usize,
    total: usize,
    warmup: usize,
    epoch: usize,
    batch: usize,
    eval_due: bool,
    optimizer: Optimizer,
    optimizer_steps: u64,
    seed: u64,
    history: History,
    last_eval: Option<Evaluation>,
    best: Option<(usize, f64)>,
    evals_without_improvement: usize,
    early_stopped: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

impl<M: Objective, C> Trainer<M, C> {
    /// Writes the model, optimizer and trainer state to `dir/checkpoint-<step>/` (replacing a
    /// checkpoint of the same step) and returns that folder. Needs a run started by `fit`.
    pub fn save_checkpoint(&self, dir: impl AsRef<Path>) -> Result<PathBuf> {
        let st = self.state.as_ref().ok_or_else(|| Error::msg("nothing to checkpoint yet: call `fit` first"))?;
        self.write_checkpoint(st, dir.as_ref())
    }

    /// Writes `st` to `dir/checkpoint-<step>/` through a temporary folder; then, with
    /// `keep_last`, removes the oldest checkpoints of `dir` beyond that many (never the best).
    pub(crate) fn write_checkpoint(&self, st: &TrainState, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let target = dir.join(format!("checkpoint-{}", st.step));
        let tmp = dir.join(format!(".checkpoint-{}.tmp-{}", st.step, std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir(&tmp).map_err(io(&tmp))?;
        let written = self.write_into(st, &tmp);
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        if target.exists() {
            std::fs::remove_dir_all(&target).map_err(io(&target))?;
        }
        std::fs::rename(&tmp, &target).map_err(io(&target))?;
        if let Some(keep) = self.config.keep_last {
            prune(dir, keep, st.best.map(|b| b.0))?;
        }
        Ok(target)
    }

    fn write_into(&self, st: &TrainState, tmp: &Path) -> Result<()> {
        let mut weights: Vec<(String, Tensor)> = self.model.var_store().variables().into_iter().collect();
        weights.sort_by(|a, b| a.0.cmp(&b.0));
        write_safetensors(&tmp.join(MODEL_FILE), &weights)?;
        let (first, second) = moment_names(st.optimizer.rule);
        let mut moments = Vec::new();
        for p in &st.optimizer.params {
            if let Some(m) = &p.m {
                moments.push((format!("{}.{first}", p.name), m.shallow_clone()));
            }
            if let (Some(v), Some(second)) = (&p.v, second) {
                moments.push((format!("{}.{second}", p.name), v.shallow_clone()));
            }
        }
        write_safetensors(&tmp.join(OPTIMIZER_FILE), &moments)?;
        let saved = SavedState {
            step: st.step,
            total: st.total,
            warmup: st.warmup,
            epoch: st.epoch,
            batch: st.batch,
            eval_due: st.eval_due,
            optimizer: st.optimizer.rule,
            optimizer_steps: st.optimizer.steps,
            seed: self.config.seed,
            history: st.history.clone(),
            last_eval: st.last_eval.clone(),
            best: st.best,
            evals_without_improvement: st.evals_without_improvement,
            early_stopped: st.early_stopped,
        };
        let path = tmp.join(STATE_FILE);
        let text = serde_json::to_string_pretty(&saved).map_err(|source| Error::Json { path: path.clone(), source })?;
        std::fs::write(&path, text).map_err(io(&path))
    }

    /// Loads a folder written by [`Trainer::save_checkpoint`]: the weights into the model, the
    /// optimizer state and the position in the run; the next `fit` continues from there and
    /// ends with the weights an uninterrupted run would have (on the CPU, bit for bit). The
    /// trainer's settings (seed, batch size, schedule) must be those of the saved run.
    pub fn resume(&mut self, checkpoint: impl AsRef<Path>) -> Result<()> {
        let dir = checkpoint.as_ref();
        let path = dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let saved: SavedState = serde_json::from_str(&text).map_err(|source| Error::Json { path: path.clone(), source })?;
        if saved.seed != self.config.seed {
            return Err(Error::config(
                "seed",
                format!("{} was saved with seed {} but this trainer has seed {}: set `.seed({})`", dir.display(), saved.seed, self.config.seed, saved.seed),
            ));
        }
        let weights = Checkpoint::from_file(&dir.join(MODEL_FILE))?;
        let vars = self.model.var_store().variables();
        tch::no_grad(|| -> Result<()> {
            for (name, var) in &vars {
                let value = weights.require(name)?;
                if value.size() != var.size() {
                    return Err(Error::Checkpoint {
                        path: dir.join(MODEL_FILE),
                        message: format!("`{name}` has shape {:?}, the model {:?}: the checkpoint is of another model", value.size(), var.size()),
                    });
                }
                var.shallow_clone().f_copy_(value)?;
            }
            Ok(())
        })?;
        let mut optimizer = OptimizerState::new(saved.optimizer, self.model.var_store());
        optimizer.steps = saved.optimizer_steps;
        let moments = Checkpoint::from_file(&dir.join(OPTIMIZER_FILE))?;
        let (first, second) = moment_names(saved.optimizer);
        let device = self.model.device();
        for p in &mut optimizer.params {
            p.m = moments.get(&format!("{}.{first}", p.name)).map(|t| t.to_device(device));
            p.v = second.and_then(|s| moments.get(&format!("{}.{s}", p.name))).map(|t| t.to_device(device));
        }
        self.config.optimizer = saved.optimizer;
        self.state = Some(TrainState {
            optimizer,
            step: saved.step,
            total: saved.total,
            warmup: saved.warmup,
            epoch: saved.epoch,
            batch: saved.batch,
            eval_due: saved.eval_due,
            history: saved.history,
            last_eval: saved.last_eval,
            best: saved.best,
            best_weights: None,
            evals_without_improvement: saved.evals_without_improvement,
            early_stopped: saved.early_stopped,
            data_wait: Default::default(),
        });
        Ok(())
    }
}

/// Names of the per-variable state tensors, as `torch.optim` calls them.
fn moment_names(rule: Optimizer) -> (&'static str, Option<&'static str>) {
    match rule {
        Optimizer::AdamW { .. } => ("exp_avg", Some("exp_avg_sq")),
        Optimizer::Sgd { .. } => ("momentum_buffer", None),
    }
}

/// The `checkpoint-<step>` folders of `dir`, oldest first.
pub(crate) fn checkpoints_in(dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let step = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("checkpoint-")).and_then(|s| s.parse().ok());
        if let (Some(step), true) = (step, path.is_dir()) {
            found.push((step, path));
        }
    }
    found.sort();
    Ok(found)
}

fn prune(dir: &Path, keep: usize, best: Option<usize>) -> Result<()> {
    let found = checkpoints_in(dir)?;
    let excess = found.len().saturating_sub(keep.max(1));
    for (step, path) in found.into_iter().take(excess) {
        if Some(step) != best {
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}
