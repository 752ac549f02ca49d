#!/usr/bin/env bash
# Every test: Rust unit and integration tests (kernel and prelude), then the kernel and
# notebook tests through real Jupyter clients. Run through `make test` (which sets up first).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
echo "== cargo test (kernel and prelude)"
cargo test --release --workspace 2>&1 | grep -v '^\s*\(Compiling\|Downloaded\|Downloading\)'
echo "== kernel and notebook tests through Jupyter clients"
python -m pytest -q tests
