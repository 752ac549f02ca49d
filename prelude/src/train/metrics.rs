//! Evaluation metrics: loss, perplexity, accuracy, and for classifiers precision / recall / F1
//! per class with macro and weighted averages and the confusion matrix, defined as
//! scikit-learn's `precision_recall_fscore_support` (a class never predicted has precision 0,
//! weighted averages weight by support), sensitivity and specificity for two classes (class 1
//! positive); with the class scores of every row (`metrics_scores.rs`) ROC-AUC and top-k
//! accuracy. An [`Evaluation`] shows as an HTML table.

use super::metrics_scores::Scored;
use crate::display::{escape_html, MimeBundle, Render};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// The class name.
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Number of targets of this class.
    pub support: u64,
}

/// Class metrics from predictions and targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Per class, in class order.
    pub classes: Vec<ClassScores>,
    /// `confusion[target][predicted]`.
    pub confusion: Vec<Vec<u64>>,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl ClassMetrics {
    /// Scores `predictions` against `targets` over classes named `labels` (classes beyond the
    /// names are named by their number).
    pub fn new(predictions: &[i64], targets: &[i64], labels: &[String]) -> Self {
        let seen = predictions.iter().chain(targets).copied().max().map_or(0, |m| m.max(0) as usize + 1);
        let n = labels.len().max(seen);
        let mut confusion = vec![vec![0u64; n]; n];
        for (&p, &t) in predictions.iter().zip(targets) {
            if p >= 0 && t >= 0 {
                confusion[t as usize][p as usize] += 1;
            }
        }
        let classes = (0..n)
            .map(|c| {
                let tp = confusion[c][c];
                let predicted: u64 = confusion.iter().map(|row| row[c]).sum();
                let support: u64 = confusion[c].iter().sum();
                let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
                let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
                let label = labels.get(c).cloned().unwrap_or_else(|| c.to_string());
                ClassScores { label, precision, recall, f1, support }
            })
            .collect();
        ClassMetrics { classes, confusion }
    }

    /// Fraction of targets predicted right.
    pub fn accuracy(&self) -> f64 {
        let right: u64 = (0..self.confusion.len()).map(|c| self.confusion[c][c]).sum();
        ratio(right, self.total())
    }

    fn total(&self) -> u64 {
        self.classes.iter().map(|c| c.support).sum()
    }

    fn average(&self, f: impl Fn(&ClassScores) -> f64, weighted: bool) -> f64 {
        if self.classes.is_empty() {
            return 0.0;
        }
        if weighted {
            let total = self.total().max(1) as f64;
            self.classes.iter().map(|c| f(c) * c.support as f64).sum::<f64>() / total
        } else {
            self.classes.iter().map(&f).sum::<f64>() / self.classes.len() as f64
        }
    }

    /// For two classes with class 1 the positive one (disease, fraud, …): the recall of the
    /// positives, TP / (TP + FN). None for other class counts.
    pub fn sensitivity(&self) -> Option<f64> {
        (self.classes.len() == 2).then(|| self.classes[1].recall)
    }

    /// For two classes: the recall of the negatives, TN / (TN + FP). None for other class counts.
    pub fn specificity(&self) -> Option<f64> {
        (self.classes.len() == 2).then(|| self.classes[0].recall)
    }

    /// Named values: `accuracy`, `precision_macro`, `recall_macro`, `f1_macro`, the
    /// `_weighted` ones, and `sensitivity` / `specificity` for two classes.
    pub fn values(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        out.insert("accuracy".into(), self.accuracy());
        if let (Some(se), Some(sp)) = (self.sensitivity(), self.specificity()) {
            out.insert("sensitivity".into(), se);
            out.insert("specificity".into(), sp);
        }
        for (name, weighted) in [("macro", false), ("weighted", true)] {
            out.insert(format!("precision_{name}"), self.average(|c| c.precision, weighted));
            out.insert(format!("recall_{name}"), self.average(|c| c.recall, weighted));
            out.insert(format!("f1_{name}"), self.average(|c| c.f1, weighted));
        }
        out
    }
}

/// The result of evaluating a model on a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Optimizer step at which it was measured.
    pub step: usize,
    /// Mean loss over every target of the dataset.
    pub loss: f64,
    /// Targets scored (rows, or labelled tokens for language models).
    pub count: u64,
    /// Fraction of targets predicted right (token accuracy for language models).
    pub accuracy: Option<f64>,
    /// Class metrics, for classifiers.
    pub classes: Option<ClassMetrics>,
    /// Whether `perplexity` (exp of the loss) is meaningful: language models.
    pub language_model: bool,
    /// Values computed from the class scores (`roc_auc`, `top3_accuracy`, …), for classifiers.
    #[serde(default)]
    pub score_metrics: BTreeMap<String, f64>,
    /// The class probabilities and targets they came from (not saved in checkpoints): see
    /// [`Evaluation::roc_curve`].
    #[serde(skip)]
    pub scored: Option<Scored>,
}

impl Evaluation {
    /// Every named value: `loss`, `accuracy`, the class averages, `perplexity` for language models.
    pub fn values(&self) -> BTreeMap<String, f64> {
        let mut out = self.classes.as_ref().map(ClassMetrics::values).unwrap_or_default();
        out.extend(self.score_metrics.clone());
        out.insert("loss".into(), self.loss);
        if let Some(a) = self.accuracy {
            out.insert("accuracy".into(), a);
        }
        if self.language_model {
            out.insert("perplexity".into(), self.loss.exp());
        }
        out
    }

    /// One named value (see [`Evaluation::values`]).
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.values().get(name).copied()
    }

    /// The ROC curve of class `positive` against the rest, from the probabilities of this
    /// evaluation (empty when they were not kept, e.g. after loading a checkpoint).
    pub fn roc_curve(&self, positive: usize) -> Vec<super::metrics_scores::RocPoint> {
        self.scored.as_ref().map(|s| s.roc_curve(positive)).unwrap_or_default()
    }

    /// Fraction of targets among the `k` most probable classes (None without kept scores).
    pub fn top_k_accuracy(&self, k: usize) -> Option<f64> {
        self.scored.as_ref().map(|s| s.top_k_accuracy(k))
    }

    /// The table as HTML: the summary values, then per-class scores and the confusion matrix.
    pub fn html(&self) -> String {
        let mut h = format!("<table class=\"tuna-eval\"><caption>evaluation at step {} ({} targets)</caption>", self.step, self.count);
        h += "<tr><th>metric</th><th>value</th></tr>";
        for (k, v) in self.values() {
            h += &format!("<tr><td>{}</td><td>{v:.4}</td></tr>", escape_html(&k));
        }
        h += "</table>";
        if let Some(c) = &self.classes {
            h += "<table class=\"tuna-eval-classes\"><tr><th>class</th><th>precision</th><th>recall</th><th>f1</th><th>support</th></tr>";
            for s in &c.classes {
                h += &format!(
                    "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td></tr>",
                    escape_html(&s.label), s.precision, s.recall, s.f1, s.support
                );
            }
            h += "</table><table class=\"tuna-confusion\"><caption>confusion (rows: true, columns: predicted)</caption><tr><th></th>";
            for s in &c.classes {
                h += &format!("<th>{}</th>", escape_html(&s.label));
            }
            h += "</tr>";
            for (s, row) in c.classes.iter().zip(&c.confusion) {
                h += &format!("<tr><th>{}</th>", escape_html(&s.label));
                for v in row {
                    h += &format!("<td>{v}</td>");
                }
                h += "</tr>";
            }
            h += "</table>";
        }
        h
    }

    /// The summary values as text, one per line.
    pub fn text(&self) -> String {
        let lines: Vec<String> = self.values().iter().map(|(k, v)| format!("{k}: {v:.4}")).collect();
        format!("evaluation at step {}\n{}", self.step, lines.join("\n"))
    }
}

impl Render for Evaluation {
    fn render(&self) -> MimeBundle {
        MimeBundle::text(self.text()).with("text/html", self.html())
    }
}

crate::impl_evcxr_display!(Evaluation);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scikit_learn() {
        // sklearn.metrics.precision_recall_fscore_support(t, p) and accuracy_score.
        let t = [0, 0, 1, 1, 2, 2, 2];
        let p = [0, 1, 1, 1, 2, 0, 0];
        let m = ClassMetrics::new(&p, &t, &["neg".into(), "neu".into(), "pos".into()]);
        assert!((m.accuracy() - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(m.confusion, vec![vec![1, 1, 0], vec![0, 2, 0], vec![2, 0, 1]]);
        let c = &m.classes;
        assert!((c[0].precision - 1.0 / 3.0).abs() < 1e-12 && (c[0].recall - 0.5).abs() < 1e-12);
        assert!((c[2].precision - 1.0).abs() < 1e-12 && (c[2].recall - 1.0 / 3.0).abs() < 1e-12);
        let v = m.values();
        // f1 per class: 0.4, 0.8, 0.5 → macro 0.5666…, weighted (2·0.4 + 2·0.8 + 3·0.5)/7.
        assert!((v["f1_macro"] - 1.7 / 3.0).abs() < 1e-12, "{v:?}");
        assert!((v["f1_weighted"] - 3.9 / 7.0).abs() < 1e-12, "{v:?}");
    }

    #[test]
    fn never_predicted_class_scores_zero() {
        let m = ClassMetrics::new(&[0, 0], &[0, 1], &[]);
        assert_eq!(m.classes[1].precision, 0.0);
        assert_eq!(m.classes[1].f1, 0.0);
        assert_eq!(m.classes[1].label, "1");
    }

    #[test]
    fn evaluation_renders_a_table() {
        let e = Evaluation {
            step: 3,
            loss: 0.5,
            count: 2,
            accuracy: Some(0.5),
            classes: Some(ClassMetrics::new(&[0, 0], &[0, 1], &["a<b".into(), "c".into()])),
            language_model: false,
            score_metrics: [("roc_auc".to_string(), 0.75)].into(),
            scored: None,
        };
        let html = e.html();
        assert!(html.contains("<td>f1_macro</td>") && html.contains("a&lt;b"), "{html}");
        assert!(html.contains("tuna-confusion"));
        assert!(html.contains("<td>roc_auc</td><td>0.7500</td>") && html.contains("<td>sensitivity</td><td>0.0000</td>"), "{html}");
    }
}
