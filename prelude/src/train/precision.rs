//! bf16 mixed precision: libtorch's autocast for the forward pass (matmuls, linear layers and
//! attention in bf16; reductions, softmax and losses as autocast decides), master weights,
//! gradients and optimizer state in f32 — what `torch.autocast(device_type, dtype=torch.bfloat16)`
//! does in PyTorch, on the CPU (fast on CPUs with bf16 matrix units: AMX, AVX512-BF16) and on CUDA.
//!
//! tch 0.24's `tch::autocast` only switches CUDA autocast (it calls the deprecated
//! `at::autocast::set_enabled`), so the per-device switches of `ATen/autocast_mode.h` are
//! declared here directly; they are exported by `libtorch_cpu`, which tch links.

use tch::Device;

// c10::DeviceType and c10::ScalarType are `enum class : int8_t`.
const DEVICE_CPU: i8 = 0;
const DEVICE_CUDA: i8 = 1;
const SCALAR_BFLOAT16: i8 = 15;

extern "C" {
    #[link_name = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE"]
    fn at_is_autocast_enabled(device: i8) -> bool;
    #[link_name = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb"]
    fn at_set_autocast_enabled(device: i8, enabled: bool);
    #[link_name = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"]
    fn at_get_autocast_dtype(device: i8) -> i8;
    #[link_name = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"]
    fn at_set_autocast_dtype(device: i8, dtype: i8);
    #[link_name = "_ZN2at8autocast17increment_nestingEv"]
    fn at_increment_nesting() -> i32;
    #[link_name = "_ZN2at8autocast17decrement_nestingEv"]
    fn at_decrement_nesting() -> i32;
    #[link_name = "_ZN2at8autocast11clear_cacheEv"]
    fn at_clear_cache();
}

/// Whether this CPU has bf16 matrix or vector units (AMX-BF16 or AVX512-BF16), read from
/// `/proc/cpuinfo`; elsewhere bf16 autocast still runs, but emulated and slower than f32.
pub fn cpu_has_bf16() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().filter(|l| l.starts_with("flags")).take(1).any(|l| l.contains(" amx_bf16") || l.contains(" avx512_bf16")))
        .unwrap_or(false)
}

/// bf16 autocast on `device`'s type for as long as it lives (this thread only, as in PyTorch).
/// On drop the previous state comes back and, at the outermost level, the cache of bf16 copies
/// of the weights is cleared — so every step casts the weights the optimizer just updated.
pub struct Autocast {
    device: i8,
    was_enabled: bool,
    was_dtype: i8,
}

impl Autocast {
    /// Turns bf16 autocast on for `device` (CPU or CUDA; other devices: None, nothing changes).
    pub fn bf16(device: Device) -> Option<Autocast> {
        let device = match device {
            Device::Cpu => DEVICE_CPU,
            Device::Cuda(_) => DEVICE_CUDA,
            _ => return None,
        };
        // SAFETY: these only read and write libtorch's thread-local autocast state; the
        // arguments are valid enumerators of c10::DeviceType and c10::ScalarType.
        unsafe {
            let was_enabled = at_is_autocast_enabled(device);
            let was_dtype = at_get_autocast_dtype(device);
            at_set_autocast_dtype(device, SCALAR_BFLOAT16);
            at_set_autocast_enabled(device, true);
            at_increment_nesting();
            Some(Autocast { device, was_enabled, was_dtype })
        }
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        // SAFETY: as in `Autocast::bf16`.
        unsafe {
            if at_decrement_nesting() == 0 {
                at_clear_cache();
            }
            at_set_autocast_enabled(self.device, self.was_enabled);
            at_set_autocast_dtype(self.device, self.was_dtype);
        }
    }
}
