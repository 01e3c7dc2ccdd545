#!/usr/bin/env bash
# Installs what genesys needs to build and test, with apt-get, and only what
# is missing: on a machine that has everything it prints one line and exits.
set -euo pipefail

# The Debian mirror the system's apt sources use (one-line lists or deb822
# .sources), else deb.debian.org. APT_DIR (default /etc/apt) is for the test.
# grep exits 2 for a file that is absent (no sources.list, no *.list on a
# deb822-only system): under pipefail that must not end the script, as it
# once did on a fresh Debian 12 before installing anything.
apt_mirror() {
  local d=${APT_DIR:-/etc/apt} m
  m=$({ grep -hsE '^[^#]*(URIs:|deb )' "$d/sources.list" "$d"/sources.list.d/*.sources "$d"/sources.list.d/*.list || true; } |
    { grep -oE 'https?://[^ ]+/debian/?( |$)' || true; } | head -n 1 | tr -d ' ')
  echo "${m:-http://deb.debian.org/debian}"
}
if [ "${1:-}" = "--print-mirror" ]; then apt_mirror; exit 0; fi

pkgs=(
  build-essential cmake ninja-build pkg-config git
  liburing-dev libnuma-dev libboost-context-dev libseccomp-dev
  libgtest-dev googletest libbenchmark-dev
  clang libclang-rt-dev   # libFuzzer for tests/fuzz (make fuzz, fuzz_smoke)
  qemu-system-x86 linux-headers-amd64 linux-image-amd64 busybox-static cpio kmod dkms
  memcached libmemcached-tools netcat-openbsd gnuplot-nox python3-numpy
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# genesys.ko is tested on Debian 12's 6.1 (linux-*-amd64 above) and on 6.12
# (tests/kmod: kmod_qemu_612, kmod_dkms): its image and headers come next to
# 6.1's, never replacing the linux-image-amd64 meta package. The versioned
# meta packages linux-{image,headers}-6.12-amd64 (bookworm-security) when the
# archive has them, else the newest linux-*-6.12.*+deb12-amd64 from
# bookworm-backports, whose source this adds (same mirror as the system's).
need_612=0
if grep -qs '^VERSION_CODENAME=bookworm$' /etc/os-release &&
   ! { ls -d /usr/src/linux-headers-6.12.*-amd64 >/dev/null 2>&1 && ls /boot/vmlinuz-6.12.* >/dev/null 2>&1; }; then
  need_612=1
fi

if [ ${#missing[@]} -eq 0 ] && [ $need_612 -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

if [ $need_612 -eq 1 ] && ! grep -rqsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  mirror=$(apt_mirror)
  echo "deps: adding bookworm-backports (${mirror%/}) for Linux 6.12"
  echo "deb ${mirror%/} bookworm-backports main" | $sudo tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
fi

$sudo apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ $need_612 -eq 1 ]; then
  if apt-cache show linux-image-6.12-amd64 linux-headers-6.12-amd64 >/dev/null 2>&1; then
    k612=(linux-image-6.12-amd64 linux-headers-6.12-amd64)
  else
    v=$(apt-cache pkgnames linux-headers-6.12. | grep -E '^linux-headers-6\.12\.[0-9]+\+[a-z0-9.]+-amd64$' | sed 's/^linux-headers-//' | sort -V | tail -n 1)
    [ -n "$v" ] || { echo "deps: no Linux 6.12 in the apt sources (bookworm-backports)" >&2; exit 1; }
    k612=(-t bookworm-backports "linux-image-$v" "linux-headers-$v")
  fi
  echo "deps: installing Linux 6.12 next to 6.1: ${k612[*]}"
  $sudo apt-get install -y -q --no-install-recommends "${k612[@]}"
fi
