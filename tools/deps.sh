#!/usr/bin/env bash
# Installs what genesys needs to build and test, with apt-get, and only what
# is missing: on a machine that has everything it prints one line and exits.
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config git
  liburing-dev libnuma-dev libboost-context-dev
  libgtest-dev googletest libbenchmark-dev
  qemu-system-x86 linux-headers-amd64 linux-image-amd64 busybox-static cpio kmod
  memcached netcat-openbsd gnuplot-nox
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
