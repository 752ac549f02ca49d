//! Image transforms (torchvision semantics), patchify and MAE's random masking, SimCLR views.

use tuna::prelude::*;

fn ramp(w: u32, h: u32) -> Image {
    let pixels = (0..w * h).map(|i| (i % w * 10) as u8).collect();
    Image::new(w, h, 1, pixels).unwrap_or_else(|e| panic!("{e}"))
}

fn close(a: &Tensor, b: &Tensor) -> bool {
    a.allclose(b, 1e-5, 1e-6, false)
}

#[test]
fn deterministic_transforms_do_what_torchvision_does() -> Result<()> {
    let img = ramp(6, 4);
    let x = Transforms::new().apply(&img, 0)?;
    assert_eq!(x.size(), [1, 4, 6]);
    assert!((x.double_value(&[0, 0, 5]) - 50.0 / 255.0).abs() < 1e-6);
    let flipped = Transforms::new().horizontal_flip(1.0).apply(&img, 0)?;
    assert!(close(&flipped, &x.flip([2])));
    let crop = Transforms::new().center_crop(2, 2).apply(&img, 0)?;
    assert!(close(&crop, &x.narrow(1, 1, 2).narrow(2, 2, 2)));
    let rgb = Transforms::new().grey_to_rgb().normalize(&[0.5, 0.5, 0.5], &[0.5, 0.5, 0.5]).apply(&img, 0)?;
    assert_eq!(rgb.size(), [3, 4, 6]);
    assert!(close(&rgb.get(2), &((x.get(0) - 0.5) / 0.5)));
    assert!(Transforms::new().normalize(&[0.5, 0.5], &[1.0, 1.0]).apply(&img, 0).is_err());
    let resized = Transforms::new().resize(8, 12).apply(&img, 0)?;
    assert_eq!(resized.size(), [1, 8, 12]);
    // Hue: no shift is the identity; a third of a turn sends red to green, green to blue.
    let colours = Tensor::from_slice(&[1.0f32, 0.0, 0.2, 0.0, 1.0, 0.5, 0.0, 0.0, 0.3]).view([3, 1, 3]);
    assert!(close(&adjust_hue(&colours, 0.0), &colours));
    let shifted = adjust_hue(&colours, 1.0 / 3.0);
    assert!(close(&shifted.narrow(2, 0, 2), &Tensor::from_slice(&[0.0f32, 0.0, 1.0, 0.0, 0.0, 1.0]).view([3, 1, 2])));
    assert!(close(&adjust_hue(&shifted, -1.0 / 3.0), &colours), "shifts compose and wrap");
    let rotated = Transforms::new().rotation(0.0).apply(&img, 0)?;
    assert!(close(&rotated, &x), "a 0° rotation is the identity");
    Ok(())
}

#[test]
fn random_transforms_repeat_for_a_seed() -> Result<()> {
    let img = ramp(28, 28);
    let t = Transforms::simclr(24).rotation(15.0);
    let a = t.apply(&img, 1)?;
    assert_eq!(a.size(), [1, 24, 24]);
    assert!(close(&a, &t.apply(&img, 1)?));
    assert!(!close(&a, &t.apply(&img, 2)?));
    let crop = Transforms::new().random_crop(28, 28, 4).apply(&img, 3)?;
    assert_eq!(crop.size(), [1, 28, 28]);
    Ok(())
}

#[test]
fn patchify_and_mae_masking() -> Result<()> {
    let x = Tensor::arange(2 * 3 * 8 * 8, (Kind::Float, Device::Cpu)).view([2, 3, 8, 8]);
    let p = patchify(&x, 4)?;
    assert_eq!(p.size(), [2, 4, 48]);
    assert!(close(&unpatchify(&p, 4, 3)?, &x));
    assert!(patchify(&x, 3).is_err());

    let m = random_masking(&p, 0.75, 11)?;
    assert_eq!(m.kept.size(), [2, 1, 48]);
    assert_eq!(m.mask.size(), [2, 4]);
    assert_eq!(m.mask.sum(Kind::Float).double_value(&[]), 6.0, "3 of 4 patches masked per image");
    // The kept patches are the unmasked ones, and ids_restore undoes the shuffle.
    for n in 0..2 {
        let keep = m.ids_keep.int64_value(&[n, 0]);
        assert_eq!(m.mask.double_value(&[n, keep]), 0.0);
        assert!(close(&m.kept.get(n).get(0), &p.get(n).get(keep)));
    }
    let shuffle = m.ids_restore.argsort(1, false);
    let shuffled = p.gather(1, &shuffle.unsqueeze(-1).repeat([1, 1, 48]), false);
    let restored = shuffled.gather(1, &m.ids_restore.unsqueeze(-1).repeat([1, 1, 48]), false);
    assert!(close(&restored, &p));
    assert!(m.ids_keep.equal(&random_masking(&p, 0.75, 11)?.ids_keep), "seeded");
    Ok(())
}

#[test]
fn image_loader_gives_two_views_and_labels() -> Result<()> {
    let images: Vec<Image> = (0..10).map(|i| ramp(16 + i % 2, 16)).collect();
    let ds = Dataset::labelled("ramps", images, (0..10).map(|i| i % 2).collect(), vec!["a".into(), "b".into()])?;
    let loader = Loader::new(ds.clone(), 4, TwoViews::new(Transforms::simclr(12))).seed(1);
    let batches: Vec<Batch> = loader.epoch(0).collect::<Result<_>>()?;
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[0]["view1"].size(), [4, 1, 12, 12]);
    assert!(!batches[0]["view1"].equal(&batches[0]["view2"]));
    assert_eq!(batches[2]["labels"].size(), [2]);
    let plain = Loader::new(ds, 4, ImageBatch::new(Transforms::new())).workers(0);
    let err = plain.epoch(0).next().map(|b| b.map(|_| ())).unwrap_or(Ok(()));
    assert!(err.is_err_and(|e| e.to_string().contains("resize")), "images of two sizes cannot stack");
    Ok(())
}
