//! Convergence of the vision objectives on tiny images (tch's `optimizer_test` pattern;
//! synthetic rectangles, and 512 Fashion-MNIST images for MAE): image classification (ViT), SimCLR and MAE each bring the training loss under a
//! stated bound after a fixed number of steps, and an MAE-pretrained encoder loads into a
//! classifier.

mod train_support;

use train_support::{assert_above, assert_below, locked, seeded};
use tuna::data::{Dataset, Image, ImageBatch, Transforms, TwoViews};
use tuna::models::{ModelConfig, PretrainedModel, ViTConfig, ViTForImageClassification};
use tuna::train::{Run, Trainer, ViTForSimCLR, ViTMAEConfig, ViTMAEForPreTraining};
use tuna::Result;

/// 28×28 grey images of one bright rectangle on black, of random size and place; the class is
/// the quadrant its centre falls in. With `noise`, a little pixel noise on top.
fn rectangles(n: usize, seed: u64, noise: bool) -> Result<Dataset<Image>> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = |m: u64| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % m
    };
    let (mut items, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (w, h) = (6 + next(8) as usize, 6 + next(8) as usize);
        let (x0, y0) = (next(28 - w as u64) as usize, next(28 - h as u64) as usize);
        let mut pixels: Vec<u8> = (0..28 * 28).map(|_| if noise { next(24) as u8 } else { 0 }).collect();
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                pixels[y * 28 + x] = if noise { 200 + next(56) as u8 } else { 255 };
            }
        }
        let (cx, cy) = (x0 + w / 2, y0 + h / 2);
        labels.push(usize::from(cx >= 14) + 2 * usize::from(cy >= 14));
        items.push(Image::new(28, 28, 1, pixels)?);
    }
    Dataset::labelled("rectangles", items, labels, ["top left", "top right", "bottom left", "bottom right"].map(String::from).to_vec())
}

fn mean_last(run: &Run, n: usize) -> f64 {
    let s = &run.history.steps;
    let tail = &s[s.len().saturating_sub(n)..];
    tail.iter().map(|r| r.loss).sum::<f64>() / tail.len() as f64
}

fn tiny_vit(classes: usize) -> ViTConfig {
    let mut c = ViTConfig::tiny();
    c.set_num_labels(classes);
    c
}

#[test]
fn image_classification_converges_and_ranks() -> Result<()> {
    const TEST: &str = "image_classification_converges_and_ranks";
    let _lock = locked();
    tch::manual_seed(seeded(0) as i64);
    let (train, valid) = (rectangles(512, seeded(1), true)?, rectangles(128, seeded(2), true)?);
    let model = ViTForImageClassification::new(tiny_vit(4))?;
    // lr 3e-3 and 8 epochs left the training loss at 0.41 on one seed (bound 0.4); lr 1e-3 and 10
    // epochs leave at most 0.32 over the seeds tried.
    let mut trainer = Trainer::new(model, ImageBatch::default()).seed(seeded(42)).epochs(10).batch_size(32).lr(1e-3).warmup_ratio(0.1).live_plot(false);
    let run = trainer.fit(&train, Some(&valid))?;
    let (first, last) = (run.history.steps[0].loss, mean_last(&run, 8));
    let eval = run.last_eval.expect("evaluated each epoch");
    println!("image classification: loss {first:.3} → {last:.3}\n{}", eval.text());
    assert_eq!(run.step, 160);
    // Chance: ln 4 = 1.39 (loss), 0.25 (accuracy), 0.5 (ROC-AUC).
    assert_below(TEST, "loss after 160 steps", last, 0.4, 4f64.ln());
    assert_above(TEST, "accuracy", eval.metric("accuracy").unwrap(), 0.75, 0.25);
    // Scores rank well too: one-vs-rest ROC-AUC and top-3 accuracy come with the evaluation.
    assert_above(TEST, "roc_auc", eval.metric("roc_auc").unwrap(), 0.95, 0.5);
    assert!(eval.metric("top3_accuracy").unwrap() >= eval.metric("accuracy").unwrap());
    let curve = eval.roc_curve(3);
    assert!(curve.len() > 2 && curve.last().map(|p| (p.fpr, p.tpr)) == Some((1.0, 1.0)), "{curve:?}");
    Ok(())
}

#[test]
fn simclr_views_learn_to_find_their_twin() -> Result<()> {
    const TEST: &str = "simclr_views_learn_to_find_their_twin";
    let _lock = locked();
    tch::manual_seed(seeded(0) as i64);
    let train = rectangles(512, seeded(3), true)?;
    let model = ViTForSimCLR::new(ViTConfig::tiny())?.temperature(0.1);
    let views = TwoViews::new(Transforms::new().random_resized_crop(28, 28, (0.8, 1.0)));
    // lr 3e-3 without warm-up at temperature 0.2 learnt too slowly for the seed to stop mattering:
    // twin accuracy 0.11–0.27 after 100 steps over seeds and CPU kernels (0.14 on two machines).
    // This recipe reaches 0.67–0.69 on every seed tried; 256 held-out images (8 batches of 32)
    // make the accuracy a less noisy measurement than 64 did.
    let mut trainer = Trainer::new(model, views).seed(seeded(42)).max_steps(150).batch_size(32).lr(1e-3).warmup_ratio(0.1).live_plot(false);
    let run = trainer.fit(&train, Some(&rectangles(256, seeded(4), true)?))?;
    let (first, last) = (run.history.steps[0].loss, mean_last(&run, 8));
    let eval = run.last_eval.expect("evaluated at the end");
    println!("SimCLR: loss {first:.3} → {last:.3}\n{}", eval.text());
    // Chance is ln(63) = 4.14 for a batch of 32 (63 candidates per view).
    assert_above(TEST, "first NT-Xent (starts near chance)", first, 3.0, 63f64.ln());
    assert_below(TEST, "NT-Xent after 150 steps", last, 2.5, 63f64.ln());
    assert_above(TEST, "twin accuracy", eval.metric("accuracy").unwrap(), 0.3, 1.0 / 63.0);
    assert!(eval.metric("perplexity").is_none());
    Ok(())
}

#[test]
fn mae_reconstructs_masked_patches_and_its_encoder_transfers() -> Result<()> {
    let _lock = locked();
    tch::manual_seed(seeded(0) as i64);
    let train = tuna::data::fashion_mnist(tuna::data::Split::Test)?.subsample(512, seeded(0))?;
    // Raw-pixel targets: the per-patch normalised ones of the default learn too slowly on a
    // tiny model to show in seconds.
    let model = ViTMAEForPreTraining::new(ViTMAEConfig { norm_pix_loss: false, ..ViTMAEConfig::tiny() })?;
    let mut trainer = Trainer::new(model, ImageBatch::default()).seed(seeded(42)).max_steps(200).batch_size(32).lr(1e-3).warmup_ratio(0.1).live_plot(false);
    let run = trainer.fit(&train, None)?;
    let (first, last) = (run.history.steps[0].loss, mean_last(&run, 8));
    println!("MAE: loss {first:.3} → {last:.3}");
    // Chance: an untrained decoder keeps the loss where it started (ratio 1).
    assert_below("mae_reconstructs_masked_patches_and_its_encoder_transfers", "loss after 200 steps / first loss", last / first, 0.5, 1.0);

    // 75 % of the 49 patches are removed; the loss only counts those.
    let pixels = tuna::data::Collate::collate(&ImageBatch::default(), &train.iter().take(4).collect::<Vec<_>>(), 0)?;
    let out = trainer.model().forward(&pixels["pixel_values"])?;
    assert_eq!(out.mask.sum(tch::Kind::Float).double_value(&[]), 4.0 * 37.0);
    assert_eq!(out.pred.size(), [4, 49, 16]);

    // The encoder (`vit.`) loads into a classifier; the decoder is left out.
    let dir = std::env::temp_dir().join(format!("tuna-mae-{}", std::process::id()));
    trainer.model().save_pretrained(&dir)?;
    let classifier = ViTForImageClassification::pretrained(&dir).num_labels(4).load()?;
    let report = classifier.load_report().expect("loaded from a folder");
    assert!(report.missing.iter().all(|k| k.starts_with("classifier.")), "{:?}", report.missing);
    assert!(report.unexpected.iter().all(|k| k.starts_with("decoder.")), "{:?}", report.unexpected);
    let a = trainer.model().vit.layers[1].query.weight.shallow_clone();
    assert!(a.equal(&classifier.vit.layers[1].query.weight));
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
