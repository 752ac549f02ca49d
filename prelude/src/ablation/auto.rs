//! [`Auto`] chooses among candidates (strategies, learning rates, …) on a budget by successive
//! halving (Jamieson & Talwalkar 2016; the rung schedule of Li et al.'s Hyperband): every
//! candidate trains for `budget` steps and is scored on validation data; the best 1/`eta`
//! go on with `eta` times the steps, until one is left. Each rung trains from scratch with its
//! larger budget, so a candidate's score never depends on the order rungs ran in.
//!
//! ```no_run
//! use tuna::prelude::*;
//! let choice = Auto::new()
//!     .candidate("full", Strategy::Full)
//!     .candidate("lora", Strategy::Lora(LoraConfig::rank(8).targets(["query", "value"])))
//!     .candidate("bitfit", Strategy::BitFit)
//!     .budget(20)
//!     .run(|strategy, steps| {
//!         // … train `steps` steps with `strategy`, return the validation accuracy …
//!         Ok(0.5)
//!     })?;
//! println!("best: {}", choice.best);
//! choice
//! # ; Ok::<(), tuna::Error>(())
//! ```

use crate::display::{escape_html, show, Html, MimeBundle, Render};
use crate::{interrupt, Error, Result};

/// Successive halving over named candidates; see the module docs.
#[derive(Debug, Clone)]
pub struct Auto<A> {
    candidates: Vec<(String, A)>,
    budget: usize,
    eta: usize,
    greater_is_better: bool,
}

/// One candidate's score in one rung.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// Rung number, from 1.
    pub rung: usize,
    pub name: String,
    /// Training steps it had in this rung.
    pub steps: usize,
    pub score: f64,
    /// It went on to the next rung (or won the last one).
    pub kept: bool,
}

/// The winner and every rung's scores.
#[derive(Debug, Clone)]
pub struct AutoResult<A> {
    /// The winner's name.
    pub best: String,
    /// The winner's value.
    pub value: A,
    /// Its score in the last rung.
    pub score: f64,
    pub rounds: Vec<Round>,
}

impl<A: Clone> Default for Auto<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Clone> Auto<A> {
    /// No candidates yet; budget 50 steps, eta 2, higher scores better.
    pub fn new() -> Self {
        Auto { candidates: Vec::new(), budget: 50, eta: 2, greater_is_better: true }
    }

    /// Adds a candidate called `name`.
    pub fn candidate(mut self, name: impl Into<String>, value: A) -> Self {
        self.candidates.push((name.into(), value));
        self
    }

    /// Training steps each candidate gets in the first rung (default 50).
    pub fn budget(mut self, steps: usize) -> Self {
        self.budget = steps;
        self
    }

    /// Keep the best 1/eta per rung and multiply the steps by eta (default 2).
    pub fn eta(mut self, eta: usize) -> Self {
        self.eta = eta;
        self
    }

    /// Lower scores are better (a loss); the default is higher (accuracy).
    pub fn lower_is_better(mut self) -> Self {
        self.greater_is_better = false;
        self
    }

    /// Runs the rungs: `train_and_score(value, steps)` trains a fresh model for `steps` steps
    /// and returns its validation score. The stop button ends the search with an error after
    /// the running training returns.
    pub fn run(&self, mut train_and_score: impl FnMut(&A, usize) -> Result<f64>) -> Result<AutoResult<A>> {
        if self.candidates.is_empty() {
            return Err(Error::config("candidates", "add at least one `.candidate(name, value)`"));
        }
        if self.budget == 0 {
            return Err(Error::config("budget", "the first rung needs at least one training step"));
        }
        if self.eta < 2 {
            return Err(Error::config("eta", format!("{} keeps every candidate forever; use 2 or more", self.eta)));
        }
        let status = crate::progress::in_notebook().then(|| show(&Html::new(String::new())));
        let say = |html: String| {
            if let Some(s) = &status {
                s.update(&Html::new(html));
            }
        };
        let mut alive: Vec<usize> = (0..self.candidates.len()).collect();
        let mut rounds = Vec::new();
        let (mut rung, mut steps) = (1, self.budget);
        loop {
            let mut scored = Vec::new();
            for &c in &alive {
                let name = &self.candidates[c].0;
                say(format!("rung {rung}: training <b>{}</b> for {steps} steps", escape_html(name)));
                let outcome = train_and_score(&self.candidates[c].1, steps);
                if interrupt::requested() || matches!(outcome, Err(Error::Interrupted)) {
                    return Err(Error::Interrupted);
                }
                let score =
                    outcome.map_err(|e| Error::msg(format!("candidate `{name}` failed in rung {rung} ({steps} steps): {e}")))?;
                if !score.is_finite() {
                    return Err(Error::msg(format!("candidate `{name}` scored {score} in rung {rung}; the score must be a finite number")));
                }
                scored.push((c, score));
            }
            // Best first; ties keep the declared order (the sort is stable).
            scored.sort_by(|a, b| {
                let o = a.1.total_cmp(&b.1);
                if self.greater_is_better { o.reverse() } else { o }
            });
            let keep = if alive.len() == 1 { 1 } else { alive.len().div_ceil(self.eta).max(1) };
            for (i, &(c, score)) in scored.iter().enumerate() {
                rounds.push(Round { rung, name: self.candidates[c].0.clone(), steps, score, kept: i < keep });
            }
            alive = scored.iter().take(keep).map(|&(c, _)| c).collect();
            if alive.len() == 1 && (keep == 1) {
                let (c, score) = scored[0];
                say(format!("best: <b>{}</b> ({score:.4})", escape_html(&self.candidates[c].0)));
                return Ok(AutoResult { best: self.candidates[c].0.clone(), value: self.candidates[c].1.clone(), score, rounds });
            }
            rung += 1;
            steps *= self.eta;
        }
    }
}

impl<A> AutoResult<A> {
    /// The rungs as an HTML table.
    pub fn html(&self) -> String {
        let rows: String = self
            .rounds
            .iter()
            .map(|r| {
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{}</td></tr>",
                    r.rung, escape_html(&r.name), r.steps, r.score, if r.kept { "✓" } else { "" }
                )
            })
            .collect();
        format!(
            "<table><caption>Successive halving: best <b>{}</b> ({:.4})</caption><thead><tr><th>rung</th>\
             <th>candidate</th><th>steps</th><th>score</th><th>kept</th></tr></thead><tbody>{rows}</tbody></table>",
            escape_html(&self.best), self.score
        )
    }
}

impl<A> Render for AutoResult<A> {
    fn render(&self) -> MimeBundle {
        let text: String = self.rounds.iter().map(|r| format!("rung {} {:<20} {:>6} steps {:.4}{}\n", r.rung, r.name, r.steps, r.score, if r.kept { " kept" } else { "" })).collect();
        Html::new(self.html()).plain(format!("best: {} ({:.4})\n{text}", self.best, self.score)).render()
    }
}

impl<A> AutoResult<A> {
    /// Shows the table when the result ends a cell.
    pub fn evcxr_display(&self) {
        crate::display::evcxr_print(&self.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_keeps_the_best_half_and_doubles_the_steps() {
        // Score grows with steps at a rate that differs per candidate: c (3.0) wins.
        let rates = [("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 0.5)];
        let mut auto = Auto::new().budget(10);
        for (n, r) in rates {
            auto = auto.candidate(n, r);
        }
        let mut calls = Vec::new();
        let result = auto.run(|&rate, steps| {
            calls.push((rate, steps));
            Ok(rate * steps as f64)
        }).unwrap();
        assert_eq!(result.best, "c");
        assert_eq!(calls, vec![(1.0, 10), (2.0, 10), (3.0, 10), (0.5, 10), (3.0, 20), (2.0, 20)]);
        assert_eq!(result.rounds.iter().filter(|r| r.kept).count(), 2 + 1);
        assert!(Auto::<f64>::new().run(|_, _| Ok(0.0)).unwrap_err().to_string().contains("candidate"));
    }
}
