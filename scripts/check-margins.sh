#!/usr/bin/env bash
# How far each learning and accuracy test of the prelude clears its bound on the CPUs CI may land
# on. libtorch, MKL and oneDNN pick their kernels per CPU (AVX-512 with AMX bf16, AVX-512 without
# bf16, AMD with AVX2), so a bound tuned on one machine can fail on the next. This runs those tests
# under capped instruction sets, 1 and 2 threads and a few seeds (TUNA_TEST_SEED shifts every seed
# of the tests), collects their `margin …` lines and prints the worst value of each against its
# bound. A bound is clear when its worst case is well past it, never by sitting near chance.
#
#   scripts/check-margins.sh                       # the whole matrix (~25 min on 2 busy cores)
#   KERNELS="native amd-avx2" SEEDS=0 THREADS=1 scripts/check-margins.sh
#   ONLY=train_vision scripts/check-margins.sh     # one test file
#
# Logs and the collected lines go to $MARGINS_DIR (default $TUNA_CACHE/margins).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
export TUNA_PRELUDE="$PWD/prelude"

KERNELS="${KERNELS:-native aten-avx2 aten-default avx512-no-bf16 amd-avx2}"
THREADS="${THREADS:-1 2}"
SEEDS="${SEEDS:-0 1 2}"
ONLY="${ONLY:-}"
MARGINS_DIR="${MARGINS_DIR:-$TUNA_CACHE/margins}"

# test file, then the tests in it that print margins.
TESTS=(
  "train_convergence sequence_classification_converges_and_scores masked_lm_converges_on_masked_positions causal_lm_converges"
  "train_vision image_classification_converges_and_ranks simclr_views_learn_to_find_their_twin mae_reconstructs_masked_patches_and_its_encoder_transfers"
  "tune_train lora_learns_with_the_trainer_and_leaves_the_base_untouched"
  "train_bf16 a_bf16_run_follows_the_f32_run"
  "explain_attributions token_attributions_add_up_to_the_logit_difference vit_saliency_matches_finite_differences_and_ig_completes"
  "models_bert bf16_and_the_gpu_when_present_run_close_to_f32"
)

# The environment that makes this machine compute as another would.
kernel_env() {
  case "$1" in
    native) ;;                                   # whatever this CPU offers (AMX bf16 where present)
    aten-avx2) echo ATEN_CPU_CAPABILITY=avx2 ;;
    aten-default) echo ATEN_CPU_CAPABILITY=default ;;   # ATen without vector kernels
    avx512-no-bf16) echo ATEN_CPU_CAPABILITY=avx512 MKL_ENABLE_INSTRUCTIONS=AVX512 ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI ;;
    amd-avx2) echo ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ;;
    *) echo "unknown kernel set $1" >&2; exit 2 ;;
  esac
}

mkdir -p "$MARGINS_DIR"
lines="$MARGINS_DIR/margins.txt"
: > "$lines"
echo "== building the prelude's tests"
cargo test --release -p tuna --no-run > "$MARGINS_DIR/build.log" 2>&1 || { cat "$MARGINS_DIR/build.log"; exit 1; }
# The test executables run directly: a cargo command per run would wait on the target folder's
# lock whenever another build holds it.
executable() { sed -n "s|.*Executable tests/$1.rs (\(.*\))\$|\1|p" "$MARGINS_DIR/build.log" | tail -1; }

failed=0
for kernel in $KERNELS; do
  for threads in $THREADS; do
    for seed in $SEEDS; do
      for entry in "${TESTS[@]}"; do
        set -- $entry
        file="$1"; shift
        [ -n "$ONLY" ] && [ "$ONLY" != "$file" ] && continue
        run="$kernel threads=$threads seed=$seed"
        log="$MARGINS_DIR/$file.$kernel.t$threads.s$seed.log"
        echo "== $file, $run"
        if ! env $(kernel_env "$kernel") OMP_NUM_THREADS="$threads" TUNA_TEST_THREADS="$threads" TUNA_TEST_SEED="$seed" \
          "$(executable "$file")" --test-threads=1 --nocapture --exact "$@" > "$log" 2>&1; then
          echo "   FAILED (see $log)"
          failed=$((failed + 1))
        fi
        grep -o 'margin [a-z0-9_]*: .*' "$log" | sed "s/^/$run | /" >> "$lines" || true
      done
    done
  done
done

echo "== worst case of each bound over the runs ($failed failed runs; lines in $lines)"
python3 - "$lines" <<'EOF'
import re, sys
pat = re.compile(r"^(.*?) \| margin (\S+): (.*) = (\S+) \(bound ([<>]) (\S+), chance (\S+)\)$")
rows = {}
for line in open(sys.argv[1]):
    m = pat.match(line.rstrip("\n"))
    if not m:
        continue
    run, test, what, value, op, bound, chance = m.groups()
    rows.setdefault((test, what, op, bound, chance), []).append((float(value), run))
print(f"{'test: measure':<100} {'bound':>10} {'chance':>8} {'best':>9} {'worst':>9}  worst run")
for (test, what, op, bound, chance), seen in rows.items():
    worst = max(seen) if op == "<" else min(seen)
    best = min(seen) if op == "<" else max(seen)
    ok = worst[0] < float(bound) if op == "<" else worst[0] > float(bound)
    flag = "" if ok else "  FAILS"
    print(f"{(test + ': ' + what)[:100]:<100} {op + ' ' + bound:>10} {chance:>8} {best[0]:>9.4g} {worst[0]:>9.4g}  {worst[1]} ({len(seen)} runs){flag}")
EOF
[ "$failed" -eq 0 ]
