//! The C functions of `csrc/dist.cpp` and one way to call them: each returns 0, or 1 with a
//! message in the error buffer, which becomes an [`Error`].

use crate::{Error, Result};
use std::ffi::{c_char, c_int, c_void, CStr, CString};

pub(crate) type Raw = *mut c_void;

extern "C" {
    pub fn tuna_store_new(host: *const c_char, port: c_int, is_server: c_int, world: c_int, timeout_ms: i64, out: *mut Raw, err: *mut c_char, err_len: usize) -> c_int;
    pub fn tuna_store_free(store: Raw);
    pub fn tuna_store_set(store: Raw, key: *const c_char, value: *const u8, len: usize, err: *mut c_char, err_len: usize) -> c_int;
    pub fn tuna_store_get(store: Raw, key: *const c_char, timeout_ms: i64, value: *mut u8, cap: usize, len: *mut usize, err: *mut c_char, err_len: usize) -> c_int;
    pub fn tuna_store_check(store: Raw, key: *const c_char, present: *mut c_int, err: *mut c_char, err_len: usize) -> c_int;
    pub fn tuna_store_add(store: Raw, key: *const c_char, delta: i64, value: *mut i64, err: *mut c_char, err_len: usize) -> c_int;
    pub fn tuna_group_new(store: Raw, rank: c_int, world: c_int, timeout_ms: i64, hostname: *const c_char, cuda_device: c_int, out: *mut Raw, err: *mut c_char, err_len: usize) -> c_int;
    pub fn tuna_group_free(group: Raw);
    pub fn tuna_quiet_logs();
    pub fn tuna_nccl_available() -> c_int;
    pub fn tuna_allreduce(group: Raw, t: *mut c_void, op: c_int, err: *mut c_char, err_len: usize) -> c_int;
    pub fn tuna_broadcast(group: Raw, t: *mut c_void, root: c_int, err: *mut c_char, err_len: usize) -> c_int;
    pub fn tuna_barrier(group: Raw, err: *mut c_char, err_len: usize) -> c_int;
    pub fn tuna_allgather(group: Raw, t: *mut c_void, outs: *const *mut c_void, n: usize, err: *mut c_char, err_len: usize) -> c_int;
    pub fn tuna_reducer_new(group: Raw, params: *const *mut c_void, n: usize, bucket_bytes: i64, first_bucket_bytes: i64, find_unused: c_int, out: *mut Raw, err: *mut c_char, err_len: usize) -> c_int;
    pub fn tuna_reducer_free(reducer: Raw);
    pub fn tuna_reducer_prepare_forward(reducer: Raw, err: *mut c_char, err_len: usize) -> c_int;
    pub fn tuna_reducer_prepare_backward(reducer: Raw, outputs: *const *mut c_void, n: usize, err: *mut c_char, err_len: usize) -> c_int;
}

/// Runs `f` with an error buffer; a non-zero return becomes an error saying what was being done.
pub(crate) fn call(what: &str, f: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<()> {
    let mut buf = vec![0 as c_char; 4096];
    if f(buf.as_mut_ptr(), buf.len()) == 0 {
        return Ok(());
    }
    // SAFETY: the C side writes a NUL-terminated message (snprintf) into the zeroed buffer.
    let message = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().trim().to_string();
    Err(Error::msg(format!("{what}: {message}")))
}

/// A C string; interior NULs (impossible in the keys and hosts used here) are refused.
pub(crate) fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::msg(format!("`{s}` contains a NUL byte")))
}

/// The `at::Tensor*` behind a tch tensor.
pub(crate) fn ptr(t: &tch::Tensor) -> *mut c_void {
    t.as_ptr() as *mut c_void
}
