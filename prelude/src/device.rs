//! Where tensors live: the GPU when there is one, else the CPU.

use tch::Device;

/// The best device available: the first CUDA GPU when libtorch sees one, else the CPU.
pub fn device() -> Device {
    // tch loads libtorch_cuda only when asked; without this a CUDA build reports no GPU.
    tch::maybe_init_cuda();
    Device::cuda_if_available()
}

/// Whether a CUDA GPU is usable.
pub fn cuda_available() -> bool {
    tch::maybe_init_cuda();
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
