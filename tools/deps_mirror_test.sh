#!/usr/bin/env bash
# tools/deps.sh finds the apt mirror for bookworm-backports on every layout
# of apt sources. On a fresh Debian 12 (deb822 debian.sources only, no
# sources.list, no *.list) it once exited 2 with no message before
# installing anything: grep's exit for an absent file, under pipefail.
# usage: tools/deps_mirror_test.sh [ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name expected
  local got rc=0
  got=$(APT_DIR="$tmp/$1" "$root/tools/deps.sh" --print-mirror 2>&1) || rc=$?
  if [ $rc != 0 ]; then echo "FAIL $1: deps.sh exited $rc ($got)"; fail=1; return; fi
  if [ "$got" = "$2" ]; then echo "ok   $1: $got"; else echo "FAIL $1: got '$got', want '$2'"; fail=1; fi
}

mkdir -p "$tmp/deb822/sources.list.d"
cat > "$tmp/deb822/sources.list.d/debian.sources" <<'S'
Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
S
check deb822 http://mirror.example/debian

mkdir -p "$tmp/oneline/sources.list.d"
echo "deb http://deb.example.org/debian/ bookworm main" > "$tmp/oneline/sources.list"
check oneline http://deb.example.org/debian/

mkdir -p "$tmp/security-only/sources.list.d"
echo "deb http://security.example/debian-security bookworm-security main" > "$tmp/security-only/sources.list.d/sec.list"
check security-only http://deb.debian.org/debian

mkdir -p "$tmp/empty"
check empty http://deb.debian.org/debian
exit $fail
