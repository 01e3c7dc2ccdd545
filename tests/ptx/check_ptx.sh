#!/bin/bash
# Reads the PTX of tests/ptx/call_kernels.cu (every kind of device call) and
# checks what the device library makes of memory on a GPU:
#  - no read-modify-write at system scope: protocol v2 makes none across the
#    link, so every atomic is on device memory, at device scope (atomic.h;
#    a release at system scope is a fence over the link on every claim and
#    release);
#  - device-scope atomics are there (the claim path was compiled at all);
#  - system-scope loads and stores are there (the request, the polls);
#  - no system-scope fence of its own (membar.sys, fence.sc.sys): a group
#    call's request is published by its release store, which orders the
#    group's writes as well (group.h); a fence before it waited on the link
#    once more per call;
#  - a request crosses in few stores: its arguments 16 bytes per store, no
#    store of a lone 16-bit field (nr, flags: ring_client.h submit);
#  - staged calls copy 16 bytes per access where both sides are aligned
#    (staging.h team_copy; nvcc once made 16 byte copies of it).
# usage: check_ptx.sh FILE.ptx...
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 FILE.ptx..." >&2; exit 2; }
fail=0
count() { { grep -hoE "$1" "${@:2}" || true; } | wc -l; }
sys_rmw=$(count '\b(atom|red)(\.[a-z0-9_]+)*\.sys\b' "$@")
gpu_rmw=$(count '\b(atom|red)(\.[a-z0-9_]+)*\.gpu\b' "$@")
sys_st=$(count '\bst\.(relaxed|release)\.sys\b' "$@")
sys_ld=$(count '\bld\.(relaxed|acquire)\.sys\b' "$@")
sys_fence=$(count '\b(membar\.sys|fence\.(sc|acq_rel)\.sys)\b' "$@")
sys_st16=$(count '\bst\.relaxed\.sys\.v2\.u64\b' "$@")
sys_st2=$(count '\bst\.(relaxed|release)\.sys\.(b16|u16|s16)\b' "$@")
wide_ld=$(count '\bld\.global\.(v4\.u32|v2\.u64)\b' "$@")
wide_st=$(count '\bst\.global\.(v4\.u32|v2\.u64)\b' "$@")
echo "system-scope atomics: $sys_rmw, fences: $sys_fence, device-scope atomics: $gpu_rmw, system-scope stores: $sys_st" \
  "(16-byte: $sys_st16, 2-byte: $sys_st2), loads: $sys_ld;" \
  "16-byte loads: $wide_ld, stores: $wide_st"
if [ "$sys_rmw" -ne 0 ]; then
  echo "FAIL: read-modify-writes at system scope (abi.h: none crosses the link):"
  grep -hnE '\b(atom|red)(\.[a-z0-9_]+)*\.sys\b' "$@" | sort | uniq -c | head
  fail=1
fi
[ "$sys_fence" -eq 0 ] || { echo "FAIL: $sys_fence system-scope fences (a request's release store is the only one needed)"; fail=1; }
[ "$gpu_rmw" -gt 0 ] || { echo "FAIL: no device-scope atomic: the calls' claim path is missing"; fail=1; }
[ "$sys_st" -gt 0 ] || { echo "FAIL: no system-scope store: the requests are missing"; fail=1; }
if [ "$sys_st16" -eq 0 ] || [ "$sys_st2" -ne 0 ]; then
  echo "FAIL: requests cross the link in more stores than needed (want 16-byte argument stores, no 2-byte ones)"
  fail=1
fi
[ "$sys_ld" -gt 0 ] || { echo "FAIL: no system-scope load: the completion polls are missing"; fail=1; }
if [ "$wide_ld" -eq 0 ] || [ "$wide_st" -eq 0 ]; then
  echo "FAIL: no 16-byte global load or store: the staged copies go a byte at a time"
  fail=1
fi
[ $fail -eq 0 ] && echo PASS
exit $fail
