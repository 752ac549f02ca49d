//! Tokenizers: Hugging Face's `tokenizers` crate behind a notebook-sized face. Loads a
//! `tokenizer.json`, encodes single texts, pairs and batches (in parallel) with padding,
//! truncation, attention masks, special-token masks and word ids, decodes, trains a WordPiece
//! (BERT) or byte-level BPE (GPT-2) tokenizer from a corpus, and saves it. Mirrors what
//! `transformers`' `PreTrainedTokenizerFast.__call__` does with `padding=` / `truncation=` /
//! `max_length=`: the padding and truncation stored in a loaded `tokenizer.json` are replaced by
//! the ones set here (none by default, as in Python).
//!
//! ```no_run
//! use tuna::prelude::*;
//! let tok = Tokenizer::from_file(data_dir().join("all-MiniLM-L6-v2"))?
//!     .max_length(32)
//!     .padding(Padding::Longest);
//! let enc = tok.encode_pair("A man is eating food.", "A man is eating bread.")?;
//! tok.decode(&enc.ids, true)?
//! # ; Ok::<(), tuna::Error>(())
//! ```

use crate::data::{Dataset, Sample};
use crate::display::escape_html;
use crate::error::{Error, Result};
use crate::interrupt;
use super::wordpiece_trainer;
use std::path::{Path, PathBuf};
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::models::TrainerWrapper;
use tokenizers::{
    AddedToken, EncodeInput, PaddingDirection, PaddingParams, PaddingStrategy, TruncationDirection,
    TruncationParams, TruncationStrategy,
};

/// How a batch is padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// No padding: each encoding keeps its own length (collators pad later, per batch).
    None,
    /// Pad to the longest sequence of the batch (`padding="longest"`).
    Longest,
    /// Pad every sequence to this length (`padding="max_length"`).
    Fixed(usize),
}

/// One tokenized text or pair, with everything a collator needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Encoded {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Segment ids: 0 for the first text, 1 for the second of a pair.
    pub type_ids: Vec<u32>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<u32>,
    /// 1 for special tokens (`[CLS]`, `[SEP]`, padding), 0 for the text's own tokens.
    pub special_tokens_mask: Vec<u32>,
    /// Index of the word each token comes from (`None` for special tokens).
    pub word_ids: Vec<Option<u32>>,
    /// Byte offsets of each token in its text (whole-word masking groups tokens by them, as HF).
    pub offsets: Vec<(usize, usize)>,
}

impl Encoded {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn from_hf(e: &tokenizers::Encoding) -> Self {
        Encoded {
            ids: e.get_ids().to_vec(),
            type_ids: e.get_type_ids().to_vec(),
            attention_mask: e.get_attention_mask().to_vec(),
            special_tokens_mask: e.get_special_tokens_mask().to_vec(),
            word_ids: e.get_word_ids().to_vec(),
            offsets: e.get_offsets().to_vec(),
        }
    }
}

impl Sample for Encoded {
    fn preview(&self) -> String {
        let head: Vec<String> = self.ids.iter().take(16).map(|i| i.to_string()).collect();
        let more = if self.ids.len() > 16 { ", …" } else { "" };
        format!("{} tokens [{}{more}]", self.ids.len(), head.join(", "))
    }
}

/// A tokenizer: the `tokenizers` crate's, with padding and truncation set by name.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    origin: String,
    pad_to_multiple_of: Option<usize>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokenizer({}, vocab {})", self.origin, self.vocab_size())
    }
}

fn tk_err(context: &str, e: tokenizers::Error) -> Error {
    Error::msg(format!("{context}: {e}"))
}

impl Tokenizer {
    /// Loads `tokenizer.json` (or a folder that holds one). Padding is turned off and truncation
    /// kept as the file sets it; change both with [`Tokenizer::padding`] and
    /// [`Tokenizer::max_length`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path = path.join("tokenizer.json");
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        if text.trim().is_empty() {
            return Err(Error::parse(&path, Some(1), "the file is empty; a tokenizer.json is a JSON object"));
        }
        // Parse once with serde_json for an error that names the line and column.
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
            return Err(Error::Json { path, source: e });
        }
        let mut inner: tokenizers::Tokenizer = text
            .parse()
            .map_err(|e| Error::parse(&path, None, format!("not a tokenizer the `tokenizers` crate can load: {e}")))?;
        inner.with_padding(None);
        Ok(Tokenizer { inner, origin: path.display().to_string(), pad_to_multiple_of: None })
    }

    /// Wraps a tokenizer built with the `tokenizers` crate directly.
    pub fn from_hf(inner: tokenizers::Tokenizer) -> Self {
        Tokenizer { inner, origin: "built in code".into(), pad_to_multiple_of: None }
    }

    /// Trains a BERT-style WordPiece tokenizer (lower-casing, `[CLS] A [SEP] B [SEP]`, `##`
    /// continuation) on `texts`, with special tokens `[PAD] [UNK] [CLS] [SEP] [MASK]` (ids 0–4).
    pub fn train_wordpiece<S: AsRef<str> + Sync>(texts: &[S], vocab_size: usize) -> Result<Self> {
        use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
        use tokenizers::normalizers::bert::BertNormalizer;
        use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
        use tokenizers::processors::template::TemplateProcessing;
        use tokenizers::{Normalizer, PreTokenizer};

        let specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
        // Learned by our own trainer, which gives the same ids for the same texts in every run
        // (tokenizers' WordPieceTrainer does not: text/wordpiece_trainer.rs).
        let normalizer = BertNormalizer::new(true, true, None, true);
        let split = |text: &str| -> Result<Vec<String>> {
            let mut normalized = tokenizers::NormalizedString::from(text);
            normalizer.normalize(&mut normalized).map_err(|e| tk_err("normalising", e))?;
            let mut words = tokenizers::PreTokenizedString::from(normalized);
            BertPreTokenizer.pre_tokenize(&mut words).map_err(|e| tk_err("splitting words", e))?;
            Ok(words
                .get_splits(tokenizers::OffsetReferential::Original, tokenizers::OffsetType::Byte)
                .into_iter()
                .map(|(word, _, _)| word.to_owned())
                .collect())
        };
        let words = wordpiece_trainer::count_words(texts, split)?;
        let vocab: ahash::AHashMap<String, u32> =
            wordpiece_trainer::learn_vocab(&words, &specials, vocab_size).into_iter().collect();
        let model = WordPiece::builder()
            .vocab(vocab)
            .unk_token("[UNK]".into())
            .continuing_subword_prefix("##".into())
            .build()
            .map_err(|e| tk_err("WordPiece", e))?;
        let mut inner = tokenizers::Tokenizer::new(model);
        inner.with_normalizer(Some(normalizer));
        inner.with_pre_tokenizer(Some(BertPreTokenizer));
        inner.with_decoder(Some(WordPieceDecoder::default()));
        inner.add_special_tokens(&specials.iter().map(|s| AddedToken::from(s.to_string(), true)).collect::<Vec<_>>());
        let id = |t: &str| inner.token_to_id(t).unwrap_or_default();
        let post = TemplateProcessing::builder()
            .try_single("[CLS]:0 $A:0 [SEP]:0")
            .and_then(|b| b.try_pair("[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1"))
            .map_err(|e| Error::msg(format!("WordPiece template: {e}")))?
            .special_tokens(vec![("[CLS]", id("[CLS]")), ("[SEP]", id("[SEP]"))])
            .build()
            .map_err(|e| Error::msg(format!("WordPiece template: {e}")))?;
        inner.with_post_processor(Some(post));
        Ok(Tokenizer { inner, origin: "WordPiece trained in this session".into(), pad_to_multiple_of: None })
    }

    /// Trains a GPT-2-style byte-level BPE tokenizer on `texts`, with the one special token
    /// `<|endoftext|>` (id 0). Any text round-trips: every byte has a token.
    pub fn train_bpe<S: AsRef<str> + Sync>(texts: &[S], vocab_size: usize) -> Result<Self> {
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        let mut inner = tokenizers::Tokenizer::new(BPE::default());
        inner.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        inner.with_decoder(Some(ByteLevel::default()));
        inner.with_post_processor(Some(ByteLevel::default().trim_offsets(false)));
        let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(0)
            .show_progress(false)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .special_tokens(vec![AddedToken::from("<|endoftext|>".to_string(), true)])
            .build()
            .into();
        inner.train(&mut trainer, texts.iter()).map_err(|e| tk_err("training BPE", e))?;
        Ok(Tokenizer { inner, origin: "byte-level BPE trained in this session".into(), pad_to_multiple_of: None })
    }

    /// Writes `tokenizer.json` to `path` (a file, or a folder to put it in).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<PathBuf> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path = path.join("tokenizer.json");
        }
        self.inner.save(&path, true).map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
        Ok(path)
    }

    /// Truncates to at most `n` tokens, special tokens included (longest-first for pairs).
    pub fn max_length(mut self, n: usize) -> Self {
        let params = TruncationParams {
            direction: TruncationDirection::Right,
            max_length: n,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        };
        // Only fails when max_length is smaller than the special tokens it must hold; then
        // encoding reports the same problem with the text at hand.
        let _ = self.inner.with_truncation(Some(params));
        self
    }

    /// Turns truncation off.
    pub fn no_truncation(mut self) -> Self {
        let _ = self.inner.with_truncation(None);
        self
    }

    /// How batches are padded (on the right, with the tokenizer's pad token).
    pub fn padding(mut self, padding: Padding) -> Self {
        let multiple = self.pad_to_multiple_of;
        let strategy = match padding {
            Padding::None => {
                self.inner.with_padding(None);
                return self;
            }
            Padding::Longest => PaddingStrategy::BatchLongest,
            Padding::Fixed(n) => PaddingStrategy::Fixed(n),
        };
        let pad_id = self.pad_id().unwrap_or(0);
        let pad_token = self.inner.id_to_token(pad_id).unwrap_or_default();
        self.inner.with_padding(Some(PaddingParams {
            strategy,
            direction: PaddingDirection::Right,
            pad_to_multiple_of: multiple,
            pad_id,
            pad_type_id: 0,
            pad_token,
        }));
        self
    }

    /// Rounds padded lengths up to a multiple of `n` (tensor cores like multiples of 8), when
    /// padding is on (before or after [`Tokenizer::padding`]).
    pub fn pad_to_multiple_of(mut self, n: usize) -> Self {
        self.pad_to_multiple_of = Some(n);
        if let Some(p) = self.inner.get_padding_mut() {
            p.pad_to_multiple_of = Some(n);
        }
        self
    }

    /// Encodes one text with special tokens.
    pub fn encode(&self, text: &str) -> Result<Encoded> {
        let e = self.inner.encode(text, true).map_err(|e| tk_err("encoding", e))?;
        let mut one = vec![e];
        self.pad(&mut one)?;
        Ok(Encoded::from_hf(&one[0]))
    }

    /// Encodes a pair (`[CLS] a [SEP] b [SEP]` for BERT), segment ids 0 then 1.
    pub fn encode_pair(&self, first: &str, second: &str) -> Result<Encoded> {
        let e = self.inner.encode((first, second), true).map_err(|e| tk_err("encoding a pair", e))?;
        let mut one = vec![e];
        self.pad(&mut one)?;
        Ok(Encoded::from_hf(&one[0]))
    }

    fn pad(&self, encodings: &mut [tokenizers::Encoding]) -> Result<()> {
        if let Some(params) = self.inner.get_padding() {
            tokenizers::pad_encodings(encodings, params).map_err(|e| tk_err("padding", e))?;
        }
        Ok(())
    }

    /// Encodes texts in parallel (all cores); padding applies across the batch.
    pub fn encode_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Encoded>> {
        let inputs: Vec<EncodeInput<'_>> = texts.iter().map(|t| t.as_ref().into()).collect();
        self.run_batch(inputs)
    }

    /// Encodes pairs in parallel; padding applies across the batch.
    pub fn encode_pairs<A: AsRef<str> + Sync, B: AsRef<str> + Sync>(&self, pairs: &[(A, B)]) -> Result<Vec<Encoded>> {
        let inputs: Vec<EncodeInput<'_>> = pairs.iter().map(|(a, b)| (a.as_ref(), b.as_ref()).into()).collect();
        self.run_batch(inputs)
    }

    fn run_batch(&self, inputs: Vec<EncodeInput<'_>>) -> Result<Vec<Encoded>> {
        let out = self.inner.encode_batch(inputs, true).map_err(|e| tk_err("encoding a batch", e))?;
        Ok(out.iter().map(Encoded::from_hf).collect())
    }

    /// Tokenizes every text of a dataset, keeping labels and label names: chunks of 4,096 texts
    /// encoded in parallel; stops with [`Error::Interrupted`] at the stop button. Padding, if
    /// set, applies within each chunk only: leave it off and let the collator pad per batch.
    pub fn tokenize<T: TextInput>(&self, dataset: &Dataset<T>) -> Result<Dataset<Encoded>> {
        let mut out = Vec::with_capacity(dataset.len());
        for chunk in dataset.items().chunks(4096) {
            if interrupt::requested() {
                return Err(Error::Interrupted);
            }
            let inputs: Vec<EncodeInput<'_>> = chunk.iter().map(|t| t.encode_input()).collect();
            out.extend(self.run_batch(inputs)?);
        }
        Ok(dataset.with_items(out))
    }

    /// Text back from ids; `skip_special_tokens` drops `[CLS]`, `[PAD]` and the like.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner.decode(ids, skip_special_tokens).map_err(|e| tk_err("decoding", e))
    }

    /// Decodes many sequences.
    pub fn decode_batch(&self, ids: &[&[u32]], skip_special_tokens: bool) -> Result<Vec<String>> {
        self.inner.decode_batch(ids, skip_special_tokens).map_err(|e| tk_err("decoding", e))
    }

    /// The tokens of `ids`, as strings.
    pub fn tokens(&self, ids: &[u32]) -> Vec<String> {
        ids.iter().map(|&i| self.inner.id_to_token(i).unwrap_or_else(|| format!("<{i}?>"))).collect()
    }

    /// Vocabulary size with added tokens (Python's `len(tokenizer)`).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of `token`, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The token of `id`.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    fn first_of(&self, names: &[&str]) -> Option<u32> {
        names.iter().find_map(|n| self.inner.token_to_id(n))
    }

    /// The padding token's id: the one set for padding, else `[PAD]` or `<pad>`.
    pub fn pad_id(&self) -> Option<u32> {
        self.inner.get_padding().map(|p| p.pad_id).or_else(|| self.first_of(&["[PAD]", "<pad>"]))
    }

    /// The mask token's id (`[MASK]` or `<mask>`).
    pub fn mask_id(&self) -> Option<u32> {
        self.first_of(&["[MASK]", "<mask>"])
    }

    /// The end-of-text token's id (`<|endoftext|>`, `</s>` or `[SEP]`).
    pub fn eos_id(&self) -> Option<u32> {
        self.first_of(&["<|endoftext|>", "</s>", "[SEP]"])
    }

    /// The `tokenizers` crate's tokenizer, for anything not wrapped here.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// An HTML view of how `text` is split: one chip per token with its id.
    pub fn show_tokens(&self, text: &str) -> Result<crate::display::Html> {
        let enc = self.encode(text)?;
        let chips: String = self
            .tokens(&enc.ids)
            .iter()
            .zip(&enc.ids)
            .map(|(t, id)| {
                format!(
                    "<span style=\"display:inline-block;margin:1px;padding:1px 4px;border:1px solid #ccc;border-radius:3px\">{}<sub style=\"color:#888\">{id}</sub></span>",
                    escape_html(t)
                )
            })
            .collect();
        Ok(crate::display::Html::new(format!("<div>{chips}</div>")).plain(self.tokens(&enc.ids).join(" ")))
    }
}

/// Dataset items that can be tokenized: a text, or a pair of texts.
pub trait TextInput: Sample {
    /// The input as the `tokenizers` crate takes it.
    fn encode_input(&self) -> EncodeInput<'_>;
}

impl TextInput for String {
    fn encode_input(&self) -> EncodeInput<'_> {
        self.as_str().into()
    }
}

impl TextInput for (String, String) {
    fn encode_input(&self) -> EncodeInput<'_> {
        (self.0.as_str(), self.1.as_str()).into()
    }
}
