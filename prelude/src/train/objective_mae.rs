//! Masked autoencoder pretraining of a ViT (He et al. 2021, "Masked Autoencoders Are Scalable
//! Vision Learners"), mirroring `transformers/models/vit_mae/modeling_vit_mae.py`
//! (`ViTMAEForPreTraining`): each image loses `mask_ratio` of its patches at random, the ViT
//! encoder runs on the visible patches only (plus CLS), a light transformer decoder fills mask
//! tokens back in at the removed positions, and the loss is the mean squared error on the
//! removed patches, against per-patch normalised pixels (`norm_pix_loss`).
//!
//! Differences from `transformers`: the encoder's position embeddings are ViT's learned ones
//! (so the encoder loads straight into [`ViTForImageClassification`](crate::models::ViTForImageClassification));
//! `norm_pix_loss` defaults to true (the paper's setting; `transformers` defaults to false).
//! The decoder's positions are fixed 2-D sine-cosine, as both.
//!
//! ```no_run
//! use tuna::prelude::*;
//! let train = fashion_mnist(Split::Train)?.subsample(2_000, 0)?;
//! let model = ViTMAEForPreTraining::new(ViTMAEConfig::tiny())?;
//! let mut trainer = Trainer::new(model, ImageBatch::default()).epochs(5).batch_size(64).lr(1e-3);
//! trainer.fit(&train, None)?;
//! trainer.model().save_pretrained("mae")?;   // the encoder, under `vit.`
//! let classifier = ViTForImageClassification::pretrained("mae").num_labels(10).load()?;
//! # Ok::<(), tuna::Error>(())
//! ```

use super::objective::{LossOptions, Objective, StepOutput};
use crate::data::{patchify, random_masking, Batch, PatchMask};
use crate::models::layers::{dropout, LayerNorm};
use crate::models::pretrained::{model_boilerplate, ModelState};
use crate::models::vit::{ViTBody, ViTLayer};
use crate::models::{Labels, Linear, ModelConfig, ViTConfig};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, nn::VarStore, Device, Kind, Tensor};

/// Configuration of MAE pretraining (`ViTMAEConfig` in `transformers`): the encoder's
/// [`ViTConfig`] keys plus the decoder's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViTMAEConfig {
    /// Width of the decoder (default 512).
    pub decoder_hidden_size: i64,
    /// Decoder layers (default 8).
    pub decoder_num_hidden_layers: i64,
    /// Decoder attention heads; must divide `decoder_hidden_size` (default 16).
    pub decoder_num_attention_heads: i64,
    /// Width of the decoder's feed-forward layers (default 2048).
    pub decoder_intermediate_size: i64,
    /// Fraction of the patches removed from each image (default 0.75).
    pub mask_ratio: f64,
    /// Whether targets are each patch's pixels normalised to mean 0, variance 1 (default true).
    pub norm_pix_loss: bool,
    /// The encoder.
    #[serde(flatten)]
    pub vit: ViTConfig,
}

impl Default for ViTMAEConfig {
    fn default() -> Self {
        ViTMAEConfig {
            decoder_hidden_size: 512,
            decoder_num_hidden_layers: 8,
            decoder_num_attention_heads: 16,
            decoder_intermediate_size: 2048,
            mask_ratio: 0.75,
            norm_pix_loss: true,
            vit: ViTConfig::default(),
        }
    }
}

impl ViTMAEConfig {
    /// MAE around `vit` with a one-layer decoder of half its width (at least 32).
    pub fn new(vit: ViTConfig) -> Self {
        let width = (vit.hidden_size / 2).max(32);
        ViTMAEConfig {
            decoder_hidden_size: width,
            decoder_num_hidden_layers: 1,
            decoder_num_attention_heads: vit.num_attention_heads,
            decoder_intermediate_size: 4 * width,
            ..ViTMAEConfig { vit, ..Default::default() }
        }
    }

    /// [`ViTConfig::tiny`] (28×28 grey images, 4×4 patches) with a one-layer decoder of width 32.
    pub fn tiny() -> Self {
        ViTMAEConfig::new(ViTConfig::tiny())
    }

    /// The decoder layers' configuration.
    fn decoder(&self) -> ViTConfig {
        ViTConfig {
            hidden_size: self.decoder_hidden_size,
            num_hidden_layers: self.decoder_num_hidden_layers,
            num_attention_heads: self.decoder_num_attention_heads,
            intermediate_size: self.decoder_intermediate_size,
            ..self.vit.clone()
        }
    }
}

impl ModelConfig for ViTMAEConfig {
    const MODEL_TYPE: &'static str = "vit_mae";

    fn validate(&self) -> Result<()> {
        self.vit.validate()?;
        let d = (self.decoder_hidden_size, self.decoder_num_attention_heads, self.decoder_intermediate_size);
        if d.0 <= 0 || d.1 <= 0 || d.2 <= 0 || d.0 % d.1 != 0 || self.decoder_num_hidden_layers < 0 {
            return Err(Error::config(
                "decoder_hidden_size",
                format!("decoder of width {}, {} heads, feed-forward {}: widths must be positive and the heads divide the width", d.0, d.1, d.2),
            ));
        }
        if !(0.0..1.0).contains(&self.mask_ratio) {
            return Err(Error::config("mask_ratio", format!("{} must be in [0, 1)", self.mask_ratio)));
        }
        Ok(())
    }

    fn labels_mut(&mut self) -> &mut Labels {
        self.vit.labels_mut()
    }
}

/// Fixed 2-D sine-cosine positions of a `grid`×`grid` patch grid, with a zero row for CLS in
/// front: (1, grid² + 1, dim). MAE's `get_2d_sincos_pos_embed`.
fn sincos_positions(dim: i64, grid: i64) -> Tensor {
    let quarter = (dim / 4).max(1);
    let omega = (Tensor::arange(quarter, (Kind::Double, Device::Cpu)) / quarter as f64 * -(10_000f64.ln())).exp();
    let coords = Tensor::arange(grid, (Kind::Double, Device::Cpu));
    let one_axis = |pos: &Tensor| {
        let angles = pos.reshape([-1, 1]) * omega.reshape([1, -1]); // (grid², dim/4)
        Tensor::cat(&[angles.sin(), angles.cos()], 1)
    };
    // Row-major patch order: patch i sits at (row i / grid, column i % grid).
    let rows = coords.repeat_interleave_self_int(grid, 0, None);
    let cols = coords.repeat([grid]);
    let mut pos = Tensor::cat(&[one_axis(&cols), one_axis(&rows)], 1);
    if pos.size()[1] < dim {
        pos = pos.pad([0, dim - pos.size()[1]], "constant", Some(0.0));
    }
    Tensor::cat(&[Tensor::zeros([1, dim], (Kind::Double, Device::Cpu)), pos], 0).unsqueeze(0).to_kind(Kind::Float)
}

/// The light decoder (`ViTMAEDecoder`): `decoder.decoder_embed`, `decoder.mask_token`,
/// `decoder.decoder_pos_embed` (fixed), `decoder.decoder_layers.{i}`, `decoder.decoder_norm`,
/// `decoder.decoder_pred`.
#[derive(Debug)]
pub struct ViTMAEDecoder {
    /// Encoder width → decoder width.
    pub decoder_embed: Linear,
    /// Stands in for every removed patch: (1, 1, decoder width).
    pub mask_token: Tensor,
    /// Fixed positions (not trained): (1, patches + 1, decoder width).
    pub decoder_pos_embed: Tensor,
    /// Transformer blocks.
    pub layers: Vec<ViTLayer>,
    /// Final LayerNorm.
    pub decoder_norm: LayerNorm,
    /// Decoder width → the pixels of one patch (patch² × channels).
    pub decoder_pred: Linear,
}

impl ViTMAEDecoder {
    fn new(p: nn::Path, c: &ViTMAEConfig) -> Result<Self> {
        let d = c.decoder();
        let std = c.vit.initializer_range;
        let grid = c.vit.image_size / c.vit.patch_size;
        let pixels = c.vit.patch_size * c.vit.patch_size * c.vit.num_channels;
        let mut decoder_pos_embed = p.f_var_copy("decoder_pos_embed", &sincos_positions(d.hidden_size, grid))?;
        decoder_pos_embed = decoder_pos_embed.set_requires_grad(false);
        Ok(ViTMAEDecoder {
            decoder_embed: Linear::new(&p / "decoder_embed", c.vit.hidden_size, d.hidden_size, true, std)?,
            mask_token: p.f_var("mask_token", &[1, 1, d.hidden_size], nn::Init::Randn { mean: 0.0, stdev: std })?,
            decoder_pos_embed,
            layers: (0..d.num_hidden_layers).map(|i| ViTLayer::new(&p / "decoder_layers" / i, &d)).collect::<Result<_>>()?,
            decoder_norm: LayerNorm::new(&p / "decoder_norm", d.hidden_size, d.layer_norm_eps)?,
            decoder_pred: Linear::new(&p / "decoder_pred", d.hidden_size, pixels, true, std)?,
        })
    }

    /// Encoded visible tokens (batch, 1 + kept, hidden) and where they came from → the
    /// predicted pixels of every patch (batch, patches, patch² × channels).
    pub fn forward(&self, latent: &Tensor, ids_restore: &Tensor, train: bool) -> Tensor {
        let x = self.decoder_embed.forward(latent);
        let (b, kept, width) = (x.size()[0], x.size()[1] - 1, x.size()[2]);
        let patches = ids_restore.size()[1];
        let masks = self.mask_token.repeat([b, patches - kept, 1]);
        // Visible tokens then mask tokens, in shuffled order → back to the original order.
        let shuffled = Tensor::cat(&[x.narrow(1, 1, kept), masks], 1);
        let restored = shuffled.gather(1, &ids_restore.unsqueeze(-1).repeat([1, 1, width]), false);
        let mut h = Tensor::cat(&[x.narrow(1, 0, 1), restored], 1) + &self.decoder_pos_embed;
        for layer in &self.layers {
            h = layer.forward(&h, train);
        }
        self.decoder_pred.forward(&self.decoder_norm.forward(&h)).narrow(1, 1, patches)
    }

    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut v: Vec<&mut Linear> = vec![&mut self.decoder_embed];
        v.extend(self.layers.iter_mut().flat_map(|l| l.linears_mut()));
        v.push(&mut self.decoder_pred);
        v
    }

    fn linears(&self) -> Vec<&Linear> {
        let mut v: Vec<&Linear> = vec![&self.decoder_embed];
        v.extend(self.layers.iter().flat_map(|l| l.linears()));
        v.push(&self.decoder_pred);
        v
    }
}

/// A ViT encoder (`vit.`) with MAE's decoder (`decoder.`), as `ViTMAEForPreTraining`. Trains
/// with the [`Trainer`](super::Trainer) on batches with `pixel_values` (e.g. from
/// [`ImageBatch`](crate::data::ImageBatch)).
#[derive(Debug)]
pub struct ViTMAEForPreTraining {
    /// The encoder, under `vit.` as in ViT's task models (no pooler).
    pub vit: ViTBody,
    /// The decoder, under `decoder.`.
    pub decoder: ViTMAEDecoder,
    config: ViTMAEConfig,
    state: ModelState,
}

/// What one MAE pass returns.
#[derive(Debug)]
pub struct MaeOutput {
    /// Mean squared error over the removed patches.
    pub loss: Tensor,
    /// Predicted pixels of every patch, in the target's units: (batch, patches, patch² × channels).
    pub pred: Tensor,
    /// 1 where a patch was removed: (batch, patches).
    pub mask: Tensor,
}

impl ViTMAEForPreTraining {
    fn build_in(vs: VarStore, config: ViTMAEConfig) -> Result<Self> {
        let root = vs.root();
        let vit = ViTBody::new(&root / "vit", &config.vit, false)?;
        let decoder = ViTMAEDecoder::new(&root / "decoder", &config)?;
        Ok(ViTMAEForPreTraining { vit, decoder, config, state: ModelState::new(vs) })
    }

    /// The encoder on the visible patches only: (batch, 1 + kept, hidden) and the mask.
    /// The masking noise comes from libtorch's generator (seeded by the trainer each step).
    pub fn encode(&self, pixel_values: &Tensor) -> Result<(Tensor, PatchMask)> {
        let e = &self.vit.embeddings;
        let tokens = e.patch_tokens(pixel_values);
        let patches = tokens.size()[1];
        let tokens = tokens + e.position_embeddings.narrow(1, 1, patches);
        let seed = Tensor::f_randint(i64::MAX, [1], (Kind::Int64, Device::Cpu))?.f_int64_value(&[0])? as u64;
        let masked = random_masking(&tokens, self.config.mask_ratio, seed)?;
        let b = tokens.size()[0];
        let cls = (&e.cls_token + e.position_embeddings.narrow(1, 0, 1)).expand([b, -1, -1], false);
        let train = self.state.training;
        let mut h = dropout(Tensor::cat(&[cls, masked.kept.shallow_clone()], 1), self.config.vit.hidden_dropout_prob, train);
        for layer in &self.vit.layers {
            h = layer.forward(&h, train);
        }
        Ok((self.vit.layernorm.forward(&h), masked))
    }

    /// Masks, encodes, decodes and scores `pixel_values` (batch, channels, size, size).
    pub fn forward(&self, pixel_values: &Tensor) -> Result<MaeOutput> {
        let (latent, masked) = self.encode(pixel_values)?;
        let pred = self.decoder.forward(&latent, &masked.ids_restore, self.state.training);
        let mut target = patchify(&pixel_values.to_kind(pred.kind()), self.config.vit.patch_size)?;
        if self.config.norm_pix_loss {
            let mean = target.mean_dim(-1, true, None);
            let var = target.var_dim(-1, true, true);
            target = (target - mean) / (var + 1e-6).sqrt();
        }
        let per_patch = (&pred - target).square().mean_dim(-1, false, None); // (batch, patches)
        let mask = masked.mask.to_kind(per_patch.kind());
        let loss = (&per_patch * &mask).sum(per_patch.kind()) / mask.sum(per_patch.kind());
        Ok(MaeOutput { loss, pred, mask: masked.mask })
    }
}

model_boilerplate!(
    ViTMAEForPreTraining, ViTMAEConfig, "ViTMAEForPreTraining", "vit", [],
    |s| { let mut v = s.vit.linears_mut(); v.extend(s.decoder.linears_mut()); v },
    |s| { let mut v = s.vit.linears(); v.extend(s.decoder.linears()); v }
);

impl Objective for ViTMAEForPreTraining {
    const TASK: &'static str = "MAE";
    const CLASSIFIES: bool = false;
    const PERPLEXITY: bool = false;

    fn compute(&self, batch: &Batch, _options: &LossOptions) -> Result<StepOutput> {
        let pixels = batch.get("pixel_values")?;
        let out = self.forward(pixels)?;
        Ok(StepOutput { loss: out.loss, predictions: None, targets: None, scores: None, count: pixels.size()[0] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sincos_positions_have_the_cls_row_and_unit_pairs() {
        let p = sincos_positions(32, 7);
        assert_eq!(p.size(), [1, 50, 32]);
        assert_eq!(p.get(0).get(0).abs().sum(Kind::Float).double_value(&[]), 0.0);
        // sin² + cos² = 1 for each frequency: each row's squares sum to dim / 2.
        let row = p.get(0).get(9).square().sum(Kind::Float).double_value(&[]);
        assert!((row - 16.0).abs() < 1e-4, "{row}");
    }

    #[test]
    fn config_round_trips_and_checks_the_decoder() {
        let c = ViTMAEConfig::tiny();
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.contains("\"decoder_hidden_size\":32") && text.contains("\"patch_size\":4"), "{text}");
        let back: ViTMAEConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c);
        let bad = ViTMAEConfig { decoder_num_attention_heads: 3, ..ViTMAEConfig::tiny() };
        assert!(bad.validate().unwrap_err().to_string().contains("decoder_hidden_size"));
    }
}
