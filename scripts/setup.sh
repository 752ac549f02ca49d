#!/usr/bin/env bash
# Takes a fresh machine to a working tuna kernel; a second run only checks. Steps:
# venv with torch 2.11.0 and the Jupyter clients, real models and data, the kernel built and
# installed as a kernelspec in the venv, and the prelude compiled into the build cache.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
mkdir -p "$TUNA_CACHE"

step() { echo "== $*" >&2; }

if [ ! -x "$TUNA_VENV/bin/python" ]; then
  step "creating the venv $TUNA_VENV"
  python3 -m venv "$TUNA_VENV"
fi
. scripts/env.sh   # now that the venv exists, find its torch/lib
stamp="$TUNA_VENV/.tuna-requirements"
if ! cmp -s scripts/requirements.txt "$stamp"; then
  step "installing Python packages (torch 2.11.0, Jupyter clients, transformers, peft)"
  pip install -q -r scripts/requirements.txt
  cp scripts/requirements.txt "$stamp"
fi
. scripts/env.sh

# The JupyterLab test (tests/lab/test_lab.py) drives Debian's Chromium headless from Node.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  step "installing Chromium (the JupyterLab test runs in it, headless)"
  apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || echo "chromium not installed: the JupyterLab test will fail saying so" >&2
fi
if ! command -v node >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  step "installing Node.js (it drives Chromium in the JupyterLab test)"
  apt-get install -y -q nodejs npm >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q nodejs npm >/dev/null 2>&1; } || echo "node not installed: the JupyterLab test will fail saying so" >&2
fi
# playwright-core (tests/lab/package-lock.json), once.
if command -v npm >/dev/null && [ ! -d tests/lab/node_modules/playwright-core ]; then
  step "installing playwright-core for the JupyterLab test"
  (cd tests/lab && npm ci --no-audit --no-fund -q) || echo "npm ci failed in tests/lab: the JupyterLab test will fail saying so" >&2
fi

step "fetching models and data into $TUNA_DATA"
bash scripts/fetch-data.sh

step "building the kernel"
# The kernel and the prelude are always built as separate packages (-p), here and in
# scripts/test.sh: cargo unifies dependency features over the packages one command selects, so
# a workspace-wide build recompiles evcxr's dependencies (~20 min on 2 cores) whenever the
# prelude's dependencies change.
cargo build --release -p tuna-kernel 2>&1 | grep -v '^\s*\(Compiling\|Downloaded\|Downloading\)' >&2 || true
test -x "$CARGO_TARGET_DIR/release/tuna" || { echo "kernel build failed" >&2; exit 1; }

step "installing the kernelspec and warming the build cache"
# The kernelspec names this checkout's prelude: the kernel binary in the shared build cache may
# have been built from another checkout (cargo reuses it when only the path differs).
TUNA_PRELUDE="$PWD/prelude" tuna install --sys-prefix
