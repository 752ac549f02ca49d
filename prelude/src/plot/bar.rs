//! Bar charts: one value per named category (class histograms, per-class metrics).

use super::style::PALETTE;
use super::{axes_setters, chart_common, plotters_svg, Format};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A vertical bar chart with a title, axis labels and a value above each bar.
///
/// ```no_run
/// use tuna::prelude::*;
/// BarChart::new("rows per class").bars([("negative", 16186.0), ("neutral", 15018.0), ("positive", 6954.0)])
/// ```
#[derive(Debug, Clone, Default)]
pub struct BarChart {
    title: String,
    x_label: String,
    y_label: String,
    bars: Vec<(String, f64)>,
    size: (u32, u32),
    format: Format,
}

impl BarChart {
    /// An empty chart titled `title`, 640×400.
    pub fn new(title: impl Into<String>) -> Self {
        BarChart { title: title.into(), size: (640, 400), ..Default::default() }
    }

    /// Adds bars (name, value); non-finite values count as 0.
    pub fn bars<S: Into<String>>(mut self, bars: impl IntoIterator<Item = (S, f64)>) -> Self {
        self.bars.extend(bars.into_iter().map(|(n, v)| (n.into(), if v.is_finite() { v } else { 0.0 })));
        self
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        plotters_svg(self.size, |root| self.draw(root))
    }

    fn plain(&self) -> String {
        let plain: Vec<String> = self.bars.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        format!("<BarChart: {}> {}", self.title, plain.join(", "))
    }

    /// The width of `text` in pixels at the axis labels' size, roughly (sans-serif, 12 px).
    fn label_width(text: &str) -> u32 {
        text.chars().count() as u32 * 7
    }

    /// Whether every bar's name fits under its bar; otherwise the bars lie horizontally, with
    /// the names on the left (long names such as "partial (embeddings + layers 0-3 frozen)"
    /// overlapped one another).
    fn names_fit_below(&self) -> bool {
        let slot = self.size.0.saturating_sub(100) / self.bars.len().max(1) as u32;
        self.bars.iter().all(|(name, _)| Self::label_width(name) + 8 <= slot)
    }

    fn value_label(value: f64) -> String {
        if value.fract() == 0.0 { format!("{}", value as i64) } else { format!("{value:.3}") }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, plotters::coord::Shift>) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        // A discrete range includes both ends: bars 0..=n-1.
        let last = self.bars.len().max(1) as i32 - 1;
        let integral = self.bars.iter().all(|b| b.1.fract() == 0.0);
        let top = self.bars.iter().map(|b| b.1).fold(0.0f64, f64::max);
        let bottom = self.bars.iter().map(|b| b.1).fold(0.0f64, f64::min);
        let top = if top - bottom < 1e-12 { bottom + 1.0 } else { top + (top - bottom) * 0.1 };
        let names: Vec<String> = self.bars.iter().map(|b| b.0.clone()).collect();
        let value_format = |v: &f64| if integral { format!("{v:.0}") } else { format!("{v:.2}") };
        let name_of = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        if !self.names_fit_below() {
            // The first bar on top: position `last - i` from the bottom.
            let name_of = |v: &SegmentValue<i32>| match v {
                SegmentValue::CenterOf(j) => names.get((last - *j) as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            };
            let widest = self.bars.iter().map(|(n, _)| Self::label_width(n)).max().unwrap_or(0);
            let mut chart = ChartBuilder::on(root)
                .caption(&self.title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size((widest + 16).min(self.size.0 / 2))
                .build_cartesian_2d(bottom..top, (0..last).into_segmented())?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .x_desc(self.y_label.as_str())
                .y_desc(self.x_label.as_str())
                .y_labels(names.len().max(1))
                .y_label_formatter(&name_of)
                .x_label_formatter(&value_format)
                .light_line_style(WHITE.mix(0.0))
                .draw()?;
            chart.draw_series(
                Histogram::horizontal(&chart)
                    .style(PALETTE[0].filled())
                    .margin(6)
                    .data(self.bars.iter().enumerate().map(|(i, b)| (last - i as i32, b.1))),
            )?;
            chart.draw_series(self.bars.iter().enumerate().map(|(i, b)| {
                let style = ("sans-serif", 13).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
                Text::new(format!(" {}", Self::value_label(b.1)), (b.1, SegmentValue::CenterOf(last - i as i32)), style)
            }))?;
            return Ok(());
        }
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((0..last).into_segmented(), bottom..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_labels(names.len().max(1))
            .x_label_formatter(&name_of)
            .y_label_formatter(&value_format)
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        chart.draw_series(
            Histogram::vertical(&chart)
                .style(PALETTE[0].filled())
                .margin(6)
                .data(self.bars.iter().enumerate().map(|(i, b)| (i as i32, b.1))),
        )?;
        chart.draw_series(self.bars.iter().enumerate().map(|(i, b)| {
            let style = ("sans-serif", 13).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Bottom));
            Text::new(Self::value_label(b.1), (SegmentValue::CenterOf(i as i32), b.1), style)
        }))?;
        Ok(())
    }
}

chart_common!(BarChart);
axes_setters!(BarChart);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_title_bar_names_and_values() {
        let svg = BarChart::new("rows per class").x_label("class").bars([("neg", 12.0), ("pos", 7.0)]).to_svg();
        assert!(svg.starts_with("<svg"));
        for text in ["rows per class", "class", "\nneg\n", "\npos\n", "\n12\n", "\n7\n"] {
            assert!(svg.contains(text), "missing {text:?}");
        }
        assert!(svg.matches("<rect").count() >= 3, "bars drawn as rectangles");
    }

    #[test]
    fn long_names_lie_on_the_left_of_horizontal_bars() {
        let names = ["full", "partial (embeddings + layers 0-3 frozen)", "BitFit", "LoRA r=8 on query, value"];
        let chart = BarChart::new("validation accuracy").bars(names.iter().map(|&n| (n, 0.5)));
        assert!(!chart.names_fit_below());
        let svg = chart.to_svg();
        for name in names {
            assert!(svg.contains(&format!("\n{name}\n")) || svg.contains(name), "missing {name:?}");
        }
        assert!(BarChart::new("rows per class").bars([("negative", 1.0), ("neutral", 2.0), ("positive", 3.0)]).names_fit_below());
    }
}
