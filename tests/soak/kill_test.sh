#!/bin/bash
# Killed with calls in flight (issue #10): gsys-soak (16 blocks x 128
# threads issuing a mix of calls, its ring published) is SIGKILLed at a
# random moment, 4 times per executor. The process cannot clean up, so its
# published ring stays in /dev/shm; the next runtime that publishes must
# remove every ring whose process is gone. Usage: kill_test.sh GSYS_SOAK
set -u
soak=$1
dir=$(mktemp -d /tmp/gsys-kill-XXXXXX)
trap 'rm -rf "$dir"' EXIT
# Published names: genesys.<pid namespace inode>.<pid>.<n>
ns=$(stat -L -c %i /proc/self/ns/pid)
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
killed=()
for ex in sync uring; do
  for round in 1 2 3 4; do
    GENESYS_PUBLISH=1 "$soak" --seconds 60 --executor "$ex" --grid 16x128 >"$dir/out" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
      [ -e "/dev/shm/genesys.$ns.$pid.0" ] && grep -q "executor" "$dir/out" && break
      sleep 0.1
    done
    [ -e "/dev/shm/genesys.$ns.$pid.0" ] || fail "$ex round $round: no published ring: $(cat "$dir/out")"
    sleep "0.$((RANDOM % 5 + 2))"  # calls in flight: 0.2 to 0.6 s into the run
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    rc=$?
    [ "$rc" = 137 ] || fail "$ex round $round: exit status $rc, not 137 (SIGKILL): $(cat "$dir/out")"
    killed+=("$pid")
  done
done
left() {
  local n=0
  for pid in "${killed[@]}"; do
    for f in /dev/shm/genesys."$ns.$pid".*; do [ -e "$f" ] && n=$((n + 1)); done
  done
  echo "$n"
}
before=$(left)
# Each round's publishing soak pruned the rings of the rounds before it.
echo "kill: ${#killed[@]} processes killed with calls in flight; $before published ring(s) left behind"
[ "$before" -gt 0 ] || fail "no ring was left behind: the test cannot see pruning"
GENESYS_PUBLISH=1 "$soak" --seconds 1 --executor sync --grid 2x32 >"$dir/out" 2>&1 || fail "a publishing soak after the kills failed: $(cat "$dir/out")"
after=$(left)
[ "$after" = 0 ] || fail "$after rings of killed processes are still in /dev/shm after a runtime published"
if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "kill: all checks passed"
