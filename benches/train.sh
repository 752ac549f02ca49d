#!/usr/bin/env bash
# Training throughput, peak RSS and achieved GFLOP/s: tuna (prelude/examples/train_bench.rs)
# beside ../shared/bench/hf_baseline.py (run as it is), task by task, each side in its own
# process, back to back in one run: cls_full (MiniLM-L6, batch 32, length 64), cls_lora (LoRA r=8
# on query and value), mlm (batch 16, length 128) and cls_full_bf16, mlm_bf16 (bf16 autocast).
# Prints every measurement and the bench-results.json entries (ratio > 1: tuna better; RSS as
# python/rust), the step's GFLOP/s as a fraction of a 1024³ f32 matmul measured in the same run,
# tuna's data-wait fraction and the load average at each measurement (the machine is shared).
# TUNA_BENCH_TASKS overrides the task list, e.g. TUNA_BENCH_TASKS="cls_full mlm mlm_bf16".
set -euo pipefail
. "$(dirname "$0")/common.sh"
# The bf16 tasks run by default only where the CPU computes bf16 itself (AVX-512 BF16 or AMX);
# elsewhere both sides emulate it, and mlm_bf16 alone takes 40 minutes.
if grep -qw -e avx512_bf16 -e amx_bf16 /proc/cpuinfo; then
  default_tasks="cls_full cls_lora mlm cls_full_bf16 mlm_bf16"
else
  default_tasks="cls_full cls_lora mlm"
  echo "train.sh: this CPU has no bf16 units: cls_full_bf16 and mlm_bf16 run only on request (TUNA_BENCH_TASKS)" >&2
fi
tasks=${TUNA_BENCH_TASKS:-$default_tasks}
cargo build -q --release -p tuna --example train_bench 2>/dev/null
bench="${CARGO_TARGET_DIR:-target}/release/examples/train_bench"
lines=$(mktemp)
load() { cut -d' ' -f1 /proc/loadavg; }
run() { # side, command...: one JSON line with the load average added
  local side=$1; shift
  local l0; l0=$(load)
  "$@" 2>/dev/null | grep '^{' | tail -1 | python3 -c "import json,sys; d=json.loads(sys.stdin.read()); d.update(side='$side', load_before=$l0, load_after=$(load)); print(json.dumps(d))" | tee -a "$lines" >&2
}
run rust "$bench" ceiling
run python python "$baseline" "$model" "$csv" ceiling
for task in $tasks; do
  run rust "$bench" "$task"
  run python python "$baseline" "$model" "$csv" "$task"
done
python3 - "$lines" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ceil = {r["side"]: r["matmul_gflops"] for r in rows if r["task"] == "ceiling"}
rust = {r["task"]: r for r in rows if r["side"] == "rust" and r["task"] != "ceiling"}
py = {r["task"]: r for r in rows if r["side"] == "python" and r["task"] != "ceiling"}
for task, r in rust.items():
    p = py.get(task)
    if p is None:
        continue
    load = f"load {r['load_before']}-{r['load_after']} / {p['load_before']}-{p['load_after']}"
    print(json.dumps({"name": task, "rust": r["samples_per_s"], "python": p["samples_per_s"],
                      "ratio": round(r["samples_per_s"] / p["samples_per_s"], 2), "unit": "samples/s", "load": load}))
    print(json.dumps({"name": f"{task}_rss", "rust": r["peak_rss_mb"], "python": p["peak_rss_mb"],
                      "ratio": round(p["peak_rss_mb"] / r["peak_rss_mb"], 2), "unit": "MB peak RSS (python/rust)"}))
    # Achieved GFLOP/s of each side's own step, as a fraction of its side's 1024³ matmul.
    fr = r["flop_step"] / r["step_s"] / 1e9 / ceil["rust"]
    fp = r["flop_step_hf"] / p["step_s"] / 1e9 / ceil["python"]
    print(json.dumps({"name": f"{task}_gflops", "rust_fraction_of_matmul": round(fr, 3), "python_fraction_of_matmul": round(fp, 3),
                      "rust_gflops": round(r["flop_step"] / r["step_s"] / 1e9, 1), "python_gflops": round(r["flop_step_hf"] / p["step_s"] / 1e9, 1),
                      "ceiling_gflops": ceil}))
    print(json.dumps({"name": f"{task}_data_wait", "rust_fraction_of_step_time": r["data_wait_frac"], "target": "< 0.05"}))
PY
