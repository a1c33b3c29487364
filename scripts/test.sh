#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, MPI with 1/2/4 ranks,
# end-to-end scripts, Slurm against a local cluster). `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
bash scripts/build.sh
build_dir=${IBZOO_BUILD_DIR:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "$build_dir" --output-on-failure -j 2 --timeout 900 "$@"
echo "test.sh: total wall time $(( $(date +%s) - start )) s"
