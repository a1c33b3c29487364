#!/usr/bin/env bash
# Configures and builds ibzoo into build/ (or $IBZOO_BUILD_DIR). Extra arguments go to cmake
# (after the defaults, so -DCMAKE_BUILD_TYPE=... overrides RelWithDebInfo).
# IBZOO_BUILD_TARGETS: space-separated targets to build instead of everything
# (scripts/demo.sh builds only `ibzoo`).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${IBZOO_BUILD_DIR:-build}
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIBZOO_WERROR=$werror "$@" >/dev/null
targets=()
for t in ${IBZOO_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build_dir" -j "$(nproc)" "${targets[@]}"
