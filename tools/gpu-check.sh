#!/usr/bin/env bash
# tools/gpu-check.sh [options] [BUILD_DIR]: the one GPU check. Run it on a
# machine with an NVIDIA GPU, from a build directory made anywhere with nvcc
# (default: build), or from the bundle tools/gpu-bundle.sh makes of one (small
# enough to send, with the shared libraries a CUDA machine may lack, in
# BUILD_DIR/lib); it needs no network and installs nothing.
#
#   info      genesys info --json: the CUDA runtime sees the GPU nvidia-smi sees
#   tests     every *_cuda test binary of the build (GoogleTest on the GPU)
#   bench     gsys-ring-bench-cuda for each granularity (thread, warp, block,
#             grid): nop, getppid and 4 KiB pread, every executor available
#   examples  the examples' ctest cases, as the build configured them
#             (tests/examples/CMakeLists.txt), with each example program
#             replaced by its -cuda build; a case that runs no device code
#             is skipped
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
#   --only REGEX   run only the items whose name matches REGEX (grep -E), e.g.
#                  to rerun what failed; info always runs
#   --rehearse     no GPU needed: every item runs its simulator build instead
#                  of the -cuda one (the same tests, benchmark and example
#                  cases), so that the check itself is tried before a GPU
#                  run; results go to the logs directory, never bench/results
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
ONLY=
REHEARSE=0
usage() { sed -n '2,/^# 2 no GPU/s/^# \{0,1\}//p' "$0"; }
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --out) OUT=${2:?--out wants a file}; shift ;;
    --logs) LOGS=${2:?--logs wants a directory}; shift ;;
    --budget) BUDGET=${2:?--budget wants seconds}; shift ;;
    --only) ONLY=${2:?--only wants a regular expression}; shift ;;
    --rehearse) REHEARSE=1 ;;
    -*) echo "gpu-check: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) BUILD=$1 ;;
  esac
  shift
done
case $BUDGET in '' | *[!0-9]*) echo "gpu-check: --budget wants whole seconds, not '$BUDGET'" >&2; exit 2 ;; esac
GIVEN=$BUILD
BUILD=$(cd "$GIVEN" 2> /dev/null && pwd) || { echo "gpu-check: no build directory '$GIVEN'" >&2; exit 2; }
export LC_ALL=C
# A bundle's libraries (tools/gpu-bundle.sh) come before the machine's.
[ ! -d "$BUILD/lib" ] || export LD_LIBRARY_PATH="$BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# --- the GPU, as the driver sees it ---------------------------------------
SMI=${NVIDIA_SMI:-nvidia-smi}
if [ "$REHEARSE" = 1 ]; then
  GPUS="none (rehearsal on the simulator),,"
elif ! command -v "$SMI" > /dev/null 2>&1; then
  echo "gpu-check: no GPU: $SMI not found (no NVIDIA driver on this machine); nothing checked" >&2
  exit 2
elif ! GPUS=$("$SMI" --query-gpu=name,driver_version,pci.bus_id --format=csv,noheader 2> /dev/null) || [ -z "$GPUS" ]; then
  echo "gpu-check: no GPU: $SMI sees no device; nothing checked" >&2
  exit 2
fi
NGPUS=$(printf '%s\n' "$GPUS" | wc -l)
[ "$REHEARSE" = 0 ] || NGPUS=0
IFS=, read -r GPU_NAME GPU_DRIVER GPU_BUS <<< "$(printf '%s\n' "$GPUS" | head -n 1)"
trim() { sed 's/^ *//; s/ *$//' <<< "$1"; }
GPU_NAME=$(trim "$GPU_NAME") GPU_DRIVER=$(trim "$GPU_DRIVER") GPU_BUS=$(trim "$GPU_BUS")

if [ "$REHEARSE" = 1 ]; then
  LOGS=${LOGS:-$BUILD/gpu-check-rehearsal-$STAMP}
  OUT=${OUT:-$LOGS/gpu-check.jsonl}
else
  LOGS=${LOGS:-$BUILD/gpu-check-$STAMP}
  OUT=${OUT:-$ROOT/bench/results/gpu-check-$STAMP.jsonl}
fi
mkdir -p "$(dirname "$OUT")" "$LOGS" || exit 2
: > "$OUT" || exit 2  # written from the top: a killed run still names its GPU

now() { date +%s.%N; }
START=$(now)
# left: whole seconds of the budget still unspent.
left() { awk -v s="$START" -v n="$(now)" -v b="$BUDGET" 'BEGIN { printf "%d", b - (n - s) }'; }
json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

# --- items ----------------------------------------------------------------
# wanted NAME: the item is asked for (--only); info always is.
wanted() { [ -z "$ONLY" ] || [ "$1" = info ] || grep -Eq -- "$ONLY" <<< "$1"; }
# gpu_build PATH: the build of PATH to run: its -cuda or _cuda build (given
# whole), or in a rehearsal the simulator build that PATH's name without the
# suffix names.
gpu_build() {
  if [ "$REHEARSE" = 1 ]; then printf '%s' "${1%[-_]cuda}"; else printf '%s' "$1"; fi
}
ROWS=()
PASSED=0 FAILED=0 SKIPPED=0 UNRUN=0
# item NAME KIND STATUS SECONDS RC NOTE: one row of the table, one JSON line.
item() {
  wanted "$1" || return 0
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
  wanted "$name" || return 0
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
# The example scripts end with "all N checks passed" (gsys-vlm's with their own line).
checks_note() { grep -o 'all [0-9]* checks passed' "$1" | tail -n 1 | grep . || last_line "$1"; }
# The ring benchmark: p50 and calls/s of the relaxed nop per executor.
bench_note() {
  awk '/"op":"nop"/ && /"ordering":"relaxed"/ {
         e = $0; sub(/.*"executor":"/, "", e); sub(/".*/, "", e)
         p = $0; sub(/.*"p50_ns":/, "", p); sub(/[,}].*/, "", p)
         c = $0; sub(/.*"calls_per_s":/, "", c); sub(/[,}].*/, "", c)
         printf "%s%s nop p50 %.2f us, %.2f M/s", (n++ ? "; " : ""), e, p / 1000, c / 1e6 }' "$1"
}
# demo.sh's table (the rows under its dashes): example, device, executor,
# check, in fixed columns.
demo_note() {
  awk '/^------ / { rows = 1; next } rows && /^demo:/ { rows = 0 }
       rows && NF { c = substr($0, 35, 6); gsub(/ /, "", c); d = substr($0, 8, 16); sub(/ *$/, "", d)
                    printf "%s%s %s", (n++ ? ", " : ""), $1, c } END { if (n) printf " (%s)", d }' "$1"
}

if [ "$REHEARSE" = 1 ]; then
  echo "gpu-check: rehearsal on the simulator (no GPU used), build $BUILD, budget $BUDGET s"
else
  echo "gpu-check: $GPU_NAME (driver $GPU_DRIVER, $GPU_BUS; $NGPUS GPU(s)), build $BUILD, budget $BUDGET s"
fi

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
  elif INFO=$INFO_OUT && [ "$REHEARSE" = 1 ]; then
    INFO_STATUS=PASS INFO_NOTE="rehearsal: $(info_field device), executor $(info_field executor)"
  elif grep -q '"backend":"cuda"' <<< "$INFO"; then
    CUDA_SEES_GPU=yes INFO_STATUS=PASS
    INFO_NOTE="host-native atomics: $(info_field host_native_atomics | sed 's/true/yes/; s/false/no/'), link $(info_field link_speed) x$(info_field link_width), executor $(info_field executor)"
  elif grep -q '"cuda_build":true' <<< "$INFO"; then
    CUDA_SEES_GPU=no
    INFO_NOTE="nvidia-smi sees a GPU, the CUDA runtime does not: $(sed -n 's/.*"no_device":"\([^"]*\)".*/\1/p' <<< "$INFO")"
  else
    INFO_NOTE="$CLI was built without CUDA (configure with nvcc)"
  fi
fi
printf '{"check":"gpu-check","date":"%s","host":%s,"build":%s,"rehearsal":%s,"gpus":%s,' "$STAMP" \
  "$(json_str "$(hostname)")" "$(json_str "$BUILD")" "$([ "$REHEARSE" = 1 ] && echo true || echo false)" "$NGPUS" > "$OUT"
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
  run "$(basename "$t")" test 150 gtest_note "$(gpu_build "$t")"
done

# bench: the ring on the GPU, one run per granularity.
BENCH=$(gpu_build "$BUILD/bench/gsys-ring-bench-cuda")
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

# examples: the ctest cases named examples.*, wherever the build defines
# them (tests/examples, tests/vlm), as it configured them, so that this runs what make test runs (a copy
# of their command lines here went stale: kv's diff cases lost their
# kv-diff argument, and "kv.parse" became a kv_test.sh case that does not
# exist). Each example program with a -cuda build is replaced by it; paths
# move from where the build was configured to where it is now (a build
# carried to a GPU machine).
CONF_SRC=$(sed -n 's|^# Source directory: ||p' "$BUILD/CTestTestfile.cmake" 2> /dev/null)
CONF_BUILD=$(sed -n 's|^# Build directory: ||p' "$BUILD/CTestTestfile.cmake" 2> /dev/null)
mapfile -t CASES < <(find "$BUILD" -name CMakeFiles -prune -o -name CTestTestfile.cmake -print 2> /dev/null | sort |
  xargs -r grep -h '^add_test(\[=\[examples\.')
if [ ${#CASES[@]} -eq 0 ] || [ -z "$CONF_SRC" ] || [ -z "$CONF_BUILD" ]; then
  item examples example SKIP 0.0 -1 "no example tests in $BUILD's CTestTestfile.cmake files"
  CASES=()
elif [ -z "$(find "$BUILD/examples" -type f -name '*-cuda' -perm -u+x 2> /dev/null | head -n 1)" ]; then
  item examples example SKIP 0.0 -1 "the -cuda examples are not built"
  CASES=()
fi
for c in "${CASES[@]}"; do
  name=$(sed 's/^add_test(\[=\[\([^]]*\)\]=\].*/\1/' <<< "$c")
  mapfile -t args < <(grep -o '"[^"]*"' <<< "${c#*]=]}" | sed 's/^"//; s/"$//')
  cmd=() on_gpu=0
  for a in "${args[@]}"; do
    case $a in
      "$CONF_BUILD"/*) a=$BUILD/${a#"$CONF_BUILD"/} ;;
      "$CONF_SRC"/*) a=$ROOT/${a#"$CONF_SRC"/} ;;
    esac
    if [[ $a == "$BUILD"/examples/* ]] && [ -x "$a-cuda" ]; then
      a=$(gpu_build "$a-cuda")
      on_gpu=1
    fi
    cmd+=("$a")
  done
  if [ "$on_gpu" = 0 ]; then
    item "$name" example SKIP 0.0 -1 "runs no device code (make test runs it)"
  elif ! no_cuda_device "$name" example; then
    run "$name" example 120 checks_note "${cmd[@]}"
  fi
done

# demo: end to end on the GPU (demo.sh picks the -cuda programs itself).
if [ ! -x "$BUILD/examples/fs/gsys-grep-cuda" ]; then
  item demo demo SKIP 0.0 -1 "the -cuda examples are not built"
elif ! no_cuda_device demo demo; then
  run demo demo 120 demo_note bash "$ROOT/tools/demo.sh" "$BUILD"
fi

# --- summary --------------------------------------------------------------
TOTAL=$(awk -v a="$START" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
STATUS=PASS
[ "$FAILED" = 0 ] && [ "$UNRUN" = 0 ] && [ "$PASSED" -gt 0 ] || STATUS=FAIL
cat "$BENCH_OUT" >> "$OUT"
printf '{"check":"summary","status":"%s","pass":%d,"fail":%d,"skip":%d,"seconds":%s}\n' \
  "$STATUS" "$PASSED" "$FAILED" "$SKIPPED" "$TOTAL" >> "$OUT"
WHERE="on $GPU_NAME, driver $GPU_DRIVER"
[ "$REHEARSE" = 0 ] || WHERE="rehearsed on the simulator: no GPU was used"
echo
echo "gpu-check: $WHERE"
printf '%-34s %-4s %7s  %s\n' item check seconds note
printf '%s\n' "---------------------------------- ---- -------  ----"
printf '%s\n' "${ROWS[@]}"
echo
echo "gpu-check: $PASSED passed, $FAILED failed, $SKIPPED skipped in $TOTAL s; results: $OUT; logs: $LOGS"
if [ "$STATUS" != PASS ]; then
  [ "$UNRUN" = 0 ] || echo "gpu-check: $UNRUN item(s) not run: the budget ran out" >&2
  [ "$PASSED" -gt 0 ] || echo "gpu-check: nothing passed" >&2
  echo "gpu-check: FAILED ($WHERE)" >&2
  exit 1
fi
echo "gpu-check: all passed ($WHERE)"
