//! SHAP values: exact Shapley values against the permutation definition, KernelSHAP against
//! exact values (enumerated and sampled), the linear-model identity φ = w·(x − E[x]), the
//! partition explainer's efficiency, shap 0.54's KernelExplainer on a fixed tiny MLP
//! (fixtures/shap/, made by make_kernel_golden.py), the maskers and the displays.

use tuna::prelude::*;

type Game = Box<dyn Fn(&[bool]) -> f64>;

/// v(S) = Σ aᵢxᵢ + x0·x1 − 0.7·x2·x3·x4 + sin(x5 + x0), masked features at 0: interactions of
/// two and three features.
fn interacting_game(m: usize) -> Game {
    let x: Vec<f64> = (0..m).map(|i| 1.0 + 0.37 * i as f64 * if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
    Box::new(move |mask: &[bool]| {
        let xi = |i: usize| if i < mask.len() && mask[i] { x[i] } else { 0.0 };
        let linear: f64 = (0..mask.len()).map(|i| (0.2 + 0.1 * i as f64) * xi(i)).sum();
        linear + xi(0) * xi(1) - 0.7 * xi(2) * xi(3) * xi(4) + (xi(5) + xi(0)).sin()
    })
}

fn batched(game: &Game) -> impl FnMut(&[Vec<bool>]) -> Result<Vec<f64>> + '_ {
    move |masks: &[Vec<bool>]| Ok(masks.iter().map(|m| game(m)).collect())
}

/// The definition: the mean over all M! orderings of each feature's marginal contribution.
fn brute_force_shapley(m: usize, game: &Game) -> Vec<f64> {
    fn orderings(prefix: &mut Vec<usize>, m: usize, out: &mut Vec<Vec<usize>>) {
        if prefix.len() == m {
            out.push(prefix.clone());
            return;
        }
        for i in 0..m {
            if !prefix.contains(&i) {
                prefix.push(i);
                orderings(prefix, m, out);
                prefix.pop();
            }
        }
    }
    let mut all = Vec::new();
    orderings(&mut Vec::new(), m, &mut all);
    let mut phi = vec![0.0; m];
    for order in &all {
        let mut mask = vec![false; m];
        let mut before = game(&mask);
        for &i in order {
            mask[i] = true;
            let after = game(&mask);
            phi[i] += after - before;
            before = after;
        }
    }
    phi.iter().map(|p| p / all.len() as f64).collect()
}

fn max_error(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn exact_shapley_equals_the_permutation_definition() -> Result<()> {
    let game = interacting_game(6);
    let exact = ExactShap::new().batch(7).explain(6, batched(&game))?;
    let brute = brute_force_shapley(6, &game);
    assert!(max_error(&exact.values, &brute) < 1e-12, "{:?} vs {brute:?}", exact.values);
    assert_eq!(exact.evaluations, 64);
    assert!(exact.efficiency_gap().abs() < 1e-12);
    Ok(())
}

#[test]
fn exact_shapley_refuses_too_many_features() {
    let err = ExactShap::new().explain(15, |m| Ok(vec![0.0; m.len()])).unwrap_err().to_string();
    assert!(err.contains("14") && err.contains("KernelShap"), "{err}");
}

#[test]
fn kernel_shap_with_every_coalition_equals_exact() -> Result<()> {
    for m in [2, 3, 6, 7, 10] {
        let game = interacting_game(m);
        let exact = ExactShap::new().explain(m, batched(&game))?;
        let kernel = KernelShap::new().samples(1 << m).batch(50).explain(m, batched(&game))?;
        assert_eq!(kernel.evaluations, 1 << m, "M = {m}: every coalition once");
        assert!(max_error(&kernel.values, &exact.values) < 1e-8, "M = {m}: {:?} vs {:?}", kernel.values, exact.values);
    }
    Ok(())
}

#[test]
fn kernel_shap_error_shrinks_with_samples_and_efficiency_holds() -> Result<()> {
    let m = 10;
    let game = interacting_game(m);
    let exact = ExactShap::new().explain(m, batched(&game))?;
    let mut errors = Vec::new();
    for samples in [40, 160, 640] {
        let mut total = 0.0;
        for seed in 0..8 {
            let kernel = KernelShap::new().samples(samples).seed(seed).explain(m, batched(&game))?;
            assert!(kernel.efficiency_gap().abs() < 1e-4, "efficiency: gap {}", kernel.efficiency_gap());
            total += max_error(&kernel.values, &exact.values);
        }
        errors.push(total / 8.0);
    }
    println!("mean max |kernel − exact| for 40, 160, 640 samples: {errors:?}");
    assert!(errors[0] > errors[1] && errors[1] > errors[2], "{errors:?}");
    assert!(errors[2] < 0.5 * errors[0], "{errors:?}");
    Ok(())
}

#[test]
fn linear_model_with_independent_features_gives_w_times_x_minus_mean() -> Result<()> {
    let m = 12;
    let w = Tensor::from_slice(&(0..m).map(|i| (i as f64 * 0.9).sin() + 0.3).collect::<Vec<f64>>());
    let x = Tensor::from_slice(&(0..m).map(|i| (i as f64 * 0.4).cos() * 2.0).collect::<Vec<f64>>());
    let background = Tensor::from_slice(&(0..5 * m).map(|k| (k as f64 * 0.77).sin()).collect::<Vec<f64>>()).view([5, m as i64]);
    let expected: Vec<f64> = Vec::try_from(&w * (&x - background.mean_dim(0, false, Kind::Double)))?;
    let masker = TabularMasker::new(&x, &background)?;
    let model = |rows: &Tensor| rows.matmul(&w);
    let exact = ExactShap::new().explain_masked(&masker, model)?;
    let kernel = KernelShap::new().samples(200).seed(1).explain_masked(&masker, model)?;
    let partition = PartitionShap::new().max_evals(1000).explain_masked(&masker, model)?;
    for (name, values) in [("exact", &exact), ("kernel", &kernel), ("partition", &partition)] {
        assert!(max_error(&values.values, &expected) < 1e-9, "{name}: {:?} vs {expected:?}", values.values);
    }
    assert_eq!(kernel.names[3], "x3");
    Ok(())
}

#[test]
fn partition_shap_keeps_efficiency_and_is_exact_on_additive_games() -> Result<()> {
    // A long input: 64 features, interactions between neighbours and across the halves.
    let m = 64;
    let game: Game = Box::new(|mask: &[bool]| {
        let x = |i: usize| if mask[i] { 1.0 + (i % 5) as f64 * 0.3 } else { 0.0 };
        (0..mask.len() - 1).map(|i| 0.1 * x(i) * x(i + 1) + 0.05 * x(i)).sum::<f64>() + x(3) * x(60) + (x(10) + x(50)).tanh()
    });
    for budget in [10, 100, 500, 5000] {
        let values = PartitionShap::new().max_evals(budget).batch(16).explain(m, batched(&game))?;
        assert!(values.evaluations <= budget.max(2), "budget {budget}: {} evaluations", values.evaluations);
        assert!(values.efficiency_gap().abs() < 1e-9, "budget {budget}: gap {}", values.efficiency_gap());
    }
    // Additive: Owen values are the Shapley values whatever the tree.
    let additive: Game = Box::new(|mask: &[bool]| mask.iter().enumerate().map(|(i, &on)| if on { (i as f64 * 1.7).cos() } else { 0.0 }).sum());
    let values = PartitionShap::new().max_evals(10_000).explain(9, batched(&additive))?;
    let expected: Vec<f64> = (0..9).map(|i| (i as f64 * 1.7).cos()).collect();
    assert!(max_error(&values.values, &expected) < 1e-12);
    Ok(())
}

#[test]
fn partition_shap_with_two_features_is_the_shapley_value() -> Result<()> {
    let game = interacting_game(2);
    let exact = ExactShap::new().explain(2, batched(&game))?;
    let partition = PartitionShap::new().explain(2, batched(&game))?;
    assert!(max_error(&partition.values, &exact.values) < 1e-12);
    Ok(())
}

/// shap 0.54's KernelExplainer on the fixture's 8-feature MLP and 6-row background.
#[test]
fn kernel_shap_matches_shap_0_54_kernel_explainer() -> Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/shap/kernel_golden.json");
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?).map_err(|e| Error::msg(e.to_string()))?;
    let vector = |v: &serde_json::Value| -> Vec<f64> { v.as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default() };
    let matrix = |v: &serde_json::Value| -> Tensor {
        let rows: Vec<Vec<f64>> = v.as_array().map(|a| a.iter().map(vector).collect()).unwrap_or_default();
        let cols = rows.first().map_or(0, Vec::len) as i64;
        Tensor::from_slice(&rows.concat()).view([-1, cols])
    };
    let m = golden["features"].as_u64().unwrap_or(0) as usize;
    let (w1, w2) = (matrix(&golden["w1"]), Tensor::from_slice(&vector(&golden["w2"])));
    let b1 = Tensor::from_slice(&vector(&golden["b1"]));
    let product = golden["product"].as_f64().unwrap_or(0.0);
    let model = |rows: &Tensor| (rows.matmul(&w1) + &b1).tanh().matmul(&w2) + rows.select(1, 0) * rows.select(1, 1) * product;
    let x = Tensor::from_slice(&vector(&golden["x"]));
    let masker = TabularMasker::new(&x, &matrix(&golden["background"]))?;

    let enumerated = KernelShap::new().samples(golden["enumerated"]["nsamples"].as_u64().unwrap_or(0) as usize).explain_masked(&masker, model)?;
    let shap = vector(&golden["enumerated"]["values"]);
    assert_eq!(shap.len(), m);
    assert!((enumerated.output - golden["f_x"].as_f64().unwrap_or(f64::NAN)).abs() < 1e-12);
    assert!((enumerated.base_value - golden["expected_value"].as_f64().unwrap_or(f64::NAN)).abs() < 1e-12);
    let error = max_error(&enumerated.values, &shap);
    println!("enumerated: max |tuna − shap| = {error:e}");
    assert!(error < 1e-5, "{:?} vs shap {shap:?}", enumerated.values);

    // Sampled: both draw coalitions by the same scheme from different generators, so they
    // agree in distribution only. The fixture holds the mean and standard deviation σ of
    // shap's estimate over 50 seeds; the mean of tuna's over 50 seeds then differs from it by
    // a normal error of deviation σ·√(2/50) = 0.2σ, and 4 of those (0.8σ) bounds it at a
    // false-alarm rate of ~6e-5 per feature. Each single run also stays within 5σ.
    let samples = golden["sampled"]["nsamples"].as_u64().unwrap_or(0) as usize;
    let (shap_mean, shap_std) = (vector(&golden["sampled"]["mean"]), vector(&golden["sampled"]["std"]));
    let seeds = golden["sampled"]["seeds"].as_u64().unwrap_or(0);
    let mut mean = vec![0.0; m];
    for seed in 0..seeds {
        let run = KernelShap::new().samples(samples).seed(seed).explain_masked(&masker, model)?;
        assert!(run.efficiency_gap().abs() < 1e-4);
        for i in 0..m {
            assert!((run.values[i] - shap_mean[i]).abs() < 5.0 * shap_std[i], "seed {seed}, feature {i}: {} vs shap {} ± {}", run.values[i], shap_mean[i], shap_std[i]);
            mean[i] += run.values[i] / seeds as f64;
        }
    }
    let worst = (0..m).map(|i| (mean[i] - shap_mean[i]).abs() / shap_std[i]).fold(0.0, f64::max);
    println!("sampled ({samples} coalitions, {seeds} seeds): max |mean tuna − mean shap| = {worst:.3} σ");
    assert!(worst < 4.0 * (2.0 / seeds as f64).sqrt(), "{mean:?} vs shap {shap_mean:?}");
    Ok(())
}

#[test]
fn token_masker_replaces_masked_tokens_and_keeps_special_ones() -> Result<()> {
    // [CLS] what a day [SEP]
    let masker = TokenMasker::new(&[101, 7, 8, 9, 102], 103).special(&[true, false, false, false, true]).tokens(["[CLS]", "what", "a", "day", "[SEP]"]);
    assert_eq!(masker.features(), 3);
    assert_eq!(masker.names(), ["what", "a", "day"]);
    let ids = masker.inputs(&[vec![true, false, true], vec![false, false, false]])?;
    assert_eq!(Vec::<i64>::try_from(ids.reshape([-1]))?, [101, 7, 103, 9, 102, 101, 103, 103, 103, 102]);
    // A model that counts unmasked "day" tokens: all of the value goes to "day".
    let shap = ExactShap::new().explain_masked(&masker, |ids| ids.eq(9).to_kind(Kind::Double).sum_dim_intlist(1, false, Kind::Double))?;
    assert_eq!(shap.values, [0.0, 0.0, 1.0]);
    assert!(masker.inputs(&[vec![true]]).is_err());
    Ok(())
}

#[test]
fn image_masker_fills_masked_patches() -> Result<()> {
    // (1, 5, 5): 3×3 grid of 2-pixel patches, the last row and column 1 pixel wide.
    let image = Tensor::arange(25, (Kind::Double, Device::Cpu)).view([1, 5, 5]);
    let masker = ImageMasker::new(&image, 2)?.fill(ImageFill::Value(-1.0));
    assert_eq!((masker.features(), masker.grid()), (9, (3, 3)));
    let mut keep = vec![true; 9];
    keep[0] = false;
    keep[8] = false;
    let out = masker.inputs(&[keep])?;
    assert_eq!(out.size(), [1, 1, 5, 5]);
    assert_eq!(out.double_value(&[0, 0, 0, 0]), -1.0);
    assert_eq!(out.double_value(&[0, 0, 1, 1]), -1.0);
    assert_eq!(out.double_value(&[0, 0, 1, 2]), 7.0);
    assert_eq!(out.double_value(&[0, 0, 4, 4]), -1.0);
    let mean = ImageMasker::new(&image, 2)?.inputs(&[vec![false; 9]])?;
    assert!((mean.double_value(&[0, 0, 2, 3]) - 12.0).abs() < 1e-12);
    let blur = ImageMasker::new(&image, 2)?.fill(ImageFill::Blur(3)).inputs(&[vec![false; 9]])?;
    assert!((blur.double_value(&[0, 0, 2, 2]) - 12.0).abs() < 1e-12, "3×3 box mean around the centre");
    // The sum of the kept pixels: each patch's value is its pixels' sum, masked to 0.
    let masker = ImageMasker::new(&image, 2)?.fill(ImageFill::Value(0.0));
    let shap = PartitionShap::new().explain_masked(&masker, |x| x.sum_dim_intlist(&[1i64, 2, 3][..], false, Kind::Double))?;
    assert!((shap.values[0] - (0.0 + 1.0 + 5.0 + 6.0)).abs() < 1e-9);
    let heat = masker.heat(&shap)?;
    assert_eq!(heat.size(), [5, 5]);
    assert!((heat.double_value(&[4, 4]) - 24.0).abs() < 1e-9);
    assert!(masker.overlay(&shap)?.to_svg().starts_with("<svg"));
    Ok(())
}

#[test]
fn values_show_as_coloured_tokens_and_a_bar_chart() -> Result<()> {
    let game = interacting_game(6);
    let shap = ExactShap::new().explain(6, batched(&game))?.named(["the", "movie", "was", "not", "<b>good</b>", "!"]);
    let html = shap.html();
    assert!(html.contains("movie") && html.contains("&lt;b&gt;good&lt;/b&gt;") && html.contains("background:rgb("));
    let bundle = shap.render();
    assert!(bundle.get("text/html").is_some());
    assert!(bundle.get("text/plain").and_then(|v| v.as_str()).is_some_and(|t| t.starts_with("SHAP (exact)")));
    let svg = shap.bar_chart(3).to_svg();
    for (name, _) in &shap.ranked()[..3] {
        let escaped = name.replace('<', "&lt;").replace('>', "&gt;");
        assert!(svg.contains(name.as_str()) || svg.contains(&escaped), "bar of {name:?} missing");
    }
    assert!(svg.contains("sum of 3 other features"), "the rest in one bar");
    Ok(())
}
