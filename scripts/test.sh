#!/usr/bin/env bash
# Every test: Rust unit and integration tests (kernel and prelude), then the kernel and
# notebook tests through real Jupyter clients. Run through `make test` (which sets up first).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
# Kernels started by the tests load this checkout's prelude.
export TUNA_PRELUDE="$PWD/prelude"
# One package per command (see scripts/setup.sh for why).
# The prelude's tests run one at a time: several seed libtorch's global random generator and
# expect its numbers, which a test running beside them would draw away (and on 2 cores the
# serial run is no slower: 69 s against 78 s).
for package in tuna-kernel tuna; do
  echo "== cargo test -p $package"
  threads=""
  [ "$package" = tuna ] && threads="-- --test-threads=1"
  cargo test --release -p "$package" $threads 2>&1 | grep -v '^\s*\(Compiling\|Downloaded\|Downloading\)'
done
echo "== kernel and notebook tests through Jupyter clients"
python -m pytest -q tests
