//! Maskers for text and images, as shap's `maskers.Text` (masked tokens become the mask or
//! pad token; special tokens are never features) and `maskers.Image` over a fixed grid of
//! square patches (masked patches show the background image, the image's mean colour, a box
//! blur of the image as shap's "blur(k,k)", or a constant). Superpixels are not implemented.

use super::game::{mask_tensor, Masker};
use super::values::ShapValues;
use crate::plot::SaliencyMap;
use crate::text::Tokenizer;
use crate::{Error, Result};
use tch::{Device, Kind, Tensor};

/// What a masked token becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFill {
    /// The tokenizer's `[MASK]` token (shap's default for masked language models).
    Mask,
    /// The tokenizer's `[PAD]` token.
    Pad,
    /// A given token id.
    Id(i64),
}

/// The tokens of one text as features; special tokens (`[CLS]`, `[SEP]`) stay in every coalition.
///
/// ```no_run
/// use tuna::prelude::*;
/// # fn f(model: &BertForSequenceClassification, tok: &Tokenizer) -> tuna::Result<()> {
/// let masker = TokenMasker::from_text(tok, "what a lovely day", TokenFill::Mask)?;
/// let positive = |ids: &Tensor| model.forward(ids, None, None).select(1, 1);
/// show(&PartitionShap::new().explain_masked(&masker, positive)?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TokenMasker {
    ids: Vec<i64>,
    tokens: Vec<String>,
    features: Vec<usize>,
    replacement: i64,
}

impl TokenMasker {
    /// Every position of `ids` a feature; a masked one becomes `replacement`.
    pub fn new(ids: &[i64], replacement: i64) -> Self {
        TokenMasker { ids: ids.to_vec(), tokens: ids.iter().map(i64::to_string).collect(), features: (0..ids.len()).collect(), replacement }
    }

    /// The text's tokens as features, special tokens kept, masked ones replaced by `fill`.
    pub fn from_text(tokenizer: &Tokenizer, text: &str, fill: TokenFill) -> Result<Self> {
        let enc = tokenizer.encode(text)?;
        let n = enc.attention_mask.iter().filter(|&&m| m != 0).count().min(enc.ids.len());
        let replacement = match fill {
            TokenFill::Mask => tokenizer.mask_id().ok_or_else(|| Error::config("fill", "the tokenizer has no [MASK] token; use TokenFill::Pad or TokenFill::Id"))? as i64,
            TokenFill::Pad => tokenizer.pad_id().ok_or_else(|| Error::config("fill", "the tokenizer has no [PAD] token; use TokenFill::Mask or TokenFill::Id"))? as i64,
            TokenFill::Id(id) => id,
        };
        let ids: Vec<i64> = enc.ids[..n].iter().map(|&i| i as i64).collect();
        let special: Vec<bool> = enc.special_tokens_mask[..n].iter().map(|&s| s != 0).collect();
        Ok(TokenMasker::new(&ids, replacement).tokens(tokenizer.tokens(&enc.ids[..n])).special(&special))
    }

    /// Positions where `special` is true are no features and keep their token.
    pub fn special(mut self, special: &[bool]) -> Self {
        self.features = (0..self.ids.len()).filter(|&i| !special.get(i).copied().unwrap_or(false)).collect();
        self
    }

    /// The token strings shown for each position (default: the ids).
    pub fn tokens<S: Into<String>>(mut self, tokens: impl IntoIterator<Item = S>) -> Self {
        self.tokens = tokens.into_iter().map(Into::into).collect();
        self
    }

    /// The unmasked ids.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }
}

impl Masker for TokenMasker {
    fn features(&self) -> usize {
        self.features.len()
    }

    fn names(&self) -> Vec<String> {
        self.features.iter().map(|&i| self.tokens.get(i).cloned().unwrap_or_else(|| self.ids[i].to_string())).collect()
    }

    /// Token ids (coalitions, sequence length), Int64 on the CPU.
    fn inputs(&self, masks: &[Vec<bool>]) -> Result<Tensor> {
        if let Some(bad) = masks.iter().find(|m| m.len() != self.features.len()) {
            return Err(Error::Shape { context: "TokenMasker".into(), message: format!("a coalition of {} features for {} tokens", bad.len(), self.features.len()) });
        }
        let mut rows = Vec::with_capacity(masks.len() * self.ids.len());
        for mask in masks {
            let mut ids = self.ids.clone();
            for (&position, &kept) in self.features.iter().zip(mask) {
                if !kept {
                    ids[position] = self.replacement;
                }
            }
            rows.extend(ids);
        }
        Ok(Tensor::from_slice(&rows).view([masks.len() as i64, self.ids.len() as i64]))
    }
}

/// What a masked image patch shows.
#[derive(Debug)]
pub enum ImageFill {
    /// Each channel's mean over the image.
    Mean,
    /// A box blur of the image, `k` × `k` pixels (odd; even sizes grow by one), as shap's "blur(k,k)".
    Blur(i64),
    /// A constant (say the normalised value of black).
    Value(f64),
    /// The pixels of a background image of the same shape.
    Image(Tensor),
}

/// An image (C, H, W) cut into a grid of `patch` × `patch` squares, each a feature (the last
/// row and column may be narrower). Coalitions are shown to the model as (k, C, H, W) batches
/// on the image's device.
///
/// ```no_run
/// use tuna::prelude::*;
/// # fn f(vit: &ViTForImageClassification, image: &Tensor) -> tuna::Result<()> {
/// let masker = ImageMasker::new(image, 16)?.fill(ImageFill::Blur(11));
/// let shap = PartitionShap::new().max_evals(800).explain_masked(&masker, |x| vit.forward(x).select(1, 3))?;
/// show(&masker.overlay(&shap)?);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ImageMasker {
    image: Tensor,
    patch: i64,
    fill: ImageFill,
}

impl ImageMasker {
    /// `image` (C, H, W) in `patch`-pixel squares, masked patches filled with the mean colour.
    pub fn new(image: &Tensor, patch: usize) -> Result<Self> {
        if image.dim() != 3 || patch == 0 {
            return Err(Error::Shape { context: "ImageMasker".into(), message: format!("the image must be (C, H, W) and the patch at least 1 pixel; got {:?} and {patch}", image.size()) });
        }
        Ok(ImageMasker { image: image.detach(), patch: patch as i64, fill: ImageFill::Mean })
    }

    /// What masked patches show (default [`ImageFill::Mean`]).
    pub fn fill(mut self, fill: ImageFill) -> Self {
        self.fill = fill;
        self
    }

    /// Patch rows and columns of the grid.
    pub fn grid(&self) -> (i64, i64) {
        let (h, w) = (self.image.size()[1], self.image.size()[2]);
        ((h + self.patch - 1) / self.patch, (w + self.patch - 1) / self.patch)
    }

    /// The image every masked patch takes its pixels from, (C, H, W).
    fn fill_image(&self) -> Result<Tensor> {
        let image = &self.image;
        Ok(match &self.fill {
            ImageFill::Mean => image.mean_dim(&[1i64, 2][..], true, image.kind()).expand_as(image),
            ImageFill::Blur(k) => {
                let k = (*k).max(1) | 1;
                image.unsqueeze(0).avg_pool2d([k, k], [1, 1], [k / 2, k / 2], false, false, None).squeeze_dim(0)
            }
            ImageFill::Value(v) => image.full_like(*v),
            ImageFill::Image(b) if b.size() == image.size() => b.to_kind(image.kind()).to_device(image.device()),
            ImageFill::Image(b) => return Err(Error::Shape { context: "ImageFill::Image".into(), message: format!("background {:?} for an image {:?}", b.size(), image.size()) }),
        })
    }

    /// A per-patch map (rows, cols) spread to pixels, (H, W).
    fn to_pixels(&self, grid: &Tensor) -> Tensor {
        let (h, w) = (self.image.size()[1], self.image.size()[2]);
        grid.repeat_interleave_self_int(self.patch, 0, None).repeat_interleave_self_int(self.patch, 1, None).narrow(0, 0, h).narrow(1, 0, w)
    }

    /// Each pixel's patch value, (H, W) on the CPU.
    pub fn heat(&self, values: &ShapValues) -> Result<Tensor> {
        let (rows, cols) = self.grid();
        if values.values.len() as i64 != rows * cols {
            return Err(Error::Shape { context: "ImageMasker::heat".into(), message: format!("{} values for a {rows}×{cols} grid", values.values.len()) });
        }
        Ok(self.to_pixels(&Tensor::from_slice(&values.values).view([rows, cols])))
    }

    /// The image, its |SHAP value| per patch and the two overlaid.
    pub fn overlay(&self, values: &ShapValues) -> Result<SaliencyMap> {
        let heat = self.heat(values)?.to_kind(Kind::Float);
        let image = self.image.to_kind(Kind::Float).to_device(Device::Cpu).unsqueeze(0);
        Ok(SaliencyMap::new(&image, &heat.unsqueeze(0))?
            .title(format!("|SHAP value| per patch ({}): f(x) = {:.4}, base value = {:.4}", values.method, values.output, values.base_value)))
    }
}

impl Masker for ImageMasker {
    fn features(&self) -> usize {
        let (rows, cols) = self.grid();
        (rows * cols) as usize
    }

    fn names(&self) -> Vec<String> {
        let (rows, cols) = self.grid();
        (0..rows).flat_map(|r| (0..cols).map(move |c| format!("patch ({r}, {c})"))).collect()
    }

    fn inputs(&self, masks: &[Vec<bool>]) -> Result<Tensor> {
        let (rows, cols) = self.grid();
        let k = masks.len() as i64;
        let (h, w) = (self.image.size()[1], self.image.size()[2]);
        // (k, rows, cols) → (k, 1, H, W)
        let keep = mask_tensor(masks, self.features(), self.image.device())?.view([k, rows, cols]);
        let keep = keep.repeat_interleave_self_int(self.patch, 1, None).repeat_interleave_self_int(self.patch, 2, None).narrow(1, 0, h).narrow(2, 0, w).unsqueeze(1);
        Ok(self.image.unsqueeze(0).where_self(&keep, &self.fill_image()?.unsqueeze(0)))
    }
}
