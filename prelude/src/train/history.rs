//! What a training run leaves: one record per optimizer step (loss, gradient norm, learning
//! rate, epoch) and one per evaluation, exportable as CSV and JSON and drawn as loss curves.

use super::metrics::Evaluation;
use crate::display::{escape_html, MimeBundle, Render};
use crate::plot::LineChart;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One optimizer step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Optimizer steps done, this one included (1-based, as Hugging Face logs).
    pub step: usize,
    /// Epochs done, fractional.
    pub epoch: f64,
    /// Mean training loss over the step's micro-batches.
    pub loss: f64,
    /// Norm of all gradients before clipping.
    pub grad_norm: f64,
    /// Learning rate the step used.
    pub learning_rate: f64,
}

/// One evaluation on the validation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Optimizer steps done when it ran.
    pub step: usize,
    /// Epochs done, fractional.
    pub epoch: f64,
    /// Named values: `loss`, `accuracy`, `f1_macro`, …
    pub metrics: BTreeMap<String, f64>,
}

/// Every record of a run, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub steps: Vec<StepRecord>,
    pub evals: Vec<EvalRecord>,
}

impl History {
    /// The history as JSON: `{"steps": [...], "evals": [...]}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// One row per step (`step,epoch,loss,grad_norm,learning_rate`) followed by an `eval_`
    /// column per evaluation metric, filled on the rows of the steps where it ran.
    pub fn to_csv(&self) -> String {
        let names: BTreeSet<&String> = self.evals.iter().flat_map(|e| e.metrics.keys()).collect();
        let mut out = String::from("step,epoch,loss,grad_norm,learning_rate");
        for n in &names {
            out += &format!(",eval_{n}");
        }
        out.push('\n');
        let mut steps: BTreeSet<usize> = self.steps.iter().map(|s| s.step).collect();
        steps.extend(self.evals.iter().map(|e| e.step));
        for step in steps {
            let rec = self.steps.iter().find(|s| s.step == step);
            let eval = self.evals.iter().rev().find(|e| e.step == step);
            let epoch = rec.map(|r| r.epoch).or(eval.map(|e| e.epoch)).unwrap_or(0.0);
            out += &format!("{step},{epoch}");
            match rec {
                Some(r) => out += &format!(",{},{},{}", r.loss, r.grad_norm, r.learning_rate),
                None => out += ",,,",
            }
            for n in &names {
                out.push(',');
                if let Some(v) = eval.and_then(|e| e.metrics.get(*n)) {
                    out += &v.to_string();
                }
            }
            out.push('\n');
        }
        out
    }

    /// Writes [`History::to_csv`] to `path`.
    pub fn save_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_csv()).map_err(|e| Error::io(path, e))
    }

    /// Writes [`History::to_json`] to `path`.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()).map_err(|e| Error::io(path, e))
    }

    /// Training loss per step, and validation loss where evaluated.
    pub fn plot_loss(&self) -> LineChart {
        let mut chart = LineChart::new("loss")
            .x_label("step")
            .y_label("loss")
            .series("train", self.steps.iter().map(|s| (s.step as f64, s.loss)));
        let valid: Vec<(f64, f64)> =
            self.evals.iter().filter_map(|e| e.metrics.get("loss").map(|v| (e.step as f64, *v))).collect();
        if !valid.is_empty() {
            chart = chart.series("valid", valid);
        }
        chart
    }

    /// One evaluation metric over the steps where it was measured.
    pub fn plot_metric(&self, name: &str) -> LineChart {
        LineChart::new(name)
            .x_label("step")
            .y_label(name)
            .series(name, self.evals.iter().filter_map(|e| e.metrics.get(name).map(|v| (e.step as f64, *v))))
    }
}

/// Why a call to `fit` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stop {
    /// Every planned step ran.
    Finished,
    /// The user pressed stop; calling `fit` again continues.
    Interrupted,
    /// Early stopping: the watched metric stopped improving.
    EarlyStopped,
}

/// What `fit` returns: the history so far, where it stopped and the last evaluation.
#[derive(Debug, Clone)]
pub struct Run {
    /// Every step and evaluation since the trainer was made (earlier `fit` calls included).
    pub history: History,
    /// Optimizer steps done.
    pub step: usize,
    /// Optimizer steps planned.
    pub total_steps: usize,
    /// Why it returned.
    pub stop: Stop,
    /// The latest evaluation, if any ran.
    pub last_eval: Option<Evaluation>,
    /// Step and value of the best watched metric, when evaluations ran.
    pub best: Option<(usize, f64)>,
}

impl Run {
    /// Whether the user stopped it before the end (a later `fit` continues).
    pub fn interrupted(&self) -> bool {
        self.stop == Stop::Interrupted
    }

    /// Training (and validation) loss per step.
    pub fn plot_loss(&self) -> LineChart {
        self.history.plot_loss()
    }

    /// The last training loss recorded.
    pub fn final_loss(&self) -> Option<f64> {
        self.history.steps.last().map(|s| s.loss)
    }

    fn status(&self) -> &'static str {
        match self.stop {
            Stop::Finished => "finished",
            Stop::Interrupted => "interrupted (call fit again to continue)",
            Stop::EarlyStopped => "stopped early",
        }
    }

    /// One line: steps, status, last loss.
    pub fn text(&self) -> String {
        let loss = self.final_loss().map(|l| format!(", loss {l:.4}")).unwrap_or_default();
        format!("run: {}/{} steps, {}{loss}", self.step, self.total_steps, self.status())
    }
}

impl Render for Run {
    fn render(&self) -> MimeBundle {
        let mut html = format!("<div class=\"tuna-run\"><p>{}</p>", escape_html(&self.text()));
        html += &self.plot_loss().to_svg();
        if let Some(e) = &self.last_eval {
            html += &e.html();
        }
        html += "</div>";
        MimeBundle::text(self.text()).with("text/html", html)
    }
}

crate::impl_evcxr_display!(Run);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_merges_evaluations_into_step_rows() {
        let h = History {
            steps: vec![
                StepRecord { step: 1, epoch: 0.5, loss: 2.0, grad_norm: 1.5, learning_rate: 0.1 },
                StepRecord { step: 2, epoch: 1.0, loss: 1.0, grad_norm: 0.5, learning_rate: 0.05 },
            ],
            evals: vec![EvalRecord { step: 2, epoch: 1.0, metrics: [("loss".to_string(), 0.75)].into() }],
        };
        assert_eq!(
            h.to_csv(),
            "step,epoch,loss,grad_norm,learning_rate,eval_loss\n1,0.5,2,1.5,0.1,\n2,1,1,0.5,0.05,0.75\n"
        );
        let back: History = serde_json::from_str(&h.to_json()).unwrap();
        assert_eq!(back, h);
        assert!(h.plot_loss().to_svg().contains("valid"));
    }
}
