#!/usr/bin/env bash
# Draws the GENESYS benchmark plots (PNG, gnuplot) from one run's CSV
# (bench/genesys_bench.sh writes bench/results/genesys-<stamp>.csv):
#   latency_vs_granularity  p50 round trip of nop and 4 KiB pread per granularity
#   throughput_vs_size      block-level pread/pwrite MiB/s per transfer size and
#                           executor, with one CPU thread's pread as yardstick
#   ordering_cost           relaxed / strong throughput, pread and pwrite, 4 and 64 KiB
#   nonblocking_gain        gsys::post throughput / blocking throughput (pread)
#   genesys_vs_split        MiB/s of genesys, the kernel-split baseline, CPU only
#   host_spin_curve         round trip and executor CPU vs the executor's spin
#   host_device_spin_curve  round trip and simulated device CPU vs the device's spin
#                           (runs from before it was added have no such rows: no plot)
#   host_rate               co-runner slowdown and executor CPU vs call rate
# One set per device in the CSV; the simulator's names have no suffix, a
# GPU's get -<gpu>.
#
# usage: bench/plots/plots.sh [CSV] [OUT_DIR]   (defaults: the newest
#        bench/results/genesys-*.csv, docs/plots)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
csv=${1:-$(ls -t "$root"/bench/results/genesys-*.csv 2>/dev/null | head -n 1)}
out=${2:-$root/docs/plots}
[ -n "$csv" ] && [ -f "$csv" ] || { echo "plots.sh: no bench/results/genesys-*.csv; run make bench first" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "plots.sh: gnuplot is missing (make deps)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# pivot CSV FILTERS ROW_KEY COL_KEYS VALUE: a table, one line per distinct
# ROW_KEY, one column per distinct COL_KEYS (space-separated names, joined
# with '-'), first-seen order; header line first. FILTERS: 'k=v;k~regex;...'.
pivot() {
  awk -F, -v filt="$2" -v rk="$3" -v ck="$4" -v vk="$5" '
    NR == 1 { for (i = 1; i <= NF; i++) ix[$i] = i; nf = split(filt, f, ";"); nc = split(ck, c, " "); next }
    {
      for (j = 1; j <= nf; j++) {
        if (f[j] ~ /~/) { split(f[j], kv, "~"); if ($(ix[kv[1]]) !~ kv[2]) next }
        else { split(f[j], kv, "="); if ($(ix[kv[1]]) != kv[2]) next }
      }
      r = $(ix[rk]); col = ""
      for (j = 1; j <= nc; j++) col = col (j > 1 ? "-" : "") $(ix[c[j]])
      if (!(r in rs)) { rs[r] = 1; ro[++nr] = r }
      if (!(col in cs)) { cs[col] = 1; co[++ncol] = col }
      v[r, col] = $(ix[vk])
    }
    END {
      printf "%s", rk; for (j = 1; j <= ncol; j++) printf " %s", co[j]; print ""
      for (i = 1; i <= nr; i++) { printf "%s", ro[i]; for (j = 1; j <= ncol; j++) printf " %s", ((ro[i], co[j]) in v ? v[ro[i], co[j]] : "NaN"); print "" }
    }' "$1"
}

# Columns of a pivot table as a gnuplot "plot for" range end.
ncols() { head -n 1 "$1" | awk '{ print NF }'; }

common='set terminal pngcairo size 900,560 font "sans,10"; set grid ytics; set key outside right top; set datafile missing "NaN"'

plot_device() {  # $1 device as in the CSV, $2 file name suffix
  local dev=$1 sfx=$2 d="$tmp/$2" f n
  mkdir -p "$d"
  local base="bench=io;device=$dev;blocking=blocking;ordering=relaxed"

  f=$d/lat.dat
  pivot "$csv" "$base;op~^(nop|pread)\$;bytes~^(0|4096)\$" granularity "executor op bytes" p50_ns | sed 's/-0 / /g; s/-0$//; s/-4096/-4KiB/g' >"$f"
  gnuplot -e "$common; set output '$out/latency_vs_granularity$sfx.png'; set title 'Round trip p50 per granularity ($dev, one group calling)'; set ylabel 'p50 (ns, log)'; set logscale y; set style data histograms; set style fill solid 0.8 border -1; set boxwidth 0.9; plot for [i=2:$(ncols "$f")] '$f' using i:xtic(1) title columnheader(i)"

  f=$d/tput.dat
  pivot "$csv" "$base;granularity=block;op~^(pread|pwrite)\$" bytes "executor op" mib_per_s >"$d/t1"
  pivot "$csv" "$base;granularity=block;executor=uring;op=pread" bytes "op" direct_mib_per_s | sed '1s/pread/cpu-thread-pread/' | cut -d' ' -f2- >"$d/t2"
  paste -d' ' "$d/t1" "$d/t2" >"$f"
  gnuplot -e "$common; set output '$out/throughput_vs_size$sfx.png'; set title 'Block-level throughput per transfer size ($dev, 2x64 grid)'; set xlabel 'bytes per call'; set ylabel 'MiB/s'; set logscale x 2; set xtics ('4K' 4096, '16K' 16384, '64K' 65536, '256K' 262144, '1M' 1048576); plot for [i=2:$(ncols "$f")] '$f' using 1:i with linespoints title columnheader(i)"

  f=$d/ord.dat
  pivot "$csv" "bench=io;device=$dev;blocking=blocking;op~^(pread|pwrite)\$;bytes~^(4096|65536)\$;granularity~^(warp|block|grid)\$" granularity "executor op bytes ordering" calls_per_s |
    awk 'NR == 1 { printf "%s", $1; for (i = 2; i <= NF; i++) if ($i ~ /-relaxed$/) { k = $i; sub(/-relaxed$/, "", k); r[k] = i; printf " %s", k; ord[++n] = k } print ""; for (i = 2; i <= NF; i++) if ($i ~ /-strong$/) { k = $i; sub(/-strong$/, "", k); st[k] = i } next }
         { printf "%s", $1; for (j = 1; j <= n; j++) { k = ord[j]; printf " %s", ((k in st) && $(st[k]) + 0 > 0 ? $(r[k]) / $(st[k]) : "NaN") } print "" }' |
    sed '1s/-4096/-4KiB/g; 1s/-65536/-64KiB/g' >"$f"
  gnuplot -e "$common; set output '$out/ordering_cost$sfx.png'; set title 'Cost of strong ordering: relaxed / strong throughput ($dev, 2x64 grid)'; set ylabel 'x (>1: strong costs)'; set style data histograms; set style fill solid 0.8 border -1; set boxwidth 0.9; set logscale y 2; plot for [i=2:$(ncols "$f")] '$f' using i:xtic(1) title columnheader(i), 1 with lines lc 'black' dt 2 notitle"

  f=$d/nb.dat
  pivot "$csv" "bench=io;device=$dev;ordering=relaxed;op=pread" bytes "executor granularity blocking" calls_per_s |
    awk 'NR == 1 { printf "%s", $1; for (i = 2; i <= NF; i++) if ($i ~ /-blocking$/) { k = $i; sub(/-blocking$/, "", k); b[k] = i; printf " %s", k; ord[++n] = k } print ""; for (i = 2; i <= NF; i++) if ($i ~ /-nonblocking$/) { k = $i; sub(/-nonblocking$/, "", k); nb[k] = i } next }
         { printf "%s", $1; for (j = 1; j <= n; j++) { k = ord[j]; printf " %s", ((k in nb) && $(b[k]) + 0 > 0 ? $(nb[k]) / $(b[k]) : "NaN") } print "" }' >"$f"
  gnuplot -e "$common; set output '$out/nonblocking_gain$sfx.png'; set title 'Non-blocking gain: pread throughput with gsys::post / blocking ($dev)'; set xlabel 'bytes per call'; set ylabel 'x (>1: posting wins)'; set logscale x 2; set logscale y 2; set xtics ('4K' 4096, '16K' 16384, '64K' 65536, '256K' 262144, '1M' 1048576); plot for [i=2:$(ncols "$f")] '$f' using 1:i with linespoints title columnheader(i), 1 with lines lc 'black' dt 2 notitle"

  f=$d/split.dat
  awk -F, -v dev="$dev" 'NR == 1 { for (i = 1; i <= NF; i++) ix[$i] = i; next }
      $(ix["bench"]) == "split" && $(ix["device"]) == dev {
        w = $(ix["workload"]) (($(ix["workload"]) == "dependent") ? "-r" $(ix["rounds"]) : "")
        if (!(w in seen)) { seen[w] = 1; order[++n] = w }
        e = $(ix["executor"]) ($(ix["executor_spin_ns"]) == "0" ? "-spin0" : "")
        g[w, e] = $(ix["genesys_mib_per_s"]); sp[w] += $(ix["split_mib_per_s"]); cpu[w] += $(ix["cpu_mib_per_s"]); cnt[w]++
      }
      END { split("sync uring sync-spin0 uring-spin0", es, " ")
            printf "workload"; for (j = 1; j <= 4; j++) printf " genesys-%s", es[j]; print " kernel-split cpu-only"
            for (i = 1; i <= n; i++) { w = order[i]; printf "%s", w; for (j = 1; j <= 4; j++) printf " %s", ((w, es[j]) in g ? g[w, es[j]] : "NaN"); printf " %.1f %.1f\n", sp[w] / cnt[w], cpu[w] / cnt[w] } }' "$csv" >"$f"
  gnuplot -e "$common; set output '$out/genesys_vs_split$sfx.png'; set title 'Block-level pread of 64 KiB chunks: genesys vs kernel split vs CPU only ($dev; split, cpu: mean of the runs)'; set ylabel 'MiB/s'; set style data histograms; set style fill solid 0.8 border -1; set boxwidth 0.9; set yrange [0:*]; plot for [i=2:7] '$f' using i:xtic(1) title columnheader(i)"

  f=$d/spin.dat
  pivot "$csv" "bench=host;device=$dev;kind=spin" spin_ns executor p50_ns >"$d/s1"
  pivot "$csv" "bench=host;device=$dev;kind=spin" spin_ns executor executor_cpu_pct | cut -d' ' -f2- | sed '1s/\([a-z]*\)/\1-cpu/g' >"$d/s2"
  paste -d' ' "$d/s1" "$d/s2" | awk 'NR == 1 { print; next } { $1 = ($1 == 0 ? 0.5 : $1 / 1000); print }' >"$f"
  n=$(ncols "$d/s1")
  gnuplot -e "$common; set output '$out/host_spin_curve$sfx.png'; set title 'Executor spin before sleeping: round trip vs host CPU at 10k calls/s ($dev; spin 0 drawn at 0.5 us)'; set xlabel 'executor spin (us, log)'; set logscale x; set ylabel 'round trip p50 (us, log)'; set logscale y; set y2label 'executor CPU (% of a core)'; set y2tics; set y2range [0:*]; plot for [i=2:$n] '$f' using 1:(column(i)/1000) with linespoints title columnheader(i).' p50', for [i=$((n + 1)):$(ncols "$f")] '$f' using 1:i axes x1y2 with linespoints dt 2 title columnheader(i)"

  if grep -q ',device_spin,' "$csv"; then
    f=$d/dspin.dat
    pivot "$csv" "bench=host;device=$dev;kind=device_spin" device_spin_ns executor p50_ns >"$d/d1"
    pivot "$csv" "bench=host;device=$dev;kind=device_spin" device_spin_ns executor device_cpu_pct | cut -d' ' -f2- | sed '1s/\([a-z]*\)/\1-device-cpu/g' >"$d/d2"
    paste -d' ' "$d/d1" "$d/d2" | awk 'NR == 1 { print; next } { $1 = $1 / 1000; print }' >"$f"
    n=$(ncols "$d/d1")
    gnuplot -e "$common; set output '$out/host_device_spin_curve$sfx.png'; set title 'Device spin at the minimum backoff: round trip vs simulated device CPU at 10k calls/s ($dev)'; set xlabel 'device spin (us, log)'; set logscale x; set ylabel 'round trip p50 (us, log)'; set logscale y; set y2label 'simulated device CPU (% of a core)'; set y2tics; set y2range [0:*]; plot for [i=2:$n] '$f' using 1:(column(i)/1000) with linespoints title columnheader(i).' p50', for [i=$((n + 1)):$(ncols "$f")] '$f' using 1:i axes x1y2 with linespoints dt 2 title columnheader(i)"
  fi

  f=$d/rate.dat
  pivot "$csv" "bench=host;device=$dev;kind=rate" target_calls_per_s executor slowdown_vs_generator_pct | sed '1s/ \([a-z]*\)/ \1-slowdown-vs-generator/g' >"$d/r1"
  pivot "$csv" "bench=host;device=$dev;kind=rate" target_calls_per_s executor executor_cpu_pct | cut -d' ' -f2- | sed '1s/\([a-z]*\)/\1-executor-cpu/g' >"$d/r2"
  paste -d' ' "$d/r1" "$d/r2" >"$f"
  gnuplot -e "$common; set output '$out/host_rate$sfx.png'; set title 'Host cost per call rate ($dev): co-runner slowdown and executor CPU'; set xlabel 'target calls/s (log)'; set logscale x; set ylabel '%'; plot for [i=2:$(ncols "$f")] '$f' using 1:i with linespoints title columnheader(i), 10 with lines lc 'black' dt 2 title 'slowdown target 10%'"
}

devices=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "device") d = i; next } { print $d }' "$csv" | sort -u)
while IFS= read -r dev; do
  [ -n "$dev" ] || continue
  sfx=""
  [ "$dev" = simulator ] || sfx="-$(echo "$dev" | tr -c 'A-Za-z0-9\n' '-')"
  plot_device "$dev" "$sfx"
done <<<"$devices"
echo "plots from ${csv#$root/} -> ${out#$root/}: $(cd "$out" && ls *.png | tr '\n' ' ')"
