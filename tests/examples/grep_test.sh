#!/usr/bin/env bash
# gsys-grep against GNU grep -F: same standard output, same standard error
# (program name aside), same exit status, on fixtures made here.
#   grep_test.sh GSYS_GREP CASE
# CASE: basic | chunk_edges | errors | many_files | permissions | changing_file |
#       size_zero_files | stats_error
. "$(dirname "$0")/lib.sh"
GSYS_GREP=$1
CASE=$2
cd "$SCRATCH"

# compare WHAT [gsys-grep-only options...] -- grep arguments...
compare() {
  local what=$1
  shift
  local ours=()
  while [ "$1" != "--" ]; do ours+=("$1"); shift; done
  shift
  local r="$SCRATCH/result"  # outside the trees being searched
  grep -F "$@" > "$r.exp.out" 2> "$r.exp.err"
  local want=$?
  "$GSYS_GREP" "${ours[@]}" "$@" > "$r.got.out" 2> "$r.got.err"
  local got=$?
  sed -i 's/^grep: /gsys-grep: /' "$r.exp.err"
  same "$what: stdout" "$r.exp.out" "$r.got.out"
  same "$what: stderr" "$r.exp.err" "$r.got.err"
  status "$what" "$want" "$got"
}

# Text with words, empty lines, CRs, tabs and no final newline.
make_text() {  # make_text FILE LINES SEED
  awk -v n="$2" -v seed="$3" 'BEGIN {
    srand(seed); split("foo bar baz qux foobar xfoo needle a \t \r", w, " ");
    for (i = 0; i < n; i++) {
      k = int(rand() * 12); s = "";
      for (j = 0; j < k; j++) s = s (j ? " " : "") w[1 + int(rand() * 10)];
      printf "%s\n", s;
    }
    printf "last foo line";
  }' > "$1"
}

case_basic() {
  printf 'foo\nbar\nfoobar\n\nbaz foo\n' > a.txt
  printf 'x foo' > b.txt
  printf 'foo\r\nbar\r\n' > crlf.txt
  : > empty.txt
  make_text gen.txt 150 7
  mkdir -p dir/sub && cp a.txt dir/ && cp gen.txt dir/sub/ && printf 'nothing\n' > dir/sub/none.txt
  local files=(a.txt b.txt crlf.txt empty.txt gen.txt)
  for cs in 1 2 5 16 4096 64K; do
    local o=(--chunk-size="$cs" --blocks=3 --threads=32)
    compare "one file, chunk $cs" "${o[@]}" -- -n foo a.txt
    compare "several files, chunk $cs" "${o[@]}" -- -n foo "${files[@]}"
    compare "no line numbers, chunk $cs" "${o[@]}" -- foo "${files[@]}"
    compare "two -e, chunk $cs" "${o[@]}" -- -n -e foo -e baz "${files[@]}"
    compare "newline-separated patterns, chunk $cs" "${o[@]}" -- -n "$(printf 'bar\nqux')" "${files[@]}"
    compare "empty pattern, chunk $cs" "${o[@]}" -- -n '' "${files[@]}"
    compare "-h, chunk $cs" "${o[@]}" -- -h -n foo "${files[@]}"
    compare "-H, chunk $cs" "${o[@]}" -- -H foo a.txt
    compare "-r, chunk $cs" "${o[@]}" -- -rn foo dir
    compare "-r on one file, chunk $cs" "${o[@]}" -- -rn foo a.txt
    compare "no match, chunk $cs" "${o[@]}" -- -n no-such-text "${files[@]}"
  done
  compare "default grid" -- -n foo "${files[@]}"
  compare "one block" --blocks=1 -- -n foo "${files[@]}"
  compare "wide blocks" --threads=256 --chunk-size=100 -- -n foo "${files[@]}"
  compare "sync executor" --executor=sync --chunk-size=9 -- -n foo "${files[@]}"
}

# Lines that start, end and match right at chunk edges, lines much longer
# than a chunk (matches at their start, end and across reads), a long last
# line without a newline, and a pattern longer than the chunk.
case_chunk_edges() {
  awk 'BEGIN {
    for (l = 0; l < 70; l++) {
      s = ""; for (i = 0; i < l; i++) s = s "a";
      if (l % 3 == 0) s = substr(s, 1, l % 7) "needle" substr(s, l % 7 + 1);
      print s;
    }
    x = ""; for (i = 0; i < 300; i++) x = x "x";
    print x "needle";           # match at the end of a long line
    print "needle" x;           # at its start
    print x "needle" x x;       # in the middle of a very long line
    print x x x;                # long, no match
    print "nee" x "dle";        # the pieces are not a match
    printf "%s", x "needle";    # a long last line without a newline
  }' > edges.txt
  for cs in 1 3 7 8 64 100 299 300 306 1000 64K; do
    compare "edges, chunk $cs" --chunk-size="$cs" --blocks=4 --threads=32 -- -n needle edges.txt
    compare "edges, short pattern, chunk $cs" --chunk-size="$cs" --blocks=2 --threads=64 -- -n -e ea -e xn edges.txt
  done
  compare "pattern longer than the chunk" --chunk-size=2 -- -n aaaaaaaaaaaaaaaaaaaaaneedle edges.txt
  compare "empty pattern over long lines" --chunk-size=10 -- -n '' edges.txt
}

case_errors() {
  printf 'foo\nbar\n' > a.txt
  printf 'more foo\n' > b.txt
  mkdir -p dir
  compare "missing file among others" --chunk-size=3 -- -n foo a.txt missing.txt b.txt
  compare "only a missing file" -- -n foo missing.txt
  compare "directory without -r" -- -n foo dir a.txt
  compare "missing directory with -r" -- -rn foo missing-dir
  printf 'foo\0bar\nfoo\n' > bin
  compare "binary file that matches" -- -n foo bin a.txt
  compare "binary file that does not match" -- -n zzz bin
  compare "no match" -- -n zzz a.txt b.txt
  # A FIFO without a writer is read as far as its size says (nothing), not
  # waited on: the open blocked for good (GNU grep waits for a writer).
  mkfifo fifo
  timeout 20 "$GSYS_GREP" -n foo fifo a.txt > fifo.out 2> fifo.err
  status "FIFO without a writer" 0 $?
  printf 'a.txt:1:foo\n' > fifo.exp
  same "FIFO without a writer: stdout" fifo.exp fifo.out
  same "FIFO without a writer: stderr" /dev/null fifo.err
  "$GSYS_GREP" --no-such-option foo a.txt > /dev/null 2>&1
  status "unknown option" 2 $?
  "$GSYS_GREP" > /dev/null 2>&1
  status "no pattern" 2 $?
  "$GSYS_GREP" foo > /dev/null 2> stdin.err
  status "no file (standard input is not supported)" 2 $?
  grep -q "standard input" stdin.err || fail "no explanation for the missing FILE"
  "$GSYS_GREP" --chunk-size=0 foo a.txt > /dev/null 2>&1
  status "--chunk-size=0" 2 $?
  "$GSYS_GREP" --threads=33 foo a.txt > /dev/null 2>&1
  status "--threads=33" 2 $?
  "$GSYS_GREP" --executor=warp foo a.txt > /dev/null 2>&1
  status "--executor=warp" 2 $?
  "$GSYS_GREP" --help > help.out
  status "--help" 0 $?
  grep -q "^usage: gsys-grep" help.out || fail "--help prints no usage line"
}

case_many_files() {
  for d in 0 1 2 3 4 5 6 7 8 9; do
    mkdir -p "tree/d$d/inner"
    for f in $(seq 0 99); do
      if [ $((f % 10)) -eq 0 ]; then
        printf 'line %s\nfoo %s %s\n' "$f" "$d" "$f" > "tree/d$d/inner/f$f.txt"
      else
        printf 'foo in file %s of dir %s\nno\nfoo again\n' "$f" "$d" > "tree/d$d/f$f.txt"
      fi
    done
  done
  [ "$(find tree -type f | wc -l)" -eq 1000 ] || fail "fixture: expected 1000 files"
  compare "1000 files" -- -rn foo tree
  compare "1000 files, small chunks" --chunk-size=8 --blocks=4 -- -rn foo tree
  compare "1000 files, no match" -- -rn zzz tree
  cd tree
  compare "-r without an operand" -- -rn again
  cd "$SCRATCH"
  compare "operand with trailing slashes" -- -rn foo tree/d3//
}

case_permissions() {
  local runner=()
  if [ "$(id -u)" -eq 0 ]; then
    # root reads everything: run both programs as nobody instead.
    command -v setpriv > /dev/null || skip "running as root and setpriv is missing"
    runner=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
    "${runner[@]}" true 2> /dev/null || skip "cannot switch to user nobody"
  fi
  cp "$GSYS_GREP" ./gsys-grep && chmod 755 ./gsys-grep  # reachable by nobody
  mkdir -p tree/open tree/closed
  printf 'foo one\n' > tree/open/a.txt
  printf 'foo secret\n' > tree/open/secret.txt
  printf 'foo hidden\n' > tree/closed/b.txt
  chmod -R a+rX tree
  chmod 000 tree/open/secret.txt tree/closed
  "${runner[@]}" grep -F -rn foo tree > exp.out 2> exp.err
  local want=$?
  "${runner[@]}" ./gsys-grep -rn foo tree > got.out 2> got.err
  local got=$?
  sed -i 's/^grep: /gsys-grep: /' exp.err
  grep -q "Permission denied" exp.err || skip "grep itself was not refused (file system ignores modes?)"
  same "unreadable file and directory: stdout" exp.out got.out
  same "unreadable file and directory: stderr" exp.err got.err
  status "unreadable file and directory" "$want" "$got"
  chmod 755 tree/closed
}

# A file that grows while it is read: every printed line must be a line of
# the file as it ends up (appends only), with its right number. A file that
# is truncated and refilled: no crash, only well-formed lines.
case_changing_file() {
  : > grow.txt
  touch writing
  (
    exec 3>> grow.txt
    i=0
    while [ -e writing ]; do
      for _ in 1 2 3 4 5 6 7 8 9 10; do printf 'line %d foo %d\n' $i $((i * 7)) >&3; i=$((i + 1)); done
      sleep 0.01
    done
  ) &
  local writer=$!
  sleep 0.2
  for i in 1 2 3 4 5 6 7 8; do
    "$GSYS_GREP" -n foo --chunk-size=64 --blocks=3 grow.txt > "snapshot.$i"
    status "growing file" 0 $?
  done
  rm -f writing
  wait "$writer"
  for s in snapshot.*; do
    [ -s "$s" ] || fail "growing file: $s is empty"
    awk 'NR == FNR { line[FNR] = $0; next }
         { n = $0; sub(/:.*/, "", n); t = $0; sub(/^[0-9]+:/, "", t);
           if (!(n in line) || line[n] != t) { print "bad: " $0; bad = 1; exit } }
         END { exit bad }' grow.txt "$s" >&2 || fail "growing file: $s has a line the file does not have"
  done

  touch writing
  (
    while [ -e writing ]; do
      : > shrink.txt
      for i in $(seq 1 50); do printf 'line %d foo\n' "$i" >> shrink.txt; done
    done
  ) &
  writer=$!
  for i in 1 2 3 4 5 6 7 8; do
    "$GSYS_GREP" -n foo --chunk-size=16 shrink.txt > out.txt 2> err.txt
    local rc=$?
    [ "$rc" -le 2 ] || fail "truncated file: exit status $rc (crashed?)"
    grep -qv '^[0-9][0-9]*:' out.txt && fail "truncated file: malformed line: $(grep -v '^[0-9][0-9]*:' out.txt | head -1)"
  done
  rm -f writing
  wait "$writer"
}

# Regular files whose size says 0 but that have content (procfs, some FUSE
# files) are read to their end, not taken as empty; sysfs files say 4096
# whatever they hold. Only files whose content is the same for every reader.
case_size_zero_files() {
  [ -r /proc/version ] || skip "no /proc"
  printf 'foo\nLinux foo\n' > a.txt
  for cs in 1 7 16 64 64K; do  # 16: the /proc/version line is longer than a window
    local o=(--chunk-size="$cs" --blocks=3 --threads=32)
    compare "/proc/version, chunk $cs" "${o[@]}" -- -n Linux /proc/version
    compare "/proc/filesystems among files, chunk $cs" "${o[@]}" -- -n -e nodev -e Linux a.txt /proc/filesystems /proc/version a.txt
    compare "no match in /proc/version, chunk $cs" "${o[@]}" -- -n no-such-text /proc/version
  done
  compare "/proc/cpuinfo" -- -n processor /proc/cpuinfo
  local sys=/sys/kernel/mm/transparent_hugepage/enabled
  [ -r "$sys" ] && compare "sysfs file" --chunk-size=5 -- -n never "$sys" a.txt
  # --stats counts what the files of unknown size held, as read (it said 0).
  for cs in 1 7 64K; do
    rm -f stats.json
    "$GSYS_GREP" --chunk-size="$cs" --blocks=3 --threads=32 --stats=stats.json -e nodev a.txt /proc/filesystems /proc/version a.txt \
      > /dev/null
    stats_bytes "--stats bytes, chunk $cs" stats.json "$(cat a.txt /proc/filesystems /proc/version a.txt | wc -c)"
  done
  # A directory that says 0 bytes still gets its message.
  [ -d /sys/kernel ] && compare "sysfs directory" -- -n foo a.txt /sys/kernel
}

# --stats to a file that cannot be written: the lines are printed, but the
# statistics asked for are lost: exit status 2 (trouble) even after a match.
case_stats_error() {
  printf 'foo\nbar\n' > a.txt
  mkdir -p dir
  grep -F -n foo a.txt > exp.out
  "$GSYS_GREP" --stats=dir -n foo a.txt > got.out 2> got.err
  status "--stats to a directory, a match" 2 $?
  same "--stats to a directory: stdout" exp.out got.out
  grep -q "^gsys-grep: cannot write dir" got.err || fail "--stats to a directory: no message"
  "$GSYS_GREP" --stats=dir zzz a.txt > /dev/null 2>&1
  status "--stats to a directory, no match" 2 $?
  "$GSYS_GREP" --stats=stats.json -n foo a.txt > got.out
  status "--stats to a file" 0 $?
  same "--stats to a file: stdout" exp.out got.out
  [ "$(grep -c '^{"example":"grep",' stats.json)" = 1 ] || fail "--stats to a file: no JSON line"
}

run_case "$CASE"
