#!/usr/bin/env bash
# Every test: Rust unit and integration tests (kernel and prelude), then set-up, kernel and
# notebook tests through real Jupyter clients. Run through `make test` (which sets up first).
# Every group runs even when an earlier one failed; the failures are listed at the end and the
# script exits non-zero if there was any.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
# Kernels started by the tests load this checkout's prelude.
export TUNA_PRELUDE="$PWD/prelude"
failed=()
started=$SECONDS

# group NAME COMMAND...: runs one group of tests, noting a failure.
group() {
  local name=$1; shift
  echo "== $name"
  local t=$SECONDS
  if "$@"; then
    echo "== $name: passed ($((SECONDS - t)) s)"
  else
    echo "== $name: FAILED ($((SECONDS - t)) s)"
    failed+=("$name")
  fi
}

cargo_test() {
  # cargo's progress lines are noise in a CI log; its test output is kept whole.
  cargo test --release "$@" 2>&1 | grep -v '^\s*\(Compiling\|Downloaded\|Downloading\)'
}

# One package per command (see scripts/setup.sh for why).
group "cargo test -p tuna-kernel" cargo_test -p tuna-kernel
# vendor/evcxr is evcxr 0.22.0 plus vendor/evcxr/tuna.patch, every hunk marked; and the
# replayed rustc command's key (vendor/evcxr/src/module/direct.rs).
group "evcxr patch" bash scripts/evcxr-patch.sh check
group "cargo test -p evcxr (module::direct)" cargo_test -p evcxr --lib module::direct
# The prelude's tests run one at a time: several seed libtorch's global random generator and
# expect its numbers, which a test running beside them would draw away (and on 2 cores the
# serial run is no slower: 69 s against 78 s).
group "cargo test -p tuna" cargo_test -p tuna -- --test-threads=1
group "set-up, kernel and notebook tests through Jupyter clients" python -m pytest -q tests

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "tests: ${#failed[@]} group(s) failed in $((SECONDS - started)) s:"
  printf '  - %s\n' "${failed[@]}"
  exit 1
fi
echo "tests: every group passed in $((SECONDS - started)) s"
