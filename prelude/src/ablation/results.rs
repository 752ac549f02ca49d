//! What a sweep returns: one [`TrialResult`] per (arm, size, seed), the mean and standard
//! deviation over seeds per (arm, size), an HTML table for the notebook and a CSV file.

use crate::display::{escape_html, Html, MimeBundle, Render};
use crate::plot::ErrorBarChart;
use crate::train::Evaluation;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The named numbers a trial reports ("accuracy", "f1_macro", …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores(pub BTreeMap<String, f64>);

impl Scores {
    /// The score called `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }
}

impl From<f64> for Scores {
    /// A single number, called `score`.
    fn from(score: f64) -> Self {
        Scores(BTreeMap::from([("score".to_string(), score)]))
    }
}

impl From<BTreeMap<String, f64>> for Scores {
    fn from(map: BTreeMap<String, f64>) -> Self {
        Scores(map)
    }
}

impl<const N: usize> From<[(&str, f64); N]> for Scores {
    fn from(pairs: [(&str, f64); N]) -> Self {
        Scores(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}

impl From<Evaluation> for Scores {
    /// Every metric of an evaluation (loss, accuracy, precision/recall/F1 averages, …).
    fn from(evaluation: Evaluation) -> Self {
        Scores(evaluation.values())
    }
}

impl From<&Evaluation> for Scores {
    fn from(evaluation: &Evaluation) -> Self {
        Scores(evaluation.values())
    }
}

/// One finished trial, as stored on disk (a line of `results.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    pub arm: String,
    pub size: usize,
    pub seed: u64,
    pub scores: Scores,
    /// Wall-clock seconds the trial took when it ran.
    pub seconds: f64,
}

/// Mean and sample standard deviation of one score over the seeds of an (arm, size).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub arm: String,
    pub size: usize,
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for a single seed.
    pub std: f64,
    /// Seeds that reported the score.
    pub n: usize,
}

/// The results of a sweep, in the sweep's order (sizes, then seeds, then arms).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepResults {
    pub trials: Vec<TrialResult>,
    /// Trials the sweep asked for; fewer are present when it was stopped.
    pub planned: usize,
    /// Arm names in the order they were declared (for tables and legends).
    pub arms: Vec<String>,
    /// The stop button ended the sweep before every trial ran.
    pub interrupted: bool,
}

impl SweepResults {
    /// Every trial ran.
    pub fn complete(&self) -> bool {
        self.trials.len() == self.planned
    }

    /// The names of the scores the trials reported, sorted.
    pub fn score_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.trials.iter().flat_map(|t| t.scores.0.keys().cloned()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// Mean ± standard deviation of `score` over seeds, per (arm, size), arms in declared order.
    pub fn summary(&self, score: &str) -> Result<Vec<Summary>> {
        if !self.trials.is_empty() && !self.score_names().iter().any(|n| n == score) {
            return Err(Error::config(
                "score",
                format!("no trial reported `{score}`; the trials reported: {}", self.score_names().join(", ")),
            ));
        }
        let mut sizes: Vec<usize> = self.trials.iter().map(|t| t.size).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let mut out = Vec::new();
        for arm in &self.arms {
            for &size in &sizes {
                let values: Vec<f64> = self
                    .trials
                    .iter()
                    .filter(|t| &t.arm == arm && t.size == size)
                    .filter_map(|t| t.scores.get(score))
                    .collect();
                if values.is_empty() {
                    continue;
                }
                let (mean, std) = mean_std(&values);
                out.push(Summary { arm: arm.clone(), size, mean, std, n: values.len() });
            }
        }
        Ok(out)
    }

    /// `score` against training-set size (log scale), one line per arm: the mean over seeds with
    /// ±1 standard deviation error bars.
    pub fn chart(&self, score: &str) -> Result<ErrorBarChart> {
        self.summary(score)?;
        let mut chart = ErrorBarChart::new(format!("{score} vs training-set size (mean ± std over seeds)"))
            .log_x()
            .x_label("training examples")
            .y_label(score);
        for arm in &self.arms {
            for t in self.trials.iter().filter(|t| &t.arm == arm) {
                if let Some(v) = t.scores.get(score) {
                    chart.add(arm.clone(), t.size as f64, v);
                }
            }
        }
        Ok(chart)
    }

    /// One row per trial: arm, size, seed, every score, seconds.
    pub fn csv(&self) -> String {
        let names = self.score_names();
        let mut out = format!("arm,size,seed,{},seconds\n", names.join(","));
        for t in &self.trials {
            let scores: Vec<String> =
                names.iter().map(|n| t.scores.get(n).map(|v| format!("{v}")).unwrap_or_default()).collect();
            out += &format!("{},{},{},{},{:.2}\n", csv_field(&t.arm), t.size, t.seed, scores.join(","), t.seconds);
        }
        out
    }

    /// Writes [`csv`](Self::csv) to `path`.
    pub fn save_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        // A temporary file renamed over the old one: a reader never sees half a table.
        let tmp = path.with_extension("csv.tmp");
        std::fs::write(&tmp, self.csv()).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    /// An HTML table: per (arm, size), mean ± std over seeds of every score.
    pub fn html(&self) -> String {
        let names = self.score_names();
        let mut rows = String::new();
        let summaries: Vec<Vec<Summary>> = names.iter().map(|n| self.summary(n).unwrap_or_default()).collect();
        if let Some(first) = summaries.first() {
            for (i, s) in first.iter().enumerate() {
                let cells: String = summaries
                    .iter()
                    .map(|col| match col.get(i) {
                        Some(c) if c.n > 1 => format!("<td>{:.4} ± {:.4}</td>", c.mean, c.std),
                        Some(c) => format!("<td>{:.4}</td>", c.mean),
                        None => "<td></td>".into(),
                    })
                    .collect();
                rows += &format!("<tr><td>{}</td><td>{}</td><td>{}</td>{cells}</tr>", escape_html(&s.arm), s.size, s.n);
            }
        }
        let head: String = names.iter().map(|n| format!("<th>{}</th>", escape_html(n))).collect();
        let status = if self.complete() {
            format!("{} trials", self.trials.len())
        } else {
            format!("{} of {} trials{}", self.trials.len(), self.planned, if self.interrupted { " (stopped; run again to continue)" } else { "" })
        };
        format!(
            "<table><caption>Sweep: {status}; mean ± std over seeds</caption>\
             <thead><tr><th>arm</th><th>size</th><th>seeds</th>{head}</tr></thead><tbody>{rows}</tbody></table>"
        )
    }

    /// The table as text (what a terminal shows).
    pub fn text(&self) -> String {
        let names = self.score_names();
        let mut out = format!("{:<24} {:>8} {:>5}", "arm", "size", "seeds");
        for n in &names {
            out += &format!(" {n:>20}");
        }
        out.push('\n');
        let summaries: Vec<Vec<Summary>> = names.iter().map(|n| self.summary(n).unwrap_or_default()).collect();
        if let Some(first) = summaries.first() {
            for (i, s) in first.iter().enumerate() {
                out += &format!("{:<24} {:>8} {:>5}", s.arm, s.size, s.n);
                for col in &summaries {
                    match col.get(i) {
                        Some(c) => out += &format!(" {:>11.4} ± {:<6.4}", c.mean, c.std),
                        None => out += &format!(" {:>20}", ""),
                    }
                }
                out.push('\n');
            }
        }
        out
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Mean and sample standard deviation.
pub(crate) fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

impl Render for SweepResults {
    fn render(&self) -> MimeBundle {
        Html::new(self.html()).plain(self.text()).render()
    }
}
crate::impl_evcxr_display!(SweepResults);

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(arm: &str, size: usize, seed: u64, acc: f64) -> TrialResult {
        TrialResult { arm: arm.into(), size, seed, scores: [("accuracy", acc)].into(), seconds: 1.0 }
    }

    #[test]
    fn summary_is_mean_and_sample_std_per_arm_and_size() {
        let r = SweepResults {
            trials: vec![trial("full", 100, 0, 0.5), trial("full", 100, 1, 0.7), trial("lora", 100, 0, 0.6)],
            planned: 4,
            arms: vec!["full".into(), "lora".into()],
            interrupted: true,
        };
        let s = r.summary("accuracy").unwrap();
        assert_eq!(s.len(), 2);
        assert!((s[0].mean - 0.6).abs() < 1e-12 && (s[0].std - 0.1414213562).abs() < 1e-9 && s[0].n == 2);
        assert_eq!((s[1].mean, s[1].std, s[1].n), (0.6, 0.0, 1));
        assert!(r.summary("f1").unwrap_err().to_string().contains("accuracy"));
        assert!(r.html().contains("3 of 4 trials"));
        assert_eq!(r.csv().lines().nth(1), Some("full,100,0,0.5,1.00"));
        let chart = r.chart("accuracy").unwrap();
        let series = chart.summary();
        assert_eq!(series.iter().map(|(n, p)| (n.as_str(), p.len())).collect::<Vec<_>>(), [("full", 1), ("lora", 1)]);
        assert!((series[0].1[0].mean - 0.6).abs() < 1e-12 && series[0].1[0].n == 2);
    }
}
