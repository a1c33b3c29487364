#!/usr/bin/env bash
# Prints the estimator benchmark table of issue 3 (docs/ESTIMATOR.md keeps the last one).
# usage: benchmarks/estimator_bench.sh [BUILD_DIR]   (default: build)
set -euo pipefail
build=${1:-build}
bin="$build/benchmarks/estimator_bench"
[[ -x $bin ]] || { echo "error: $bin not built (cmake --build $build --target estimator_bench)" >&2; exit 1; }
echo "## Soft-entropy estimator on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
echo
"$bin" throughput 20000
echo
"$bin" memory 5000000
