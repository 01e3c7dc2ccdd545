#!/usr/bin/env bash
# gsys-wc against GNU wc: same output (column widths too), same messages
# (program name aside), same exit status.
#   wc_test.sh GSYS_WC CASE
# CASE: basic | chunk_edges | errors | size_zero_files | stats_error
. "$(dirname "$0")/lib.sh"
GSYS_WC=$1
CASE=$2
cd "$SCRATCH"

# compare WHAT [gsys-wc-only options...] -- wc arguments...
compare() {
  local what=$1
  shift
  local ours=()
  while [ "$1" != "--" ]; do ours+=("$1"); shift; done
  shift
  wc "$@" > exp.out 2> exp.err
  local want=$?
  "$GSYS_WC" "${ours[@]}" "$@" > got.out 2> got.err
  local got=$?
  sed -i 's/^wc: /gsys-wc: /' exp.err
  same "$what: stdout" exp.out got.out
  same "$what: stderr" exp.err got.err
  status "$what" "$want" "$got"
}

# Words separated by every kind of white space, control bytes (which
# neither start nor end a word), bytes >= 0x80, long runs.
make_words() {  # make_words FILE BYTES SEED
  awk -v n="$2" -v seed="$3" 'BEGIN {
    srand(seed); split("a bb ccc \t \n \r \v \f x\001y \001 \200\201 word\177 z", w, " ");
    s = "";
    while (length(s) < n) s = s w[1 + int(rand() * 15)] (rand() < 0.5 ? " " : "");
    printf "%s", substr(s, 1, n);
  }' > "$1"
}

case_basic() {
  printf 'one two\nthree\n' > a.txt
  printf 'no newline at the end' > b.txt
  : > empty.txt
  make_words w1.txt 3000 1
  make_words w2.txt 777 2
  for cs in 1 2 7 64 1000 64K; do
    local o=(--chunk-size="$cs" --blocks=3 --threads=32)
    compare "one file, chunk $cs" "${o[@]}" -- a.txt
    compare "several files, chunk $cs" "${o[@]}" -- a.txt b.txt empty.txt w1.txt w2.txt
    compare "-l, chunk $cs" "${o[@]}" -- -l w1.txt w2.txt
    compare "-w, chunk $cs" "${o[@]}" -- -w w1.txt w2.txt
    compare "-c, chunk $cs" "${o[@]}" -- -c w1.txt
    compare "-lw, chunk $cs" "${o[@]}" -- -wl a.txt w1.txt
  done
  compare "single count of a single file" -- -l w1.txt
  compare "default grid" -- w1.txt w2.txt a.txt
  compare "sync executor" --executor=sync --chunk-size=5 -- w1.txt w2.txt
}

# Words cut by every chunk edge: one file per word length, chunk sizes
# around it.
case_chunk_edges() {
  for len in 1 2 3 5 8 13; do
    awk -v l="$len" 'BEGIN { for (i = 0; i < 200; i++) { for (j = 0; j < l; j++) printf "w"; printf (i % 3 ? " " : "\001 \n") } }' > "len$len.txt"
  done
  for cs in 1 2 3 4 5 6 7 8 9 13 16; do
    compare "words across edges, chunk $cs" --chunk-size="$cs" --blocks=4 --threads=32 -- len*.txt
  done
  head -c 200000 /dev/zero | tr '\0' 'x' > oneword.txt
  compare "one 200000-byte word" --chunk-size=1000 --blocks=8 -- oneword.txt
}

case_errors() {
  printf 'one two\n' > a.txt
  mkdir -p dir
  compare "missing file among others" -- a.txt missing.txt a.txt
  compare "missing first file (column width 1)" -- missing.txt a.txt
  compare "directory" -- dir
  compare "directory among files" -- a.txt dir
  # A FIFO without a writer counts as empty (read as far as its size says),
  # not waited on: the open blocked for good (GNU wc waits for a writer).
  mkfifo fifo
  timeout 20 "$GSYS_WC" fifo a.txt > fifo.out 2> fifo.err
  status "FIFO without a writer" 0 $?
  printf '      0       0       0 fifo\n      1       2       8 a.txt\n      1       2       8 total\n' > fifo.exp
  same "FIFO without a writer: stdout" fifo.exp fifo.out
  same "FIFO without a writer: stderr" /dev/null fifo.err
  "$GSYS_WC" > /dev/null 2>&1
  status "no file (standard input is not supported)" 1 $?
  "$GSYS_WC" --bogus a.txt > /dev/null 2>&1
  status "unknown option" 1 $?
  "$GSYS_WC" --help > help.out
  status "--help" 0 $?
  grep -q "^usage: gsys-wc" help.out || fail "--help prints no usage line"
}

# Regular files whose size says 0 but that have content (procfs, some FUSE
# files) are read to their end, not taken as empty; sysfs files say 4096
# whatever they hold. Only files whose content is the same for every reader.
case_size_zero_files() {
  [ -r /proc/version ] || skip "no /proc"
  printf 'one two\n' > a.txt
  for cs in 1 7 64 64K; do
    compare "/proc/version, chunk $cs" --chunk-size="$cs" --blocks=3 --threads=32 -- /proc/version
    compare "/proc/filesystems among files, chunk $cs" --chunk-size="$cs" --blocks=3 --threads=32 -- a.txt /proc/filesystems /proc/version a.txt
  done
  compare "/proc/cpuinfo lines" -- -l /proc/cpuinfo
  local sys=/sys/kernel/mm/transparent_hugepage/enabled
  [ -r "$sys" ] && compare "sysfs file" --chunk-size=5 -- "$sys" a.txt
  # --stats counts what the files of unknown size held, as read (it said 0).
  for cs in 1 7 64K; do
    rm -f stats.json
    "$GSYS_WC" --chunk-size="$cs" --blocks=3 --threads=32 --stats=stats.json a.txt /proc/filesystems /proc/version a.txt \
      > /dev/null
    stats_bytes "--stats bytes, chunk $cs" stats.json "$(cat a.txt /proc/filesystems /proc/version a.txt | wc -c)"
  done
  # A directory that says 0 bytes still gets its message.
  [ -d /sys/kernel ] && compare "sysfs directory" -- a.txt /sys/kernel
}

# --stats to a file that cannot be written: the counts are printed, but the
# statistics asked for are lost, so the exit status says so.
case_stats_error() {
  printf 'one two\nthree\n' > a.txt
  mkdir -p dir
  wc a.txt > exp.out
  "$GSYS_WC" --stats=dir a.txt > got.out 2> got.err
  status "--stats to a directory" 1 $?
  same "--stats to a directory: stdout" exp.out got.out
  grep -q "^gsys-wc: cannot write dir" got.err || fail "--stats to a directory: no message"
  "$GSYS_WC" --stats=stats.json a.txt > got.out
  status "--stats to a file" 0 $?
  same "--stats to a file: stdout" exp.out got.out
  [ "$(grep -c '^{"example":"wc",' stats.json)" = 1 ] || fail "--stats to a file: no JSON line"
}

run_case "$CASE"
