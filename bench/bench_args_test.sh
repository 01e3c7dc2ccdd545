#!/usr/bin/env bash
# The benchmarks' command lines: a bad value is a usage error (exit 2, a
# message naming the option and the value), found before anything is
# measured, never a silent default nor a crash. Once
#   gsys-blindsight-bench --threads=-3   aborted (atoi: ~4 billion threads),
#   gsys-io-bench --gran bogus           exited 0 having measured nothing,
#   gsys-ring-bench --quick --iters 0, gsys-host-cost --window abc,
#   gsys-split-bench --rounds abc        ran with defaults,
#   gsys-blindsight-bench                wrote to ./bench/results, so failed
#                                        anywhere but the source tree.
# usage: bench/bench_args_test.sh BENCH_DIR CASE [SOURCE_DIR]
#   CASE: blindsight_threads, lists, numbers or blindsight_out
set -uo pipefail
bin=$(cd "${1:?usage: bench_args_test.sh BENCH_DIR CASE [SOURCE_DIR]}" && pwd) || exit 1
case_=${2:?usage: bench_args_test.sh BENCH_DIR CASE [SOURCE_DIR]}
src=${3:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1  # nothing a bench writes by mistake lands in the source tree
fail=0
for p in gsys-blindsight-bench gsys-io-bench gsys-ring-bench gsys-host-cost gsys-split-bench gsys-sim-bench; do
  [ -x "$bin/$p" ] || { echo "FAIL $bin/$p is not built"; exit 1; }
done

# usage_error OPT VALUE PROG ARGS...: PROG ARGS exits 2 within seconds and
# its stderr names OPT and 'VALUE'.
usage_error() {
  local opt=$1 val=$2 rc=0 err
  shift 2
  err=$(timeout 15 "$bin/$@" 2>&1 >/dev/null) || rc=$?
  if [ $rc = 2 ] && grep -qF -- "$opt" <<<"$err" && grep -qF -- "'$val'" <<<"$err"; then
    echo "ok   $* -> 2: $(head -n 1 <<<"$err")"
  else
    echo "FAIL $* -> exit $rc, want 2 naming $opt and '$val': $(head -n 2 <<<"$err" | tr '\n' ' ')"
    fail=1
  fi
}

# accepted PROG ARGS...: valid values are taken (they end with --help, or
# are the quickest run): exit 0.
accepted() {
  local rc=0 err
  err=$(timeout 60 "$bin/$@" 2>&1 >/dev/null) || rc=$?
  if [ $rc = 0 ]; then echo "ok   $* -> 0"; else echo "FAIL $* -> exit $rc: $(tail -n 2 <<<"$err" | tr '\n' ' ')"; fail=1; fi
}

case $case_ in
  blindsight_threads)
    bs=(gsys-blindsight-bench --quick --out="$tmp/bs.jsonl")
    for v in -3 abc 0 '' 4x 99999999999 1e3; do usage_error --threads "$v" "${bs[@]}" --threads="$v"; done
    usage_error bogus --bogus "${bs[@]}" --bogus
    usage_error --out --out "${bs[@]}" --out  # --out wants a value
    accepted gsys-blindsight-bench --threads=2 --out="$tmp/bs.jsonl" --help
    # --opt value as every other benchmark takes it (once only --opt=value)
    accepted gsys-blindsight-bench --threads 2 --out "$tmp/bs.jsonl" --help
    ;;
  lists)
    quick_io=(gsys-io-bench --quick --executor sync --ops nop --gran thread --sizes 4k)
    for prog in gsys-io-bench gsys-ring-bench; do
      usage_error --gran bogus $prog --quick --gran bogus
      usage_error --gran blok $prog --quick --gran thread,blok  # the bad item named
      usage_error --gran '' $prog --quick --gran ''
      usage_error --ops bogus $prog --quick --ops bogus
      usage_error --ops '' $prog --quick --ops ''
      usage_error --executor bogus $prog --quick --executor bogus
      usage_error --executor '' $prog --quick --executor ''
      usage_error argument extra $prog --quick extra
    done
    for v in 4x 3k abc '' 0 2m 99999999999999999999k; do usage_error --sizes "$v" "${quick_io[@]}" --sizes "$v"; done
    for v in 2x64junk 2x48 0x64 x64; do usage_error --grid "$v" "${quick_io[@]}" --grid "$v"; done
    for prog in gsys-host-cost gsys-split-bench; do
      usage_error --executor bogus $prog --quick --executor bogus
      usage_error --executor '' $prog --quick --executor ''
      usage_error argument extra $prog --quick extra
    done
    accepted gsys-io-bench --executor sync,uring --ops nop,pread --gran thread,grid --sizes 4k,1m,512 --grid 1x32 --help
    accepted gsys-ring-bench --executor sync --ops nop,pread4k --gran warp,grid --help
    ;;
  numbers)
    ring=(gsys-ring-bench --quick --executor sync --ops nop --gran thread)
    # --quick no longer overrides an --iters given on the command line.
    for v in 0 -5 9 abc 10x '' 99999999999; do usage_error --iters "$v" "${ring[@]}" --iters "$v"; done
    for v in 0 -1 abc 2.5; do usage_error --tput-iters "$v" "${ring[@]}" --tput-iters "$v"; done
    for v in 0 -1 abc 65; do usage_error --workers "$v" "${ring[@]}" --workers "$v"; done
    for v in 0x64 2x 2x2048 ax64 1x64x2; do usage_error --grid "$v" "${ring[@]}" --grid "$v"; done
    host=(gsys-host-cost --quick --executor sync)
    for v in -1 abc 0 nan inf 1s; do usage_error --window "$v" "${host[@]}" --window "$v"; done
    for v in 0 -2 abc; do usage_error --rounds "$v" "${host[@]}" --rounds "$v"; done
    for v in abc 5 1e9 ''; do usage_error --rates "$v" "${host[@]}" --rates "$v"; done
    for v in -1 abc; do usage_error --spins "$v" "${host[@]}" --spins "$v"; done
    for v in 0 abc 5000000000; do usage_error --device-spins "$v" "${host[@]}" --device-spins "$v"; done
    split=(gsys-split-bench --quick --executor sync)
    for v in abc 0 -3 ''; do usage_error --rounds "$v" "${split[@]}" --rounds "$v"; done
    for v in 0 abc; do usage_error --steps "$v" "${split[@]}" --steps "$v"; done
    for v in 0 -1 abc; do usage_error --reps "$v" "${split[@]}" --reps "$v"; done
    for v in -1 abc; do usage_error --spin-ns "$v" "${split[@]}" --spin-ns "$v"; done
    for v in -5 abc 5000000000; do usage_error --device-spin-ns "$v" "${split[@]}" --device-spin-ns "$v"; done
    for v in 2x3 2x512 0x64 2x64y; do usage_error --grid "$v" "${split[@]}" --grid "$v"; done
    sim=(gsys-sim-bench --reps 1 --matmul 0)
    for v in abc 0 5x 99999999999; do usage_error --iters "$v" "${sim[@]}" --iters "$v"; done
    for v in 0 2000 abc -1; do usage_error --threads "$v" "${sim[@]}" --threads "$v"; done
    for v in 0 abc; do usage_error --reps "$v" gsys-sim-bench --matmul 0 --reps "$v"; done
    accepted gsys-ring-bench --iters 10 --tput-iters 1 --workers 1 --grid 2x32 --help
    accepted gsys-ring-bench --quick --executor sync --ops nop --gran thread --iters 10 --tput-iters 1 --workers 1 --grid 1x32
    accepted gsys-host-cost --window 0.25 --rounds 1 --rates 1000,1e4 --spins 0,5000 --device-spins 1000 --help
    accepted gsys-split-bench --rounds 1,8 --steps 4 --reps 1 --spin-ns 0 --device-spin-ns 0 --grid 1x32 --help
    accepted gsys-sim-bench --iters 100 --threads 32 --reps 1 --matmul 0
    # --opt=value as every other benchmark takes it (gsys-sim-bench once
    # called it a usage error), and an operand is refused
    accepted gsys-sim-bench --iters=100 --threads=32 --reps=1 --matmul=0
    usage_error 'unexpected argument' extra gsys-sim-bench --reps 1 --matmul 0 extra
    ;;
  blindsight_out)
    # The default file is under the source tree's bench/results (where
    # make bench collects results and bench/blindsight_plot.sh looks), by
    # absolute path, so it works from any directory; --help says so.
    help=$(timeout 15 "$bin/gsys-blindsight-bench" --help 2>&1)
    if grep -qF "$src/bench/results/blindsight-" <<<"$help"; then
      echo "ok   --help names the default $src/bench/results/blindsight-<date>.jsonl"
    else
      echo "FAIL --help does not name the default file under $src/bench/results: $help"
      fail=1
    fi
    # A file it cannot open: says which and what to do, before any work.
    rc=0
    err=$(timeout 15 "$bin/gsys-blindsight-bench" --quick --out="$tmp/no/such/dir/x.jsonl" 2>&1 >/dev/null) || rc=$?
    if [ $rc != 0 ] && [ $rc != 124 ] && grep -qF "$tmp/no/such/dir/x.jsonl" <<<"$err" && grep -qF -- "--out=FILE" <<<"$err"; then
      echo "ok   unopenable --out -> $rc: $err"
    else
      echo "FAIL unopenable --out -> exit $rc, want nonzero naming the file and --out=FILE: $err"
      fail=1
    fi
    ;;
  *) echo "bench_args_test.sh: unknown case '$case_'" >&2; exit 2 ;;
esac
exit $fail
