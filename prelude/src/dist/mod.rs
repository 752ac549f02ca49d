//! Data-parallel training on PyTorch's own engine, c10d: the process group that
//! `torch.distributed` builds (a TCPStore, Gloo for CPU tensors, NCCL for CUDA tensors), its
//! collectives, and DDP's Reducer for gradients (see [`Trainer`](crate::train::Trainer), which
//! goes data-parallel by itself under a launcher).
//!
//! Processes are started by a launcher that sets the standard variables — `tuna launch -n 2 --
//! PROGRAM` or `torchrun --no-python --nproc-per-node 2 PROGRAM` — and each one joins with
//! [`ProcessGroup::from_env`]:
//!
//! ```no_run
//! use tuna::dist::{ProcessGroup, ReduceOp};
//! let group = ProcessGroup::from_env()?;          // RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
//! let mut t = tch::Tensor::from_slice(&[group.rank() as f32]);
//! group.all_reduce(&mut t, ReduceOp::Sum)?;       // 0 + 1 + … on every rank
//! # Ok::<(), tuna::Error>(())
//! ```
//!
//! A peer that dies makes the next collective fail on the others within seconds; the error
//! names the ranks that stopped answering (see `faults.rs`). Python ranks (`torch.distributed`
//! with Gloo) can join the same group: the store layout and the backend are PyTorch's.

mod faults;
mod ffi;
mod reducer;

pub(crate) use reducer::GradSync;

use crate::{Error, Result};
use ffi::{c_string, call, ptr, Raw};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tch::{Device, Kind, Tensor};

/// How values are combined by [`ProcessGroup::all_reduce`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Avg,
    Max,
    Min,
    Product,
}

impl ReduceOp {
    fn code(self) -> i32 {
        match self {
            ReduceOp::Sum => 0,
            ReduceOp::Avg => 1,
            ReduceOp::Max => 2,
            ReduceOp::Min => 3,
            ReduceOp::Product => 4,
        }
    }
}

/// Where this process stands in a job: the variables torchrun (and `tuna launch`) set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistEnv {
    pub rank: usize,
    pub world_size: usize,
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
    /// torchrun's agent hosts the store (`TORCHELASTIC_USE_AGENT_STORE=True`): rank 0 joins it
    /// as a client instead of serving it.
    pub agent_store: bool,
}

impl DistEnv {
    /// Reads the launcher's variables; Ok(None) when `WORLD_SIZE` is not set (no launcher).
    pub fn from_env() -> Result<Option<DistEnv>> {
        let Some(world) = std::env::var_os("WORLD_SIZE") else {
            return Ok(None);
        };
        let world_size: usize = parse_var("WORLD_SIZE", &world.to_string_lossy())?;
        let rank = parse_var("RANK", &required("RANK")?)?;
        let local_rank = match std::env::var("LOCAL_RANK") {
            Ok(v) => parse_var("LOCAL_RANK", &v)?,
            Err(_) => rank,
        };
        let master_addr = std::env::var("MASTER_ADDR").unwrap_or_else(|_| "127.0.0.1".into());
        let master_port = parse_var("MASTER_PORT", &required("MASTER_PORT")?)?;
        let agent_store = std::env::var("TORCHELASTIC_USE_AGENT_STORE").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        if world_size == 0 || rank >= world_size {
            return Err(Error::config("RANK", format!("RANK={rank} does not fit WORLD_SIZE={world_size}: ranks go from 0 to WORLD_SIZE-1")));
        }
        Ok(Some(DistEnv { rank, world_size, local_rank, master_addr, master_port, agent_store }))
    }
}

fn required(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| {
        Error::config(name, format!("WORLD_SIZE is set but {name} is not: start the processes with `tuna launch` or `torchrun`, which set both"))
    })
}

fn parse_var<T: std::str::FromStr>(name: &str, value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| Error::config(name, format!("{name}={value:?} is not a number")))
}

/// Seconds a collective or the store waits for its peers (`TUNA_DIST_TIMEOUT`, default 600).
fn timeout() -> Duration {
    let secs = std::env::var("TUNA_DIST_TIMEOUT").ok().and_then(|v| v.parse::<f64>().ok()).unwrap_or(600.0);
    Duration::from_secs_f64(secs.max(1.0))
}

/// A group of processes that train together, built as `torch.distributed.init_process_group`
/// builds its default group.
pub struct ProcessGroup {
    group: Raw,
    store: Raw,
    env: DistEnv,
    device: Device,
    /// Collectives on one group must be issued in the same order on every rank; one at a time.
    lock: Mutex<()>,
}

// SAFETY: c10d's store and process group are used from one thread at a time (`lock`), and are
// safe to move between threads (PyTorch calls them from any Python thread).
unsafe impl Send for ProcessGroup {}
unsafe impl Sync for ProcessGroup {}

impl ProcessGroup {
    /// Joins the job described by the launcher's variables (see [`DistEnv::from_env`]); an error
    /// when there is no launcher.
    pub fn from_env() -> Result<ProcessGroup> {
        let env = DistEnv::from_env()?.ok_or_else(|| {
            Error::config("WORLD_SIZE", "not set: start the program with `tuna launch -n N -- PROGRAM` or `torchrun --no-python --nproc-per-node N PROGRAM`")
        })?;
        Self::join(env)
    }

    /// Joins the job `env` describes; CUDA tensors use NCCL on `cuda:LOCAL_RANK` when this
    /// process has CUDA and tuna was built with NCCL.
    pub fn join(env: DistEnv) -> Result<ProcessGroup> {
        let t = timeout();
        let host = c_string(&env.master_addr)?;
        let mut store: Raw = std::ptr::null_mut();
        let is_server = env.rank == 0 && !env.agent_store;
        call(&format!("rank {} could not reach the store at {}:{}", env.rank, env.master_addr, env.master_port), |e, n| unsafe {
            // SAFETY: valid C string, out-pointer and buffer for the duration of the call.
            ffi::tuna_store_new(host.as_ptr(), env.master_port as i32, is_server as i32, env.world_size as i32, t.as_millis() as i64, &mut store, e, n)
        })?;
        let cuda = tch::Cuda::is_available() && ffi_nccl();
        let device = if cuda { Device::Cuda(env.local_rank) } else { Device::Cpu };
        let hostname = c_string(&gloo_hostname(&env.master_addr))?;
        let mut group: Raw = std::ptr::null_mut();
        let made = call(&format!("rank {} of {} could not form the process group", env.rank, env.world_size), |e, n| unsafe {
            // SAFETY: `store` was made above; valid C string and out-pointer.
            ffi::tuna_group_new(store, env.rank as i32, env.world_size as i32, t.as_millis() as i64, hostname.as_ptr(), if cuda { env.local_rank as i32 } else { -1 }, &mut group, e, n)
        });
        if let Err(e) = made {
            // SAFETY: made by tuna_store_new above, not used after this.
            unsafe { ffi::tuna_store_free(store) };
            return Err(e);
        }
        Ok(ProcessGroup { group, store, env, device, lock: Mutex::new(()) })
    }

    /// This process's rank, 0 to `world_size() - 1`.
    pub fn rank(&self) -> usize {
        self.env.rank
    }

    /// Processes in the group.
    pub fn world_size(&self) -> usize {
        self.env.world_size
    }

    /// Rank among the processes of this machine (the CUDA device it uses).
    pub fn local_rank(&self) -> usize {
        self.env.local_rank
    }

    /// Whether this is rank 0, which writes checkpoints and shows progress.
    pub fn is_main(&self) -> bool {
        self.env.rank == 0
    }

    /// The device this rank trains on: `cuda:LOCAL_RANK` with CUDA and NCCL, else the CPU.
    pub fn device(&self) -> Device {
        self.device
    }

    fn collective(&self, what: &str, f: impl FnOnce(*mut std::ffi::c_char, usize) -> i32) -> Result<()> {
        let _one = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.checked(what, f)
    }

    /// Runs a call into c10d; a failure names this rank and the peers that stopped answering.
    pub(crate) fn checked(&self, what: &str, f: impl FnOnce(*mut std::ffi::c_char, usize) -> i32) -> Result<()> {
        call(&format!("{what} failed on rank {} of {}", self.env.rank, self.env.world_size), f)
            .map_err(|e| faults::explain(self.store, &self.env, e))
    }

    /// Combines `t` over all ranks in place (every rank must call it with the same shape).
    pub fn all_reduce(&self, t: &mut Tensor, op: ReduceOp) -> Result<()> {
        // Gloo reads and writes the storage as one block: a strided view would be wrong silently.
        with_contiguous(t, |c| {
            self.collective("all_reduce", |e, n| unsafe {
                // SAFETY: `c` is a live tensor for the duration of the call.
                ffi::tuna_allreduce(self.group, ptr(c), op.code(), e, n)
            })
        })
    }

    /// Copies rank `root`'s `t` into every rank's `t`.
    pub fn broadcast(&self, t: &mut Tensor, root: usize) -> Result<()> {
        with_contiguous(t, |c| {
            self.collective("broadcast", |e, n| unsafe {
                // SAFETY: as in all_reduce.
                ffi::tuna_broadcast(self.group, ptr(c), root as i32, e, n)
            })
        })
    }

    /// Returns when every rank has called it.
    pub fn barrier(&self) -> Result<()> {
        self.collective("barrier", |e, n| unsafe {
            // SAFETY: the group lives as long as self.
            ffi::tuna_barrier(self.group, e, n)
        })
    }

    /// Every rank's `t` (same shape on all ranks), in rank order.
    pub fn all_gather(&self, t: &Tensor) -> Result<Vec<Tensor>> {
        let input = t.f_contiguous()?;
        let outs: Vec<Tensor> = (0..self.world_size()).map(|_| input.empty_like()).collect();
        let ptrs: Vec<*mut std::ffi::c_void> = outs.iter().map(ptr).collect();
        self.collective("all_gather", |e, n| unsafe {
            // SAFETY: `input` and `outs` are live tensors for the duration of the call.
            ffi::tuna_allgather(self.group, ptr(&input), ptrs.as_ptr(), ptrs.len(), e, n)
        })?;
        Ok(outs)
    }

    /// Every rank's rows of `t` (the first dimension may differ between ranks), concatenated in
    /// rank order.
    pub fn gather_rows(&self, t: &Tensor) -> Result<Tensor> {
        let size = t.size();
        let rows = size.first().copied().unwrap_or(0);
        let counts = self.all_gather(&Tensor::from_slice(&[rows]).to_device(t.device()))?;
        let counts: Vec<i64> = counts.iter().map(|c| c.int64_value(&[0])).collect();
        let most = counts.iter().copied().max().unwrap_or(0);
        let mut padded_size = size.clone();
        padded_size[0] = most;
        let padded = Tensor::f_zeros(&padded_size, (t.kind(), t.device()))?;
        if rows > 0 {
            padded.narrow(0, 0, rows).f_copy_(t)?;
        }
        let parts = self.all_gather(&padded)?;
        let kept: Vec<Tensor> = parts.iter().zip(&counts).map(|(p, &c)| p.narrow(0, 0, c)).collect();
        Ok(Tensor::f_cat(&kept, 0)?)
    }

    /// Sums plain numbers over all ranks (losses, counts, flags), in one all-reduce.
    pub fn sum_f64(&self, values: &[f64]) -> Result<Vec<f64>> {
        let mut t = Tensor::f_from_slice(values)?.to_kind(Kind::Double).to_device(self.device);
        self.all_reduce(&mut t, ReduceOp::Sum)?;
        Ok(Vec::<f64>::try_from(t.to_device(Device::Cpu))?)
    }

    pub(crate) fn raw(&self) -> Raw {
        self.group
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: both were made in `join` and are not used after this.
        unsafe {
            ffi::tuna_group_free(self.group);
            ffi::tuna_store_free(self.store);
        }
    }
}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProcessGroup(rank {} of {}, {:?})", self.env.rank, self.env.world_size, self.device)
    }
}

/// Whether this build can reduce CUDA tensors (NCCL compiled in).
pub fn nccl_available() -> bool {
    ffi_nccl()
}

fn ffi_nccl() -> bool {
    // SAFETY: a constant query.
    unsafe { ffi::tuna_nccl_available() != 0 }
}

/// The address Gloo binds: the loopback when the job is on this machine only, else this host's
/// name (as PyTorch does, `GLOO_SOCKET_IFNAME` aside).
fn gloo_hostname(master: &str) -> String {
    if let Ok(h) = std::env::var("TUNA_GLOO_HOST") {
        return h;
    }
    if matches!(master, "127.0.0.1" | "localhost" | "::1") {
        return "127.0.0.1".into();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "127.0.0.1".into())
}

/// Runs `f` on a contiguous tensor holding `t`'s values and copies the result back when `t`
/// itself was not contiguous.
fn with_contiguous(t: &mut Tensor, f: impl FnOnce(&Tensor) -> Result<()>) -> Result<()> {
    if t.is_contiguous() {
        return f(t);
    }
    let c = t.f_contiguous()?;
    f(&c)?;
    tch::no_grad(|| t.f_copy_(&c))?;
    Ok(())
}

/// The process group of this process's job, joined once from the launcher's variables; None
/// when the process was not started by a launcher (or `WORLD_SIZE` is 1).
pub fn default_group() -> Result<Option<Arc<ProcessGroup>>> {
    static GROUP: Mutex<Option<Arc<ProcessGroup>>> = Mutex::new(None);
    let mut slot = GROUP.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(g) = slot.as_ref() {
        return Ok(Some(Arc::clone(g)));
    }
    let Some(env) = DistEnv::from_env()? else {
        return Ok(None);
    };
    if env.world_size < 2 {
        return Ok(None);
    }
    let group = Arc::new(ProcessGroup::join(env)?);
    *slot = Some(Arc::clone(&group));
    Ok(Some(group))
}
