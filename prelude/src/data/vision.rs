//! Image collators: transformed images stacked into `pixel_values` `(B, C, H, W)` with their
//! labels, and SimCLR's two augmented views of each image (Chen et al. 2020,
//! `google-research/simclr`'s data pipeline) as `view1` / `view2`.
//!
//! ```no_run
//! use tuna::prelude::*;
//! let train = fashion_mnist(Split::Train)?;
//! let loader = Loader::new(train, 256, TwoViews::new(Transforms::simclr(28))).seed(0);
//! # Ok::<(), tuna::Error>(())
//! ```

use super::collate::{row_labels, Batch, Collate};
use super::image::{Image, Transforms};
use super::loader::mix_seed;
use crate::error::{Error, Result};
use tch::Tensor;

fn stack(images: &[&Image], transforms: &Transforms, seed: u64) -> Result<Tensor> {
    let views = images
        .iter()
        .enumerate()
        .map(|(i, img)| transforms.apply(img, mix_seed(seed, i as u64)))
        .collect::<Result<Vec<Tensor>>>()?;
    if let Some(first) = views.first() {
        if let Some(other) = views.iter().find(|v| v.size() != first.size()) {
            return Err(Error::Shape {
                context: "stacking images".into(),
                message: format!("{:?} and {:?}: add `.resize(h, w)` or a crop to the transforms", first.size(), other.size()),
            });
        }
    }
    Ok(Tensor::f_stack(&views, 0)?)
}

/// Images through `transforms`, stacked: `pixel_values` and, when labelled, `labels`.
#[derive(Debug, Clone, Default)]
pub struct ImageBatch {
    transforms: Transforms,
}

impl ImageBatch {
    /// A collator applying `transforms` to each image (seeded per image from the batch seed).
    pub fn new(transforms: Transforms) -> Self {
        ImageBatch { transforms }
    }
}

impl Collate<Image> for ImageBatch {
    fn collate(&self, rows: &[(&Image, Option<usize>)], seed: u64) -> Result<Batch> {
        let images: Vec<&Image> = rows.iter().map(|r| r.0).collect();
        let batch = Batch::new().tensor("pixel_values", stack(&images, &self.transforms, seed)?);
        Ok(if rows.iter().all(|r| r.1.is_some()) { batch.tensor("labels", row_labels(rows)?) } else { batch })
    }
}

/// Two independently augmented views of each image (`view1`, `view2`), for SimCLR's
/// contrastive loss; `labels` too when the dataset has them (for linear probes).
#[derive(Debug, Clone)]
pub struct TwoViews {
    transforms: Transforms,
}

impl TwoViews {
    /// Views drawn through `transforms` (see [`Transforms::simclr`]).
    pub fn new(transforms: Transforms) -> Self {
        TwoViews { transforms }
    }
}

impl Collate<Image> for TwoViews {
    fn collate(&self, rows: &[(&Image, Option<usize>)], seed: u64) -> Result<Batch> {
        let images: Vec<&Image> = rows.iter().map(|r| r.0).collect();
        let batch = Batch::new()
            .tensor("view1", stack(&images, &self.transforms, mix_seed(seed, 1))?)
            .tensor("view2", stack(&images, &self.transforms, mix_seed(seed, 2))?);
        Ok(if rows.iter().all(|r| r.1.is_some()) { batch.tensor("labels", row_labels(rows)?) } else { batch })
    }
}
