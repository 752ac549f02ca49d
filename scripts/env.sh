# Sourced by every tuna script: where the caches live and how to reach libtorch.
# TUNA_CACHE holds the venv, the kernel's build, evcxr's build cache, pip downloads and data;
# it lives outside the repository so that a fresh clone reuses it.
export TUNA_CACHE="${TUNA_CACHE:-$HOME/.cache/tuna}"
export TUNA_VENV="${TUNA_VENV:-$TUNA_CACHE/venv}"
export TUNA_DATA="${TUNA_DATA:-$TUNA_CACHE/data}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TUNA_CACHE/target}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$TUNA_CACHE/pip}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PATH="$TUNA_VENV/bin:$CARGO_TARGET_DIR/release:$PATH"
# tch's build finds libtorch through the venv's python; binaries find it through LD_LIBRARY_PATH.
export LIBTORCH_USE_PYTORCH=1
export LIBTORCH_BYPASS_VERSION_CHECK="${LIBTORCH_BYPASS_VERSION_CHECK:-0}"
TORCH_LIB="$TUNA_VENV/lib/python3.11/site-packages/torch/lib"
if [ -d "$TUNA_VENV/lib" ]; then
  TORCH_LIB="$(ls -d "$TUNA_VENV"/lib/python3*/site-packages/torch/lib 2>/dev/null | head -n1)"
fi
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
