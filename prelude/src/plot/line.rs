//! Line charts: one or more named series over a shared x axis (loss curves, metrics, several
//! runs on one chart), x optionally on a log scale.

use super::style::{series_color, thousands, tidy};
use super::{axes_setters, chart_common, draw_legend, draw_mesh, plotters_svg, Format};
use plotters::prelude::*;

/// A line chart with a title, axis labels and a legend.
///
/// ```no_run
/// use tuna::prelude::*;
/// let xs: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, (i as f64 / 10.0).sin())).collect();
/// LineChart::new("sine").x_label("x").y_label("sin x").series("sin", xs)
/// ```
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    title: String,
    x_label: String,
    y_label: String,
    series: Vec<(String, Vec<(f64, f64)>)>,
    size: (u32, u32),
    log_x: bool,
    markers: bool,
    format: Format,
}

impl LineChart {
    /// An empty chart titled `title`, 640×400.
    pub fn new(title: impl Into<String>) -> Self {
        LineChart { title: title.into(), size: (640, 400), ..Default::default() }
    }

    /// Adds a named series of (x, y) points; non-finite points are skipped.
    pub fn series(mut self, name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        let points = points.into_iter().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        self.series.push((name.into(), points));
        self
    }

    /// Adds one series per run: `runs` of (name, points), e.g. the loss curves of several runs.
    pub fn runs<S: Into<String>, P: IntoIterator<Item = (f64, f64)>>(mut self, runs: impl IntoIterator<Item = (S, P)>) -> Self {
        for (name, points) in runs {
            self = self.series(name, points);
        }
        self
    }

    /// Puts x on a log₁₀ scale (points with x ≤ 0 are dropped).
    pub fn log_x(mut self) -> Self {
        self.log_x = true;
        self
    }

    /// Marks each point with a dot (for short series such as evaluations).
    pub fn markers(mut self) -> Self {
        self.markers = true;
        self
    }

    /// The number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when the chart has no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        plotters_svg(self.size, |root| self.draw(root))
    }

    fn plain(&self) -> String {
        let names: Vec<&str> = self.series.iter().map(|s| s.0.as_str()).collect();
        format!("<LineChart: {}> {}", self.title, names.join(", "))
    }

    fn bounds(&self) -> ((f64, f64), (f64, f64)) {
        let log_x = self.log_x;
        let pts = self.series.iter().flat_map(|(_, p)| p.iter()).filter(|p| !log_x || p.0 > 0.0);
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in pts {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            return ((0.0, 1.0), (0.0, 1.0));
        }
        let pad = |lo: f64, hi: f64| if hi - lo < 1e-12 { (lo - 0.5, hi + 0.5) } else { (lo, hi) };
        let (y0, y1) = pad(y0, y1);
        let margin = (y1 - y0) * 0.05;
        (pad(x0, x1), (y0 - margin, y1 + margin))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, plotters::coord::Shift>) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let ((x0, x1), (y0, y1)) = self.bounds();
        let mut builder = ChartBuilder::on(root);
        builder.caption(&self.title, ("sans-serif", 22)).margin(16).x_label_area_size(44).y_label_area_size(64);
        if self.log_x {
            let x0 = if x0 > 0.0 { x0 } else { 1.0 };
            let x1 = if x1 > x0 { x1 } else { x0 * 10.0 };
            let mut chart = builder.build_cartesian_2d((x0 / 1.3..x1 * 1.3).log_scale(), y0..y1)?;
            draw_mesh!(chart, self.x_label.as_str(), self.y_label.as_str(), &|v: &f64| thousands(*v));
            self.draw_series(&mut chart)
        } else {
            let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1)?;
            draw_mesh!(chart, self.x_label.as_str(), self.y_label.as_str(), &|v: &f64| tidy(*v));
            self.draw_series(&mut chart)
        }
    }

    fn draw_series<'a, DB: DrawingBackend + 'a, X: Ranged<ValueType = f64>>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        for (i, (name, points)) in self.series.iter().enumerate() {
            let color = series_color(i);
            let points: Vec<(f64, f64)> = points.iter().copied().filter(|p| !self.log_x || p.0 > 0.0).collect();
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            if self.markers || points.len() == 1 {
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
            }
        }
        if self.series.len() > 1 || self.series.iter().any(|(n, _)| !n.is_empty()) {
            draw_legend!(chart, SeriesLabelPosition::UpperRight);
        }
        Ok(())
    }
}

chart_common!(LineChart);
axes_setters!(LineChart);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_title_labels_and_legend() {
        let svg = LineChart::new("Training loss")
            .x_label("step")
            .y_label("loss")
            .series("full", vec![(0.0, 1.0), (1.0, 0.5)])
            .series("lora", vec![(0.0, 1.2), (1.0, f64::NAN), (2.0, 0.7)])
            .to_svg();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        for text in ["Training loss", "step", "loss", "full", "lora"] {
            assert!(svg.contains(text), "missing {text}");
        }
    }

    #[test]
    fn log_x_labels_counts_and_drops_nonpositive_x() {
        let svg = LineChart::new("accuracy").log_x().series("a", vec![(0.0, 0.1), (100.0, 0.5), (10000.0, 0.9)]).to_svg();
        assert!(svg.contains("10,000") || svg.contains("1,000"), "thousands on the log axis");
    }
}
