//! Every strategy × {BERT, GPT-2, ViT}: the trainable and total counts equal PEFT's for the same
//! configuration (`tests/fixtures/tune/golden.json`, written by `make_fixtures.py` with
//! peft 0.21.2), and after two SGD steps exactly the trainable parameters have changed.

mod tune_support;

use std::collections::HashMap;
use tch::{Kind, Tensor};
use tune_support::*;
use tuna::display::Render;
use tuna::models::*;
use tuna::tune::*;
use tuna::Result;

fn cases(arch: &str) -> Vec<(&'static str, Strategy)> {
    let gpt = arch == "gpt2";
    let qv = if gpt { Targets::from(["c_attn"]) } else { Targets::from(["query", "value"]) };
    let linear = if gpt { Targets::from(["c_attn", "c_proj", "c_fc"]) } else { Targets::from(["query", "key", "value", "dense"]) };
    let regex = if gpt { r".*\.(c_attn|c_proj|c_fc)" } else { r".*\.(query|key|value|dense)" };
    let mut head = LoraConfig::rank(2).alpha(4.0).targets(linear).layers_to_transform([1]);
    if !gpt {
        head = head.modules_to_save(["classifier"]);
    }
    // (IA)³ on keys, values and the second feed-forward layer; ViT's attention output is also
    // an `output.dense` in tuna's names (PEFT's `o_proj`), hence the regex.
    let ia3 = match arch {
        "gpt2" => Ia3Config::new(["c_attn", "mlp.c_proj"], ["mlp.c_proj"]),
        "vit" => Ia3Config::new(r".*\.(key|value)|.*\.layer\.\d+\.output\.dense", r".*\.layer\.\d+\.output\.dense"),
        _ => Ia3Config::new(["key", "value", "output.dense"], ["output.dense"]),
    };
    let ia3_head = if gpt { ia3.clone() } else { ia3.clone().modules_to_save(["classifier"]) };
    let mut cases = vec![
        ("ia3", Strategy::Ia3(ia3)),
        ("ia3_head", Strategy::Ia3(ia3_head)),
        ("full", Strategy::Full),
        ("bitfit", Strategy::BitFit),
        ("freeze_embeddings_lowest_1", Strategy::freeze([Freeze::Embeddings, Freeze::Lowest(1)])),
        ("freeze_top_1", Strategy::freeze([Freeze::Top(1)])),
        ("freeze_all_but_head", Strategy::freeze([Freeze::AllButHead])),
        (
            "freeze_list_ln",
            Strategy::freeze([Freeze::Matching(Targets::from(["LayerNorm", "ln_1", "ln_2", "layernorm_before"]))]),
        ),
        ("lora_qv", Strategy::Lora(LoraConfig::rank(4).alpha(8.0).targets(qv.clone()))),
        ("dora_qv", Strategy::Lora(LoraConfig::rank(4).alpha(8.0).use_dora(true).targets(qv.clone()))),
        ("lora_list_head_layer_1", Strategy::Lora(head)),
        (
            "lora_regex_rslora_lora_only",
            Strategy::Lora(LoraConfig::rank(2).alpha(4.0).use_rslora(true).targets(regex).bias(LoraBias::LoraOnly)),
        ),
        ("lora_qv_bias_all", Strategy::Lora(LoraConfig::rank(4).alpha(8.0).targets(qv).bias(LoraBias::All))),
    ];
    // Prompt learning: PEFT's SEQ_CLS task (BERT) and ViT keep a trained classifier copy.
    let head = |c: PrefixTuningConfig| if gpt { c } else { c.modules_to_save(["classifier"]) };
    cases.push(("prefix_tuning", Strategy::PrefixTuning(head(PrefixTuningConfig::new(3)))));
    cases.push(("prefix_tuning_mlp", Strategy::PrefixTuning(head(PrefixTuningConfig::new(3).projection(16)))));
    let head = |c: AdapterConfig| if gpt { c } else { c.modules_to_save(["classifier"]) };
    cases.push(("adapter_houlsby", Strategy::Adapter(head(AdapterConfig::new(AdapterKind::Houlsby).reduction_factor(4)))));
    cases.push((
        "adapter_pfeiffer_parallel",
        // GELU: with ReLU, 4 units of a tiny model can all be dead for the fixture's inputs, and a
        // dead unit gets no gradient (an honest zero, but not what this test is about).
        Strategy::Adapter(head(
            AdapterConfig::new(AdapterKind::Pfeiffer).reduction_factor(8).parallel(2.0).activation(AdapterActivation::Gelu),
        )),
    ));
    if arch != "vit" {
        let prompt = PromptTuningConfig::new(4);
        cases.push(("prompt_tuning", Strategy::PromptTuning(if gpt { prompt } else { prompt.modules_to_save(["classifier"]) })));
    }
    cases
}

fn golden() -> serde_json::Value {
    let text = std::fs::read_to_string(tune_fixture("golden.json")).expect("golden.json");
    serde_json::from_str(&text).expect("golden.json parses")
}

/// Applies `strategy`, checks the counts against PEFT's, takes two signSGD steps on a fixed random
/// projection of the logits, and checks that exactly the trainable parameters moved.
/// libtorch's random generator is process-wide and the tests run on parallel threads: each holds
/// this lock and seeds the adapters' initialisation, so that what a step moves does not depend
/// on what another test drew (seen once in a CI run).
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn check<M: PretrainedModel>(arch: &str, case: &str, strategy: &Strategy, model: M, logits: impl Fn(&M) -> Tensor) -> Result<()> {
    let _seeded = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(0);
    let mut tuned = model.tune(strategy)?;
    let s = tuned.summary();
    let want = &golden()[arch][case];
    assert_eq!((s.trainable, s.total), (want[0].as_i64().unwrap(), want[1].as_i64().unwrap()), "{arch} {case}: counts differ from PEFT's");
    assert!(tuned.trainable_line().starts_with("trainable params: "), "{}", tuned.trainable_line());

    tuned.set_training(false);
    let vars: HashMap<String, Tensor> = tuned.var_store().variables();
    let before: HashMap<&String, Tensor> = vars.iter().map(|(n, t)| (n, t.detach().copy())).collect();
    let any_trainable = vars.values().any(|t| t.requires_grad());
    tch::manual_seed(0);
    let projection = Tensor::randn(logits(&tuned).size(), (Kind::Float, tch::Device::Cpu));
    for _ in 0..2 {
        if !any_trainable {
            break;
        }
        let loss = (logits(&tuned) * &projection).sum(Kind::Float);
        loss.backward();
        for (name, t) in &vars {
            let grad = t.grad();
            assert_eq!(grad.defined(), t.requires_grad(), "{arch} {case}: `{name}` gradient defined = {}", grad.defined());
            if grad.defined() {
                // signSGD: any non-zero gradient moves the tensor, however small (LoRA's A gets
                // its first gradient from a B that one step moved away from zero).
                tch::no_grad(|| t.shallow_clone().copy_(&(t - grad.sign() * 0.01)));
                let mut t = t.shallow_clone();
                t.zero_grad();
            }
        }
    }
    for (name, t) in &vars {
        let moved = max_abs(t, &before[name]) > 0.0;
        assert_eq!(moved, t.requires_grad(), "{arch} {case}: `{name}` moved = {moved}, trainable = {}", t.requires_grad());
    }
    Ok(())
}

#[test]
fn every_strategy_on_bert() -> Result<()> {
    for (case, strategy) in cases("bert") {
        check("bert", case, &strategy, bert(), bert_logits)?;
    }
    Ok(())
}

#[test]
fn every_strategy_on_gpt2() -> Result<()> {
    for (case, strategy) in cases("gpt2") {
        check("gpt2", case, &strategy, gpt2(), gpt2_logits)?;
    }
    Ok(())
}

#[test]
fn every_strategy_on_vit() -> Result<()> {
    for (case, strategy) in cases("vit") {
        check("vit", case, &strategy, vit(), vit_logits)?;
    }
    Ok(())
}

#[test]
fn the_report_reads_as_peft_prints_it() -> Result<()> {
    let tuned = bert().tune(&Strategy::Lora(LoraConfig::rank(4).alpha(8.0).targets(["query", "value"])))?;
    // PEFT: `trainable params: 1,024 || all params: 21,101 || trainable%: 4.8529`
    assert_eq!(tuned.trainable_line(), "trainable params: 1,024 || all params: 21,101 || trainable%: 4.8529");
    let html = tuned.summary().render().get("text/html").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    assert!(html.contains("lora_A") && html.contains("lora:default") && html.contains("trainable%"), "{html}");
    Ok(())
}
