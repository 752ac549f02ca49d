#!/usr/bin/env bash
# MiniLM-L6 inference, batch 32, length 64, 2 threads: tuna beside ../shared/bench/hf_baseline.py
# (run as it is) in one run, on the same batches (padded to 64). The ratio uses the model's own
# `forward`, which skips the padding's work; `inference_padded` is printed beside it for
# tuna computing every padded position as Python does. Prints the bench-results.json entries.
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
p = py["samples_per_s"]
for impl, name in (("tuna", "inference"), ("tuna_padded", "inference_padded")):
    r = next(x for x in rust if x["impl"] == impl)["samples_per_s"]
    print(json.dumps({"name": name, "rust": r, "python": p, "ratio": round(r / p, 2), "unit": "samples/s"}))
PY
