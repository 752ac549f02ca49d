//! A model's summary as the notebook shows it: modules with their shapes and parameter counts,
//! trainable or frozen, adapters attached, and PEFT's one-line parameter count
//! (`peft/peft_model.py`, `print_trainable_parameters`). Repeated layers fold into one row.

use super::linear::Linear;
use crate::display::{escape_html, MimeBundle, Render};
use std::collections::BTreeMap;
use tch::nn::VarStore;

/// One row: a module (or a group of identical modules across layers).
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleRow {
    /// Dotted name; layer indices folded into `*` when `count > 1`.
    pub name: String,
    /// How many modules the row stands for.
    pub count: usize,
    /// Each parameter's name within the module and shape.
    pub params: Vec<(String, Vec<i64>)>,
    /// Parameters of one module.
    pub num_parameters: i64,
    /// Whether the module's parameters get gradients.
    pub trainable: bool,
    /// Names of adapters attached to the module (linear layers only).
    pub adapters: Vec<String>,
}

/// Modules, shapes, counts; renders as an HTML table in the notebook.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSummary {
    /// The model's class ("BertForSequenceClassification").
    pub architecture: String,
    /// The rows, in checkpoint-key order.
    pub rows: Vec<ModuleRow>,
    /// Parameters that get gradients, adapters included.
    pub trainable: i64,
    /// All parameters, adapters included.
    pub total: i64,
}

/// `1234567` → `"1,234,567"`.
pub(crate) fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn fold_indices(name: &str) -> String {
    name.split('.').map(|c| if c.parse::<u64>().is_ok() { "*" } else { c }).collect::<Vec<_>>().join(".")
}

impl ModelSummary {
    /// Summarises the variables of `vs` and the adapters on `linears`.
    pub fn new(architecture: &str, vs: &VarStore, linears: &[(String, &Linear)]) -> Self {
        let adapters: BTreeMap<&str, Vec<String>> = linears
            .iter()
            .map(|(n, l)| (n.as_str(), l.adapters().iter().map(|a| a.name().to_owned()).collect()))
            .collect();
        let mut modules: BTreeMap<String, ModuleRow> = BTreeMap::new();
        let (mut trainable, mut total) = (0i64, 0i64);
        let mut vars: Vec<_> = vs.variables().into_iter().collect();
        vars.sort_by_key(|(name, _)| natural_key(name));
        let mut order = Vec::new();
        for (name, t) in &vars {
            let (module, param) = name.rsplit_once('.').unwrap_or(("", name.as_str()));
            let n = t.numel() as i64;
            total += n;
            if t.requires_grad() {
                trainable += n;
            }
            let row = modules.entry(module.to_owned()).or_insert_with(|| {
                order.push(module.to_owned());
                ModuleRow {
                    name: module.to_owned(),
                    count: 1,
                    params: Vec::new(),
                    num_parameters: 0,
                    trainable: true,
                    adapters: adapters.get(module).cloned().unwrap_or_default(),
                }
            });
            row.params.push((param.to_owned(), t.size()));
            row.num_parameters += n;
            row.trainable &= t.requires_grad();
        }
        for (_, l) in linears {
            for a in l.adapters() {
                for p in a.parameters() {
                    total += p.numel() as i64;
                    if p.requires_grad() {
                        trainable += p.numel() as i64;
                    }
                }
            }
        }
        // Fold rows that differ only in layer indices and agree in everything else.
        let mut rows: Vec<ModuleRow> = Vec::new();
        for name in order {
            let row = modules.remove(&name).unwrap_or_else(|| unreachable!("every module was inserted once"));
            let folded = fold_indices(&row.name);
            if let Some(last) = rows.iter_mut().rev().find(|r| fold_indices(&r.name) == folded) {
                if folded != row.name
                    && last.params == row.params
                    && last.trainable == row.trainable
                    && last.adapters == row.adapters
                {
                    last.count += 1;
                    last.name = folded;
                    continue;
                }
            }
            rows.push(row);
        }
        ModelSummary { architecture: architecture.to_owned(), rows, trainable, total }
    }

    /// PEFT's line: `trainable params: T || all params: A || trainable%: P`.
    pub fn parameter_line(&self) -> String {
        let pct = if self.total > 0 { 100.0 * self.trainable as f64 / self.total as f64 } else { 0.0 };
        format!(
            "trainable params: {} || all params: {} || trainable%: {pct:.4}",
            thousands(self.trainable),
            thousands(self.total)
        )
    }
}

/// Sorts "layer.10" after "layer.9".
fn natural_key(name: &str) -> Vec<(u64, String)> {
    name.split('.').map(|c| c.parse::<u64>().map_or((u64::MAX, c.to_owned()), |n| (n, String::new()))).collect()
}

fn shapes(params: &[(String, Vec<i64>)]) -> String {
    params.iter().map(|(p, s)| format!("{p} {s:?}")).collect::<Vec<_>>().join(", ")
}

impl Render for ModelSummary {
    fn render(&self) -> MimeBundle {
        let mut text = format!("{}\n", self.architecture);
        let mut html = format!(
            "<div><b>{}</b></div><table><tr><th style=\"text-align:left\">module</th><th>×</th>\
             <th style=\"text-align:left\">parameters</th><th>count</th><th>state</th></tr>",
            escape_html(&self.architecture)
        );
        for r in &self.rows {
            let state = if r.trainable { "trainable" } else { "frozen" };
            let adapters = if r.adapters.is_empty() { String::new() } else { format!(" + {}", r.adapters.join(", ")) };
            text += &format!(
                "  {}{}  {}  {}  {state}{adapters}\n",
                r.name,
                if r.count > 1 { format!(" ×{}", r.count) } else { String::new() },
                shapes(&r.params),
                thousands(r.num_parameters * r.count as i64)
            );
            html += &format!(
                "<tr><td style=\"text-align:left\"><code>{}</code></td><td>{}</td><td style=\"text-align:left\">{}</td>\
                 <td>{}</td><td style=\"color:{}\">{state}{}</td></tr>",
                escape_html(&r.name),
                r.count,
                escape_html(&shapes(&r.params)),
                thousands(r.num_parameters * r.count as i64),
                if r.trainable { "#15803d" } else { "#6b7280" },
                escape_html(&adapters)
            );
        }
        text += &self.parameter_line();
        html += &format!("</table><div>{}</div>", escape_html(&self.parameter_line()));
        MimeBundle::text(text).with("text/html", html)
    }
}

crate::impl_evcxr_display!(ModelSummary);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(22_713_216), "22,713,216");
    }
}
