//! The stop button. When the user interrupts a cell, the tuna kernel signals the process that
//! runs cells, which raises a process-wide flag. Prelude loops poll [`requested`] and end
//! cleanly; loops written in a cell are stopped by [`check`], which the kernel inserts when it
//! compiles the cell: at the top of each `while` and `loop` body, and in the iterator of each
//! `for` loop — unless that iterator is a prelude loop ([`StopsCleanly`]), which then ends by
//! itself so that the code after it still runs. Either way the cell's earlier variables stay.
//!
//! The flag lives in the kernel's child process, not in this crate: evcxr loads each cell as
//! its own shared object with its own copy of this crate's statics, so the child publishes the
//! flag's address in `TUNA_INTERRUPT_FLAG` (as `pid:address`). Outside the kernel a local flag
//! stands in, set with [`request`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Name of the environment variable through which the kernel's child process publishes its
/// interrupt flag, as `pid:address`.
pub const FLAG_ENV: &str = "TUNA_INTERRUPT_FLAG";

/// The payload a cell unwinds with when [`check`] finds the flag raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

fn flag() -> &'static AtomicBool {
    static FLAG: OnceLock<&'static AtomicBool> = OnceLock::new();
    FLAG.get_or_init(|| kernel_flag().unwrap_or_else(|| Box::leak(Box::new(AtomicBool::new(false)))))
}

fn kernel_flag() -> Option<&'static AtomicBool> {
    let value = std::env::var(FLAG_ENV).ok()?;
    let (pid, address) = value.split_once(':')?;
    // The variable is inherited by processes the cell starts; the address means something only
    // in the process that set it.
    if pid.parse::<u32>().ok()? != std::process::id() {
        return None;
    }
    let address = usize::from_str_radix(address.trim_start_matches("0x"), 16).ok()?;
    if address == 0 || address % std::mem::align_of::<AtomicBool>() != 0 {
        return None;
    }
    // SAFETY: the kernel's child process (the same pid, checked above) set this variable to
    // the address of a `static AtomicBool` in its executable, which lives as long as the process.
    Some(unsafe { &*(address as *const AtomicBool) })
}

/// Whether the user has asked the running cell to stop.
pub fn requested() -> bool {
    flag().load(Ordering::Relaxed)
}

/// Raises the flag, as the stop button does (for code and tests outside the kernel).
pub fn request() {
    flag().store(true, Ordering::Relaxed);
}

/// Lowers the flag. The kernel lowers it before each cell.
pub fn clear() {
    flag().store(false, Ordering::Relaxed);
}

/// Stops the running cell if the user pressed the stop button: unwinds (without a panic
/// message) to the kernel, which reports the cell as interrupted and keeps earlier variables.
#[inline]
pub fn check() {
    if requested() {
        raise();
    }
}

/// Unwinds the running cell as interrupted.
#[cold]
pub fn raise() -> ! {
    crate::display::send_to_kernel("tuna_interrupted", serde_json::json!({}));
    std::panic::resume_unwind(Box::new(Interrupted))
}

/// Iterators that end by themselves when the user presses stop (a progress bar, a data
/// loader's epoch): a `for` loop over one in a cell ends cleanly instead of unwinding.
pub trait StopsCleanly {}

/// The iterator of a cell's `for` loop, as the kernel rewrites it:
/// `for x in (&&Checked::new(EXPR)).tuna_loop()`. Method resolution picks
/// [`__TunaCleanLoop`] (unchanged) for prelude loops and [`__TunaCheckedLoop`] (a check before
/// each item) for everything else, at compile time.
#[doc(hidden)]
pub struct Checked<I>(std::cell::Cell<Option<I>>);

impl<I> Checked<I> {
    pub fn new(iter: I) -> Self {
        Checked(std::cell::Cell::new(Some(iter)))
    }

    fn take(&self) -> I {
        // The kernel's rewrite calls `tuna_loop` exactly once.
        self.0.take().expect("Checked::tuna_loop called twice")
    }
}

#[doc(hidden)]
pub trait __TunaCleanLoop {
    type Iter;
    fn tuna_loop(&self) -> Self::Iter;
}

impl<I: IntoIterator + StopsCleanly> __TunaCleanLoop for &Checked<I> {
    type Iter = I::IntoIter;
    fn tuna_loop(&self) -> I::IntoIter {
        self.take().into_iter()
    }
}

#[doc(hidden)]
pub trait __TunaCheckedLoop {
    type Iter;
    fn tuna_loop(&self) -> Self::Iter;
}

impl<I: IntoIterator> __TunaCheckedLoop for Checked<I> {
    type Iter = CheckEach<I::IntoIter>;
    fn tuna_loop(&self) -> CheckEach<I::IntoIter> {
        CheckEach(self.take().into_iter())
    }
}

/// An iterator that calls [`check`] before each item.
#[doc(hidden)]
pub struct CheckEach<I>(I);

impl<I: Iterator> Iterator for CheckEach<I> {
    type Item = I::Item;

    #[inline]
    fn next(&mut self) -> Option<I::Item> {
        check();
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// Serialises the unit tests that touch the process-wide flag.
#[cfg(test)]
pub(crate) static TEST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_unwinds_only_when_requested() {
        let _guard = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        clear();
        assert!(std::panic::catch_unwind(check).is_ok());
        request();
        let payload = std::panic::catch_unwind(check).unwrap_err();
        assert!(payload.downcast_ref::<Interrupted>().is_some());
        clear();
        assert!(!requested());
    }

    struct Clean(std::ops::Range<u32>);
    impl Iterator for Clean {
        type Item = u32;
        fn next(&mut self) -> Option<u32> {
            if requested() {
                None
            } else {
                self.0.next()
            }
        }
    }
    impl StopsCleanly for Clean {}

    #[test]
    fn for_loops_over_prelude_iterators_end_cleanly_others_unwind() {
        let _guard = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        clear();
        let mut seen = 0;
        for i in (&&Checked::new(Clean(0..100))).tuna_loop() {
            seen += 1;
            if i == 4 {
                request();
            }
        }
        assert_eq!(seen, 5);
        let plain = std::panic::catch_unwind(|| {
            for _ in (&&Checked::new(0..100)).tuna_loop() {}
        });
        assert!(plain.unwrap_err().downcast_ref::<Interrupted>().is_some());
        clear();
        let total: u32 = (&&Checked::new(vec![1, 2, 3])).tuna_loop().sum();
        assert_eq!(total, 6);
    }
}
