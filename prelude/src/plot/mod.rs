//! Charts drawn with plotters that show themselves in the notebook (SVG).

mod line;

pub use line::LineChart;
