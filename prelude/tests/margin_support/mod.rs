//! Learning and accuracy bounds that say how far they cleared. Float results differ in the last
//! bits between CPUs (libtorch, MKL and oneDNN pick kernels per machine), so a bound tuned on one
//! machine can fail on the next: each bound here prints one line
//! `margin TEST: WHAT = VALUE (bound < BOUND, chance CHANCE)` before it asserts, and
//! `scripts/check-margins.sh` collects those lines over CPU kernels, thread counts and seeds.
#![allow(dead_code)]

/// `TUNA_TEST_SEED` (default 0): shifts every seed of the learning tests, so that the margin
/// check can try other draws. 0 keeps the committed runs.
pub fn seed_offset() -> u64 {
    std::env::var("TUNA_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// `base`, shifted by [`seed_offset`] (in steps of 1000, so that a test's train and validation
/// seeds stay apart).
pub fn seeded(base: u64) -> u64 {
    base + 1000 * seed_offset()
}

/// libtorch threads for the learning tests: `TUNA_TEST_THREADS`, by default 1 (the models are
/// tiny and the test machine is shared); the margin check also tries 2.
pub fn test_threads() -> i32 {
    std::env::var("TUNA_TEST_THREADS").ok().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(1)
}

fn report(test: &str, what: &str, value: f64, op: &str, bound: f64, chance: f64) {
    let chance = if chance.is_nan() { "-".to_string() } else { format!("{chance:.4}") };
    let value = if value != 0.0 && value.abs() < 0.01 { format!("{value:.3e}") } else { format!("{value:.4}") };
    // On a line of its own: libtest has already printed `test NAME ... ` without a newline.
    eprintln!("\nmargin {test}: {what} = {value} (bound {op} {bound}, chance {chance})");
}

/// Asserts `value < bound` (a loss, a perplexity, an error) after printing its margin line;
/// `chance` is what an untrained model scores (NaN where there is none).
pub fn assert_below(test: &str, what: &str, value: f64, bound: f64, chance: f64) {
    report(test, what, value, "<", bound, chance);
    assert!(value < bound, "{test}: {what} = {value:.4}, bound < {bound} (chance {chance:.4})");
}

/// Asserts `value > bound` (an accuracy, an AUC) after printing its margin line.
pub fn assert_above(test: &str, what: &str, value: f64, bound: f64, chance: f64) {
    report(test, what, value, ">", bound, chance);
    assert!(value > bound, "{test}: {what} = {value:.4}, bound > {bound} (chance {chance:.4})");
}
