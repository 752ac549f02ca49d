//! Charts drawn with plotters (or, for pictures made of pixels, as SVG holding PNG tiles) that
//! show themselves in the notebook: SVG by default, PNG when asked with `.png()`.
//!
//! Every chart has `to_svg()`, `to_png()`, `save(path)` (by extension, `.svg` or `.png`),
//! `.png()` (show as PNG instead of SVG) and implements [`Render`](crate::display::Render), so
//! it shows itself as the final value of a cell and through `show(&chart)`.

mod bar;
mod errorbar;
mod heatmap;
mod images;
mod line;
mod raster;
mod roc;
mod style;

pub use bar::BarChart;
pub use errorbar::ErrorBarChart;
pub use heatmap::{AttentionMap, ConfusionChart};
pub use images::{AttentionGrid, ImageGrid, SaliencyMap};
pub use line::LineChart;
pub use roc::{auc, RocChart};
pub use style::diverging_color;

use crate::display::MimeBundle;
use crate::{Error, Result};
use base64::Engine;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// How a chart shows itself in the notebook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// `image/svg+xml`: sharp at any zoom, text selectable (the default).
    #[default]
    Svg,
    /// `image/png`: a picture, twice the chart's size in pixels for sharp text on high-DPI screens.
    Png,
}

/// The system fonts, loaded once, with `sans-serif` mapped to a font that is installed.
fn fonts() -> Arc<resvg::usvg::fontdb::Database> {
    static FONTS: OnceLock<Arc<resvg::usvg::fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = resvg::usvg::fontdb::Database::new();
            db.load_system_fonts();
            let installed: Vec<String> = db.faces().flat_map(|f| f.families.iter().map(|(n, _)| n.clone())).collect();
            for family in ["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica"] {
                if installed.iter().any(|n| n == family) {
                    db.set_sans_serif_family(family);
                    break;
                }
            }
            Arc::new(db)
        })
        .clone()
}

/// Renders an SVG document to PNG bytes at `scale` times its size.
pub fn svg_to_png(svg: &str, scale: f32) -> Result<Vec<u8>> {
    let options = resvg::usvg::Options { fontdb: fonts(), ..Default::default() };
    let tree = resvg::usvg::Tree::from_str(svg, &options).map_err(|e| Error::Message(format!("chart SVG did not parse: {e}")))?;
    let size = tree.size().to_int_size().scale_by(scale).ok_or_else(|| Error::Message("chart has zero size".into()))?;
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| Error::Message(format!("cannot allocate a {}×{} picture", size.width(), size.height())))?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(&tree, resvg::tiny_skia::Transform::from_scale(scale, scale), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| Error::Message(format!("PNG encoding failed: {e}")))
}

/// The bundle a chart shows: its SVG, or PNG when asked (falling back to SVG if rendering fails).
pub(crate) fn chart_bundle(plain: String, svg: String, format: Format) -> MimeBundle {
    match format {
        Format::Svg => MimeBundle::text(plain).with("image/svg+xml", svg),
        Format::Png => match svg_to_png(&svg, 2.0) {
            Ok(png) => {
                let (w, h) = svg_size(&svg);
                MimeBundle::text(plain)
                    .with("image/png", base64::engine::general_purpose::STANDARD.encode(png))
                    .meta("image/png", serde_json::json!({ "width": w, "height": h }))
            }
            Err(e) => MimeBundle::text(format!("{plain} (PNG failed: {e})")).with("image/svg+xml", svg),
        },
    }
}

/// The width and height attributes of an SVG document's root (0 when absent).
fn svg_size(svg: &str) -> (u32, u32) {
    let attr = |name: &str| -> u32 {
        let key = format!("{name}=\"");
        svg.find(&key)
            .and_then(|i| svg[i + key.len()..].split('"').next())
            .and_then(|v| v.trim_end_matches("px").parse::<f64>().ok())
            .map_or(0, |v| v as u32)
    };
    (attr("width"), attr("height"))
}

/// Writes `svg` to `path` as SVG or PNG, by the path's extension.
pub(crate) fn save_chart(svg: &str, path: &Path) -> Result<()> {
    let io = |source| Error::Io { path: path.to_owned(), source };
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("svg") => std::fs::write(path, svg).map_err(io),
        Some("png") => std::fs::write(path, svg_to_png(svg, 2.0)?).map_err(io),
        _ => Err(Error::Config { key: path.display().to_string(), message: "save a chart as .svg or .png".into() }),
    }
}

/// Gives a chart type (with fields `format: Format` and a `fn to_svg(&self) -> String` and
/// `fn plain(&self) -> String`) `.png()`, `to_png()`, `save()`, `Render` and `evcxr_display`.
macro_rules! chart_common {
    ($ty:ty) => {
        impl $ty {
            /// Shows the chart as PNG instead of SVG.
            pub fn png(mut self) -> Self {
                self.format = $crate::plot::Format::Png;
                self
            }

            /// The chart as PNG bytes (twice its size in pixels).
            pub fn to_png(&self) -> $crate::Result<Vec<u8>> {
                $crate::plot::svg_to_png(&self.to_svg(), 2.0)
            }

            /// Writes the chart to `path`, as SVG or PNG by its extension.
            pub fn save(&self, path: impl AsRef<std::path::Path>) -> $crate::Result<()> {
                $crate::plot::save_chart(&self.to_svg(), path.as_ref())
            }
        }

        impl $crate::display::Render for $ty {
            fn render(&self) -> $crate::display::MimeBundle {
                $crate::plot::chart_bundle(self.plain(), self.to_svg(), self.format)
            }
        }

        $crate::impl_evcxr_display!($ty);
    };
}
pub(crate) use chart_common;

/// Gives a chart with fields `x_label`, `y_label` and `size` their builder methods.
macro_rules! axes_setters {
    ($ty:ty) => {
        impl $ty {
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

            /// Width and height in pixels.
            pub fn size(mut self, width: u32, height: u32) -> Self {
                self.size = (width, height);
                self
            }
        }
    };
}
pub(crate) use axes_setters;

/// Draws the axes of an x–y chart: labels in readable sizes, numbers formatted by `$x_fmt` on
/// x and tidily on y, light grid lines.
macro_rules! draw_mesh {
    ($chart:expr, $x_label:expr, $y_label:expr, $x_fmt:expr) => {
        $chart
            .configure_mesh()
            .x_desc($x_label)
            .y_desc($y_label)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .x_label_formatter($x_fmt)
            .y_label_formatter(&|v: &f64| $crate::plot::style::tidy(*v))
            .light_line_style(WHITE.mix(0.0))
            .draw()?
    };
}
pub(crate) use draw_mesh;

/// Draws the legend box at `$pos` (a `SeriesLabelPosition`).
macro_rules! draw_legend {
    ($chart:expr, $pos:expr) => {
        $chart
            .configure_series_labels()
            .position($pos)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .draw()?
    };
}
pub(crate) use draw_legend;

/// Draws into an SVG string with plotters; drawing into a string cannot fail for I/O reasons,
/// and a chart with nothing to draw is still a valid (empty) document.
pub(crate) fn plotters_svg<E>(
    size: (u32, u32),
    draw: impl FnOnce(&plotters::drawing::DrawingArea<plotters::prelude::SVGBackend, plotters::coord::Shift>) -> std::result::Result<(), E>,
) -> String {
    use plotters::prelude::IntoDrawingArea;
    let mut svg = String::new();
    {
        let root = plotters::prelude::SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let _ = draw(&root);
        let _ = root.present();
    }
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_has_signature_and_size() {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><text x="2" y="20" font-family="sans-serif">hi</text></svg>"#;
        let png = svg_to_png(svg, 2.0).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!((img.width(), img.height()), (80, 60));
        assert_eq!(svg_size(svg), (40, 30));
    }
}
