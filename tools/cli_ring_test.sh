#!/usr/bin/env bash
# The genesys CLI against live published rings (gsys-cli-ring-helper, from
# tools/cli_ring_helper.cu: its first ring has four finished calls in its
# slots; it publishes another for each line it is sent).
#   finished_slots: `genesys ring PID --slots` names each finished slot's
#     state, DONE or DONE_WIDE, and shows its result (the helper's pid,
#     -EBADF, 2^62, 0). It once called them all GARBAGE with "ret 0": it
#     cut the 64-bit state word to 32 bits and read the result from slot.ret.
#     Words abi.h does not define, written into unused slots, stay GARBAGE.
#   junk_ring: a junk /dev/shm/genesys.PIDNS.PID.7 (a few bytes, or a page with a
#     bad magic) published between two healthy rings of PID is reported on
#     stderr, named, and `stat` and `ring` still show both healthy rings,
#     exiting 1 (a ring asked about could not be read). They once stopped at
#     the junk's error, hiding the rings listed after it.
# usage: tools/cli_ring_test.sh finished_slots|junk_ring GENESYS HELPER
set -uo pipefail
mode=${1:?usage: cli_ring_test.sh finished_slots|junk_ring GENESYS HELPER}
cli=${2:?usage: cli_ring_test.sh MODE GENESYS HELPER}
helper=${3:?usage: cli_ring_test.sh MODE GENESYS HELPER}
tmp=$(mktemp -d)
hpid=
junk=
cleanup() {
  exec 3>&-  # the helper's input: at its end the helper exits and unpublishes its rings
  if [ -n "$hpid" ]; then
    for _ in $(seq 50); do kill -0 "$hpid" 2>/dev/null || break; sleep 0.1; done
    kill "$hpid" 2>/dev/null
    wait "$hpid" 2>/dev/null
  fi
  if [ -n "$junk" ]; then rm -f "$junk"; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail=0

mkfifo "$tmp/in"
"$helper" <"$tmp/in" >"$tmp/ready" &
hpid=$!
exec 3>"$tmp/in"

# ring N: waits for the helper's Nth "ready PID RING" line and prints RING.
ring() {
  local line pid name
  for _ in $(seq 300); do
    line=$(grep '^ready' "$tmp/ready" | sed -n "$1p")
    if [ -n "$line" ]; then
      read -r _ pid name <<<"$line"
      if [ "$pid" = "$hpid" ]; then echo "$name"; return 0; fi
      break
    fi
    kill -0 "$hpid" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL the helper did not publish ring $1: $(cat "$tmp/ready")" >&2
  exit 1
}

# run ARGS...: `genesys ARGS`, its stdout in $out, stderr in $err, status in $rc.
run() {
  rc=0
  timeout 15 "$cli" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  out=$(cat "$tmp/out") err=$(cat "$tmp/err")
}

# check WHAT COMMAND...: reports whether COMMAND succeeds, as ok or FAIL.
check() {
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}
has() { grep -qE -- "$2" <<<"$1"; }
lacks() { ! grep -qE -- "$2" <<<"$1"; }

first=$(ring 1) || exit 1
case $mode in
finished_slots)
  run ring "$hpid" --slots
  printf '%s\n' "$out" "$err"
  check "ring --slots exits 0 (got $rc)" [ "$rc" = 0 ]
  check "no slot is GARBAGE" lacks "$out" GARBAGE
  check "getpid's slot: DONE, ret $hpid" has "$out" "slot \[ *[0-9]+\] DONE +ret $hpid\$"
  check "a bad fd's slot: DONE, ret -9 (-EBADF)" has "$out" 'slot \[ *[0-9]+\] DONE +ret -9$'
  check "nop's slot: DONE, ret 0" has "$out" 'slot \[ *[0-9]+\] DONE +ret 0$'
  check "a 2^62 offset's slot: DONE_WIDE, ret 4611686018427387904" \
    has "$out" 'slot \[ *[0-9]+\] DONE_WIDE +ret 4611686018427387904$'
  check "the slot counts: DONE 3, DONE_WIDE 1" has "$out" 'slots:.* DONE 3 DONE_WIDE 1( |$)'
  # What abi.h does not define is still GARBAGE (and READY has no result):
  # slots the helper never used, written as a hostile device could.
  put() { printf '%b' "$2" | dd of="/dev/shm/$first" bs=1 seek=$((4096 + $1 * 64)) conv=notrunc status=none; }
  put 8 '\006\0\0\0\0\0\0\0'  # tag 6
  put 9 '\022\0\0\0\0\0\0\0'  # READY with bits above its tag
  put 10 '\002\0\0\0\0\0\0\0' # READY
  run ring "$hpid" --slots
  printf '%s\n' "$out" "$err"
  check "tag 6 is GARBAGE" has "$out" 'slot \[ +8\] GARBAGE +word 0x6$'
  check "READY with more bits is GARBAGE" has "$out" 'slot \[ +9\] GARBAGE +word 0x12$'
  check "READY is READY, no result" has "$out" 'slot \[ +10\] READY$'
  check "the slot counts: READY 1, DONE 3, DONE_WIDE 1, GARBAGE 2" \
    has "$out" 'slots: FREE [0-9]+ READY 1 DONE 3 DONE_WIDE 1 GARBAGE 2$'
  ;;
junk_ring)
  # The junk is made between the two rings, so whichever way /dev/shm lists
  # them one healthy ring comes after it.
  junkname=genesys.$(stat -L -c %i /proc/self/ns/pid).$hpid.7
  junk=/dev/shm/$junkname
  printf 'junk' >"$junk"
  echo more >&3
  second=$(ring 2) || exit 1
  for kind in short bad_magic; do
    if [ $kind = bad_magic ]; then head -c 8192 /dev/zero >"$junk"; fi
    for args in "stat $hpid" "stat $hpid --json" "ring $hpid" "ring $hpid --slots"; do
      # shellcheck disable=SC2086
      run $args
      printf '%s\n' "$out" "$err"
      check "$kind junk: genesys $args exits 1 (got $rc)" [ "$rc" = 1 ]
      check "$kind junk: genesys $args shows $first" has "$out" "\"?${first}[\": ]"
      check "$kind junk: genesys $args shows $second" has "$out" "\"?${second}[\": ]"
      check "$kind junk: genesys $args names the junk, once, on stderr" \
        [ "$(grep -cF "$junkname: " <<<"$err")" = 1 ]
    done
    # Every ring of the machine: other processes' rings make the status vary.
    run stat
    check "$kind junk: genesys stat shows $first" has "$out" "^$first "
    check "$kind junk: genesys stat shows $second" has "$out" "^$second "
  done
  rm -f "$junk"
  run stat "$hpid"
  check "without the junk, genesys stat $hpid exits 0 (got $rc)" [ "$rc" = 0 ]
  ;;
*)
  echo "unknown mode '$mode'"
  exit 2
  ;;
esac
exit $fail
