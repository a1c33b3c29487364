#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, MPI with 1/2/4 ranks,
# end-to-end scripts, Slurm against a local cluster). `.ci/run` calls this.
#
# Plain build into build/ by default. With CI=true or IBZOO_SANITIZE=1: ONE build with
# AddressSanitizer + UndefinedBehaviorSanitizer (-Werror) into build-asan/, the whole
# suite on it, then a short run of every libFuzzer target (scripts/fuzz.sh,
# $IBZOO_FUZZ_SECONDS seconds each, default 15). docs/FUZZING.md has the details.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
phase() { echo "test.sh: $1 $(( $(date +%s) - phase_start )) s"; phase_start=$(date +%s); }
phase_start=$start
sanitize=0
[ "${CI:-}" = "true" ] && sanitize=1
[ "${IBZOO_SANITIZE:-0}" = "1" ] && sanitize=1

bash scripts/setup.sh
phase setup
if ((sanitize)); then
  export IBZOO_BUILD_DIR=${IBZOO_BUILD_DIR:-build-asan}
  # -O1, as the sanitizers' authors advise: cheaper to compile, and the heavy numeric
  # work of the tests runs in (uninstrumented) libtorch anyway.
  bash scripts/build.sh -DIBZOO_SANITIZE=ON -DIBZOO_BENCHMARKS=OFF "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -DNDEBUG"
else
  bash scripts/build.sh
fi
phase build
build_dir=${IBZOO_BUILD_DIR:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "$build_dir" --output-on-failure -j 2 --timeout 900 "$@"
phase ctest
if ((sanitize)); then
  bash scripts/fuzz.sh "${IBZOO_FUZZ_SECONDS:-15}"
  phase fuzz
fi
echo "test.sh: total wall time $(( $(date +%s) - start )) s"
