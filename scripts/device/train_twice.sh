#!/usr/bin/env bash
# Run ON THE CUDA MACHINE from the repository root, after `gpu_check.sh OUT build`: does
# `ibzoo train --device cuda` give the same bytes twice (docs/REPRODUCTION.md,
# "Determinism")? Trains two models of manifests/repro/zoo.yaml (gpt2-d128, llama-d128;
# STEPS steps, default 300, 4 checkpoints) twice in fresh directories with the same seed
# and prints, per checkpoint, both runs' sha256 of model.safetensors, whether they match,
# and the largest difference of any weight (0 when the bytes match).
#   bash scripts/device/train_twice.sh OUT
set -euo pipefail
out=${1:?usage: train_twice.sh OUT}
mkdir -p "$out"
build=build-cuda
source scripts/device/env.sh
preload_libstdcxx_if_needed "$build/cli/ibzoo-torch"
work=$(mktemp -d /tmp/ibzoo_train_twice.XXXXXX)
xz -dc manifests/repro/kjv.txt.xz > "$work/kjv.txt"
for run in a b; do
  mkdir -p "$work/$run/text"
  ln -s "$work/kjv.txt" "$work/$run/text/kjv.txt"
  python3 - manifests/repro/zoo.yaml "$work/$run/zoo.yaml" "${STEPS:-300}" <<'EOF'
import re, sys
src, dst, steps = sys.argv[1], sys.argv[2], sys.argv[3]
keep = ("gpt2-d128", "llama-d128")
lines = []
for line in open(src):
    if line.lstrip().startswith("- {id:") and not any(f"id: {k}," in line for k in keep):
        continue
    line = re.sub(r"^(\s+steps:) \d+", rf"\1 {steps}", line)
    line = re.sub(r"^(\s+checkpoints:) \d+", r"\1 4", line)
    line = re.sub(r"^(\s+checkpoint_even_from:) \d+", rf"\1 {int(steps) // 2}", line)
    lines.append(line)
open(dst, "w").writelines(lines)
EOF
  t0=$(date +%s%N)
  "$build/cli/ibzoo" train "$work/$run/zoo.yaml" --device cuda > "$out/train_$run.log" 2>&1 ||
    { tail -20 "$out/train_$run.log"; exit 1; }
  echo "train_twice: run $run in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
done
python3 - "$work" <<'EOF'
import hashlib, pathlib, sys
import torch
from safetensors.torch import load_file
work = pathlib.Path(sys.argv[1])
print("| model / checkpoint | sha256 run a | sha256 run b | same bytes | max abs weight diff |")
print("|---|---|---|---|---|")
n = same = 0
for fa in sorted((work / "a" / "zoo" / "models").glob("*/*/model.safetensors")):
    rel = fa.relative_to(work / "a" / "zoo" / "models")
    fb = work / "b" / "zoo" / "models" / rel
    ha = hashlib.sha256(fa.read_bytes()).hexdigest()
    hb = hashlib.sha256(fb.read_bytes()).hexdigest() if fb.exists() else "missing"
    diff = 0.0
    if fb.exists() and ha != hb:
        ta, tb = load_file(str(fa)), load_file(str(fb))
        diff = max(float((ta[k].double() - tb[k].double()).abs().max()) for k in ta)
    n += 1
    same += ha == hb
    print(f"| {rel.parent} | {ha[:16]} | {hb[:16]} | {'yes' if ha == hb else 'NO'} | {diff:.3g} |")
print(f"train_twice: {same} of {n} checkpoints byte-identical")
EOF
