//! 2-D slices of a volume paired with its label map, for segmentation: a [`Dataset`] of
//! [`SlicePair`]s, a split that keeps blocks of neighbouring slices on one side (neighbouring
//! slices look alike, so a shuffled split would leak the test set into training), paired
//! augmentations that move image and mask together, and a collator giving `pixel_values`
//! `(B, 1, H, W)` as [`ImageBatch`](crate::data::ImageBatch) does, with `labels` `(B, H, W)`.
//!
//! ```no_run
//! use tuna::prelude::*;
//! let dir = data_dir().join("mricron/templates");
//! let t1 = Volume::load(dir.join("ch2.nii.gz"))?.normalize(Normalize::ZScore)?;
//! let aal = LabelMap::load(dir.join("aal.nii.gz"))?.names_from(dir.join("aal.nii.txt"))?;
//! let lobes = aal.regroup(&aal_lobes())?;
//! let slices = Slices::new(&t1, &lobes).axis(2).size(128, 128).min_labelled(0.01).build()?;
//! let [train, test] = slices.split_by_position([0.8, 0.2], 8, 0)?;
//! let augment = PairTransforms::new().horizontal_flip(0.5).rotation(10.0);
//! let loader = Loader::new(train, 16, SegmentationBatch::new(augment)).seed(0);
//! # Ok::<(), tuna::Error>(())
//! ```

use super::labels::LabelMap;
use super::nii::Volume;
use crate::data::collate::{Batch, Collate};
use crate::data::dataset::{Dataset, Sample};
use crate::data::image::Image;
use crate::data::loader::mix_seed;
use crate::error::{Error, Result};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tch::{Kind, Tensor};

/// One slice of an image and the same slice of its label map: `height × width`, row-major,
/// rows and columns being the volume's two remaining axes in order.
#[derive(Debug, Clone, PartialEq)]
pub struct SlicePair {
    image: Vec<f32>,
    mask: Vec<u32>,
    height: usize,
    width: usize,
    axis: usize,
    position: usize,
}

impl SlicePair {
    /// A pair from raw values; both must hold `height × width` values.
    pub fn new(image: Vec<f32>, mask: Vec<u32>, height: usize, width: usize, axis: usize, position: usize) -> Result<Self> {
        if image.len() != height * width || mask.len() != height * width {
            return Err(Error::Shape {
                context: "SlicePair::new".into(),
                message: format!("{} image and {} mask values for {height}×{width}", image.len(), mask.len()),
            });
        }
        Ok(SlicePair { image, mask, height, width, axis, position })
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The axis the slice was cut across.
    pub fn axis(&self) -> usize {
        self.axis
    }

    /// The slice's index along that axis.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The image values, row-major.
    pub fn image(&self) -> &[f32] {
        &self.image
    }

    /// The labels, row-major.
    pub fn mask(&self) -> &[u32] {
        &self.mask
    }

    /// The image as `(1, height, width)` floats.
    pub fn image_tensor(&self) -> Tensor {
        Tensor::from_slice(&self.image).view([1, self.height as i64, self.width as i64])
    }

    /// The labels as `(height, width)` int64.
    pub fn mask_tensor(&self) -> Tensor {
        let labels: Vec<i64> = self.mask.iter().map(|&l| l as i64).collect();
        Tensor::from_slice(&labels).view([self.height as i64, self.width as i64])
    }

    /// The fraction of pixels with a label other than background.
    pub fn labelled_fraction(&self) -> f64 {
        self.mask.iter().filter(|&&l| l != 0).count() as f64 / self.mask.len().max(1) as f64
    }
}

impl Sample for SlicePair {
    fn preview(&self) -> String {
        format!("{}×{} slice {} across axis {}, {:.0} % labelled", self.height, self.width, self.position, self.axis, 100.0 * self.labelled_fraction())
    }

    fn preview_html(&self) -> String {
        let lo = self.image.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = self.image.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let span = if hi > lo { hi - lo } else { 1.0 };
        let pixels = self.image.iter().map(|v| ((v - lo) / span * 255.0).round() as u8).collect();
        match Image::new(self.width as u32, self.height as u32, 1, pixels) {
            Ok(img) => img.preview_html(),
            Err(_) => crate::display::escape_html(&self.preview()),
        }
    }
}

/// Builds a [`Dataset`] of [`SlicePair`]s from an image and a label map on the same grid.
#[derive(Debug, Clone)]
pub struct Slices<'a> {
    image: &'a Volume,
    labels: &'a LabelMap,
    axis: usize,
    size: Option<(usize, usize)>,
    min_labelled: f64,
}

impl<'a> Slices<'a> {
    /// Slices across axis 2 (`(x, y)` planes), every slice kept, at the volume's size.
    pub fn new(image: &'a Volume, labels: &'a LabelMap) -> Self {
        Slices { image, labels, axis: 2, size: None, min_labelled: 0.0 }
    }

    /// The axis to cut across (0, 1 or 2).
    pub fn axis(mut self, axis: usize) -> Self {
        self.axis = axis;
        self
    }

    /// Resizes each slice to `height × width` (bilinear for the image, nearest for the labels).
    pub fn size(mut self, height: usize, width: usize) -> Self {
        self.size = Some((height, width));
        self
    }

    /// Keeps only slices with at least this fraction of labelled pixels (0 keeps all).
    pub fn min_labelled(mut self, fraction: f64) -> Self {
        self.min_labelled = fraction;
        self
    }

    /// The dataset, in slice order. Errors when the two volumes are not on one grid.
    pub fn build(&self) -> Result<Dataset<SlicePair>> {
        self.image.same_grid(self.labels.volume())?;
        if self.axis > 2 {
            return Err(Error::config("axis", format!("{} (a volume has axes 0, 1, 2)", self.axis)));
        }
        if self.size.is_some_and(|(h, w)| h == 0 || w == 0) {
            return Err(Error::config("size", format!("{:?} must be at least 1×1", self.size)));
        }
        let mut items = Vec::new();
        for position in 0..self.image.shape()[self.axis] {
            let image = self.image.slice(self.axis, position)?;
            let mask = self.labels.volume().slice(self.axis, position)?;
            let (image, mask) = match self.size {
                Some((h, w)) => {
                    let size = [h as i64, w as i64];
                    let image = image.unsqueeze(0).unsqueeze(0).f_upsample_bilinear2d(size, false, None, None)?;
                    let mask = mask.unsqueeze(0).unsqueeze(0).f_internal_upsample_nearest_exact2d(size, None, None)?;
                    (image.squeeze_dim(0).squeeze_dim(0), mask.squeeze_dim(0).squeeze_dim(0))
                }
                None => (image, mask),
            };
            let (h, w) = (image.size()[0] as usize, image.size()[1] as usize);
            let image = Vec::<f32>::try_from(image.reshape([-1]))?;
            let mask: Vec<u32> = Vec::<f32>::try_from(mask.reshape([-1]))?.into_iter().map(|l| l as u32).collect();
            let pair = SlicePair::new(image, mask, h, w, self.axis, position)?;
            if pair.labelled_fraction() >= self.min_labelled {
                items.push(pair);
            }
        }
        let file = |p: &std::path::Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let name = format!("{} + {}, slices across axis {}", file(self.image.path()), file(self.labels.volume().path()), self.axis);
        Ok(Dataset::new(name, items))
    }
}

impl Dataset<SlicePair> {
    /// Splits into `N` parts of the given fractions (summing to 1) of *blocks*: slices
    /// `block·b … block·b + block − 1` along an axis form block `b`, and each block goes whole
    /// to one part, chosen by shuffling the blocks with `seed`. Neighbouring slices, which look
    /// alike, so never straddle train and test within a block.
    pub fn split_by_position<const N: usize>(&self, fractions: [f64; N], block: usize, seed: u64) -> Result<[Self; N]> {
        let sum: f64 = fractions.iter().sum();
        if N == 0 || block == 0 || fractions.iter().any(|f| !(0.0..=1.0).contains(f)) || (sum - 1.0).abs() > 1e-6 {
            return Err(Error::config(
                "split_by_position",
                format!("fractions {fractions:?} must be in [0, 1] and sum to 1, and the block ({block}) at least 1 slice"),
            ));
        }
        let key = |p: &SlicePair| (p.axis, p.position / block);
        let mut blocks: Vec<(usize, usize)> = self.items().iter().map(key).collect();
        blocks.sort_unstable();
        blocks.dedup();
        blocks.shuffle(&mut StdRng::seed_from_u64(seed));
        // Cumulative rounding: part i takes blocks [round(n·F_{i−1}), round(n·F_i)).
        let n = blocks.len() as f64;
        let mut part_of = std::collections::HashMap::new();
        let mut start = 0usize;
        let mut cumulative = 0.0;
        for (part, f) in fractions.iter().enumerate() {
            cumulative += f;
            let end = if part + 1 == N { blocks.len() } else { (n * cumulative).round() as usize };
            for b in &blocks[start..end.max(start)] {
                part_of.insert(*b, part);
            }
            start = end.max(start);
        }
        let mut parts: Vec<Vec<usize>> = vec![Vec::new(); N];
        for (i, item) in self.items().iter().enumerate() {
            parts[part_of[&key(item)]].push(i);
        }
        let out = parts.iter().map(|idx| self.select(idx)).collect::<Result<Vec<_>>>()?;
        out.try_into().map_err(|_| Error::msg("split_by_position produced the wrong number of parts"))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum PairStep {
    HorizontalFlip(f64),
    VerticalFlip(f64),
    Rotation(f64),
}

/// Geometric augmentations applied identically to a slice and its mask: the image is
/// interpolated bilinearly, the mask by nearest neighbour, so labels stay labels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PairTransforms {
    steps: Vec<PairStep>,
}

impl PairTransforms {
    /// No transform: the pair as tensors.
    pub fn new() -> Self {
        PairTransforms::default()
    }

    /// Mirrors columns with probability `p`.
    pub fn horizontal_flip(mut self, p: f64) -> Self {
        self.steps.push(PairStep::HorizontalFlip(p));
        self
    }

    /// Mirrors rows with probability `p`.
    pub fn vertical_flip(mut self, p: f64) -> Self {
        self.steps.push(PairStep::VerticalFlip(p));
        self
    }

    /// Rotates both by one angle drawn uniformly from ±`degrees` about the centre (zeros, that
    /// is background, fill the corners).
    pub fn rotation(mut self, degrees: f64) -> Self {
        self.steps.push(PairStep::Rotation(degrees));
        self
    }

    /// The transformed pair: image `(1, H, W)` floats and mask `(H, W)` int64; `seed` fixes
    /// every random choice.
    pub fn apply(&self, pair: &SlicePair, seed: u64) -> Result<(Tensor, Tensor)> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut image = pair.image_tensor();
        let mut mask = pair.mask_tensor().to_kind(Kind::Float).unsqueeze(0); // (1, H, W)
        let (h, w) = (pair.height as i64, pair.width as i64);
        for step in &self.steps {
            match step {
                PairStep::HorizontalFlip(p) => {
                    if rng.random::<f64>() < *p {
                        (image, mask) = (image.flip([2]), mask.flip([2]));
                    }
                }
                PairStep::VerticalFlip(p) => {
                    if rng.random::<f64>() < *p {
                        (image, mask) = (image.flip([1]), mask.flip([1]));
                    }
                }
                PairStep::Rotation(degrees) => {
                    let angle = rng.random_range(-degrees.abs()..=degrees.abs()).to_radians();
                    let (c, s) = (angle.cos() as f32, angle.sin() as f32);
                    let (fh, fw) = (h as f32, w as f32);
                    // One sampling grid for both, in [-1, 1] coordinates scaled by the aspect
                    // ratio so that non-square slices rotate rigidly (as `Transforms::rotation`).
                    let theta = Tensor::from_slice(&[c, -s * fh / fw, 0.0, s * fw / fh, c, 0.0]).view([1, 2, 3]);
                    let grid = Tensor::f_affine_grid_generator(&theta, [1, 1, h, w], false)?;
                    // grid_sampler modes: 0 bilinear, 1 nearest; padding 0 = zeros.
                    image = image.unsqueeze(0).f_grid_sampler(&grid, 0, 0, false)?.squeeze_dim(0);
                    mask = mask.unsqueeze(0).f_grid_sampler(&grid, 1, 0, false)?.squeeze_dim(0);
                }
            }
        }
        Ok((image, mask.squeeze_dim(0).round().to_kind(Kind::Int64)))
    }
}

/// Slices through [`PairTransforms`], stacked: `pixel_values` `(B, 1, H, W)` and `labels`
/// `(B, H, W)` (int64 region labels, for a per-pixel cross-entropy).
#[derive(Debug, Clone, Default)]
pub struct SegmentationBatch {
    transforms: PairTransforms,
}

impl SegmentationBatch {
    /// A collator applying `transforms` to each pair (seeded per pair from the batch seed).
    pub fn new(transforms: PairTransforms) -> Self {
        SegmentationBatch { transforms }
    }
}

impl Collate<SlicePair> for SegmentationBatch {
    fn collate(&self, rows: &[(&SlicePair, Option<usize>)], seed: u64) -> Result<Batch> {
        if let Some(first) = rows.first() {
            if let Some(other) = rows.iter().find(|r| (r.0.height, r.0.width) != (first.0.height, first.0.width)) {
                return Err(Error::Shape {
                    context: "stacking slices".into(),
                    message: format!(
                        "{}×{} and {}×{}: build the slices with `.size(h, w)`",
                        first.0.height, first.0.width, other.0.height, other.0.width
                    ),
                });
            }
        }
        let (images, masks): (Vec<Tensor>, Vec<Tensor>) = rows
            .iter()
            .enumerate()
            .map(|(i, r)| self.transforms.apply(r.0, mix_seed(seed, i as u64)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        Ok(Batch::new().tensor("pixel_values", Tensor::f_stack(&images, 0)?).tensor("labels", Tensor::f_stack(&masks, 0)?))
    }
}
