//! The persistent build cache that makes the prelude load in seconds instead of minutes.
//!
//! evcxr compiles cells in one directory (`EVCXR_TMPDIR`) whose `target/` holds every compiled
//! dependency; keeping that directory between starts is what avoids rebuilding libtorch's shim.
//! Two kernels cannot share one such directory (evcxr writes each cell's source there), so the
//! cache holds numbered slots, each locked by the kernel using it: a kernel takes the first
//! free slot, and a new slot starts as a copy of slot 0's build so it is warm too.

use anyhow::{Context, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Cargo settings for every slot: dependencies (libtorch bindings, the prelude) are built
/// optimised once, while each cell's own crate stays quick to compile.
const CARGO_CONFIG: &str = r#"# Written by tuna: applies to evcxr's build directories below.
[profile.dev.package."*"]
opt-level = 3
debug = false
"#;

/// A slot of the build cache, locked for as long as this value lives.
pub struct Slot {
    pub dir: PathBuf,
    _lock: File,
}

/// The root of tuna's caches: `$TUNA_CACHE`, else `~/.cache/tuna`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("TUNA_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("tuna")
}

/// Takes the first free slot under `root/evcxr`, creating and warming it if needed.
pub fn take_slot(root: &Path) -> Result<Slot> {
    let base = root.join("evcxr");
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let config_dir = base.join(".cargo");
    std::fs::create_dir_all(&config_dir)?;
    std::fs::write(config_dir.join("config.toml"), CARGO_CONFIG)?;
    for n in 0..64 {
        let dir = base.join(format!("slot-{n}"));
        let lock_path = base.join(format!("slot-{n}.lock"));
        let lock = File::create(&lock_path).with_context(|| format!("creating {}", lock_path.display()))?;
        if !try_lock(&lock) {
            continue;
        }
        if !dir.exists() {
            std::fs::create_dir_all(&dir)?;
            let warm = base.join("slot-0").join("target");
            if n > 0 && warm.exists() {
                // A plain copy: cargo rewrites its outputs, so hard links would be unsafe.
                let status = std::process::Command::new("cp").arg("-a").arg(&warm).arg(&dir).status();
                if !status.map(|s| s.success()).unwrap_or(false) {
                    eprintln!("tuna: could not copy the warm build into {}; it will build cold", dir.display());
                }
            }
        }
        return Ok(Slot { dir, _lock: lock });
    }
    anyhow::bail!("all 64 build cache slots under {} are in use", base.display())
}

fn try_lock(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own; the lock is released when the file closes.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_kernels_get_two_slots() {
        let root = std::env::temp_dir().join(format!("tuna-cache-test-{}", std::process::id()));
        let a = take_slot(&root).unwrap();
        let b = take_slot(&root).unwrap();
        assert_ne!(a.dir, b.dir);
        drop(a);
        let c = take_slot(&root).unwrap();
        assert!(c.dir.ends_with("slot-0"));
        drop((b, c));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
