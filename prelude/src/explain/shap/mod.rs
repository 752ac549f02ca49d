//! SHAP values (Lundberg & Lee, 2017, "A Unified Approach to Interpreting Model Predictions"):
//! each feature's share of f(x) − E[f(background)], as the `shap` package computes them.
//!
//! A *value function* gives the model's output for a batch of coalitions (`true`: the feature
//! keeps x's value; `false`: it is masked). A [`Masker`] makes the model inputs for
//! coalitions (tabular rows over a background set, token ids, image patches) and
//! [`masked`] turns a masker and a model into a value function. Three explainers share it:
//! [`ExactShap`] (all 2^M coalitions), [`KernelShap`] (shap's `KernelExplainer`: Shapley-kernel
//! weighted regression on enumerated and sampled coalitions) and [`PartitionShap`] (Owen
//! values over a balanced binary tree of contiguous features, shap's `PartitionExplainer`).
//! All return [`ShapValues`], whose values add up to f(x) − f(background) exactly.
//!
//! ```no_run
//! use tuna::prelude::*;
//! # fn f(x: &Tensor, background: &Tensor, w: &Tensor) -> tuna::Result<()> {
//! let masker = TabularMasker::new(x, background)?.columns(["age", "income", "score"]);
//! let shap = KernelShap::new().samples(500).seed(0).explain_masked(&masker, |rows| rows.matmul(w))?;
//! show(&shap);
//! show(&shap.bar_chart(10));
//! # Ok(()) }
//! ```

mod exact;
mod game;
mod kernel;
mod maskers;
mod partition;
mod values;

pub use exact::ExactShap;
pub use game::{masked, Explainer, Masker, TabularMasker};
pub use kernel::KernelShap;
pub use maskers::{ImageFill, ImageMasker, TokenFill, TokenMasker};
pub use partition::PartitionShap;
pub use values::ShapValues;
