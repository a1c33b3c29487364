#!/usr/bin/env bash
# Run HERE (Debian 12, with apt): downloads the Debian packages the CUDA machine's
# image lacks into .devdeps/ (git-ignored), for scripts/device/gpu_check.sh to
# unpack there with dpkg -x. The image (Ubuntu 24.04) has MPI, HDF5, Eigen,
# GoogleTest, yaml-cpp, OpenSSL and Boost headers, but no compiled
# Boost.Program_options, no PCRE2 headers and no libcsv. Boost comes as one consistent 1.74
# set (headers and library), so nothing mixes with the image's 1.83 headers.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .devdeps
grep -qx '/.devdeps/' .git/info/exclude 2>/dev/null || echo '/.devdeps/' >> .git/info/exclude
cd .devdeps
apt-get download libboost1.74-dev libboost-program-options1.74-dev libboost-program-options1.74.0 \
  libpcre2-dev libpcre2-8-0 libcsv-dev libcsv3 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
ls -la
