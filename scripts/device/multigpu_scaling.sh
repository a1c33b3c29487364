#!/usr/bin/env bash
# Run ON A MULTI-GPU CUDA MACHINE after `scripts/device/gpu_check.sh OUT build linkcheck`
# (same shell settings): a multi-checkpoint study (N_CKPT random Llama-style
# checkpoints, d=1024, 8 layers, over N_DOCS synthetic documents of ~512 tokens,
# n-gram orders 1-2) run with `mpirun -np 1` and `mpirun -np G` (one rank per GPU);
# prints the accumulate stage's wall times (labels, forward passes and label tables) and
# the scaling efficiency T1 / (G x T_G), and compares the two runs' metrics.csv
# (byte-identical, or the largest difference). The metrics stage runs untimed, on G ranks.
# The defaults (16 checkpoints x 1,000 documents, 64 items) keep the fixed start-up
# costs (MPI, CUDA, tokenization: a few seconds per run) small against the work.
#   bash scripts/device/multigpu_scaling.sh OUT [G]
set -euo pipefail
out=${1:?usage: multigpu_scaling.sh OUT [G]}
gpus=${2:-$(nvidia-smi -L | wc -l)}
n_ckpt=${N_CKPT:-16}
n_docs=${N_DOCS:-1000}
device=${DEVICE:-cuda}      # DEVICE=cpu DTYPE=float32 HIDDEN=64 LAYERS=2: a quick check without GPUs
dtype=${DTYPE:-bfloat16}
hidden=${HIDDEN:-1024}
layers=${LAYERS:-8}
bin=${IBZOO_BIN:-$PWD/build-cuda/cli/ibzoo}
work=/tmp/ibzoo_scaling
rm -rf "$work"
mkdir -p "$out"
source scripts/device/synthetic_study.sh
synthetic_text "$work" "$n_docs" 130 130
synthetic_checkpoints "$bin" "$work" "$n_ckpt" "$hidden" "$layers"

declare -A wall
for np in 1 "$gpus"; do
  synthetic_manifest scaling "runs/np$np" "$n_ckpt" 250 false "$device" "$dtype" > "$work/np$np.yaml"
  t0=$(python3 -c "import time; print(time.time())")
  mpirun -np "$np" --bind-to none -x LD_PRELOAD -x LD_LIBRARY_PATH "$bin" run "$work/np$np.yaml" --stage accumulate \
    > "$out/scaling_np$np.log" 2>&1 || { tail -20 "$out/scaling_np$np.log"; exit 1; }
  wall[$np]=$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")
  mpirun -np "$gpus" --bind-to none -x LD_PRELOAD -x LD_LIBRARY_PATH "$bin" run "$work/np$np.yaml" --stage metrics \
    > "$out/metrics_np$np.log" 2>&1 || { tail -20 "$out/metrics_np$np.log"; exit 1; }
  grep -h "GPU\|items to compute" "$out/scaling_np$np.log" | sort -u | head -4
done
python3 scripts/device/compare_metrics.py "$work/runs/np1/results/metrics.csv" "$work/runs/np$gpus/results/metrics.csv" \
  "metrics.csv, 1 vs $gpus ranks"
python3 - "${wall[1]}" "${wall[$gpus]}" "$gpus" "$n_ckpt" "$n_docs" <<'PY'
import sys
t1, tg, g = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"{sys.argv[4]} checkpoints x {sys.argv[5]} documents, accumulate stage (tokenization included)")
print("| GPUs (ranks) | accumulate wall s | speedup | scaling efficiency |")
print("|---|---|---|---|")
print(f"| 1 | {t1:.1f} | 1.00 | 100% |")
print(f"| {g} | {tg:.1f} | {t1 / tg:.2f} | {100 * t1 / (g * tg):.0f}% |")
PY
