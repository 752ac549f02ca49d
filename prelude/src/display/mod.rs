//! Rich output in the notebook: values that render as HTML, SVG, PNG, Markdown or JSON, shown
//! at the moment a cell asks (not gathered up at the end), and updated in place through
//! display ids.
//!
//! The child process that runs cells talks to the kernel through its stdout: a line starting
//! with [`MESSAGE_PREFIX`] carries one Jupyter iopub message (`display_data`,
//! `update_display_data`, `clear_output`) as JSON. The kernel publishes it in order with the
//! cell's other output and coalesces updates of one display to at most ~10 per second.
//!
//! ```no_run
//! use tuna::prelude::*;
//! let h = show(&Html::new("<b>step 0</b>"));
//! for step in 1..=50 {
//!     h.update(&Html::new(format!("<b>step {step}</b>")));
//! }
//! ```

mod mime;

pub use mime::{escape_html, Html, Json, Markdown, MimeBundle, Png, Render, Svg, Text};

use serde_json::{json, Value};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lines on the child's stdout that start with this carry a message for the kernel.
pub const MESSAGE_PREFIX: &str = "\u{1e}TUNA_MSG ";

/// Sends one iopub message (`msg_type`, `content`) to the kernel through stdout.
pub(crate) fn send_to_kernel(msg_type: &str, content: Value) {
    let line = json!({ "msg_type": msg_type, "content": content });
    let mut out = std::io::stdout().lock();
    // A notebook cell cannot do anything useful about a closed stdout: drop the output.
    let _ = writeln!(out, "{MESSAGE_PREFIX}{line}");
    let _ = out.flush();
}

fn new_display_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Statics are per cell in evcxr (each cell is its own shared object): the pid, the time and
    // the address of this cell's counter keep ids unique across cells.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("tuna-{}-{:x}-{:p}-{n}", std::process::id(), nanos, &COUNTER)
}

/// A value shown in the notebook that can later be replaced in place.
#[derive(Debug, Clone)]
pub struct DisplayHandle {
    id: String,
}

impl DisplayHandle {
    /// Shows `value` as a new output of the running cell and returns its handle.
    pub fn new(value: &(impl Render + ?Sized)) -> Self {
        let handle = DisplayHandle { id: new_display_id() };
        handle.send("display_data", value);
        handle
    }

    /// The Jupyter display id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Replaces what this display shows, wherever it is (also in earlier cells' outputs).
    pub fn update(&self, value: &(impl Render + ?Sized)) {
        self.send("update_display_data", value);
    }

    fn send(&self, msg_type: &str, value: &(impl Render + ?Sized)) {
        let bundle = value.render();
        send_to_kernel(
            msg_type,
            json!({
                "data": bundle.data(),
                "metadata": bundle.metadata(),
                "transient": { "display_id": self.id },
            }),
        );
    }
}

/// Shows `value` now, below the running cell, and returns a handle to update it in place.
pub fn show(value: &(impl Render + ?Sized)) -> DisplayHandle {
    DisplayHandle::new(value)
}

/// Clears the running cell's output; with `wait`, only when the next output arrives
/// (no flicker when redrawing).
pub fn clear_output(wait: bool) {
    send_to_kernel("clear_output", json!({ "wait": wait }));
}

/// Prints `bundle` the way evcxr shows a cell's final value. Types use it in their
/// `evcxr_display` method, which evcxr calls when the value ends a cell.
pub fn evcxr_print(bundle: &MimeBundle) {
    let mut out = std::io::stdout().lock();
    for (mime, value) in bundle.data() {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = writeln!(out, "EVCXR_BEGIN_CONTENT {mime}\n{text}\nEVCXR_END_CONTENT");
    }
    let _ = out.flush();
}

/// How the kernel shows a cell's final value. The kernel turns a final expression `EXPR` into
/// `(&&Final(&(EXPR))).tuna_final();`: method resolution picks [`__TunaFinalRender`] when the
/// value implements [`Render`] and [`__TunaFinalDebug`] (its `Debug` text) otherwise, at
/// compile time, so a cell compiles once (evcxr tries `evcxr_display` and recompiles on
/// failure).
#[doc(hidden)]
pub struct Final<'a, T: ?Sized>(pub &'a T);

#[doc(hidden)]
pub trait __TunaFinalRender {
    fn tuna_final(&self);
}

impl<T: Render + ?Sized> __TunaFinalRender for &Final<'_, T> {
    fn tuna_final(&self) {
        print_final_bundle(self.0.render());
    }
}

/// A cell's rich final value; takes the bundle so that it is dropped here, not in the cell.
#[doc(hidden)]
#[inline(never)]
pub fn print_final_bundle(bundle: MimeBundle) {
    print_final_marker();
    evcxr_print(&bundle);
}

/// Tells the kernel that the content blocks that follow are the cell's final value (its
/// `execute_result`); blocks printed without it are shown as `display_data` when printed.
/// The same string as evcxr's `FINAL_VALUE_MARKER` (vendor/evcxr).
fn print_final_marker() {
    println!("\u{1e}EVCXR_FINAL_VALUE");
}

#[doc(hidden)]
pub trait __TunaFinalDebug {
    fn tuna_final(&self);
}

impl<T: std::fmt::Debug + ?Sized> __TunaFinalDebug for Final<'_, T> {
    fn tuna_final(&self) {
        // A statement-like final expression (`println!(…)`) has nothing to show.
        if std::any::type_name::<T>() != "()" {
            print_final_text(format!("{:?}", self.0));
        }
    }
}

/// The plain-text final value of a cell. Not generic, so that each cell compiles only the
/// `format!` call and not the bundle's map (a trivial cell: 164 functions to compile before).
#[doc(hidden)]
#[inline(never)]
pub fn print_final_text(text: String) {
    print_final_marker();
    evcxr_print(&MimeBundle::text(text));
}

/// Gives a type that implements [`Render`] an `evcxr_display` method, so that it shows itself
/// richly when it is the last expression of a cell.
#[macro_export]
macro_rules! impl_evcxr_display {
    ($($ty:ty),* $(,)?) => {$(
        impl $ty {
            /// Called by evcxr when this value ends a cell.
            pub fn evcxr_display(&self) {
                $crate::display::evcxr_print(&$crate::display::Render::render(self));
            }
        }
    )*};
}

impl_evcxr_display!(Html, Svg, Png, Markdown, Json, Text, MimeBundle);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_values_pick_render_over_debug() {
        // Compiles only if both paths resolve; which one runs is visible in the output type.
        (&&Final(&Html::new("<b>x</b>"))).tuna_final();
        (&&Final(&42)).tuna_final();
        (&&Final(&())).tuna_final();
    }

    #[test]
    fn display_ids_are_unique() {
        let a = new_display_id();
        let b = new_display_id();
        assert_ne!(a, b);
        assert!(a.starts_with("tuna-"));
    }
}
