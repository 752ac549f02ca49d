//! Optimizers over a model's trainable variables, by name: AdamW (decoupled weight decay,
//! `torch.optim.AdamW`'s update, step for step) and SGD with momentum. Weight decay skips
//! biases and LayerNorm weights, as Hugging Face's `Trainer.get_decay_parameter_names`.
//!
//! The state (moments, momentum buffers, step count) lives here in plain tensors keyed by
//! variable name, so it can be inspected and written to a checkpoint.

use serde::{Deserialize, Serialize};
use tch::{nn::VarStore, Tensor};

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Optimizer {
    /// AdamW with `betas` and `eps` (defaults 0.9, 0.999, 1e-8 as `TrainingArguments`).
    AdamW { beta1: f64, beta2: f64, eps: f64 },
    /// SGD with `momentum` (0 for plain SGD).
    Sgd { momentum: f64 },
}

impl Optimizer {
    /// AdamW with Hugging Face's defaults: betas (0.9, 0.999), eps 1e-8.
    pub fn adamw() -> Self {
        Optimizer::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }

    /// SGD with `momentum`.
    pub fn sgd(momentum: f64) -> Self {
        Optimizer::Sgd { momentum }
    }
}

impl Default for Optimizer {
    fn default() -> Self {
        Optimizer::adamw()
    }
}

/// Whether a variable gets weight decay: not biases, not LayerNorm weights (BERT's `LayerNorm`,
/// GPT-2's `ln_1`/`ln_2`/`ln_f`, ViT's `layernorm*`).
pub fn decays(name: &str) -> bool {
    let (module, leaf) = name.rsplit_once('.').unwrap_or(("", name));
    if leaf == "bias" {
        return false;
    }
    let module = module.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    !(module.contains("layernorm") || module.contains("layer_norm") || module.starts_with("ln_") || module == "ln")
}

/// One trainable variable and its optimizer state.
pub(crate) struct Param {
    pub name: String,
    pub tensor: Tensor,
    pub decay: bool,
    /// AdamW: first moment; SGD: momentum buffer.
    pub m: Option<Tensor>,
    /// AdamW: second moment.
    pub v: Option<Tensor>,
}

/// The optimizer's view of a model: its trainable variables in name order, with state.
pub(crate) struct OptimizerState {
    pub rule: Optimizer,
    pub params: Vec<Param>,
    /// Optimizer steps taken (AdamW's bias correction counts them).
    pub steps: u64,
}

impl OptimizerState {
    /// The trainable variables of `vs` (frozen ones are left out), sorted by name.
    pub fn new(rule: Optimizer, vs: &VarStore) -> Self {
        let mut vars: Vec<(String, Tensor)> =
            vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let params = vars
            .into_iter()
            .map(|(name, tensor)| Param { decay: decays(&name), name, tensor, m: None, v: None })
            .collect();
        OptimizerState { rule, params, steps: 0 }
    }

    /// Names of the variables that get weight decay and of those that do not.
    pub fn groups(&self) -> (Vec<String>, Vec<String>) {
        let (d, n): (Vec<&Param>, Vec<&Param>) = self.params.iter().partition(|p| p.decay);
        (d.iter().map(|p| p.name.clone()).collect(), n.iter().map(|p| p.name.clone()).collect())
    }

    /// Sets every gradient to zero.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.tensor.zero_grad();
        }
    }

    /// The L2 norm of all gradients together; when `max_norm` > 0 the gradients are scaled
    /// down to it (`torch.nn.utils.clip_grad_norm_`). Returns the norm before clipping.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        tch::no_grad(|| {
            let norms: Vec<Tensor> =
                self.params.iter().map(|p| p.tensor.grad()).filter(|g| g.defined()).map(|g| g.norm()).collect();
            if norms.is_empty() {
                return 0.0;
            }
            let total = Tensor::stack(&norms, 0).norm().double_value(&[]);
            if max_norm > 0.0 {
                let coef = max_norm / (total + 1e-6);
                if coef < 1.0 {
                    for p in &self.params {
                        let mut g = p.tensor.grad();
                        if g.defined() {
                            let _ = g.g_mul_scalar_(coef);
                        }
                    }
                }
            }
            total
        })
    }

    /// One update with learning rate `lr` and decoupled weight decay `weight_decay`.
    pub fn step(&mut self, lr: f64, weight_decay: f64) {
        self.steps += 1;
        let t = self.steps as i32;
        let rule = self.rule;
        tch::no_grad(|| {
            for p in &mut self.params {
                let grad = p.tensor.grad();
                if !grad.defined() {
                    continue;
                }
                let wd = if p.decay { weight_decay } else { 0.0 };
                match rule {
                    Optimizer::AdamW { beta1, beta2, eps } => {
                        // In place, one temporary (g², then the denominator reuses it): the fewest
                        // passes over memory tch allows without torch's fused kernels.
                        if wd != 0.0 {
                            let _ = p.tensor.g_mul_scalar_(1.0 - lr * wd);
                        }
                        let m = p.m.get_or_insert_with(|| grad.zeros_like());
                        let _ = m.lerp_(&grad, 1.0 - beta1);
                        let v = p.v.get_or_insert_with(|| grad.zeros_like());
                        let mut denom = &grad * &grad;
                        let _ = v.lerp_(&denom, 1.0 - beta2);
                        let bc1 = 1.0 - beta1.powi(t);
                        let bc2 = 1.0 - beta2.powi(t);
                        // p -= lr/bc1 · m / (√v/√bc2 + eps), as p += m / ((√v/√bc2 + eps) · -bc1/lr)
                        let _ = v.sqrt_out(&denom);
                        let _ = denom.g_div_scalar_(bc2.sqrt());
                        let _ = denom.g_add_scalar_(eps);
                        if lr != 0.0 {
                            let _ = denom.g_mul_scalar_(-bc1 / lr);
                            let _ = p.tensor.addcdiv_(m, &denom);
                        }
                    }
                    Optimizer::Sgd { momentum } => {
                        let mut update = if wd != 0.0 { &grad + &p.tensor * wd } else { grad.shallow_clone() };
                        if momentum != 0.0 {
                            let buf = match p.m.take() {
                                Some(mut b) => {
                                    let _ = b.g_mul_scalar_(momentum);
                                    let _ = b.g_add_(&update);
                                    b
                                }
                                None => update.copy(),
                            };
                            update = buf.shallow_clone();
                            p.m = Some(buf);
                        }
                        let _ = p.tensor.g_sub_(&(update * lr));
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_groups_follow_hugging_face() {
        assert!(decays("bert.encoder.layer.0.attention.self.query.weight"));
        assert!(decays("bert.embeddings.word_embeddings.weight"));
        assert!(!decays("bert.encoder.layer.0.attention.self.query.bias"));
        assert!(!decays("bert.embeddings.LayerNorm.weight"));
        assert!(!decays("cls.predictions.transform.LayerNorm.weight"));
        assert!(!decays("cls.predictions.bias"));
        assert!(!decays("transformer.h.0.ln_1.weight"));
        assert!(!decays("transformer.ln_f.weight"));
        assert!(!decays("vit.encoder.layer.0.layernorm_before.weight"));
    }

    #[test]
    fn adamw_matches_torch_on_one_parameter() {
        // torch.optim.AdamW([p], lr=0.1, weight_decay=0.01) with p = [1, -2], grad = [0.5, 0.25],
        // two steps: p = [0.79810101, -2.19590187] (computed with torch 2.11).
        let vs = VarStore::new(tch::Device::Cpu);
        let p = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0]));
        let mut opt = OptimizerState::new(Optimizer::adamw(), &vs);
        for _ in 0..2 {
            opt.zero_grad();
            let loss = (&p * Tensor::from_slice(&[0.5f32, 0.25])).sum(tch::Kind::Float);
            loss.backward();
            opt.step(0.1, 0.01);
        }
        let got: Vec<f32> = Vec::try_from(&p.detach()).unwrap();
        assert!((got[0] - 0.798_101).abs() < 1e-5, "{got:?}");
        assert!((got[1] + 2.195_902).abs() < 1e-5, "{got:?}");
    }
}
