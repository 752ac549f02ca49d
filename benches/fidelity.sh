#!/usr/bin/env bash
# Training fidelity (issue 5): the same MiniLM-L6 fine-tuning protocol in Python transformers
# (benches/fidelity_hf.py) and in tuna (prelude/examples/fidelity.rs) on the same split
# (benches/fidelity_split.json); the accuracies on the held-out 2,000 must agree within 1.5
# points. About 2 × 96 training steps plus evaluation: several minutes on an idle 2-core machine,
# so `make bench` runs it only with TUNA_FIDELITY=1 (or run `bash benches/fidelity.sh`).
set -euo pipefail
. "$(dirname "$0")/common.sh"
py=$(python benches/fidelity_hf.py "$model" "$csv" 2>/dev/null | grep '^{' | tail -1)
cargo build -q --release -p tuna --example fidelity 2>/dev/null
rs=$("${CARGO_TARGET_DIR:-target}/release/examples/fidelity" 2>/dev/null | grep '^{' | tail -1)
echo "$py" >&2
echo "$rs" >&2
python3 - "$rs" "$py" <<'PY'
import json, sys
r, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
gap = round(100 * abs(r["accuracy"] - p["accuracy"]), 2)
print(json.dumps({"name": "fidelity", "rust_accuracy": r["accuracy"], "python_accuracy": p["accuracy"], "gap_points": gap,
                  "agrees_within_1_5": gap <= 1.5}))
PY
