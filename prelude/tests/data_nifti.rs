//! NIfTI volumes and label maps: the real Colin27 T1 and AAL atlas (mricron-data, fetched by
//! `make setup`) read as nibabel reads them (fixtures/nifti/mricron.json, made by
//! fixtures/nifti/make_fixture.py), qform and scaling on a tiny nibabel-written file, clear
//! errors on bad files, slice datasets whose split keeps neighbouring slices together,
//! AAL → lobes regrouping, and paired augmentations that keep image and mask aligned.

use flate2::write::GzEncoder;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use tuna::prelude::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nifti").join(name)
}

fn json(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The mricron templates folder; fails with the fix when the data cache lacks it.
fn templates() -> PathBuf {
    let dir = data_dir().join("mricron/templates");
    assert!(
        dir.join("ch2.nii.gz").exists(),
        "{} is missing: run `make setup` (or `bash scripts/fetch-data.sh mricron`) first",
        dir.display()
    );
    dir
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default()
}

fn assert_affine(got: &Affine, want: &Value, what: &str) {
    let rows = want.as_array().unwrap_or_else(|| panic!("{what}: no affine in the fixture"));
    for (r, row) in rows.iter().enumerate() {
        for (c, w) in f64s(row).iter().enumerate() {
            assert!((got[r][c] - w).abs() < 1e-6, "{what}: affine[{r}][{c}] = {} but nibabel says {w}", got[r][c]);
        }
    }
}

/// sum(v[a, b] · (1 + (7a + 13b) % 29)) over a `(A, B)` plane, as make_fixture.py computes it.
fn checksum(plane: &Tensor) -> f64 {
    let (a, b) = (plane.size()[0], plane.size()[1]);
    let ia = Tensor::arange(a, (Kind::Int64, Device::Cpu)).view([a, 1]);
    let ib = Tensor::arange(b, (Kind::Int64, Device::Cpu)).view([1, b]);
    let weights = ((ia * 7 + ib * 13).remainder(29) + 1).to_kind(Kind::Double);
    (plane.to_kind(Kind::Double) * weights).sum(Kind::Double).double_value(&[])
}

fn compare_with_nibabel(volume: &Volume, want: &Value, what: &str) {
    let shape: Vec<usize> = f64s(&want["shape"]).iter().map(|&s| s as usize).collect();
    assert_eq!(volume.shape().to_vec(), shape, "{what}: shape");
    assert_affine(volume.affine(), &want["affine"], what);
    let sum: f64 = volume.data().iter().map(|&v| v as f64).sum();
    assert_eq!(sum, want["sum"].as_f64().unwrap_or(f64::NAN), "{what}: sum of all voxels");
    for voxel in want["voxels"].as_array().into_iter().flatten() {
        let idx: Vec<usize> = f64s(&voxel["index"]).iter().map(|&i| i as usize).collect();
        let got = volume.get([idx[0], idx[1], idx[2]]).map(f64::from);
        assert_eq!(got, voxel["value"].as_f64(), "{what}: voxel {idx:?}");
    }
    for s in want["slices"].as_array().into_iter().flatten() {
        let (axis, index) = (s["axis"].as_u64().unwrap_or(9) as usize, s["index"].as_u64().unwrap_or(0) as usize);
        let plane = volume.slice(axis, index).unwrap_or_else(|e| panic!("{e}"));
        let plane_sum = plane.to_kind(Kind::Double).sum(Kind::Double).double_value(&[]);
        assert_eq!(plane_sum, s["sum"].as_f64().unwrap_or(f64::NAN), "{what}: sum of slice {index} across axis {axis}");
        assert_eq!(checksum(&plane), s["checksum"].as_f64().unwrap_or(f64::NAN), "{what}: checksum of slice {index} across axis {axis}");
    }
}

#[test]
fn colin27_and_aal_read_as_nibabel_reads_them() -> Result<()> {
    let dir = templates();
    let want = json("mricron.json");
    let ch2 = Volume::load(dir.join("ch2.nii.gz"))?;
    compare_with_nibabel(&ch2, &want["ch2"], "ch2.nii.gz");
    let aal = Volume::load(dir.join("aal.nii.gz"))?;
    compare_with_nibabel(&aal, &want["aal"], "aal.nii.gz");
    ch2.same_grid(&aal)?;
    assert_eq!(ch2.voxel_size(), [1.0, 1.0, 1.0]);
    // Label counts of the whole atlas, label by label.
    let labels = LabelMap::new(aal)?.names_from(dir.join("aal.nii.txt"))?;
    assert_eq!(labels.num_classes(), 117);
    assert_eq!(labels.label_names()[1], "Precentral_L");
    let counts = labels.counts();
    for (label, count) in want["aal"]["label_counts"].as_object().into_iter().flatten() {
        let label: usize = label.parse().unwrap_or(usize::MAX);
        assert_eq!(Some(counts[label] as u64), count.as_u64(), "voxels of AAL label {label}");
    }
    Ok(())
}

#[test]
fn qform_and_scaling_follow_nibabel() -> Result<()> {
    let want = json("tiny_qform.json");
    let v = Volume::load(fixture("tiny_qform.nii.gz"))?;
    assert_eq!(v.shape(), [4, 3, 2]);
    assert_affine(v.affine(), &want["affine"], "tiny_qform.nii.gz");
    let values = f64s(&want["values_fortran_order"]);
    for (n, w) in values.iter().enumerate() {
        let (i, j, k) = (n % 4, n / 4 % 3, n / 12);
        assert_eq!(v.get([i, j, k]).map(f64::from), Some(*w), "voxel [{i}, {j}, {k}]");
    }
    assert!((v.voxel_size()[1] - 1.5).abs() < 1e-6 && (v.voxel_size()[2] - 3.0).abs() < 1e-6);
    Ok(())
}

/// A minimal NIfTI-1 single file: uint8 voxels, sform = diag(1) shifted by `origin`.
fn write_nifti(path: &Path, dims: &[u16], voxels: &[u8], origin: [f32; 3], gzip: bool) {
    let mut h = vec![0u8; 352];
    let put_i16 = |h: &mut Vec<u8>, at: usize, v: i16| h[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put_f32 = |h: &mut Vec<u8>, at: usize, v: f32| h[at..at + 4].copy_from_slice(&v.to_le_bytes());
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    put_i16(&mut h, 40, dims.len() as i16);
    for (i, &d) in dims.iter().enumerate() {
        put_i16(&mut h, 42 + 2 * i, d as i16);
    }
    for i in dims.len()..7 {
        put_i16(&mut h, 42 + 2 * i, 1);
    }
    put_i16(&mut h, 70, 2); // datatype uint8
    put_i16(&mut h, 72, 8); // bitpix
    for i in 0..8 {
        put_f32(&mut h, 76 + 4 * i, 1.0); // pixdim
    }
    put_f32(&mut h, 108, 352.0); // vox_offset
    put_i16(&mut h, 254, 2); // sform_code: aligned
    for (row, at) in [280usize, 296, 312].iter().enumerate() {
        for c in 0..3 {
            put_f32(&mut h, at + 4 * c, if c == row { 1.0 } else { 0.0 });
        }
        put_f32(&mut h, at + 12, origin[row]);
    }
    h[344..348].copy_from_slice(b"n+1\0");
    h.extend_from_slice(voxels);
    let bytes = if gzip {
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&h).unwrap_or_else(|e| panic!("{e}"));
        gz.finish().unwrap_or_else(|e| panic!("{e}"))
    } else {
        h
    };
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tuna-nifti-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir.join(name)
}

#[test]
fn bad_files_give_clear_errors() -> Result<()> {
    // A good tiny file reads, in x-fastest file order.
    let good = scratch("good.nii.gz");
    let voxels: Vec<u8> = (0..24).collect();
    write_nifti(&good, &[4, 3, 2], &voxels, [0.0; 3], true);
    let v = Volume::load(&good)?;
    assert_eq!((v.shape(), v.get([1, 0, 0]), v.get([0, 1, 0]), v.get([0, 0, 1])), ([4, 3, 2], Some(1.0), Some(4.0), Some(12.0)));

    // Truncated: the gzip stream cut in half.
    let bytes = std::fs::read(&good).unwrap_or_default();
    let truncated = scratch("truncated.nii.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap_or_else(|e| panic!("{e}"));
    let err = Volume::load(&truncated).expect_err("a truncated file must not load").to_string();
    assert!(err.contains("truncated.nii.gz") && err.contains("truncated"), "{err}");
    // Truncated uncompressed: fewer voxel bytes than the header declares.
    let short = scratch("short.nii");
    write_nifti(&short, &[4, 3, 2], &voxels[..10], [0.0; 3], false);
    let err = Volume::load(&short).expect_err("a short file must not load").to_string();
    assert!(err.contains("short.nii") && err.contains("truncated"), "{err}");

    // 4-D: a series of 3 volumes is refused; a trailing size-1 dimension is not.
    let series = scratch("series.nii.gz");
    write_nifti(&series, &[4, 3, 2, 3], &(0..72).collect::<Vec<u8>>(), [0.0; 3], true);
    let err = Volume::load(&series).expect_err("a 4-D series must not load").to_string();
    assert!(err.contains("series.nii.gz") && err.contains("4-D") && err.contains("4×3×2×3"), "{err}");
    let single = scratch("single.nii.gz");
    write_nifti(&single, &[4, 3, 2, 1], &voxels, [0.0; 3], true);
    assert_eq!(Volume::load(&single)?.shape(), [4, 3, 2]);

    // Mismatched grids: another shape, or the same shape shifted by 2 mm.
    let other_shape = scratch("other_shape.nii.gz");
    write_nifti(&other_shape, &[3, 4, 2], &voxels, [0.0; 3], true);
    let err = v.same_grid(&Volume::load(&other_shape)?).expect_err("different shapes").to_string();
    assert!(err.contains("good.nii.gz (4×3×2)") && err.contains("other_shape.nii.gz (3×4×2)"), "{err}");
    let shifted = scratch("shifted.nii.gz");
    write_nifti(&shifted, &[4, 3, 2], &voxels, [2.0, 0.0, 0.0], true);
    let shifted = LabelMap::load(&shifted)?;
    let err = Slices::new(&v, &shifted).build().expect_err("different affines").to_string();
    assert!(err.contains("good.nii.gz") && err.contains("shifted.nii.gz") && err.contains("affine"), "{err}");

    // Missing files and intensity images used as labels.
    assert!(Volume::load(scratch("absent.nii.gz")).expect_err("absent").to_string().contains("absent.nii.gz"));
    let float = Volume::new(vec![0.5; 24], [4, 3, 2], *v.affine(), "t1.nii.gz")?;
    assert!(LabelMap::new(float).expect_err("not labels").to_string().contains("whole numbers"));
    Ok(())
}

#[test]
fn resample_normalize_and_slices() -> Result<()> {
    let dir = templates();
    let t1 = Volume::load(dir.join("ch2.nii.gz"))?;
    let small = t1.resample([91, 109, 91], Interpolation::Linear)?;
    assert_eq!(small.shape(), [91, 109, 91]);
    // The world position of the volume's centre is kept.
    let centre = |v: &Volume| {
        let a = v.affine();
        let c = v.shape().map(|s| (s as f64 - 1.0) / 2.0);
        [0, 1, 2].map(|r| a[r][0] * c[0] + a[r][1] * c[1] + a[r][2] * c[2] + a[r][3])
    };
    let (a, b) = (centre(&t1), centre(&small));
    assert!((0..3).all(|i| (a[i] - b[i]).abs() < 1e-9), "{a:?} vs {b:?}");
    assert!((small.voxel_size()[0] - 181.0 / 91.0).abs() < 1e-9);

    let z = t1.normalize(Normalize::ZScore)?;
    let fg: Vec<f64> = z.data().iter().zip(t1.data()).filter(|(_, &o)| o != 0.0).map(|(&v, _)| v as f64).collect();
    let mean = fg.iter().sum::<f64>() / fg.len() as f64;
    let var = fg.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / fg.len() as f64;
    assert!(mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-4, "mean {mean}, var {var}");
    let p = t1.normalize(Normalize::Percentiles(1.0, 99.0))?;
    assert!(p.data().iter().all(|v| (0.0..=1.0).contains(v)));
    let m = t1.normalize(Normalize::MinMax)?;
    assert_eq!(m.data().iter().copied().fold(0.0f32, f32::max), 1.0);
    assert!(Volume::new(vec![0.0; 8], [2, 2, 2], *t1.affine(), "zeros")?.normalize(Normalize::ZScore).is_err());

    let aal = LabelMap::load(dir.join("aal.nii.gz"))?;
    for axis in 0..3 {
        let plane = t1.slice(axis, 60)?;
        let mut want = t1.shape().to_vec();
        want.remove(axis);
        assert_eq!(plane.size(), want.iter().map(|&s| s as i64).collect::<Vec<_>>());
    }
    assert!(t1.slice(3, 0).is_err() && t1.slice(2, 181).is_err());
    let ds = Slices::new(&t1, &aal).axis(1).size(64, 48).min_labelled(0.05).build()?;
    assert!(ds.len() > 50 && ds.len() < 217, "{} slices", ds.len());
    let (first, _) = ds.get(0).unwrap_or_else(|| panic!("empty"));
    assert_eq!((first.height(), first.width(), first.axis()), (64, 48, 1));
    assert!(first.mask().iter().all(|&l| l <= 116), "nearest resizing invents no labels");
    Ok(())
}

#[test]
fn split_by_position_keeps_blocks_together() -> Result<()> {
    let (nx, ny, nz) = (6usize, 5usize, 50usize);
    let affine = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
    let image = Volume::new((0..nx * ny * nz).map(|v| v as f32).collect(), [nx, ny, nz], affine, "image.nii.gz")?;
    let labels = LabelMap::new(Volume::new(vec![1.0; nx * ny * nz], [nx, ny, nz], affine, "labels.nii.gz")?)?;
    let ds = Slices::new(&image, &labels).build()?;
    assert_eq!(ds.len(), 50);
    for seed in 0..5 {
        let [train, valid, test] = ds.split_by_position([0.6, 0.2, 0.2], 5, seed)?;
        assert_eq!(train.len() + valid.len() + test.len(), 50);
        let block_of = |d: &Dataset<SlicePair>| d.items().iter().map(|p| p.position() / 5).collect::<std::collections::BTreeSet<_>>();
        let (a, b, c) = (block_of(&train), block_of(&valid), block_of(&test));
        assert!(a.is_disjoint(&b) && a.is_disjoint(&c) && b.is_disjoint(&c), "seed {seed}: {a:?} {b:?} {c:?}");
        assert_eq!((a.len(), b.len(), c.len()), (6, 2, 2), "10 blocks of 5 slices split 6/2/2");
        // Every part holds whole blocks: 5 slices per block.
        assert_eq!(train.len(), 30);
    }
    let [x, _] = ds.split_by_position([0.5, 0.5], 5, 1)?;
    let [y, _] = ds.split_by_position([0.5, 0.5], 5, 1)?;
    assert_eq!(x.items(), y.items(), "a seed fixes the split");
    assert!(ds.split_by_position([0.5, 0.6], 5, 0).is_err() && ds.split_by_position([0.5, 0.5], 0, 0).is_err());
    Ok(())
}

#[test]
fn aal_regroups_into_lobes_as_documented() -> Result<()> {
    let dir = templates();
    let aal = LabelMap::load(dir.join("aal.nii.gz"))?.names_from(dir.join("aal.nii.txt"))?;
    let table = aal_lobes();
    let lobes = aal.regroup(&table)?;
    assert_eq!(
        lobes.label_names(),
        ["background", "central", "frontal", "temporal", "parietal", "occipital", "limbic", "insula", "subcortical", "cerebellum"]
    );
    // Regions per group, both hemispheres: 6 central, 26 frontal, 8 temporal, 10 parietal,
    // 14 occipital, 14 limbic, 2 insula, 10 subcortical (90 cerebral) + 26 cerebellar.
    let mut per_group = [0usize; 10];
    for name in &aal.label_names()[1..] {
        per_group[table.group_of(name).unwrap_or_else(|| panic!("{name} has no group"))] += 1;
    }
    assert_eq!(per_group, [0, 6, 26, 8, 10, 14, 14, 2, 10, 26]);
    for (region, group) in [("Precentral_L", 1), ("Rectus_R", 2), ("Heschl_L", 3), ("Precuneus_R", 4), ("Calcarine_L", 5)] {
        assert_eq!(table.group_of(region), Some(group), "{region}");
    }
    for (region, group) in [("Hippocampus_R", 6), ("Insula_L", 7), ("Thalamus_R", 8), ("Cerebelum_Crus1_L", 9), ("Vermis_10", 9)] {
        assert_eq!(table.group_of(region), Some(group), "{region}");
    }
    // Voxel by voxel: each new label is the group of the old one; voxel counts add up.
    let old_counts = aal.counts();
    let mut expected = vec![0usize; 10];
    expected[0] = old_counts[0];
    for (label, name) in aal.label_names().iter().enumerate().skip(1) {
        expected[table.group_of(name).unwrap_or(0)] += old_counts[label];
    }
    assert_eq!(lobes.counts(), expected);
    for (&old, &new) in aal.volume().data().iter().zip(lobes.volume().data()).step_by(997) {
        let want = if old == 0.0 { 0 } else { table.group_of(&aal.label_names()[old as usize]).unwrap_or(99) };
        assert_eq!(new as usize, want);
    }
    // A table that leaves a region out says which.
    let err = aal.regroup(&Regroup::new().group("motor", ["Precentral"])).expect_err("incomplete table").to_string();
    assert!(err.contains("3 `Frontal_Sup_L`") && err.contains("and 106 more") && err.contains("groups: motor"), "{err}");
    Ok(())
}

#[test]
fn paired_augmentations_keep_image_and_mask_aligned() -> Result<()> {
    // A slice whose image is its mask scaled: alignment means image == mask / 4 after any transform.
    let (h, w) = (24usize, 32usize);
    let mask: Vec<u32> = (0..h * w).map(|i| { let (r, c) = (i / w, i % w); ((r / 6) as u32 + (c / 8) as u32 * 2) % 5 }).collect();
    let image: Vec<f32> = mask.iter().map(|&l| l as f32 / 4.0).collect();
    let pair = SlicePair::new(image, mask, h, w, 2, 0)?;
    let (x0, m0) = (pair.image_tensor(), pair.mask_tensor());

    let flips = PairTransforms::new().horizontal_flip(1.0).vertical_flip(1.0);
    let (x, m) = flips.apply(&pair, 0)?;
    assert!(x.equal(&x0.flip([1, 2])) && m.equal(&m0.flip([0, 1])));
    assert!((x.squeeze_dim(0) * 4.0).round().to_kind(Kind::Int64).equal(&m), "flipped image and mask agree everywhere");

    let rotate = PairTransforms::new().horizontal_flip(0.5).rotation(30.0);
    let mut changed = 0;
    for seed in 0..8 {
        let (x, m) = rotate.apply(&pair, seed)?;
        assert_eq!((x.size(), m.size()), (vec![1, h as i64, w as i64], vec![h as i64, w as i64]));
        assert_eq!(m.kind(), Kind::Int64);
        // Bilinear and nearest differ only near region edges: agreement on ≥ 85 % of pixels.
        let agree = (x.squeeze_dim(0) * 4.0).round().to_kind(Kind::Int64).eq_tensor(&m).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        assert!(agree > 0.85, "seed {seed}: image and mask agree on only {agree:.3} of pixels");
        changed += !m.equal(&m0) as usize;
        let labels: Vec<i64> = Vec::<i64>::try_from(m.reshape([-1])).unwrap_or_default();
        assert!(labels.iter().all(|l| (0..5).contains(l)), "nearest sampling invents no labels");
    }
    assert!(changed >= 6, "the rotations moved the mask ({changed} of 8)");

    // Through the collator: pixel_values (B, 1, H, W) and labels (B, H, W), repeatable per seed.
    let ds = Dataset::new("pairs", vec![pair.clone(), pair]);
    let rows: Vec<_> = ds.iter().collect();
    let collate = SegmentationBatch::new(PairTransforms::new().rotation(20.0));
    let batch = collate.collate(&rows, 3)?;
    assert_eq!(batch.get("pixel_values")?.size(), [2, 1, h as i64, w as i64]);
    assert_eq!(batch.get("labels")?.size(), [2, h as i64, w as i64]);
    assert!(batch.get("labels")?.equal(collate.collate(&rows, 3)?.get("labels")?));
    Ok(())
}
