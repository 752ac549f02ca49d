//! Gradients of the trainable variables averaged over ranks by DDP's own `c10d::Reducer`:
//! buckets (1 MiB first, then 25 MiB, as DDP) all-reduced while the backward pass is still
//! computing earlier layers. Frozen variables (the base of LoRA or adapters) are left out, as
//! DDP leaves out parameters that do not require grad.

use super::ffi::{self, call, ptr, Raw};
use super::ProcessGroup;
use crate::Result;
use std::ffi::c_void;
use std::sync::Arc;
use tch::Tensor;

/// DDP's default bucket sizes.
const BUCKET_BYTES: i64 = 25 * 1024 * 1024;
const FIRST_BUCKET_BYTES: i64 = 1024 * 1024;

pub(crate) struct GradSync {
    reducer: Raw,
    group: Arc<ProcessGroup>,
    /// The variables the reducer watches (kept alive as long as it).
    _params: Vec<Tensor>,
}

impl GradSync {
    /// A reducer over `params`, which must be listed in the same order on every rank (creation
    /// order, not a HashMap's).
    pub fn new(group: Arc<ProcessGroup>, params: Vec<Tensor>) -> Result<GradSync> {
        let ptrs: Vec<*mut c_void> = params.iter().map(ptr).collect();
        let mut reducer: Raw = std::ptr::null_mut();
        call("could not set up DDP's gradient reducer", |e, n| unsafe {
            // SAFETY: the group and the tensors are alive; the reducer keeps its own references.
            ffi::tuna_reducer_new(group.raw(), ptrs.as_ptr(), ptrs.len(), BUCKET_BYTES, FIRST_BUCKET_BYTES, 1, &mut reducer, e, n)
        })?;
        Ok(GradSync { reducer, group, _params: params })
    }

    /// Before the forward pass of a micro-batch whose backward must average the gradients (the
    /// last of an accumulation group; the others accumulate locally, as under DDP's `no_sync`).
    pub fn before_forward(&self) -> Result<()> {
        self.group.checked("gradient reducer (forward)", |e, n| unsafe {
            // SAFETY: the reducer lives as long as self.
            ffi::tuna_reducer_prepare_forward(self.reducer, e, n)
        })
    }

    /// After that forward pass: the backward of `loss` all-reduces the gradients.
    pub fn before_backward(&self, loss: &Tensor) -> Result<()> {
        let outputs = [ptr(loss)];
        self.group.checked("gradient reducer (backward)", |e, n| unsafe {
            // SAFETY: `loss` is alive for the call.
            ffi::tuna_reducer_prepare_backward(self.reducer, outputs.as_ptr(), outputs.len(), e, n)
        })
    }
}

impl Drop for GradSync {
    fn drop(&mut self) {
        // SAFETY: made in `new`, not used after this.
        unsafe { ffi::tuna_reducer_free(self.reducer) };
    }
}
