//! BERT (Devlin et al., 2019) with its masked-LM, sequence-classification and
//! token-classification heads, mirroring `transformers/models/bert/modeling_bert.py`:
//! post-LayerNorm blocks, absolute positions, segment embeddings, padding mask.
//! Variable names equal the checkpoint keys (`bert.encoder.layer.0.attention.self.query.weight`).

use super::config::BertConfig;
use super::layers::{attention, dropout, merge_heads, padding_mask, split_heads, used_length, Activation, Embedding, LayerNorm, Packing};
use super::linear::Linear;
use super::pretrained::{model_boilerplate, ModelState};
use super::prefix::{prepend, KvPrefix, TuningHooks};
use crate::Result;
use tch::{nn, nn::VarStore, Tensor};

/// Word, position and segment embeddings, summed and normalised (`BertEmbeddings`).
#[derive(Debug)]
pub struct BertEmbeddings {
    /// `word_embeddings`: (vocab, hidden).
    pub word_embeddings: Embedding,
    /// `position_embeddings`: (max_positions, hidden).
    pub position_embeddings: Embedding,
    /// `token_type_embeddings`: (type_vocab, hidden).
    pub token_type_embeddings: Embedding,
    /// `LayerNorm`.
    pub layer_norm: LayerNorm,
    dropout: f64,
}

impl BertEmbeddings {
    fn new(p: nn::Path, c: &BertConfig) -> Result<Self> {
        let std = c.initializer_range;
        Ok(BertEmbeddings {
            word_embeddings: Embedding::new(&p / "word_embeddings", c.vocab_size, c.hidden_size, std, c.pad_token_id)?,
            position_embeddings: Embedding::new(&p / "position_embeddings", c.max_position_embeddings, c.hidden_size, std, None)?,
            token_type_embeddings: Embedding::new(&p / "token_type_embeddings", c.type_vocab_size, c.hidden_size, std, None)?,
            layer_norm: LayerNorm::new(&p / "LayerNorm", c.hidden_size, c.layer_norm_eps)?,
            dropout: c.hidden_dropout_prob,
        })
    }

    /// `input_ids` (batch, seq) → (batch, seq, hidden).
    pub fn forward(&self, input_ids: &Tensor, token_type_ids: Option<&Tensor>, train: bool) -> Tensor {
        self.forward_embeds(&self.word_embeddings.forward(input_ids), token_type_ids, train)
    }

    /// Adds positions and segments to word vectors `inputs_embeds` (batch, seq, hidden) and
    /// normalises: the hook for prompt tuning, which prepends trained vectors to the looked-up ones.
    pub fn forward_embeds(&self, inputs_embeds: &Tensor, token_type_ids: Option<&Tensor>, train: bool) -> Tensor {
        self.forward_embeds_at(inputs_embeds, token_type_ids, 0, train)
    }

    /// As [`BertEmbeddings::forward_embeds`] with positions from `past` on (after a key/value
    /// prefix of `past` positions, as `transformers` numbers them).
    pub fn forward_embeds_at(&self, inputs_embeds: &Tensor, token_type_ids: Option<&Tensor>, past: i64, train: bool) -> Tensor {
        let seq = inputs_embeds.size()[1];
        // Positions past..past+seq are rows of the table: (seq, hidden), broadcast over the batch.
        let positions = self.position_embeddings.weight.narrow(0, past, seq);
        let types = match token_type_ids {
            Some(t) => self.token_type_embeddings.forward(t),
            // No segments given: every token is segment 0; one row broadcasts (hidden,).
            None => self.token_type_embeddings.weight.get(0),
        };
        let x = inputs_embeds + types + positions;
        dropout(self.layer_norm.forward(&x), self.dropout, train)
    }
}

/// How a layer's rows are laid out: padded (batch, seq, hidden), or the real tokens packed
/// (tokens, hidden) with the packings that pad keys and queries again for attention.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rows<'a> {
    Padded,
    Packed { keys: &'a Packing, queries: &'a Packing },
}

impl Rows<'_> {
    fn keys_padded(self, x: Tensor) -> Tensor {
        match self {
            Rows::Padded => x,
            Rows::Packed { keys, .. } => keys.unpack(&x),
        }
    }

    fn queries_padded(self, x: Tensor) -> Tensor {
        match self {
            Rows::Padded => x,
            Rows::Packed { queries, .. } => queries.unpack(&x),
        }
    }

    fn queries_packed(self, x: Tensor) -> Tensor {
        match self {
            Rows::Padded => x,
            Rows::Packed { queries, .. } => queries.pack(&x),
        }
    }
}

/// Multi-head self-attention (`BertSelfAttention` + `BertSelfOutput`).
#[derive(Debug)]
pub struct BertAttention {
    /// `attention.self.query`.
    pub query: Linear,
    /// `attention.self.key`.
    pub key: Linear,
    /// `attention.self.value`.
    pub value: Linear,
    /// `attention.output.dense`.
    pub output: Linear,
    /// `attention.output.LayerNorm`.
    pub layer_norm: LayerNorm,
    /// Key/value vectors prepended to this layer's keys and values (prefix tuning); `None`
    /// by default. The prefix-tuning method of the adapters issue fills it.
    pub prefix: Option<KvPrefix>,
    heads: i64,
    scale: f64,
    attn_dropout: f64,
    hidden_dropout: f64,
}

impl BertAttention {
    fn new(p: nn::Path, c: &BertConfig) -> Result<Self> {
        let (h, std) = (c.hidden_size, c.initializer_range);
        let s = &p / "self";
        let o = &p / "output";
        Ok(BertAttention {
            query: Linear::new(&s / "query", h, h, true, std)?,
            key: Linear::new(&s / "key", h, h, true, std)?,
            value: Linear::new(&s / "value", h, h, true, std)?,
            output: Linear::new(&o / "dense", h, h, true, std)?,
            layer_norm: LayerNorm::new(&o / "LayerNorm", h, c.layer_norm_eps)?,
            prefix: None,
            heads: c.num_attention_heads,
            scale: ((h / c.num_attention_heads) as f64).powf(-0.5),
            attn_dropout: c.attention_probs_dropout_prob,
            hidden_dropout: c.hidden_dropout_prob,
        })
    }

    /// `x` (batch, seq, hidden), `mask` boolean (batch, 1, 1, seq) → (batch, seq, hidden).
    pub fn forward(&self, x: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        self.forward_queries(x, x, mask, train)
    }

    /// As `forward` for the query rows `xq` (batch, q_len, hidden) only (keys and values from
    /// all of `x`): → (batch, q_len, hidden).
    pub fn forward_queries(&self, x: &Tensor, xq: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        self.forward_rows(x, xq, Rows::Padded, mask, train)
    }

    /// As `forward_queries` with the rows of `x` and `xq` laid out as `rows` says.
    pub(crate) fn forward_rows(&self, x: &Tensor, xq: &Tensor, rows: Rows, mask: Option<&Tensor>, train: bool) -> Tensor {
        // (batch, heads, seq, head_dim)
        let q = split_heads(&rows.queries_padded(self.query.forward(xq)), self.heads);
        let k = split_heads(&rows.keys_padded(self.key.forward(x)), self.heads);
        let v = split_heads(&rows.keys_padded(self.value.forward(x)), self.heads);
        let (k, v, mask) = prepend(self.prefix.as_ref(), k, v, mask);
        let p = if train { self.attn_dropout } else { 0.0 };
        let ctx = rows.queries_packed(merge_heads(&attention(&q, &k, &v, mask.as_ref(), p, false, self.scale)));
        let out = dropout(self.output.forward(&ctx), self.hidden_dropout, train);
        self.layer_norm.forward(&(out + xq))
    }
}

/// One encoder block (`BertLayer`): attention, then the feed-forward `intermediate` / `output`.
#[derive(Debug)]
pub struct BertLayer {
    /// `attention`.
    pub attention: BertAttention,
    /// `intermediate.dense`.
    pub intermediate: Linear,
    /// `output.dense`.
    pub output: Linear,
    /// `output.LayerNorm`.
    pub layer_norm: LayerNorm,
    act: Activation,
    dropout: f64,
}

impl BertLayer {
    fn new(p: nn::Path, c: &BertConfig) -> Result<Self> {
        let std = c.initializer_range;
        Ok(BertLayer {
            attention: BertAttention::new(&p / "attention", c)?,
            intermediate: Linear::new(&p / "intermediate" / "dense", c.hidden_size, c.intermediate_size, true, std)?,
            output: Linear::new(&p / "output" / "dense", c.intermediate_size, c.hidden_size, true, std)?,
            layer_norm: LayerNorm::new(&p / "output" / "LayerNorm", c.hidden_size, c.layer_norm_eps)?,
            act: c.hidden_act,
            dropout: c.hidden_dropout_prob,
        })
    }

    /// (batch, seq, hidden) → (batch, seq, hidden).
    pub fn forward(&self, x: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        self.forward_queries(x, x, mask, train)
    }

    /// As `forward` at the rows `xq` of `x` only: (batch, q_len, hidden).
    pub fn forward_queries(&self, x: &Tensor, xq: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        self.forward_rows(x, xq, Rows::Padded, mask, train)
    }

    /// As `forward_queries` with the rows of `x` and `xq` laid out as `rows` says.
    pub(crate) fn forward_rows(&self, x: &Tensor, xq: &Tensor, rows: Rows, mask: Option<&Tensor>, train: bool) -> Tensor {
        let a = self.attention.forward_rows(x, xq, rows, mask, train);
        let h = self.act.forward(&self.intermediate.forward(&a));
        let out = dropout(self.output.forward(&h), self.dropout, train);
        self.layer_norm.forward(&(out + a))
    }

    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let at = &mut self.attention;
        vec![&mut at.query, &mut at.key, &mut at.value, &mut at.output, &mut self.intermediate, &mut self.output]
    }

    fn linears(&self) -> Vec<&Linear> {
        let at = &self.attention;
        vec![&at.query, &at.key, &at.value, &at.output, &self.intermediate, &self.output]
    }
}

/// The encoder every BERT model shares (`BertModel` in `transformers`): embeddings, layers,
/// optional pooler. Task models hold it under the `bert.` prefix.
#[derive(Debug)]
pub struct BertBody {
    /// `embeddings`.
    pub embeddings: BertEmbeddings,
    /// `encoder.layer.{i}`.
    pub layers: Vec<BertLayer>,
    /// `pooler.dense` (tanh of the first token's projection), when the model has one.
    pub pooler: Option<Linear>,
    /// Virtual-token vectors (n, hidden) put before every input (prompt tuning); `None` by default.
    pub prompt: Option<Tensor>,
}

impl BertBody {
    /// Registers the encoder under `p` (the root, or `bert` in task models).
    pub fn new(p: nn::Path, c: &BertConfig, pooler: bool) -> Result<Self> {
        let layers = (0..c.num_hidden_layers)
            .map(|i| BertLayer::new(&p / "encoder" / "layer" / i, c))
            .collect::<Result<Vec<_>>>()?;
        let pooler = if pooler {
            Some(Linear::new(&p / "pooler" / "dense", c.hidden_size, c.hidden_size, true, c.initializer_range)?)
        } else {
            None
        };
        Ok(BertBody { embeddings: BertEmbeddings::new(&p / "embeddings", c)?, layers, pooler, prompt: None })
    }

    /// `input_ids` (batch, seq), `attention_mask` (batch, seq) of 1 / 0, `token_type_ids`
    /// (batch, seq) → last hidden state (batch, seq, hidden).
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>, token_type_ids: Option<&Tensor>, train: bool) -> Tensor {
        self.forward_embeds(&self.embeddings.word_embeddings.forward(input_ids), attention_mask, token_type_ids, train)
    }

    /// As [`BertBody::forward`] from word vectors `inputs_embeds` (batch, seq, hidden) instead of
    /// ids (Hugging Face's `inputs_embeds`): prompt tuning prepends its virtual tokens here and
    /// extends `attention_mask` with ones.
    pub fn forward_embeds(&self, inputs_embeds: &Tensor, attention_mask: Option<&Tensor>, token_type_ids: Option<&Tensor>, train: bool) -> Tensor {
        // Prompt tuning, as PEFT: virtual tokens first, seen by every token, segment 0.
        let (embeds, attention_mask, token_type_ids) = match &self.prompt {
            Some(p) => {
                let (b, n) = (inputs_embeds.size()[0], p.size()[0]);
                let front = |t: &Tensor, v: f64| Tensor::cat(&[Tensor::full([b, n], v, (t.kind(), t.device())), t.shallow_clone()], 1);
                let prompt = p.to_kind(inputs_embeds.kind()).unsqueeze(0).expand([b, n, -1], false);
                (Tensor::cat(&[prompt, inputs_embeds.shallow_clone()], 1), attention_mask.map(|m| front(m, 1.0)), token_type_ids.map(|t| front(t, 0.0)))
            }
            None => (inputs_embeds.shallow_clone(), attention_mask.map(Tensor::shallow_clone), token_type_ids.map(Tensor::shallow_clone)),
        };
        let mask = padding_mask(attention_mask.as_ref());
        // A key/value prefix shifts the positions, as `past_key_values` does in `transformers`.
        let past = self.layers.first().and_then(|l| l.attention.prefix.as_ref()).map_or(0, |p| p.len());
        let mut h = self.embeddings.forward_embeds_at(&embeds, token_type_ids.as_ref(), past, train);
        for layer in &self.layers {
            h = layer.forward(&h, mask.as_ref(), train);
        }
        h
    }

    /// The first token's last hidden state only, (batch, hidden): the same vector as
    /// `forward(..).select(1, 0)`, but the last layer computes queries, output projection and
    /// feed-forward at the first position only (keys and values at every position) — all that a
    /// classifier on the first token needs, about 1/7 less work for a 6-layer model.
    pub fn forward_first_token(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>, token_type_ids: Option<&Tensor>, train: bool) -> Tensor {
        // Prompt and prefix tuning change the inputs and positions: the full path handles them.
        if self.prompt.is_some() || self.layers.iter().any(|l| l.attention.prefix.is_some()) {
            return self.forward(input_ids, attention_mask, token_type_ids, train).select(1, 0);
        }
        let mask = padding_mask(attention_mask);
        let h = self.embeddings.forward(input_ids, token_type_ids, train);
        let Some((last, first)) = self.layers.split_last() else {
            return h.select(1, 0);
        };
        // Packed when a batch holds enough padding and every sequence starts with a token.
        let packing = attention_mask.filter(|m| bool::try_from(m.select(1, 0).ne(0).all()).unwrap_or(false)).and_then(|m| Packing::of(Some(m)));
        let (Some(packing), Some(attention_mask)) = (packing, attention_mask) else {
            let h = first.iter().fold(h, |h, layer| layer.forward(&h, mask.as_ref(), train));
            return last.forward_queries(&h, &h.narrow(1, 0, 1), mask.as_ref(), train).select(1, 0);
        };
        let rows = Rows::Packed { keys: &packing, queries: &packing };
        let h = first.iter().fold(packing.pack(&h), |h, layer| layer.forward_rows(&h, &h, rows, mask.as_ref(), train));
        let firsts = h.index_select(0, &packing.first_rows(attention_mask));
        let one_each = Packing::dense(firsts.size()[0], 1, firsts.device());
        last.forward_rows(&h, &firsts, Rows::Packed { keys: &packing, queries: &one_each }, mask.as_ref(), train)
    }

    /// The last hidden state of the real tokens of a padded batch: packed (tokens, hidden) with
    /// its [`Packing`], skipping the padding's work, when the batch holds enough padding (and no
    /// prompt, prefix or attention recording needs the padded layout); otherwise padded
    /// (batch, seq, hidden) and `None`.
    pub(crate) fn forward_packed(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>, token_type_ids: Option<&Tensor>, train: bool) -> (Tensor, Option<Packing>) {
        let plain = self.prompt.is_none() && self.layers.iter().all(|l| l.attention.prefix.is_none()) && !super::attention_probs::recording();
        let Some(packing) = Packing::of(attention_mask).filter(|_| plain) else {
            return (self.forward(input_ids, attention_mask, token_type_ids, train), None);
        };
        let mask = padding_mask(attention_mask);
        let rows = Rows::Packed { keys: &packing, queries: &packing };
        let h = packing.pack(&self.embeddings.forward(input_ids, token_type_ids, train));
        let h = self.layers.iter().fold(h, |h, layer| layer.forward_rows(&h, &h, rows, mask.as_ref(), train));
        (h, Some(packing))
    }

    /// tanh(dense(first token)): (batch, seq, hidden) → (batch, hidden); `None` without a pooler.
    pub fn pool(&self, hidden: &Tensor) -> Option<Tensor> {
        self.pooler.as_ref().map(|p| p.forward(&hidden.select(1, 0)).tanh())
    }

    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut v: Vec<&mut Linear> = self.layers.iter_mut().flat_map(|l| l.linears_mut()).collect();
        v.extend(self.pooler.as_mut());
        v
    }

    /// The prompt and prefix slots, for prompt and prefix tuning.
    pub(crate) fn tuning_hooks(&mut self) -> TuningHooks<'_> {
        let heads = self.layers.first().map_or(1, |l| l.attention.heads);
        let word_embeddings = self.embeddings.word_embeddings.weight.shallow_clone();
        TuningHooks {
            hidden: word_embeddings.size()[1],
            word_embeddings: Some(word_embeddings),
            heads,
            prefixes: self.layers.iter_mut().map(|l| &mut l.attention.prefix).collect(),
            prompt: Some(&mut self.prompt),
        }
    }

    fn linears(&self) -> Vec<&Linear> {
        let mut v: Vec<&Linear> = self.layers.iter().flat_map(|l| l.linears()).collect();
        v.extend(self.pooler.as_ref());
        v
    }
}

/// The bare BERT encoder with its pooler; keys without prefix (`embeddings.…`, `encoder.…`).
///
/// ```no_run
/// use tuna::models::*;
/// use tch::Tensor;
/// let model = BertModel::from_pretrained("models/all-MiniLM-L6-v2")?;
/// let ids = Tensor::from_slice2(&[[101i64, 7592, 2088, 102]]);
/// let mask = ids.ones_like();
/// let hidden = tch::no_grad(|| model.forward(&ids, Some(&mask), None));   // (1, 4, 384)
/// let sentence = mean_pooling(&hidden, &mask);                              // (1, 384)
/// # Ok::<(), tuna::Error>(())
/// ```
#[derive(Debug)]
pub struct BertModel {
    /// The encoder.
    pub bert: BertBody,
    config: BertConfig,
    state: ModelState,
}

impl BertModel {
    fn build_in(vs: VarStore, config: BertConfig) -> Result<Self> {
        let bert = BertBody::new(vs.root(), &config, true)?;
        Ok(BertModel { bert, config, state: ModelState::new(vs) })
    }

    /// Last hidden state (batch, seq, hidden).
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>, token_type_ids: Option<&Tensor>) -> Tensor {
        self.bert.forward(input_ids, attention_mask, token_type_ids, self.state.training)
    }

    /// Last hidden state and pooler output (batch, hidden); the pooler output is `None` when
    /// the checkpoint had no pooler.
    pub fn forward_pooled(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>, token_type_ids: Option<&Tensor>) -> (Tensor, Option<Tensor>) {
        let h = self.forward(input_ids, attention_mask, token_type_ids);
        let pooled = self.bert.pool(&h);
        (h, pooled)
    }
}

model_boilerplate!(BertModel, BertConfig, "BertModel", "bert", [], |s| s.bert.linears_mut(), |s| s.bert.linears(), hooks |s| s.bert.tuning_hooks());

/// BERT with the masked-language-modelling head (`cls.predictions`), its decoder tied to the
/// word embeddings as in `transformers`.
///
/// ```no_run
/// use tuna::models::*;
/// let model = BertForMaskedLM::pretrained("models/all-MiniLM-L6-v2").load()?;
/// model.load_report()   // the head is newly initialised: MiniLM ships without it
/// # ; Ok::<(), tuna::Error>(())
/// ```
#[derive(Debug)]
pub struct BertForMaskedLM {
    /// The encoder, under `bert.` (no pooler).
    pub bert: BertBody,
    /// `cls.predictions.transform.dense`.
    pub transform: Linear,
    /// `cls.predictions.transform.LayerNorm`.
    pub transform_norm: LayerNorm,
    /// `cls.predictions.decoder`: weight shared with the word embeddings, bias `cls.predictions.bias`.
    pub decoder: Linear,
    config: BertConfig,
    state: ModelState,
}

impl BertForMaskedLM {
    fn build_in(vs: VarStore, config: BertConfig) -> Result<Self> {
        let root = vs.root();
        let bert = BertBody::new(&root / "bert", &config, false)?;
        let head = &root / "cls" / "predictions";
        let (h, std) = (config.hidden_size, config.initializer_range);
        let transform = Linear::new(&head / "transform" / "dense", h, h, true, std)?;
        let transform_norm = LayerNorm::new(&head / "transform" / "LayerNorm", h, config.layer_norm_eps)?;
        let bias = head.f_zeros("bias", &[config.vocab_size])?;
        let weight = if config.tie_word_embeddings {
            bert.embeddings.word_embeddings.weight.shallow_clone()
        } else {
            (&head / "decoder").f_var("weight", &[config.vocab_size, h], nn::Init::Randn { mean: 0.0, stdev: std })?
        };
        let decoder = Linear::tied(format!("{}.decoder", super::layers::path_name(&head)), weight, Some(bias));
        Ok(BertForMaskedLM { bert, transform, transform_norm, decoder, config, state: ModelState::new(vs) })
    }

    /// Vocabulary logits (batch, seq, vocab).
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>, token_type_ids: Option<&Tensor>) -> Tensor {
        let h = self.bert.forward(input_ids, attention_mask, token_type_ids, self.state.training);
        self.predict(&h)
    }

    /// The head alone: hidden states (…, hidden) → logits (…, vocab). Pass only the masked
    /// positions to save the vocabulary projection of the others.
    pub fn predict(&self, hidden: &Tensor) -> Tensor {
        let t = self.config.hidden_act.forward(&self.transform.forward(hidden));
        self.decoder.forward(&self.transform_norm.forward(&t))
    }
}

model_boilerplate!(
    BertForMaskedLM, BertConfig, "BertForMaskedLM", "bert",
    ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"],
    |s| { let mut v = s.bert.linears_mut(); v.push(&mut s.transform); v.push(&mut s.decoder); v },
    |s| { let mut v = s.bert.linears(); v.push(&s.transform); v.push(&s.decoder); v },
    hooks |s| s.bert.tuning_hooks()
);

/// BERT with a classifier on the pooled first token (`bert.pooler` → dropout → `classifier`).
///
/// ```no_run
/// use tuna::models::*;
/// let model = BertForSequenceClassification::pretrained("models/all-MiniLM-L6-v2").num_labels(3).load()?;
/// # Ok::<(), tuna::Error>(())
/// ```
#[derive(Debug)]
pub struct BertForSequenceClassification {
    /// The encoder with its pooler, under `bert.`.
    pub bert: BertBody,
    /// `classifier`: (num_labels, hidden).
    pub classifier: Linear,
    config: BertConfig,
    state: ModelState,
}

impl BertForSequenceClassification {
    fn build_in(vs: VarStore, config: BertConfig) -> Result<Self> {
        let root = vs.root();
        let bert = BertBody::new(&root / "bert", &config, true)?;
        let n = config.labels.len() as i64;
        let classifier = Linear::new(&root / "classifier", config.hidden_size, n, true, config.initializer_range)?;
        Ok(BertForSequenceClassification { bert, classifier, config, state: ModelState::new(vs) })
    }

    /// Class logits (batch, num_labels). Positions that are padding in every row of
    /// `attention_mask` (the tail of a batch padded to a fixed length) are cut off first: they
    /// cannot change the first token's vector, and skipping them saves their whole cost.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>, token_type_ids: Option<&Tensor>) -> Tensor {
        let train = self.state.training;
        let seq = input_ids.size().last().copied().unwrap_or(0);
        let used = attention_mask.map_or(seq, used_length).max(1);
        let cut = |t: &Tensor| if used < seq { t.narrow(1, 0, used) } else { t.shallow_clone() };
        let (ids, mask, types) = (cut(input_ids), attention_mask.map(cut), token_type_ids.map(cut));
        // Only the first token reaches the classifier: the last layer computes nothing else,
        // except while attention probabilities are recorded (they cover every query).
        let first = if super::attention_probs::recording() {
            self.bert.forward(&ids, mask.as_ref(), types.as_ref(), train).select(1, 0)
        } else {
            self.bert.forward_first_token(&ids, mask.as_ref(), types.as_ref(), train)
        };
        let pooled = self.bert.pooler.as_ref().map_or_else(|| first.shallow_clone(), |p| p.forward(&first).tanh());
        self.classifier.forward(&dropout(pooled, self.config.classifier_dropout(), train))
    }
}

model_boilerplate!(
    BertForSequenceClassification, BertConfig, "BertForSequenceClassification", "bert", [],
    |s| { let mut v = s.bert.linears_mut(); v.push(&mut s.classifier); v },
    |s| { let mut v = s.bert.linears(); v.push(&s.classifier); v },
    hooks |s| s.bert.tuning_hooks()
);

/// BERT with a classifier on every token (`bert` without pooler → dropout → `classifier`),
/// for tagging (NER, POS).
#[derive(Debug)]
pub struct BertForTokenClassification {
    /// The encoder, under `bert.` (no pooler).
    pub bert: BertBody,
    /// `classifier`: (num_labels, hidden).
    pub classifier: Linear,
    config: BertConfig,
    state: ModelState,
}

impl BertForTokenClassification {
    fn build_in(vs: VarStore, config: BertConfig) -> Result<Self> {
        let root = vs.root();
        let bert = BertBody::new(&root / "bert", &config, false)?;
        let n = config.labels.len() as i64;
        let classifier = Linear::new(&root / "classifier", config.hidden_size, n, true, config.initializer_range)?;
        Ok(BertForTokenClassification { bert, classifier, config, state: ModelState::new(vs) })
    }

    /// Per-token logits (batch, seq, num_labels).
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>, token_type_ids: Option<&Tensor>) -> Tensor {
        let train = self.state.training;
        let h = self.bert.forward(input_ids, attention_mask, token_type_ids, train);
        self.classifier.forward(&dropout(h, self.config.classifier_dropout(), train))
    }
}

model_boilerplate!(
    BertForTokenClassification, BertConfig, "BertForTokenClassification", "bert", [],
    |s| { let mut v = s.bert.linears_mut(); v.push(&mut s.classifier); v },
    |s| { let mut v = s.bert.linears(); v.push(&s.classifier); v },
    hooks |s| s.bert.tuning_hooks()
);
