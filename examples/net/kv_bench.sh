#!/usr/bin/env bash
# examples/net/kv_bench.sh BUILD_DIR [--duration S] [--threads N] [--out FILE]
#
# gsys-kv (warp and block granularity) and memcached -U under the same
# gsys-kv-bench loads, one after the other on free ports: the JSON lines go to
# stdout (and are appended to --out), then a table. Two mixes: "get90" (90%
# single-key GETs of 100-byte values) and "mget8-memcslap" (GETs of 8 keys at
# once, value sizes drawn from 1 to 4999 bytes as memcslap's). On a machine
# with an NVIDIA GPU the gsys-kv-cuda build serves; otherwise the simulator.
set -u
BUILD=${1:?usage: kv_bench.sh BUILD_DIR [--duration S] [--threads N] [--out FILE]}
shift
DURATION=5
THREADS=4
OUT=
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "kv_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
KV=$BUILD/examples/net/gsys-kv
BENCH=$BUILD/examples/net/gsys-kv-bench
command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1 && [ -x "$KV-cuda" ] && KV=$KV-cuda
[ -x "$KV" ] && [ -x "$BENCH" ] || { echo "kv_bench.sh: build $BUILD first" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gsys-kv-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
LOAD=(--threads="$THREADS" --keys=2000 --get-ratio=0.9 --duration="$DURATION")
MIXES="get90 mget8-memcslap"
status=0

# mix_args MIX: the gsys-kv-bench options of a mix.
mix_args() {
  case $1 in
    get90) echo --value-size=100 ;;
    mget8-memcslap) echo --value-size=memcslap --multiget=8 ;;
  esac
}

# run LABEL SERVER [--shutdown]: every mix against one server, the JSON lines kept.
run() {
  local mix last=
  for mix in $MIXES; do
    [ "$mix" = "${MIXES##* }" ] && last=${3:-}
    # shellcheck disable=SC2046
    "$BENCH" --server="$2" --label="$1/$mix" "${LOAD[@]}" $(mix_args "$mix") ${last:+"$last"} > "$WORK/$1-$mix.out" 2>&1 || status=1
    head -1 "$WORK/$1-$mix.out"
    [ -n "$OUT" ] && head -1 "$WORK/$1-$mix.out" >> "$OUT"
  done
}

for gran in warp block; do
  rm -f "$WORK/port"
  "$KV" --port=0 --port-file="$WORK/port" --capacity=4096 --max-value=8192 --granularity=$gran > "$WORK/kv-$gran.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
  [ -s "$WORK/port" ] || { cat "$WORK/kv-$gran.log" >&2; exit 1; }
  run "gsys-kv-$gran" "127.0.0.1:$(cat "$WORK/port")" --shutdown
  wait "$pid" || status=1
done
if command -v memcached > /dev/null; then
  port=$((20000 + RANDOM % 20000))
  user=()
  [ "$(id -u)" -eq 0 ] && user=(-u root)
  memcached -U "$port" -p 0 -l 127.0.0.1 "${user[@]}" > "$WORK/mc.log" 2>&1 &
  pid=$!
  sleep 0.5
  run memcached "127.0.0.1:$port"
  kill "$pid"
  wait "$pid" 2> /dev/null
else
  echo "kv_bench.sh: memcached is not installed: no baseline (tools/deps.sh installs it)" >&2
fi
echo
for f in "$WORK"/*.out; do sed -n 2p "$f"; done
exit $status
