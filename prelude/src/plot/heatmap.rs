//! Heatmaps with labelled rows and columns, drawn with plotters: the confusion matrix
//! (scikit-learn's `ConfusionMatrixDisplay`: true class down, predicted across, counts in the
//! cells) and one attention map (query tokens down, key tokens across, as bertviz's head view).

use super::style::{blues, tidy, viridis};
use super::{chart_common, plotters_svg, Format};
use crate::train::ClassMetrics;
use crate::{Error, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use tch::{Kind, Tensor};

/// What a heatmap draws: colours and optional text per cell, labels, and a colour bar.
struct Cells<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    rows: &'a [String],
    cols: &'a [String],
    /// (row, col) → (fill, text, text colour).
    cell: &'a dyn Fn(usize, usize) -> (RGBColor, String),
    /// (low, high, colour map) for the bar at the right.
    bar: (f64, f64, fn(f64) -> (u8, u8, u8)),
    size: (u32, u32),
    font: u32,
}

fn rgb(c: (u8, u8, u8)) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// Black text on light cells, white on dark ones.
fn ink(c: RGBColor) -> RGBColor {
    let luma = 0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64;
    if luma > 140.0 {
        BLACK
    } else {
        WHITE
    }
}

fn longest(labels: &[String]) -> u32 {
    labels.iter().map(|l| l.chars().count()).max().unwrap_or(1) as u32
}

fn draw_cells<DB: DrawingBackend>(c: &Cells, root: &DrawingArea<DB, plotters::coord::Shift>) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (n_rows, n_cols) = (c.rows.len().max(1) as i32, c.cols.len().max(1) as i32);
    let (main, bar_area) = root.split_horizontally(c.size.0.saturating_sub(90));
    let label_font = ("sans-serif", c.font);
    // Column labels turn 90° when they would not fit under their cell.
    let y_area = 28 + longest(c.rows) * c.font * 6 / 10;
    let est_cell_w = c.size.0.saturating_sub(90 + y_area + 24) as f64 / n_cols as f64;
    let rotate = longest(c.cols) as f64 * c.font as f64 * 0.6 > est_cell_w * 0.95;
    let x_area = if rotate { 34 + longest(c.cols) * c.font * 6 / 10 } else { 34 + c.font };
    let mut chart = ChartBuilder::on(&main)
        .caption(c.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(0f64..n_cols as f64, 0f64..n_rows as f64)?;
    // Row 0 at the top.
    let y = |r: usize| (n_rows as usize - 1 - r) as f64;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(c.x_label)
        .y_desc(c.y_label)
        .axis_desc_style(("sans-serif", 16))
        .x_labels(0)
        .y_labels(0)
        .draw()?;
    chart.draw_series((0..c.rows.len()).flat_map(|r| {
        (0..c.cols.len()).map(move |k| {
            let (fill, _) = (c.cell)(r, k);
            Rectangle::new([(k as f64, y(r)), (k as f64 + 1.0, y(r) + 1.0)], fill.filled())
        })
    }))?;
    chart.draw_series((0..c.rows.len()).flat_map(|r| {
        (0..c.cols.len()).filter_map(move |k| {
            let (fill, text) = (c.cell)(r, k);
            let style = ("sans-serif", c.font).into_font().color(&ink(fill)).pos(Pos::new(HPos::Center, VPos::Center));
            (!text.is_empty()).then(|| Text::new(text, (k as f64 + 0.5, y(r) + 0.5), style))
        })
    }))?;
    // Category labels, drawn as text beside the plotting area (plotters' mesh labels sit on
    // tick values, not cell centres). Column labels are turned 90° when they are long.
    let area = chart.plotting_area();
    let (px, py) = area.get_pixel_range();
    let cell_w = (px.end - px.start) as f64 / n_cols as f64;
    let cell_h = (py.end - py.start) as f64 / n_rows as f64;
    for (k, label) in c.cols.iter().enumerate() {
        let x = px.start + ((k as f64 + 0.5) * cell_w) as i32;
        let style = if rotate {
            label_font.into_font().transform(FontTransform::Rotate270).color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center))
        } else {
            label_font.into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top))
        };
        root.draw(&Text::new(label.clone(), (x, py.end + 6), style))?;
    }
    for (r, label) in c.rows.iter().enumerate() {
        let yy = py.start + ((r as f64 + 0.5) * cell_h) as i32;
        let style = label_font.into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
        root.draw(&Text::new(label.clone(), (px.start - 6, yy), style))?;
    }
    // The colour bar: 20 px wide, as tall as the plotting area.
    let (lo, hi, map) = c.bar;
    let (x0, x1) = (10, 28);
    let steps = 64;
    let h = (py.end - py.start).max(1);
    let offset = bar_area.get_base_pixel();
    for s in 0..steps {
        let t = 1.0 - s as f64 / (steps - 1) as f64;
        let ya = py.start + h * s / steps - offset.1;
        let yb = py.start + h * (s + 1) / steps - offset.1 + 1;
        bar_area.draw(&Rectangle::new([(x0, ya), (x1, yb)], rgb(map(t)).filled()))?;
    }
    bar_area.draw(&Rectangle::new([(x0, py.start - offset.1), (x1, py.end - offset.1)], BLACK.mix(0.4)))?;
    let tick = ("sans-serif", 13).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    bar_area.draw(&Text::new(tidy(hi), (x1 + 4, py.start - offset.1), tick.clone()))?;
    bar_area.draw(&Text::new(tidy((lo + hi) / 2.0), (x1 + 4, (py.start + py.end) / 2 - offset.1), tick.clone()))?;
    bar_area.draw(&Text::new(tidy(lo), (x1 + 4, py.end - offset.1), tick))?;
    Ok(())
}

/// A confusion matrix: counts in the cells, coloured by the share of each true class (so rare
/// classes read as clearly as common ones), class names on both axes.
///
/// ```no_run
/// use tuna::prelude::*;
/// ConfusionChart::new(vec![vec![50, 3], vec![7, 40]], ["negative", "positive"])
/// ```
#[derive(Debug, Clone)]
pub struct ConfusionChart {
    title: String,
    counts: Vec<Vec<u64>>,
    labels: Vec<String>,
    format: Format,
}

impl ConfusionChart {
    /// `counts[true_class][predicted_class]`; missing names are the class number.
    pub fn new<S: Into<String>>(counts: Vec<Vec<u64>>, labels: impl IntoIterator<Item = S>) -> Self {
        let mut labels: Vec<String> = labels.into_iter().map(Into::into).collect();
        let n = counts.len().max(counts.iter().map(Vec::len).max().unwrap_or(0)).max(labels.len());
        for i in labels.len()..n {
            labels.push(i.to_string());
        }
        let counts = (0..n).map(|r| (0..n).map(|c| counts.get(r).and_then(|row| row.get(c)).copied().unwrap_or(0)).collect()).collect();
        ConfusionChart { title: "confusion matrix".into(), counts, labels, format: Format::Svg }
    }

    /// From class metrics (their confusion matrix and class names).
    pub fn from_metrics(metrics: &ClassMetrics) -> Self {
        ConfusionChart::new(metrics.confusion.clone(), metrics.classes.iter().map(|c| c.label.clone()))
    }

    /// The title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// The counts, `[true][predicted]`.
    pub fn counts(&self) -> &[Vec<u64>] {
        &self.counts
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let n = self.labels.len().max(1) as u32;
        let cell = (420 / n).clamp(28, 110);
        let label_w = longest(&self.labels) * 8;
        let size = (cell * n + label_w + 190, cell * n + 150);
        let font = if cell >= 60 { 16 } else { 12 };
        let share = |r: usize, k: usize| {
            let total: u64 = self.counts[r].iter().sum();
            if total == 0 {
                0.0
            } else {
                self.counts[r][k] as f64 / total as f64
            }
        };
        let cell_fn = |r: usize, k: usize| (rgb(blues(share(r, k))), self.counts[r][k].to_string());
        let cells = Cells {
            title: &self.title,
            x_label: "predicted",
            y_label: "true",
            rows: &self.labels,
            cols: &self.labels,
            cell: &cell_fn,
            bar: (0.0, 1.0, blues),
            size,
            font,
        };
        plotters_svg(size, |root| draw_cells(&cells, root))
    }

    fn plain(&self) -> String {
        let rows: Vec<String> = self.labels.iter().zip(&self.counts).map(|(l, r)| format!("{l}: {r:?}")).collect();
        format!("<ConfusionChart: {}> {}", self.title, rows.join("; "))
    }
}

chart_common!(ConfusionChart);

/// One attention map: how much each query token (row) attends to each key token (column),
/// weights in [0, 1] coloured by viridis.
///
/// ```no_run
/// use tuna::prelude::*;
/// # fn f(weights: &Tensor) -> tuna::Result<AttentionMap> {
/// AttentionMap::new(&["[CLS]", "hi", "[SEP]"], weights) // weights: (3, 3)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AttentionMap {
    title: String,
    tokens: Vec<String>,
    weights: Vec<Vec<f64>>,
    annotate: bool,
    format: Format,
}

/// A 2-D tensor as rows of f64.
pub(crate) fn matrix(t: &Tensor, context: &str) -> Result<Vec<Vec<f64>>> {
    let (r, c) = t.size2().map_err(|_| Error::Shape { context: context.into(), message: format!("expected a 2-D tensor, got shape {:?}", t.size()) })?;
    let flat: Vec<f64> = Vec::try_from(t.detach().to_device(tch::Device::Cpu).to_kind(Kind::Double).reshape([-1]))?;
    Ok((0..r as usize).map(|i| flat[i * c as usize..(i + 1) * c as usize].to_vec()).collect())
}

impl AttentionMap {
    /// `weights` (tokens, tokens): row = query, column = key. Errors when the shape does not
    /// match the number of tokens.
    pub fn new<S: AsRef<str>>(tokens: &[S], weights: &Tensor) -> Result<Self> {
        let weights = matrix(weights, "AttentionMap weights")?;
        let tokens: Vec<String> = tokens.iter().map(|t| t.as_ref().to_owned()).collect();
        if weights.len() != tokens.len() || weights.iter().any(|r| r.len() != tokens.len()) {
            return Err(Error::Shape {
                context: "AttentionMap".into(),
                message: format!("{} tokens but weights of {}×{}; pass the weights of one head, (tokens, tokens)", tokens.len(), weights.len(), weights.first().map_or(0, Vec::len)),
            });
        }
        Ok(AttentionMap { title: "attention".into(), tokens, weights, annotate: false, format: Format::Svg })
    }

    /// The title (say "layer 3, head 7").
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Writes each weight in its cell (two decimals).
    pub fn annotate(mut self) -> Self {
        self.annotate = true;
        self
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let n = self.tokens.len().max(1) as u32;
        let cell = (520 / n).clamp(14, 60);
        let label_w = longest(&self.tokens) * 8;
        let rotated = longest(&self.tokens) as u32 * 8 > cell;
        let size = (cell * n + label_w + 190, cell * n + if rotated { label_w } else { 0 } + 130);
        let hi = self.weights.iter().flatten().copied().fold(0.0f64, f64::max).max(1e-12);
        let cell_fn = |r: usize, k: usize| {
            let w = self.weights[r][k];
            let text = if self.annotate { format!("{w:.2}") } else { String::new() };
            (rgb(viridis(w / hi)), text)
        };
        let cells = Cells {
            title: &self.title,
            x_label: "key (attended to)",
            y_label: "query",
            rows: &self.tokens,
            cols: &self.tokens,
            cell: &cell_fn,
            bar: (0.0, hi, |t| viridis(t)),
            size,
            font: if cell >= 40 { 14 } else { 12 },
        };
        plotters_svg(size, |root| draw_cells(&cells, root))
    }

    fn plain(&self) -> String {
        format!("<AttentionMap: {}> {} tokens", self.title, self.tokens.len())
    }
}

chart_common!(AttentionMap);
