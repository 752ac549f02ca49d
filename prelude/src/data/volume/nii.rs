//! 3-D volumes read from NIfTI-1 files (`.nii`, `.nii.gz`) through the `nifti` crate: the voxels
//! (scaled by `scl_slope` / `scl_inter`) and the voxel-to-world affine, chosen as nibabel's
//! `img.affine` does (the sform when its code is set, else the qform, else a centred
//! Analyze-style diagonal); slices along any axis, resampling to a size, intensity normalisation.
//!
//! Axes keep the file's order: a [`Volume`] of shape `(x, y, z)` is indexed `[i, j, k]` as
//! nibabel's `img.get_fdata()[i, j, k]`, and [`Volume::slice`] equals `np.take(data, index, axis)`.
//!
//! ```no_run
//! use tuna::prelude::*;
//! let t1 = Volume::load(data_dir().join("mricron/templates/ch2.nii.gz"))?;
//! let small = t1.resample([96, 112, 96], Interpolation::Linear)?.normalize(Normalize::ZScore)?;
//! let axial = small.slice(2, 48)?; // (96, 112)
//! # Ok::<(), tuna::Error>(())
//! ```

use crate::error::{Error, Result};
use nifti::{Endianness, NiftiHeader, NiftiObject, NiftiType, ReaderOptions};
use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// A voxel-to-world transform (millimetres), row-major, last row `[0, 0, 0, 1]`.
pub type Affine = [[f64; 4]; 4];

/// A 3-D scalar volume: voxels as `f32` in `(x, y, z)` order, its affine, and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Row-major over `(x, y, z)`: voxel `[i, j, k]` is at `(i * ny + j) * nz + k`.
    data: Vec<f32>,
    shape: [usize; 3],
    affine: Affine,
    path: PathBuf,
}

/// How [`Volume::resample`] fills the new voxels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    /// Trilinear (intensity images).
    Linear,
    /// The nearest voxel's value (label maps: no new labels are invented).
    Nearest,
}

/// Intensity normalisations for [`Volume::normalize`]. Statistics come from the nonzero voxels
/// (the head, not the air around it), as nnU-Net's `use_mask_for_norm` does for MRI.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normalize {
    /// `(v − mean) / std` over the nonzero voxels; zero voxels stay 0.
    ZScore,
    /// `(v − min) / (max − min)` over all voxels, into [0, 1].
    MinMax,
    /// Clips to the given percentiles (0–100) of the nonzero voxels, then scales to [0, 1].
    Percentiles(f64, f64),
}

fn identity() -> Affine {
    let mut a = [[0.0; 4]; 4];
    for (i, row) in a.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    a
}

fn shape_text(shape: &[usize]) -> String {
    shape.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("×")
}

impl Volume {
    /// A volume from voxels in row-major `(x, y, z)` order and an affine; `path` names it in errors.
    pub fn new(data: Vec<f32>, shape: [usize; 3], affine: Affine, path: impl Into<PathBuf>) -> Result<Self> {
        if data.len() != shape.iter().product::<usize>() {
            return Err(Error::Shape {
                context: "Volume::new".into(),
                message: format!("{} voxels for a {} volume", data.len(), shape_text(&shape)),
            });
        }
        Ok(Volume { data, shape, affine, path: path.into() })
    }

    /// Reads a NIfTI-1 file (`.nii` or `.nii.gz`). A 4-D series, complex or RGB voxels and a
    /// file shorter than its header says are errors naming the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such NIfTI file")));
        }
        let object = ReaderOptions::new().read_file(path).map_err(|e| nifti_error(path, e))?;
        let header = object.header().clone();
        let shape = volume_shape(path, &header)?;
        let raw = object.into_volume().into_raw_data();
        let values = decode(path, &header, raw)?;
        // NIfTI stores x fastest (Fortran order); keep (x, y, z) but row-major.
        let [nx, ny, nz] = shape;
        let mut data = vec![0.0f32; values.len()];
        for k in 0..nz {
            for j in 0..ny {
                for i in 0..nx {
                    data[(i * ny + j) * nz + k] = values[i + nx * (j + ny * k)];
                }
            }
        }
        Ok(Volume { data, shape, affine: best_affine(&header, shape), path: path.to_path_buf() })
    }

    /// `(x, y, z)` voxels.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// The voxel-to-world affine (nibabel's `img.affine`).
    pub fn affine(&self) -> &Affine {
        &self.affine
    }

    /// The file the volume came from (or was derived from).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The voxels, row-major over `(x, y, z)`.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Voxel `[i, j, k]` (`None` outside the volume).
    pub fn get(&self, index: [usize; 3]) -> Option<f32> {
        let [nx, ny, nz] = self.shape;
        let [i, j, k] = index;
        (i < nx && j < ny && k < nz).then(|| self.data[(i * ny + j) * nz + k])
    }

    /// Voxel sizes in millimetres (the lengths of the affine's first three columns).
    pub fn voxel_size(&self) -> [f64; 3] {
        let a = &self.affine;
        [0, 1, 2].map(|c| (0..3).map(|r| a[r][c] * a[r][c]).sum::<f64>().sqrt())
    }

    /// The voxels as a float tensor `(x, y, z)`.
    pub fn to_tensor(&self) -> Tensor {
        let [nx, ny, nz] = self.shape.map(|s| s as i64);
        Tensor::from_slice(&self.data).view([nx, ny, nz])
    }

    fn describe(&self) -> String {
        format!("{} ({})", self.path.display(), shape_text(&self.shape))
    }

    /// Ok when `other` has the same shape and affine (to 1e-3 mm), so voxel `[i, j, k]` of one
    /// lies where voxel `[i, j, k]` of the other does: an image and its label map must.
    pub fn same_grid(&self, other: &Volume) -> Result<()> {
        if self.shape != other.shape {
            return Err(Error::Shape {
                context: "an image and its label map".into(),
                message: format!(
                    "{} and {} are on different grids: resample one onto the other (`.resample(shape, …)`)",
                    self.describe(),
                    other.describe()
                ),
            });
        }
        let worst = (0..3).flat_map(|r| (0..4).map(move |c| (r, c))).map(|(r, c)| (self.affine[r][c] - other.affine[r][c]).abs()).fold(0.0, f64::max);
        if worst > 1e-3 {
            return Err(Error::Shape {
                context: "an image and its label map".into(),
                message: format!(
                    "{} and {} have the same shape but different affines ({:?} vs {:?}, up to {worst:.4} mm apart): they are not aligned voxel for voxel",
                    self.describe(),
                    other.describe(),
                    self.affine,
                    other.affine
                ),
            });
        }
        Ok(())
    }

    /// The plane `index` along `axis` (0, 1 or 2) as a float tensor of the two other axes, in
    /// order: `slice(2, k)` is `(x, y)`, as `np.take(data, k, axis=2)`.
    pub fn slice(&self, axis: usize, index: usize) -> Result<Tensor> {
        if axis > 2 || index >= self.shape.get(axis).copied().unwrap_or(0) {
            return Err(Error::config(
                "slice",
                format!("axis {axis}, index {index} is outside {} (axes 0–2)", self.describe()),
            ));
        }
        Ok(self.to_tensor().select(axis as i64, index as i64).contiguous())
    }

    /// The volume resampled to `shape` over the same field of view (voxel centres as PyTorch's
    /// `interpolate(align_corners=False)`); the affine follows, so world positions are kept.
    pub fn resample(&self, shape: [usize; 3], interpolation: Interpolation) -> Result<Volume> {
        if shape.contains(&0) {
            return Err(Error::config("resample", format!("cannot resample {} to {}", self.describe(), shape_text(&shape))));
        }
        let size = shape.map(|s| s as i64);
        let x = self.to_tensor().unsqueeze(0).unsqueeze(0); // (1, 1, x, y, z)
        let y = match interpolation {
            Interpolation::Linear => x.f_upsample_trilinear3d(size, false, None, None, None)?,
            Interpolation::Nearest => x.f_internal_upsample_nearest_exact3d(size, None, None, None)?,
        };
        let data = Vec::<f32>::try_from(y.reshape([-1]).to_kind(Kind::Float))?;
        // New voxel i' sits at old voxel (i' + 0.5)·s − 0.5, s = old / new size along the axis.
        let mut affine = self.affine;
        for (c, (&old, &new)) in self.shape.iter().zip(&shape).enumerate() {
            let s = old as f64 / new as f64;
            for (row, old_row) in affine.iter_mut().zip(&self.affine).take(3) {
                row[3] += old_row[c] * (0.5 * s - 0.5);
                row[c] = old_row[c] * s;
            }
        }
        Volume::new(data, shape, affine, &self.path)
    }

    /// The voxels with their intensities normalised (see [`Normalize`]). A volume whose
    /// statistics are degenerate (all zero, constant) is an error naming the file.
    pub fn normalize(&self, how: Normalize) -> Result<Volume> {
        let nonzero: Vec<f32> = self.data.iter().copied().filter(|v| *v != 0.0).collect();
        let degenerate = || Error::msg(format!("{}: cannot normalise ({how:?}): its voxels are all zero or all equal", self.describe()));
        let data: Vec<f32> = match how {
            Normalize::ZScore => {
                let n = nonzero.len() as f64;
                let mean = nonzero.iter().map(|&v| v as f64).sum::<f64>() / n.max(1.0);
                let var = nonzero.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n.max(1.0);
                if nonzero.is_empty() || var <= 0.0 {
                    return Err(degenerate());
                }
                let std = var.sqrt();
                self.data.iter().map(|&v| if v == 0.0 { 0.0 } else { ((v as f64 - mean) / std) as f32 }).collect()
            }
            Normalize::MinMax => {
                let lo = self.data.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = self.data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                if hi.partial_cmp(&lo) != Some(Ordering::Greater) {
                    return Err(degenerate());
                }
                self.data.iter().map(|&v| (v - lo) / (hi - lo)).collect()
            }
            Normalize::Percentiles(p_lo, p_hi) => {
                if !(0.0..=100.0).contains(&p_lo) || !(0.0..=100.0).contains(&p_hi) || p_lo >= p_hi {
                    return Err(Error::config("Normalize::Percentiles", format!("({p_lo}, {p_hi}) must rise within 0–100")));
                }
                let mut sorted = nonzero;
                sorted.sort_by(f32::total_cmp);
                let (lo, hi) = (percentile(&sorted, p_lo), percentile(&sorted, p_hi));
                if sorted.is_empty() || hi.partial_cmp(&lo) != Some(Ordering::Greater) {
                    return Err(degenerate());
                }
                self.data.iter().map(|&v| ((v - lo) / (hi - lo)).clamp(0.0, 1.0)).collect()
            }
        };
        Volume::new(data, self.shape, self.affine, &self.path)
    }
}

/// numpy's default (linear) percentile of sorted values.
fn percentile(sorted: &[f32], p: f64) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let t = (pos - lo as f64) as f32;
    sorted[lo] * (1.0 - t) + sorted[hi] * t
}

fn nifti_error(path: &Path, e: nifti::NiftiError) -> Error {
    use nifti::NiftiError as N;
    let message = match &e {
        N::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            format!("{io}: the file ends early (a truncated download? fetch it again)")
        }
        N::Io(io) => format!("{io} (a damaged or truncated file? fetch it again)"),
        N::IncompatibleLength(..) => format!("{e}: the file holds fewer voxels than its header declares (truncated? fetch it again)"),
        N::InvalidFormat => "not a NIfTI-1 file (no `n+1` magic)".to_string(),
        _ => e.to_string(),
    };
    Error::parse(path, None, format!("cannot read the NIfTI volume: {message}"))
}

/// `(x, y, z)` from `dim`, refusing series: trailing dimensions of size 1 are dropped and a 2-D
/// image becomes one slice thick.
fn volume_shape(path: &Path, header: &NiftiHeader) -> Result<[usize; 3]> {
    let rank = header.dim[0] as usize;
    let dims: Vec<usize> = header.dim[1..=rank.clamp(1, 7)].iter().map(|&d| d as usize).collect();
    if rank > 3 && dims[3..].iter().any(|&d| d > 1) {
        return Err(Error::parse(
            path,
            None,
            format!("is a {rank}-D image ({}): a Volume holds one 3-D image; split the series into 3-D volumes first", shape_text(&dims)),
        ));
    }
    let mut shape = [1usize; 3];
    for (s, &d) in shape.iter_mut().zip(&dims) {
        *s = d;
    }
    if shape.contains(&0) {
        return Err(Error::parse(path, None, format!("the header declares an empty image ({})", shape_text(&shape))));
    }
    Ok(shape)
}

/// Raw voxel bytes → scaled `f32`, in file (Fortran) order.
fn decode(path: &Path, header: &NiftiHeader, raw: Vec<u8>) -> Result<Vec<f32>> {
    let data_type = header.data_type().map_err(|e| nifti_error(path, e))?;
    let little = header.endianness == Endianness::Little;
    macro_rules! read {
        ($t:ty, $n:expr) => {
            raw.chunks_exact($n)
                .map(|c| {
                    let bytes: [u8; $n] = c.try_into().unwrap_or([0; $n]);
                    (if little { <$t>::from_le_bytes(bytes) } else { <$t>::from_be_bytes(bytes) }) as f64
                })
                .collect::<Vec<f64>>()
        };
    }
    let values = match data_type {
        NiftiType::Uint8 => raw.iter().map(|&b| b as f64).collect(),
        NiftiType::Int8 => raw.iter().map(|&b| b as i8 as f64).collect(),
        NiftiType::Int16 => read!(i16, 2),
        NiftiType::Uint16 => read!(u16, 2),
        NiftiType::Int32 => read!(i32, 4),
        NiftiType::Uint32 => read!(u32, 4),
        NiftiType::Int64 => read!(i64, 8),
        NiftiType::Uint64 => read!(u64, 8),
        NiftiType::Float32 => read!(f32, 4),
        NiftiType::Float64 => read!(f64, 8),
        other => {
            return Err(Error::parse(path, None, format!("voxels of type {other:?} are not supported (scalar integer or float volumes only)")))
        }
    };
    // nibabel ignores a slope of 0 or NaN (no scaling) and reads a NaN intercept as 0.
    let (slope, inter) = (header.scl_slope as f64, header.scl_inter as f64);
    let scaled = slope.is_finite() && slope != 0.0;
    let inter = if inter.is_finite() { inter } else { 0.0 };
    Ok(values.into_iter().map(|v| if scaled { (v * slope + inter) as f32 } else { v as f32 }).collect())
}

/// nibabel's `Nifti1Header.get_best_affine`: sform if `sform_code > 0`, else qform if
/// `qform_code > 0`, else the Analyze-style `get_base_affine` (x flipped, origin at the centre).
fn best_affine(h: &NiftiHeader, shape: [usize; 3]) -> Affine {
    let mut a = identity();
    let zooms = [h.pixdim[1] as f64, h.pixdim[2] as f64, h.pixdim[3] as f64];
    if h.sform_code > 0 {
        for (r, row) in [h.srow_x, h.srow_y, h.srow_z].iter().enumerate() {
            for c in 0..4 {
                a[r][c] = row[c] as f64;
            }
        }
    } else if h.qform_code > 0 {
        let (b, c, d) = (h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64);
        // nibabel's fillpositive: w from the unit norm, 0 when rounding makes it negative.
        let w = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        let r = quaternion_matrix(w, b, c, d);
        let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let z = [zooms[0], zooms[1], zooms[2] * qfac];
        for row in 0..3 {
            for col in 0..3 {
                a[row][col] = r[row][col] * z[col];
            }
        }
        a[0][3] = h.quatern_x as f64;
        a[1][3] = h.quatern_y as f64;
        a[2][3] = h.quatern_z as f64;
    } else {
        let signed = [-zooms[0], zooms[1], zooms[2]];
        for i in 0..3 {
            a[i][i] = signed[i];
            a[i][3] = -(shape[i] as f64 - 1.0) / 2.0 * signed[i];
        }
    }
    a
}

/// The rotation of the unit quaternion `(w, x, y, z)` (nibabel's `quaternions.quat2mat`).
fn quaternion_matrix(w: f64, x: f64, y: f64, z: f64) -> [[f64; 3]; 3] {
    let n = w * w + x * x + y * y + z * z;
    if n < f64::EPSILON {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let s = 2.0 / n;
    let (xs, ys, zs) = (x * s, y * s, z * s);
    let (wx, wy, wz) = (w * xs, w * ys, w * zs);
    let (xx, xy, xz) = (x * xs, x * ys, x * zs);
    let (yy, yz, zz) = (y * ys, y * zs, z * zs);
    [[1.0 - (yy + zz), xy - wz, xz + wy], [xy + wz, 1.0 - (xx + zz), yz - wx], [xz - wy, yz + wx, 1.0 - (xx + yy)]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!((percentile(&v, 0.0), percentile(&v, 50.0), percentile(&v, 100.0)), (1.0, 2.5, 4.0));
    }

    #[test]
    fn resampling_keeps_world_positions() -> Result<()> {
        let v = Volume::new((0..8).map(|x| x as f32).collect(), [2, 2, 2], identity(), "mem")?;
        let up = v.resample([4, 4, 4], Interpolation::Nearest)?;
        // The first new voxel centre lies a quarter voxel before the old first centre.
        assert!((up.affine()[0][3] + 0.25).abs() < 1e-12 && (up.affine()[0][0] - 0.5).abs() < 1e-12);
        assert_eq!(up.get([3, 3, 3]), Some(7.0));
        Ok(())
    }
}
