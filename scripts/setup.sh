#!/usr/bin/env bash
# Installs every Debian package ibzoo needs to build, test and run its demo.
# Idempotent: packages already installed are skipped, so a second run takes a second.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libopenblas0
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev libhdf5-dev hdf5-tools
  libeigen3-dev libboost-program-options-dev libboost-math-dev libgtest-dev
  nlohmann-json3-dev libyaml-cpp-dev libssl-dev libpcre2-dev libicu-dev libcsv-dev
  gnuplot-nox bible-kjv bible-kjv-text chromium fonts-dejavu-core
  slurmctld slurmd slurm-client munge
  clang-14 libclang-rt-14-dev python3 python3-pandas python3-h5py
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
