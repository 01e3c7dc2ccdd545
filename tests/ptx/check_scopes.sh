#!/bin/bash
# Reads the PTX of tests/ptx/scope_kernels.cu and checks the scopes of the
# device library's memory operations (device/genesys/atomic.h, abi.h):
#  - no read-modify-write at system scope: protocol v2 makes none across the
#    link, so every atomic is on device memory, at device scope (a release
#    at system scope is a fence over the link on every claim and release);
#  - device-scope atomics are there (the claim path was compiled at all);
#  - system-scope loads and stores are there (the request, the polls).
# usage: check_scopes.sh FILE.ptx...
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 FILE.ptx..." >&2; exit 2; }
fail=0
count() { { grep -hoE "$1" "${@:2}" || true; } | wc -l; }
sys_rmw=$(count '\b(atom|red)(\.[a-z0-9_]+)*\.sys\b' "$@")
gpu_rmw=$(count '\b(atom|red)(\.[a-z0-9_]+)*\.gpu\b' "$@")
sys_st=$(count '\bst\.(relaxed|release)\.sys\b' "$@")
sys_ld=$(count '\bld\.(relaxed|acquire)\.sys\b' "$@")
echo "system-scope atomics: $sys_rmw, device-scope atomics: $gpu_rmw, system-scope stores: $sys_st, loads: $sys_ld"
if [ "$sys_rmw" -ne 0 ]; then
  echo "FAIL: read-modify-writes at system scope (abi.h: none crosses the link):"
  grep -hnE '\b(atom|red)(\.[a-z0-9_]+)*\.sys\b' "$@" | sort | uniq -c | head
  fail=1
fi
[ "$gpu_rmw" -gt 0 ] || { echo "FAIL: no device-scope atomic: the calls' claim path is missing"; fail=1; }
[ "$sys_st" -gt 0 ] || { echo "FAIL: no system-scope store: the requests are missing"; fail=1; }
[ "$sys_ld" -gt 0 ] || { echo "FAIL: no system-scope load: the completion polls are missing"; fail=1; }
[ $fail -eq 0 ] && echo PASS
exit $fail
