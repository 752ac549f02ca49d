#!/usr/bin/env bash
# Benchmarks: each measures tuna and its reference (Python transformers / PEFT, or
# evcxr_jupyter for the kernel) in the same run and prints JSON lines; lines with a `ratio`
# (> 1 means tuna is better) are collected into bench-results.json at the repository root.
# Run through `make bench` (which sets up first). Timings are never asserted in tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
results=$(mktemp)
load_before=$(cut -d' ' -f1 /proc/loadavg)

echo "== kernel start-up and cell latency vs evcxr_jupyter 0.22" >&2
EVCXR_JUPYTER="$TUNA_CACHE/evcxr_jupyter/bin/evcxr_jupyter"
if [ ! -x "$EVCXR_JUPYTER" ]; then
  echo "building evcxr_jupyter 0.22 from crates.io (once; ~15 min on 2 cores)" >&2
  CARGO_TARGET_DIR="$TUNA_CACHE/target-evcxr-jupyter" cargo install evcxr_jupyter@0.22.0 --locked \
    --root "$TUNA_CACHE/evcxr_jupyter" 2>&1 | grep -v '^\s*Compiling' >&2
fi
python benches/kernel_startup.py "$EVCXR_JUPYTER" "$PWD/prelude" | tee -a "$results"

# Further benchmarks append their lines to $results here.
for bench in benches/*.sh; do
  [ -e "$bench" ] || continue
  [ "$bench" = benches/common.sh ] && continue
  # The fidelity run trains twice for minutes: only on request.
  [ "$bench" = benches/fidelity.sh ] && [ "${TUNA_FIDELITY:-0}" != 1 ] && continue
  echo "== $bench" >&2
  bash "$bench" | tee -a "$results"
done

python - "$results" "$load_before" <<'PY'
import json, os, platform, subprocess, sys

def run(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except OSError:
        return ""

def version(module):
    return run(sys.executable, "-c", f"import {module}; print({module}.__version__)")

entries = []
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if "ratio" in d:
        entries.append(d)
cpuinfo = open("/proc/cpuinfo").read()
flags = next((l.split(":", 1)[1].split() for l in cpuinfo.splitlines() if l.startswith("flags")), [])
model = next((l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.startswith("model name")), platform.processor())
# What two result files need to be compared honestly: the machine, its load, both sides' versions.
machine = {
    "cpu": model,
    "cpu_flags": sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "sse4"))),
    "bf16_units": any(f in flags for f in ("avx512_bf16", "amx_bf16")),
    "cores": os.cpu_count(),
    "threads": int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())),
    "load_average_before": float(sys.argv[2]),
    "load_average_after": os.getloadavg()[0],
    "tuna_commit": run("git", "rev-parse", "--short", "HEAD"),
    "rustc": run("rustc", "--version"),
    "torch": version("torch"),
    "transformers": version("transformers"),
    "peft": version("peft"),
    "python": platform.python_version(),
}
json.dump({"machine": machine, "results": entries}, open("bench-results.json", "w"), indent=1)
print("\nbench-results.json:")
print(f"  {machine['cpu']}, {machine['cores']} cores, bf16 units: {machine['bf16_units']}, load {machine['load_average_before']} -> {machine['load_average_after']:.2f}")
for e in entries:
    print(f"  {e['name']:<22} tuna {e['rust']:>10} {e['unit']:<10} reference {e['python']:>10}   ratio {e['ratio']}")
PY
