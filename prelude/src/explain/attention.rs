//! Attention maps for one sentence: the probabilities of every layer and head
//! (`output_attentions=True` in `transformers`), with the tokens they are over, shown as a
//! layers × heads grid, or one head at a time with token labels.

use crate::display::{MimeBundle, Render};
use crate::models::{with_attentions, BertBody, GPT2Body};
use crate::plot::{AttentionGrid, AttentionMap};
use crate::text::Tokenizer;
use crate::{Error, Result};
use tch::{Device, Kind, Tensor};

/// The attention probabilities of one sentence: `weights` (layers, heads, tokens, tokens),
/// row = query, column = key.
#[derive(Debug)]
pub struct Attentions {
    /// The tokens, as the tokenizer wrote them.
    pub tokens: Vec<String>,
    /// (layers, heads, tokens, tokens), float32 on the CPU.
    pub weights: Tensor,
}

impl Attentions {
    /// From the per-layer probabilities a forward pass recorded, each (batch, heads, q, k):
    /// keeps batch row `row` and its first `tokens.len()` positions.
    pub fn from_layers(tokens: Vec<String>, layers: &[Tensor], row: i64) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::Message("no attention layer ran: was the forward pass inside with_attentions?".into()));
        }
        let n = tokens.len() as i64;
        let picked: Vec<Tensor> = layers
            .iter()
            .map(|l| match l.size().as_slice() {
                &[b, _, q, k] if row < b && q >= n && k >= n => Ok(l.get(row).narrow(1, 0, n).narrow(2, 0, n)),
                shape => Err(Error::Shape { context: "Attentions".into(), message: format!("layer probabilities {shape:?} do not hold row {row} of {n} tokens") }),
            })
            .collect::<Result<_>>()?;
        let weights = Tensor::stack(&picked, 0).detach().to_device(Device::Cpu).to_kind(Kind::Float);
        Ok(Attentions { tokens, weights })
    }

    /// Number of layers.
    pub fn layers(&self) -> i64 {
        self.weights.size()[0]
    }

    /// Number of heads per layer.
    pub fn heads(&self) -> i64 {
        self.weights.size()[1]
    }

    /// One head's map with token labels.
    pub fn head(&self, layer: i64, head: i64) -> Result<AttentionMap> {
        self.check(layer, head)?;
        Ok(AttentionMap::new(&self.tokens, &self.weights.get(layer).get(head))?.title(format!("layer {layer}, head {head}")))
    }

    /// The mean over a layer's heads, with token labels.
    pub fn layer_mean(&self, layer: i64) -> Result<AttentionMap> {
        self.check(layer, 0)?;
        let mean = self.weights.get(layer).mean_dim(0, false, Kind::Float);
        Ok(AttentionMap::new(&self.tokens, &mean)?.title(format!("layer {layer}, mean over heads")))
    }

    /// Every layer × head as a grid.
    pub fn grid(&self) -> Result<AttentionGrid> {
        AttentionGrid::new(&self.tokens, &self.weights)
    }

    fn check(&self, layer: i64, head: i64) -> Result<()> {
        if (0..self.layers()).contains(&layer) && (0..self.heads()).contains(&head) {
            Ok(())
        } else {
            Err(Error::Config {
                key: format!("layer {layer}, head {head}"),
                message: format!("the model has layers 0..{} and heads 0..{}", self.layers(), self.heads()),
            })
        }
    }
}

impl Render for Attentions {
    fn render(&self) -> MimeBundle {
        match self.grid() {
            Ok(grid) => grid.render(),
            Err(e) => MimeBundle::text(format!("<Attentions: {e}>")),
        }
    }
}

crate::impl_evcxr_display!(Attentions);

/// `text` encoded without padding: ids (1, n) and the tokens.
fn encode(tokenizer: &Tokenizer, text: &str, device: Device) -> Result<(Tensor, Vec<String>)> {
    let enc = tokenizer.encode(text)?;
    let n = enc.attention_mask.iter().filter(|&&m| m != 0).count().max(1);
    let ids: Vec<i64> = enc.ids[..n.min(enc.ids.len())].iter().map(|&i| i as i64).collect();
    let tokens = tokenizer.tokens(&enc.ids[..ids.len()]);
    Ok((Tensor::from_slice(&ids).view([1, -1]).to_device(device), tokens))
}

/// The attention of every layer and head of a BERT encoder (`model.bert` of any BERT model)
/// over the tokens of `text`, in evaluation mode.
pub fn bert_attentions(body: &BertBody, tokenizer: &Tokenizer, text: &str) -> Result<Attentions> {
    let device = body.embeddings.word_embeddings.weight.device();
    let (ids, tokens) = encode(tokenizer, text, device)?;
    let (_, layers) = with_attentions(|| tch::no_grad(|| body.forward(&ids, None, None, false)));
    Attentions::from_layers(tokens, &layers, 0)
}

/// The (causal) attention of every layer and head of a GPT-2 decoder (`model.transformer`)
/// over the tokens of `text`, in evaluation mode.
pub fn gpt2_attentions(body: &GPT2Body, tokenizer: &Tokenizer, text: &str) -> Result<Attentions> {
    let device = body.wte.weight.device();
    let (ids, tokens) = encode(tokenizer, text, device)?;
    let (_, layers) = with_attentions(|| tch::no_grad(|| body.forward(&ids, None, None, false)));
    Attentions::from_layers(tokens, &layers, 0)
}
