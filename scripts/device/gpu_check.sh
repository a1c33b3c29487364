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
deps=/tmp/ibzoo_deps
build=build-cuda
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1

if [[ ! -d $deps ]]; then
  mkdir -p "$deps"
  for f in .devdeps/*.deb; do dpkg -x "$f" "$deps"; done
fi
export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

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
      # libstdc++ must come before libtorch in DT_NEEDED (see cmake/Dependencies.cmake).
      for exe in $build/cli/ibzoo-torch; do
        first=$(readelf -d "$exe" | awk '/NEEDED/ {gsub(/[][]/, "", $NF); if ($NF ~ /^(libstdc\+\+|libtorch\.so)/) {print $NF; exit}}')
        echo "linkcheck: $exe: first of libstdc++/libtorch in DT_NEEDED: $first"
        if [[ $first != libstdc++* ]]; then
          echo "linkcheck: WARNING libtorch precedes libstdc++; running the rest with LD_PRELOAD=libstdc++"
          export LD_PRELOAD=$(g++ -print-file-name=libstdc++.so.6)
        fi
      done
      ;;
    test)
      for t in ${IBZOO_TESTS:-models_model_test models_device_tables_test}; do
        $build/tests/$t 2>&1 | tee "$out/$t.log" | grep -E "^\[  (FAILED|PASSED|  OK) |cuda bf16|rel err|Failure|SKIPPED" | head -120
      done
      ;;
    bench)
      bash benchmarks/streaming_bench.sh "$out/bench" $build ${IBZOO_BENCH_SHAPES:-llama-3.2-1b pythia-1b} | tee "$out/bench.md"
      ;;
  esac
  echo "gpu_check: step $step took $(( $(date +%s) - t0 )) s"
done
