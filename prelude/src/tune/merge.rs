//! Merging adapters into the base weights and back (PEFT's `merge_adapter`, `unmerge_adapter`,
//! `merge_and_unload`): LoRA and DoRA deltas, (IA)³ scales.

use super::lora::{dora_norm, lock};
use super::strategy::set_trainable;
use super::tuned::{attachment_labels, remove_vars, Method, Tuned};
use crate::models::PretrainedModel;
use crate::{Error, Result};
use std::collections::BTreeMap;
use tch::Tensor;

impl<M: PretrainedModel> Tuned<M> {
    /// Adds the active adapter's scaled B·A into its layers' weights (in their own layout:
    /// GPT-2's Conv1D weights are (in, out)), so `forward` costs what the base model costs.
    pub fn merge(&mut self) -> Result<()> {
        self.apply_delta(1.0)
    }

    /// Subtracts what [`Tuned::merge`] added; nothing when no adapter is merged.
    pub fn unmerge(&mut self) -> Result<()> {
        self.apply_delta(-1.0)
    }

    fn apply_delta(&mut self, sign: f64) -> Result<()> {
        let merged: Vec<String> = lock(&self.control).merged.iter().cloned().collect();
        let names = if sign > 0.0 {
            let Some(active) = self.active_adapter() else {
                return Err(Error::msg("this model has no adapter to merge"));
            };
            if merged.contains(&active) {
                return Ok(());
            }
            if let Some(Method::Prompt(_) | Method::Prefix(_)) = self.adapters.get(&active).map(|a| &a.method) {
                return Err(Error::msg(format!("adapter `{active}` is prompt or prefix tuning, which adds tokens rather than changing weights: it does not merge")));
            }
            if let Some(Method::Bottleneck(_)) = self.adapters.get(&active).map(|a| &a.method) {
                return Err(Error::msg(format!("adapter `{active}` is a bottleneck adapter, whose activation keeps it out of the weights: it does not merge")));
            }
            vec![active]
        } else {
            merged
        };
        for name in names {
            let rec = self.require(&name)?;
            let loras: BTreeMap<String, (Tensor, Option<Tensor>)> = rec
                .layers
                .iter()
                .map(|l| (l.linear.clone(), (tch::no_grad(|| l.b.matmul(&l.a) * l.scaling), l.magnitude.as_ref().map(Tensor::detach))))
                .collect();
            let scales: BTreeMap<String, (Tensor, bool)> =
                rec.scales.iter().map(|s| (s.linear.clone(), (s.scale.detach(), s.feedforward))).collect();
            let mut norms = std::mem::take(&mut self.dora_norms);
            for (lname, lin) in self.model.linears_mut() {
                let t = lin.is_transposed();
                // (out, in) → the layer's own layout.
                let own = |x: Tensor| if t { x.tr() } else { x };
                if let Some((delta, magnitude)) = loras.get(&lname) {
                    let w = lin.weight.shallow_clone();
                    let new = tch::no_grad(|| -> Result<Tensor> {
                        let kind = w.kind();
                        let delta = delta.to_kind(kind);
                        Ok(match magnitude {
                            None => &w + own(delta * sign),
                            // DoRA (PEFT's `DoraLinearVariant.merge_unsafe` / `unmerge`):
                            // W' = m / ‖W + ΔW‖ · (W + ΔW), rows of the (out, in) weight.
                            Some(m) if sign > 0.0 => {
                                let w_oi = if t { w.tr() } else { w.shallow_clone() };
                                let norm = dora_norm(&w_oi, &delta, 1.0);
                                let factor = (m / &norm).view([-1, 1]);
                                norms.insert(lname.clone(), norm);
                                own(factor * (w_oi + delta))
                            }
                            Some(m) => {
                                let norm = norms.remove(&lname).ok_or_else(|| Error::msg(format!("no DoRA norm kept for `{lname}`")))?;
                                let factor = (m / norm).view([-1, 1]);
                                let w_oi = if t { w.tr() } else { w.shallow_clone() };
                                own(w_oi / factor - delta)
                            }
                        })
                    })?;
                    tch::no_grad(|| lin.weight.f_copy_(&new))?;
                }
                if let Some((scale, feedforward)) = scales.get(&lname) {
                    // (IA)³ (PEFT's `IA3Layer.merge` / `unmerge`): scale the weight's rows (outputs)
                    // or columns (inputs), and the bias of an output-scaled layer.
                    let scale = scale.to_kind(lin.weight.kind());
                    let s = if sign > 0.0 { scale.shallow_clone() } else { &scale + 1e-8 };
                    let s_w = if t { s.tr() } else { s.shallow_clone() };
                    tch::no_grad(|| -> Result<()> {
                        let _ = if sign > 0.0 { lin.weight.f_mul_(&s_w)? } else { lin.weight.f_div_(&s_w)? };
                        if let (false, Some(b)) = (*feedforward, lin.bias.as_mut()) {
                            let s_b = s.view([-1]);
                            let _ = if sign > 0.0 { b.f_mul_(&s_b)? } else { b.f_div_(&s_b)? };
                        }
                        Ok(())
                    })?;
                }
            }
            self.dora_norms = norms;
            let mut c = lock(&self.control);
            if sign > 0.0 {
                c.merged.insert(name);
            } else {
                c.merged.remove(&name);
            }
        }
        Ok(())
    }

    /// Merges the active adapter, removes every adapter and returns the plain model, whose
    /// parameters all train (as after `merge_and_unload` in PEFT).
    pub fn merge_and_unload(mut self) -> Result<M> {
        if self.active_adapter().is_some() && lock(&self.control).enabled {
            self.merge()?;
        }
        for name in self.adapter_names() {
            let labels = attachment_labels(&name);
            // The head keeps the trained copy's values.
            if let Some(rec) = self.adapters.get(&name) {
                if lock(&self.control).active == name {
                    let copies: BTreeMap<String, (Tensor, Option<Tensor>)> = rec
                        .saved
                        .iter()
                        .map(|s| (s.linear.clone(), (s.weight.shallow_clone(), s.bias.as_ref().map(Tensor::shallow_clone))))
                        .collect();
                    for (lname, lin) in self.model.linears_mut() {
                        if let Some((w, b)) = copies.get(&lname) {
                            tch::no_grad(|| lin.weight.copy_(w));
                            if let (Some(dst), Some(src)) = (&lin.bias, b) {
                                tch::no_grad(|| dst.shallow_clone().copy_(src));
                            }
                        }
                    }
                }
            }
            self.detach_where(|label| labels.iter().any(|l| l == label));
            if let Some(rec) = self.adapters.remove(&name) {
                remove_vars(self.model.var_store(), &rec.var_names);
            }
        }
        set_trainable(&self, |_| true);
        Ok(self.model)
    }
}
