#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses (tests/fuzz/README.md).
#
# usage: tests/fuzz/run.sh [--build DIR] [--seconds N] [--smoke] [--json FILE] [HARNESS...]
#   --build DIR   clang build of tests/fuzz (default: build/fuzz); configured
#                 and built here when needed
#   --build-only  configure and build, nothing else (make build's fuzz_harnesses)
#   --seconds N   fuzzing time per harness (default 60)
#   --smoke       make test's run: 10 s per harness unless --seconds says otherwise
#   --json FILE   append one JSON line per harness: executions, exec/s, findings
#   HARNESS       ring_fuzz, policy_fuzz, kv_fuzz, vlm_parse_fuzz (default: all)
#
# Per harness: every input in tests/fuzz/crashes/<harness>/ is replayed first
# (regression inputs, each must pass now), then the harness fuzzes from its
# seed corpus (tests/fuzz/corpus/<harness>/, read only) plus a working corpus
# in the build directory. A crash, a leak or a timeout is a finding: its input
# is saved as DIR/artifacts/<harness>/crash-*; copy it to
# tests/fuzz/crashes/<harness>/ once understood (see README.md).
# Exit status: 0 clean, 1 findings, 2 usage or build error, 77 no libFuzzer.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build/fuzz
seconds=
smoke=0
build_only=0
json=
harnesses=()
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --smoke) smoke=1; shift ;;
    --build-only) build_only=1; shift ;;
    --json) json=$2; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
[ ${#harnesses[@]} -gt 0 ] || harnesses=(ring_fuzz policy_fuzz kv_fuzz vlm_parse_fuzz)
if [ -z "$seconds" ]; then
  if [ $smoke = 1 ]; then seconds=10; else seconds=60; fi  # smoke: four harnesses, 40 s in all
fi

# libFuzzer comes with clang's compiler-rt (Debian: libclang-rt-<v>-dev).
cxx=${GSYS_FUZZ_CXX:-$(command -v clang++ || true)}
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' > "$probe/p.cpp"
if [ $build_only = 1 ] && [ -f "$build/build.ninja" ]; then
  :  # probed when it was configured
elif [ -z "$cxx" ] || ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" 2> "$probe/err"; then
  echo "fuzz: SKIPPED: no clang++ that links -fsanitize=fuzzer,address,undefined (${cxx:-clang++ not found}):" \
       "install clang and libclang-rt-dev (make deps)"
  [ -s "$probe/err" ] && head -n 3 "$probe/err"
  exit 77
fi

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" > "$probe/cmake.log" 2>&1 ||
    { cat "$probe/cmake.log"; echo "fuzz: configure failed"; exit 2; }
fi
cmake --build "$build" -j "${JOBS:-2}" --target "${harnesses[@]}" > "$probe/build.log" 2>&1 ||
  { cat "$probe/build.log"; echo "fuzz: build failed"; exit 2; }
[ $build_only = 1 ] && exit 0

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
status=0
for h in "${harnesses[@]}"; do
  bin=$build/$h
  seeds=$here/corpus/$h
  crashes=$here/crashes/$h
  work=$build/corpus/$h
  artifacts=$build/artifacts/$h
  mkdir -p "$work" "$artifacts"
  findings=0

  # Regression inputs: each is run once and must pass.
  replayed=0
  if [ -d "$crashes" ]; then
    mapfile -t old < <(find "$crashes" -type f ! -name '*.md' ! -name '.*' | sort)
    if [ ${#old[@]} -gt 0 ]; then
      replayed=${#old[@]}
      if ! "$bin" -runs=1 "${old[@]}" > "$build/$h.replay.log" 2>&1; then
        echo "fuzz: $h: a regression input in ${crashes#"$root"/}/ fails again:"
        grep -E 'Running:|ERROR|policy_fuzz:|ring_fuzz:|kv_fuzz:|vlm_parse_fuzz:|SUMMARY' "$build/$h.replay.log" | tail -n 8
        findings=$((findings + 1))
      fi
    fi
  fi

  # -close_fd_mask=2: the policy's "refused ..." log lines would flood stderr
  # (one per opcode per fresh policy); libFuzzer and the sanitizers keep a
  # copy of stderr, and the harnesses print their own findings to it.
  before=$(find "$artifacts" -type f | wc -l)
  log=$build/$h.log
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
    -close_fd_mask=2 -artifact_prefix="$artifacts/" "$work" "$seeds" > "$log" 2>&1
  rc=$?
  after=$(find "$artifacts" -type f | wc -l)
  new=$((after - before))
  [ $rc -ne 0 ] && [ $new -eq 0 ] && new=1
  findings=$((findings + new))
  stat() { awk -v k="stat::$1:" '$1 == k { print $2 }' "$log" | tail -n 1; }
  execs=$(stat number_of_executed_units)
  rate=$(stat average_exec_per_sec)
  units=$(find "$work" -type f | wc -l)
  printf 'fuzz: %-14s %4ss %10s executions %7s exec/s  corpus %5s  replayed %3s  findings %s\n' \
    "$h" "$seconds" "${execs:-?}" "${rate:-?}" "$units" "$replayed" "$findings"
  if [ $new -gt 0 ]; then
    grep -E 'ERROR|policy_fuzz:|ring_fuzz:|kv_fuzz:|vlm_parse_fuzz:|SUMMARY|Test unit written|deadly signal' "$log" | tail -n 8
    echo "fuzz: $h: input saved in ${artifacts#"$root"/}/; replay: $bin FILE; keep it: tests/fuzz/crashes/$h/"
  fi
  if [ -n "$json" ]; then
    mkdir -p "$(dirname "$json")"
    printf '{"bench":"fuzz","harness":"%s","seconds":%s,"executions":%s,"exec_per_s":%s,"findings":%s,"corpus":%s,"replayed":%s,"sanitizers":"address,undefined","commit":"%s","date":"%s"}\n' \
      "$h" "$seconds" "${execs:-0}" "${rate:-0}" "$findings" "$units" "$replayed" "$commit" "$(date -u +%FT%TZ)" >> "$json"
  fi
  [ $findings -gt 0 ] && status=1
done
exit $status
