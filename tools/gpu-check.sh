#!/usr/bin/env bash
# tools/gpu-check.sh [options] [BUILD_DIR]: the one GPU check. Run it on a
# machine with an NVIDIA GPU, from a build directory made anywhere with nvcc
# (default: build); it needs no network and installs nothing.
#
#   info      genesys info --json: the CUDA runtime sees the GPU nvidia-smi sees
#   tests     every *_cuda test binary of the build (GoogleTest on the GPU)
#   bench     gsys-ring-bench-cuda for each granularity (thread, warp, block,
#             grid): nop, getppid and 4 KiB pread, every executor available
#   examples  the examples' ctest cases (tests/examples/*_test.sh) with the
#             -cuda builds of gsys-grep, gsys-wc, gsys-kv and gsys-mmap
#   demo      tools/demo.sh, which runs the -cuda examples when a GPU is there
#
# Each item has a timeout, and the whole check a budget (default 450 s, so
# it ends within 8 minutes); items left when it runs out are skipped and the
# check fails. Prints one table (PASS/FAIL/SKIP, seconds, a note per item)
# and writes bench/results/gpu-check-<date>.jsonl: first line the GPU
# (nvidia-smi) and `genesys info --json`, then one line per item, the ring
# benchmark's own lines, and a summary line. Item logs: BUILD/gpu-check-<date>/.
#
# Options:
#   --out FILE     the JSON lines file (default bench/results/gpu-check-<date>.jsonl)
#   --logs DIR     the item logs (default BUILD_DIR/gpu-check-<date>)
#   --budget S     seconds for the whole check (default 450)
#   -h, --help     this text
# Environment: NVIDIA_SMI, the nvidia-smi to ask (default: nvidia-smi in PATH).
#
# Exit status: 0 all passed; 1 something failed, timed out or was not run;
# 2 no GPU (nvidia-smi missing or sees no device) or a bad argument.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STAMP=$(date +%Y%m%d-%H%M%S)
BUILD=build
OUT=
LOGS=
BUDGET=450
usage() { sed -n '2,/^# 2 no GPU/s/^# \{0,1\}//p' "$0"; }
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --out) OUT=${2:?--out wants a file}; shift ;;
    --logs) LOGS=${2:?--logs wants a directory}; shift ;;
    --budget) BUDGET=${2:?--budget wants seconds}; shift ;;
    -*) echo "gpu-check: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) BUILD=$1 ;;
  esac
  shift
done
case $BUDGET in '' | *[!0-9]*) echo "gpu-check: --budget wants whole seconds, not '$BUDGET'" >&2; exit 2 ;; esac
GIVEN=$BUILD
BUILD=$(cd "$GIVEN" 2> /dev/null && pwd) || { echo "gpu-check: no build directory '$GIVEN'" >&2; exit 2; }
export LC_ALL=C

# --- the GPU, as the driver sees it ---------------------------------------
SMI=${NVIDIA_SMI:-nvidia-smi}
if ! command -v "$SMI" > /dev/null 2>&1; then
  echo "gpu-check: no GPU: $SMI not found (no NVIDIA driver on this machine); nothing checked" >&2
  exit 2
fi
if ! GPUS=$("$SMI" --query-gpu=name,driver_version,pci.bus_id --format=csv,noheader 2> /dev/null) || [ -z "$GPUS" ]; then
  echo "gpu-check: no GPU: $SMI sees no device; nothing checked" >&2
  exit 2
fi
NGPUS=$(printf '%s\n' "$GPUS" | wc -l)
IFS=, read -r GPU_NAME GPU_DRIVER GPU_BUS <<< "$(printf '%s\n' "$GPUS" | head -n 1)"
trim() { sed 's/^ *//; s/ *$//' <<< "$1"; }
GPU_NAME=$(trim "$GPU_NAME") GPU_DRIVER=$(trim "$GPU_DRIVER") GPU_BUS=$(trim "$GPU_BUS")

OUT=${OUT:-$ROOT/bench/results/gpu-check-$STAMP.jsonl}
LOGS=${LOGS:-$BUILD/gpu-check-$STAMP}
mkdir -p "$(dirname "$OUT")" "$LOGS" || exit 2
: > "$OUT" || exit 2  # written from the top: a killed run still names its GPU

now() { date +%s.%N; }
START=$(now)
# left: whole seconds of the budget still unspent.
left() { awk -v s="$START" -v n="$(now)" -v b="$BUDGET" 'BEGIN { printf "%d", b - (n - s) }'; }
json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

# --- items ----------------------------------------------------------------
ROWS=()
PASSED=0 FAILED=0 SKIPPED=0 UNRUN=0
# item NAME KIND STATUS SECONDS RC NOTE: one row of the table, one JSON line.
item() {
  case $3 in PASS) PASSED=$((PASSED + 1)) ;; FAIL) FAILED=$((FAILED + 1)) ;; *) SKIPPED=$((SKIPPED + 1)) ;; esac
  ROWS+=("$(printf '%-34s %-4s %7s  %s' "$1" "$3" "$4" "$6")")
  printf '{"check":"item","item":%s,"kind":"%s","status":"%s","seconds":%s,"rc":%s,"note":%s}\n' \
    "$(json_str "$1")" "$2" "$3" "$4" "$5" "$(json_str "$6")" >> "$OUT"
  printf '  %-34s %s (%s s)\n' "$1" "$3" "$4"  # progress; the notes come in the table
}

# run NAME KIND TIMEOUT NOTE_FN COMMAND...: runs COMMAND with its output in
# LOGS/NAME.log, for at most TIMEOUT seconds (less if the budget is nearly
# spent), and records it: exit 0 PASS, 77 SKIP, anything else FAIL.
# NOTE_FN LOG prints a note for a run that did not time out.
run() {
  local name=$1 kind=$2 limit=$3 note_fn=$4
  shift 4
  local log=$LOGS/$name.log budget rc t0 secs note
  budget=$(left)
  if [ "$budget" -lt 10 ]; then
    UNRUN=$((UNRUN + 1))
    item "$name" "$kind" SKIP 0.0 -1 "not run: the ${BUDGET} s budget is spent"
    return
  fi
  [ "$limit" -le "$budget" ] || limit=$budget
  t0=$(now)
  timeout --kill-after=10 "$limit" "$@" > "$log" 2>&1 < /dev/null
  rc=$?
  secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
  if [ $rc = 124 ] || [ $rc = 137 ]; then
    item "$name" "$kind" FAIL "$secs" "$rc" "timed out after $limit s (log: $log)"
    return
  fi
  note=$("$note_fn" "$log")
  case $rc in
    0) item "$name" "$kind" PASS "$secs" 0 "$note" ;;
    77) item "$name" "$kind" SKIP "$secs" 77 "$(last_line "$log")" ;;
    *) item "$name" "$kind" FAIL "$secs" "$rc" "exit $rc: $(last_line "$log") (log: $log)" ;;
  esac
}

# The last line of a log, without a leading "/path/to/program: ".
last_line() { grep -v '^[[:space:]]*$' "$1" | tail -n 1 | sed 's|^/[^ ]*: ||' | cut -c1-100; }
# gtest's "[  PASSED  ] 12 tests." as "12 tests passed".
gtest_note() { sed -n 's/^\[  PASSED  \] \([0-9]* tests\{0,1\}\).*/\1 passed/p' "$1" | tail -n 1; }
# The example scripts end with "all N checks passed".
checks_note() { grep -o 'all [0-9]* checks passed' "$1" | tail -n 1; }
# The ring benchmark: p50 and calls/s of the relaxed nop per executor.
bench_note() {
  awk '/"op":"nop"/ && /"ordering":"relaxed"/ {
         e = $0; sub(/.*"executor":"/, "", e); sub(/".*/, "", e)
         p = $0; sub(/.*"p50_ns":/, "", p); sub(/[,}].*/, "", p)
         c = $0; sub(/.*"calls_per_s":/, "", c); sub(/[,}].*/, "", c)
         printf "%s%s nop p50 %.2f us, %.2f M/s", (n++ ? "; " : ""), e, p / 1000, c / 1e6 }' "$1"
}
# demo.sh's table: example, device, executor, check (fixed columns).
demo_note() {
  grep -E '^(grep|wc|kv|mmap) ' "$1" |
    awk '{ c = substr($0, 35, 6); gsub(/ /, "", c); d = substr($0, 8, 16); sub(/ *$/, "", d)
           printf "%s%s %s", (n++ ? ", " : ""), $1, c } END { if (n) printf " (%s)", d }'
}

echo "gpu-check: $GPU_NAME (driver $GPU_DRIVER, $GPU_BUS; $NGPUS GPU(s)), build $BUILD, budget $BUDGET s"

# info_field KEY: the first value of KEY in $INFO (GPU 0's for a GPU's key).
info_field() { grep -o "\"$1\":\"\{0,1\}[^,\"}]*" <<< "$INFO" | head -n 1 | sed 's/^"[^"]*":"\{0,1\}//'; }

# info: what genesys itself sees; the first JSON line carries it.
INFO=null INFO_STATUS=SKIP INFO_NOTE="$BUILD/tools/genesys is not built" INFO_SECS=0.0
CUDA_SEES_GPU=unknown
CLI=$BUILD/tools/genesys
if [ -x "$CLI" ]; then
  t0=$(now)
  INFO_OUT=$(timeout 60 "$CLI" info --json 2> "$LOGS/info.log")
  INFO_SECS=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
  INFO_STATUS=FAIL
  if [ "${INFO_OUT:0:1}" != "{" ]; then
    INFO_NOTE="genesys info --json failed (log: $LOGS/info.log)"
  elif INFO=$INFO_OUT && grep -q '"backend":"cuda"' <<< "$INFO"; then
    CUDA_SEES_GPU=yes INFO_STATUS=PASS
    INFO_NOTE="host-native atomics: $(info_field host_native_atomics | sed 's/true/yes/; s/false/no/'), link $(info_field link_speed) x$(info_field link_width), executor $(info_field executor)"
  elif grep -q '"cuda_build":true' <<< "$INFO"; then
    CUDA_SEES_GPU=no
    INFO_NOTE="nvidia-smi sees a GPU, the CUDA runtime does not: $(sed -n 's/.*"no_device":"\([^"]*\)".*/\1/p' <<< "$INFO")"
  else
    INFO_NOTE="$CLI was built without CUDA (configure with nvcc)"
  fi
fi
printf '{"check":"gpu-check","date":"%s","host":%s,"build":%s,"gpus":%s,' "$STAMP" "$(json_str "$(hostname)")" \
  "$(json_str "$BUILD")" "$NGPUS" > "$OUT"
printf '"gpu":{"name":%s,"driver_version":%s,"pci_bus_id":%s},"info":%s}\n' "$(json_str "$GPU_NAME")" \
  "$(json_str "$GPU_DRIVER")" "$(json_str "$GPU_BUS")" "$INFO" >> "$OUT"
case $INFO_STATUS in PASS) rc=0 ;; FAIL) rc=1 ;; *) rc=-1 ;; esac
item info info "$INFO_STATUS" "$INFO_SECS" "$rc" "$INFO_NOTE"

# GPU work that cannot start without a device is not attempted.
no_cuda_device() {
  [ "$CUDA_SEES_GPU" = no ] || return 1
  item "$1" "$2" SKIP 0.0 -1 "not run: the CUDA runtime sees no device"
}

# tests: every *_cuda binary (tests/CMakeLists.txt, gsys_test ... CUDA).
mapfile -t TESTS < <(find "$BUILD/tests" -type f -name '*_cuda' -perm -u+x 2> /dev/null | sort)
if [ ${#TESTS[@]} -eq 0 ]; then
  item tests test FAIL 0.0 1 "no *_cuda test binaries in $BUILD/tests (configured without nvcc?)"
fi
for t in "${TESTS[@]}"; do
  run "$(basename "$t")" test 150 gtest_note "$t"
done

# bench: the ring on the GPU, one run per granularity.
BENCH=$BUILD/bench/gsys-ring-bench-cuda
BENCH_OUT=$LOGS/ring-bench.jsonl
: > "$BENCH_OUT"
for g in thread warp block grid; do
  if [ ! -x "$BENCH" ]; then
    item "ring-bench.$g" bench SKIP 0.0 -1 "$BENCH is not built"
  elif ! no_cuda_device "ring-bench.$g" bench; then
    # Fewer throughput calls than make bench: the full grid makes 10 calls
    # per group, enough to time on a GPU, and a slow ring still ends in time.
    run "ring-bench.$g" bench 120 bench_note "$BENCH" --gran "$g" --ops nop,getppid,pread4k \
      --iters 1000 --tput-iters 10 --out "$BENCH_OUT"
  fi
done

# examples: the ctest cases of tests/examples, with the -cuda programs.
example_cmd() {  # example_cmd EXAMPLE CASE: the test command, or nothing
  local t=$ROOT/tests/examples e=$BUILD/examples
  case $1 in
    grep) echo "$t/grep_test.sh" "$e/fs/gsys-grep-cuda" "$2" ;;
    wc) echo "$t/wc_test.sh" "$e/fs/gsys-wc-cuda" "$2" ;;
    kv) echo "$t/kv_test.sh" "$e/net/gsys-kv-cuda" "$BUILD/tests/examples/kv-check" "$e/net/gsys-kv-bench" "$2" ;;
    mmap) echo "$t/mmap_test.sh" "$e/mmap/gsys-mmap-cuda" "$2" ;;
  esac
}
mapfile -t CASES < <(sed -n 's/^add_test(\[=\[examples\.\([a-z]*\)\.\([a-z_]*\)\]=\].*/\1 \2/p' \
  "$BUILD/tests/examples/CTestTestfile.cmake" 2> /dev/null)
[ ${#CASES[@]} -gt 0 ] || item examples example SKIP 0.0 -1 "no example tests in $BUILD/tests/examples"
for c in "${CASES[@]}"; do
  read -r ex case_name <<< "$c"
  read -r -a cmd <<< "$(example_cmd "$ex" "$case_name")"
  if [ ${#cmd[@]} -eq 0 ]; then
    item "examples.$ex.$case_name" example FAIL 0.0 1 "gpu-check does not know example '$ex'"
  elif [ ! -x "${cmd[1]}" ]; then
    item "examples.$ex.$case_name" example SKIP 0.0 -1 "${cmd[1]#"$BUILD"/} is not built"
  elif ! no_cuda_device "examples.$ex.$case_name" example; then
    run "examples.$ex.$case_name" example 120 checks_note bash "${cmd[@]}"
  fi
done

# demo: end to end on the GPU (demo.sh picks the -cuda programs itself).
if [ ! -x "$BUILD/examples/fs/gsys-grep-cuda" ]; then
  item demo demo SKIP 0.0 -1 "the -cuda examples are not built"
elif ! no_cuda_device demo demo; then
  run demo demo 120 demo_note "$ROOT/tools/demo.sh" "$BUILD"
fi

# --- summary --------------------------------------------------------------
TOTAL=$(awk -v a="$START" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
STATUS=PASS
[ "$FAILED" = 0 ] && [ "$UNRUN" = 0 ] && [ "$PASSED" -gt 0 ] || STATUS=FAIL
cat "$BENCH_OUT" >> "$OUT"
printf '{"check":"summary","status":"%s","pass":%d,"fail":%d,"skip":%d,"seconds":%s}\n' \
  "$STATUS" "$PASSED" "$FAILED" "$SKIPPED" "$TOTAL" >> "$OUT"
echo
echo "gpu-check: $GPU_NAME, driver $GPU_DRIVER"
printf '%-34s %-4s %7s  %s\n' item check seconds note
printf '%s\n' "---------------------------------- ---- -------  ----"
printf '%s\n' "${ROWS[@]}"
echo
echo "gpu-check: $PASSED passed, $FAILED failed, $SKIPPED skipped in $TOTAL s; results: $OUT; logs: $LOGS"
if [ "$STATUS" != PASS ]; then
  [ "$UNRUN" = 0 ] || echo "gpu-check: $UNRUN item(s) not run: the budget ran out" >&2
  [ "$PASSED" -gt 0 ] || echo "gpu-check: nothing passed on the GPU" >&2
  echo "gpu-check: FAILED" >&2
  exit 1
fi
echo "gpu-check: all passed"
