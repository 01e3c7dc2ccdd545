#!/usr/bin/env bash
# kmod vs uring vs sync over several QEMU boots (issue #14 item 4): TCG
# timings swing from boot to boot on a shared host, so one boot says little.
# Each boot runs the ring benchmark for the three executors and the module's
# own in-kernel benchmark (t_bench: the SERVE loop's rate next to a direct
# system call made in the same boot); the summary gives, per case, the median
# over boots with the min..max spread, and the in-kernel null call as a ratio
# to the direct call of its own boot (ratios travel between boots, absolute
# TCG numbers do not).
#
# usage: bench/kmod_boots.sh BUILD_DIR [--boots N] [--out FILE.jsonl]
#        bench/kmod_boots.sh --summarize FILE.jsonl
#   --boots      how many boots (default 3)
#   --out        where the JSON lines go, each tagged "boot":K
#                (default bench/results/kmod-boots-<date>.jsonl)
#   --summarize  only print the summary of saved results
# exit: 0, 77 when QEMU or the kernel images are missing, 1 when a boot fails.
set -euo pipefail

usage() { sed -n '2,21p' "$0"; }
root=$(cd "$(dirname "$0")/.." && pwd)
boots=3
out=$root/bench/results/kmod-boots-$(date +%Y%m%d-%H%M%S).jsonl
build=
summarize_only=
while [ $# -gt 0 ]; do
  case $1 in
    --boots) boots=${2:?--boots N}; shift 2 ;;
    --out) out=${2:?--out FILE}; shift 2 ;;
    --summarize) summarize_only=${2:?--summarize FILE}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "kmod_boots.sh: unknown argument $1" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
case $boots in '' | *[!0-9]* | 0) echo "kmod_boots.sh: --boots wants a positive number" >&2; exit 2 ;; esac

summarize() {
# Median and spread per case. A case: the ring benchmark's executor x op x
# granularity x ordering (p50 latency, calls/s), and t_bench's bench x mode x
# batch (calls/s), plus t_bench's null call / direct getpid rate per boot.
awk -v boots="$boots" '
function field(k,   m) { if (match($0, "\"" k "\":\"?[^,\"}]*")) { m = substr($0, RSTART, RLENGTH); sub(/^"[^"]*":"?/, "", m); return m } return "" }
function add(key, v) { n[key]++; val[key, n[key]] = v + 0 }
function median(key,   i, j, t, c, a) {
  c = n[key]
  for (i = 1; i <= c; i++) a[i] = val[key, i]
  for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
  lo[key] = a[1]; hi[key] = a[c]
  return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
}
field("bench") == "ring" {
  c = sprintf("%-5s %-8s %-6s %-7s", field("executor"), field("op"), field("granularity"), field("ordering"))
  cases[c] = 1; add(c " p50", field("p50_ns")); add(c " rate", field("calls_per_s"))
}
field("bench") == "null_call" || field("bench") == "pread_4k" {
  b = field("boot")
  if (field("executor") == "direct") direct[b, field("bench")] = field("calls_per_s")
  else if (field("batch") == "1") kern[b, field("bench"), field("mode")] = field("calls_per_s")
}
END {
  # "section|text" lines, sorted below so the table reads in a fixed order
  printf "1|   ring benchmark, %d boot(s): median [min..max]\n", boots
  printf "2|   %-30s %-26s %s\n", "executor op gran ordering", "p50 us", "calls/s"
  for (c in cases) {
    m1 = median(c " p50"); m2 = median(c " rate")
    printf "3|   %-30s %7.1f [%6.1f..%6.1f]   %8.0f [%.0f..%.0f]\n", c, m1 / 1000, lo[c " p50"] / 1000, hi[c " p50"] / 1000, m2, lo[c " rate"], hi[c " rate"]
  }
  split("null_call pread_4k", ops, " ")
  split("inline serve_thread", modes, " ")
  print "4|   in-kernel rate / direct system call rate of the same boot (batch 1):"
  for (i = 1; i <= 2; i++) for (j = 1; j <= 2; j++) {
    key = ops[i] " " modes[j]
    for (b = 1; b <= boots; b++)
      if ((b, ops[i], modes[j]) in kern && direct[b, ops[i]] > 0) add(key, kern[b, ops[i], modes[j]] / direct[b, ops[i]])
    if (n[key]) printf "5|   %-24s %.2fx [%.2f..%.2f] over %d boot(s)\n", key, median(key), lo[key], hi[key], n[key]
  }
}' "$1" | sort -t'|' -k1,1n -k2 | cut -d'|' -f2-
}

if [ -n "$summarize_only" ]; then
  [ -r "$summarize_only" ] || { echo "kmod_boots.sh: cannot read $summarize_only" >&2; exit 2; }
  boots=$(sed -n 's/^{"boot":\([0-9]*\),.*/\1/p' "$summarize_only" | sort -n | tail -n 1)
  summarize "$summarize_only"
  exit 0
fi
[ -n "$build" ] || { usage >&2; exit 2; }
bench=$build/bench/gsys-ring-bench
[ -x "$bench" ] || { echo "kmod_boots.sh: $bench is missing: build first" >&2; exit 2; }
work=$build/bench-kmod-boots
mkdir -p "$work" "$(dirname "$out")"
: > "$out"

for k in $(seq 1 "$boots"); do
  echo "   boot $k/$boots ..."
  rc=0
  "$root/tests/kmod/run-qemu.sh" --out "$work/boot$k" --tests t_bench --timeout 500 \
    --host-test "ring_bench=$bench --executor all --ops nop,pread4k --gran thread,warp --iters 500 --tput-iters 100" \
    > "$work/boot$k.log" 2>&1 || rc=$?
  if [ $rc = 77 ]; then
    echo "   skipped: $(grep SKIP "$work/boot$k.log" | tail -n 1)"
    exit 77
  fi
  [ $rc = 0 ] || { echo "   boot $k failed (rc=$rc); see $work/boot$k.log" >&2; exit 1; }
  sed "s/^{/{\"boot\":$k,/" "$work/boot$k/bench.jsonl" >> "$out"
done

summarize "$out"
echo "   results: ${out#$root/}"
