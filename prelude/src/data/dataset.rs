//! Datasets held in memory: items (texts, pairs, images, tokenized texts) with optional class
//! labels and their names. Seeded shuffles, train/valid/test splits stratified by label (as
//! scikit-learn's `train_test_split(stratify=…)`), take and stratified subsample for
//! "100 / 1,000 / 10,000 examples" experiments, filter, map, class counts and balanced class
//! weights (scikit-learn's `compute_class_weight("balanced")`). Shown in the notebook as an
//! HTML table of samples with a class histogram.
//!
//! ```no_run
//! use tuna::prelude::*;
//! let tweets = tweets()?;
//! let [train, valid, test] = tweets.split([0.8, 0.1, 0.1], 42)?;
//! let small = train.subsample(1_000, 0)?;
//! small
//! # ; Ok::<(), tuna::Error>(())
//! ```

use crate::display::{escape_html, MimeBundle, Render};
use crate::error::{Error, Result};
use crate::plot::BarChart;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use std::path::PathBuf;

/// Anything a dataset can hold: it says how it looks in a table row.
pub trait Sample: Clone + Send + Sync + 'static {
    /// A short HTML preview for a table cell (escaped; images may be inline).
    fn preview_html(&self) -> String {
        escape_html(&self.preview())
    }
    /// A one-line text preview.
    fn preview(&self) -> String;
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

impl Sample for String {
    fn preview(&self) -> String {
        shorten(self, 160)
    }
}

impl Sample for (String, String) {
    fn preview(&self) -> String {
        format!("{} ‖ {}", shorten(&self.0, 80), shorten(&self.1, 80))
    }
}

impl Sample for Vec<f32> {
    fn preview(&self) -> String {
        let head: Vec<String> = self.iter().take(8).map(|v| format!("{v:.3}")).collect();
        format!("[{}{}] ({} values)", head.join(", "), if self.len() > 8 { ", …" } else { "" }, self.len())
    }
}

/// Where a dataset comes from: shown with it, so a notebook states its sources and licences.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Source {
    /// Who made it and where it was fetched from.
    pub origin: String,
    /// Its licence.
    pub licence: String,
    /// The file or folder read.
    pub path: PathBuf,
}

/// Items with optional class labels.
#[derive(Debug, Clone)]
pub struct Dataset<T> {
    name: String,
    items: Vec<T>,
    labels: Option<Vec<usize>>,
    label_names: Vec<String>,
    source: Option<Source>,
    skipped: usize,
}

impl<T: Sample> Dataset<T> {
    /// An unlabelled dataset.
    pub fn new(name: impl Into<String>, items: Vec<T>) -> Self {
        Dataset { name: name.into(), items, labels: None, label_names: Vec::new(), source: None, skipped: 0 }
    }

    /// A labelled dataset: `labels[i]` indexes `label_names`. A label outside the set is an
    /// error naming the row.
    pub fn labelled(name: impl Into<String>, items: Vec<T>, labels: Vec<usize>, label_names: Vec<String>) -> Result<Self> {
        if items.len() != labels.len() {
            return Err(Error::Shape {
                context: "Dataset::labelled".into(),
                message: format!("{} items but {} labels", items.len(), labels.len()),
            });
        }
        if let Some((row, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= label_names.len()) {
            return Err(Error::msg(format!(
                "row {row}: label {l} is outside the label set ({} names: {})",
                label_names.len(),
                label_names.join(", ")
            )));
        }
        let mut ds = Dataset::new(name, items);
        ds.labels = Some(labels);
        ds.label_names = label_names;
        Ok(ds)
    }

    /// A labelled dataset from label strings; names are sorted (as scikit-learn's
    /// `LabelEncoder`).
    pub fn from_label_strings(name: impl Into<String>, items: Vec<T>, labels: &[String]) -> Result<Self> {
        let mut names: Vec<String> = labels.to_vec();
        names.sort();
        names.dedup();
        let index: std::collections::HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let ids = labels.iter().map(|l| index[l.as_str()]).collect();
        Dataset::labelled(name, items, ids, names)
    }

    /// Records where the data came from and its licence (shown with the dataset).
    pub fn source(mut self, source: Source) -> Self {
        self.source = Some(source);
        self
    }

    /// Renames the dataset.
    pub fn name_as(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub(crate) fn skipped_rows(mut self, skipped: usize) -> Self {
        self.skipped = skipped;
        self
    }

    /// The dataset's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it came from, if known.
    pub fn origin(&self) -> Option<&Source> {
        self.source.as_ref()
    }

    /// Rows left out while reading because the user asked to skip bad rows.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// All items.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// Item `i` and its label (`None` when out of range).
    pub fn get(&self, i: usize) -> Option<(&T, Option<usize>)> {
        self.items.get(i).map(|x| (x, self.label(i)))
    }

    /// The label of row `i`, if the dataset is labelled.
    pub fn label(&self, i: usize) -> Option<usize> {
        self.labels.as_ref().and_then(|l| l.get(i).copied())
    }

    /// All labels, if the dataset is labelled.
    pub fn labels(&self) -> Option<&[usize]> {
        self.labels.as_deref()
    }

    /// Class names, indexed by label.
    pub fn label_names(&self) -> &[String] {
        &self.label_names
    }

    /// Number of classes (0 when unlabelled).
    pub fn num_classes(&self) -> usize {
        self.label_names.len()
    }

    /// Items with their labels.
    pub fn iter(&self) -> impl Iterator<Item = (&T, Option<usize>)> + '_ {
        (0..self.len()).map(move |i| (&self.items[i], self.label(i)))
    }

    /// The same labels and source over new items (same length or not labelled).
    pub(crate) fn with_items<U: Sample>(&self, items: Vec<U>) -> Dataset<U> {
        Dataset {
            name: self.name.clone(),
            labels: self.labels.clone().filter(|l| l.len() == items.len()),
            items,
            label_names: self.label_names.clone(),
            source: self.source.clone(),
            skipped: self.skipped,
        }
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Result<Self> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::msg(format!("row {bad} is out of range: `{}` has {} rows", self.name, self.len())));
        }
        Ok(Dataset {
            name: self.name.clone(),
            items: indices.iter().map(|&i| self.items[i].clone()).collect(),
            labels: self.labels.as_ref().map(|l| indices.iter().map(|&i| l[i]).collect()),
            label_names: self.label_names.clone(),
            source: self.source.clone(),
            skipped: self.skipped,
        })
    }

    /// The rows in a random order fixed by `seed`.
    pub fn shuffle(&self, seed: u64) -> Self {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut StdRng::seed_from_u64(seed));
        self.reorder(&idx)
    }

    fn reorder(&self, idx: &[usize]) -> Self {
        // Indices come from 0..len: selecting cannot fail.
        self.select(idx).unwrap_or_else(|_| self.clone())
    }

    /// The first `n` rows (all when there are fewer).
    pub fn take(&self, n: usize) -> Self {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.reorder(&idx)
    }

    /// Rows grouped by label (all rows in one group when unlabelled), each group shuffled by `rng`.
    fn groups(&self, rng: &mut StdRng) -> Vec<Vec<usize>> {
        let mut groups = match &self.labels {
            Some(labels) => {
                let mut g = vec![Vec::new(); self.label_names.len()];
                for (i, &l) in labels.iter().enumerate() {
                    g[l].push(i);
                }
                g
            }
            None => vec![(0..self.len()).collect()],
        };
        for g in &mut groups {
            g.shuffle(rng);
        }
        groups
    }

    /// Splits into `N` parts of the given fractions (summing to 1), shuffled by `seed`. When the
    /// dataset is labelled each class is split separately, so every part keeps the class
    /// proportions (to within one row per class).
    pub fn split<const N: usize>(&self, fractions: [f64; N], seed: u64) -> Result<[Self; N]> {
        let sum: f64 = fractions.iter().sum();
        if N == 0 || fractions.iter().any(|f| !(0.0..=1.0).contains(f)) || (sum - 1.0).abs() > 1e-6 {
            return Err(Error::config("fractions", format!("{fractions:?} must be in [0, 1] and sum to 1")));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut parts: Vec<Vec<usize>> = vec![Vec::new(); N];
        for group in self.groups(&mut rng) {
            let counts = apportion(group.len(), &fractions);
            let mut start = 0;
            for (part, c) in parts.iter_mut().zip(counts) {
                part.extend_from_slice(&group[start..start + c]);
                start += c;
            }
        }
        let out: Vec<Self> = parts
            .into_iter()
            .map(|mut idx| {
                idx.shuffle(&mut rng);
                self.reorder(&idx)
            })
            .collect();
        out.try_into().map_err(|_| Error::msg("split produced the wrong number of parts"))
    }

    /// `n` rows drawn at random (by `seed`) keeping the class proportions: the way to build
    /// training sets of 100 / 1,000 / 10,000 examples.
    pub fn subsample(&self, n: usize, seed: u64) -> Result<Self> {
        if n > self.len() {
            return Err(Error::config("n", format!("asked for {n} rows but `{}` has {}", self.name, self.len())));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let groups = self.groups(&mut rng);
        let sizes: Vec<f64> = groups.iter().map(|g| g.len() as f64 / self.len().max(1) as f64).collect();
        let counts = apportion(n, &sizes);
        let mut idx: Vec<usize> = groups.iter().zip(counts).flat_map(|(g, c)| g[..c.min(g.len())].to_vec()).collect();
        idx.shuffle(&mut rng);
        Ok(self.reorder(&idx))
    }

    /// The rows for which `keep(item, label)` is true.
    pub fn filter(&self, keep: impl Fn(&T, Option<usize>) -> bool) -> Self {
        let idx: Vec<usize> = (0..self.len()).filter(|&i| keep(&self.items[i], self.label(i))).collect();
        self.reorder(&idx)
    }

    /// Applies `f` to every item (in parallel), keeping labels.
    pub fn map<U: Sample>(&self, f: impl Fn(&T) -> U + Sync + Send) -> Dataset<U> {
        self.with_items(self.items.par_iter().map(f).collect())
    }

    /// Applies a fallible `f` to every item (in parallel); the first error names its row.
    pub fn try_map<U: Sample>(&self, f: impl Fn(&T) -> Result<U> + Sync + Send) -> Result<Dataset<U>> {
        let items = self
            .items
            .par_iter()
            .enumerate()
            .map(|(i, x)| f(x).map_err(|e| Error::msg(format!("row {i}: {e}"))))
            .collect::<Result<Vec<U>>>()?;
        Ok(self.with_items(items))
    }

    /// Rows per class, indexed by label (empty when unlabelled).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.label_names.len()];
        for &l in self.labels.iter().flatten() {
            counts[l] += 1;
        }
        counts
    }

    /// Weights that balance the classes in a loss: `rows / (classes × rows of the class)`, as
    /// scikit-learn's `compute_class_weight("balanced")`; 0 for a class with no rows.
    pub fn class_weights(&self) -> Vec<f64> {
        let counts = self.class_counts();
        let k = counts.len() as f64;
        counts.iter().map(|&c| if c == 0 { 0.0 } else { self.len() as f64 / (k * c as f64) }).collect()
    }

    /// A bar chart of the rows per class.
    pub fn histogram(&self) -> BarChart {
        let bars = self.label_names.iter().cloned().zip(self.class_counts().into_iter().map(|c| c as f64));
        BarChart::new(format!("{}: rows per class", self.name)).x_label("class").y_label("rows").bars(bars)
    }

    fn summary(&self) -> String {
        let mut s = format!("{}: {} rows", self.name, thousands(self.len()));
        if self.labels.is_some() {
            s += &format!(", {} classes", self.num_classes());
        }
        if self.skipped > 0 {
            s += &format!(", {} bad rows skipped", thousands(self.skipped));
        }
        s
    }

    /// The HTML table of the first `n` rows.
    pub fn table_html(&self, n: usize) -> String {
        let mut html = String::from("<table><thead><tr><th>#</th><th>item</th>");
        if self.labels.is_some() {
            html += "<th>label</th>";
        }
        html += "</tr></thead><tbody>";
        for (i, (item, label)) in self.iter().take(n).enumerate() {
            html += &format!("<tr><td>{i}</td><td style=\"text-align:left\">{}</td>", item.preview_html());
            if let Some(l) = label {
                html += &format!("<td>{}</td>", escape_html(&self.label_names[l]));
            }
            html += "</tr>";
        }
        html + "</tbody></table>"
    }
}

/// `38158` → `38,158`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Splits `total` into parts proportional to `fractions` (largest remainder): the counts sum
/// to `total` times the fractions' sum, rounded.
fn apportion(total: usize, fractions: &[f64]) -> Vec<usize> {
    let sum: f64 = fractions.iter().sum();
    let target = (total as f64 * sum).round() as usize;
    let exact: Vec<f64> = fractions.iter().map(|f| total as f64 * f).collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..fractions.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    let mut missing = target.saturating_sub(counts.iter().sum());
    for &i in order.iter().cycle().take(missing.min(fractions.len() * 2)) {
        if missing == 0 {
            break;
        }
        counts[i] += 1;
        missing -= 1;
    }
    counts
}

impl<T: Sample> Render for Dataset<T> {
    fn render(&self) -> MimeBundle {
        let mut plain = self.summary();
        for (i, (item, label)) in self.iter().take(5).enumerate() {
            let label = label.map(|l| format!(" [{}]", self.label_names[l])).unwrap_or_default();
            plain += &format!("\n  {i}: {}{label}", shorten(&item.preview(), 100));
        }
        let mut html = format!("<div><b>{}</b>", escape_html(&self.summary()));
        if let Some(src) = &self.source {
            html += &format!(
                "<br><small>source: {} · licence: {} · <code>{}</code></small>",
                escape_html(&src.origin),
                escape_html(&src.licence),
                escape_html(&src.path.display().to_string())
            );
        }
        html += "<div style=\"display:flex;gap:16px;align-items:flex-start\"><div>";
        html += &self.table_html(8);
        html += "</div>";
        if self.labels.is_some() && self.num_classes() > 0 {
            html += &format!("<div>{}</div>", self.histogram().size(420, 280).to_svg());
        }
        html += "</div></div>";
        MimeBundle::text(plain).with("text/html", html)
    }
}

impl<T: Sample> Dataset<T> {
    /// Called by evcxr when a dataset ends a cell: the table and the histogram.
    pub fn evcxr_display(&self) {
        crate::display::evcxr_print(&self.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_sums_to_total() {
        assert_eq!(apportion(10, &[0.8, 0.1, 0.1]), vec![8, 1, 1]);
        assert_eq!(apportion(7, &[0.5, 0.5]).iter().sum::<usize>(), 7);
        assert_eq!(apportion(3, &[1.0 / 3.0; 3]), vec![1, 1, 1]);
    }

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!((thousands(7), thousands(1_000), thousands(38_158), thousands(1_234_567)), ("7".into(), "1,000".into(), "38,158".into(), "1,234,567".into()));
    }

    #[test]
    fn labels_outside_the_set_are_refused() {
        let err = Dataset::labelled("x", vec!["a".to_string()], vec![3], vec!["n".into()]).unwrap_err();
        assert!(err.to_string().contains("outside the label set"), "{err}");
    }
}
