//! LoRA on tuna's models: merging into the base weights (GPT-2's transposed Conv1D included)
//! gives the unmerged outputs; adapters switch on and off, several live on one model, one can
//! be deleted; and bad input is a clear error.

mod tune_support;

use tune_support::*;
use tuna::models::*;
use tuna::tune::*;
use tuna::{Error, Result};

/// libtorch's random generator is process-wide and tests run on parallel threads: a test that
/// seeds (`perturb`, the trainer) while another draws gets other numbers, and on these tiny
/// fixtures a LoRA update can then move the logits by less than the 1e-4 the tests look for
/// (seen: 7 runs in 160 before tests held this lock and seeded the adapters' initialisation).
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn seeded() -> std::sync::MutexGuard<'static, ()> {
    SEEDED.lock().unwrap_or_else(|e| e.into_inner())
}

fn lora_bert(config: LoraConfig) -> Result<Tuned<BertForSequenceClassification>> {
    // LoRA's A is drawn when the adapter is attached: seed it, or its values (and so how far
    // the logits move) depend on which test ran before.
    tch::manual_seed(0);
    let m = bert().tune(&Strategy::Lora(config))?;
    perturb(m.var_store(), 11);
    Ok(m)
}

#[test]
fn merged_equals_unmerged_and_unmerge_restores_the_base() -> Result<()> {
    let _seeded = seeded();
    let mut m = lora_bert(LoraConfig::rank(4).alpha(8.0).targets(r".*\.(query|value|dense)").modules_to_save(["classifier"]))?;
    let query = "bert.encoder.layer.0.attention.self.query.weight";
    let w0 = m.var_store().variables()[query].copy();
    let unmerged_bert = tch::no_grad(|| bert_logits(&m));
    let unmerged = unmerged_bert.shallow_clone();
    m.merge()?;
    assert!(max_abs(&m.var_store().variables()[query], &w0) > 1e-4, "merging changes the base weight");
    assert!(max_abs(&tch::no_grad(|| bert_logits(&m)), &unmerged) <= 1e-5);
    m.unmerge()?;
    assert!(max_abs(&m.var_store().variables()[query], &w0) <= 1e-6);
    assert!(max_abs(&tch::no_grad(|| bert_logits(&m)), &unmerged) <= 1e-5);

    let mut g = gpt2().tune(&Strategy::Lora(LoraConfig::rank(3).targets(["c_attn", "c_proj", "c_fc"])))?;
    perturb(g.var_store(), 12);
    let unmerged = tch::no_grad(|| gpt2_logits(&g));
    g.merge()?;
    assert!(max_abs(&tch::no_grad(|| gpt2_logits(&g)), &unmerged) <= 1e-5, "Conv1D (in, out) layout");

    // merge_and_unload: a plain model with the same outputs and no adapter tensors left.
    let plain = m.merge_and_unload()?;
    assert!(max_abs(&tch::no_grad(|| bert_logits(&plain)), &unmerged_bert) <= 1e-5);
    assert!(plain.var_store().variables().keys().all(|k| !k.contains("lora_") && !k.contains("modules_to_save")));
    assert!(plain.linears().iter().all(|(_, l)| l.adapters().is_empty()));
    Ok(())
}

/// DoRA and (IA)³ merge too, in BERT's (out, in) and GPT-2's (in, out) layouts, and unmerge back.
#[test]
fn dora_and_ia3_merge_and_unmerge() -> Result<()> {
    let _seeded = seeded();
    let query = "bert.encoder.layer.0.attention.self.query.weight";
    let mut m = lora_bert(LoraConfig::rank(4).alpha(8.0).use_dora(true).targets(r".*\.(query|value|dense)"))?;
    assert!(m.var_store().variables().contains_key("bert.encoder.layer.0.attention.self.query.lora_magnitude_vector.default.weight"));
    let w0 = m.var_store().variables()[query].copy();
    let unmerged = tch::no_grad(|| bert_logits(&m));
    assert!(max_abs(&unmerged, &tch::no_grad(|| bert_logits(&bert()))) > 1e-4);
    m.merge()?;
    assert!(max_abs(&tch::no_grad(|| bert_logits(&m)), &unmerged) <= 1e-5, "DoRA merged");
    m.unmerge()?;
    assert!(max_abs(&m.var_store().variables()[query], &w0) <= 1e-5);
    assert!(max_abs(&tch::no_grad(|| bert_logits(&m)), &unmerged) <= 1e-5);

    let mut g = gpt2().tune(&Strategy::Lora(LoraConfig::rank(3).use_dora(true).targets(["c_attn", "c_fc"])))?;
    perturb(g.var_store(), 13);
    let unmerged = tch::no_grad(|| gpt2_logits(&g));
    g.merge()?;
    assert!(max_abs(&tch::no_grad(|| gpt2_logits(&g)), &unmerged) <= 1e-5, "DoRA merged into Conv1D");

    let mut m = bert().tune(&Strategy::Ia3(Ia3Config::new(["key", "value", "output.dense"], ["output.dense"])))?;
    perturb(m.var_store(), 14);
    let unmerged = tch::no_grad(|| bert_logits(&m));
    m.merge()?;
    assert!(max_abs(&tch::no_grad(|| bert_logits(&m)), &unmerged) <= 1e-5, "(IA)³ merged");
    m.unmerge()?;
    assert!(max_abs(&tch::no_grad(|| bert_logits(&m)), &unmerged) <= 1e-5, "(IA)³ unmerged");
    let mut g = gpt2().tune(&Strategy::Ia3(Ia3Config::new(["c_attn", "mlp.c_proj"], ["mlp.c_proj"])))?;
    perturb(g.var_store(), 15);
    let unmerged = tch::no_grad(|| gpt2_logits(&g));
    let w0 = g.var_store().variables()["transformer.h.0.mlp.c_proj.weight"].copy();
    g.merge()?;
    assert!(max_abs(&g.var_store().variables()["transformer.h.0.mlp.c_proj.weight"], &w0) > 1e-4, "merging changes the base weight");
    assert!(max_abs(&tch::no_grad(|| gpt2_logits(&g)), &unmerged) <= 1e-5, "(IA)³ merged into Conv1D");
    g.unmerge()?;
    assert!(max_abs(&g.var_store().variables()["transformer.h.0.mlp.c_proj.weight"], &w0) <= 1e-5);
    Ok(())
}

#[test]
fn adapters_switch_disable_and_delete() -> Result<()> {
    let _seeded = seeded();
    let base = tch::no_grad(|| bert_logits(&bert()));
    let mut m = lora_bert(LoraConfig::rank(4).targets(["query", "value"]))?;
    let first = tch::no_grad(|| bert_logits(&m));
    assert!(max_abs(&first, &base) > 1e-4);

    m.disable_adapters()?;
    assert!(max_abs(&tch::no_grad(|| bert_logits(&m)), &base) == 0.0);
    m.enable_adapters();
    assert!(max_abs(&tch::no_grad(|| bert_logits(&m)), &first) == 0.0);

    m.add_adapter("second", &LoraConfig::rank(2).init(LoraInit::Gaussian).targets(["key"]).modules_to_save(["classifier"]))?;
    assert_eq!(m.active_adapter().as_deref(), Some("default"));
    m.set_adapter("second")?;
    let vars = m.var_store().variables();
    let trainable: Vec<&String> = vars.iter().filter(|(_, t)| t.requires_grad()).map(|(n, _)| n).collect();
    assert!(!trainable.is_empty() && trainable.iter().all(|n| n.contains(".second.")), "{trainable:?}");
    // B starts at zero and the classifier copy equals the original: the base model's outputs.
    assert!(max_abs(&tch::no_grad(|| bert_logits(&m)), &base) <= 1e-6);

    let dir = temp_dir("tune-two-adapters");
    // As PEFT's `save_pretrained`: the adapters only, `default` at the top, others below.
    m.save_pretrained(&dir)?;
    assert!(!dir.join("model.safetensors").exists());
    assert!(dir.join("adapter_model.safetensors").is_file() && dir.join("second/adapter_config.json").is_file());

    m.delete_adapter("second")?;
    assert_eq!(m.adapter_names(), ["default"]);
    assert_eq!(m.active_adapter().as_deref(), Some("default"));
    assert!(m.var_store().variables().keys().all(|k| !k.contains(".second.")));
    assert!(max_abs(&tch::no_grad(|| bert_logits(&m)), &first) == 0.0);
    assert!(matches!(m.set_adapter("second"), Err(Error::Config { .. })));
    Ok(())
}

#[test]
fn lora_dropout_only_while_training() -> Result<()> {
    let _seeded = seeded();
    // The model's own dropout off, so that only LoRA's can change the outputs.
    let quiet = || {
        BertForSequenceClassification::pretrained(fixture("bert_seqcls"))
            .configure(|c| {
                c.hidden_dropout_prob = 0.0;
                c.attention_probs_dropout_prob = 0.0;
            })
            .load()
    };
    for (p, changes) in [(0.0, false), (0.5, true)] {
        let mut m = quiet()?.tune(&Strategy::Lora(LoraConfig::rank(4).dropout(p).targets(["query", "value"])))?;
        perturb(m.var_store(), 13);
        let eval = tch::no_grad(|| bert_logits(&m));
        m.set_training(true);
        tch::manual_seed(3);
        let train = tch::no_grad(|| bert_logits(&m));
        assert_eq!(max_abs(&train, &eval) > 0.0, changes, "lora_dropout {p}");
        m.set_training(false);
        assert!(max_abs(&tch::no_grad(|| bert_logits(&m)), &eval) == 0.0);
    }
    Ok(())
}

#[test]
fn bad_input_is_a_clear_error() -> Result<()> {
    let _seeded = seeded();
    // Targets that match nothing: the error lists the layers that exist.
    let err = bert().tune(&Strategy::Lora(LoraConfig::rank(4).targets(["q_proj"]))).err().expect("error");
    let text = err.to_string();
    assert!(matches!(err, Error::NoSuchLayer { .. }), "{text}");
    assert!(text.contains("q_proj") && text.contains("bert.encoder.layer.0.attention.self.query"), "{text}");

    let err = bert().tune(&Strategy::Lora(LoraConfig::rank(0))).err().expect("error");
    assert!(matches!(&err, Error::Config { key, .. } if key == "r"), "{err}");

    let err = bert().tune(&Strategy::Lora(LoraConfig::rank(2).targets(".*query").layers_to_transform([0]))).err().expect("error");
    assert!(err.to_string().contains("layers_to_transform"), "{err}");
    let err = bert().tune(&Strategy::freeze([Freeze::Lowest(3)])).err().expect("error");
    assert!(err.to_string().contains("has 2"), "{err}");
    let err = bert().tune(&Strategy::freeze([Freeze::Matching(Targets::regex("nothing.*"))])).err().expect("error");
    assert!(matches!(err, Error::NoSuchLayer { .. }), "{err}");

    // An adapter for another architecture.
    let mut m = Tuned::wrap(bert());
    let err = m.load_adapter(tune_fixture("peft_gpt2"), "default").unwrap_err().to_string();
    assert!(err.contains("GPT2LMHeadModel") && err.contains("BertForSequenceClassification"), "{err}");
    assert!(m.adapter_names().is_empty());

    // Wrong shapes: a config that claims rank 8 over rank-4 tensors.
    let dir = temp_dir("tune-wrong-shapes");
    std::fs::copy(tune_fixture("peft_bert/adapter_model.safetensors"), dir.join("adapter_model.safetensors")).unwrap();
    let config = std::fs::read_to_string(tune_fixture("peft_bert/adapter_config.json")).unwrap().replace("\"r\": 4", "\"r\": 8");
    std::fs::write(dir.join("adapter_config.json"), config).unwrap();
    let err = m.load_adapter(&dir, "default").unwrap_err().to_string();
    assert!(err.contains("shape [4, 32]") && err.contains("needs [8, 32]"), "{err}");
    // The failed load leaves nothing behind.
    assert!(m.adapter_names().is_empty());
    assert!(m.var_store().variables().keys().all(|k| !k.contains("lora_")));
    Ok(())
}

#[test]
fn the_trainers_objective_reaches_the_adapters_only() -> Result<()> {
    let _seeded = seeded();
    use tuna::data::Batch;
    use tuna::train::{LossOptions, Objective};
    let m = bert().tune(&Strategy::Lora(LoraConfig::rank(4).targets(["query", "value"]).modules_to_save(["classifier"])))?;
    let (ids, mask) = bert_inputs();
    let batch = Batch::new().tensor("input_ids", ids).tensor("attention_mask", mask).tensor("labels", tch::Tensor::from_slice(&[0i64, 2]));
    m.compute(&batch, &LossOptions::default())?.loss.backward();
    for (name, t) in m.var_store().variables() {
        let adapter = name.contains(".lora_") || name.contains(".modules_to_save.");
        assert_eq!(t.grad().defined(), adapter, "`{name}`");
    }
    Ok(())
}
