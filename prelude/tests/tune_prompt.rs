//! Prompt and prefix tuning between tuna and Python PEFT 0.21.2, both ways: adapters PEFT wrote
//! (`tests/fixtures/tune/peft_{bert,gpt2}_{prompt,prefix}`, by `make_fixtures.py`) give PEFT's logits
//! in tuna — BERT sequence classification with the virtual tokens first (pooled token = first
//! virtual token), GPT-2 with logits over the virtual tokens too, prefixes shifting positions —
//! and adapters tuna writes give tuna's logits in `PeftModel.from_pretrained` (≤ 1e-5). Also the
//! three initialisations, switching off, and bad input.

mod tune_support;

use tch::{Kind, Tensor};
use tune_support::*;
use tuna::models::*;
use tuna::tune::*;
use tuna::{Error, Result};

fn peft_logits(name: &str) -> Tensor {
    let c = Checkpoint::from_file(&tune_fixture(&format!("{name}/expected.safetensors"))).unwrap();
    c.require("logits").unwrap().shallow_clone()
}

#[test]
fn prompt_and_prefix_adapters_written_by_peft_give_peft_logits() -> Result<()> {
    for name in ["peft_bert_prompt", "peft_bert_prefix"] {
        let mut m = Tuned::wrap(bert());
        m.load_adapter(tune_fixture(name), "default")?;
        let d = max_abs(&tch::no_grad(|| bert_logits(&m)), &peft_logits(name));
        println!("{name}: max-abs {d:.2e}");
        assert!(d <= 1e-5, "{name}: max-abs {d}");
        // The classifier copy trains with the prompt, as in PEFT's SEQ_CLS task.
        assert!(m.var_store().variables().keys().any(|k| k.starts_with("classifier.modules_to_save.default.")));
    }
    for name in ["peft_gpt2_prompt", "peft_gpt2_prefix"] {
        let mut g = Tuned::wrap(gpt2());
        g.load_adapter(tune_fixture(name), "default")?;
        let ours = tch::no_grad(|| gpt2_logits(&g));
        let theirs = peft_logits(name);
        assert_eq!(ours.size(), theirs.size(), "{name}");
        let d = max_abs(&ours, &theirs);
        println!("{name}: max-abs {d:.2e}");
        assert!(d <= 1e-5, "{name}: max-abs {d}");
    }
    Ok(())
}

#[test]
fn python_peft_loads_prompt_and_prefix_adapters_tuna_saves() -> Result<()> {
    let root = temp_dir("tune-prompt");
    let mut ours: Vec<(std::path::PathBuf, Tensor)> = Vec::new();
    let (ids, mask) = bert_inputs();
    for (i, strategy) in [
        Strategy::PromptTuning(PromptTuningConfig::new(5).init(PromptInit::SampleVocab).modules_to_save(["classifier"])),
        Strategy::PrefixTuning(PrefixTuningConfig::new(2).projection(8).modules_to_save(["classifier"])),
    ]
    .iter()
    .enumerate()
    {
        let m = bert().tune(strategy)?;
        perturb(m.var_store(), 20 + i as i64);
        let dir = root.join(format!("bert{i}"));
        m.save_adapter(&dir)?;
        write_for_python(&dir, "bert_seqcls", &[("input_ids", ids.shallow_clone()), ("attention_mask", mask.shallow_clone())]);
        ours.push((dir, tch::no_grad(|| bert_logits(&m))));
    }
    for (i, strategy) in [Strategy::PromptTuning(PromptTuningConfig::new(2)), Strategy::PrefixTuning(PrefixTuningConfig::new(3))]
        .iter()
        .enumerate()
    {
        let g = gpt2().tune(strategy)?;
        perturb(g.var_store(), 30 + i as i64);
        let dir = root.join(format!("gpt2{i}"));
        g.save_adapter(&dir)?;
        write_for_python(&dir, "gpt2", &[("input_ids", gpt2_inputs())]);
        ours.push((dir, tch::no_grad(|| gpt2_logits(&g))));
    }
    python_peft_agrees(&ours);
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ours[1].0.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!((config["peft_type"].as_str(), config["task_type"].as_str()), (Some("PREFIX_TUNING"), Some("SEQ_CLS")));
    let saved = Checkpoint::from_file(&ours[1].0.join("adapter_model.safetensors"))?;
    // The table the MLP makes: (n, layers·2·hidden) = (2, 2·2·32).
    assert_eq!(saved.require("prompt_embeddings")?.size(), [2, 128]);

    // And back into tuna: the same logits (the prefix now a plain table).
    for (i, (dir, logits)) in ours.iter().enumerate() {
        let d = if i < 2 {
            let mut m = Tuned::wrap(bert());
            m.load_adapter(dir, "default")?;
            max_abs(&tch::no_grad(|| bert_logits(&m)), logits)
        } else {
            let mut g = Tuned::wrap(gpt2());
            g.load_adapter(dir, "default")?;
            max_abs(&tch::no_grad(|| gpt2_logits(&g)), logits)
        };
        assert!(d <= 1e-6, "{}: back in tuna, max-abs {d}", dir.display());
    }
    Ok(())
}

#[test]
fn initialisations_switching_and_bad_input() -> Result<()> {
    // Sampled vocabulary: every virtual token is a row of the word embeddings.
    let mut m = bert().tune(&Strategy::PromptTuning(PromptTuningConfig::new(6).init(PromptInit::SampleVocab)))?;
    let vars = m.var_store().variables();
    let prompt = &vars["prompt_encoder.default.embedding.weight"];
    let words = &vars["bert.embeddings.word_embeddings.weight"];
    for i in 0..6 {
        let row = prompt.get(i);
        let nearest = f64::try_from((words - &row).abs().sum_dim_intlist([1i64].as_slice(), false, Kind::Float).min())?;
        assert_eq!(nearest, 0.0, "virtual token {i} is no vocabulary row");
    }
    // Off: the base model's logits, exactly; on again: the prompt's.
    let base = tch::no_grad(|| bert_logits(&bert()));
    let on = tch::no_grad(|| bert_logits(&m));
    assert!(max_abs(&on, &base) > 1e-4);
    m.disable_adapters()?;
    assert_eq!(max_abs(&tch::no_grad(|| bert_logits(&m)), &base), 0.0);
    m.enable_adapters();
    assert_eq!(max_abs(&tch::no_grad(|| bert_logits(&m)), &on), 0.0);
    let err = m.merge().unwrap_err().to_string();
    assert!(err.contains("does not merge"), "{err}");
    let err = m.add_adapter("lora", &LoraConfig::rank(2)).unwrap_err().to_string();
    assert!(err.contains("take the whole model"), "{err}");
    let err = m.add_prefix_adapter("prefix", &PrefixTuningConfig::new(2)).unwrap_err().to_string();
    assert!(err.contains("take the whole model"), "{err}");

    // Text: the tokens of the text with [CLS] and [SEP], repeated to n (MiniLM's own tokenizer).
    let dir = tuna_data().join("all-MiniLM-L6-v2");
    let minilm = BertForSequenceClassification::pretrained(&dir).num_labels(2).load()?;
    let tok = tuna::text::Tokenizer::from_file(dir.join("tokenizer.json"))?;
    let ids: Vec<i64> = tok.encode("great movie")?.ids.into_iter().map(i64::from).collect();
    assert_eq!((ids[0], ids[ids.len() - 1]), (101, 102));
    let n = ids.len() as i64 + 2;
    let m = minilm.tune(&Strategy::PromptTuning(PromptTuningConfig::new(n).init(PromptInit::Text("great movie".into()))))?;
    let vars = m.var_store().variables();
    let want = vars["bert.embeddings.word_embeddings.weight"].index_select(0, &Tensor::from_slice(&[ids.clone(), ids[..2].to_vec()].concat()));
    assert_eq!(max_abs(&vars["prompt_encoder.default.embedding.weight"], &want), 0.0);

    // Bad input: no virtual tokens; a tokenizer whose ids this vocabulary lacks; prompt tuning on
    // pixels; a prompt adapter for another model or task.
    let err = bert().tune(&Strategy::PromptTuning(PromptTuningConfig::new(0))).err().expect("error");
    assert!(matches!(&err, Error::Config { key, .. } if key == "num_virtual_tokens"), "{err}");
    let err = bert()
        .tune(&Strategy::PromptTuning(PromptTuningConfig::new(3).init(PromptInit::Text("hello".into())).tokenizer(dir.join("tokenizer.json"))))
        .err()
        .expect("error");
    assert!(err.to_string().contains("outside this model's vocabulary"), "{err}");
    let err = vit().tune(&Strategy::PromptTuning(PromptTuningConfig::new(3))).err().expect("error");
    assert!(err.to_string().contains("needs a text model"), "{err}");
    let mut g = Tuned::wrap(gpt2());
    let err = g.load_adapter(tune_fixture("peft_bert_prompt"), "default").unwrap_err().to_string();
    assert!(err.contains("SEQ_CLS") && err.contains("GPT2LMHeadModel"), "{err}");
    assert!(g.adapter_names().is_empty());
    let mut b = Tuned::wrap(BertForSequenceClassification::pretrained(&dir).num_labels(3).load()?);
    let err = b.load_adapter(tune_fixture("peft_bert_prefix"), "default").unwrap_err().to_string();
    assert!(err.contains("token_dim") && err.contains("384"), "{err}");
    Ok(())
}
