#!/usr/bin/env bash
# Run ON THE CUDA MACHINE from the repository root (with .devdeps/ carried, made by
# scripts/device/fetch_deps.sh): builds ibzoo against the Python torch's libtorch
# (CUDA), runs the model tests there (bfloat16 on CUDA within 2e-2 of the float32
# transformers reference for every family; device soft assignments equal to the
# host kernel; device label tables equal to the host's, chunked finalise included),
# then benchmarks/streaming_bench.sh (needs .bench/streaming/ carried too; shapes in
# IBZOO_BENCH_SHAPES, default llama-3.2-1b pythia-1b). Everything goes to OUT.
#   bash scripts/device/gpu_check.sh OUT [build|linkcheck|test|bench ...]
#   env: IBZOO_TARGETS (build targets), IBZOO_TESTS (test executables), IBZOO_BENCH_SHAPES
set -euo pipefail
out=${1:?usage: gpu_check.sh OUT [build test bench]}
shift
steps=${*:-build linkcheck test bench}
mkdir -p "$out"
build=build-cuda
source scripts/device/env.sh

for step in $steps; do
  t0=$(date +%s)
  case $step in
    build)
      torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
      boost_dir=$deps/usr/lib/x86_64-linux-gnu/cmake/Boost-1.74.0
      cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$torch_prefix;$deps/usr" -DBoost_DIR="$boost_dir" -DBoost_NO_SYSTEM_PATHS=ON \
        -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DTORCH_CUDA_ARCH_LIST=9.0 \
        > "$out/cmake.log" 2>&1 || { tail -40 "$out/cmake.log"; exit 1; }
      grep -E "Torch|Boost|HDF5|CUDA" "$out/cmake.log" | head -20 || true
      cmake --build $build -j "$(nproc)" --target ${IBZOO_TARGETS:-ibzoo ibzoo-torch models_model_test models_device_tables_test} \
        > "$out/build.log" 2>&1 || { grep -E "error|Error" "$out/build.log" | head -30; tail -20 "$out/build.log"; exit 1; }
      ;;
    linkcheck)
      preload_libstdcxx_if_needed $build/cli/ibzoo-torch
      ;;
    test)
      for t in ${IBZOO_TESTS:-models_model_test models_device_tables_test}; do
        $build/tests/$t 2>&1 | tee "$out/$t.log" | grep -E "^\[  (FAILED|PASSED|  OK) |cuda bf16|rel err|batch invariance|Failure|SKIPPED" | head -120
      done
      ;;
    bench)
      bash benchmarks/streaming_bench.sh "$out/bench" $build ${IBZOO_BENCH_SHAPES:-llama-3.2-1b pythia-1b} | tee "$out/bench.md"
      ;;
  esac
  echo "gpu_check: step $step took $(( $(date +%s) - t0 )) s"
done
