#!/usr/bin/env bash
# `make bench`: runs the benchmarks and keeps their JSON lines.
#
# usage: tools/bench.sh BUILD_DIR [--quick] [--no-kmod]
#   1. gsys-ring-bench on the simulator (and on the GPU when one is present):
#      round trip and throughput per granularity x ordering x executor, with
#      the direct system call measured in the same run;
#   2. the simulator's own cost per barrier / warp collective (gsys-sim-bench);
#      gsys-kv (warp and block granularity) and memcached under the same
#      UDP load (examples/net/kv_bench.sh);
#   3. unless --no-kmod: the same ring benchmark for kmod, uring and sync inside
#      one QEMU boot of the Debian kernel with genesys.ko loaded
#      (tests/kmod/run-qemu.sh), plus the module's own in-kernel benchmark.
# Results: bench/results/<name>-<date>.jsonl; a summary table on stdout.
set -euo pipefail

build=${1:?usage: tools/bench.sh BUILD_DIR [--quick] [--no-kmod]}
shift
quick=()
kmod=1
for a in "$@"; do
  case $a in
    --quick) quick=(--quick) ;;
    --no-kmod) kmod=0 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
results=$root/bench/results
mkdir -p "$results"
stamp=$(date +%Y%m%d-%H%M%S)

# One line per JSON object: granularity/ordering/executor/op, p50 next to the
# direct call, calls/s next to the direct rate.
summarize() {
  awk '
    function field(k,   m) { if (match($0, "\"" k "\":\"?[^,\"}]*")) { m = substr($0, RSTART, RLENGTH); sub(/^"[^"]*":"?/, "", m); return m } return "" }
    BEGIN { printf "%-8s %-8s %-7s %-7s %-8s %10s %10s %7s %12s %12s %6s\n", "executor", "gran", "order", "op", "device", "p50_ns", "direct_ns", "ratio", "calls/s", "direct/s", "x" }
    /^\{/ && field("granularity") == "" {
      # the module'"'"'s own in-kernel benchmark (t_bench): no simulated GPU
      printf "%-8s %-8s %-7s %-7s %-8s %10d %10s %7s %12d %12s %6s\n", field("executor"), field("mode"), "batch" field("batch"), field("op"), "in-kern", field("p50_ns"), "-", "-", field("calls_per_s"), "-", "-"
      next
    }
    /^\{/ {
      p50 = field("p50_ns"); d = field("direct_ns"); cps = field("calls_per_s"); dcps = field("direct_calls_per_s")
      dev = field("device"); sub(/ .*/, "", dev)
      printf "%-8s %-8s %-7s %-7s %-8s %10d %10d %7.1f %12d %12d %6.2f\n", field("executor"), field("granularity"), field("ordering"), field("op"), dev, p50, d, (d > 0 ? p50 / d : 0), cps, dcps, (dcps > 0 ? cps / dcps : 0)
    }' "$1"
}

ring_out=$results/ring-sim-$stamp.jsonl
echo "== ring round trip and throughput, SIMT simulator ($(nproc) cores) -> ${ring_out#$root/}"
"$build/bench/gsys-ring-bench" "${quick[@]}" --ops nop,getppid,pread4k --out "$ring_out" >/dev/null
summarize "$ring_out"

if [ -x "$build/bench/gsys-ring-bench-cuda" ] && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1 | tr ' ' '-')
  cuda_out=$results/ring-$gpu-$stamp.jsonl
  echo "== ring round trip and throughput, $gpu -> ${cuda_out#$root/}"
  "$build/bench/gsys-ring-bench-cuda" "${quick[@]}" --ops nop,getppid,pread4k --out "$cuda_out" >/dev/null
  summarize "$cuda_out"
fi

sim_out=$results/sim-$stamp.jsonl
echo "== simulator scheduling cost (1 block x 256 threads) -> ${sim_out#$root/}"
"$build/bench/gsys-sim-bench" | tee "$sim_out" | sed 's/^/   /'

kv_out=$results/kv-$stamp.jsonl
echo "== gsys-kv vs memcached, same load -> ${kv_out#$root/}"
kv_secs=5
[ ${#quick[@]} -eq 0 ] || kv_secs=2
"$root/examples/net/kv_bench.sh" "$build" --duration $kv_secs --out "$kv_out" | grep -v '^{' || echo "   kv bench failed"

if [ $kmod = 1 ]; then
  kout=$build/bench-kmod
  echo "== kmod vs uring vs sync inside one QEMU boot (TCG) -> bench/results/kmod-qemu-$stamp.jsonl"
  if "$root/tests/kmod/run-qemu.sh" --out "$kout" --tests t_bench --timeout 500 \
      --host-test "ring_bench=$build/bench/gsys-ring-bench --executor all --ops nop,pread4k --gran thread,warp --iters 500 --tput-iters 100" \
      >"$kout.log" 2>&1; then
    cp "$kout/bench.jsonl" "$results/kmod-qemu-$stamp.jsonl"
    summarize "$results/kmod-qemu-$stamp.jsonl"
    grep '"bench":"kmod' "$results/kmod-qemu-$stamp.jsonl" || true
  else
    rc=$?
    [ $rc = 77 ] && echo "   skipped: $(grep SKIP "$kout.log" | tail -n 1)" || { echo "   QEMU run failed (rc=$rc); see $kout.log"; exit 1; }
  fi
fi
