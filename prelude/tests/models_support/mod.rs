//! Helpers shared by the model tests: where the fixtures, the data and the Python venv are,
//! and how far two tensors are apart.
#![allow(dead_code)]

use std::path::PathBuf;
use tch::{Kind, Tensor};
use tuna::models::Checkpoint;

/// `tests/fixtures/models/<name>` at the repository root (written by `make_fixtures.py`).
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/models").join(name)
}

/// What Python computed for the fixture `name`.
pub fn expected(name: &str) -> Checkpoint {
    Checkpoint::from_file(&fixture(name).join("expected.safetensors")).expect("fixture expected.safetensors")
}

/// Largest absolute difference, in f64.
pub fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    f64::try_from((a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).abs().max()).unwrap()
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
}

/// `$TUNA_DATA`, by default `$HOME/.cache/tuna/data`.
pub fn tuna_data() -> PathBuf {
    std::env::var_os("TUNA_DATA").map(PathBuf::from).unwrap_or_else(|| home().join(".cache/tuna/data"))
}

/// `$TUNA_VENV/bin/python`, by default under `$HOME/.cache/tuna/venv`.
pub fn python() -> PathBuf {
    let venv = std::env::var_os("TUNA_VENV").map(PathBuf::from).unwrap_or_else(|| home().join(".cache/tuna/venv"));
    let py = venv.join("bin/python");
    assert!(py.is_file(), "{} not found: run `make setup` to create the venv with torch and transformers", py.display());
    py
}

/// A fresh empty directory under the system's temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tuna-models-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
