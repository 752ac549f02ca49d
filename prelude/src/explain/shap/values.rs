//! The result of every SHAP explainer and how it is shown: coloured tokens as
//! `shap.plots.text` draws them (red raises the output, blue lowers it), and a bar chart of the
//! features with the largest |value|, the rest summed into one bar (`shap.plots.bar`).

use crate::display::{escape_html, MimeBundle, Render};
use crate::plot::{diverging_color, BarChart};

/// SHAP values of one prediction: `values` add up to `output − base_value`.
#[derive(Debug, Clone)]
pub struct ShapValues {
    /// A name per feature (tokens, columns, patches).
    pub names: Vec<String>,
    /// Each feature's SHAP value.
    pub values: Vec<f64>,
    /// The value of the empty coalition: the model's mean output on the background.
    pub base_value: f64,
    /// The value of the full coalition: f(x).
    pub output: f64,
    /// Coalitions evaluated, f(x) and the background included.
    pub evaluations: usize,
    /// How the values were computed ("exact", "kernel", "partition").
    pub method: String,
}

impl ShapValues {
    pub(crate) fn new(values: Vec<f64>, base_value: f64, output: f64, evaluations: usize, method: &str) -> Self {
        let names = (0..values.len()).map(|i| format!("x{i}")).collect();
        ShapValues { names, values, base_value, output, evaluations, method: method.into() }
    }

    /// Replaces the feature names (one per value).
    pub fn named<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Σ values − (output − base value): 0 up to rounding for every explainer here.
    pub fn efficiency_gap(&self) -> f64 {
        self.values.iter().sum::<f64>() - (self.output - self.base_value)
    }

    /// The features with their values, largest |value| first.
    pub fn ranked(&self) -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = self.names.iter().cloned().zip(self.values.iter().copied()).collect();
        v.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        v
    }

    /// A bar chart of the `top` features by |value|, the others summed into one last bar.
    pub fn bar_chart(&self, top: usize) -> BarChart {
        let ranked = self.ranked();
        let top = top.max(1).min(ranked.len());
        let mut bars: Vec<(String, f64)> = ranked[..top].to_vec();
        if ranked.len() > top {
            bars.push((format!("sum of {} other features", ranked.len() - top), ranked[top..].iter().map(|r| r.1).sum()));
        }
        BarChart::new(format!("SHAP values ({}): f(x) = {:.4}, base value = {:.4}", self.method, self.output, self.base_value)).x_label("feature").y_label("SHAP value").bars(bars)
    }

    /// The features coloured by value (red raises the output, blue lowers it), as HTML.
    pub fn html(&self) -> String {
        let max = self.values.iter().map(|s| s.abs()).fold(1e-12, f64::max);
        let spans: Vec<String> = self
            .names
            .iter()
            .zip(&self.values)
            .map(|(t, &s)| {
                let (r, g, b) = diverging_color(s / max);
                format!(
                    "<span title=\"{s:+.4}\" style=\"background:rgb({r},{g},{b});padding:2px 3px;margin:1px;border-radius:3px;display:inline-block;font-family:monospace\">{}</span>",
                    escape_html(t)
                )
            })
            .collect();
        format!(
            "<div><div style=\"margin-bottom:4px\">SHAP ({}, {} evaluations): base value = {:.4}, f(x) = {:.4}, Σ values = {:.4}</div><div style=\"line-height:2\">{}</div></div>",
            escape_html(&self.method),
            self.evaluations,
            self.base_value,
            self.output,
            self.values.iter().sum::<f64>(),
            spans.join(" ")
        )
    }
}

impl Render for ShapValues {
    fn render(&self) -> MimeBundle {
        let plain: Vec<String> = self.names.iter().zip(&self.values).map(|(t, s)| format!("{t}: {s:+.4}")).collect();
        MimeBundle::text(format!("SHAP ({}) base {:.4} → f(x) {:.4}: {}", self.method, self.base_value, self.output, plain.join(", "))).with("text/html", self.html())
    }
}

crate::impl_evcxr_display!(ShapValues);
