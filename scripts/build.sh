#!/usr/bin/env bash
# Configures and builds ibzoo into build/ (or $IBZOO_BUILD_DIR). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${IBZOO_BUILD_DIR:-build}
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIBZOO_WERROR=$werror "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
