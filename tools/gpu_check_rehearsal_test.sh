#!/usr/bin/env bash
# tools/gpu-check.sh rehearsed on the simulator, from the bundle
# tools/gpu-bundle.sh makes (what a GPU machine is sent): one item of each
# kind runs its simulator build through the check's own runner, notes and
# JSON, so the check and the bundle are tried before a GPU is lent. The
# check's copy of the examples' command lines had gone stale: on a GPU, kv.diff_warp would have failed ("kv-diff
# not given") and kv.parse passed with "all 0 checks passed" (a kv_test.sh
# case that does not exist).
# usage: tools/gpu_check_rehearsal_test.sh BUILD_DIR
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: gpu_check_rehearsal_test.sh BUILD_DIR}
[ -x "$build/tests/bits_test_cuda" ] || { echo "SKIP: no -cuda builds (configured without nvcc)"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$root/tools/gpu-bundle.sh" --simulator "$build" "$tmp/bundle" || { echo "FAIL: gpu-bundle.sh exited $?"; exit 1; }
only='^(bits_test_cuda|ring-bench\.thread|examples\.(grep\.basic|kv\.diff_warp|kv\.parse))$'
"$root/tools/gpu-check.sh" --rehearse --only "$only" --logs "$tmp/logs" --out "$tmp/out.jsonl" "$tmp/bundle"
rc=$?
fail=0
[ "$rc" = 0 ] || { echo "FAIL: gpu-check --rehearse exited $rc"; fail=1; }
# expect ITEM STATUS: the item's JSON line has that status.
expect() {
  local line
  line=$(grep "\"check\":\"item\",\"item\":\"$1\"," "$tmp/out.jsonl")
  if grep -q "\"status\":\"$2\"" <<< "$line"; then
    echo "ok   $1 $2"
  else
    echo "FAIL $1: want $2, got: ${line:-no line}"
    fail=1
  fi
}
expect info PASS
expect bits_test_cuda PASS
expect ring-bench.thread PASS
expect examples.grep.basic PASS
expect examples.kv.diff_warp PASS
expect examples.kv.parse SKIP
n=$(grep -c '"check":"item"' "$tmp/out.jsonl")
[ "$n" = 6 ] || { echo "FAIL: $n items ran, want the 6 asked for"; fail=1; }
grep -q '"rehearsal":true' "$tmp/out.jsonl" || { echo "FAIL: the results do not say they are a rehearsal"; fail=1; }
grep -q '"bench":"ring".*"op":"nop"' "$tmp/out.jsonl" || { echo "FAIL: no ring benchmark lines in the results"; fail=1; }
exit $fail
