#!/usr/bin/env bash
# Run ON THE CUDA MACHINE from the repository root, with .devdeps/ carried (made here by
# scripts/device/fetch_deps.sh): the reproduction of docs/REPRODUCTION.md end to end.
#   bash scripts/device/repro_device.sh OUT [build] [repro] [check]      (default: all three)
#
#   build  ibzoo against the Python torch's libtorch (CUDA), into build-cuda/ (gpu_check.sh)
#   repro  scripts/repro.sh --device cuda in runs/repro-device/ (kept between calls on a
#          warm machine: a rerun reuses the zoo and finished study items); prints the
#          timing table, the training summary and the two-phase verdicts
#   check  scripts/device/check_repro.py: two checkpoints per model against transformers
#          (hidden states) and an independent torch estimate (PASS/FAIL lines)
#
# Leaves in OUT at most 8 files (what the device tool brings back; the checkpoints stay
# behind): build: OUT/build/{cmake,build}.log; repro: OUT/repro.log (the timing table, the
# training summary, the verdicts), timings.csv, phases_models.csv, phases_layers.csv,
# versions.txt (GPU, torch, transformers, commit) and results.tar.xz (zoo.json, study.yaml,
# every model's eval_log.csv, logs/, results/*.csv, report/index.html, report/phases_*.csv,
# report/figures/: the PNGs where gnuplot is installed, else the plot data and scripts);
# check: OUT/check.log.
set -euo pipefail
out=${1:?usage: repro_device.sh OUT [build] [repro] [check]}
shift
steps=${*:-build repro check}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=runs/repro-device
build=build-cuda
source scripts/device/env.sh

for step in $steps; do
  t0=$(date +%s)
  case $step in
    build)
      IBZOO_TARGETS="ibzoo ibzoo-torch" bash scripts/device/gpu_check.sh "$out/build" build
      ;;
    repro)
      preload_libstdcxx_if_needed "$build/cli/ibzoo-torch"
      {
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
        python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)' || true
        echo "commit $(git rev-parse HEAD 2>/dev/null || echo unknown)"
        nproc
      } > "$out/versions.txt" 2>&1
      cat "$out/versions.txt"
      bash scripts/repro.sh --device cuda --ibzoo "$build/cli/ibzoo" --np "${IBZOO_REPRO_NP:-2}" "$work" 2>&1 |
        tee "$out/repro.log"
      cp "$work/timings.csv" "$work"/study/report/phases_*.csv "$out/"
      (cd "$work" && tar -cJf "$out/results.tar.xz" zoo/zoo.json study.yaml zoo/models/*/eval_log.csv logs \
        study/results/*.csv study/report/index.html study/report/phases_*.csv study/report/figures)
      ls -la "$out"
      ;;
    check)
      preload_libstdcxx_if_needed "$build/cli/ibzoo-torch"
      python3 scripts/device/check_repro.py "$work" --ibzoo "$build/cli/ibzoo" 2>&1 | tee "$out/check.log"
      ;;
    *)
      echo "repro_device: unknown step $step (build, repro, check)" >&2
      exit 2
      ;;
  esac
  echo "repro_device: step $step took $(( $(date +%s) - t0 )) s"
done
