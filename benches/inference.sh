#!/usr/bin/env bash
# MiniLM-L6 inference, batch 32, length 64, 2 threads: tuna beside ../shared/bench/hf_baseline.py
# (run as it is) in one run. The ratio uses tuna on all 64 columns, the same work as Python;
# the padding-cut variant is printed too but not counted. Prints the bench-results.json entry.
set -euo pipefail
. "$(dirname "$0")/common.sh"
rust=$(cargo bench -q -p tuna --bench models_inference -- --test --nocapture 2>/dev/null | grep '^{' || true)
python=$(python "$baseline" "$model" "$csv" infer | grep '^{')
echo "$rust" >&2
echo "$python" >&2
python3 - "$rust" "$python" <<'PY'
import json, sys
rust = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
py = json.loads(sys.argv[2].splitlines()[-1])
same_work = next(r for r in rust if r["impl"] == "tuna_all_columns")
r, p = same_work["samples_per_s"], py["samples_per_s"]
print(json.dumps({"name": "inference", "rust": r, "python": p, "ratio": round(r / p, 2), "unit": "samples/s"}))
PY
