//! The side of tuna that runs inside the child process where evcxr executes cells.
//!
//! evcxr re-executes the kernel binary as its child; before handing control to evcxr's
//! runtime, tuna installs its interrupt flag there. The kernel raises the flag with SIGUSR2
//! (SIGINT from a terminal does the same) and lowers it with SIGUSR1 before each cell. The
//! prelude finds the flag through `TUNA_INTERRUPT_FLAG` (see `prelude/src/interrupt.rs`):
//! every cell is its own shared object with its own copy of the prelude's statics, so the flag
//! must live here, in the executable.

use std::sync::atomic::{AtomicBool, Ordering};

/// Environment variable naming the flag's address, as `pid:address` (hex).
pub const FLAG_ENV: &str = "TUNA_INTERRUPT_FLAG";
/// Signal that raises the flag.
pub const RAISE_SIGNAL: libc::c_int = libc::SIGUSR2;
/// Signal that lowers the flag.
pub const LOWER_SIGNAL: libc::c_int = libc::SIGUSR1;

static INTERRUPT_FLAG: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPT_FLAG.store(signal != LOWER_SIGNAL, Ordering::SeqCst);
}

/// Whether this process is evcxr's child (the process that runs cells).
pub fn is_child() -> bool {
    std::env::var_os("EVCXR_IS_RUNTIME").is_some()
}

/// Installs the flag and its signal handlers and publishes its address. Call before any
/// thread starts (it sets environment variables).
pub fn install() {
    for signal in [RAISE_SIGNAL, LOWER_SIGNAL, libc::SIGINT] {
        // SAFETY: `on_signal` only performs an atomic store, which is async-signal-safe, and
        // the sigaction struct is fully initialised before use.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
    let address = &INTERRUPT_FLAG as *const AtomicBool as usize;
    std::env::set_var(FLAG_ENV, format!("{}:{address:x}", std::process::id()));
    // evcxr turns backtraces on for the child; a panic in a cell is reported as an error with
    // its message, and a full backtrace is noise unless asked for.
    if std::env::var_os("TUNA_BACKTRACE").is_none() {
        std::env::set_var("RUST_BACKTRACE", "0");
    }
}

/// Makes the flag's signals ignored in this (the kernel's) process, and so in every child it
/// starts: an ignored disposition survives `exec`, while a handler does not. Without this, the
/// signal that lowers the flag before each cell could reach a freshly restarted child (after
/// a cell aborted the process) before [`install`] ran there, and its default action would kill
/// it: the cell after an `abort()` then failed, about once in five runs.
pub fn ignore_signals_until_installed() {
    for signal in [RAISE_SIGNAL, LOWER_SIGNAL] {
        // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
        unsafe {
            libc::signal(signal, libc::SIG_IGN);
        }
    }
}

/// Sends `signal` to the child process `pid`.
pub fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) with a pid we spawned; failure (the child is gone) is harmless.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}
