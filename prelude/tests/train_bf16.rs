//! bf16 mixed precision in the Trainer: under `Autocast` a matmul of f32 tensors runs in bf16
//! on the CPU (as `torch.autocast("cpu", dtype=torch.bfloat16)`), and a bf16 training run keeps
//! f32 master weights and follows the f32 run's losses closely from the same start.

mod train_support;

use tch::{Kind, Tensor};
use train_support::*;
use tuna::models::{BertForSequenceClassification, PretrainedModel};
use tuna::train::{Autocast, Trainer};
use tuna::Result;

#[test]
fn autocast_turns_cpu_matmuls_into_bf16_and_back() {
    let a = Tensor::ones([4, 4], (Kind::Float, tch::Device::Cpu));
    {
        let _on = Autocast::bf16(tch::Device::Cpu).expect("the CPU has autocast");
        assert_eq!(a.matmul(&a).kind(), Kind::BFloat16, "autocast did not lower the matmul");
        // Element-wise ops keep their type, as in PyTorch.
        assert_eq!((&a + 1.0).kind(), Kind::Float);
    }
    assert_eq!(a.matmul(&a).kind(), Kind::Float, "autocast stayed on after the guard");
}

#[test]
fn a_bf16_run_follows_the_f32_run() -> Result<()> {
    let _lock = locked();
    let train = counting(128, 3, 1)?;
    let mut losses = Vec::new();
    for bf16 in [false, true] {
        tch::manual_seed(0);
        let model = BertForSequenceClassification::new(tiny_bert(3))?;
        let mut trainer = Trainer::new(model, ToyClassification).max_steps(8).batch_size(16).lr(3e-3).bf16(bf16).live_plot(false);
        let run = trainer.fit(&train, None)?;
        for (name, t) in trainer.model().var_store().variables() {
            assert_eq!(t.kind(), Kind::Float, "{name}: master weights must stay f32");
        }
        losses.push(run.history.steps.iter().map(|r| r.loss).collect::<Vec<f64>>());
    }
    let (f32s, bf16s) = (&losses[0], &losses[1]);
    println!("f32  {f32s:.4?}\nbf16 {bf16s:.4?}");
    assert_ne!(f32s, bf16s, "the bf16 run computed exactly the f32 numbers: autocast was not on");
    for (step, (a, b)) in f32s.iter().zip(bf16s).enumerate() {
        assert!((a - b).abs() < 0.03 * a.abs().max(1.0), "step {}: f32 loss {a:.4}, bf16 {b:.4}", step + 1);
    }
    assert!(bf16s[7] < bf16s[0], "the bf16 run did not learn: {bf16s:?}");
    Ok(())
}
