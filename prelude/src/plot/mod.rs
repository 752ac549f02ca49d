//! Charts drawn with plotters that show themselves in the notebook (SVG).

mod bar;
mod line;

pub use bar::BarChart;
pub use line::LineChart;
