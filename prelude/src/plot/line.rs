//! Line charts: one or more named series over a shared x axis (loss curves, metrics).

use crate::display::{MimeBundle, Render};
use plotters::prelude::*;

/// Colours for successive series (matplotlib's default cycle, readable on white).
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

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
}

impl LineChart {
    /// An empty chart titled `title`, 640×400.
    pub fn new(title: impl Into<String>) -> Self {
        LineChart { title: title.into(), size: (640, 400), ..Default::default() }
    }

    /// The x axis label.
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.x_label = label.into();
        self
    }

    /// The y axis label.
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.y_label = label.into();
        self
    }

    /// Adds a named series of (x, y) points; non-finite points are skipped.
    pub fn series(mut self, name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        let points = points.into_iter().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        self.series.push((name.into(), points));
        self
    }

    /// Width and height in pixels.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width, height);
        self
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size).into_drawing_area();
            // Drawing into a string cannot fail for I/O reasons; an empty chart is still drawn.
            let _ = self.draw(&root);
            let _ = root.present();
        }
        svg
    }

    fn bounds(&self) -> ((f64, f64), (f64, f64)) {
        let pts = self.series.iter().flat_map(|(_, p)| p.iter());
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
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&|v| tidy(*v))
            .y_label_formatter(&|v| tidy(*v))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (i, (name, points)) in self.series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        if self.series.len() > 1 || self.series.iter().any(|(n, _)| !n.is_empty()) {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .draw()?;
        }
        Ok(())
    }
}

/// An axis label: no "-0.0", no needless digits.
fn tidy(v: f64) -> String {
    let v = if v.abs() < 1e-12 { 0.0 } else { v };
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".into() } else { text.to_owned() }
}

impl Render for LineChart {
    fn render(&self) -> MimeBundle {
        MimeBundle::text(format!("<LineChart: {}>", self.title)).with("image/svg+xml", self.to_svg())
    }
}

crate::impl_evcxr_display!(LineChart);

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
}
