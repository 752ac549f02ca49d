//! What a trained language model is for, in one call: fill in `[MASK]` with BERT (Hugging
//! Face's `fill-mask` pipeline) and continue a prompt with GPT-2 (`text-generation`).

use super::bert::BertForMaskedLM;
use super::generate::Generation;
use super::gpt2::GPT2LMHeadModel;
use super::pretrained::PretrainedModel;
use crate::display::{escape_html, Html, MimeBundle, Render};
use crate::text::Tokenizer;
use crate::{Error, Result};
use tch::{Kind, Tensor};

/// The most likely tokens for each `[MASK]` of a text, with their probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct FillMask {
    pub text: String,
    /// Per mask, in order: (token, probability), most likely first.
    pub predictions: Vec<Vec<(String, f64)>>,
}

impl BertForMaskedLM {
    /// The `top_k` most likely tokens at each mask token of `text` (write the tokenizer's mask
    /// token, `[MASK]` for BERT, where a word should be predicted).
    ///
    /// ```no_run
    /// use tuna::prelude::*;
    /// # let (model, tok): (BertForMaskedLM, Tokenizer) = todo!();
    /// model.fill_mask(&tok, "The capital of France is [MASK].", 5)?
    /// # ; Ok::<(), tuna::Error>(())
    /// ```
    pub fn fill_mask(&self, tokenizer: &Tokenizer, text: &str, top_k: usize) -> Result<FillMask> {
        let mask = tokenizer
            .mask_id()
            .ok_or_else(|| Error::config("tokenizer", "this tokenizer has no mask token; fill_mask needs a BERT (WordPiece) tokenizer"))?;
        let enc = tokenizer.encode(text)?;
        let positions: Vec<i64> = enc.ids.iter().enumerate().filter(|(_, &id)| id == mask).map(|(i, _)| i as i64).collect();
        if positions.is_empty() {
            let token = tokenizer.id_to_token(mask).unwrap_or_else(|| "[MASK]".into());
            return Err(Error::config("text", format!("`{text}` has no `{token}`: write {token} where a word should be predicted")));
        }
        if top_k == 0 {
            return Err(Error::config("top_k", "ask for at least one prediction"));
        }
        let device = self.device();
        let ids = Tensor::from_slice(&enc.ids.iter().map(|&i| i as i64).collect::<Vec<_>>()).unsqueeze(0).to_device(device);
        let probs = tch::no_grad(|| {
            let logits = self.forward(&ids, None, None).squeeze_dim(0);
            // (masks, vocab)
            logits.index_select(0, &Tensor::from_slice(&positions).to_device(device)).softmax(-1, Kind::Float)
        });
        let k = top_k.min(tokenizer.vocab_size()) as i64;
        let (values, indices) = probs.topk(k, -1, true, true);
        let mut predictions = Vec::new();
        for m in 0..positions.len() as i64 {
            let row: Vec<(String, f64)> = (0..k)
                .map(|j| {
                    let id = indices.int64_value(&[m, j]) as u32;
                    (tokenizer.id_to_token(id).unwrap_or_else(|| format!("#{id}")), values.double_value(&[m, j]))
                })
                .collect();
            predictions.push(row);
        }
        Ok(FillMask { text: text.to_owned(), predictions })
    }
}

impl FillMask {
    /// The text with each mask replaced by its most likely token.
    pub fn best(&self) -> String {
        let mut out = self.text.clone();
        for p in &self.predictions {
            if let (Some((token, _)), Some(at)) = (p.first(), out.find("[MASK]")) {
                out.replace_range(at..at + "[MASK]".len(), token);
            }
        }
        out
    }
}

impl Render for FillMask {
    fn render(&self) -> MimeBundle {
        let mut html = format!("<table><caption>{}</caption><thead><tr>", escape_html(&self.text));
        let mut text = format!("{}\n", self.text);
        for m in 0..self.predictions.len() {
            html += &format!("<th>mask {}</th><th>p</th>", m + 1);
        }
        html += "</tr></thead><tbody>";
        let rows = self.predictions.iter().map(Vec::len).max().unwrap_or(0);
        for r in 0..rows {
            html += "<tr>";
            for p in &self.predictions {
                match p.get(r) {
                    Some((token, prob)) => {
                        html += &format!("<td>{}</td><td>{prob:.3}</td>", escape_html(token));
                        text += &format!("  {token:<16} {prob:.3}");
                    }
                    None => html += "<td></td><td></td>",
                }
            }
            html += "</tr>";
            text.push('\n');
        }
        html += "</tbody></table>";
        Html::new(html).plain(text).render()
    }
}
crate::impl_evcxr_display!(FillMask);

impl GPT2LMHeadModel {
    /// `prompt` and its continuation as text.
    ///
    /// ```no_run
    /// use tuna::prelude::*;
    /// # let (model, tok): (GPT2LMHeadModel, Tokenizer) = todo!();
    /// println!("{}", model.complete(&tok, "And God said", &Generation::sample(40).top_p(0.9).seed(1))?);
    /// # Ok::<(), tuna::Error>(())
    /// ```
    pub fn complete(&self, tokenizer: &Tokenizer, prompt: &str, how: &Generation) -> Result<String> {
        let enc = tokenizer.encode(prompt)?;
        if enc.ids.is_empty() {
            return Err(Error::config("prompt", "the prompt is empty: give the model some text to continue"));
        }
        let ids = Tensor::from_slice(&enc.ids.iter().map(|&i| i as i64).collect::<Vec<_>>()).unsqueeze(0);
        let out = self.generate(&ids, how)?;
        let tokens: Vec<u32> = Vec::<i64>::try_from(out.squeeze_dim(0).to_device(tch::Device::Cpu))?.into_iter().map(|i| i as u32).collect();
        tokenizer.decode(&tokens, true)
    }
}
