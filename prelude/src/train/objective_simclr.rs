//! Contrastive pretraining of a ViT with SimCLR (Chen et al. 2020, "A Simple Framework for
//! Contrastive Learning of Visual Representations"; `google-research/simclr`'s
//! `add_contrastive_loss`): two augmented views of each image go through the encoder and a
//! two-layer projection head, and the NT-Xent loss (normalised temperature-scaled cross
//! entropy) asks each view to pick its twin among the other 2N − 1 views of the batch.
//!
//! The representation is the final CLS token of the encoder (kept under `vit.`, so it loads
//! into [`ViTForImageClassification`](crate::models::ViTForImageClassification)); the
//! projection head (`projection.0`, `projection.2`) is dropped after pretraining, as in the
//! paper. Evaluation reports `accuracy`: how often a view's nearest neighbour is its twin.
//!
//! ```no_run
//! use tuna::prelude::*;
//! let train = fashion_mnist(Split::Train)?.subsample(2_000, 0)?;
//! let model = ViTForSimCLR::new(ViTConfig::tiny())?.temperature(0.2);
//! let views = TwoViews::new(Transforms::new().random_resized_crop(28, 28, (0.3, 1.0)));
//! let mut trainer = Trainer::new(model, views).epochs(5).batch_size(128).lr(1e-3);
//! trainer.fit(&train, None)?;
//! # Ok::<(), tuna::Error>(())
//! ```

use super::objective::{LossOptions, Objective, StepOutput};
use crate::data::Batch;
use crate::models::pretrained::{model_boilerplate, ModelState};
use crate::models::vit::ViTBody;
use crate::models::{Linear, ViTConfig};
use crate::{Error, Result};
use tch::{nn::VarStore, Kind, Reduction, Tensor};

/// SimCLR's default temperature for ImageNet-scale batches is 0.1; 0.5 for CIFAR-10.
const DEFAULT_TEMPERATURE: f64 = 0.5;

/// The NT-Xent loss of projections `z1`, `z2` (batch, dim), row i of each being two views of
/// one image, at `temperature`: the mean over the 2N views of the cross-entropy of picking the
/// twin among the other 2N − 1. Also returns the similarity logits (2N, 2N) with the diagonal
/// excluded and the index of each view's twin.
pub fn nt_xent(z1: &Tensor, z2: &Tensor, temperature: f64) -> Result<(Tensor, Tensor, Tensor)> {
    if z1.size() != z2.size() || z1.dim() != 2 {
        return Err(Error::Shape { context: "nt_xent".into(), message: format!("views {:?} and {:?} must both be (batch, dim)", z1.size(), z2.size()) });
    }
    if temperature <= 0.0 {
        return Err(Error::config("temperature", format!("{temperature} must be positive")));
    }
    let n = z1.size()[0];
    let z = Tensor::f_cat(&[z1, z2], 0)?;
    let z = &z / z.f_norm_scalaropt_dim(2, [-1], true)?.f_clamp_min(1e-12)?; // cosine similarity
    let eye = Tensor::f_eye(2 * n, (Kind::Bool, z.device()))?;
    // (2N, 2N) scaled similarities; a view never picks itself.
    let logits = z.f_matmul(&z.f_transpose(0, 1)?)?.f_div_scalar(temperature)?.f_masked_fill(&eye, f64::NEG_INFINITY)?;
    let i = Tensor::f_arange(n, (Kind::Int64, z.device()))?;
    let twins = Tensor::f_cat(&[&i + n, i], 0)?;
    let loss = logits.f_cross_entropy_loss::<Tensor>(&twins, None, Reduction::Mean, -100, 0.0)?;
    Ok((loss, logits, twins))
}

/// A ViT encoder (`vit.`) with SimCLR's projection head (`projection.0` → ReLU →
/// `projection.2`, both as wide as the encoder). Trains with the [`Trainer`](super::Trainer)
/// on batches with `view1` and `view2` (see [`TwoViews`](crate::data::TwoViews)).
#[derive(Debug)]
pub struct ViTForSimCLR {
    /// The encoder, under `vit.` (no pooler).
    pub vit: ViTBody,
    /// First layer of the projection head.
    pub projection_hidden: Linear,
    /// Second layer of the projection head (its output is what the loss compares).
    pub projection_out: Linear,
    temperature: f64,
    config: ViTConfig,
    state: ModelState,
}

impl ViTForSimCLR {
    fn build_in(vs: VarStore, config: ViTConfig) -> Result<Self> {
        let root = vs.root();
        let (h, std) = (config.hidden_size, config.initializer_range);
        let vit = ViTBody::new(&root / "vit", &config, false)?;
        let projection_hidden = Linear::new(&root / "projection" / "0", h, h, true, std)?;
        let projection_out = Linear::new(&root / "projection" / "2", h, h, true, std)?;
        Ok(ViTForSimCLR { vit, projection_hidden, projection_out, temperature: DEFAULT_TEMPERATURE, config, state: ModelState::new(vs) })
    }

    /// The NT-Xent temperature (default 0.5; lower sharpens the contrast).
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = temperature;
        self
    }

    /// The representation: final CLS token (batch, hidden).
    pub fn embed(&self, pixel_values: &Tensor) -> Tensor {
        self.vit.forward(pixel_values, self.state.training).select(1, 0)
    }

    /// The projection the loss compares: (batch, hidden).
    pub fn project(&self, pixel_values: &Tensor) -> Tensor {
        self.projection_out.forward(&self.projection_hidden.forward(&self.embed(pixel_values)).relu())
    }
}

model_boilerplate!(
    ViTForSimCLR, ViTConfig, "ViTForSimCLR", "vit", [],
    |s| { let mut v = s.vit.linears_mut(); v.push(&mut s.projection_hidden); v.push(&mut s.projection_out); v },
    |s| { let mut v = s.vit.linears(); v.push(&s.projection_hidden); v.push(&s.projection_out); v }
);

impl Objective for ViTForSimCLR {
    const TASK: &'static str = "SimCLR";
    const CLASSIFIES: bool = false;
    const PERPLEXITY: bool = false;

    fn compute(&self, batch: &Batch, _options: &LossOptions) -> Result<StepOutput> {
        let (v1, v2) = (batch.get("view1")?, batch.get("view2")?);
        // One encoder pass over both views, as the reference implementation.
        let z = self.project(&Tensor::f_cat(&[v1, v2], 0)?);
        let n = v1.size()[0];
        let (loss, logits, twins) = nt_xent(&z.narrow(0, 0, n), &z.narrow(0, n, n), self.temperature)?;
        Ok(StepOutput { loss, predictions: Some(logits.argmax(-1, false)), targets: Some(twins), scores: None, count: 2 * n })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nt_xent_matches_its_definition() {
        // Two images, 2-D projections: compute the 4×4 loss by hand.
        let z1 = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).view([2, 2]);
        let z2 = Tensor::from_slice(&[2.0f32, 0.2, 0.1, 3.0]).view([2, 2]);
        let (loss, _, twins) = nt_xent(&z1, &z2, 0.5).unwrap();
        assert_eq!(Vec::<i64>::try_from(&twins).unwrap(), [2, 3, 0, 1]);
        let rows: [[f64; 2]; 4] = [[1.0, 0.0], [0.0, 1.0], [2.0, 0.2], [0.1, 3.0]];
        let unit: Vec<[f64; 2]> = rows.iter().map(|r| { let n = (r[0] * r[0] + r[1] * r[1]).sqrt(); [r[0] / n, r[1] / n] }).collect();
        let sim = |a: usize, b: usize| (unit[a][0] * unit[b][0] + unit[a][1] * unit[b][1]) / 0.5;
        let want: f64 = (0..4)
            .map(|a| {
                let twin = [2, 3, 0, 1][a];
                let denom: f64 = (0..4).filter(|&b| b != a).map(|b| sim(a, b).exp()).sum();
                -(sim(a, twin).exp() / denom).ln()
            })
            .sum::<f64>()
            / 4.0;
        let got = loss.double_value(&[]);
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        assert!(nt_xent(&z1, &z2, 0.0).unwrap_err().to_string().contains("temperature"));
    }
}
