//! Progress bars that stop cleanly at the stop button.
//!
//! In the notebook a bar is an HTML display updated in place (at most ~10 redraws a second);
//! in a terminal it is a line on stderr. When the user interrupts, a loop over
//! [`progress`] simply ends, so the code after it still runs and every variable stays.
//!
//! ```no_run
//! use tuna::prelude::*;
//! let mut total = 0u64;
//! for i in progress(0..1_000_000u64) {
//!     total += i;
//! }
//! ```

use crate::display::{escape_html, show, DisplayHandle, Html};
use crate::interrupt;
use std::time::{Duration, Instant};

/// How often a bar redraws at most.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// Where output goes: a notebook front end (rich displays) or a terminal (text on stderr).
pub fn in_notebook() -> bool {
    std::env::var("TUNA_FRONTEND").map(|f| f == "jupyter").unwrap_or(false)
}

/// A progress bar: step count, elapsed time, ETA, rate and a free message.
#[derive(Debug)]
pub struct ProgressBar {
    label: String,
    total: Option<usize>,
    done: usize,
    message: String,
    start: Instant,
    last_draw: Option<Instant>,
    display: Option<DisplayHandle>,
    finished: bool,
    interrupted: bool,
}

impl ProgressBar {
    /// A bar for `total` steps (`None` when unknown).
    pub fn new(total: Option<usize>) -> Self {
        ProgressBar {
            label: String::new(),
            total,
            done: 0,
            message: String::new(),
            start: Instant::now(),
            last_draw: None,
            display: None,
            finished: false,
            interrupted: false,
        }
    }

    /// A name shown before the bar.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Steps done so far.
    pub fn position(&self) -> usize {
        self.done
    }

    /// Whether the bar ended because the user pressed stop.
    pub fn was_interrupted(&self) -> bool {
        self.interrupted
    }

    /// Advances by `n` steps and redraws if it is time.
    pub fn inc(&mut self, n: usize) {
        self.done += n;
        self.draw(false);
    }

    /// Sets the message shown after the counters (for example the current loss).
    pub fn set_message(&mut self, message: impl Into<String>) {
        self.message = message.into();
    }

    /// Returns true (and marks the bar) when the user has asked to stop.
    pub fn should_stop(&mut self) -> bool {
        if interrupt::requested() {
            self.interrupted = true;
        }
        self.interrupted
    }

    /// Draws the final state.
    pub fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.draw(true);
        }
    }

    fn draw(&mut self, force: bool) {
        let now = Instant::now();
        if !force && self.last_draw.is_some_and(|t| now - t < REDRAW_EVERY) {
            return;
        }
        self.last_draw = Some(now);
        if in_notebook() {
            let html = Html::new(self.html()).plain(self.text());
            match &self.display {
                Some(handle) => handle.update(&html),
                None => self.display = Some(show(&html)),
            }
        } else {
            let end = if self.finished { "\n" } else { "" };
            eprint!("\r{}{end}", self.text());
        }
    }

    fn counters(&self) -> String {
        let elapsed = self.start.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 { self.done as f64 / elapsed } else { 0.0 };
        let eta = match self.total {
            Some(t) if rate > 0.0 && t > self.done => format!("<{}", clock((t - self.done) as f64 / rate)),
            _ => String::new(),
        };
        let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
        format!("{}{of} [{}{eta}, {rate:.2} it/s]", self.done, clock(elapsed))
    }

    fn status(&self) -> &'static str {
        if self.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    }

    /// The bar as one line of text.
    pub fn text(&self) -> String {
        let pct = self.fraction().map(|f| format!("{:3.0}% ", f * 100.0)).unwrap_or_default();
        let label = if self.label.is_empty() { String::new() } else { format!("{}: ", self.label) };
        format!("{label}{pct}{} {}{}", self.counters(), self.message, self.status())
    }

    /// The bar as HTML.
    pub fn html(&self) -> String {
        let (value, max) = match self.total {
            Some(t) => (self.done.min(t), t.max(1)),
            None => (0, 0),
        };
        let bar = if max > 0 {
            format!("<progress value=\"{value}\" max=\"{max}\" style=\"width:40ex\"></progress>")
        } else {
            String::new()
        };
        format!(
            "<div class=\"tuna-progress\" style=\"font-family:monospace\">{} {bar} {} {}{}</div>",
            escape_html(&self.label),
            escape_html(&self.counters()),
            escape_html(&self.message),
            self.status()
        )
    }

    fn fraction(&self) -> Option<f64> {
        self.total.filter(|&t| t > 0).map(|t| self.done as f64 / t as f64)
    }
}

fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// An iterator that shows a progress bar and ends early when the user presses stop.
#[derive(Debug)]
pub struct Progress<I> {
    inner: I,
    bar: ProgressBar,
}

impl<I: Iterator> Progress<I> {
    /// A name shown before the bar.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.bar = self.bar.label(label);
        self
    }
}

impl<I: Iterator> Iterator for Progress<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        if self.bar.finished {
            return None;
        }
        if self.bar.should_stop() {
            self.bar.finish();
            return None;
        }
        match self.inner.next() {
            Some(item) => {
                // Counts the item handed out: the bar shows steps started.
                self.bar.inc(1);
                Some(item)
            }
            None => {
                self.bar.finish();
                None
            }
        }
    }
}

impl<I> interrupt::StopsCleanly for Progress<I> {}

/// Wraps an iterator in a progress bar that stops cleanly at the stop button.
pub fn progress<I: IntoIterator>(iter: I) -> Progress<I::IntoIter> {
    let inner = iter.into_iter();
    let (lower, upper) = inner.size_hint();
    let total = upper.filter(|&u| u == lower);
    Progress { inner, bar: ProgressBar::new(total) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_every_item() {
        let _guard = interrupt::TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let items: Vec<u32> = progress(0..5).collect();
        assert_eq!(items, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn progress_ends_early_when_interrupted() {
        let _guard = interrupt::TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        interrupt::clear();
        let mut seen = 0;
        for i in progress(0..100) {
            seen += 1;
            if i == 9 {
                interrupt::request();
            }
        }
        interrupt::clear();
        assert_eq!(seen, 10);
    }

    #[test]
    fn clock_formats() {
        assert_eq!(clock(65.0), "01:05");
        assert_eq!(clock(3725.0), "1:02:05");
    }

    #[test]
    fn text_shows_counts_and_rate() {
        let mut bar = ProgressBar::new(Some(10)).label("train");
        bar.done = 5;
        let t = bar.text();
        assert!(t.starts_with("train:  50% 5/10 ["), "{t}");
    }
}
