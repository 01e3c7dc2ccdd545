#!/usr/bin/env bash
# Every example test script refuses a case it does not have: exit 2 and a
# message naming the cases it has. The scripts once ran "case_$CASE", which
# for a wrong name printed "command not found", then "all 0 checks passed",
# and exited 0 (tools/gpu-check.sh asked kv_test.sh for "parse").
# usage: unknown_case_test.sh  (the scripts lie beside it)
dir=$(dirname "$0")
failed=0
check() {  # check SCRIPT ARGS...: SCRIPT with a case it does not have
  local script=$1 out rc
  shift
  out=$(bash "$dir/$script" "$@" 2>&1)
  rc=$?
  if [ "$rc" != 2 ] || ! grep -q "has no case 'no_such_case'" <<< "$out"; then
    echo "FAIL: $script no_such_case: exit $rc: $out"
    failed=1
  else
    echo "ok: $script: $out"
  fi
}
check grep_test.sh /bin/true no_such_case
check wc_test.sh /bin/true no_such_case
check mmap_test.sh /bin/true no_such_case
check kv_test.sh /bin/true /bin/true /bin/true no_such_case /bin/true
exit $failed
