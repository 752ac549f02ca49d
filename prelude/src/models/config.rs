//! Model configurations read from and written to Hugging Face `config.json` files, with the
//! field names of `transformers`' `configuration_bert.py`, `configuration_gpt2.py` and
//! `configuration_vit.py`, their defaults, and presets for training from scratch.
//!
//! Keys that tuna does not use (`transformers_version`, `architectures`, `dtype`, …) are kept in
//! `extra` and written back by `save_pretrained`, so a checkpoint survives a round trip.

use crate::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

use super::layers::Activation;

/// What every model configuration can do; implemented by [`BertConfig`], [`GPT2Config`] and
/// [`ViTConfig`].
pub trait ModelConfig: Serialize + DeserializeOwned + Clone + std::fmt::Debug {
    /// The `model_type` written to `config.json` ("bert", "gpt2", "vit").
    const MODEL_TYPE: &'static str;

    /// Checks values that would make the model impossible to build, naming the key.
    fn validate(&self) -> Result<()>;

    /// The labels of a classification head.
    fn labels_mut(&mut self) -> &mut Labels;

    /// Sets the number of labels of a classification head (writes `id2label` / `label2id`).
    fn set_num_labels(&mut self, num_labels: usize) {
        *self.labels_mut() = Labels::numbered(num_labels);
    }

    /// Reads `config.json` from `path`.
    fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: Self =
            serde_json::from_str(&text).map_err(|source| Error::Json { path: path.to_owned(), source })?;
        config.validate()?;
        Ok(config)
    }
}

/// Label names of a classification head, in Hugging Face's two maps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Labels {
    /// Label name by class index (keys are the indices as strings, as in `config.json`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub id2label: BTreeMap<String, String>,
    /// Class index by label name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub label2id: BTreeMap<String, i64>,
}

impl Labels {
    /// `n` labels named `LABEL_0` … as Hugging Face names them.
    pub fn numbered(n: usize) -> Self {
        let id2label = (0..n).map(|i| (i.to_string(), format!("LABEL_{i}"))).collect();
        let label2id = (0..n).map(|i| (format!("LABEL_{i}"), i as i64)).collect();
        Labels { id2label, label2id }
    }

    /// The number of labels: `id2label`'s size, or 2 (Hugging Face's default) when it is empty.
    #[allow(clippy::len_without_is_empty)] // never empty: no labels means Hugging Face's two
    pub fn len(&self) -> usize {
        if self.id2label.is_empty() {
            2
        } else {
            self.id2label.len()
        }
    }
}

/// Configuration of a BERT encoder (`BertConfig` in `transformers`).
///
/// ```no_run
/// use tuna::models::BertConfig;
/// let mut config = BertConfig::mini();
/// config.vocab_size = 8000;
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BertConfig {
    /// Number of tokens in the vocabulary (default 30522).
    pub vocab_size: i64,
    /// Width of the hidden states (default 768).
    pub hidden_size: i64,
    /// Number of encoder layers (default 12).
    pub num_hidden_layers: i64,
    /// Attention heads per layer; must divide `hidden_size` (default 12).
    pub num_attention_heads: i64,
    /// Width of the feed-forward layer (default 3072).
    pub intermediate_size: i64,
    /// Activation of the feed-forward layer and the MLM head (default "gelu", the erf form).
    pub hidden_act: Activation,
    /// Dropout on embeddings and layer outputs (default 0.1).
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities (default 0.1).
    pub attention_probs_dropout_prob: f64,
    /// Longest sequence the position embeddings cover (default 512).
    pub max_position_embeddings: i64,
    /// Number of segment (token type) ids (default 2).
    pub type_vocab_size: i64,
    /// Standard deviation of the normal initialisation of weights (default 0.02).
    pub initializer_range: f64,
    /// Epsilon of every LayerNorm (default 1e-12).
    pub layer_norm_eps: f64,
    /// Id of the padding token, whose embedding starts at zero (default 0).
    pub pad_token_id: Option<i64>,
    /// Position embedding kind; tuna supports "absolute" (the default).
    pub position_embedding_type: String,
    /// Dropout before classification heads; `None` uses `hidden_dropout_prob` (default None).
    pub classifier_dropout: Option<f64>,
    /// Whether the MLM decoder shares the word embedding matrix (default true).
    pub tie_word_embeddings: bool,
    /// Whether the model is a causal decoder; tuna supports only `false` (the default).
    pub is_decoder: bool,
    /// Labels of a classification head (default: two, `LABEL_0` and `LABEL_1`).
    #[serde(flatten)]
    pub labels: Labels,
    /// Every other key of `config.json`, kept so that saving writes it back.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for BertConfig {
    fn default() -> Self {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: Activation::Gelu,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            pad_token_id: Some(0),
            position_embedding_type: "absolute".into(),
            classifier_dropout: None,
            tie_word_embeddings: true,
            is_decoder: false,
            labels: Labels::default(),
            extra: Map::new(),
        }
    }
}

impl BertConfig {
    /// 2 layers, hidden 64, 2 heads: trains in seconds on a CPU, for tests and tutorials.
    pub fn tiny() -> Self {
        BertConfig { hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 256, ..Self::default() }
    }

    /// 4 layers, hidden 256, 4 heads (the size of Google's BERT-mini).
    pub fn mini() -> Self {
        BertConfig { hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024, ..Self::default() }
    }

    /// BERT-base: 12 layers, hidden 768, 12 heads.
    pub fn base() -> Self {
        Self::default()
    }

    /// Dropout before classification heads.
    pub fn classifier_dropout(&self) -> f64 {
        self.classifier_dropout.unwrap_or(self.hidden_dropout_prob)
    }
}

fn check_heads(hidden: i64, heads: i64, hidden_key: &str) -> Result<()> {
    if heads <= 0 || hidden <= 0 || hidden % heads != 0 {
        return Err(Error::config(
            hidden_key,
            format!("{hidden_key} = {hidden} must be a positive multiple of the number of attention heads ({heads})"),
        ));
    }
    Ok(())
}

fn check_positive(key: &str, value: i64) -> Result<()> {
    if value <= 0 {
        return Err(Error::config(key, format!("must be positive, got {value}")));
    }
    Ok(())
}

impl ModelConfig for BertConfig {
    const MODEL_TYPE: &'static str = "bert";

    fn validate(&self) -> Result<()> {
        check_heads(self.hidden_size, self.num_attention_heads, "hidden_size")?;
        for (key, v) in [
            ("vocab_size", self.vocab_size),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            check_positive(key, v)?;
        }
        if self.position_embedding_type != "absolute" {
            return Err(Error::config(
                "position_embedding_type",
                format!("tuna supports \"absolute\" only, got {:?}", self.position_embedding_type),
            ));
        }
        if self.is_decoder {
            return Err(Error::config("is_decoder", "tuna's BERT is an encoder; use GPT-2 for a causal decoder"));
        }
        Ok(())
    }

    fn labels_mut(&mut self) -> &mut Labels {
        &mut self.labels
    }
}

/// Configuration of a GPT-2 decoder (`GPT2Config` in `transformers`).
///
/// ```no_run
/// use tuna::models::GPT2Config;
/// let config = GPT2Config { vocab_size: 8000, ..GPT2Config::tiny() };
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GPT2Config {
    /// Number of tokens in the vocabulary (default 50257).
    pub vocab_size: i64,
    /// Longest sequence the position embeddings cover (default 1024).
    pub n_positions: i64,
    /// Width of the hidden states (default 768).
    pub n_embd: i64,
    /// Number of decoder blocks (default 12).
    pub n_layer: i64,
    /// Attention heads per block; must divide `n_embd` (default 12).
    pub n_head: i64,
    /// Width of the feed-forward layer; `None` means 4 × `n_embd` (default None).
    pub n_inner: Option<i64>,
    /// Activation of the feed-forward layer (default "gelu_new", the tanh approximation).
    pub activation_function: Activation,
    /// Dropout on block outputs (default 0.1).
    pub resid_pdrop: f64,
    /// Dropout on the embeddings (default 0.1).
    pub embd_pdrop: f64,
    /// Dropout on attention probabilities (default 0.1).
    pub attn_pdrop: f64,
    /// Epsilon of every LayerNorm (default 1e-5).
    pub layer_norm_epsilon: f64,
    /// Standard deviation of the normal initialisation of weights (default 0.02).
    pub initializer_range: f64,
    /// Whether attention scores are divided by √head_dim (default true).
    pub scale_attn_weights: bool,
    /// Whether attention scores are also divided by the layer's index + 1 (default false).
    pub scale_attn_by_inverse_layer_idx: bool,
    /// Computes attention in f32 in mixed precision; accepted, the f32 path is used (default false).
    pub reorder_and_upcast_attn: bool,
    /// Id of the beginning-of-text token (default 50256).
    pub bos_token_id: Option<i64>,
    /// Id of the end-of-text token where generation stops (default 50256).
    pub eos_token_id: Option<i64>,
    /// Id used to pad batches (default None: GPT-2 has no padding token).
    pub pad_token_id: Option<i64>,
    /// Whether the LM head shares the token embedding matrix (default true).
    pub tie_word_embeddings: bool,
    /// Cross-attention for encoder-decoder use; tuna supports only `false` (the default).
    pub add_cross_attention: bool,
    /// Labels of a classification head (default: two).
    #[serde(flatten)]
    pub labels: Labels,
    /// Every other key of `config.json`, kept so that saving writes it back.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for GPT2Config {
    fn default() -> Self {
        GPT2Config {
            vocab_size: 50257,
            n_positions: 1024,
            n_embd: 768,
            n_layer: 12,
            n_head: 12,
            n_inner: None,
            activation_function: Activation::GeluNew,
            resid_pdrop: 0.1,
            embd_pdrop: 0.1,
            attn_pdrop: 0.1,
            layer_norm_epsilon: 1e-5,
            initializer_range: 0.02,
            scale_attn_weights: true,
            scale_attn_by_inverse_layer_idx: false,
            reorder_and_upcast_attn: false,
            bos_token_id: Some(50256),
            eos_token_id: Some(50256),
            pad_token_id: None,
            tie_word_embeddings: true,
            add_cross_attention: false,
            labels: Labels::default(),
            extra: Map::new(),
        }
    }
}

impl GPT2Config {
    /// 2 blocks, width 64, 2 heads, 256 positions: trains in seconds on a CPU.
    pub fn tiny() -> Self {
        GPT2Config { n_embd: 64, n_layer: 2, n_head: 2, n_positions: 256, ..Self::default() }
    }

    /// 4 blocks, width 256, 4 heads, 512 positions.
    pub fn mini() -> Self {
        GPT2Config { n_embd: 256, n_layer: 4, n_head: 4, n_positions: 512, ..Self::default() }
    }

    /// GPT-2 small (124 M parameters): 12 blocks, width 768, 12 heads.
    pub fn base() -> Self {
        Self::default()
    }

    /// Width of the feed-forward layer.
    pub fn inner_size(&self) -> i64 {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }
}

impl ModelConfig for GPT2Config {
    const MODEL_TYPE: &'static str = "gpt2";

    fn validate(&self) -> Result<()> {
        check_heads(self.n_embd, self.n_head, "n_embd")?;
        check_positive("vocab_size", self.vocab_size)?;
        check_positive("n_positions", self.n_positions)?;
        check_positive("n_inner", self.inner_size())?;
        if self.add_cross_attention {
            return Err(Error::config("add_cross_attention", "tuna's GPT-2 has no cross-attention"));
        }
        Ok(())
    }

    fn labels_mut(&mut self) -> &mut Labels {
        &mut self.labels
    }
}

/// Configuration of a Vision Transformer (`ViTConfig` in `transformers`).
///
/// ```no_run
/// use tuna::models::{ModelConfig, ViTConfig};
/// let mut config = ViTConfig { image_size: 28, patch_size: 4, num_channels: 1, ..ViTConfig::tiny() };
/// config.set_num_labels(10);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViTConfig {
    /// Width of the hidden states (default 768).
    pub hidden_size: i64,
    /// Number of encoder layers (default 12).
    pub num_hidden_layers: i64,
    /// Attention heads per layer; must divide `hidden_size` (default 12).
    pub num_attention_heads: i64,
    /// Width of the feed-forward layer (default 3072).
    pub intermediate_size: i64,
    /// Activation of the feed-forward layer (default "gelu").
    pub hidden_act: Activation,
    /// Dropout on layer outputs (default 0.0).
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities (default 0.0).
    pub attention_probs_dropout_prob: f64,
    /// Standard deviation of the normal initialisation of weights (default 0.02).
    pub initializer_range: f64,
    /// Epsilon of every LayerNorm (default 1e-12).
    pub layer_norm_eps: f64,
    /// Side of the square input images, in pixels (default 224).
    pub image_size: i64,
    /// Side of the square patches, in pixels; must divide `image_size` (default 16).
    pub patch_size: i64,
    /// Channels of the input images (default 3).
    pub num_channels: i64,
    /// Whether query, key and value projections have a bias (default true).
    pub qkv_bias: bool,
    /// Upsampling factor of the masked-image-modelling decoder; kept for round trips (default 16).
    pub encoder_stride: i64,
    /// Width of the pooler output; `None` means `hidden_size` (default None).
    pub pooler_output_size: Option<i64>,
    /// Activation of the pooler (default "tanh").
    pub pooler_act: Activation,
    /// Labels of the image-classification head (default: two).
    #[serde(flatten)]
    pub labels: Labels,
    /// Every other key of `config.json`, kept so that saving writes it back.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for ViTConfig {
    fn default() -> Self {
        ViTConfig {
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: Activation::Gelu,
            hidden_dropout_prob: 0.0,
            attention_probs_dropout_prob: 0.0,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            image_size: 224,
            patch_size: 16,
            num_channels: 3,
            qkv_bias: true,
            encoder_stride: 16,
            pooler_output_size: None,
            pooler_act: Activation::Tanh,
            labels: Labels::default(),
            extra: Map::new(),
        }
    }
}

impl ViTConfig {
    /// 2 layers, hidden 64, 2 heads, 28×28 single-channel images in 4×4 patches (MNIST-sized).
    pub fn tiny() -> Self {
        ViTConfig {
            hidden_size: 64,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            intermediate_size: 256,
            image_size: 28,
            patch_size: 4,
            num_channels: 1,
            ..Self::default()
        }
    }

    /// 4 layers, hidden 256, 4 heads, 32×32 RGB images in 4×4 patches.
    pub fn mini() -> Self {
        ViTConfig {
            hidden_size: 256,
            num_hidden_layers: 4,
            num_attention_heads: 4,
            intermediate_size: 1024,
            image_size: 32,
            patch_size: 4,
            ..Self::default()
        }
    }

    /// ViT-Base/16 at 224×224.
    pub fn base() -> Self {
        Self::default()
    }

    /// Number of patches per image.
    pub fn num_patches(&self) -> i64 {
        (self.image_size / self.patch_size).pow(2)
    }
}

impl ModelConfig for ViTConfig {
    const MODEL_TYPE: &'static str = "vit";

    fn validate(&self) -> Result<()> {
        check_heads(self.hidden_size, self.num_attention_heads, "hidden_size")?;
        check_positive("intermediate_size", self.intermediate_size)?;
        check_positive("patch_size", self.patch_size)?;
        check_positive("num_channels", self.num_channels)?;
        if self.image_size <= 0 || self.image_size % self.patch_size != 0 {
            return Err(Error::config(
                "image_size",
                format!("image_size = {} must be a positive multiple of patch_size = {}", self.image_size, self.patch_size),
            ));
        }
        Ok(())
    }

    fn labels_mut(&mut self) -> &mut Labels {
        &mut self.labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_field_names_round_trip_and_keep_unknown_keys() {
        let json = r#"{"hidden_size": 48, "num_attention_heads": 4, "hidden_act": "gelu_new",
                      "id2label": {"0": "neg", "1": "pos", "2": "neutral"}, "transformers_version": "5.23.0"}"#;
        let c: BertConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.hidden_size, 48);
        assert_eq!(c.hidden_act, Activation::GeluNew);
        assert_eq!(c.labels.len(), 3);
        assert_eq!(c.vocab_size, 30522);
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["transformers_version"], "5.23.0");
        assert_eq!(back["id2label"]["2"], "neutral");
        assert_eq!(back["layer_norm_eps"], 1e-12);
    }

    #[test]
    fn invalid_values_name_their_key() {
        let c = BertConfig { hidden_size: 30, num_attention_heads: 4, ..BertConfig::tiny() };
        assert!(c.validate().unwrap_err().to_string().contains("hidden_size"));
        let v = ViTConfig { image_size: 30, patch_size: 4, ..ViTConfig::tiny() };
        assert!(v.validate().unwrap_err().to_string().contains("image_size"));
        assert!(GPT2Config::tiny().validate().is_ok());
    }
}
