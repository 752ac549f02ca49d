"""Kernel start-up and per-cell latency: tuna vs evcxr_jupyter 0.22, through jupyter_client.

For each kernel, with a warm build cache (one untimed start first): the time from starting the
kernel to the result of the first cell that uses the prelude (for evcxr_jupyter the cell adds
the same prelude crate with `:dep`), the median of 20 runs of `1 + 1`, the median of 10 cells
that each declare a new variable, and, on a second fresh start, the time from starting the
kernel to the answer of a first cell that is a `let` (what "Restart and Run All" waits for).
Usage: python kernel_startup.py EVCXR_JUPYTER_BINARY PRELUDE_DIR  (prints JSON lines)
"""
import contextlib, json, os, statistics, subprocess, sys, tempfile, time
from jupyter_client.manager import KernelManager

EVCXR, PRELUDE = sys.argv[1], sys.argv[2]
FIRST_CELL = 'tch::Tensor::from_slice(&[1.0f32, 2.0]).sum(tch::Kind::Float).double_value(&[])'
FIRST_LET = 'let first = tch::Tensor::from_slice(&[1.0f32, 2.0]);'


def execute(kc, code, timeout=900):
    msg_id = kc.execute(code)
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"{code!r} failed: {reply['content'].get('evalue')}")
    # Wait for idle so that the next cell starts clean.
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status" \
                and msg["content"]["execution_state"] == "idle":
            return


@contextlib.contextmanager
def started(kernel_name, env):
    """A client of a kernel started now and ready; the kernel is shut down afterwards."""
    km = KernelManager(kernel_name=kernel_name)
    km.start_kernel(env={**os.environ, **env})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=900)
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def measure(kernel_name, first_cell, first_let, env):
    t0 = time.perf_counter()
    with started(kernel_name, env) as kc:
        execute(kc, first_cell)
        first = time.perf_counter() - t0
        trivial, lets = [], []
        for _ in range(20):
            t = time.perf_counter()
            execute(kc, "1 + 1")
            trivial.append(time.perf_counter() - t)
        for i in range(10):
            t = time.perf_counter()
            execute(kc, f"let v{i} = vec![{i}; 3];")
            lets.append(time.perf_counter() - t)
    t0 = time.perf_counter()
    with started(kernel_name, env) as kc:
        execute(kc, first_let)
        first_let_s = time.perf_counter() - t0
    return first, statistics.median(trivial), statistics.median(lets), first_let_s


def main():
    kernels = tempfile.mkdtemp(prefix="tuna-bench-kernels-")
    os.makedirs(f"{kernels}/kernels/evcxr-bench")
    with open(f"{kernels}/kernels/evcxr-bench/kernel.json", "w") as f:
        json.dump({"argv": [EVCXR, "--control_file", "{connection_file}"], "display_name": "Rust (evcxr)",
                   "language": "rust", "interrupt_mode": "message"}, f)
    os.environ["JUPYTER_PATH"] = kernels + os.pathsep + os.environ.get("JUPYTER_PATH", "")
    evcxr_tmp = os.path.join(os.environ.get("TUNA_CACHE", os.path.expanduser("~/.cache/tuna")), "evcxr-jupyter-tmp")
    os.makedirs(evcxr_tmp, exist_ok=True)
    # evcxr's cells find Rust's standard library through a relative RUNPATH that breaks in a
    # deep build directory such as this persistent one; tuna adds the toolchain's library
    # directory to LD_LIBRARY_PATH itself, evcxr_jupyter is given the same.
    libdir = subprocess.run(["rustc", "--print", "target-libdir"], capture_output=True, text=True).stdout.strip()
    evcxr_ld = libdir + os.pathsep + os.environ.get("LD_LIBRARY_PATH", "")
    evcxr_dep = f':dep tuna = {{ path = "{PRELUDE}" }}\nuse tuna::prelude::*;\n'
    runs = {
        "tuna": ("tuna", FIRST_CELL, FIRST_LET, {}),
        "evcxr_jupyter": ("evcxr-bench", evcxr_dep + FIRST_CELL, evcxr_dep + FIRST_LET,
                          {"EVCXR_TMPDIR": evcxr_tmp, "LD_LIBRARY_PATH": evcxr_ld}),
    }
    results = {}
    for name, (kernel, cell, let, env) in runs.items():
        measure(kernel, cell, let, env)  # warm the caches, untimed
        results[name] = measure(kernel, cell, let, env)
        first, trivial, lets, first_let = results[name]
        print(json.dumps({"kernel": name, "first_prelude_cell_s": round(first, 3), "trivial_cell_median_s": round(trivial, 3),
                          "let_cell_median_s": round(lets, 3), "first_let_after_start_s": round(first_let, 3)}), flush=True)
    tuna, evcxr = results["tuna"], results["evcxr_jupyter"]
    for entry, idx in (("kernel_first_cell", 0), ("kernel_trivial_cell", 1), ("kernel_let_cell", 2), ("kernel_first_let", 3)):
        print(json.dumps({"name": entry, "rust": round(tuna[idx], 3), "python": round(evcxr[idx], 3),
                          "ratio": round(evcxr[idx] / tuna[idx], 2), "unit": "s",
                          "reference": "evcxr_jupyter 0.22"}), flush=True)


if __name__ == "__main__":
    main()
