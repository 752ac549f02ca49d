#!/usr/bin/env bash
# Takes a machine in any state to a working tuna kernel; a second run only checks. Steps: venv
# with torch 2.11.0 and the Jupyter clients, real models and data, the kernel built and installed
# as a kernelspec in the venv, and the prelude compiled into the build cache.
# Every step either completes or stops the script naming its log and how to retry; a rerun
# continues where the last one stopped (each step checks what is already there).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
mkdir -p "$TUNA_CACHE/logs"
started=$SECONDS

# step NAME WHAT COMMAND...: runs one step with its output in $TUNA_CACHE/logs/NAME.log.
step() {
  local name=$1 what=$2; shift 2
  local log="$TUNA_CACHE/logs/$name.log"
  echo "== $name: $what" >&2
  if ! "$@" >"$log" 2>&1; then
    echo "setup: step '$name' failed; the last lines of its log, $log:" >&2
    tail -n 25 "$log" | sed 's/^/    /' >&2
    echo "setup: fix the cause and run 'make setup' again: it continues from this step." >&2
    exit 1
  fi
}

make_venv() {
  # A venv whose python cannot start (an interrupted creation, a moved Python) is made anew.
  if ! "$TUNA_VENV/bin/python" -c 'import sys' 2>/dev/null; then
    rm -rf "$TUNA_VENV"
    python3 -m venv "$TUNA_VENV"
  fi
}
step venv "the Python venv $TUNA_VENV" make_venv
. scripts/env.sh   # the venv exists now: its bin first on PATH

# The stamp is written only after pip succeeded, so an interrupted install is resumed by pip
# itself (it skips what it finished) on the next run.
install_python_packages() {
  local stamp="$TUNA_VENV/.tuna-requirements"
  if cmp -s scripts/requirements.txt "$stamp" && python -c 'import torch, jupyter_client' 2>/dev/null; then
    return 0
  fi
  echo "installing torch 2.11.0, the Jupyter clients, transformers, peft (4.7 GB the first time)"
  pip install -r scripts/requirements.txt
  python -c 'import torch; assert torch.__version__.startswith("2.11.0"), torch.__version__'
  cp scripts/requirements.txt "$stamp"
}
step python-packages "torch 2.11.0 and the Jupyter clients (minutes the first time)" install_python_packages
. scripts/env.sh   # torch is installed now: its lib dir on LD_LIBRARY_PATH

# The JupyterLab test (tests/lab/test_lab.py) drives Debian's Chromium headless from Node. Not
# having them is not fatal: that one test then fails saying what is missing.
browser_tools() {
  local want=()
  command -v chromium >/dev/null || want+=(chromium)
  command -v node >/dev/null || want+=(nodejs)
  command -v npm >/dev/null || want+=(npm)
  if [ ${#want[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get install -y -q "${want[@]}" || { apt-get update -q && apt-get install -y -q "${want[@]}"; } ||
        echo "could not install ${want[*]}: the JupyterLab test will fail saying so"
    else
      echo "${want[*]} missing and not installable without root: the JupyterLab test will fail saying so"
    fi
  fi
  if command -v npm >/dev/null && [ ! -e tests/lab/node_modules/playwright-core/package.json ]; then
    (cd tests/lab && npm ci --no-audit --no-fund) || echo "npm ci failed in tests/lab: the JupyterLab test will fail saying so"
  fi
  return 0
}
step browser-tools "Chromium, Node.js and playwright-core for the JupyterLab test" browser_tools

step data "models and data sets into $TUNA_DATA" bash scripts/fetch-data.sh

# The kernel and the prelude are always built as separate packages (-p), here and in
# scripts/test.sh: cargo unifies dependency features over the packages one command selects, so
# a workspace-wide build recompiles evcxr's dependencies (~20 min on 2 cores) whenever the
# prelude's dependencies change.
step kernel-build "the kernel (about 15 min the first time)" cargo build --release -p tuna-kernel

# The kernelspec names this checkout's prelude: the kernel binary in the shared build cache may
# have been built from another checkout (cargo reuses it when only the path differs).
step kernel-install "the kernelspec, and the prelude compiled into the build cache (minutes the first time)" env TUNA_PRELUDE="$PWD/prelude" tuna install --sys-prefix

echo "== set-up done in $((SECONDS - started)) s (logs in $TUNA_CACHE/logs)" >&2
