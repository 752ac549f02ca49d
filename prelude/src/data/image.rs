//! Images and their transforms, after torchvision's `transforms.v2`: decode, resize
//! (antialiased bilinear), centre and random crop, random resized crop, horizontal flip,
//! rotation, colour jitter, random greyscale, grey→3 channels, normalise; SimCLR's two-view
//! augmentation preset; ViT patchify; and MAE's `random_masking` (facebookresearch/mae
//! `models_mae.py`) with the indices that restore the original order.
//!
//! An [`Image`] keeps 8-bit pixels (height × width × channels); transforms work on a float
//! tensor `(channels, height, width)` in [0, 1], each random choice drawn from a seed so that a
//! run repeats exactly.
//!
//! ```no_run
//! use tuna::prelude::*;
//! let train = fashion_mnist(Split::Train)?;
//! let augment = Transforms::new().random_crop(28, 28, 2).horizontal_flip(0.5).normalize(&[0.286], &[0.353]);
//! let (image, _label) = train.get(0).unwrap();
//! let x = augment.apply(image, 7)?; // (1, 28, 28)
//! # Ok::<(), tuna::Error>(())
//! ```

use super::dataset::Sample;
use crate::error::{Error, Result};
use base64::Engine;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::path::Path;
use tch::{Kind, Tensor};

/// An 8-bit image: `pixels` holds height × width × channels bytes, row by row (1 channel for
/// grey, 3 for RGB).
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    width: u32,
    height: u32,
    channels: u8,
    pixels: Vec<u8>,
}

impl Image {
    /// An image from raw pixels; the length must be `width × height × channels`.
    pub fn new(width: u32, height: u32, channels: u8, pixels: Vec<u8>) -> Result<Self> {
        if !(channels == 1 || channels == 3) || pixels.len() != width as usize * height as usize * channels as usize {
            return Err(Error::Shape {
                context: "Image::new".into(),
                message: format!("{} bytes for {width}×{height}×{channels} (channels must be 1 or 3)", pixels.len()),
            });
        }
        Ok(Image { width, height, channels, pixels })
    }

    /// Decodes a PNG or JPEG file (grey stays 1 channel, anything else becomes RGB).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Image::decode(&bytes).map_err(|e| Error::parse(path, None, format!("cannot decode the image: {e}")))
    }

    /// Decodes PNG or JPEG bytes.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, image::ImageError> {
        let img = image::load_from_memory(bytes)?;
        Ok(Image::from_dynamic(img))
    }

    fn from_dynamic(img: image::DynamicImage) -> Self {
        use image::DynamicImage::*;
        match img {
            ImageLuma8(g) => Image { width: g.width(), height: g.height(), channels: 1, pixels: g.into_raw() },
            other => {
                let rgb = other.to_rgb8();
                Image { width: rgb.width(), height: rgb.height(), channels: 3, pixels: rgb.into_raw() }
            }
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// 1 (grey) or 3 (RGB).
    pub fn channels(&self) -> u8 {
        self.channels
    }

    /// The pixel bytes, height × width × channels.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The image as a float tensor `(channels, height, width)` in [0, 1] (torchvision's
    /// `to_tensor`).
    pub fn to_tensor(&self) -> Tensor {
        let (h, w, c) = (self.height as i64, self.width as i64, self.channels as i64);
        // (height, width, channels) → (channels, height, width)
        Tensor::from_slice(&self.pixels).view([h, w, c]).permute([2, 0, 1]).to_kind(Kind::Float) / 255.0
    }

    /// The image encoded as PNG.
    pub fn to_png(&self) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let color = if self.channels == 1 { image::ExtendedColorType::L8 } else { image::ExtendedColorType::Rgb8 };
        let encoder = image::codecs::png::PngEncoder::new(&mut out);
        // Encoding valid pixels into memory does not fail; an empty preview is harmless if it does.
        let _ = image::ImageEncoder::write_image(encoder, &self.pixels, self.width, self.height, color);
        out.into_inner()
    }
}

impl Sample for Image {
    fn preview(&self) -> String {
        format!("{}×{}×{} image", self.width, self.height, self.channels)
    }

    fn preview_html(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.to_png());
        let size = (self.width.max(self.height)).clamp(56, 96);
        format!("<img src=\"data:image/png;base64,{b64}\" width=\"{size}\" style=\"image-rendering:pixelated\" title=\"{}\">", self.preview())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Resize(i64, i64),
    CenterCrop(i64, i64),
    RandomCrop(i64, i64, i64),
    RandomResizedCrop { h: i64, w: i64, scale: (f64, f64), ratio: (f64, f64) },
    HorizontalFlip(f64),
    Rotation(f64),
    ColorJitter { brightness: f64, contrast: f64, saturation: f64, hue: f64, p: f64 },
    RandomGrayscale(f64),
    GreyToRgb,
    Normalize(Vec<f64>, Vec<f64>),
}

/// A pipeline of image transforms, applied in the order they were added.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transforms {
    steps: Vec<Step>,
}

impl Transforms {
    /// An empty pipeline (the image as a [0, 1] tensor).
    pub fn new() -> Self {
        Transforms::default()
    }

    /// SimCLR's augmentation (Chen et al. 2020, appendix A, strength 1): random resized crop to
    /// `size` (scale 0.08–1), horizontal flip (p 0.5), colour jitter 0.8/0.8/0.8/0.2 applied with
    /// p 0.8, random greyscale (p 0.2). Blur is left out, as the paper does for CIFAR-sized images.
    pub fn simclr(size: i64) -> Self {
        Transforms::new()
            .random_resized_crop(size, size, (0.08, 1.0))
            .horizontal_flip(0.5)
            .color_jitter(0.8, 0.8, 0.8, 0.2, 0.8)
            .random_grayscale(0.2)
    }

    fn step(mut self, s: Step) -> Self {
        self.steps.push(s);
        self
    }

    /// Resizes to `height × width` (bilinear, antialiased as torchvision's default).
    pub fn resize(self, height: i64, width: i64) -> Self {
        self.step(Step::Resize(height, width))
    }

    /// Crops the centre `height × width` (zero-padded when the image is smaller).
    pub fn center_crop(self, height: i64, width: i64) -> Self {
        self.step(Step::CenterCrop(height, width))
    }

    /// Crops a random `height × width` window after zero-padding each side by `padding`.
    pub fn random_crop(self, height: i64, width: i64, padding: i64) -> Self {
        self.step(Step::RandomCrop(height, width, padding))
    }

    /// torchvision's `RandomResizedCrop`: a random area fraction in `scale` and aspect ratio in
    /// 3/4–4/3, resized to `height × width`.
    pub fn random_resized_crop(self, height: i64, width: i64, scale: (f64, f64)) -> Self {
        self.step(Step::RandomResizedCrop { h: height, w: width, scale, ratio: (3.0 / 4.0, 4.0 / 3.0) })
    }

    /// Mirrors left–right with probability `p`.
    pub fn horizontal_flip(self, p: f64) -> Self {
        self.step(Step::HorizontalFlip(p))
    }

    /// Rotates by an angle drawn uniformly from ±`degrees` about the centre (zeros fill the corners).
    pub fn rotation(self, degrees: f64) -> Self {
        self.step(Step::Rotation(degrees))
    }

    /// With probability `p`, torchvision's `ColorJitter(brightness, contrast, saturation, hue)`:
    /// brightness, contrast and saturation scaled by factors drawn from [1 − x, 1 + x], hue
    /// shifted by a fraction of the colour circle drawn from [−hue, hue] (at most 0.5), the four
    /// applied in a random order. Saturation and hue leave grey images alone.
    pub fn color_jitter(self, brightness: f64, contrast: f64, saturation: f64, hue: f64, p: f64) -> Self {
        self.step(Step::ColorJitter { brightness, contrast, saturation, hue: hue.clamp(0.0, 0.5), p })
    }

    /// Turns RGB images grey (still 3 channels) with probability `p`.
    pub fn random_grayscale(self, p: f64) -> Self {
        self.step(Step::RandomGrayscale(p))
    }

    /// Repeats a grey channel three times (for models that want RGB).
    pub fn grey_to_rgb(self) -> Self {
        self.step(Step::GreyToRgb)
    }

    /// Subtracts `mean` and divides by `std`, per channel.
    pub fn normalize(self, mean: &[f64], std: &[f64]) -> Self {
        self.step(Step::Normalize(mean.to_vec(), std.to_vec()))
    }

    /// Runs the pipeline on `image`; `seed` fixes every random choice. Returns `(C, H, W)` floats.
    pub fn apply(&self, image: &Image, seed: u64) -> Result<Tensor> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut x = image.to_tensor();
        for step in &self.steps {
            x = apply_step(step, x, &mut rng)?;
        }
        Ok(x)
    }
}

fn size_hw(x: &Tensor) -> (i64, i64) {
    let s = x.size();
    (s[1], s[2])
}

fn resize(x: &Tensor, h: i64, w: i64) -> Result<Tensor> {
    if size_hw(x) == (h, w) {
        return Ok(x.shallow_clone());
    }
    Ok(x.unsqueeze(0).f_internal_upsample_bilinear2d_aa([h, w], false, None, None)?.squeeze_dim(0))
}

fn crop(x: &Tensor, top: i64, left: i64, h: i64, w: i64) -> Result<Tensor> {
    let (ih, iw) = size_hw(x);
    // Zero-pad when the window leaves the image, as torchvision's `crop` does.
    let (pt, pl) = ((-top).max(0), (-left).max(0));
    let (pb, pr) = ((top + h - ih).max(0), (left + w - iw).max(0));
    let x = if pt + pl + pb + pr > 0 { x.f_constant_pad_nd([pl, pr, pt, pb])? } else { x.shallow_clone() };
    Ok(x.f_narrow(1, top + pt, h)?.f_narrow(2, left + pl, w)?)
}

fn grey(x: &Tensor) -> Tensor {
    if x.size()[0] == 1 {
        return x.shallow_clone();
    }
    // ITU-R 601-2 luma, as torchvision's rgb_to_grayscale.
    (x.get(0) * 0.299 + x.get(1) * 0.587 + x.get(2) * 0.114).unsqueeze(0)
}

fn blend(a: &Tensor, b: &Tensor, ratio: f64) -> Tensor {
    (a * ratio + b * (1.0 - ratio)).clamp(0.0, 1.0)
}

fn apply_step(step: &Step, x: Tensor, rng: &mut StdRng) -> Result<Tensor> {
    let (h, w) = size_hw(&x);
    Ok(match step {
        Step::Resize(th, tw) => resize(&x, *th, *tw)?,
        Step::CenterCrop(th, tw) => {
            let top = ((h - th) as f64 / 2.0).round() as i64;
            let left = ((w - tw) as f64 / 2.0).round() as i64;
            crop(&x, top, left, *th, *tw)?
        }
        Step::RandomCrop(th, tw, pad) => {
            let x = if *pad > 0 { x.f_constant_pad_nd([*pad, *pad, *pad, *pad])? } else { x };
            let (h, w) = size_hw(&x);
            let top = rng.random_range(0..=(h - th).max(0));
            let left = rng.random_range(0..=(w - tw).max(0));
            crop(&x, top, left, *th, *tw)?
        }
        Step::RandomResizedCrop { h: th, w: tw, scale, ratio } => {
            let area = (h * w) as f64;
            let (lr0, lr1) = (ratio.0.ln(), ratio.1.ln());
            let mut window = None;
            for _ in 0..10 {
                let target = area * rng.random_range(scale.0..=scale.1);
                let aspect = rng.random_range(lr0..=lr1).exp();
                let cw = (target * aspect).sqrt().round() as i64;
                let ch = (target / aspect).sqrt().round() as i64;
                if 0 < cw && cw <= w && 0 < ch && ch <= h {
                    window = Some((rng.random_range(0..=h - ch), rng.random_range(0..=w - cw), ch, cw));
                    break;
                }
            }
            // torchvision's fallback: the whole image, cropped to the allowed aspect ratio.
            let (top, left, ch, cw) = window.unwrap_or_else(|| {
                let in_ratio = w as f64 / h as f64;
                let (cw, ch) = if in_ratio < ratio.0 {
                    (w, (w as f64 / ratio.0).round() as i64)
                } else if in_ratio > ratio.1 {
                    ((h as f64 * ratio.1).round() as i64, h)
                } else {
                    (w, h)
                };
                ((h - ch) / 2, (w - cw) / 2, ch, cw)
            });
            resize(&crop(&x, top, left, ch, cw)?, *th, *tw)?
        }
        Step::HorizontalFlip(p) => {
            if rng.random::<f64>() < *p {
                x.flip([2])
            } else {
                x
            }
        }
        Step::Rotation(degrees) => {
            let angle = rng.random_range(-degrees.abs()..=degrees.abs()).to_radians();
            let (c, s) = (angle.cos() as f32, angle.sin() as f32);
            let (fh, fw) = (h as f32, w as f32);
            // The affine map works in [-1, 1] coordinates: scale the shear terms by the aspect
            // ratio so that non-square images rotate rigidly.
            let theta = Tensor::from_slice(&[c, -s * fh / fw, 0.0, s * fw / fh, c, 0.0]).view([1, 2, 3]);
            let c_in = x.size()[0];
            let grid = Tensor::f_affine_grid_generator(&theta, [1, c_in, h, w], false)?;
            x.unsqueeze(0).f_grid_sampler(&grid, 0, 0, false)?.squeeze_dim(0)
        }
        Step::ColorJitter { brightness, contrast, saturation, hue, p } => {
            if rng.random::<f64>() >= *p {
                return Ok(x);
            }
            let mut order = [0, 1, 2, 3];
            order.shuffle(rng);
            let mut factor = |amount: f64| if amount > 0.0 { rng.random_range((1.0 - amount).max(0.0)..=1.0 + amount) } else { 1.0 };
            let (fb, fc, fs) = (factor(*brightness), factor(*contrast), factor(*saturation));
            let fh = if *hue > 0.0 { rng.random_range(-hue..=*hue) } else { 0.0 };
            let mut x = x;
            for op in order {
                x = match op {
                    0 => (x * fb).clamp(0.0, 1.0),
                    1 => {
                        let mean = grey(&x).mean(Kind::Float);
                        blend(&x, &mean, fc)
                    }
                    2 if x.size()[0] == 3 => {
                        let g = grey(&x);
                        blend(&x, &g, fs)
                    }
                    3 if x.size()[0] == 3 && fh != 0.0 => adjust_hue(&x, fh),
                    _ => x,
                };
            }
            x
        }
        Step::RandomGrayscale(p) => {
            if x.size()[0] == 3 && rng.random::<f64>() < *p {
                grey(&x).repeat([3, 1, 1])
            } else {
                x
            }
        }
        Step::GreyToRgb => {
            if x.size()[0] == 1 {
                x.repeat([3, 1, 1])
            } else {
                x
            }
        }
        Step::Normalize(mean, std) => {
            let c = x.size()[0] as usize;
            if mean.len() != c || std.len() != c || std.contains(&0.0) {
                return Err(Error::Shape {
                    context: "normalize".into(),
                    message: format!("{c} channels but mean {mean:?} and std {std:?} (std must be non-zero)"),
                });
            }
            let m = Tensor::from_slice(mean).to_kind(Kind::Float).view([c as i64, 1, 1]);
            let s = Tensor::from_slice(std).to_kind(Kind::Float).view([c as i64, 1, 1]);
            (x - m) / s
        }
    })
}

/// Shifts the hue of an RGB image `(3, H, W)` by `factor` turns, through HSV as torchvision's
/// `adjust_hue` (`_rgb2hsv`, `_hsv2rgb`).
pub fn adjust_hue(x: &Tensor, factor: f64) -> Tensor {
    let (r, g, b) = (x.get(0), x.get(1), x.get(2));
    let maxc = x.amax([0], false);
    let minc = x.amin([0], false);
    let grey_pixel = maxc.eq_tensor(&minc);
    let chroma = &maxc - &minc;
    let ones = maxc.ones_like();
    let s = &chroma / ones.where_self(&grey_pixel, &maxc);
    let divisor = ones.where_self(&grey_pixel, &chroma);
    let (rc, gc, bc) = ((&maxc - &r) / &divisor, (&maxc - &g) / &divisor, (&maxc - &b) / &divisor);
    let (is_r, is_g) = (maxc.eq_tensor(&r), maxc.eq_tensor(&g));
    let float = |t: Tensor| t.to_kind(Kind::Float);
    let hr = float(is_r.shallow_clone()) * (&bc - &gc);
    let hg = float(is_g.logical_and(&is_r.logical_not())) * ((&rc - &bc) + 2.0);
    let hb = float(is_g.logical_not().logical_and(&is_r.logical_not())) * ((&gc - &rc) + 4.0);
    let h = ((hr + hg + hb) / 6.0 + 1.0).fmod(1.0);
    // Python's `%`: a negative shift wraps round to [0, 1).
    let h = (h + factor).remainder(1.0);
    // HSV → RGB: pick each channel from the six sectors of the colour circle.
    let v = maxc;
    let h6 = &h * 6.0;
    let sector = h6.floor();
    let f = &h6 - &sector;
    let sector = sector.to_kind(Kind::Int64).remainder(6).unsqueeze(0);
    let p = (&v * (s.neg() + 1.0)).clamp(0.0, 1.0);
    let q = (&v * ((&s * &f).neg() + 1.0)).clamp(0.0, 1.0);
    let t = (&v * ((&s * (f.neg() + 1.0)).neg() + 1.0)).clamp(0.0, 1.0);
    let pick = |parts: [&Tensor; 6]| Tensor::stack(&parts, 0).gather(0, &sector, false);
    Tensor::cat(&[pick([&v, &q, &p, &p, &t, &v]), pick([&t, &v, &v, &q, &p, &p]), pick([&p, &p, &t, &v, &v, &q])], 0)
}

/// Cuts images `(N, C, H, W)` into patches `(N, H/p × W/p, p × p × C)`, as MAE's `patchify`.
pub fn patchify(images: &Tensor, patch: i64) -> Result<Tensor> {
    let s = images.size();
    if s.len() != 4 || patch <= 0 || s[2] % patch != 0 || s[3] % patch != 0 {
        return Err(Error::Shape { context: "patchify".into(), message: format!("images {s:?} do not tile into {patch}×{patch} patches") });
    }
    let (n, c, h, w) = (s[0], s[1], s[2] / patch, s[3] / patch);
    // (N, C, h, p, w, p) → (N, h, w, p, p, C) → (N, h·w, p·p·C)
    Ok(images.reshape([n, c, h, patch, w, patch]).permute([0, 2, 4, 3, 5, 1]).reshape([n, h * w, patch * patch * c]))
}

/// Inverse of [`patchify`] for square images with `channels` channels.
pub fn unpatchify(patches: &Tensor, patch: i64, channels: i64) -> Result<Tensor> {
    let s = patches.size();
    let side = (s.get(1).copied().unwrap_or(0) as f64).sqrt() as i64;
    if s.len() != 3 || side * side != s[1] || s[2] != patch * patch * channels {
        return Err(Error::Shape { context: "unpatchify".into(), message: format!("patches {s:?} for {patch}×{patch}×{channels}") });
    }
    let n = s[0];
    Ok(patches.reshape([n, side, side, patch, patch, channels]).permute([0, 5, 1, 3, 2, 4]).reshape([n, channels, side * patch, side * patch]))
}

/// What MAE's `random_masking` returns.
#[derive(Debug)]
pub struct PatchMask {
    /// The patches kept, `(N, L × (1 − ratio), D)`, in shuffled order.
    pub kept: Tensor,
    /// 0 where a patch is kept, 1 where it is removed, `(N, L)` in the original order.
    pub mask: Tensor,
    /// For each position of the original order, its place in the shuffled order `(N, L)`:
    /// `gather(shuffled, 1, ids_restore)` puts patches back.
    pub ids_restore: Tensor,
    /// Indices of the kept patches in the original order, `(N, L_keep)`.
    pub ids_keep: Tensor,
}

/// MAE's per-sample random masking of patch tokens `x` `(N, L, D)`: keeps
/// `round_down(L × (1 − ratio))` patches chosen by sorting seeded uniform noise.
pub fn random_masking(x: &Tensor, ratio: f64, seed: u64) -> Result<PatchMask> {
    let s = x.size();
    if s.len() != 3 || !(0.0..1.0).contains(&ratio) {
        return Err(Error::Shape { context: "random_masking".into(), message: format!("x {s:?} must be (N, L, D), ratio {ratio} in [0, 1)") });
    }
    let (n, l, d) = (s[0], s[1], s[2]);
    let len_keep = (l as f64 * (1.0 - ratio)) as i64;
    let mut rng = StdRng::seed_from_u64(seed);
    let noise: Vec<f32> = (0..n * l).map(|_| rng.random()).collect();
    let noise = Tensor::from_slice(&noise).view([n, l]).to_device(x.device());
    let ids_shuffle = noise.argsort(1, false);
    let ids_restore = ids_shuffle.argsort(1, false);
    let ids_keep = ids_shuffle.narrow(1, 0, len_keep);
    let kept = x.gather(1, &ids_keep.unsqueeze(-1).repeat([1, 1, d]), false);
    let mask = Tensor::ones([n, l], (Kind::Float, x.device()));
    let _ = mask.narrow(1, 0, len_keep).fill_(0.0);
    let mask = mask.gather(1, &ids_restore, false);
    Ok(PatchMask { kept, mask, ids_restore, ids_keep })
}
