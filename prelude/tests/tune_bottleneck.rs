//! Bottleneck adapters (Houlsby, Pfeiffer, parallel) on tuna's models: they start as the identity,
//! change the outputs once trained, go to disk and back with the same logits, and bad input — a
//! file for another architecture, wrong shapes, reduction factor 0 — is a clear error.

mod tune_support;

use tune_support::*;
use tuna::models::*;
use tuna::tune::*;
use tuna::{Error, Result};

#[test]
fn adapters_start_as_identity_and_round_trip_through_files() -> Result<()> {
    let root = temp_dir("tune-bottleneck");
    let base = tch::no_grad(|| bert_logits(&bert()));
    for (i, config) in [
        AdapterConfig::new(AdapterKind::Houlsby).reduction_factor(4).modules_to_save(["classifier"]),
        AdapterConfig::new(AdapterKind::Pfeiffer).reduction_factor(8).activation(AdapterActivation::Gelu).parallel(2.0),
        AdapterConfig::new(AdapterKind::Pfeiffer).reduction_factor(2).residual(false),
    ]
    .into_iter()
    .enumerate()
    {
        let m = bert().tune(&Strategy::Adapter(config.clone()))?;
        let fresh = tch::no_grad(|| bert_logits(&m));
        if config.residual {
            assert_eq!(max_abs(&fresh, &base), 0.0, "case {i}: up starts at zero, the model unchanged");
        }
        perturb(m.var_store(), 40 + i as i64);
        let trained = tch::no_grad(|| bert_logits(&m));
        assert!(max_abs(&trained, &base) > 1e-4, "case {i}");
        let dir = root.join(format!("bert{i}"));
        m.save_adapter(&dir)?;
        let mut again = Tuned::wrap(bert());
        again.load_adapter(&dir, "default")?;
        assert_eq!(max_abs(&tch::no_grad(|| bert_logits(&again)), &trained), 0.0, "case {i}: loaded");
        let mut m = m;
        assert!(m.merge().unwrap_err().to_string().contains("does not merge"));
        m.disable_adapters()?;
        assert_eq!(max_abs(&tch::no_grad(|| bert_logits(&m)), &base), 0.0, "case {i}: disabled");
    }
    // GPT-2's Conv1D projections.
    let g = gpt2().tune(&Strategy::Adapter(AdapterConfig::new(AdapterKind::Houlsby).reduction_factor(4)))?;
    assert_eq!(g.var_store().variables()["transformer.h.0.attn.c_proj.adapters.default.adapter_up.weight"].size(), [32, 8]);
    perturb(g.var_store(), 50);
    let dir = root.join("gpt2");
    g.save_adapter(&dir)?;
    let mut again = Tuned::wrap(gpt2());
    again.load_adapter(&dir, "default")?;
    assert_eq!(max_abs(&tch::no_grad(|| gpt2_logits(&again)), &tch::no_grad(|| gpt2_logits(&g))), 0.0);

    // Another architecture; wrong shapes (a reduction factor the tensors do not have); factor 0.
    let mut v = Tuned::wrap(vit());
    let err = v.load_adapter(&dir, "default").unwrap_err().to_string();
    assert!(err.contains("GPT2LMHeadModel") && err.contains("ViTForImageClassification"), "{err}");
    let bad = root.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::copy(dir.join("adapter_model.safetensors"), bad.join("adapter_model.safetensors")).unwrap();
    let config = std::fs::read_to_string(dir.join("adapter_config.json")).unwrap().replace("\"reduction_factor\": 4", "\"reduction_factor\": 2");
    std::fs::write(bad.join("adapter_config.json"), config).unwrap();
    let mut g2 = Tuned::wrap(gpt2());
    let err = g2.load_adapter(&bad, "default").unwrap_err().to_string();
    assert!(err.contains("adapter_down.weight") && err.contains("shape"), "{err}");
    assert!(g2.adapter_names().is_empty(), "a failed load leaves no adapter behind");
    let err = bert().tune(&Strategy::Adapter(AdapterConfig::new(AdapterKind::Pfeiffer).reduction_factor(0))).err().expect("error");
    assert!(matches!(&err, Error::Config { key, .. } if key == "reduction_factor"), "{err}");
    Ok(())
}
