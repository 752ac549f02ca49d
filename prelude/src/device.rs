//! Where tensors live: the GPU when there is one, else the CPU.

use tch::Device;

/// Loads libtorch's CUDA library if it is there. The linker drops `libtorch_cuda` from
/// binaries that reference none of its symbols (`--as-needed`), and without it libtorch
/// reports no GPU even on a GPU machine. Harmless on a CPU-only libtorch.
pub fn init_cuda() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for name in [c"libtorch_cuda.so", c"libtorch_cuda.dylib"] {
            // SAFETY: dlopen with a valid C string; the handle is kept open for the process.
            let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
            if !handle.is_null() {
                break;
            }
        }
    });
}

/// The best device available: the first CUDA GPU when libtorch sees one, else the CPU.
pub fn device() -> Device {
    init_cuda();
    Device::cuda_if_available()
}

/// Whether a CUDA GPU is usable.
pub fn cuda_available() -> bool {
    init_cuda();
    tch::Cuda::is_available()
}

/// Whether this CPU multiplies bf16 matrices in hardware (AVX-512 BF16 or AMX), where bf16
/// mixed precision pays off on the CPU.
pub fn cpu_has_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
            || std::fs::read_to_string("/proc/cpuinfo").map(|s| s.contains(" amx_bf16")).unwrap_or(false)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
