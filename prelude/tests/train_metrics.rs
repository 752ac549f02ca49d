//! Evaluation metrics against scikit-learn: ROC curve and ROC-AUC (binary, with tied scores,
//! and one-vs-rest macro over four classes), top-k accuracy, sensitivity / specificity and
//! per-class precision / recall / F1. The numbers come from
//! `tests/fixtures/train/make_metrics.py` (its output `metrics.json` is committed with it).

use serde_json::Value;
use std::path::PathBuf;
use tch::Tensor;
use tuna::train::{roc_auc, roc_curve, top_k_accuracy, ClassMetrics, Scored};

fn golden() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/train/metrics.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("metrics.json")).expect("valid JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap_or(f64::INFINITY)).collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12 || (a.is_infinite() && a == b)
}

#[test]
fn binary_roc_matches_scikit_learn() {
    let g = golden();
    let b = &g["binary"];
    let (scores, labels) = (floats(&b["scores"]), ints(&b["labels"]));
    let curve = roc_curve(&scores, &labels, 1);
    let (fpr, tpr, thr) = (floats(&b["roc_fpr"]), floats(&b["roc_tpr"]), floats(&b["roc_threshold"]));
    assert_eq!(curve.len(), fpr.len(), "points: {curve:?}");
    for (i, p) in curve.iter().enumerate() {
        assert!(close(p.fpr, fpr[i]) && close(p.tpr, tpr[i]) && close(p.threshold, thr[i]), "point {i}: {p:?} vs ({}, {}, {})", fpr[i], tpr[i], thr[i]);
    }
    let auc = roc_auc(&scores, &labels, 1).unwrap();
    assert!(close(auc, b["roc_auc"].as_f64().unwrap()), "auc {auc}");
    // Labels flipped: class 0 as the positive one scores 1 − AUC on the negated scores.
    let negated: Vec<f64> = scores.iter().map(|s| -s).collect();
    assert!(close(roc_auc(&negated, &labels, 0).unwrap(), auc));
}

#[test]
fn sensitivity_and_specificity_match_scikit_learn() {
    let g = golden();
    let b = &g["binary"];
    let m = ClassMetrics::new(&ints(&b["predicted"]), &ints(&b["labels"]), &[]);
    let v = m.values();
    assert!(close(v["sensitivity"], b["sensitivity"].as_f64().unwrap()), "{v:?}");
    assert!(close(v["specificity"], b["specificity"].as_f64().unwrap()), "{v:?}");
    // Three classes have neither.
    assert!(!ClassMetrics::new(&[0, 1, 2], &[0, 1, 2], &[]).values().contains_key("sensitivity"));
}

#[test]
fn multiclass_auc_and_top_k_match_scikit_learn() -> tuna::Result<()> {
    let g = golden();
    let m = &g["multiclass"];
    let rows: Vec<Vec<f64>> = m["logits"].as_array().unwrap().iter().map(floats).collect();
    let targets = ints(&m["targets"]);
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let logits = Tensor::from_slice(&flat).view([rows.len() as i64, 4]);
    let mut scored = Scored::default();
    // Two batches, as an evaluation sees them.
    scored.push(&logits.narrow(0, 0, 30), &Tensor::from_slice(&targets[..30]))?;
    scored.push(&logits.narrow(0, 30, 50), &Tensor::from_slice(&targets[30..]))?;
    let auc = scored.roc_auc().unwrap();
    assert!((auc - m["roc_auc_ovr_macro"].as_f64().unwrap()).abs() < 1e-9, "ovr auc {auc}");
    for k in 1..=3 {
        let want = m["top_k"][k.to_string()].as_f64().unwrap();
        assert!(close(scored.top_k_accuracy(k), want), "top-{k}: {} vs {want}", scored.top_k_accuracy(k));
        assert!(close(top_k_accuracy(&rows, &targets, k), want));
    }
    assert_eq!(scored.values().keys().collect::<Vec<_>>(), ["roc_auc", "top3_accuracy"]);
    let predicted: Vec<i64> = Vec::try_from(logits.argmax(-1, false))?;
    let c = ClassMetrics::new(&predicted, &targets, &[]);
    for (i, s) in c.classes.iter().enumerate() {
        assert!((s.precision - m["precision"][i].as_f64().unwrap()).abs() < 1e-12, "class {i}");
        assert!((s.recall - m["recall"][i].as_f64().unwrap()).abs() < 1e-12, "class {i}");
        assert!((s.f1 - m["f1"][i].as_f64().unwrap()).abs() < 1e-12, "class {i}");
    }
    Ok(())
}
