//! Text: tokenizers (load, encode, train, save) and corpora for language-model pretraining
//! (fixed-length blocks, Wikipedia dumps as plain text).

mod corpus;
mod tokenizer;
mod wiki;
mod wordpiece_trainer;

pub use corpus::{group_texts, text_blocks};
pub use tokenizer::{Encoded, Padding, TextInput, Tokenizer};
pub use wiki::{strip_wiki_markup, wikipedia_articles, WikiArticle};
