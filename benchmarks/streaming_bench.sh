#!/usr/bin/env bash
# The streaming study on the CUDA machine, end to end, against its peer (issue 17):
# for each model shape, random-weight bfloat16 checkpoints (transformers save_pretrained),
# the benchmark corpus of real English and its 32k byte-level BPE (.bench/streaming/, made
# by benchmarks/streaming/make_corpus.py and `ibzoo train-tokenizer` on the development
# machine), orders 1-4 and shuffled nulls, and, in the same call on the same GPU:
#   1. ibzoo from command start to results/metrics.csv (one `ibzoo run`, as a user runs
#      it): wall time, positions/s, run directory bytes per position, peak GPU memory (the
#      items' log lines), and the log with each line's time since the command started;
#   2. a rerun of the finished study (`ibzoo run`, every stage);
#   3. ibzoo's forward passes alone over the same batches (IBZOO_BENCH_FORWARD_ONLY): their
#      own time inside the items, and the whole command's;
#   4. the peer (benchmarks/streaming/peer.py: transformers + torch index_add_ tables) from
#      command start to its CSV, and every entropy and MI of both compared.
# Prints one markdown table; logs and CSVs go to OUT.
#
# usage: benchmarks/streaming_bench.sh OUT BUILD_DIR SHAPE [SHAPE ...]
#   shapes: llama-3.2-1b, pythia-1b, llama-2-7b (benchmarks/streaming/make_models.py)
#   env: DOCS (documents of the sample; 3020 gives ~3000 of >= 512 tokens), CHECKPOINTS (2),
#        TOKENS_PER_BATCH (16384), THREADS (compute.threads; unset: one per CPU), PEER (1),
#        PEER_TABLES (float32: the peer's table sums; float64 shows what its rounding costs),
#        FORWARD_ONLY (1), RERUN (1), ESTIMATE (0: 1 runs `plan --estimate --count-labels`
#        first and prints its prediction), WORK (/tmp/ibzoo_streaming),
#        DEVICE (cuda; cpu smoke-tests the script with models already under WORK/models)
set -euo pipefail
out=${1:?usage: streaming_bench.sh OUT BUILD_DIR SHAPE...}
build=${2:?usage: streaming_bench.sh OUT BUILD_DIR SHAPE...}
shift 2
bin=$(readlink -f "$build/cli/ibzoo")
src=$(pwd)
data=$(readlink -f .bench/streaming)
[[ -s $data/corpus.txt && -s $data/tok/tokenizer.json ]] || { echo "error: $data lacks corpus.txt or tok/tokenizer.json" >&2; exit 1; }
work=${WORK:-/tmp/ibzoo_streaming}
docs=${DOCS:-3020}
ckpts=${CHECKPOINTS:-2}
tpb=${TOKENS_PER_BATCH:-16384}
mkdir -p "$out" "$work"
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
# Prefixes each line with the seconds since $1 (a log's timeline).
stamp() { while IFS= read -r line; do printf '%7.2f %s\n' "$(calc "$(now) - $1")" "$line"; done; }
device=${DEVICE:-cuda}  # DEVICE=cpu: a smoke run of the script itself on a machine without a GPU
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
gpu_mib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits 2>/dev/null | head -1 || true)
gpu=${gpu:-no GPU}; gpu_mib=${gpu_mib:-0}
echo "## streaming benchmark: $gpu ($gpu_mib MiB), ibzoo $(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo '?'), $(date -u +%FT%TZ)"
rows=()

for shape in "$@"; do
  case $shape in
    llama*) family=llama ;;
    pythia*) family=gpt_neox ;;
    *) echo "unknown shape $shape" >&2; exit 1 ;;
  esac
  python3 "$src/benchmarks/streaming/make_models.py" --shape "$shape" --checkpoints "$ckpts" --out "$work/models" \
    2>&1 | tee "$out/$shape.models.log" | grep -v Warning || true
  manifest="$work/$shape.yaml"
  {
    printf 'study: streaming-%s\nrun_dir: %s/runs/%s\nroots: [%s, %s]\n' "$shape" "$work" "$shape" "$data" "$work"
    printf 'models:\n  - id: %s\n    family: %s\n    tokenizer: %s/tok/tokenizer.json\n    checkpoints:\n' "$shape" "$family" "$data"
    for ((k = 0; k < ckpts; ++k)); do printf '      - {name: ckpt%d, step: %d, path: %s/models/%s/ckpt%d}\n' $k $k "$work" "$shape" $k; done
    printf 'data:\n  text: {files: [%s/corpus.txt], n_documents: %d, split: paragraph, max_tokens: 512, min_tokens: 512}\n' "$data" "$docs"
    printf 'estimator: {bins: 100, seed: 0, orders: [1, 2, 3, 4], weighting: frequency, shuffled_null: true}\n'
    printf 'compute: {device: %s, dtype: bfloat16, tokens_per_batch: %d%s}\n' "$device" "$tpb" "${THREADS:+, threads: $THREADS}"
    printf 'analysis: {report: false}\n'
  } >"$manifest"
  run="$work/runs/$shape"
  rm -rf "$run" "$run-fwd"
  predicted=""
  if [[ ${ESTIMATE:-0} == 1 ]]; then
    "$bin" plan "$manifest" --estimate --count-labels $( ((gpu_mib > 0)) && echo --memory "${gpu_mib}MiB") >"$out/$shape.estimate.txt" 2>&1 || true
    sed -n '/^model /,/^total /p' "$out/$shape.estimate.txt"
    predicted=$(awk -v s="$shape" '$1 == s { print "rows " $(NF-6) " " $(NF-5) ", tables/layer " $(NF-4) " " $(NF-3) ", passes " $(NF-2) ", peak " $(NF-1) " " $NF }' "$out/$shape.estimate.txt")
  fi

  # 1. ibzoo end to end.
  t0=$(now)
  "$bin" run "$manifest" --progress lines --progress-interval 10 2>&1 | stamp "$t0" >"$out/$shape.ibzoo.log" ||
    { tail -30 "$out/$shape.ibzoo.log"; exit 1; }
  wall=$(calc "$(now) - $t0")
  cat "$out/$shape.ibzoo.log"
  positions=$(awk -F, '$5 == 0 && $7 == "n_samples" { s += $8 } END { print s + 0 }' "$run/results/metrics.csv")
  bytes=$(du -sb "$run" | cut -f1)
  peak=$( (grep -o "peak GPU memory [0-9.]* GiB" "$out/$shape.ibzoo.log" || true) | awk '{ if ($4 > m) m = $4 } END { print m + 0 }')
  item_ms=$( (grep -o "positions in [0-9]* ms" "$out/$shape.ibzoo.log" || true) | awk '{ s += $3; n++ } END { printf "%.0f", n ? s / n : 0 }')
  cp "$run/results/metrics.csv" "$out/$shape.metrics.csv"

  # 2. A rerun of the finished study.
  rerun=""
  if [[ ${RERUN:-1} == 1 ]]; then
    t0=$(now)
    "$bin" run "$manifest" --quiet >"$out/$shape.rerun.log" 2>&1 || { cat "$out/$shape.rerun.log"; exit 1; }
    rerun=$(calc "$(now) - $t0")
  fi

  # 3. The forward passes alone, over the same batches (the label pass is reused).
  #    Also timed as a whole command: the same `ibzoo run`, start to exit, with the forward
  #    passes in place of the estimation (the labels are read from the run directory).
  fwd_tps=""; fwd_pps=""; fwd_wall=""
  if [[ ${FORWARD_ONLY:-1} == 1 ]]; then
    mkdir -p "$run-fwd"
    cp -r "$run/tokens" "$run/labels" "$run-fwd/"
    t0=$(now)
    IBZOO_BENCH_FORWARD_ONLY=1 "$bin" run "$manifest" --run-dir "$run-fwd" --stage accumulate --progress off \
      >"$out/$shape.forward.log" 2>&1 || true
    fwd_wall=$(calc "$(now) - $t0")
    read -r fwd_pps fwd_tps < <( (grep -o "forward passes only (benchmark): [0-9]* positions, [0-9]* tokens in [0-9]* ms" \
      "$out/$shape.forward.log" || true) | awk '{ p += $5; t += $7; ms += $10 } END { if (ms) printf "%.0f %.0f\n", p / ms * 1000, t / ms * 1000; else print "0 0" }')
  fi

  # 4. The peer, end to end, and every value compared.
  peer_wall=""; peer_peak=""; cmp=""
  if [[ ${PEER:-1} == 1 ]]; then
    models=()
    for ((k = 0; k < ckpts; ++k)); do models+=(--model "ckpt$k=$work/models/$shape/ckpt$k"); done
    t0=$(now)
    python3 "$src/benchmarks/streaming/peer.py" --corpus "$data/corpus.txt" --n-documents "$docs" --min-tokens 512 \
      --max-tokens 512 --tokenizer "$data/tok/tokenizer.json" --reference-points "$(ls "$run"/reference_points/*.h5)" \
      --batch-tokens "$tpb" --table-dtype "${PEER_TABLES:-float32}" "${models[@]}" --out "$out/$shape.peer.csv" >"$out/$shape.peer.log" 2>&1 ||
      { tail -30 "$out/$shape.peer.log"; exit 1; }
    peer_wall=$(calc "$(now) - $t0")
    cat "$out/$shape.peer.log" | grep -v Warning
    peer_peak=$(sed -n 's/.*peak_bytes=\([0-9]*\).*/\1/p' "$out/$shape.peer.log" | awk '{ printf "%.1f", $1 / 2^30 }')
    cmp=$(python3 "$src/benchmarks/streaming/compare.py" "$run/results/metrics.csv" "$out/$shape.peer.csv" 2>&1 || true)
    echo "$cmp"
  fi
  pps=$(calc "$positions / $wall")
  rows+=("| $shape | $ckpts x $((positions / ckpts)) | $wall | $pps | ${peer_wall:--} | $( [[ -n $peer_wall ]] && calc "$pps / ($positions / $peer_wall)" || echo -) | ${fwd_pps:--} | $( [[ -n $fwd_pps && $fwd_pps != 0 ]] && calc "$pps / $fwd_pps" || echo -) | ${fwd_wall:--} | $( [[ -n $fwd_wall ]] && calc "$fwd_wall / $wall" || echo -) | $(calc "$bytes / $positions") | ${peak} GiB / ${peer_peak:--} GiB | ${rerun:--} | ${item_ms} | $(echo "$cmp" | sed -n 's/.*max_abs_diff=\([^ ]*\).*/\1/p') | ${predicted:--} |")
done

echo
echo "| model | checkpoints x positions | ibzoo s (start to metrics.csv) | ibzoo positions/s | peer s | ibzoo / peer | forward passes alone, positions/s | end to end / forward passes alone | forward-only command s | end to end / forward-only command | run dir bytes / position | peak GPU memory ibzoo / peer | rerun s | ms per checkpoint | max abs diff vs peer | plan --estimate |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do echo "$r"; done
