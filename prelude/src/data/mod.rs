//! Data: datasets in memory (real ones by name, the user's own files), image transforms,
//! collators that turn rows into batches for each objective, a prefetching loader, and NIfTI
//! volumes with label maps sliced into segmentation datasets.

mod collate;
mod dataset;
mod formats;
mod image;
mod loader;
mod pixels;
mod sources;
mod vision;
mod volume;

pub use collate::{Batch, CausalLm, Classification, Collate, MaskedLm};
pub use dataset::{Dataset, Sample, Source};
pub use formats::{text_folder, text_lines, Csv, ImageFolder, Jsonl};
pub use pixels::{idx_images, read_idx, CsvPixels};
pub use self::image::{adjust_hue, patchify, random_masking, unpatchify, Image, PatchMask, Transforms};
pub use loader::{mix_seed, Batches, Loader};
pub use sources::{
    bible, data_dir, data_file, digits, fashion_mnist, mnist_5k, newsgroups, reuters, tweets, wikipedia, wikipedia_dump, Reuters,
    Split, FASHION_MNIST_CLASSES,
};
pub use vision::{ImageBatch, TwoViews};
pub use volume::{aal_lobes, Affine, Interpolation, LabelMap, Normalize, PairTransforms, Regroup, SegmentationBatch, SlicePair, Slices, Volume};
