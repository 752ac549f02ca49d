//! A checkpoint written into a read-only folder fails with an error naming the folder, and the
//! checkpoint already there stays byte for byte as it was and still resumes.
//!
//! The tests run as root, and root writes through permission bits by its CAP_DAC_OVERRIDE
//! capability: `chmod 555` alone would not stop the write. Linux capabilities belong to each
//! thread, so the test drops CAP_DAC_OVERRIDE (and CAP_DAC_READ_SEARCH) from its own thread's
//! effective set around the write (capset(2)), checks that a plain file write into the folder
//! is now refused, and raises them again from the permitted set afterwards.

mod train_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use train_support::*;
use tuna::models::{BertForSequenceClassification, PretrainedModel};
use tuna::train::Trainer;
use tuna::Result;

const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_DAC_READ_SEARCH: u32 = 2;
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Runs `f` on this thread without the capabilities that bypass file permissions.
fn without_permission_override<T>(f: impl FnOnce() -> T) -> T {
    let mut header = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
    let mut saved = [CapData::default(); 2];
    // SAFETY: capget/capset with a v3 header read and write exactly two CapData records.
    let got = unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, saved.as_mut_ptr()) };
    assert_eq!(got, 0, "capget: {}", std::io::Error::last_os_error());
    let mut reduced = saved;
    reduced[0].effective &= !((1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH));
    let set = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, reduced.as_ptr()) };
    assert_eq!(set, 0, "capset: {}", std::io::Error::last_os_error());
    let out = f();
    let back = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, saved.as_ptr()) };
    assert_eq!(back, 0, "restoring capabilities: {}", std::io::Error::last_os_error());
    out
}

/// Every file of a checkpoint folder with its bytes, sorted by name.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

fn trainer(steps: usize) -> Result<Trainer<BertForSequenceClassification, ToyClassification>> {
    tch::manual_seed(0);
    let model = BertForSequenceClassification::new(tiny_bert(3))?;
    Ok(Trainer::new(model, ToyClassification).max_steps(steps).batch_size(16).lr(2e-3).seed(3).live_plot(false))
}

#[test]
fn read_only_folder_fails_clearly_and_keeps_the_last_checkpoint() -> Result<()> {
    let _g = locked();
    let data = counting(64, 3, 1)?;
    let dir: PathBuf = std::env::temp_dir().join(format!("tuna-train-{}-readonly", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    let mut first = trainer(1)?;
    first.fit(&data, None)?;
    let saved = first.save_checkpoint(&dir)?;
    let before = contents(&saved);
    let mut later = trainer(3)?;
    later.fit(&data, None)?;

    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let (probe, newer, same_step) = without_permission_override(|| {
        (std::fs::write(dir.join("probe"), b"x"), later.save_checkpoint(&dir), first.save_checkpoint(&dir))
    });
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();

    let probe = probe.expect_err("the folder must refuse writes for the test to mean anything");
    assert_eq!(probe.kind(), std::io::ErrorKind::PermissionDenied);
    for (what, result) in [("a newer step", newer), ("the same step", same_step)] {
        let err = result.expect_err(what).to_string();
        assert!(err.contains(&dir.display().to_string()) && err.to_lowercase().contains("permission denied"), "{what}: {err}");
    }
    // Nothing new in the folder, and the old checkpoint is untouched and still resumes.
    let names: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["checkpoint-1"]);
    assert!(contents(&saved) == before, "checkpoint-1 changed");
    let mut resumed = trainer(1)?;
    resumed.resume(&saved)?;
    assert_eq!(resumed.step(), 1);
    assert!(same_weights(&sorted_weights(first.model()), &sorted_weights(resumed.model())));
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
