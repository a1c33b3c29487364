#!/usr/bin/env bash
# Prints the estimator benchmark table of issue 3 (docs/ESTIMATOR.md keeps the last one).
# usage: benchmarks/estimator_bench.sh [BUILD_DIR]   (default: build; env ENTROPY_SIZES)
# Then `ibzoo entropy` end to end on the same data at 20k, 200k and 1M positions.
set -euo pipefail
build=${1:-build}
bin="$build/benchmarks/estimator_bench"
[[ -x $bin ]] || { echo "error: $bin not built (cmake --build $build --target estimator_bench)" >&2; exit 1; }
echo "## Soft-entropy estimator on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
echo
"$bin" throughput 20000
echo
"$bin" memory 5000000

# `ibzoo entropy` end to end (process start to JSON written) on the throughput mode's data,
# against the reference estimator's ~7,000 positions/s (DESIGN.md section 5); best of 3.
ibzoo="$build/cli/ibzoo"
if [[ -x $ibzoo ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  labels=()
  for o in 1 2 3 4; do labels+=(--label "in$o=in$o" --label "out$o=out$o"); done
  labels+=(--label in1_shuffled=in1_shuffled)
  echo
  echo "| ibzoo entropy, end to end | threads | best of 3, s | positions/s | x reference (7,000/s) |"
  echo "|---|---|---|---|---|"
  for n in ${ENTROPY_SIZES:-20000 200000 1000000}; do
    "$bin" write "$tmp/in.h5" "$n" >/dev/null
    for threads in 1 2; do
      best=""
      for rep in 1 2 3; do
        t0=$(date +%s.%N)
        "$ibzoo" entropy --input "$tmp/in.h5" --z z "${labels[@]}" --groups doc --threads "$threads" --json "$tmp/out.json"
        t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.4f", b - a }')
        best=$(awk -v a="${best:-1e9}" -v b="$t" 'BEGIN { print (b < a ? b : a) }')
      done
      awk -v n="$n" -v th="$threads" -v s="$best" 'BEGIN { printf "| %d positions, 9 label sets | %d | %.3f | %.0f | %.1f |\n", n, th, s, n / s, n / s / 7000 }'
    done
  done
fi
