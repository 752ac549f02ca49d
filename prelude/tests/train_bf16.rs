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
    const TEST: &str = "a_bf16_run_follows_the_f32_run";
    let train = counting(128, 3, seeded(1))?;
    let mut losses = Vec::new();
    for bf16 in [false, true] {
        tch::manual_seed(seeded(0) as i64);
        let model = BertForSequenceClassification::new(tiny_bert(3))?;
        let mut trainer = Trainer::new(model, ToyClassification).seed(seeded(42)).max_steps(8).batch_size(16).lr(3e-3).bf16(bf16).live_plot(false);
        let run = trainer.fit(&train, None)?;
        for (name, t) in trainer.model().var_store().variables() {
            assert_eq!(t.kind(), Kind::Float, "{name}: master weights must stay f32");
        }
        losses.push(run.history.steps.iter().map(|r| r.loss).collect::<Vec<f64>>());
    }
    let (f32s, bf16s) = (&losses[0], &losses[1]);
    println!("f32  {f32s:.4?}\nbf16 {bf16s:.4?}");
    assert_ne!(f32s, bf16s, "the bf16 run computed exactly the f32 numbers: autocast was not on");
    let gaps: Vec<f64> = f32s.iter().zip(bf16s).map(|(a, b)| (a - b).abs() / a.abs().max(1.0)).collect();
    let worst = gaps.iter().copied().fold(0.0, f64::max);
    assert_below(TEST, "largest relative gap bf16 vs f32 loss", worst, 0.03, f64::NAN);
    // Chance: a run that does not learn ends where it began (ratio 1).
    assert_below(TEST, "bf16 loss at step 8 / step 1", bf16s[7] / bf16s[0], 1.0, 1.0);
    Ok(())
}
