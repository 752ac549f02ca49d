#!/usr/bin/env bash
# tuna's `collate` benchmark beside Python's, in one run: tokenization + masked-LM collation of
# the real tweets (batch 16, length 128). Prints the bench-results.json entry
# {name, rust, python, ratio, unit} (ratio > 1: tuna is faster). Usage: bash benches/collate.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
rows=${1:-38158}
cargo build -q --release -p tuna --example collate_bench
rust=$("$CARGO_TARGET_DIR/release/examples/collate_bench" "$rows")
python=$("$TUNA_VENV/bin/python" benches/collate_hf.py "$rows")
echo "$rust" >&2
echo "$python" >&2
python3 - "$rust" "$python" <<'PY'
import json, sys
r, p = (json.loads(x)["samples_per_s"] for x in sys.argv[1:3])
print(json.dumps({"name": "collate", "rust": r, "python": p, "ratio": round(r / p, 2), "unit": "samples/s"}))
PY
