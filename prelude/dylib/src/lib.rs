//! The prelude, re-exported whole: see Cargo.toml.
pub use tuna::*;
