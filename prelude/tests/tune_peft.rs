//! LoRA and (IA)³ adapters between tuna and Python PEFT 0.21.2, both ways: adapters PEFT wrote
//! (`tests/fixtures/tune/peft_*`, by `make_fixtures.py`) load in tuna and give PEFT's logits; adapters
//! tuna writes load with `PeftModel.from_pretrained` in the venv and give tuna's logits (≤ 1e-5).

mod tune_support;

use tch::Tensor;
use tune_support::*;
use tuna::models::*;
use tuna::tune::*;
use tuna::Result;

#[test]
fn adapters_written_by_peft_give_peft_logits() -> Result<()> {
    let mut m = Tuned::wrap(bert());
    m.load_adapter(tune_fixture("peft_bert"), "default")?;
    let want = Checkpoint::from_file(&tune_fixture("peft_bert/expected.safetensors"))?;
    let d = max_abs(&tch::no_grad(|| bert_logits(&m)), want.require("logits")?);
    assert!(d <= 1e-5, "bert: max-abs {d}");
    assert_eq!(m.adapter_config("default").map(|c| (c.r, c.alpha)), Some((4, 8.0)));
    // Only the adapter, the classifier copy and the LoRA layers' biases train, as in PEFT.
    assert_eq!(m.summary().trainable, 4 * (4 * 32 + 32 * 4) + 4 * 32 + (32 * 3 + 3));

    let mut m = Tuned::wrap(bert());
    m.load_adapter(tune_fixture("peft_bert_ia3"), "default")?;
    let want = Checkpoint::from_file(&tune_fixture("peft_bert_ia3/expected.safetensors"))?;
    let d = max_abs(&tch::no_grad(|| bert_logits(&m)), want.require("logits")?);
    assert!(d <= 1e-5, "bert (IA)³: max-abs {d}");

    // DoRA: magnitude vectors, on BERT's linear layers and GPT-2's Conv1D; merged too.
    let mut m = Tuned::wrap(bert());
    m.load_adapter(tune_fixture("peft_bert_dora"), "default")?;
    assert!(m.adapter_config("default").is_some_and(|c| c.use_dora));
    let want = Checkpoint::from_file(&tune_fixture("peft_bert_dora/expected.safetensors"))?;
    let d = max_abs(&tch::no_grad(|| bert_logits(&m)), want.require("logits")?);
    assert!(d <= 1e-5, "bert DoRA: max-abs {d}");
    m.merge()?;
    let d = max_abs(&tch::no_grad(|| bert_logits(&m)), want.require("logits")?);
    assert!(d <= 1e-5, "bert DoRA merged: max-abs {d}");
    let mut g = Tuned::wrap(gpt2());
    g.load_adapter(tune_fixture("peft_gpt2_dora"), "default")?;
    let want = Checkpoint::from_file(&tune_fixture("peft_gpt2_dora/expected.safetensors"))?;
    let d = max_abs(&tch::no_grad(|| gpt2_logits(&g)), want.require("logits")?);
    assert!(d <= 1e-5, "gpt2 DoRA: max-abs {d}");

    let mut g = Tuned::wrap(gpt2());
    g.load_adapter(tune_fixture("peft_gpt2"), "default")?;
    let want = Checkpoint::from_file(&tune_fixture("peft_gpt2/expected.safetensors"))?;
    let d = max_abs(&tch::no_grad(|| gpt2_logits(&g)), want.require("logits")?);
    assert!(d <= 1e-5, "gpt2 (Conv1D, rsLoRA): max-abs {d}");
    // Merging into GPT-2's (in, out) Conv1D weights keeps the logits.
    g.merge()?;
    let d = max_abs(&tch::no_grad(|| gpt2_logits(&g)), want.require("logits")?);
    assert!(d <= 1e-5, "gpt2 merged: max-abs {d}");
    Ok(())
}

#[test]
fn python_peft_loads_what_tuna_saves_and_computes_the_same_logits() -> Result<()> {
    let root = temp_dir("tune-peft");
    let mut ours: Vec<(std::path::PathBuf, Tensor)> = Vec::new();

    let lora = LoraConfig::rank(4).alpha(8.0).targets(["query", "value"]).modules_to_save(["classifier"]).bias(LoraBias::LoraOnly);
    let m = bert().tune(&Strategy::Lora(lora))?;
    perturb(m.var_store(), 1);
    let dir = root.join("bert");
    m.save_adapter(&dir)?;
    let (ids, mask) = bert_inputs();
    write_for_python(&dir, "bert_seqcls", &[("input_ids", ids), ("attention_mask", mask)]);
    ours.push((dir, tch::no_grad(|| bert_logits(&m))));

    let g = gpt2().tune(&Strategy::Lora(LoraConfig::rank(4).alpha(16.0).use_rslora(true).targets(r".*\.(c_attn|c_fc)")))?;
    perturb(g.var_store(), 2);
    let dir = root.join("gpt2");
    g.save_adapter(&dir)?;
    write_for_python(&dir, "gpt2", &[("input_ids", gpt2_inputs())]);
    ours.push((dir, tch::no_grad(|| gpt2_logits(&g))));

    // ViT: transformers 5 names these modules `vit.layers.N.attention.q_proj`; tuna writes those.
    let v = vit().tune(&Strategy::Lora(LoraConfig::rank(2).targets(["query", "value", "dense"]).modules_to_save(["classifier"])))?;
    perturb(v.var_store(), 3);
    let dir = root.join("vit");
    v.save_adapter(&dir)?;
    write_for_python(&dir, "vit", &[("pixel_values", vit_inputs())]);
    ours.push((dir, tch::no_grad(|| vit_logits(&v))));

    // DoRA on BERT and on GPT-2's Conv1D.
    let m = bert().tune(&Strategy::Lora(LoraConfig::rank(4).alpha(8.0).use_dora(true).targets(["query", "value", "dense"])))?;
    perturb(m.var_store(), 6);
    let dir = root.join("bert_dora");
    m.save_adapter(&dir)?;
    let (ids, mask) = bert_inputs();
    write_for_python(&dir, "bert_seqcls", &[("input_ids", ids), ("attention_mask", mask)]);
    ours.push((dir, tch::no_grad(|| bert_logits(&m))));
    let g = gpt2().tune(&Strategy::Lora(LoraConfig::rank(2).use_dora(true).targets(["c_attn", "c_fc"])))?;
    perturb(g.var_store(), 7);
    let dir = root.join("gpt2_dora");
    g.save_adapter(&dir)?;
    write_for_python(&dir, "gpt2", &[("input_ids", gpt2_inputs())]);
    ours.push((dir, tch::no_grad(|| gpt2_logits(&g))));

    // (IA)³ on GPT-2's Conv1D layers, input-scaled on the feed-forward projection; and on ViT.
    let g = gpt2().tune(&Strategy::Ia3(Ia3Config::new(["c_attn", "mlp.c_proj"], ["mlp.c_proj"])))?;
    perturb(g.var_store(), 4);
    let dir = root.join("gpt2_ia3");
    g.save_adapter(&dir)?;
    write_for_python(&dir, "gpt2", &[("input_ids", gpt2_inputs())]);
    ours.push((dir, tch::no_grad(|| gpt2_logits(&g))));
    let ff = r".*\.layer\.\d+\.output\.dense";
    let v = vit().tune(&Strategy::Ia3(Ia3Config::new(format!(r".*\.(key|value)|{ff}").as_str(), ff).modules_to_save(["classifier"])))?;
    perturb(v.var_store(), 5);
    let dir = root.join("vit_ia3");
    v.save_adapter(&dir)?;
    write_for_python(&dir, "vit", &[("pixel_values", vit_inputs())]);
    ours.push((dir, tch::no_grad(|| vit_logits(&v))));

    python_peft_agrees(&ours);
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ours[0].0.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["auto_mapping"]["base_model_class"], "BertForSequenceClassification");

    // And back into tuna: the same logits.
    let mut again = Tuned::wrap(bert());
    again.load_adapter(&ours[0].0, "default")?;
    assert!(max_abs(&tch::no_grad(|| bert_logits(&again)), &ours[0].1) <= 1e-6);
    let mut again = Tuned::wrap(vit());
    again.load_adapter(&ours[2].0, "default")?;
    assert!(max_abs(&tch::no_grad(|| vit_logits(&again)), &ours[2].1) <= 1e-6);
    let mut again = Tuned::wrap(vit());
    again.load_adapter(&ours[6].0, "default")?;
    assert!(max_abs(&tch::no_grad(|| vit_logits(&again)), &ours[6].1) <= 1e-6);
    let mut again = Tuned::wrap(bert());
    again.load_adapter(&ours[3].0, "default")?;
    assert!(max_abs(&tch::no_grad(|| bert_logits(&again)), &ours[3].1) <= 1e-6, "DoRA back into tuna");
    Ok(())
}
