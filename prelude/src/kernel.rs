//! Hooks the tuna kernel installs in the process that runs cells, when it loads the prelude.
//!
//! A panic in a cell should reach the notebook as an error with its message, not as stray
//! stderr text that looks like success. Cells share one dynamically linked standard library,
//! so one panic hook serves every cell: panics on the thread that runs cells become a
//! `tuna_panic` message to the kernel; panics on threads a cell started print as usual.

use crate::display::send_to_kernel;

/// Installs the hooks (once per process; later calls do nothing).
pub fn install() {
    // Statics are per cell (each cell links its own copy of this crate): the environment is
    // what the whole process shares.
    const MARK: &str = "TUNA_PANIC_HOOK_INSTALLED";
    if std::env::var_os(MARK).is_some() {
        return;
    }
    std::env::set_var(MARK, "1");
    // Before the notebook allocates anything large (see `keep_freed_memory`).
    crate::device::keep_freed_memory();
    let cell_thread = std::thread::current().id();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != cell_thread {
            return previous(info);
        }
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(a panic without a message)".to_owned());
        let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
        send_to_kernel("tuna_panic", serde_json::json!({ "message": message, "location": location }));
    }));
}
