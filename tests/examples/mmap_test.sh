#!/usr/bin/env bash
# gsys-mmap: the kernel's reduction equals the CPU's (--verify), and giving
# windows back (madvise, munmap) keeps the peak resident set far below
# keeping them (none).
#   mmap_test.sh GSYS_MMAP CASE      CASE: checksum | working_set | errors | shrinking_file
. "$(dirname "$0")/lib.sh"
GSYS_MMAP=$1
CASE=$2
cd "$SCRATCH"

# field NAME FILE: a number from a JSON line.
field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^,\"}]*\\).*/\\1/p" "$2" | tail -1; }

case_checksum() {
  "$GSYS_MMAP" --generate=3M data.bin --window=256K --verify > out.txt
  status "3 MiB file" 0 $?
  grep -q "CPU check: pass" out.txt || fail "3 MiB file: no passing CPU check"
  head -c 1000003 data.bin > odd.bin  # not a multiple of the word or the page
  for mode in none madvise munmap; do
    "$GSYS_MMAP" odd.bin --window=64K --release=$mode --blocks=3 --threads=64 --verify > out.txt
    status "odd size, release=$mode" 0 $?
    grep -q "CPU check: pass" out.txt || fail "odd size, release=$mode: no passing CPU check"
  done
  "$GSYS_MMAP" odd.bin --window=4K --blocks=1 --threads=32 --executor=sync --verify > out.txt
  status "one block, sync executor" 0 $?
}

case_working_set() {
  local size_mib=32
  "$GSYS_MMAP" --generate=${size_mib}M big.bin --window=512K --blocks=2 --release=none --verify --stats=none.json > /dev/null
  status "release=none" 0 $?
  for mode in madvise munmap; do
    "$GSYS_MMAP" big.bin --window=512K --blocks=2 --release=$mode --verify --stats=$mode.json > /dev/null
    status "release=$mode" 0 $?
  done
  local none madvise munmap
  none=$(field peak_rss_kib none.json)
  madvise=$(field peak_rss_kib madvise.json)
  munmap=$(field peak_rss_kib munmap.json)
  echo "peak RSS KiB: none $none, madvise $madvise, munmap $munmap"
  for f in none madvise munmap; do
    [ "$(field check $f.json)" = pass ] || fail "release=$f: CPU check did not pass"
  done
  # Keeping every window touches the whole file; giving them back keeps
  # about blocks x window. Ask for half the file's difference: robust to
  # the runtime's own memory.
  CHECKS=$((CHECKS + 2))
  [ "$((none - madvise))" -ge $((size_mib * 1024 / 2)) ] || fail "madvise did not lower the peak RSS ($madvise vs $none KiB)"
  [ "$((none - munmap))" -ge $((size_mib * 1024 / 2)) ] || fail "munmap did not lower the peak RSS ($munmap vs $none KiB)"
}

case_errors() {
  "$GSYS_MMAP" missing.bin > /dev/null 2> err.txt
  status "missing file" 1 $?
  grep -q "missing.bin: No such file or directory" err.txt || fail "missing file: no message"
  : > empty.bin
  "$GSYS_MMAP" empty.bin > /dev/null 2>&1
  status "empty file" 1 $?
  "$GSYS_MMAP" --window=1000 x.bin > /dev/null 2>&1
  status "window not a multiple of 4K" 1 $?
  "$GSYS_MMAP" --release=sometimes x.bin > /dev/null 2>&1
  status "bad --release" 1 $?
  "$GSYS_MMAP" --help > help.out
  status "--help" 0 $?
  grep -q "^usage: gsys-mmap" help.out || fail "--help prints no usage line"
  # A FIFO without a writer is refused, not waited on (the open blocked).
  mkfifo fifo
  timeout 20 "$GSYS_MMAP" fifo > /dev/null 2> err.txt
  status "FIFO" 1 $?
  grep -q "fifo: not a regular file" err.txt || fail "FIFO: no message: $(cat err.txt)"
  # --stats that cannot be written is an error (it exited 0).
  printf 'twelve bytes' > small.bin
  "$GSYS_MMAP" small.bin --stats=no-dir/stats.json > /dev/null 2> err.txt
  status "--stats not written" 1 $?
  grep -q "cannot write no-dir/stats.json" err.txt || fail "--stats not written: no message: $(cat err.txt)"
  # More windows than vm.max_map_count with madvise (a mapping kept per
  # window): refused before the run, saying why (every mmap past the limit
  # failed with ENOMEM, reported as "N calls failed"). A sparse file.
  local max
  max=$(cat /proc/sys/vm/max_map_count 2> /dev/null)
  if [ -n "$max" ]; then
    truncate -s $(((max + 1) * 4096)) sparse.bin
    timeout 60 "$GSYS_MMAP" sparse.bin --window=4K > /dev/null 2> err.txt
    status "windows over vm.max_map_count" 1 $?
    grep -q "keeps a mapping per window.*vm.max_map_count.*--release=munmap" err.txt ||
      fail "windows over vm.max_map_count: no explanation: $(cat err.txt)"
    rm -f sparse.bin
  fi
}

# A file truncated while the kernel reads it through its mappings: pages
# past the new end fault with SIGBUS. The program says so and exits 1 (it
# died of the signal); a run that ended before the truncation is fine too.
case_shrinking_file() {
  "$GSYS_MMAP" --generate=128M shrink.bin --window=4K --release=munmap --blocks=1 --threads=32 > /dev/null
  status "128 MiB file" 0 $?
  local pid rc
  "$GSYS_MMAP" shrink.bin --window=4K --release=munmap --blocks=1 --threads=32 > out.txt 2> err.txt &
  pid=$!
  sleep 0.5
  truncate -s 1M shrink.bin
  wait "$pid"
  rc=$?
  CHECKS=$((CHECKS + 1))
  if [ "$rc" = 1 ]; then
    grep -q "shrink.bin: a mapped page could not be read (SIGBUS" err.txt || fail "shrinking file: no message: $(cat err.txt)"
  elif [ "$rc" = 0 ]; then
    echo "note: the run ended before the file was truncated"
  else
    fail "shrinking file: exit status $rc: $(cat err.txt)"
  fi
}

run_case "$CASE"
