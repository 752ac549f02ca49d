//! ROC curves: true-positive rate against false-positive rate, one curve per model, the chance
//! diagonal, and the area under each curve in the legend (as scikit-learn's `RocCurveDisplay`).

use super::style::{series_color, tidy};
use super::{chart_common, draw_legend, draw_mesh, plotters_svg, Format};
use plotters::prelude::*;

/// Area under a curve of (x, y) points by the trapezoid rule, after sorting by x
/// (scikit-learn's `auc`); non-finite points are skipped.
pub fn auc(points: &[(f64, f64)]) -> f64 {
    let mut p: Vec<(f64, f64)> = points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    p.windows(2).map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0).sum()
}

/// One or more ROC curves given as (false-positive rate, true-positive rate) points.
///
/// ```no_run
/// use tuna::prelude::*;
/// RocChart::new("ROC, digit 0 vs rest").curve("ViT", vec![(0.0, 0.0), (0.1, 0.8), (1.0, 1.0)])
/// ```
#[derive(Debug, Clone, Default)]
pub struct RocChart {
    title: String,
    curves: Vec<(String, Vec<(f64, f64)>)>,
    size: (u32, u32),
    format: Format,
}

impl RocChart {
    /// An empty chart titled `title`, 520×500.
    pub fn new(title: impl Into<String>) -> Self {
        RocChart { title: title.into(), size: (520, 500), ..Default::default() }
    }

    /// Adds a curve of (fpr, tpr) points; it is drawn in fpr order from (0, 0) to (1, 1).
    pub fn curve(mut self, name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        let mut p: Vec<(f64, f64)> = points.into_iter().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        if p.first() != Some(&(0.0, 0.0)) {
            p.insert(0, (0.0, 0.0));
        }
        if p.last() != Some(&(1.0, 1.0)) {
            p.push((1.0, 1.0));
        }
        self.curves.push((name.into(), p));
        self
    }

    /// Width and height in pixels.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width, height);
        self
    }

    /// Each curve's name and area under it.
    pub fn aucs(&self) -> Vec<(String, f64)> {
        self.curves.iter().map(|(n, p)| (n.clone(), auc(p))).collect()
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        plotters_svg(self.size, |root| self.draw(root))
    }

    fn plain(&self) -> String {
        let a: Vec<String> = self.aucs().iter().map(|(n, a)| format!("{n}: AUC {a:.4}")).collect();
        format!("<RocChart: {}> {}", self.title, a.join(", "))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, plotters::coord::Shift>) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.01f64..1.01, -0.01f64..1.01)?;
        draw_mesh!(chart, "false positive rate", "true positive rate", &|v: &f64| tidy(*v));
        let grey = RGBColor(150, 150, 150);
        chart
            .draw_series(DashedLineSeries::new([(0.0, 0.0), (1.0, 1.0)], 6, 4, grey.stroke_width(1)))?
            .label("chance (AUC 0.5)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey.stroke_width(1)));
        for (i, (name, points)) in self.curves.iter().enumerate() {
            let color = series_color(i);
            let label = format!("{name} (AUC {:.3})", auc(points));
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        draw_legend!(chart, SeriesLabelPosition::LowerRight);
        Ok(())
    }
}

chart_common!(RocChart);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_chance_and_step_curves() {
        assert!((auc(&[(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)]) - 1.0).abs() < 1e-12);
        assert!((auc(&[(1.0, 1.0), (0.0, 0.0)]) - 0.5).abs() < 1e-12);
        assert!((auc(&[(0.0, 0.0), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]) - 0.625).abs() < 1e-12);
    }
}
