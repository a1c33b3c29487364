#!/usr/bin/env bash
# Run ON THE CUDA MACHINE after `scripts/device/gpu_check.sh OUT build linkcheck` (same
# shell settings): does a GPU study's metrics.csv depend on what else the run did? One
# small study (N_CKPT random Llama-style checkpoints, d=1024, 8 layers, N_DOCS documents
# of random words, orders 1-2, bfloat16) is run several ways, each `ibzoo run` end to end
# into a run directory of its own, and each metrics.csv is compared with the first
# run's on the rows they share:
#   again    the same command again (run-to-run determinism)
#   ranks2   `mpirun -np 2`: on a one-GPU machine both ranks share the GPU, so the second
#            rank computes the last checkpoints first, in a process of its own
#   last     the last checkpoint alone (the history of one process: nothing ran before it)
#   batch    compute.tokens_per_batch 8192 instead of 32768
# Knobs in VARIANT_ENV (e.g. "CUBLAS_WORKSPACE_CONFIG=:4096:8 IBZOO_ASSIGN_SPLIT=0") apply
# to every run. Prints one line per comparison: identical, or how many values differ, the
# largest difference and the first row that differs.
#   bash scripts/device/gpu_determinism.sh OUT [again ranks2 last batch]
set -euo pipefail
out=${1:?usage: gpu_determinism.sh OUT [again ranks2 last batch]}
shift
checks=${*:-again ranks2 last batch}
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
mkdir -p "$out" "$work/models" "$work/data"

python3 - "$work/data/text.txt" "$n_docs" <<'PY'
import random, sys
random.seed(0)
words = open("manifests/test/data/genesis.txt").read().split()
with open(sys.argv[1], "w") as f:
    for _ in range(int(sys.argv[2])):
        f.write(" ".join(random.choice(words) for _ in range(random.randint(40, 160))) + "\n\n")
PY

for i in $(seq 1 "$n_ckpt"); do
  d=$work/models/ck$i
  "$bin" make-model --family llama --out "$d" --layers "$layers" --hidden "$hidden" --heads 16 --kv-heads 4 \
    --intermediate $((4 * hidden)) --vocab 257 --seed "$i" > /dev/null
  cp manifests/test/models/tiny-gpt2/tokenizer.json "$d/"
done

manifest() {  # NAME FIRST_CKPT TOKENS_PER_BATCH
  echo "study: determinism"
  echo "run_dir: runs/$1"
  echo "models:"
  echo "  - id: llama-1024"
  echo "    family: llama"
  echo "    n_parameters: 1.1e8"
  echo "    checkpoints:"
  for i in $(seq "$2" "$n_ckpt"); do echo "      - {revision: step$i, step: $i, path: models/ck$i}"; done
  cat <<YAML
data:
  text:
    files: [data/text.txt]
    split: paragraph
    max_tokens: 512
    min_tokens: 16
    documents_per_shard: 100
estimator:
  bins: 100
  seed: 0
  calibration: bounds
  orders: [1, 2]
  weighting: frequency
  shuffled_null: true
compute:
  device: $device
  dtype: $dtype
  tokens_per_batch: $3
  threads: ${THREADS:-8}
YAML
}

run() {  # NAME RANKS FIRST_CKPT TOKENS_PER_BATCH
  manifest "$1" "$3" "$4" > "$work/$1.yaml"
  local t0=$SECONDS
  mpirun -np "$2" --bind-to none -x LD_PRELOAD -x LD_LIBRARY_PATH "${forward[@]}" "$bin" run "$work/$1.yaml" \
    > "$out/$1.log" 2>&1 || { tail -20 "$out/$1.log"; exit 1; }
  echo "$1: $2 rank(s), checkpoints $3..$n_ckpt, tokens_per_batch $4: $((SECONDS - t0)) s"
}

compare() {  # NAME: its metrics.csv against base's, on the rows both have
  python3 - "$work/runs/base/results/metrics.csv" "$work/runs/$1/results/metrics.csv" "$1" <<'PY'
import csv, math, sys
def rows(path):
    r = list(csv.reader(open(path)))
    i = r[0].index("value")
    return {tuple(x[:i] + x[i + 1:]): x[i] for x in r[1:]}
a, b = rows(sys.argv[1]), rows(sys.argv[2])
shared = [k for k in a if k in b]
diff = [k for k in shared if a[k] != b[k]]
if not diff:
    print(f"{sys.argv[3]}: identical on all {len(shared)} shared values")
    sys.exit()
def gap(k):
    u, v = float(a[k]), float(b[k])
    return 0.0 if math.isnan(u) and math.isnan(v) else abs(u - v)
worst = max(diff, key=gap)
print(f"{sys.argv[3]}: {len(diff)} of {len(shared)} shared values differ; largest {gap(worst):.3e} at {worst}; "
      f"first {diff[0]}: {a[diff[0]]} vs {b[diff[0]]}")
PY
}

run base 1 1 32768
for c in $checks; do
  case $c in
    again) run again 1 1 32768 ;;
    ranks2) run ranks2 2 1 32768 ;;
    last) run last 1 "$n_ckpt" 32768 ;;
    batch) run batch 1 1 8192 ;;
    *) echo "unknown check $c" >&2; exit 2 ;;
  esac
  compare "$c" | tee -a "$out/determinism.txt"
done
