//! Sizes for tutorial notebooks. The test command runs every notebook with `TUNA_QUICK=1` so that
//! CI finishes in minutes; a notebook asks [`quick`] to pick smaller step counts or datasets then.
//! It only shrinks the work: every number a quick run prints is still computed for real.

/// True when the environment variable `TUNA_QUICK` is set to anything but `0` or empty.
///
/// ```
/// use tuna::prelude::*;
/// let steps = if quick() { 40 } else { 1_000 };
/// assert!(steps > 0);
/// ```
pub fn quick() -> bool {
    std::env::var("TUNA_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}
