//! Charts made of pictures: a grid of images with captions, saliency maps laid over their
//! images (image | saliency | overlay, as in Simonyan et al. 2013, "Deep Inside Convolutional
//! Networks"), and the attention of every layer × head of a model for one sentence (bertviz's
//! model view). Each picture is a PNG tile inside an SVG page.

use super::raster::{byte, png_rgb, planes, scale_for, unit_range, Plane, SvgPage};
use super::style::viridis;
use super::{chart_common, Format};
use crate::{Error, Result};
use tch::{Kind, Tensor};

/// Black → red → yellow → white (matplotlib's `hot`), for saliency in [0, 1].
fn hot(t: f32) -> [f32; 3] {
    let t = t.clamp(0.0, 1.0);
    [(t * 3.0).min(1.0), (t * 3.0 - 1.0).clamp(0.0, 1.0), (t * 3.0 - 2.0).clamp(0.0, 1.0)]
}

fn to_bytes(rgb: [f32; 3]) -> [u8; 3] {
    [byte(rgb[0]), byte(rgb[1]), byte(rgb[2])]
}

fn plane_png(p: &Plane, scale: usize, pixel: impl Fn(usize, usize) -> [f32; 3]) -> Result<Vec<u8>> {
    let pixels: Vec<[u8; 3]> = (0..p.height).flat_map(|y| (0..p.width).map(move |x| (y, x))).map(|(y, x)| to_bytes(pixel(y, x))).collect();
    png_rgb(p.width, p.height, &pixels, scale)
}

/// A grid of images with a caption under each (say predicted vs true label).
///
/// ```no_run
/// use tuna::prelude::*;
/// # fn f(images: &Tensor) -> tuna::Result<ImageGrid> {
/// Ok(ImageGrid::new(images)?.captions(["7", "2", "1"]).title("test digits"))
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ImageGrid {
    title: String,
    images: Vec<Plane>,
    captions: Vec<String>,
    cols: usize,
    tile: usize,
    format: Format,
}

impl ImageGrid {
    /// Images (N, C, H, W) with C = 1 or 3, or (N, H, W). Values already in [0, 1] are shown as
    /// they are, others are stretched to [0, 1] over the whole batch.
    pub fn new(images: &Tensor) -> Result<Self> {
        let mut images = planes(images, "ImageGrid")?;
        unit_range(&mut images);
        let cols = (images.len() as f64).sqrt().ceil().max(1.0) as usize;
        Ok(ImageGrid { title: String::new(), cols: cols.clamp(1, 8), images, captions: vec![], tile: 96, format: Format::Svg })
    }

    /// A caption per image, in order.
    pub fn captions<S: Into<String>>(mut self, captions: impl IntoIterator<Item = S>) -> Self {
        self.captions = captions.into_iter().map(Into::into).collect();
        self
    }

    /// The title above the grid.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Images per row.
    pub fn cols(mut self, cols: usize) -> Self {
        self.cols = cols.max(1);
        self
    }

    /// The shown size of each image's long side, in pixels (default 96).
    pub fn tile(mut self, pixels: usize) -> Self {
        self.tile = pixels.clamp(16, 512);
        self
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let cols = self.cols.min(self.images.len()).max(1);
        let rows = self.images.len().div_ceil(cols).max(1);
        let (iw, ih) = self.images.first().map_or((1, 1), |p| (p.width, p.height));
        let tw = self.tile as f64 * iw as f64 / iw.max(ih) as f64;
        let th = self.tile as f64 * ih as f64 / iw.max(ih) as f64;
        let caption_h = if self.captions.is_empty() { 0.0 } else { 22.0 };
        let longest = self.captions.iter().map(|c| c.chars().count()).max().unwrap_or(0) as f64;
        let cell_w = tw.max(longest * 7.5) + 12.0;
        let cell_h = th + caption_h + 12.0;
        let top = if self.title.is_empty() { 8.0 } else { 40.0 };
        let width = (cols as f64 * cell_w + 12.0).max(if self.title.is_empty() { 0.0 } else { self.title.len() as f64 * 11.0 + 24.0 });
        let mut page = SvgPage::new(width.ceil() as u32, (top + rows as f64 * cell_h + 4.0).ceil() as u32);
        if !self.title.is_empty() {
            page.text(width / 2.0, 20.0, &self.title, 20, "middle", 0.0);
        }
        for (i, img) in self.images.iter().enumerate() {
            let (r, c) = (i / cols, i % cols);
            let x = 6.0 + c as f64 * cell_w + (cell_w - tw) / 2.0;
            let y = top + r as f64 * cell_h;
            let scale = scale_for(img.width, img.height, self.tile);
            if let Ok(png) = plane_png(img, scale, |y, x| img.rgb(y, x)) {
                page.image(x, y, tw, th, &png);
            }
            page.rect(x, y, tw, th, "none", "#999999");
            if let Some(caption) = self.captions.get(i) {
                page.text(x + tw / 2.0, y + th + 12.0, caption, 13, "middle", 0.0);
            }
        }
        page.finish()
    }

    fn plain(&self) -> String {
        format!("<ImageGrid: {}> {} images", self.title, self.images.len())
    }
}

chart_common!(ImageGrid);

/// Saliency maps over their images: per row the image, the saliency (hot colour map, scaled to
/// each image's maximum) and the two overlaid.
///
/// ```no_run
/// use tuna::prelude::*;
/// # fn f(images: &Tensor, saliency: &Tensor) -> tuna::Result<SaliencyMap> {
/// Ok(SaliencyMap::new(images, saliency)?.captions(["7 (p=0.98)"]))
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SaliencyMap {
    title: String,
    images: Vec<Plane>,
    heats: Vec<Plane>,
    captions: Vec<String>,
    format: Format,
}

impl SaliencyMap {
    /// `images` (N, C, H, W) or (N, H, W); `saliency` (N, H, W) or (N, C, H, W) (then the
    /// largest magnitude over channels is shown). Saliency is shown as |value| / max per image.
    pub fn new(images: &Tensor, saliency: &Tensor) -> Result<Self> {
        let mut images = planes(images, "SaliencyMap images")?;
        unit_range(&mut images);
        let saliency = match saliency.dim() {
            4 => saliency.abs().amax([1], false),
            _ => saliency.abs(),
        };
        let mut heats = planes(&saliency.to_kind(Kind::Float), "SaliencyMap saliency")?;
        if heats.len() != images.len() || heats.iter().zip(&images).any(|(h, i)| (h.width, h.height) != (i.width, i.height)) {
            return Err(Error::Shape {
                context: "SaliencyMap".into(),
                message: format!(
                    "{} images of {}×{} but saliency {:?}; pass one (H, W) map per image",
                    images.len(),
                    images.first().map_or(0, |p| p.height),
                    images.first().map_or(0, |p| p.width),
                    saliency.size()
                ),
            });
        }
        for h in heats.iter_mut() {
            let max = h.data.iter().copied().filter(|v| v.is_finite()).fold(0.0f32, f32::max);
            for v in h.data.iter_mut() {
                *v = if v.is_finite() && max > 0.0 { *v / max } else { 0.0 };
            }
        }
        Ok(SaliencyMap { title: "saliency".into(), images, heats, captions: vec![], format: Format::Svg })
    }

    /// A caption per row (image).
    pub fn captions<S: Into<String>>(mut self, captions: impl IntoIterator<Item = S>) -> Self {
        self.captions = captions.into_iter().map(Into::into).collect();
        self
    }

    /// The title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let tile = 128.0;
        let gap = 10.0;
        let left = if self.captions.is_empty() { 10.0 } else { 10.0 + self.captions.iter().map(|c| c.chars().count()).max().unwrap_or(0) as f64 * 7.5 + 10.0 };
        let top = 64.0;
        let width = left + 3.0 * (tile + gap) + 10.0;
        let height = top + self.images.len() as f64 * (tile + gap) + 6.0;
        let mut page = SvgPage::new(width.ceil() as u32, height.ceil() as u32);
        page.text(width / 2.0, 20.0, &self.title, 20, "middle", 0.0);
        for (k, head) in ["image", "saliency", "overlay"].iter().enumerate() {
            page.text(left + k as f64 * (tile + gap) + tile / 2.0, top - 14.0, head, 14, "middle", 0.0);
        }
        for (i, (img, heat)) in self.images.iter().zip(&self.heats).enumerate() {
            let y = top + i as f64 * (tile + gap);
            let scale = scale_for(img.width, img.height, tile as usize);
            let grey = |y: usize, x: usize| {
                let [r, g, b] = img.rgb(y, x);
                0.299 * r + 0.587 * g + 0.114 * b
            };
            let panels: [Box<dyn Fn(usize, usize) -> [f32; 3]>; 3] = [
                Box::new(|y, x| img.rgb(y, x)),
                Box::new(|y, x| hot(heat.at(0, y, x))),
                Box::new(|y, x| {
                    // Dimmed grey image under the heat, the heat's opacity growing with it.
                    let (g, h) = (grey(y, x) * 0.6, heat.at(0, y, x));
                    let c = hot(0.35 + 0.65 * h);
                    let a = (h * 1.2).min(0.75);
                    [g * (1.0 - a) + c[0] * a, g * (1.0 - a) + c[1] * a, g * (1.0 - a) + c[2] * a]
                }),
            ];
            for (k, panel) in panels.iter().enumerate() {
                let x = left + k as f64 * (tile + gap);
                if let Ok(png) = plane_png(img, scale, panel) {
                    page.image(x, y, tile, tile, &png);
                }
                page.rect(x, y, tile, tile, "none", "#999999");
            }
            if let Some(caption) = self.captions.get(i) {
                page.text(left - 10.0, y + tile / 2.0, caption, 13, "end", 0.0);
            }
        }
        page.finish()
    }

    fn plain(&self) -> String {
        format!("<SaliencyMap: {}> {} images", self.title, self.images.len())
    }
}

chart_common!(SaliencyMap);

/// The attention of every layer (rows) and head (columns) for one sentence, each tile a
/// tokens × tokens map (query down, key across) coloured by viridis from 0 to the tile's maximum.
#[derive(Debug, Clone)]
pub struct AttentionGrid {
    title: String,
    tokens: Vec<String>,
    /// (layers, heads, n, n) flattened.
    weights: Vec<f32>,
    layers: usize,
    heads: usize,
    format: Format,
}

impl AttentionGrid {
    /// `weights` (layers, heads, tokens, tokens), or (layers, 1, heads, tokens, tokens) with a
    /// batch of one, as the models' attention output stacks them.
    pub fn new<S: AsRef<str>>(tokens: &[S], weights: &Tensor) -> Result<Self> {
        let w = if weights.dim() == 5 && weights.size()[1] == 1 { weights.squeeze_dim(1) } else { weights.shallow_clone() };
        let n = tokens.len() as i64;
        match w.size().as_slice() {
            &[l, h, q, k] if q == n && k == n && l > 0 && h > 0 => {
                let flat: Vec<f32> = Vec::try_from(w.detach().to_device(tch::Device::Cpu).to_kind(Kind::Float).reshape([-1]))?;
                Ok(AttentionGrid {
                    title: "attention by layer and head".into(),
                    tokens: tokens.iter().map(|t| t.as_ref().to_owned()).collect(),
                    weights: flat,
                    layers: l as usize,
                    heads: h as usize,
                    format: Format::Svg,
                })
            }
            shape => Err(Error::Shape {
                context: "AttentionGrid".into(),
                message: format!("expected weights (layers, heads, {n}, {n}) for {n} tokens, got {shape:?}"),
            }),
        }
    }

    /// The title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// The weights of one layer and head, (query, key) rows.
    pub fn head(&self, layer: usize, head: usize) -> Option<Vec<Vec<f32>>> {
        let n = self.tokens.len();
        (layer < self.layers && head < self.heads).then(|| {
            let base = (layer * self.heads + head) * n * n;
            (0..n).map(|q| self.weights[base + q * n..base + (q + 1) * n].to_vec()).collect()
        })
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let n = self.tokens.len().max(1);
        let tile = (720.0 / self.heads as f64).clamp(40.0, 96.0);
        let gap = 6.0;
        let (left, top) = (70.0, 64.0);
        let width = (left + self.heads as f64 * (tile + gap) + 10.0).max(320.0);
        let height = top + self.layers as f64 * (tile + gap) + 30.0;
        let mut page = SvgPage::new(width.ceil() as u32, height.ceil() as u32);
        page.text(width / 2.0, 18.0, &self.title, 20, "middle", 0.0);
        let sentence = self.tokens.join(" ");
        let shown: String = sentence.chars().take(100).collect();
        let shown = if shown.len() < sentence.len() { format!("{shown} …") } else { shown };
        page.text(width / 2.0, 38.0, &shown, 12, "middle", 0.0);
        for h in 0..self.heads {
            page.text(left + h as f64 * (tile + gap) + tile / 2.0, top - 10.0, &format!("head {h}"), 12, "middle", 0.0);
        }
        let scale = scale_for(n, n, tile as usize);
        for l in 0..self.layers {
            let y = top + l as f64 * (tile + gap);
            page.text(left - 8.0, y + tile / 2.0, &format!("layer {l}"), 12, "end", 0.0);
            for h in 0..self.heads {
                let base = (l * self.heads + h) * n * n;
                let tile_w = &self.weights[base..base + n * n];
                let max = tile_w.iter().copied().filter(|v| v.is_finite()).fold(1e-12f32, f32::max);
                let pixels: Vec<[u8; 3]> = tile_w
                    .iter()
                    .map(|&v| {
                        let (r, g, b) = viridis((v / max) as f64);
                        [r, g, b]
                    })
                    .collect();
                let x = left + h as f64 * (tile + gap);
                if let Ok(png) = png_rgb(n, n, &pixels, scale) {
                    page.image(x, y, tile, tile, &png);
                }
            }
        }
        page.text(width / 2.0, height - 12.0, "query ↓ key →, colour 0 → tile max", 12, "middle", 0.0);
        page.finish()
    }

    fn plain(&self) -> String {
        format!("<AttentionGrid: {}> {} layers × {} heads, {} tokens", self.title, self.layers, self.heads, self.tokens.len())
    }
}

chart_common!(AttentionGrid);
