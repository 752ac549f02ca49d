//! Ablations: a [`Sweep`] over named arms (fine-tuning strategies, learning rates, …) ×
//! training-set sizes × seeds that stores each trial's scores on disk as it finishes, so a
//! stopped or crashed sweep continues where it left off; [`SweepResults`] is its table and
//! chart; [`Auto`] picks among candidates by successive halving on a validation score.

mod auto;
mod results;
mod sweep;

pub use auto::{Auto, AutoResult, Round};
pub use results::{Scores, Summary, SweepResults, TrialResult};
pub use sweep::{Sweep, Trial};
