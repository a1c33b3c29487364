#!/usr/bin/env bash
# The pipeline at study scale (issues 5 and 17): a synthetic ~5M-position study with
# 4-gram labels (in1..in4, out1..out4 and their shuffled nulls: 16 label sets,
# m = 100), one checkpoint (one work item, shared by a team of every rank), run with
# mpirun -np 1, 2 and 4, printing wall time, peak RSS per rank (VmHWM, max and mean),
# the run directory's bytes and positions/s; then the same study on one rank under
# each memory budget of BUDGETS (label tables in several layer-group passes), and
# every metric of every run against the first and against BASELINE (a metrics.csv of
# an earlier ibzoo, old or new column layout). docs/SCALE.md keeps the last table.
#
# usage: benchmarks/pipeline_scale_bench.sh [BUILD_DIR] [WORK_DIR]
#   env: DOCS (10000: ~5.05M positions; the corpus always has 10,000),
#        WORDS_PER_DOC (480), RANKS ("1 2 4"), THREADS (1 per rank),
#        DEVICE (cpu; cuda: every rank on the node's GPUs, round robin), DTYPE (float32),
#        RANK_BUDGETS (one --memory-budget per entry of RANKS, e.g. "3000MiB 1600MiB 1000MiB";
#        default none: each rank's share of the available memory),
#        BUDGETS (e.g. "1500MiB 800MiB": runs on one rank with --memory-budget; default none),
#        BASELINE (a metrics.csv to compare every value with; default none)
set -euo pipefail
build=${1:-build}
work=${2:-/tmp/ibzoo_scale_bench}
bin="$build/cli/ibzoo"
[[ -x $bin ]] || { echo "error: $bin not built (cmake --build $build --target ibzoo --target ibzoo-torch)" >&2; exit 1; }
bin=$(readlink -f "$bin")
docs=${DOCS:-10000}
words=${WORDS_PER_DOC:-480}
ranks=${RANKS:-"1 2 4"}
threads=${THREADS:-1}
device=${DEVICE:-cpu}
dtype=${DTYPE:-float32}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_btl_vader_single_copy_mechanism=none
mkdir -p "$work"
cd "$work"

# 1. Corpus: Zipf(1.1) draws over 30,000 pseudo-words made of random syllables, fixed seed.
if [[ ! -s corpus.txt ]]; then
  awk -v docs=10000 -v words="$words" 'BEGIN {
    srand(12345); nv = 30000; split("ka ro mi tu se na lo vi de pa fe qu bi zo ha", syl, " ")
    for (v = 1; v <= nv; ++v) { w = ""; n = 1 + int(rand() * 3); for (k = 0; k < n; ++k) w = w syl[1 + int(rand() * 15)]; word[v] = w }
    total = 0; for (v = 1; v <= nv; ++v) { total += v ^ -1.1; cdf[v] = total }
    for (v = 1; v <= nv; ++v) cdf[v] /= total
    for (d = 0; d < docs; ++d) {
      line = ""
      for (i = 0; i < words; ++i) {
        u = rand(); lo = 1; hi = nv
        while (lo < hi) { mid = int((lo + hi) / 2); if (cdf[mid] < u) lo = mid + 1; else hi = mid }
        line = line (i ? " " : "") word[lo] (rand() < 0.08 ? "." : "")
      }
      print line; print ""
    }
  }' > corpus.txt
  head -c 2000000 corpus.txt > tokenizer_sample.txt
fi
# 2. Tokenizer (byte-level BPE, 4096) and a small random GPT-2 (2 blocks, d = 64).
[[ -s tok/tokenizer.json ]] || "$bin" train-tokenizer --text-file tokenizer_sample.txt --vocab-size 4096 --out tok >/dev/null 2>&1
if [[ ! -s model/model.safetensors ]]; then
  "$bin" make-model --family gpt2 --out model --layers 2 --hidden 64 --heads 4 --vocab 4096 --max-positions 1024 >/dev/null
  cp tok/tokenizer.json model/
fi
cat > study.yaml <<YAML
study: scale_bench
run_dir: runs/default
models:
  - id: bench-gpt2
    family: gpt2
    path: model
data:
  text:
    files: [corpus.txt]
    n_documents: $docs
    split: paragraph
    max_tokens: 512
    min_tokens: 16
estimator:
  bins: 100
  seed: 0
  orders: [1, 2, 3, 4]
  weighting: frequency
  shuffled_null: true
compute:
  device: $device
  dtype: $dtype
  tokens_per_batch: 8192
  threads: $threads
YAML

calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }  # floating-point arithmetic without bc

peak_stats() {  # log file -> "max_MiB mean_MiB"
  grep -o 'peak memory VmHWM:[[:space:]]*[0-9]* kB' "$1" | awk '{ v = $(NF - 1) / 1024; s += v; if (v > m) m = v; n++ }
    END { if (n) printf "%.0f %.0f\n", m, s / n; else printf "? ?\n" }' || true
}

echo "## ibzoo pipeline at scale: $docs documents x <= 512 tokens, orders 1-4 + nulls (16 label sets), m = 100"
echo "## device $device ($dtype), $threads thread(s) per rank"
echo "## $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load $(cut -d' ' -f1-3 /proc/loadavg); ranks > cores are oversubscribed"
echo
rank_budgets=(${RANK_BUDGETS:-})
printf "| ranks | wall s | peak RSS max MiB | peak RSS mean MiB | items | run dir MiB | positions | positions/s |\n"
printf "|---|---|---|---|---|---|---|---|\n"
# One run and its table row: NAME (runs/NAME, NAME.log), LABEL (the row's first column),
# BUDGET (--memory-budget, or empty), then what goes before the command (mpirun ...).
measure() {
  local name=$1 label=$2 budget=$3
  shift 3
  local run="runs/$name" log="$name.log" start wall pmax pmean positions passes
  rm -rf "$run"
  start=$(date +%s.%N)
  "$@" "$bin" run study.yaml --run-dir "$run" --memory-report ${budget:+--memory-budget "$budget"} > "$log" 2>&1 ||
    { echo "run $name failed: see $work/$log" >&2; tail -20 "$log" >&2; exit 1; }
  wall=$(calc "$(date +%s.%N) - $start")
  read -r pmax pmean < <(peak_stats "$log")
  positions=$(awk -F, '$5 == 0 && $7 == "n_samples" { print $8 + 0; exit }' "$run/results/metrics.csv")
  passes=$(grep -oE '\(([0-9]+ row shares x )?[0-9]+ layer groups\)' "$log" | head -1 | tr -d '()' || true)
  printf "| %s | %.1f | %s | %s | %d | %.1f | %d | %.0f |\n" "$label${budget:+, --memory-budget $budget (${passes:-1 pass})}" \
    "$wall" "$pmax" "$pmean" "$(ls "$run"/items | wc -l)" "$(calc "$(du -sb "$run" | cut -f1) / 1048576")" "$positions" \
    "$(calc "$positions / $wall")"
}
k=0
for np in $ranks; do
  measure "np$np" "$np" "${rank_budgets[k]:-}" mpirun -np "$np" --oversubscribe
  k=$((k + 1))
done
for budget in ${BUDGETS:-}; do measure "budget$budget" 1 "$budget"; done

# Every value of every run against the first run, and against BASELINE.
max_diff() {  # metrics.csv A, metrics.csv B -> "values compared, largest absolute difference"
  awk -F, 'function key() { return $1 FS $3 FS $5 FS ($6 == "none" ? "" : $6) FS $7 }
    FNR == 1 { next } NR == FNR { a[key()] = $8; next }
    (key() in a) { n++; d = a[key()] - $8; if (d < 0) d = -d; if (d > m) m = d }
    END { printf "%d values, max abs diff %.3g\n", n, m }' "$1" "$2"
}
first=$(echo $ranks | cut -d' ' -f1)
echo
for run in runs/np* runs/budget*; do
  [[ -s $run/results/metrics.csv ]] || continue
  echo "$run vs runs/np$first: $(max_diff "runs/np$first/results/metrics.csv" "$run/results/metrics.csv")"
  [[ -z ${BASELINE:-} ]] || echo "$run vs $BASELINE: $(max_diff "$BASELINE" "$run/results/metrics.csv")"
done
