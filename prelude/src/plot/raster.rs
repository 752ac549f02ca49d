//! Pictures made of pixels for charts: tensors to images with values in [0, 1], nearest-neighbour
//! upscaling (so that a 28×28 digit stays sharp in every viewer), PNG data URIs for SVG `<image>`
//! elements, and a small hand-written SVG document builder for image grids.

use super::style::xml_escape;
use crate::{Error, Result};
use base64::Engine;
use tch::{Device, Kind, Tensor};

/// One image: `channels` (1 or 3) planes of `height`×`width` values, channel-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plane {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: Vec<f32>,
}

impl Plane {
    /// The value at (channel, y, x).
    pub fn at(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.height + y) * self.width + x]
    }

    /// The pixel (y, x) as RGB in [0, 1] (grey images repeat their one channel).
    pub fn rgb(&self, y: usize, x: usize) -> [f32; 3] {
        if self.channels >= 3 {
            [self.at(0, y, x), self.at(1, y, x), self.at(2, y, x)]
        } else {
            let v = self.at(0, y, x);
            [v, v, v]
        }
    }
}

/// A batch of images from (N, C, H, W) with C ∈ {1, 3} or (N, H, W), as f32.
pub(crate) fn planes(t: &Tensor, context: &str) -> Result<Vec<Plane>> {
    let shape = t.size();
    let (n, c, h, w) = match shape.as_slice() {
        &[n, c, h, w] if c == 1 || c == 3 => (n, c, h, w),
        &[n, h, w] => (n, 1, h, w),
        _ => {
            return Err(Error::Shape {
                context: context.into(),
                message: format!("expected images (N, C, H, W) with C = 1 or 3, or (N, H, W); got {shape:?} (add a batch dimension with .unsqueeze(0) for one image)"),
            })
        }
    };
    let flat: Vec<f32> = Vec::try_from(t.detach().to_device(Device::Cpu).to_kind(Kind::Float).reshape([-1]))?;
    let size = (c * h * w) as usize;
    Ok((0..n as usize)
        .map(|i| Plane { width: w as usize, height: h as usize, channels: c as usize, data: flat[i * size..(i + 1) * size].to_vec() })
        .collect())
}

/// Scales every plane's values into [0, 1] together: kept as they are when already inside,
/// else min–max over the whole batch (so images stay comparable). Non-finite values become 0.
pub(crate) fn unit_range(planes: &mut [Plane]) {
    let values = planes.iter().flat_map(|p| p.data.iter()).copied().filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let inside = lo >= 0.0 && hi <= 1.0;
    for p in planes.iter_mut() {
        for v in p.data.iter_mut() {
            *v = if !v.is_finite() {
                0.0
            } else if inside {
                *v
            } else if hi > lo {
                (*v - lo) / (hi - lo)
            } else {
                0.0
            };
        }
    }
}

/// Encodes RGB pixels (`width`×`height`, row-major) as PNG, each pixel a `scale`×`scale` block.
pub(crate) fn png_rgb(width: usize, height: usize, pixels: &[[u8; 3]], scale: usize) -> Result<Vec<u8>> {
    let scale = scale.max(1);
    let (w, h) = (width * scale, height * scale);
    let mut buf = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            buf.extend_from_slice(&pixels[(y / scale) * width + x / scale]);
        }
    }
    let img = image::RgbImage::from_raw(w as u32, h as u32, buf).ok_or_else(|| Error::Message("image buffer has the wrong size".into()))?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).map_err(|e| Error::Message(format!("PNG encoding failed: {e}")))?;
    Ok(out.into_inner())
}

/// An upscale factor that makes an image about `target` pixels on its long side.
pub(crate) fn scale_for(width: usize, height: usize, target: usize) -> usize {
    (target / width.max(height).max(1)).clamp(1, 16)
}

/// A float in [0, 1] as a byte.
pub(crate) fn byte(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// A hand-written SVG document: a white page with images and text placed by pixel.
pub(crate) struct SvgPage {
    width: u32,
    height: u32,
    body: String,
}

impl SvgPage {
    pub fn new(width: u32, height: u32) -> Self {
        SvgPage { width, height, body: String::new() }
    }

    /// Places a PNG at (x, y) shown `w`×`h`, pixelated when scaled.
    pub fn image(&mut self, x: f64, y: f64, w: f64, h: f64, png: &[u8]) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(png);
        self.body.push_str(&format!(
            "<image x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" preserveAspectRatio=\"none\" image-rendering=\"pixelated\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64,{b64}\"/>\n"
        ));
    }

    /// A text at (x, y); `anchor` is start, middle or end; `rotate` in degrees.
    pub fn text(&mut self, x: f64, y: f64, text: &str, size: u32, anchor: &str, rotate: f64) {
        let transform = if rotate != 0.0 { format!(" transform=\"rotate({rotate:.0} {x:.1} {y:.1})\"") } else { String::new() };
        self.body.push_str(&format!(
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-family=\"sans-serif\" font-size=\"{size}\" text-anchor=\"{anchor}\" dominant-baseline=\"middle\" fill=\"#000000\"{transform}>{}</text>\n",
            xml_escape(text)
        ));
    }

    /// A rectangle outline or fill.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, stroke: &str) {
        self.body.push_str(&format!("<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{fill}\" stroke=\"{stroke}\"/>\n"));
    }

    pub fn finish(self) -> String {
        format!(
            "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#FFFFFF\"/>\n{}</svg>\n",
            self.body,
            w = self.width,
            h = self.height
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_accept_nchw_and_nhw_and_reject_others() {
        let t = Tensor::arange(2 * 3 * 4 * 5, (Kind::Float, Device::Cpu)).view([2, 3, 4, 5]);
        let p = planes(&t, "t").unwrap();
        assert_eq!((p.len(), p[1].channels, p[1].height, p[1].width), (2, 3, 4, 5));
        assert_eq!(p[1].at(2, 3, 4), 119.0);
        assert_eq!(planes(&t.select(1, 0), "t").unwrap()[0].channels, 1);
        let err = planes(&Tensor::zeros([2, 2, 4, 4], (Kind::Float, Device::Cpu)), "grid").unwrap_err().to_string();
        assert!(err.contains("grid") && err.contains("[2, 2, 4, 4]"), "{err}");
    }

    #[test]
    fn unit_range_keeps_unit_values_and_stretches_others() {
        let mut p = vec![Plane { width: 2, height: 1, channels: 1, data: vec![0.2, 0.8] }];
        unit_range(&mut p);
        assert_eq!(p[0].data, vec![0.2, 0.8]);
        let mut q = vec![Plane { width: 2, height: 1, channels: 1, data: vec![-1.0, 3.0] }];
        unit_range(&mut q);
        assert_eq!(q[0].data, vec![0.0, 1.0]);
    }

    #[test]
    fn png_is_upscaled_by_blocks() {
        let png = png_rgb(2, 1, &[[0, 0, 0], [255, 255, 255]], 3).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (6, 3));
        assert_eq!(img.get_pixel(2, 2).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(3, 0).0, [255, 255, 255]);
    }
}
