#!/usr/bin/env bash
# The GENESYS benchmark set (docs/benchmarks.md), run by tools/bench.sh:
#   gsys-io-bench     microbenchmarks: null call; read/pread/write/pwrite 4 KiB..1 MiB
#                     per granularity x ordering x blocking; open/close, lseek,
#                     mmap/munmap, madvise, getrusage; executors sync and uring
#   gsys-split-bench  genesys vs the kernel-split baseline vs CPU only
#   gsys-host-cost    executor CPU idle and serving, co-runner slowdown, spin curves
# on the simulator, and on the GPU when one is present (the -cuda builds).
# Writes bench/results/{io,split,host}-<device>-<stamp>.jsonl, one CSV of the
# run's rows (bench/results/genesys-<stamp>.csv), prints a summary with the
# issue's targets (PASS/MISS) and redraws the plots (bench/plots/plots.sh).
#
# usage: bench/genesys_bench.sh BUILD_DIR [--quick] [--stamp STAMP]
set -euo pipefail

build=${1:?usage: bench/genesys_bench.sh BUILD_DIR [--quick] [--stamp STAMP]}
shift
quick=()
stamp=$(date +%Y%m%d-%H%M%S)
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=(--quick) ;;
    --stamp) stamp=$2; shift ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "genesys_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

root=$(cd "$(dirname "$0")/.." && pwd)
results=$root/bench/results
mkdir -p "$results"
rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- 2>/dev/null || rev=$rev-dirty
export GSYS_GIT_REV=$rev
t_start=$(date +%s)

awk_field='function field(k,   m) { if (match($0, "\"" k "\":\"?[^,\"}]*")) { m = substr($0, RSTART, RLENGTH); sub(/^"[^"]*":"?/, "", m); return m } return "" }'

# The run's JSON lines as one CSV: the union of their keys, in first-seen order.
jsonl_to_csv() {
  awk '
    function parse(line,   s, kv, k, v) {
      n = 0; s = line; sub(/^\{/, "", s); sub(/\}[[:space:]]*$/, "", s)
      while (match(s, /"[^"]+":("[^"]*"|[^,]*)/)) {
        kv = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
        k = kv; sub(/":.*/, "", k); sub(/^"/, "", k)
        v = kv; sub(/^"[^"]+":/, "", v); gsub(/"/, "", v)
        keys[++n] = k; val[k] = v
      }
      return n
    }
    pass == 1 && /^\{/ { m = parse($0); for (i = 1; i <= m; i++) if (!(keys[i] in seen)) { seen[keys[i]] = 1; order[++nk] = keys[i] } }
    pass == 2 && !header { for (i = 1; i <= nk; i++) printf "%s%s", order[i], (i < nk ? "," : "\n"); header = 1 }
    pass == 2 && /^\{/ {
      delete val; parse($0)
      for (i = 1; i <= nk; i++) printf "%s%s", (order[i] in val ? val[order[i]] : ""), (i < nk ? "," : "\n")
    }' pass=1 "$@" pass=2 "$@"
}

io_summary() {
  echo "   executor gran    order   mode        op      bytes      p50_ns  direct_ns     MiB/s  direct_MiB/s  calls/s"
  awk "$awk_field"'
    /^\{/ && (field("op") == "nop" || field("op") == "pread" && (field("bytes") == 4096 || field("bytes") == 65536 || field("bytes") == 1048576)) {
      printf "   %-8s %-7s %-7s %-11s %-7s %7d %11d %10d %9.1f %13.1f %8d\n", field("executor"), field("granularity"), field("ordering"), field("blocking"), field("op"), field("bytes"), field("p50_ns"), field("direct_p50_ns"), field("mib_per_s"), field("direct_mib_per_s"), field("calls_per_s")
    }
    /^\{/ && field("bytes") == 0 && field("op") != "nop" && field("granularity") == "thread" {
      printf "   %-8s %-7s %-7s %-11s %-11s %3s %11d %10d %9s %13s %8d\n", field("executor"), field("granularity"), field("ordering"), field("blocking"), field("op"), "", field("p50_ns"), field("direct_p50_ns"), "-", "-", field("calls_per_s")
    }' "$1"
}

split_summary() {
  echo "   executor spin_ns workload     rounds  genesys_MiB/s  split_MiB/s  cpu_MiB/s  vs_split  vs_cpu  same_result"
  awk "$awk_field"'/^\{/ {
      printf "   %-8s %7d %-12s %6d %14.1f %12.1f %10.1f %9.3f %7.3f  %s\n", field("executor"), field("executor_spin_ns"), field("workload"), field("rounds"), field("genesys_mib_per_s"), field("split_mib_per_s"), field("cpu_mib_per_s"), field("genesys_vs_split"), field("genesys_vs_cpu"), (field("same_result") == 1 ? "yes" : "NO")
    }' "$1"
}

host_summary() {
  awk "$awk_field"'
    /^\{/ && field("kind") == "idle" { printf "   idle  %-6s %-12s executor CPU %.3f%% of a core (%s threads, %d wakeups/s, %.1f us CPU each)\n", field("executor"), field("phase"), field("executor_cpu_pct"), field("executor_threads"), field("executor_wakeups_per_s"), field("cpu_us_per_wakeup") }
    /^\{/ && field("kind") == "rate" {
      printf "   rate  %-6s target %7d/s got %7d/s  p50 %7d ns  executor %6.2f%%  device(sim) %6.2f%%  co-runner slowdown %6.2f%% (vs generator alone %6.2f%%)\n", field("executor"), field("target_calls_per_s"), field("calls_per_s"), field("p50_ns"), field("executor_cpu_pct"), field("device_cpu_pct"), field("slowdown_pct"), field("slowdown_vs_generator_pct")
    }
    /^\{/ && field("kind") == "spin" {
      printf "   spin  %-6s spin %8d ns  got %6d/s  p50 %8d ns  p99 %9d ns  executor %6.2f%%\n", field("executor"), field("spin_ns"), field("calls_per_s"), field("p50_ns"), field("p99_ns"), field("executor_cpu_pct")
    }
    /^\{/ && field("kind") == "device_spin" {
      printf "   dspin %-6s device spin %8d ns  got %6d/s  p50 %8d ns  p99 %9d ns  executor %6.2f%%  device(sim) %6.2f%%\n", field("executor"), field("device_spin_ns"), field("calls_per_s"), field("p50_ns"), field("p99_ns"), field("executor_cpu_pct"), field("device_cpu_pct")
    }' "$1"
}

# Issue 14's targets, from this run's lines; $1 split, $2 host, $3 io, $4 device label.
targets() {
  awk -v dev="$4" "$awk_field"'
    function say(ok, what) { printf "%s  %s\n", (ok ? "PASS" : "MISS"), what }
    FILENAME == ARGV[1] && /^\{/ && field("executor_spin_ns") == 0 { next }  # the spin-0 rows: information only
    FILENAME == ARGV[1] && /^\{/ && field("workload") == "independent" {
      v = field("genesys_vs_split") + 0
      say(v >= 0.8, sprintf("%s %-5s block pread 64 KiB chunks: genesys %.1f MiB/s = %.3fx the kernel-split baseline (target >= 0.8x)", dev, field("executor"), field("genesys_mib_per_s"), v))
    }
    FILENAME == ARGV[1] && /^\{/ && field("workload") == "dependent" {
      v = field("genesys_vs_split") + 0
      say(v > 1.0, sprintf("%s %-5s block pread 64 KiB interleaved with compute (%s rounds/word, split relaunches %s times): %.3fx split (target > 1x)", dev, field("executor"), field("rounds"), field("launches_split"), v))
    }
    # The target is the settled idle cost; the first second of quiet (fresh,
    # after a burst: 1 ms naps) is reported beside it.
    FILENAME == ARGV[2] && /^\{/ && field("kind") == "idle" && field("phase") != "settled" {
      first[field("executor")] = first[field("executor")] sprintf("%s%s %.3f%%", (first[field("executor")] == "" ? "" : ", "), field("phase"), field("executor_cpu_pct"))
    }
    FILENAME == ARGV[2] && /^\{/ && field("kind") == "idle" && field("phase") == "settled" {
      v = field("executor_cpu_pct") + 0
      say(v <= 1.0, sprintf("%s %-5s idle executor (settled, after a second of quiet): %.3f%% of a core (target <= 1%%; in its first second of quiet: %s)", dev, field("executor"), v, first[field("executor")]))
    }
    FILENAME == ARGV[2] && /^\{/ && field("kind") == "rate" && field("target_calls_per_s") == 100000 {
      s = field("slowdown_vs_generator_pct") + 0; got = field("calls_per_s") + 0
      say(s <= 10 && got >= 90000, sprintf("%s %-5s co-runner slowdown at 100k calls/s: %.1f%% vs generator alone (%.1f%% vs co-runner alone), %d calls/s reached (target <= 10%% at >= 90k calls/s)", dev, field("executor"), s, field("slowdown_pct"), got))
    }
    FILENAME == ARGV[3] && /^\{/ && dev != "simulator" && field("op") == "pread" && field("bytes") == 65536 && field("granularity") == "block" && field("ordering") == "relaxed" && field("blocking") == "blocking" {
      v = field("mib_per_s") / (field("direct_mib_per_s") > 0 ? field("direct_mib_per_s") : 1)
      say(v >= 0.8, sprintf("%s %-5s block pread 64 KiB: %.1f MiB/s = %.2fx host pread bandwidth, page cache (target >= 0.8x)", dev, field("executor"), field("mib_per_s"), v))
    }' "$1" "$2" "$3"
}

run_device() {  # $1 binary suffix ("" simulator, "-cuda" GPU), $2 device label for files
  local sfx=$1 dev=$2
  local io_out=$results/io-$dev-$stamp.jsonl split_out=$results/split-$dev-$stamp.jsonl host_out=$results/host-$dev-$stamp.jsonl
  echo "== GENESYS microbenchmarks ($dev, executors sync and uring) -> ${io_out#$root/}"
  "$build/bench/gsys-io-bench$sfx" "${quick[@]}" --out "$io_out" >/dev/null || echo "   (io bench: some cases had errors; see their errors fields)"
  io_summary "$io_out"
  echo "== genesys vs kernel-split baseline vs CPU only ($dev) -> ${split_out#$root/}"
  "$build/bench/gsys-split-bench$sfx" "${quick[@]}" --out "$split_out" >/dev/null || echo "   (split bench: results differ or errors; see same_result/errors)"
  # The same with executors that sleep at once (spin 0): the option
  # host_spin_curve measures; not the default, so outside the targets.
  "$build/bench/gsys-split-bench$sfx" "${quick[@]}" --spin-ns 0 --out "$split_out" >/dev/null || echo "   (split bench, spin 0: results differ or errors)"
  split_summary "$split_out"
  echo "== host cost: executor CPU idle and serving, co-runner, spin curve ($dev) -> ${host_out#$root/}"
  "$build/bench/gsys-host-cost$sfx" "${quick[@]}" --out "$host_out" >/dev/null || echo "   (host cost: errors; see the errors fields)"
  host_summary "$host_out"
  echo "== targets ($dev, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
  targets "$split_out" "$host_out" "$io_out" "$dev"
  csv_inputs+=("$io_out" "$split_out" "$host_out")
}

csv_inputs=()
run_device "" simulator
if [ -x "$build/bench/gsys-io-bench-cuda" ] && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1 | tr ' ' '-')
  run_device -cuda "$gpu"
fi
csv=$results/genesys-$stamp.csv
jsonl_to_csv "${csv_inputs[@]}" >"$csv"
echo "== one CSV of this run's rows -> ${csv#$root/} ($(($(wc -l <"$csv") - 1)) rows)"
if command -v gnuplot >/dev/null 2>&1; then
  "$root/bench/plots/plots.sh" "$csv" | sed 's/^/   /' || echo "   plots failed"
fi
elapsed=$(($(date +%s) - t_start))
limit=$([ ${#quick[@]} -gt 0 ] && echo 180 || echo 900)
echo "   GENESYS set took ${elapsed} s (the whole make bench must stay under ${limit} s)"
