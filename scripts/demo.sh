#!/usr/bin/env bash
# The demo, start to finish, on one machine (the README's demo command):
#   setup (Debian packages) -> build -> train the zoo (manifests/demo-zoo.yaml)
#   -> make tasks from held-out books -> evaluate every model's final checkpoint
#   -> the study over every checkpoint (manifests/demo.yaml, mpirun -np 2)
#   -> (inside the study) regress (correlations, leave-one-family-out regressions) -> report.
# Prints the wall time of each phase and where the report is. Everything it writes
# goes under runs/demo/. Rerunning reuses the zoo, the tasks and finished study items.
#
# The build phase builds only the `ibzoo` executable (no tests, no benchmarks), -O2 as the
# default RelWithDebInfo build but without debug info (GCC 12 at -O3 prints false
# -Wrestrict warnings), into its own directory build-release/, so that it never
# reconfigures the test build that scripts/test.sh keeps in build/.
#
# Environment: IBZOO_BUILD_DIR (default build-release), IBZOO_DEMO_NP (MPI ranks, default 2),
# IBZOO_DEMO_SKIP_SETUP=1 / IBZOO_DEMO_SKIP_BUILD=1 to skip those phases,
# IBZOO_DEMO_ALL_CHECKPOINTS=1 to evaluate every checkpoint, not only the final ones.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build_dir=${IBZOO_BUILD_DIR:-build-release}
np=${IBZOO_DEMO_NP:-2}
zoo_manifest=manifests/demo-zoo.yaml
study_manifest=manifests/demo.yaml
demo=runs/demo
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none

declare -a phase_names=() phase_secs=()
t_all=$(date +%s%N)
phase() {  # phase NAME COMMAND...: runs and times one phase
  local name=$1; shift
  echo "== demo: $name"
  local t0; t0=$(date +%s%N)
  "$@"
  local t1; t1=$(date +%s%N)
  phase_names+=("$name")
  phase_secs+=($(( (t1 - t0) / 1000000 )))  # milliseconds
}

[ "${IBZOO_DEMO_SKIP_SETUP:-0}" = 1 ] || phase setup bash scripts/setup.sh
[ "${IBZOO_DEMO_SKIP_BUILD:-0}" = 1 ] || phase build env IBZOO_BUILD_DIR="$build_dir" IBZOO_BUILD_TARGETS="ibzoo ibzoo-torch" \
  bash scripts/build.sh -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
  -DIBZOO_TESTS=OFF -DIBZOO_BENCHMARKS=OFF
ibzoo="$root/$build_dir/cli/ibzoo"
[ -x "$ibzoo" ] || { echo "demo: $ibzoo not found; build first (scripts/demo.sh without IBZOO_DEMO_SKIP_BUILD)" >&2; exit 1; }

phase train "$ibzoo" train "$zoo_manifest"
phase tasks "$ibzoo" make-tasks --heldout "$demo/zoo/text/heldout.txt" --out "$demo/tasks" --n-items 200 --seed 0

evaluate_all() {
  mkdir -p "$demo/eval"
  local ids; ids=$(python3 -c 'import json,sys; print(" ".join(m["id"] for m in json.load(open(sys.argv[1]))["models"]))' "$demo/zoo/zoo.json")
  for id in $ids; do
    local dirs
    if [ "${IBZOO_DEMO_ALL_CHECKPOINTS:-0}" = 1 ]; then dirs=$(ls -d "$demo/zoo/models/$id"/step-*); else dirs=$(ls -d "$demo/zoo/models/$id"/step-* | tail -1); fi
    for d in $dirs; do
      local out="$demo/eval/$id.json"
      [ "$d" = "$(ls -d "$demo/zoo/models/$id"/step-* | tail -1)" ] || out="$demo/eval/checkpoints/$id-$(basename "$d").json"
      mkdir -p "$(dirname "$out")"
      "$ibzoo" evaluate --model "$d" --tasks "$demo/tasks" --out "$out" --name "$id" --threads 2 --batch-size 64
    done
  done
}
phase evaluate evaluate_all

# `ibzoo run` ends with the analysis stage: regress (correlations, leave-one-family-out
# regressions) and the report, from the manifest's benchmarks and analysis sections.
phase study mpirun -np "$np" --oversubscribe "$ibzoo" run "$study_manifest"

t_end=$(date +%s%N)
secs() { printf '%d.%01d' $(($1 / 1000)) $((($1 % 1000) / 100)); }
echo
echo "demo: wall time per phase (s)"
study_ms=0
for i in "${!phase_names[@]}"; do
  printf '  %-10s %8s\n' "${phase_names[$i]}" "$(secs "${phase_secs[$i]}")"
  case ${phase_names[$i]} in train|tasks|evaluate|study) study_ms=$((study_ms + phase_secs[$i])) ;; esac
done
printf '  %-10s %8s   (train + tasks + evaluate + study incl. regress and report)\n' "study part" "$(secs $study_ms)"
printf '  %-10s %8s\n' "total" "$(secs $(( (t_end - t_all) / 1000000 )))"
echo "demo: report at $root/$demo/study/report/index.html"
echo "demo: correlations at $root/$demo/study/results/correlations.csv"
