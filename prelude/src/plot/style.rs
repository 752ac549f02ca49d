//! What every chart shares: the series colours (matplotlib's default cycle), colour maps
//! (viridis for intensities, blue–white–red for signed values, as matplotlib's `viridis` and
//! `RdBu_r`), tidy axis numbers and text escaping for hand-written SVG.

use plotters::style::RGBColor;

/// Colours for successive series (matplotlib's default cycle, readable on white).
pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// The colour of series number `i`.
pub(crate) fn series_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Viridis sampled at 9 points (matplotlib), interpolated linearly.
const VIRIDIS: [(u8, u8, u8); 9] = [
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 144, 141),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
];

/// Blue (negative) – white (zero) – red (positive), as matplotlib's `RdBu_r` at 5 points.
const DIVERGING: [(u8, u8, u8); 5] = [(33, 102, 172), (146, 197, 222), (247, 247, 247), (244, 165, 130), (178, 24, 43)];

fn interpolate(stops: &[(u8, u8, u8)], t: f64) -> (u8, u8, u8) {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (stops[i], stops[i + 1]);
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Viridis at `t` in [0, 1] (dark purple → yellow).
pub(crate) fn viridis(t: f64) -> (u8, u8, u8) {
    interpolate(&VIRIDIS, t)
}

/// Blue–white–red at `t` in [-1, 1] (0 is white).
pub fn diverging_color(t: f64) -> (u8, u8, u8) {
    interpolate(&DIVERGING, (t + 1.0) / 2.0)
}

/// Sequential white → blue at `t` in [0, 1] (matplotlib's `Blues`), for counts.
pub(crate) fn blues(t: f64) -> (u8, u8, u8) {
    interpolate(&[(247, 251, 255), (198, 219, 239), (107, 174, 214), (33, 113, 181), (8, 48, 107)], t)
}

/// An axis number: no "-0", no needless digits.
pub(crate) fn tidy(v: f64) -> String {
    let v = if v.abs() < 1e-12 { 0.0 } else { v };
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.to_owned()
    }
}

/// A count with thousands separators: 10000 → "10,000".
pub(crate) fn thousands(v: f64) -> String {
    if v.fract() != 0.0 || v.abs() >= 1e15 {
        return tidy(v);
    }
    let digits = format!("{}", v.abs() as u64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Escapes text for an SVG text node or attribute.
pub(crate) fn xml_escape(text: &str) -> String {
    crate::display::escape_html(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_maps_hit_their_ends() {
        assert_eq!(viridis(0.0), (68, 1, 84));
        assert_eq!(viridis(1.0), (253, 231, 37));
        assert_eq!(diverging_color(0.0), (247, 247, 247));
        assert_eq!(diverging_color(-1.0), (33, 102, 172));
        assert_eq!(viridis(f64::NAN), (68, 1, 84));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(tidy(-0.0000001), "0");
        assert_eq!(tidy(0.25), "0.25");
        assert_eq!(thousands(10000.0), "10,000");
        assert_eq!(thousands(100.0), "100");
    }
}
