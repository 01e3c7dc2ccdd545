#!/usr/bin/env bash
# Draws the BlindSight plots (PNG, gnuplot) from one gsys-blindsight-bench run:
#   blindsight_attention_time  CPU attention time vs sequence length, dense and
#                              block-sparse (the calibrated categories of one layer)
#   blindsight_categories      per-layer histogram of the calibrated head categories
#
# usage: bench/blindsight_plot.sh [JSONL] [OUT_DIR]   (defaults: the newest
#        bench/results/blindsight-*.jsonl and its -heads.json, docs/plots)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
jsonl=${1:-$(ls -t "$root"/bench/results/blindsight-*.jsonl 2>/dev/null | head -n 1)}
out=${2:-$root/docs/plots}
[ -n "$jsonl" ] && [ -f "$jsonl" ] || { echo "blindsight_plot.sh: no bench/results/blindsight-*.jsonl; run gsys-blindsight-bench first" >&2; exit 1; }
heads=${jsonl%.jsonl}-heads.json
command -v gnuplot >/dev/null || { echo "blindsight_plot.sh: gnuplot is missing (make deps)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# tokens dense_s sparse_s flop_ratio, one line per length (the last run's lines win).
python3 - "$jsonl" "$tmp/time.dat" <<'EOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") == "cpu_attention":
        rows[r["tokens"]] = (r["dense_s"], r["sparse_s"], r["flop_ratio"], r["host"])
with open(sys.argv[2], "w") as f:
    for t in sorted(rows):
        d, s, fr, _ = rows[t]
        f.write(f"{t} {d} {s} {d * fr}\n")
EOF
gnuplot <<EOF
set terminal pngcairo size 800,500 noenhanced
set output "$out/blindsight_attention_time.png"
set title "CPU attention time, dense vs BlindSight (8 images; one layer: 4 heads, head_dim 64)"
set xlabel "tokens"
set ylabel "seconds"
set key top left
set grid
plot "$tmp/time.dat" using 1:2 with linespoints title "dense", \
     "$tmp/time.dat" using 1:3 with linespoints title "BlindSight (block-sparse)", \
     "$tmp/time.dat" using 1:4 with lines dashtype 2 title "dense x FLOPs ratio"
EOF

if [ -f "$heads" ]; then
  python3 - "$heads" "$tmp/cats.dat" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
names = ["dense", "sink", "intra", "intra+sink"]
with open(sys.argv[2], "w") as f:
    for l, row in enumerate(t["categories"]):
        f.write(str(l) + " " + " ".join(str(row.count(n)) for n in names) + "\n")
EOF
  gnuplot <<EOF
set terminal pngcairo size 800,500 noenhanced
set output "$out/blindsight_categories.png"
set title "Calibrated head categories per layer (planted model)"
set style data histograms
set style histogram rowstacked
set style fill solid 0.8 border -1
set boxwidth 0.7
set xlabel "layer"
set ylabel "heads"
set key outside right
plot "$tmp/cats.dat" using 2:xtic(1) title "dense", "" using 3 title "sink", "" using 4 title "intra", "" using 5 title "intra+sink"
EOF
fi
echo "plots in $out: blindsight_attention_time.png$([ -f "$heads" ] && echo ", blindsight_categories.png")"
