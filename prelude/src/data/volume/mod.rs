//! Medical volumes: NIfTI images and label maps ([`Volume`], [`LabelMap`]), regrouping of atlas
//! regions ([`aal_lobes`]), and segmentation datasets of slices ([`Slices`], [`SegmentationBatch`]).

mod labels;
mod nii;
mod slices;

pub use labels::{aal_lobes, LabelMap, Regroup};
pub use nii::{Affine, Interpolation, Normalize, Volume};
pub use slices::{PairTransforms, SegmentationBatch, SlicePair, Slices};
