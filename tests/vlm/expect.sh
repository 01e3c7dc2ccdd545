# Sourced by the gsys-vlm shell tests: count failures and check a command's
# exit status and output.
#   fail MESSAGE                  counts and prints a failure
#   expect STATUS PATTERN CMD...  CMD exits with STATUS and its output (stdout
#                                 and stderr) matches the grep PATTERN
#   finish NAME                   exit 1 if anything failed, else say NAME passed
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

expect() {
  local status=$1 pattern=$2
  shift 2
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" != "$status" ]; then fail "$* exited $rc, not $status: $out"; return; fi
  if ! grep -q -- "$pattern" <<<"$out"; then fail "$* printed no '$pattern': $out"; fi
}

finish() {
  if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
  fi
  echo "$1: all checks passed"
}
