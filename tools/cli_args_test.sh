#!/usr/bin/env bash
# The genesys CLI's command line: unknown options and extra operands are
# usage errors (exit 2, the argument named), and so is a PID that does not
# parse or is out of range. `genesys info --bogus` and `genesys list extra`
# once exited 0, and `genesys stat 99999999999999999999` answered
# "no rings for pid -1".
# usage: tools/cli_args_test.sh GENESYS
set -uo pipefail
cli=${1:?usage: cli_args_test.sh GENESYS}
fail=0

# expect RC NEEDLE ARGS...: `genesys ARGS` exits RC and its output names NEEDLE.
expect() {
  local want=$1 needle=$2 rc=0 out
  shift 2
  out=$(timeout 15 "$cli" "$@" 2>&1) || rc=$?
  if [ $rc = "$want" ] && grep -qF -- "$needle" <<<"$out"; then
    echo "ok   genesys $* -> $rc: $(head -n 1 <<<"$out")"
  else
    echo "FAIL genesys $* -> exit $rc, want $want with \"$needle\": $(head -n 2 <<<"$out" | tr '\n' ' ')"
    fail=1
  fi
}

# Usage errors.
expect 2 "'--bogus'" info --bogus
expect 2 "'--bogus'" kmod --bogus
expect 2 "'--bogus'" list --bogus
expect 2 "'--bogus'" stat --bogus
expect 2 "'--bogus'" ring 1 --bogus
expect 2 "'-x'" stat -x
expect 2 "'extra'" list extra
expect 2 "'extra'" info extra
expect 2 "'extra'" kmod extra
expect 2 "'2'" stat 1 2
expect 2 "'2'" ring 1 2
expect 2 "'--slots'" info --slots  # another command's option
expect 2 "'--json'" ring 1 --json
expect 2 "'--json'" list --json
expect 2 "'99999999999999999999'" stat 99999999999999999999
expect 2 "'2147483648'" ring 2147483648
expect 2 "'4194305'" stat 4194305  # above Linux's PID_MAX_LIMIT
expect 2 "'abc'" stat abc
expect 2 "'0'" stat 0
expect 2 "'12x'" ring 12x
expect 2 "'-5'" ring -5
expect 2 "missing PID" ring
expect 2 "'frob'" frob
# What was right stays right: a valid PID with no rings is not a usage error.
expect 1 "no rings for pid 4194304" ring 4194304
expect 1 "no rings for pid 4194304" stat 4194304 --json
expect 0 "executor" info
expect 0 '"executor"' info --json
expect 0 "usage: genesys" --help
expect 0 "usage: genesys" info --help
expect 0 "usage: genesys" help
expect 2 "usage: genesys"
exit $fail
