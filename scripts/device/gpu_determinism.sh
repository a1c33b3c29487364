#!/usr/bin/env bash
# Run ON THE CUDA MACHINE after `scripts/device/gpu_check.sh OUT build linkcheck`: does a
# GPU study's metrics.csv depend on anything but the study? One study is run several
# ways, each `ibzoo run` end to end into a run directory of its own, and each metrics.csv
# is compared with the first run's (`base`, one rank) on the rows they share:
#   again    the same command again (run-to-run determinism)
#   ranks2   `mpirun -np 2`: on a one-GPU machine both ranks share the GPU, so the second
#            rank computes the later checkpoints first, in a process of its own
#   last     `--stage accumulate --slice 1/2`, then the rest: the later half of the plan is
#            computed first, in a process where nothing ran before it
#   batch    --tokens-per-batch BATCH_TOKENS (8192)
#   budget   the label tables' budget forced to FALLBACK_TABLE_BYTES (48 MiB), so that the
#            layers are split into several groups, each a forward pass of its own
# The study is MANIFEST when given (e.g. benchmarks/streaming_bench.sh's, under its WORK),
# else a small one made here: N_CKPT random Llama-style checkpoints (d 1024, 8 layers),
# N_DOCS documents of random words, orders 1-2 with shuffled nulls, bfloat16. Knobs in
# VARIANT_ENV (e.g. "IBZOO_FIXED_ROWS=0": fixed shapes off) apply to every
# run. Prints one line per check: identical, or how many values differ, the largest
# difference and the first row that differs.
#   bash scripts/device/gpu_determinism.sh OUT [again ranks2 last batch budget]
set -euo pipefail
out=${1:?usage: gpu_determinism.sh OUT [again ranks2 last batch budget]}
shift
checks=${*:-again ranks2 last batch budget}
n_ckpt=${N_CKPT:-4}
n_docs=${N_DOCS:-400}
device=${DEVICE:-cuda}      # DEVICE=cpu DTYPE=float32 HIDDEN=64 LAYERS=2: the script itself, without a GPU
dtype=${DTYPE:-bfloat16}
hidden=${HIDDEN:-1024}
layers=${LAYERS:-8}
bin=${IBZOO_BIN:-$PWD/build-cuda/cli/ibzoo}
work=${WORK:-/tmp/ibzoo_determinism}
if [[ $device == cuda ]]; then
  source scripts/device/env.sh
  preload_libstdcxx_if_needed "$bin-torch"
fi
export LD_PRELOAD=${LD_PRELOAD:-}
forward=()
for kv in ${VARIANT_ENV:-}; do export "${kv?}"; forward+=(-x "${kv%%=*}"); done
rm -rf "$work"
mkdir -p "$out" "$work"

manifest=${MANIFEST:-}
if [[ -z $manifest ]]; then
source scripts/device/synthetic_study.sh
synthetic_text "$work" "$n_docs" 40 160
synthetic_checkpoints "$bin" "$work" "$n_ckpt" "$hidden" "$layers"

manifest=$work/study.yaml
synthetic_manifest determinism runs/base "$n_ckpt" 100 true "$device" "$dtype" > "$manifest"
fi

ibzoo_run() {  # NAME RANKS [ARGS...]: `ibzoo run MANIFEST --run-dir WORK/runs/NAME ARGS` on RANKS ranks
  local name=$1 ranks=$2 t0=$SECONDS
  shift 2
  mpirun -np "$ranks" --bind-to none -x LD_PRELOAD -x LD_LIBRARY_PATH "${forward[@]}" \
    "$bin" run "$manifest" --run-dir "$work/runs/$name" "$@" >> "$out/$name.log" 2>&1 || { tail -20 "$out/$name.log"; return 1; }
  echo "$name: $ranks rank(s) $*: $((SECONDS - t0)) s"
}

ibzoo_run base 1
for c in $checks; do
  case $c in
    again) ibzoo_run again 1 ;;
    ranks2) ibzoo_run ranks2 2 ;;
    last) ibzoo_run last 1 --stage accumulate --slice 1/2 && ibzoo_run last 1 ;;
    batch) ibzoo_run batch 1 --tokens-per-batch "${BATCH_TOKENS:-8192}" ;;
    budget)
      (export IBZOO_TEST_TABLE_BUDGET_BYTES=${FALLBACK_TABLE_BYTES:-$((48 << 20))}
       forward+=(-x IBZOO_TEST_TABLE_BUDGET_BYTES)
       ibzoo_run budget 1) && { grep -m1 -o "[0-9]* passes ([0-9]* row share(s) x [0-9]* layer group(s))" "$out/budget.log" || true; } ;;
    *) echo "unknown check $c" >&2; exit 2 ;;
  esac || { echo "$c: the run failed" | tee -a "$out/determinism.txt"; continue; }
  python3 scripts/device/compare_metrics.py "$work/runs/base/results/metrics.csv" "$work/runs/$c/results/metrics.csv" "$c" |
    tee -a "$out/determinism.txt"
done
