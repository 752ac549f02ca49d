#!/usr/bin/env bash
# tuna's changes to evcxr, kept as a patch against the published crate (see vendor/evcxr/TUNA.md).
#
#   scripts/evcxr-patch.sh make    # writes vendor/evcxr/tuna.patch: pristine crate → vendor/evcxr
#   scripts/evcxr-patch.sh check   # the patch applied to the pristine crate gives vendor/evcxr,
#                                  # and every hunk of it carries a `tuna:` comment
#
# The pristine crate comes from cargo's registry cache, checked against the checksum crates.io
# publishes; when it is not there, `check` has cargo download it. What the vendored copy leaves
# out (`prepare`) is not part of the patch.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.22.0
# crates.io's `cksum` of evcxr 0.22.0 (its index entry, and Cargo.lock's `checksum`).
SHA256=ee69caeeefc311959b85962458e370d8eccb165123edbc5270134aaee6d7ed80
VENDOR=vendor/evcxr
PATCH=$VENDOR/tuna.patch
CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"

die() { echo "evcxr-patch: $*" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The .crate file in cargo's registry cache, or nothing.
cached_crate() {
  local crate
  for crate in "$CARGO_HOME"/registry/cache/*/evcxr-$VERSION.crate; do
    if [ -f "$crate" ]; then echo "$crate"; return; fi
  done
}

# Has cargo, the registry's own client, download the crate into its cache.
download_crate() {
  echo "evcxr-patch: evcxr $VERSION is not in $CARGO_HOME/registry/cache; cargo fetch downloads it" >&2
  mkdir -p "$work/fetch/src"
  printf '[package]\nname = "evcxr-fetch"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\nevcxr = "=%s"\n' \
    "$VERSION" > "$work/fetch/Cargo.toml"
  : > "$work/fetch/src/lib.rs"
  (cd "$work/fetch" && cargo fetch --quiet) || die "cargo fetch of evcxr $VERSION failed"
}

# Unpacks the pristine crate into $work/a and leaves out what the vendored copy leaves out.
prepare() {
  local crate
  crate=$(cached_crate)
  if [ -z "$crate" ] && [ "${1:-}" = download ]; then
    download_crate
    crate=$(cached_crate)
  fi
  [ -n "$crate" ] || die "evcxr-$VERSION.crate is not in $CARGO_HOME/registry/cache (\`$0 check\` downloads it)"
  local sum
  sum=$(sha256sum "$crate" | cut -d' ' -f1)
  [ "$sum" = "$SHA256" ] || die "$crate has sha256 $sum, not crates.io's $SHA256"
  grep -q "$SHA256" "$VENDOR/TUNA.md" || die "$VENDOR/TUNA.md does not record the checksum $SHA256"
  tar -xzf "$crate" -C "$work"
  mv "$work/evcxr-$VERSION" "$work/a"
  # The tests and example (and the files that only packaging uses) are not vendored; nor are
  # the [[example]] and [[test]] sections of Cargo.toml that name them (their lines go, the
  # blank lines between sections stay).
  rm -rf "$work/a/tests" "$work/a/examples" "$work/a/Cargo.lock" "$work/a/Cargo.toml.orig" \
    "$work/a/.cargo_vcs_info.json"
  sed -i '/^\[\[\(example\|test\)\]\]$/,/^path = /d' "$work/a/Cargo.toml"
}

# The vendored copy without tuna's notes, as $work/b.
copy_vendor() {
  cp -r "$VENDOR" "$work/b"
  rm -f "$work/b/TUNA.md" "$work/b/tuna.patch"
}

# Prints "file: hunk header" for each hunk of the patch on stdin whose added lines have no
# `tuna:`. Hunks are read by their line counts, so an added line starting "++" is no header.
unmarked_hunks() {
  awk '
    function finish() { if (in_hunk && !marked) print file ": " header; in_hunk = 0 }
    !in_hunk && /^\+\+\+ / { file = $2; sub(/^b\//, "", file); next }
    !in_hunk && /^@@ / {
      header = $0; marked = 0; in_hunk = 1
      split($2, o, ","); split($3, n, ",")
      old = (2 in o) ? o[2] + 0 : 1; new = (2 in n) ? n[2] + 0 : 1
      if (old == 0 && new == 0) finish()
      next
    }
    in_hunk {
      c = substr($0, 1, 1)
      if (c == "+") { new--; if (index($0, "tuna:")) marked = 1 }
      else if (c == "-") old--
      else if (c == " " || $0 == "") { old--; new-- }
      if (old <= 0 && new <= 0) finish()
    }
    END { finish() }
  '
}

make_patch() {
  prepare
  copy_vendor
  # Without timestamps in the file headers, the patch changes only when the code does.
  (cd "$work" && LC_ALL=C diff -ruN a b || [ $? -eq 1 ]) \
    | sed -E 's/^((---|\+\+\+) [^\t]*)\t.*$/\1/' > "$PATCH"
  echo "evcxr-patch: wrote $PATCH: $(grep -c '^diff ' "$PATCH") files, $(grep -c '^@@ ' "$PATCH") hunks"
  local unmarked
  unmarked=$(unmarked_hunks < "$PATCH")
  if [ -n "$unmarked" ]; then
    echo "evcxr-patch: hunks without a \`tuna:\` comment in their added lines:" >&2
    echo "$unmarked" | sed 's/^/  /' >&2
    echo "evcxr-patch: say why in a short \`// tuna: …\` comment in each, then \`$0 make\` again" >&2
    exit 1
  fi
}

check_patch() {
  [ -f "$PATCH" ] || die "$PATCH is missing (\`$0 make\` writes it)"
  prepare download
  local failed=0
  (cd "$work/a" && patch -p1 --quiet --fuzz=0 --no-backup-if-mismatch --force) < "$PATCH" \
    > "$work/patch.log" 2>&1 || {
    echo "evcxr-patch: $PATCH does not apply to the pristine evcxr $VERSION:" >&2
    sed 's/^/  /' "$work/patch.log" >&2
    exit 1
  }
  copy_vendor
  if ! (cd "$work" && LC_ALL=C diff -ruN a b) > "$work/left.diff"; then
    echo "evcxr-patch: $VENDOR differs from the pristine crate with $PATCH applied" \
      "(changed since \`$0 make\`?):" >&2
    grep '^diff ' "$work/left.diff" | sed 's/^diff -ruN a\/\([^ ]*\) .*/  \1/' >&2
    failed=1
  fi
  local unmarked
  unmarked=$(unmarked_hunks < "$PATCH")
  if [ -n "$unmarked" ]; then
    echo "evcxr-patch: hunks of $PATCH without a \`tuna:\` comment in their added lines:" >&2
    echo "$unmarked" | sed 's/^/  /' >&2
    failed=1
  fi
  [ $failed -eq 0 ] || exit 1
  echo "evcxr-patch: $VENDOR is evcxr $VERSION (sha256 $SHA256) with $PATCH applied:" \
    "$(grep -c '^diff ' "$PATCH") files, $(grep -c '^@@ ' "$PATCH") hunks, each marked \`tuna:\`"
}

case "${1:-}" in
  make) make_patch ;;
  check) check_patch ;;
  *) echo "usage: $0 make|check" >&2; exit 2 ;;
esac
