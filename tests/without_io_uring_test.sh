#!/usr/bin/env bash
# genesys where io_uring_setup is refused, as under gVisor or a container's
# seccomp profile (GPU machines run in both): `genesys info` says so and
# picks sync, an example on the automatic executor falls back to sync, and
# the ring benchmark's default run of every executor leaves uring out (it
# exited 1 at the uring executor: on such a GPU machine every ring-bench
# item of tools/gpu-check.sh would have failed).
# usage: without_io_uring_test.sh WITHOUT_IO_URING BUILD_DIR
set -u
wrap=${1:?usage: without_io_uring_test.sh WITHOUT_IO_URING BUILD_DIR}
build=${2:?usage: without_io_uring_test.sh WITHOUT_IO_URING BUILD_DIR}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

info=$("$wrap" "$build/tools/genesys" info --json) || bad "genesys info --json exited $?"
grep -q '"io_uring":false' <<< "$info" || bad "genesys info does not see io_uring refused: $info"
grep -q '"executor":"sync"' <<< "$info" || bad "genesys info does not pick sync: $info"

printf 'one two\nthree\n' > "$tmp/in.txt"
"$wrap" "$build/examples/fs/gsys-wc" "$tmp/in.txt" > "$tmp/wc.out" 2> "$tmp/wc.err" || bad "gsys-wc exited $?: $(cat "$tmp/wc.err")"
(cd "$tmp" && LC_ALL=C wc in.txt) > "$tmp/wc.want"
sed -i "s|$tmp/||" "$tmp/wc.out"
cmp -s "$tmp/wc.want" "$tmp/wc.out" || bad "gsys-wc: '$(cat "$tmp/wc.out")', want '$(cat "$tmp/wc.want")'"
grep -q 'using sync' "$tmp/wc.err" || bad "gsys-wc did not say it fell back to sync: $(cat "$tmp/wc.err")"

"$wrap" "$build/bench/gsys-ring-bench" --gran thread --ops nop --iters 100 --tput-iters 1 > "$tmp/rb.out" 2> "$tmp/rb.err" ||
  bad "gsys-ring-bench exited $?: $(tail -n 1 "$tmp/rb.err")"
grep -q '"executor":"sync"' "$tmp/rb.out" || bad "gsys-ring-bench measured nothing with sync"
! grep -q '"executor":"uring"' "$tmp/rb.out" || bad "gsys-ring-bench has uring lines"
grep -q 'executor uring left out: io_uring_setup is refused' "$tmp/rb.err" || bad "gsys-ring-bench did not say why uring was left out"

[ "$fail" = 0 ] && echo "ok: info, gsys-wc and gsys-ring-bench without io_uring"
exit $fail
