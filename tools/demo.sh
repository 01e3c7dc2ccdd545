#!/usr/bin/env bash
# tools/demo.sh BUILD_DIR: runs the examples end to end on small real inputs
# and prints one summary table (called by `make demo`).
#
#   grep   gsys-grep -rn over this tree's sources vs  GNU grep -F -rn
#   wc     gsys-wc over the same files            vs  GNU wc
#   kv     gsys-kv under gsys-kv-bench load       vs  memcached -U under the same load
#   mmap   gsys-mmap over a generated 64 MiB file vs  the same reduction on the CPU
#   vlm    gsys-vlm prefill (checked against the CPU reference), then serve + one client request
#   vlm-bs gsys-vlm calibrate -> heads.json -> BlindSight prefill vs the same prefill dense
#
# Each row says whether the result matched the CPU tool (PASS/FAIL) and the
# throughput next to the CPU's. Exit status 1 if any check failed. On a
# machine with an NVIDIA GPU the -cuda builds run; otherwise the simulator.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" 2> /dev/null && pwd) || { echo "demo: no build directory '$1'" >&2; exit 2; }
export LC_ALL=C
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gsys-demo.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

GPU=0
command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1 && GPU=1

# The program to run: the CUDA build when there is a GPU and it was built.
program() {
  local p="$BUILD/examples/$1"
  if [ "$GPU" = 1 ] && [ -x "$p-cuda" ]; then echo "$p-cuda"; else echo "$p"; fi
}
for p in fs/gsys-grep fs/gsys-wc net/gsys-kv net/gsys-kv-bench mmap/gsys-mmap; do
  [ -x "$BUILD/examples/$p" ] || { echo "demo: $BUILD/examples/$p is missing: build first" >&2; exit 2; }
done

# field NAME FILE: a value from the last JSON line of FILE.
field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^,\"}]*\\).*/\\1/p" "$2" | tail -1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
rate() { awk -v bytes="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? bytes / 1e6 / s : 0) }'; }
# One decimal, or two significant digits under 0.1 (a slow simulated load
# read as "0.0 GB/s").
num() { awk -v x="${1:-0}" 'BEGIN { if (x != 0 && x < 0.1 && x > -0.1) printf "%.2g", x; else printf "%.1f", x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "n/a" }'; }

# wait_exit PID SECONDS: its exit status, or 124 (and killed) if it is still
# running after SECONDS.
wait_exit() {
  for _ in $(seq 1 $(($2 * 10))); do
    kill -0 "$1" 2> /dev/null || { wait "$1"; return $?; }
    sleep 0.1
  done
  kill -KILL "$1" 2> /dev/null
  wait "$1" 2> /dev/null
  return 124
}

ROWS=()
FAILED=0
# row EXAMPLE STATS_FILE CHECK THROUGHPUT BASELINE RATIO
row() {
  local device executor
  device=$(field device "$2")
  executor=$(field executor "$2")
  case "$device" in SIMT*) device="SIMT simulator" ;; "") device="?" ;; esac
  [ "$3" = PASS ] || FAILED=1
  ROWS+=("$(printf '%-6s %-16s %-9s %-6s %-18s %-24s %s' "$1" "$device" "${executor:-?}" "$3" "$4" "$5" "$6")")
}

echo "genesys demo: examples on $([ "$GPU" = 1 ] && echo "the GPU" || echo "the SIMT simulator") (build: $BUILD)"

# --- grep over the project's own sources --------------------------------
# A fixed input: the sources as committed (git archive HEAD), copied, so
# build outputs, bench/results and uncommitted edits never change what is
# searched and the numbers reproduce from a clean clone. Outside a git
# checkout: the same folders, less bench/results and build*/.
SRC=()
for d in include device libgenesys kmod examples tests tools docs bench; do [ -d "$ROOT/$d" ] && SRC+=("$d"); done
mkdir -p "$WORK/src"
if git -C "$ROOT" rev-parse --verify -q HEAD > /dev/null 2>&1; then
  git -C "$ROOT" archive HEAD -- "${SRC[@]}" ':(exclude)bench/results' | tar -x -C "$WORK/src"
  input="$(git -C "$ROOT" rev-parse --short HEAD)"
else
  (cd "$ROOT" && find "${SRC[@]}" -path bench/results -prune -o -name 'build*' -prune -o -type f -print0 |
    xargs -0 cp --parents -t "$WORK/src")
  input="the working tree"
fi
cd "$WORK/src"
SRC=()
for d in include device libgenesys kmod examples tests tools docs bench; do [ -d "$d" ] && SRC+=("$d"); done
echo "grep: searching ${SRC[*]} (sources of $input, bench/results left out) for 'gsys'"
t0=$(now); grep -F -rn gsys "${SRC[@]}" > "$WORK/grep.exp" 2> "$WORK/grep.exp.err"; want=$?; t1=$(now)
t2=$(now)
"$(program fs/gsys-grep)" -rn gsys "${SRC[@]}" --stats="$WORK/grep.json" > "$WORK/grep.got" 2> "$WORK/grep.got.err"
got=$?
t3=$(now)
sed -i 's/^grep: /gsys-grep: /' "$WORK/grep.exp.err"
check=FAIL
cmp -s "$WORK/grep.exp" "$WORK/grep.got" && cmp -s "$WORK/grep.exp.err" "$WORK/grep.got.err" && [ "$want" = "$got" ] && check=PASS
# Both timed from outside, start-up included.
bytes=$(field bytes "$WORK/grep.json")
ours=$(rate "${bytes:-0}" "$(elapsed "$t2" "$t3")")
cpu=$(rate "${bytes:-0}" "$(elapsed "$t0" "$t1")")
row grep "$WORK/grep.json" "$check" "$(num "$ours") MB/s" "grep: $cpu MB/s" "$(ratio "${ours:-0}" "$cpu")"
echo "  $(wc -l < "$WORK/grep.got") matching lines in $(field files "$WORK/grep.json") files, $bytes bytes"

# --- wc over the same files ---------------------------------------------
mapfile -t FILES < <(find "${SRC[@]}" -type f | sort)
t0=$(now); wc "${FILES[@]}" > "$WORK/wc.exp" 2>&1; t1=$(now)
t2=$(now); "$(program fs/gsys-wc)" "${FILES[@]}" --stats="$WORK/wc.json" > "$WORK/wc.got" 2>&1; t3=$(now)
check=FAIL
cmp -s "$WORK/wc.exp" "$WORK/wc.got" && check=PASS
ours=$(rate "$(field bytes "$WORK/wc.json")" "$(elapsed "$t2" "$t3")")
cpu=$(rate "$(field bytes "$WORK/wc.json")" "$(elapsed "$t0" "$t1")")
row wc "$WORK/wc.json" "$check" "$(num "$ours") MB/s" "wc: $cpu MB/s" "$(ratio "${ours:-0}" "$cpu")"
echo "wc: $(tail -1 "$WORK/wc.got")"

# --- the key-value server under load, and memcached under the same -------
BENCH=(--threads=4 --keys=1000 --value-size=100 --get-ratio=0.9 --duration=3)
"$(program net/gsys-kv)" --port=0 --capacity=4096 --max-value=4096 --port-file="$WORK/kv.port" --stats="$WORK/kv.json" > "$WORK/kv.log" 2>&1 &
KV=$!
PIDS+=("$KV")
for _ in $(seq 1 100); do [ -s "$WORK/kv.port" ] && break; sleep 0.1; done
check=FAIL
if [ -s "$WORK/kv.port" ]; then
  echo "kv: gsys-kv on port $(cat "$WORK/kv.port"), load: ${BENCH[*]}"
  "$(program net/gsys-kv-bench)" --server="127.0.0.1:$(cat "$WORK/kv.port")" --label=gsys-kv "${BENCH[@]}" --shutdown \
    > "$WORK/kv.bench" 2>&1 && bench_ok=1 || bench_ok=0
  tail -1 "$WORK/kv.bench" | sed 's/^/  /'
  wait_exit "$KV" 20
  kv_rc=$?
  [ "$kv_rc" = 0 ] && [ "$bench_ok" = 1 ] && check=PASS
  [ "$kv_rc" = 0 ] || echo "kv: gsys-kv did not stop cleanly (status $kv_rc)" >&2
else
  echo "kv: gsys-kv did not start:" >&2
  cat "$WORK/kv.log" >&2
fi
ours=$(field ops_per_s "$WORK/kv.bench" 2> /dev/null)
baseline="memcached: not installed"
mc_rate=0
if command -v memcached > /dev/null; then
  port=$((20000 + RANDOM % 20000))
  user=()
  [ "$(id -u)" -eq 0 ] && user=(-u root)
  memcached -U "$port" -p 0 -l 127.0.0.1 -t 2 "${user[@]}" > "$WORK/mc.log" 2>&1 &
  MC=$!
  PIDS+=("$MC")
  sleep 0.5
  if "$(program net/gsys-kv-bench)" --server="127.0.0.1:$port" --label=memcached "${BENCH[@]}" > "$WORK/mc.bench" 2>&1; then
    mc_rate=$(field ops_per_s "$WORK/mc.bench")
    baseline="memcached: $(num "$mc_rate") op/s"
  else
    baseline="memcached: failed"
  fi
  tail -1 "$WORK/mc.bench" | sed 's/^/  /'
  kill "$MC" 2> /dev/null
  wait "$MC" 2> /dev/null
fi
[ -s "$WORK/kv.json" ] || echo '{}' > "$WORK/kv.json"
row kv "$WORK/kv.json" "$check" "$(num "$ours") op/s" "$baseline" "$(ratio "${ours:-0}" "$mc_rate")"

# --- out-of-core reduction with and without giving memory back ----------
MM=(--window=1M --verify)
"$(program mmap/gsys-mmap)" --generate=64M "$WORK/data.bin" --release=none "${MM[@]}" --stats="$WORK/mmap-none.json" > /dev/null
none_rc=$?
"$(program mmap/gsys-mmap)" "$WORK/data.bin" --release=madvise "${MM[@]}" --stats="$WORK/mmap.json" > /dev/null
madv_rc=$?
rss_none=$(field peak_rss_kib "$WORK/mmap-none.json")
rss_madv=$(field peak_rss_kib "$WORK/mmap.json")
check=FAIL
[ "$none_rc" = 0 ] && [ "$madv_rc" = 0 ] && [ "$(field check "$WORK/mmap.json")" = pass ] &&
  [ "$(field check "$WORK/mmap-none.json")" = pass ] && [ "${rss_madv:-0}" -lt "${rss_none:-0}" ] && check=PASS
ours=$(field mb_per_s "$WORK/mmap.json")
cpu=$(field cpu_mb_per_s "$WORK/mmap.json")
row mmap "$WORK/mmap.json" "$check" "$(num "$ours") MB/s" "CPU pread: $(num "$cpu") MB/s" "$(ratio "${ours:-0}" "${cpu:-0}")"
echo "mmap: 64 MiB in 1 MiB windows: peak RSS ${rss_none:-?} KiB keeping windows, ${rss_madv:-?} KiB with madvise(MADV_DONTNEED)"

# --- VLM prefill: weights and images read by the GPU; served over UDP ----
# The small config (hidden 256, 4 layers, 4/2 heads) and 3 images of 256
# tokens: prefill checked against the fp64 CPU reference, then the same
# prompt through gsys-vlm serve (the GPU receives, prefills, replies) and
# one gsys-vlm client request, whose top-1 must be prefill's.
VLM=$(program vlm/gsys-vlm)
if [ -x "$VLM" ]; then
  V="$WORK/vlm"
  mkdir -p "$V"
  vlm_ok=0
  "$VLM" make-weights --preset=small --out="$V/m" > /dev/null &&
    "$VLM" make-prompt --model="$V/m" --images=3 --grid=1,32,32 --out="$V/p.json" > /dev/null &&
    "$VLM" prefill --model="$V/m" --prompt="$V/p.json" --check --top-k=1 --stats="$V/prefill.json" > "$V/prefill.log" &&
    vlm_ok=1
  top1=$(awk '/^top-1/ {getline; print $1}' "$V/prefill.log")
  "$VLM" serve --model="$V/m" --port=0 --data="$V" --requests=1 --log=- > "$V/serve.log" 2>&1 &
  SERVER=$!
  PIDS+=("$SERVER")
  port=
  for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$V/serve.log")
    [ -n "$port" ] || ! kill -0 "$SERVER" 2> /dev/null && break
    sleep 0.1
  done
  served=
  if [ -n "$port" ]; then
    "$VLM" client --port="$port" --prompt="$V/p.json" --top-k=1 --timeout=60 > "$V/client.log" 2>&1
    served=$(sed -n 's/^request 0: .*top \([0-9]*\) .*round trip \([0-9.]*\) ms/\1 \2/p' "$V/client.log")
  fi
  wait_exit "$SERVER" 10 > /dev/null
  check=FAIL
  ref="CPU fp64 ref: top-1 $(grep -q 'top-1 agrees' "$V/prefill.log" && echo same || echo DIFFERS)"
  [ "$vlm_ok" = 1 ] && [ -n "$top1" ] && [ "${served%% *}" = "$top1" ] && [ "${ref##* }" = same ] && check=PASS
  echo "vlm: $(field tokens "$V/prefill.json") tokens, $(field images "$V/prefill.json") images: weights and images read by" \
    "the GPU at $(num "$(field load_gbps "$V/prefill.json")") GB/s; prefill $(num "$(field gflops "$V/prefill.json")") GFLOP/s," \
    "logit error vs CPU fp64 $(field max_logit_err "$V/prefill.json"); served over UDP: top-1 ${served%% *} (prefill: $top1)," \
    "round trip ${served##* } ms"
  row vlm "$V/prefill.json" "$check" "$(num "$(field gflops "$V/prefill.json")") GFLOP/s" "$ref" "n/a"
fi

# --- BlindSight: calibrate -> heads.json -> block-sparse prefill ---------
# A planted model (heads with known behaviour, docs/blindsight.md), two
# calibration prompts, then a prompt of 8 images of 256 tokens run sparse
# and dense on the same device.
if [ -x "$VLM" ]; then
  BS="$WORK/bs"
  mkdir -p "$BS"
  bs_ok=0
  "$VLM" make-weights --preset=tiny --hidden=128 --plant --dtype=fp32 --out="$BS/m" > /dev/null &&
    "$VLM" make-prompt --model="$BS/m" --plant --images=3 --grid=1,16,16 --text=4 --seed=1 --out="$BS/c1.json" > /dev/null &&
    "$VLM" make-prompt --model="$BS/m" --plant --images=5 --grid=1,8,8 --grid=1,16,12 --text=9 --seed=2 --out="$BS/c2.json" > /dev/null &&
    "$VLM" make-prompt --model="$BS/m" --plant --images=8 --grid=1,32,32 --text=8 --seed=3 --out="$BS/e.json" > /dev/null &&
    "$VLM" calibrate --model="$BS/m" --prompt="$BS/c1.json" --prompt="$BS/c2.json" --out="$BS/heads.json" > "$BS/calibrate.log" &&
    "$VLM" prefill --model="$BS/m" --prompt="$BS/e.json" --heads="$BS/heads.json" --stats="$BS/bs.json" > "$BS/prefill.log" &&
    bs_ok=1
  recovered=$(sed -n 's/^planted: \(.*\) heads recovered/\1/p' "$BS/calibrate.log")
  saved=$(awk -v x="$(field attn_flops_saved "$BS/bs.json")" 'BEGIN { printf "%.1f", 100 * x }')
  psaved=$(awk -v x="$(field prefill_flops_saved "$BS/bs.json")" 'BEGIN { printf "%.1f", 100 * x }')
  check=FAIL
  [ "$bs_ok" = 1 ] && [ "$(field top1_agrees "$BS/bs.json")" = 1 ] && [ -n "$recovered" ] &&
    [ "${recovered%% of *}" = "${recovered##* of }" ] && check=PASS
  speedup=$(ratio "$(field dense_attn_kernel_s "$BS/bs.json")" "$(field attn_kernel_s "$BS/bs.json")")
  echo "blindsight: planted heads recovered: ${recovered:-?}; attention FLOPs saved $saved%, prefill FLOPs saved $psaved%," \
    "next token $([ "$(field top1_agrees "$BS/bs.json")" = 1 ] && echo agrees || echo DIFFERS) with dense, attention $speedup faster"
  row vlm-bs "$BS/bs.json" "$check" "attn FLOPs -$saved%" "dense: top-1 $([ "$(field top1_agrees "$BS/bs.json")" = 1 ] && echo agrees || echo differs)" "$speedup"
fi

# --- summary ------------------------------------------------------------
echo
printf '%-6s %-16s %-9s %-6s %-18s %-24s %s\n' example device executor check throughput "CPU baseline" ratio
printf '%s\n' "------ ---------------- --------- ------ ------------------ ------------------------ -----"
printf '%s\n' "${ROWS[@]}"
if [ "$FAILED" != 0 ]; then
  echo "demo: some checks FAILED" >&2
  exit 1
fi
echo "demo: all checks passed"
