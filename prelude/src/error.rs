//! The prelude's one error type. Every variant names the file, key, line or layer involved
//! and, where there is one, the fix; `Display` carries the cause chain because evcxr prints a
//! `?`-propagated error with `{}`.

use std::path::PathBuf;

/// Result with tuna's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// A file was read but its content is wrong: `line` is 1-based when known.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse { path: PathBuf, line: Option<usize>, message: String },

    /// A JSON document (config, adapter config, tokenizer) that does not parse.
    #[error("{}: {source}", path.display())]
    Json { path: PathBuf, source: serde_json::Error },

    /// A checkpoint lacks a tensor, has it with another shape or dtype, or cannot be decoded.
    #[error("{}: {message}", path.display())]
    Checkpoint { path: PathBuf, message: String },

    /// A configuration value that cannot work, named by its key.
    #[error("invalid `{key}`: {message}")]
    Config { key: String, message: String },

    /// Tensors whose shapes do not fit the operation.
    #[error("shape mismatch in {context}: {message}")]
    Shape { context: String, message: String },

    /// A layer or parameter name that does not exist; `known` lists the ones that do.
    #[error("no layer matches `{pattern}`; layers that exist: {}", known.join(", "))]
    NoSuchLayer { pattern: String, known: Vec<String> },

    /// Training stopped because the loss became NaN or infinite.
    #[error("loss became {value} at step {step}; the last good checkpoint is kept. Lower the learning rate or enable gradient clipping")]
    NonFiniteLoss { step: usize, value: f64 },

    /// The user pressed the stop button while a prelude operation was running.
    #[error("interrupted")]
    Interrupted,

    /// An error from libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),

    /// Anything else, already worded for the user.
    #[error("{0}")]
    Message(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// A content error in `path` at `line` (1-based).
    pub fn parse(path: impl Into<PathBuf>, line: Option<usize>, message: impl Into<String>) -> Self {
        Error::Parse { path: path.into(), line, message: message.into() }
    }

    /// An invalid configuration value.
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config { key: key.into(), message: message.into() }
    }

    /// An error already worded for the user.
    pub fn msg(message: impl Into<String>) -> Self {
        Error::Message(message.into())
    }
}
