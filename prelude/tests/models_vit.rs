//! ViT against the golden fixture of `make_fixtures.py`: classification logits and the
//! encoder's hidden states (a base model loaded from the head checkpoint).

mod models_support;

use models_support::{expected, fixture, max_abs};
use tuna::models::*;
use tuna::Result;

#[test]
fn image_classification_matches_python() -> Result<()> {
    let e = expected("vit");
    let pixels = e.require("pixel_values")?;
    let model = ViTForImageClassification::from_pretrained(fixture("vit"))?;
    assert!(model.load_report().unwrap().is_complete(), "{}", model.load_report().unwrap().summary());
    let logits = tch::no_grad(|| model.forward(pixels));
    assert_eq!(logits.size(), [2, 5]);
    let d = max_abs(&logits, e.require("logits")?);
    println!("vit: max-abs logits {d:.2e}");
    assert!(d < 1e-5);
    Ok(())
}

#[test]
fn base_model_from_the_head_checkpoint_matches_python() -> Result<()> {
    let e = expected("vit");
    let model = ViTModel::from_pretrained(fixture("vit"))?;
    let report = model.load_report().unwrap();
    assert_eq!(report.missing, ["pooler.dense.bias", "pooler.dense.weight"]);
    assert_eq!(report.unexpected, ["classifier.bias", "classifier.weight"]);
    let pixels = e.require("pixel_values")?;
    let hidden = tch::no_grad(|| model.forward(pixels));
    let d = max_abs(&hidden, e.require("last_hidden_state")?);
    println!("vit: max-abs hidden {d:.2e}");
    assert!(d < 1e-5);
    Ok(())
}
