#!/usr/bin/env bash
# Every test: Rust unit and integration tests (kernel and prelude), then the kernel and
# notebook tests through real Jupyter clients. Run through `make test` (which sets up first).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
# Kernels started by the tests load this checkout's prelude.
export TUNA_PRELUDE="$PWD/prelude"
# One package per command (see scripts/setup.sh for why).
for package in tuna-kernel tuna; do
  echo "== cargo test -p $package"
  cargo test --release -p "$package" 2>&1 | grep -v '^\s*\(Compiling\|Downloaded\|Downloading\)'
done
echo "== kernel and notebook tests through Jupyter clients"
python -m pytest -q tests
