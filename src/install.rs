//! `tuna install`: writes the kernelspec Jupyter finds, and warms the build cache so that the
//! first kernel start does not compile libtorch's bindings.

use crate::engine::{Engine, Frontend};
use crate::output::Sink;
use anyhow::{Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The kernelspec template; `@TUNA@` becomes this binary's path.
const KERNEL_JSON: &str = include_str!("../kernelspec/kernel.json");

/// Environment variables the kernel needs and Jupyter would not pass on: kernels inherit the
/// server's environment, which rarely has cargo or libtorch on its paths.
const CARRIED_ENV: &[&str] = &[
    "PATH",
    "LD_LIBRARY_PATH",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "LIBTORCH",
    "LIBTORCH_USE_PYTORCH",
    "LIBTORCH_BYPASS_VERSION_CHECK",
    "TUNA_CACHE",
    "TUNA_DATA",
    "TUNA_VENV",
];

/// Where the kernelspec goes, as `jupyter kernelspec install` lays it out.
pub enum Target {
    /// The user's Jupyter data directory.
    User,
    /// `PREFIX/share/jupyter/kernels`.
    Prefix(PathBuf),
    /// The prefix of the `python3` on PATH (a virtual environment, say).
    SysPrefix,
}

fn kernels_dir(target: &Target) -> Result<PathBuf> {
    Ok(match target {
        Target::Prefix(prefix) => prefix.join("share/jupyter/kernels"),
        Target::SysPrefix => {
            let out = std::process::Command::new("python3")
                .args(["-c", "import sys; print(sys.prefix)"])
                .output()
                .context("running python3 to find sys.prefix (use --prefix or --user without Python)")?;
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("share/jupyter/kernels")
        }
        Target::User => {
            if let Some(dir) = std::env::var_os("JUPYTER_DATA_DIR") {
                PathBuf::from(dir).join("kernels")
            } else {
                let home = std::env::var_os("HOME").context("HOME is not set")?;
                let data = std::env::var_os("XDG_DATA_HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from(home).join(".local/share"));
                data.join("jupyter/kernels")
            }
        }
    })
}

/// Writes `kernels/tuna/kernel.json` (and the logos) for `target`; returns the directory.
pub fn install(target: &Target) -> Result<PathBuf> {
    let dir = kernels_dir(target)?.join("tuna");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let exe = std::env::current_exe().context("locating the tuna binary")?;
    let spec = kernel_json(&exe)?;
    let path = dir.join("kernel.json");
    std::fs::write(&path, serde_json::to_string_pretty(&spec)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    let logos = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernelspec");
    for logo in ["logo-32x32.png", "logo-64x64.png", "logo-svg.svg"] {
        if logos.join(logo).exists() {
            std::fs::copy(logos.join(logo), dir.join(logo))?;
        }
    }
    Ok(dir)
}

fn kernel_json(exe: &Path) -> Result<Value> {
    let mut spec: Value = serde_json::from_str(KERNEL_JSON).context("kernelspec/kernel.json")?;
    spec["argv"][0] = Value::String(exe.display().to_string());
    let env = spec["env"].as_object_mut().context("kernel.json has no env object")?;
    for name in CARRIED_ENV {
        if let Ok(value) = std::env::var(name) {
            env.insert((*name).to_owned(), Value::String(value));
        }
    }
    // rustup's defaults, written out: a Jupyter server started with another HOME or a bare
    // environment would not find the toolchain otherwise.
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        for (name, dir) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
            if !env.contains_key(name) && home.join(dir).is_dir() {
                env.insert(name.into(), Value::String(home.join(dir).display().to_string()));
            }
        }
    }
    env.insert("TUNA_PRELUDE".into(), Value::String(crate::engine::prelude_dir().display().to_string()));
    Ok(spec)
}

/// Prints output of warm-up cells to the terminal.
struct Terminal;

impl Sink for Terminal {
    fn publish(&self, msg_type: &str, content: Value) {
        if msg_type == "stream" {
            eprint!("{}", content["text"].as_str().unwrap_or(""));
        }
    }
}

/// Compiles the prelude and its dependencies into the build cache.
pub fn warm() -> Result<()> {
    let start = Instant::now();
    eprintln!("tuna: warming the build cache (the first time compiles libtorch's bindings: minutes)…");
    let mut engine = Engine::start(std::sync::Arc::new(Terminal), Frontend::Terminal)?;
    engine.load_prelude()?;
    // One cell that uses libtorch, so that everything a first cell links is built.
    match engine.execute("tch::Tensor::from_slice(&[1.0f32, 2.0]).sum(tch::Kind::Float).double_value(&[])", &|_, _| String::new()) {
        crate::engine::Outcome::Ok(_) => {}
        crate::engine::Outcome::Error(report) => anyhow::bail!("warm-up cell failed: {}", report.evalue),
    }
    eprintln!("tuna: build cache warm ({:.1} s)", start.elapsed().as_secs_f64());
    Ok(())
}
