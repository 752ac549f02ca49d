//! Mean ± standard deviation over repeated runs (seeds), one line per series, with error bars:
//! the ablation chart "accuracy vs training-set size, one series per strategy".

use super::style::{series_color, thousands, tidy};
use super::{axes_setters, chart_common, draw_legend, draw_mesh, plotters_svg, Format};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::collections::BTreeMap;

/// One point of an [`ErrorBarChart`]: the mean and sample standard deviation of the values
/// observed at `x`.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorBarPoint {
    /// Where on the x axis (e.g. training examples).
    pub x: f64,
    /// Mean of the observations.
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator; 0 for one observation).
    pub std: f64,
    /// Number of observations (seeds).
    pub n: usize,
}

/// Several series of repeated observations drawn as mean lines with ±1 std error bars.
///
/// ```no_run
/// use tuna::prelude::*;
/// ErrorBarChart::new("accuracy vs training examples").log_x()
///     .x_label("training examples").y_label("accuracy")
///     .observe("full", 100.0, 0.61).observe("full", 100.0, 0.64)
///     .observe("lora", 100.0, 0.58).observe("lora", 100.0, 0.60)
/// ```
#[derive(Debug, Clone, Default)]
pub struct ErrorBarChart {
    title: String,
    x_label: String,
    y_label: String,
    /// Series in insertion order: name → x (as bits, ordered) → observations.
    series: Vec<(String, BTreeMap<u64, Vec<f64>>)>,
    size: (u32, u32),
    log_x: bool,
    format: Format,
}

/// An f64 as a key that orders like the number for non-negative values and keeps exact x.
fn key(x: f64) -> u64 {
    // Flip so that negative numbers sort below positive ones.
    let bits = x.to_bits();
    if x.is_sign_negative() {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn unkey(k: u64) -> f64 {
    if k & (1 << 63) != 0 {
        f64::from_bits(k & !(1 << 63))
    } else {
        f64::from_bits(!k)
    }
}

impl ErrorBarChart {
    /// An empty chart titled `title`, 680×420.
    pub fn new(title: impl Into<String>) -> Self {
        ErrorBarChart { title: title.into(), size: (680, 420), ..Default::default() }
    }

    /// Puts x on a log₁₀ scale (observations at x ≤ 0 are not drawn), e.g. 100 / 1,000 / 10,000.
    pub fn log_x(mut self) -> Self {
        self.log_x = true;
        self
    }

    /// Records one observation `y` (say one seed's accuracy) of `series` at `x`; non-finite
    /// values are ignored.
    pub fn observe(mut self, series: impl Into<String>, x: f64, y: f64) -> Self {
        self.add(series, x, y);
        self
    }

    /// Records observations (x, y) of `series`.
    pub fn points(mut self, series: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        let series = series.into();
        for (x, y) in points {
            self.add(series.clone(), x, y);
        }
        self
    }

    /// Records one observation in place (for filling the chart in a loop).
    pub fn add(&mut self, series: impl Into<String>, x: f64, y: f64) {
        let series = series.into();
        if !(x.is_finite() && y.is_finite()) {
            return;
        }
        let index = match self.series.iter().position(|(n, _)| *n == series) {
            Some(i) => i,
            None => {
                self.series.push((series, BTreeMap::new()));
                self.series.len() - 1
            }
        };
        self.series[index].1.entry(key(x)).or_default().push(y);
    }

    /// Each series' points: mean and standard deviation at each x, in x order.
    pub fn summary(&self) -> Vec<(String, Vec<ErrorBarPoint>)> {
        self.series
            .iter()
            .map(|(name, by_x)| {
                let points = by_x
                    .iter()
                    .map(|(&k, ys)| {
                        let n = ys.len();
                        let mean = ys.iter().sum::<f64>() / n as f64;
                        let var = if n > 1 { ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
                        ErrorBarPoint { x: unkey(k), mean, std: var.sqrt(), n }
                    })
                    .collect();
                (name.clone(), points)
            })
            .collect()
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        plotters_svg(self.size, |root| self.draw(root))
    }

    fn plain(&self) -> String {
        let mut lines = vec![format!("<ErrorBarChart: {}>", self.title)];
        for (name, points) in self.summary() {
            let cells: Vec<String> = points.iter().map(|p| format!("{}: {:.4} ± {:.4} (n={})", tidy(p.x), p.mean, p.std, p.n)).collect();
            lines.push(format!("{name}: {}", cells.join(", ")));
        }
        lines.join("\n")
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, plotters::coord::Shift>) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let summary = self.summary();
        let visible = |p: &&ErrorBarPoint| !self.log_x || p.x > 0.0;
        let all: Vec<&ErrorBarPoint> = summary.iter().flat_map(|(_, p)| p.iter()).filter(visible).collect();
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for p in &all {
            x0 = x0.min(p.x);
            x1 = x1.max(p.x);
            y0 = y0.min(p.mean - p.std);
            y1 = y1.max(p.mean + p.std);
        }
        if all.is_empty() {
            (x0, x1, y0, y1) = (1.0, 10.0, 0.0, 1.0);
        }
        if y1 - y0 < 1e-9 {
            (y0, y1) = (y0 - 0.05, y1 + 0.05);
        }
        let pad = (y1 - y0) * 0.12;
        let (y0, y1) = (y0 - pad, y1 + pad);
        let mut builder = ChartBuilder::on(root);
        builder.caption(&self.title, ("sans-serif", 22)).margin(16).x_label_area_size(44).y_label_area_size(64);
        let n = summary.len().max(1) as f64;
        if self.log_x {
            let (x0, x1) = if x1 > x0 { (x0, x1) } else { (x0 / 10.0, x1 * 10.0) };
            // Ticks at the sizes measured (32 / 128, or 100 / 1,000 / 10,000), not only at powers of ten.
            let mut sizes: Vec<f64> = all.iter().map(|p| p.x).collect();
            sizes.sort_by(f64::total_cmp);
            sizes.dedup();
            let mut chart = if sizes.len() <= 12 {
                builder.build_cartesian_2d((x0 / 1.5..x1 * 1.5).log_scale().with_key_points(sizes), y0..y1)?
            } else {
                builder.build_cartesian_2d((x0 / 1.5..x1 * 1.5).log_scale().with_key_points(powers_of_ten(x0 / 1.5, x1 * 1.5)), y0..y1)?
            };
            draw_mesh!(chart, self.x_label.as_str(), self.y_label.as_str(), &|v: &f64| thousands(*v));
            // Series side by side around each x (×1.04 apart) so the bars do not hide each other.
            self.draw_series(&mut chart, &summary, |x, i| x * 1.04f64.powf(i as f64 - (n - 1.0) / 2.0))
        } else {
            let (x0, x1) = if x1 > x0 { (x0, x1) } else { (x0 - 1.0, x1 + 1.0) };
            let dx = (x1 - x0) * 0.05;
            let mut chart = builder.build_cartesian_2d(x0 - dx..x1 + dx, y0..y1)?;
            draw_mesh!(chart, self.x_label.as_str(), self.y_label.as_str(), &|v: &f64| thousands(*v));
            let step = dx * 0.2;
            self.draw_series(&mut chart, &summary, |x, i| x + step * (i as f64 - (n - 1.0) / 2.0))
        }
    }

    fn draw_series<'a, DB: DrawingBackend + 'a, X: Ranged<ValueType = f64>>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>,
        summary: &[(String, Vec<ErrorBarPoint>)],
        shift: impl Fn(f64, usize) -> f64,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        for (i, (name, points)) in summary.iter().enumerate() {
            let color = series_color(i);
            let points: Vec<&ErrorBarPoint> = points.iter().filter(|p| !self.log_x || p.x > 0.0).collect();
            let line: Vec<(f64, f64)> = points.iter().map(|p| (shift(p.x, i), p.mean)).collect();
            chart
                .draw_series(LineSeries::new(line.iter().copied(), color.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (18, 0)], color.stroke_width(2))
                        + Circle::new((9, 0), 4, color.filled())
                });
            chart.draw_series(
                points.iter().map(|p| ErrorBar::new_vertical(shift(p.x, i), p.mean - p.std, p.mean, p.mean + p.std, color.stroke_width(2), 10)),
            )?;
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        draw_legend!(chart, SeriesLabelPosition::LowerRight);
        Ok(())
    }
}

chart_common!(ErrorBarChart);
axes_setters!(ErrorBarChart);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_mean_and_sample_std_in_x_order() {
        let chart = ErrorBarChart::new("t").observe("a", 1000.0, 0.5).observe("a", 100.0, 0.2).observe("a", 100.0, 0.4).observe("a", 100.0, f64::NAN);
        let s = chart.summary();
        assert_eq!(s.len(), 1);
        let p = &s[0].1;
        assert_eq!(p.iter().map(|p| p.x).collect::<Vec<_>>(), vec![100.0, 1000.0]);
        assert!((p[0].mean - 0.3).abs() < 1e-12 && (p[0].std - 0.1414213562).abs() < 1e-9 && p[0].n == 2);
        assert_eq!((p[1].std, p[1].n), (0.0, 1));
        assert_eq!(unkey(key(-2.5)), -2.5);
        assert!(key(-1.0) < key(0.0) && key(0.0) < key(3.0));
    }
}

/// 10ᵏ for every k with 10ᵏ in [lo, hi].
fn powers_of_ten(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.max(f64::MIN_POSITIVE).log10().ceil() as i32, hi.log10().floor() as i32);
    (a..=b).map(|k| 10f64.powi(k)).collect()
}
