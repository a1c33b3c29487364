# Sourced by the scripts that run ON THE CUDA MACHINE (gpu_check.sh, repro_device.sh), from
# the repository root: MPI as root, NVLink multicast off (KINDS.md), the carried .devdeps/
# (scripts/device/fetch_deps.sh) unpacked once into $deps and put on the library path.
deps=/tmp/ibzoo_deps
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
if [[ ! -d $deps ]]; then
  mkdir -p "$deps"
  for f in .devdeps/*.deb; do dpkg -x "$f" "$deps"; done
fi
export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# libstdc++ must come before libtorch in EXE's DT_NEEDED (cmake/Dependencies.cmake,
# docs/GPU.md); if it does not, everything after runs with libstdc++ preloaded.
preload_libstdcxx_if_needed() {  # EXE
  local first
  first=$(readelf -d "$1" | awk '/NEEDED/ {gsub(/[][]/, "", $NF); if ($NF ~ /^(libstdc\+\+|libtorch\.so)/) {print $NF; exit}}')
  echo "linkcheck: $1: first of libstdc++/libtorch in DT_NEEDED: $first"
  if [[ $first != libstdc++* ]]; then
    export LD_PRELOAD=$(g++ -print-file-name=libstdc++.so.6)
    echo "linkcheck: WARNING libtorch precedes libstdc++; running the rest with LD_PRELOAD=$LD_PRELOAD"
  fi
}
