//! A [`Sweep`] runs one trial per (size, seed, arm) — sizes ascending, so the cheap trials of
//! every arm finish first — and appends each finished trial to `<dir>/results.jsonl` (flushed
//! and synced before the next trial starts). Run again on the same folder, it reads the
//! finished trials back and runs only the rest: a sweep stopped with the stop button, killed,
//! or crashed continues where it left off and ends with the table an uninterrupted run gives.
//!
//! Stored results are keyed by (arm name, size, seed) only: after changing what a trial does,
//! use a new folder (or delete the old one).
//!
//! ```no_run
//! use tuna::prelude::*;
//! let data = tweets()?;
//! let results = Sweep::new("runs/full-vs-lora")
//!     .arm("full", Strategy::Full)
//!     .arm("lora r=8", Strategy::Lora(LoraConfig::rank(8).targets(["query", "value"])))
//!     .sizes([100, 1_000])
//!     .seeds([0, 1, 2])
//!     .run(|trial| {
//!         let train = data.subsample(trial.size, trial.seed)?;
//!         // … load, tune with trial.arm, train with .seed(trial.seed), evaluate …
//!         Ok(0.5)
//!     })?;
//! results
//! # ; Ok::<(), tuna::Error>(())
//! ```

use super::results::{Scores, SweepResults, TrialResult};
use crate::display::{escape_html, show, DisplayHandle, Html};
use crate::{interrupt, Error, Result};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A grid of trials: arms × sizes × seeds, stored under a folder; see the module docs.
#[derive(Debug, Clone)]
pub struct Sweep<A> {
    dir: PathBuf,
    arms: Vec<(String, A)>,
    sizes: Vec<usize>,
    seeds: Vec<u64>,
    live: bool,
}

/// One cell of the grid, handed to the trial function.
#[derive(Debug)]
pub struct Trial<'a, A> {
    /// The arm's name (a column of the results).
    pub name: &'a str,
    /// The arm's value (a strategy, a learning rate, …).
    pub arm: &'a A,
    /// Training-set size.
    pub size: usize,
    /// Seed for the subsample, initialisation and batch order.
    pub seed: u64,
    /// Position in the sweep, from 0.
    pub index: usize,
}

const RESULTS_FILE: &str = "results.jsonl";

impl<A> Sweep<A> {
    /// A sweep storing its results in `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Sweep { dir: dir.into(), arms: Vec::new(), sizes: Vec::new(), seeds: vec![0], live: true }
    }

    /// Adds an arm called `name`.
    pub fn arm(mut self, name: impl Into<String>, value: A) -> Self {
        self.arms.push((name.into(), value));
        self
    }

    /// Adds several named arms.
    pub fn arms<S: Into<String>>(mut self, arms: impl IntoIterator<Item = (S, A)>) -> Self {
        self.arms.extend(arms.into_iter().map(|(n, a)| (n.into(), a)));
        self
    }

    /// Training-set sizes (default: none; at least one is needed).
    pub fn sizes(mut self, sizes: impl IntoIterator<Item = usize>) -> Self {
        self.sizes = sizes.into_iter().collect();
        self
    }

    /// Seeds (default `[0]`).
    pub fn seeds(mut self, seeds: impl IntoIterator<Item = u64>) -> Self {
        self.seeds = seeds.into_iter().collect();
        self
    }

    /// Show the sweep's progress and table under the cell while it runs (default on).
    pub fn live(mut self, live: bool) -> Self {
        self.live = live;
        self
    }

    /// The folder the results live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check(&self) -> Result<()> {
        if self.arms.is_empty() {
            return Err(Error::config("arms", "a sweep needs at least one arm: add `.arm(name, value)`"));
        }
        if self.sizes.is_empty() {
            return Err(Error::config("sizes", "a sweep needs at least one training-set size: add `.sizes([100, 1_000])`"));
        }
        if self.seeds.is_empty() {
            return Err(Error::config("seeds", "a sweep needs at least one seed: add `.seeds([0, 1, 2])`"));
        }
        let mut names: Vec<&str> = self.arms.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::config("arms", format!("two arms are called `{}`; give each arm its own name", w[0])));
        }
        Ok(())
    }

    /// Every (size, seed, arm index) in the order trials run.
    fn grid(&self) -> Vec<(usize, u64, usize)> {
        let mut sizes = self.sizes.clone();
        sizes.sort_unstable();
        sizes.dedup();
        let mut grid = Vec::new();
        for &size in &sizes {
            for &seed in &self.seeds {
                for arm in 0..self.arms.len() {
                    grid.push((size, seed, arm));
                }
            }
        }
        grid
    }

    /// The results stored so far, without running anything.
    pub fn results(&self) -> Result<SweepResults> {
        self.check()?;
        let (stored, _) = read_results(&self.dir.join(RESULTS_FILE))?;
        Ok(self.collect(&stored, false))
    }

    fn collect(&self, stored: &HashMap<(String, usize, u64), TrialResult>, interrupted: bool) -> SweepResults {
        let grid = self.grid();
        let trials = grid
            .iter()
            .filter_map(|&(size, seed, arm)| stored.get(&(self.arms[arm].0.clone(), size, seed)).cloned())
            .collect();
        SweepResults {
            trials,
            planned: grid.len(),
            arms: self.arms.iter().map(|(n, _)| n.clone()).collect(),
            interrupted,
        }
    }

    /// Runs every trial not yet stored, calling `trial_fn` for each; returns all results.
    ///
    /// The stop button ends the sweep after the running trial returns, without storing that
    /// trial (its training was cut short); run the cell again to continue. An error from a
    /// trial stops the sweep with that error, naming the trial; finished trials stay stored.
    pub fn run<S: Into<Scores>>(&self, mut trial_fn: impl FnMut(&Trial<A>) -> Result<S>) -> Result<SweepResults> {
        self.check()?;
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let path = self.dir.join(RESULTS_FILE);
        let (mut stored, clean) = read_results(&path)?;
        if !clean {
            // The last line was cut short by a crash: keep only whole lines before appending.
            let mut whole = String::new();
            for r in stored.values() {
                whole += &serde_json::to_string(r).map_err(|e| Error::Json { path: path.clone(), source: e })?;
                whole.push('\n');
            }
            std::fs::write(&path, whole).map_err(|e| Error::io(&path, e))?;
        }
        let grid = self.grid();
        let from_disk = grid.iter().filter(|&&(size, seed, arm)| stored.contains_key(&(self.arms[arm].0.clone(), size, seed))).count();
        let live = self.live && crate::progress::in_notebook();
        let status = live.then(|| show(&Html::new(String::new())));
        let table = live.then(|| show(&self.collect(&stored, false)));
        let mut file = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| Error::io(&path, e))?;
        for (index, &(size, seed, arm)) in grid.iter().enumerate() {
            let (name, value) = (&self.arms[arm].0, &self.arms[arm].1);
            let key = (name.clone(), size, seed);
            if stored.contains_key(&key) {
                continue;
            }
            let done = grid.iter().filter(|&&(s, d, a)| stored.contains_key(&(self.arms[a].0.clone(), s, d))).count();
            update_status(&status, &format!(
                "trial {} of {}: <b>{}</b>, size {size}, seed {seed} &nbsp;·&nbsp; {done} done ({from_disk} read from {})",
                index + 1, grid.len(), escape_html(name), escape_html(&path.display().to_string())
            ));
            let started = Instant::now();
            let trial = Trial { name, arm: value, size, seed, index };
            let outcome = trial_fn(&trial);
            // Stopped (the trial may return its partial result or an `interrupted` error).
            if interrupt::requested() || matches!(outcome, Err(Error::Interrupted)) {
                update_status(&status, &format!("stopped during trial {} of {} (not stored); run again to continue", index + 1, grid.len()));
                let results = self.collect(&stored, true);
                results.save_csv(self.dir.join("results.csv"))?;
                return Ok(results);
            }
            let scores = outcome.map_err(|e| {
                Error::msg(format!("trial `{name}`, size {size}, seed {seed} failed (finished trials are kept in {}): {e}", path.display()))
            })?;
            let result = TrialResult { arm: name.clone(), size, seed, scores: scores.into(), seconds: started.elapsed().as_secs_f64() };
            append(&mut file, &path, &result)?;
            stored.insert(key, result);
            let so_far = self.collect(&stored, false);
            so_far.save_csv(self.dir.join("results.csv"))?;
            if let Some(t) = &table {
                t.update(&so_far);
            }
        }
        update_status(&status, &format!("{} trials done ({from_disk} read from {})", grid.len(), escape_html(&path.display().to_string())));
        let results = self.collect(&stored, false);
        results.save_csv(self.dir.join("results.csv"))?;
        Ok(results)
    }
}

fn update_status(status: &Option<DisplayHandle>, html: &str) {
    if let Some(s) = status {
        s.update(&Html::new(format!("<div>{html}</div>")));
    }
}

/// Appends one result as a JSON line and syncs it to disk before the next trial starts.
fn append(file: &mut File, path: &Path, result: &TrialResult) -> Result<()> {
    let line = serde_json::to_string(result).map_err(|e| Error::Json { path: path.to_path_buf(), source: e })?;
    file.write_all(format!("{line}\n").as_bytes()).and_then(|_| file.sync_data()).map_err(|e| Error::io(path, e))
}

type Stored = HashMap<(String, usize, u64), TrialResult>;

/// The stored trials, and false when the last line was cut short by a crash mid-write (it is
/// ignored: that trial runs again); a bad line anywhere else is an error naming it.
fn read_results(path: &Path) -> Result<(Stored, bool)> {
    let mut stored = HashMap::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((stored, true)),
        Err(e) => return Err(Error::io(path, e)),
    };
    let lines: Vec<String> = BufReader::new(file).lines().collect::<std::io::Result<_>>().map_err(|e| Error::io(path, e))?;
    let last = lines.len();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<TrialResult>(line) {
            Ok(r) => {
                stored.insert((r.arm.clone(), r.size, r.seed), r);
            }
            Err(_) if i + 1 == last => return Ok((stored, false)),
            Err(e) => {
                return Err(Error::parse(path, Some(i + 1), format!("not a stored trial ({e}); delete the line or the folder to rerun it")))
            }
        }
    }
    Ok((stored, true))
}
