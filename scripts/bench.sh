#!/usr/bin/env bash
# Benchmarks: each measures tuna and its reference (Python transformers / PEFT, or
# evcxr_jupyter for the kernel) in the same run and prints JSON lines; lines with a `ratio`
# (> 1 means tuna is better) are collected into bench-results.json at the repository root.
# Run through `make bench` (which sets up first). Timings are never asserted in tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
results=$(mktemp)

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

python - "$results" <<'PY'
import json, sys
entries = []
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if "ratio" in d:
        entries.append(d)
json.dump(entries, open("bench-results.json", "w"), indent=1)
print("\nbench-results.json:")
for e in entries:
    print(f"  {e['name']:<22} tuna {e['rust']:>10} {e['unit']:<10} reference {e['python']:>10}   ratio {e['ratio']}")
PY
