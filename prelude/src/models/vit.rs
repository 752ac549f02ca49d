//! Vision Transformer (Dosovitskiy et al., 2021) with its image-classification head, mirroring
//! `transformers/models/vit/modeling_vit.py`: patch-embedding convolution, CLS token, learned
//! positions, pre-LayerNorm encoder. Variable names equal the checkpoint keys that
//! `transformers` writes (`vit.encoder.layer.0.attention.attention.query.weight`).

use super::config::ViTConfig;
use super::layers::{attention, dropout, merge_heads, split_heads, Activation, LayerNorm};
use super::linear::Linear;
use super::pretrained::{model_boilerplate, ModelState};
use super::prefix::{prepend, KvPrefix, TuningHooks};
use crate::Result;
use tch::{nn, nn::VarStore, Tensor};

/// Patches, CLS token and positions (`ViTEmbeddings`).
#[derive(Debug)]
pub struct ViTEmbeddings {
    /// `cls_token`: (1, 1, hidden).
    pub cls_token: Tensor,
    /// `position_embeddings`: (1, patches + 1, hidden).
    pub position_embeddings: Tensor,
    /// `patch_embeddings.projection.weight`: (hidden, channels, patch, patch).
    pub projection_weight: Tensor,
    /// `patch_embeddings.projection.bias`: (hidden,).
    pub projection_bias: Tensor,
    patch: i64,
    dropout: f64,
}

impl ViTEmbeddings {
    fn new(p: nn::Path, c: &ViTConfig) -> Result<Self> {
        let init = nn::Init::Randn { mean: 0.0, stdev: c.initializer_range };
        let h = c.hidden_size;
        let proj = &p / "patch_embeddings" / "projection";
        Ok(ViTEmbeddings {
            cls_token: p.f_var("cls_token", &[1, 1, h], init)?,
            position_embeddings: p.f_var("position_embeddings", &[1, c.num_patches() + 1, h], init)?,
            projection_weight: proj.f_var("weight", &[h, c.num_channels, c.patch_size, c.patch_size], init)?,
            projection_bias: proj.f_zeros("bias", &[h])?,
            patch: c.patch_size,
            dropout: c.hidden_dropout_prob,
        })
    }

    /// The patch tokens without CLS or positions: (batch, channels, size, size) → (batch, patches, hidden).
    pub fn patch_tokens(&self, pixel_values: &Tensor) -> Tensor {
        let x = pixel_values.to_kind(self.projection_weight.kind());
        // (batch, hidden, size/patch, size/patch) → (batch, patches, hidden)
        x.conv2d(&self.projection_weight, Some(&self.projection_bias), [self.patch, self.patch], [0, 0], [1, 1], 1)
            .flatten(2, 3)
            .transpose(1, 2)
    }

    /// `pixel_values` (batch, channels, size, size) → (batch, patches + 1, hidden).
    pub fn forward(&self, pixel_values: &Tensor, train: bool) -> Tensor {
        let patches = self.patch_tokens(pixel_values);
        let b = patches.size()[0];
        let cls = self.cls_token.expand([b, -1, -1], false);
        let x = Tensor::cat(&[cls, patches], 1) + &self.position_embeddings;
        dropout(x, self.dropout, train)
    }
}

/// One encoder block (`ViTLayer`): x + attn(layernorm_before(x)), then + mlp(layernorm_after(·)).
#[derive(Debug)]
pub struct ViTLayer {
    /// `layernorm_before`.
    pub layernorm_before: LayerNorm,
    /// `attention.attention.query`.
    pub query: Linear,
    /// `attention.attention.key`.
    pub key: Linear,
    /// `attention.attention.value`.
    pub value: Linear,
    /// `attention.output.dense`.
    pub attention_output: Linear,
    /// `layernorm_after`.
    pub layernorm_after: LayerNorm,
    /// `intermediate.dense`.
    pub intermediate: Linear,
    /// `output.dense`.
    pub output: Linear,
    /// Key/value vectors prepended to this layer's (prefix tuning); `None` by default.
    pub prefix: Option<KvPrefix>,
    act: Activation,
    heads: i64,
    scale: f64,
    attn_dropout: f64,
    dropout: f64,
}

impl ViTLayer {
    pub(crate) fn new(p: nn::Path, c: &ViTConfig) -> Result<Self> {
        let (h, std, eps) = (c.hidden_size, c.initializer_range, c.layer_norm_eps);
        let a = &p / "attention" / "attention";
        Ok(ViTLayer {
            layernorm_before: LayerNorm::new(&p / "layernorm_before", h, eps)?,
            query: Linear::new(&a / "query", h, h, c.qkv_bias, std)?,
            key: Linear::new(&a / "key", h, h, c.qkv_bias, std)?,
            value: Linear::new(&a / "value", h, h, c.qkv_bias, std)?,
            attention_output: Linear::new(&p / "attention" / "output" / "dense", h, h, true, std)?,
            layernorm_after: LayerNorm::new(&p / "layernorm_after", h, eps)?,
            intermediate: Linear::new(&p / "intermediate" / "dense", h, c.intermediate_size, true, std)?,
            output: Linear::new(&p / "output" / "dense", c.intermediate_size, h, true, std)?,
            prefix: None,
            act: c.hidden_act,
            heads: c.num_attention_heads,
            scale: ((h / c.num_attention_heads) as f64).powf(-0.5),
            attn_dropout: c.attention_probs_dropout_prob,
            dropout: c.hidden_dropout_prob,
        })
    }

    /// (batch, tokens, hidden) → (batch, tokens, hidden).
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let n = self.layernorm_before.forward(x);
        // (batch, heads, tokens, head_dim)
        let q = split_heads(&self.query.forward(&n), self.heads);
        let k = split_heads(&self.key.forward(&n), self.heads);
        let v = split_heads(&self.value.forward(&n), self.heads);
        let (k, v, mask) = prepend(self.prefix.as_ref(), k, v, None);
        let p = if train { self.attn_dropout } else { 0.0 };
        let ctx = attention(&q, &k, &v, mask.as_ref(), p, false, self.scale);
        let x = dropout(self.attention_output.forward(&merge_heads(&ctx)), self.dropout, train) + x;
        let m = self.output.forward(&self.act.forward(&self.intermediate.forward(&self.layernorm_after.forward(&x))));
        dropout(m, self.dropout, train) + x
    }

    pub(crate) fn linears_mut(&mut self) -> [&mut Linear; 6] {
        [&mut self.query, &mut self.key, &mut self.value, &mut self.attention_output, &mut self.intermediate, &mut self.output]
    }

    pub(crate) fn linears(&self) -> [&Linear; 6] {
        [&self.query, &self.key, &self.value, &self.attention_output, &self.intermediate, &self.output]
    }
}

/// The encoder every ViT model shares (`ViTModel` in `transformers`): `embeddings`,
/// `encoder.layer.{i}`, `layernorm`, optional `pooler`. Task models hold it under `vit.`.
#[derive(Debug)]
pub struct ViTBody {
    /// `embeddings`.
    pub embeddings: ViTEmbeddings,
    /// `encoder.layer.{i}`.
    pub layers: Vec<ViTLayer>,
    /// `layernorm`, applied after the last layer.
    pub layernorm: LayerNorm,
    /// `pooler.dense`, when the model has one.
    pub pooler: Option<Linear>,
    pooler_act: Activation,
}

impl ViTBody {
    /// Registers the encoder under `p` (the root, or `vit` in task models).
    pub fn new(p: nn::Path, c: &ViTConfig, pooler: bool) -> Result<Self> {
        let layers = (0..c.num_hidden_layers)
            .map(|i| ViTLayer::new(&p / "encoder" / "layer" / i, c))
            .collect::<Result<Vec<_>>>()?;
        let pooler = if pooler {
            let out = c.pooler_output_size.unwrap_or(c.hidden_size);
            Some(Linear::new(&p / "pooler" / "dense", c.hidden_size, out, true, c.initializer_range)?)
        } else {
            None
        };
        Ok(ViTBody {
            embeddings: ViTEmbeddings::new(&p / "embeddings", c)?,
            layers,
            layernorm: LayerNorm::new(&p / "layernorm", c.hidden_size, c.layer_norm_eps)?,
            pooler,
            pooler_act: c.pooler_act,
        })
    }

    /// `pixel_values` (batch, channels, size, size) → last hidden state (batch, patches + 1, hidden).
    pub fn forward(&self, pixel_values: &Tensor, train: bool) -> Tensor {
        let mut h = self.embeddings.forward(pixel_values, train);
        for layer in &self.layers {
            h = layer.forward(&h, train);
        }
        self.layernorm.forward(&h)
    }

    /// The pooler on the CLS token: (batch, tokens, hidden) → (batch, pooler_output_size).
    pub fn pool(&self, hidden: &Tensor) -> Option<Tensor> {
        self.pooler.as_ref().map(|p| self.pooler_act.forward(&p.forward(&hidden.select(1, 0))))
    }

    /// The prefix slots, for prefix tuning (no prompt slot: the inputs are pixels).
    pub(crate) fn tuning_hooks(&mut self) -> TuningHooks<'_> {
        let heads = self.layers.first().map_or(1, |l| l.heads);
        TuningHooks {
            hidden: self.embeddings.cls_token.size()[2],
            word_embeddings: None,
            heads,
            prefixes: self.layers.iter_mut().map(|l| &mut l.prefix).collect(),
            prompt: None,
        }
    }

    pub(crate) fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut v: Vec<&mut Linear> = self.layers.iter_mut().flat_map(|l| l.linears_mut()).collect();
        v.extend(self.pooler.as_mut());
        v
    }

    pub(crate) fn linears(&self) -> Vec<&Linear> {
        let mut v: Vec<&Linear> = self.layers.iter().flat_map(|l| l.linears()).collect();
        v.extend(self.pooler.as_ref());
        v
    }
}

/// The bare ViT encoder with its pooler; keys without prefix.
#[derive(Debug)]
pub struct ViTModel {
    /// The encoder.
    pub vit: ViTBody,
    config: ViTConfig,
    state: ModelState,
}

impl ViTModel {
    fn build_in(vs: VarStore, config: ViTConfig) -> Result<Self> {
        let vit = ViTBody::new(vs.root(), &config, true)?;
        Ok(ViTModel { vit, config, state: ModelState::new(vs) })
    }

    /// Last hidden state (batch, patches + 1, hidden).
    pub fn forward(&self, pixel_values: &Tensor) -> Tensor {
        self.vit.forward(pixel_values, self.state.training)
    }
}

model_boilerplate!(ViTModel, ViTConfig, "ViTModel", "vit", [], |s| s.vit.linears_mut(), |s| s.vit.linears(), hooks |s| s.vit.tuning_hooks());

/// ViT with a linear classifier on the final CLS token (`classifier`), as
/// `ViTForImageClassification`.
///
/// ```no_run
/// use tuna::models::*;
/// use tch::{Device, Kind, Tensor};
/// let mut config = ViTConfig::tiny();
/// config.set_num_labels(10);
/// let model = ViTForImageClassification::new(config)?;
/// let images = Tensor::rand([8, 1, 28, 28], (Kind::Float, Device::Cpu));
/// let logits = model.forward(&images); // (8, 10)
/// # Ok::<(), tuna::Error>(())
/// ```
#[derive(Debug)]
pub struct ViTForImageClassification {
    /// The encoder, under `vit.` (no pooler).
    pub vit: ViTBody,
    /// `classifier`: (num_labels, hidden).
    pub classifier: Linear,
    config: ViTConfig,
    state: ModelState,
}

impl ViTForImageClassification {
    fn build_in(vs: VarStore, config: ViTConfig) -> Result<Self> {
        let root = vs.root();
        let vit = ViTBody::new(&root / "vit", &config, false)?;
        let n = config.labels.len() as i64;
        let classifier = Linear::new(&root / "classifier", config.hidden_size, n, true, config.initializer_range)?;
        Ok(ViTForImageClassification { vit, classifier, config, state: ModelState::new(vs) })
    }

    /// Class logits (batch, num_labels).
    pub fn forward(&self, pixel_values: &Tensor) -> Tensor {
        let h = self.vit.forward(pixel_values, self.state.training);
        self.classifier.forward(&h.select(1, 0))
    }
}

model_boilerplate!(
    ViTForImageClassification, ViTConfig, "ViTForImageClassification", "vit", [],
    |s| { let mut v = s.vit.linears_mut(); v.push(&mut s.classifier); v },
    |s| { let mut v = s.vit.linears(); v.push(&s.classifier); v },
    hooks |s| s.vit.tuning_hooks()
);
