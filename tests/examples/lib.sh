# Helpers for the example tests (sourced). Each test gets a scratch
# directory, removed on exit; `fail` reports and remembers a failure; the
# script ends with `run_case CASE`, which runs case_CASE and exits 1 if
# anything failed.
set -u
export LC_ALL=C  # GNU tools and the examples agree on bytes, not UTF-8
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/gsys-example-test.XXXXXX")
chmod 755 "$SCRATCH"
trap 'chmod -R u+rwx "$SCRATCH" 2>/dev/null; rm -rf "$SCRATCH"' EXIT
FAILURES=0
CHECKS=0

fail() {
  echo "FAIL: $*" >&2
  FAILURES=$((FAILURES + 1))
}

# same WHAT EXPECTED_FILE ACTUAL_FILE: the files are byte for byte equal.
same() {
  CHECKS=$((CHECKS + 1))
  if ! cmp -s "$2" "$3"; then
    fail "$1: output differs (- expected, + actual)"
    diff -u "$2" "$3" | head -20 >&2
  fi
}

# status WHAT EXPECTED ACTUAL
status() {
  CHECKS=$((CHECKS + 1))
  [ "$2" = "$3" ] || fail "$1: exit status $3, expected $2"
}

# skip WHY: the test cannot run here (ctest shows it as skipped).
# stats_bytes WHAT FILE BYTES: the last --stats line in FILE says "bytes":BYTES.
stats_bytes() {
  CHECKS=$((CHECKS + 1))
  local got
  got=$(sed -n 's/.*"bytes":\([0-9]*\).*/\1/p' "$2" | tail -n 1)
  [ "$got" = "$3" ] || fail "$1: --stats says '$got' bytes, expected $3"
}

skip() {
  echo "SKIP: $*"
  exit 77
}

# A case that checked nothing did not test anything: that is a failure too.
finish() {
  [ "$CHECKS" -ne 0 ] || fail "no checks were made"
  if [ "$FAILURES" -ne 0 ]; then
    echo "$FAILURES of $CHECKS checks failed" >&2
    exit 1
  fi
  echo "all $CHECKS checks passed"
  exit 0
}

# run_case CASE: the script's case_CASE, then finish. An unknown case is an
# error (it once "passed" with "all 0 checks passed": a GPU check asked
# kv_test.sh for a case it does not have).
run_case() {
  if ! declare -F "case_$1" > /dev/null; then
    echo "FAIL: $(basename "$0") has no case '$1'; it has: $(declare -F | sed -n 's/^declare -f case_//p' | tr '\n' ' ')" >&2
    exit 2
  fi
  "case_$1"
  finish
}
