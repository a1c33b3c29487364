#!/usr/bin/env bash
# The pipeline at study scale (issue 5): a synthetic ~5M-position study with
# 4-gram labels (in1..in4, out1..out4 and their shuffled nulls: 16 label sets,
# m = 100), run with mpirun -np 1, 2 and 4, printing wall time, peak RSS per rank
# (VmHWM, max and mean), per-item state bytes on disk and positions/s; then the
# reduce alone on 4 ranks with the label space partitioned and not.
# docs/SCALE.md keeps the last table.
#
# usage: benchmarks/pipeline_scale_bench.sh [BUILD_DIR] [WORK_DIR]
#   env: DOCS (10000: ~5.05M positions; the corpus always has 10,000), SHARD_DOCS (625),
#        WORDS_PER_DOC (480), RANKS ("1 2 4"), THREADS (1 per rank),
#        DEVICE (cpu; cuda: every rank on the node's GPUs, round robin), DTYPE (float32),
#        REDUCE_ONLY (1: then time the reduce alone, partitioned and not; 0: skip)
set -euo pipefail
build=${1:-build}
work=${2:-/tmp/ibzoo_scale_bench}
bin="$build/pipeline/ibzoo"
[[ -x $bin ]] || { echo "error: $bin not built (cmake --build $build --target ibzoo)" >&2; exit 1; }
bin=$(readlink -f "$bin")
docs=${DOCS:-10000}
shard_docs=${SHARD_DOCS:-625}
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
    documents_per_shard: $shard_docs
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

echo "## ibzoo pipeline at scale: $docs documents x <= 512 tokens, $shard_docs per item, orders 1-4 + nulls (16 label sets), m = 100"
echo "## device $device ($dtype), $threads thread(s) per rank"
echo "## $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load $(cut -d' ' -f1-3 /proc/loadavg); ranks > cores are oversubscribed"
echo
printf "| ranks | wall s | peak RSS max MiB | peak RSS mean MiB | items | state bytes / item (mean) | state total MiB | positions | positions/s |\n"
printf "|---|---|---|---|---|---|---|---|---|\n"
for np in $ranks; do
  run="runs/np$np"
  rm -rf "$run"
  start=$(date +%s.%N)
  mpirun -np "$np" --oversubscribe "$bin" run study.yaml --run-dir "$run" --memory-report > "np$np.log" 2>&1 ||
    { echo "run on $np ranks failed: see $work/np$np.log" >&2; tail -20 "np$np.log" >&2; exit 1; }
  wall=$(calc "$(date +%s.%N) - $start")
  read -r pmax pmean < <(peak_stats "np$np.log")
  n_items=$(ls "$run"/items | wc -l)
  state_total=$(du -cb "$run"/items/*/state.h5 | tail -1 | cut -f1)
  positions=$(awk -F, '$5 == 0 && $7 == "n_samples" { print $8 + 0; exit }' "$run/results/metrics.csv")
  printf "| %d | %.1f | %s | %s | %d | %.0f | %.1f | %d | %.0f |\n" "$np" "$wall" "$pmax" "$pmean" "$n_items" \
    "$(calc "$state_total / $n_items")" "$(calc "$state_total / 1048576")" "$positions" \
    "$(calc "$positions / $wall")"
done
first=$(echo $ranks | cut -d' ' -f1)
for np in $ranks; do
  cmp -s "runs/np$first/results/metrics.csv" "runs/np$np/results/metrics.csv" || echo "WARNING: metrics.csv of np$np differs from np$first"
done

# 3. The reduce alone, 4 ranks, on the last run: label space partitioned or not (REDUCE_ONLY=0 skips it).
[[ ${REDUCE_ONLY:-1} == 1 ]] || exit 0
last=$(echo $ranks | awk '{ print $NF }')
echo
echo "| reduce only, $last ranks | wall s | peak RSS max MiB | peak RSS mean MiB | metrics.csv |"
echo "|---|---|---|---|---|"
cp "runs/np$last/results/metrics.csv" reference.csv
for mode in never always; do
  start=$(date +%s.%N)
  mpirun -np "$last" --oversubscribe "$bin" run study.yaml --run-dir "runs/np$last" --stage reduce \
    --reduce-partition "$mode" --memory-report > "reduce_$mode.log" 2>&1
  wall=$(calc "$(date +%s.%N) - $start")
  read -r pmax pmean < <(peak_stats "reduce_$mode.log")
  same=$(cmp -s reference.csv "runs/np$last/results/metrics.csv" && echo identical || echo DIFFERS)
  printf "| partition %s | %.1f | %s | %s | %s |\n" "$mode" "$wall" "$pmax" "$pmean" "$same"
done
