# Sourced by every tuna script (and by people: `. scripts/env.sh`): where the caches live and
# how to reach libtorch. TUNA_CACHE holds the venv, the kernel's build, evcxr's build cache, pip
# downloads and data; it lives outside the repository so that a fresh clone reuses it.
# This file must work from every state a machine can be in (no cache, a venv without torch, a
# half-installed torch) and under `set -euo pipefail`: it only sets variables, and no command in
# it may fail. tests/test_setup.py sources it in each of those states.
export TUNA_CACHE="${TUNA_CACHE:-$HOME/.cache/tuna}"
export TUNA_VENV="${TUNA_VENV:-$TUNA_CACHE/venv}"
export TUNA_DATA="${TUNA_DATA:-$TUNA_CACHE/data}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TUNA_CACHE/target}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$TUNA_CACHE/pip}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
case ":$PATH:" in
  *":$TUNA_VENV/bin:"*) ;;
  *) export PATH="$TUNA_VENV/bin:$CARGO_TARGET_DIR/release:$PATH" ;;
esac
# tch's build finds libtorch through the venv's python; binaries find it through LD_LIBRARY_PATH.
# The venv's torch/lib is named by glob, not by running anything: before torch is installed the
# glob matches nothing and the first candidate (python3.11) is used, which will exist once it is.
export LIBTORCH_USE_PYTORCH=1
export LIBTORCH_BYPASS_VERSION_CHECK="${LIBTORCH_BYPASS_VERSION_CHECK:-0}"
TORCH_LIB="$TUNA_VENV/lib/python3.11/site-packages/torch/lib"
for _tuna_lib in "$TUNA_VENV"/lib/python3*/site-packages/torch/lib; do
  if [ -d "$_tuna_lib" ]; then TORCH_LIB="$_tuna_lib"; break; fi
done
unset _tuna_lib
case ":${LD_LIBRARY_PATH:-}:" in
  *":$TORCH_LIB:"*) ;;
  *) export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
esac
