#!/usr/bin/env bash
# gsys-kv: protocol replies against a reference model (kv-check), the same
# portable checks against memcached, clean stops (shutdown command, SIGINT,
# SIGTERM), a short load run checked by gsys-kv-bench, a generated request
# stream compared byte for byte with memcached (kv-diff), and real clients
# (libmemcached's memccp and memcslap over UDP).
#   kv_test.sh GSYS_KV KV_CHECK GSYS_KV_BENCH CASE KV_DIFF
# CASE: protocol_warp | protocol_block | signals | bench | memcached_parity |
#       diff_warp | diff_block | clients_warp | clients_block | bench_usage |
#       bench_no_reply | port_file | unwritable_output
. "$(dirname "$0")/lib.sh"
GSYS_KV=$1
KV_CHECK=$2
KV_BENCH=$3
CASE=$4
KV_DIFF=${5:-}
cd "$SCRATCH"
SERVER_PID=
MC_PID=

# start_server [gsys-kv options...]: on a free port; sets PORT and SERVER_PID.
start_server() {
  rm -f port
  "$GSYS_KV" --port=0 --port-file=port "$@" > server.log 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    [ -s port ] && break
    kill -0 "$SERVER_PID" 2> /dev/null || break
    sleep 0.1
  done
  if [ ! -s port ]; then
    cat server.log >&2
    fail "the server did not start"
    finish
  fi
  PORT=$(cat port)
}

# stopped WHAT EXPECTED_STATUS REASON: the server exits within 20 s, with
# that status, saying why.
stopped() {
  local rc=timeout
  for _ in $(seq 1 200); do
    if ! kill -0 "$SERVER_PID" 2> /dev/null; then
      wait "$SERVER_PID"
      rc=$?
      break
    fi
    sleep 0.1
  done
  if [ "$rc" = timeout ]; then
    kill -KILL "$SERVER_PID" 2> /dev/null
    wait "$SERVER_PID" 2> /dev/null
  fi
  status "$1" "$2" "$rc"
  CHECKS=$((CHECKS + 1))
  grep -q "stopped ($3)" server.log || { fail "$1: the server did not report '$3'"; cat server.log >&2; }
  SERVER_PID=
}

# start_memcached [memcached options...]: memcached -U on a free port (it
# cannot pick one itself for UDP: a few random ones are tried); sets MC_PORT
# and MC_PID, skips the test when memcached is missing.
start_memcached() {
  local mc
  mc=$(command -v memcached || true)
  [ -n "$mc" ] || skip "memcached is not installed (tools/deps.sh installs it)"
  local user=()
  [ "$(id -u)" -eq 0 ] && user=(-u root)
  for _ in 1 2 3 4 5 6 7 8; do
    MC_PORT=$((20000 + RANDOM % 40000))
    "$mc" -U "$MC_PORT" -p 0 -l 127.0.0.1 -t 1 "${user[@]}" "$@" > mc.log 2>&1 &
    MC_PID=$!
    sleep 0.3
    kill -0 "$MC_PID" 2> /dev/null && return 0
    wait "$MC_PID" 2> /dev/null
  done
  cat mc.log >&2
  fail "memcached did not start"
  finish
}

stop_memcached() {
  kill "$MC_PID" 2> /dev/null
  wait "$MC_PID" 2> /dev/null
  MC_PID=
}

trap '[ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null; [ -n "$MC_PID" ] && kill "$MC_PID" 2>/dev/null; chmod -R u+rwx "$SCRATCH"; rm -rf "$SCRATCH"' EXIT

protocol() {
  # The default --max-value: values as large as a request datagram carries.
  start_server --granularity="$1" --blocks=2 --threads=64
  "$KV_CHECK" --server="127.0.0.1:$PORT" --max-value=65480 --shutdown
  status "kv-check, $1 granularity" 0 $?
  stopped "shutdown command, $1 granularity" 0 "shutdown command"
}

case_protocol_warp() { protocol warp; }
case_protocol_block() { protocol block; }

case_signals() {
  for sig in TERM INT; do
    start_server --blocks=2 --threads=64 --max-value=4096
    "$KV_CHECK" --server="127.0.0.1:$PORT" --max-value=4096 --portable > /dev/null
    status "kv-check before SIG$sig" 0 $?
    kill -"$sig" "$SERVER_PID"
    stopped "SIG$sig" 0 "SIG$sig"
  done
  start_server --no-shutdown --max-value=4096
  "$KV_CHECK" --server="127.0.0.1:$PORT" --max-value=4096 --portable --shutdown > check.out 2>&1
  status "shutdown refused with --no-shutdown" 1 $?
  grep -q "ERROR: shutdown not enabled" check.out || fail "--no-shutdown: unexpected reply"
  kill -TERM "$SERVER_PID"
  stopped "SIGTERM after a refused shutdown" 0 SIGTERM
  "$GSYS_KV" --port=70000 > /dev/null 2>&1
  status "bad --port" 1 $?
  "$GSYS_KV" --help > help.out
  status "--help" 0 $?
  grep -q "^usage: gsys-kv" help.out || fail "--help prints no usage line"
  grep -q "MiB with the defaults" help.out || fail "--help does not state the table's memory"
}

case_bench() {
  start_server --blocks=2 --threads=64 --max-value=8192
  "$KV_BENCH" --server="127.0.0.1:$PORT" --threads=2 --keys=200 --value-size=memcslap --multiget=6 --duration=1 \
    --timeout-ms=3000 --label=gsys-kv-mget > bench2.out
  status "gsys-kv-bench, 6-key gets and memcslap's value sizes" 0 $?
  cat bench2.out
  grep -q '"errors":0}' bench2.out && grep -q '"misses":0,' bench2.out || fail "multi-key gets: wrong replies or misses"
  # keys/s is the keys the gets named over the run's seconds, in both lines.
  awk '/^\{/ { match($0, /"seconds":[0-9.]+/); s = substr($0, RSTART + 10, RLENGTH - 10)
               match($0, /"get_keys":[0-9]+/); k = substr($0, RSTART + 11, RLENGTH - 11)
               match($0, /"keys_per_s":[0-9.]+/); r = substr($0, RSTART + 13, RLENGTH - 13)
               ok = RLENGTH > 0 && k > 0 && r > 0 && ((r - k / s) / r) ^ 2 < 1e-4 }
       / keys\/s, p50 / { human = 1 }
       END { exit !(ok && human) }' bench2.out || fail "gsys-kv-bench: keys/s missing or not get_keys / seconds"
  "$KV_BENCH" --server="127.0.0.1:$PORT" --threads=3 --keys=200 --value-size=300 --duration=1.5 \
    --timeout-ms=3000 --label=gsys-kv --shutdown > bench.out
  status "gsys-kv-bench against gsys-kv" 0 $?
  cat bench.out
  grep -q '"errors":0' bench.out || fail "wrong replies under load"
  grep -q '"misses":0' bench.out || fail "preloaded keys went missing"
  stopped "shutdown after load" 0 "shutdown command"
  "$KV_BENCH" --server=127.0.0.1:1 --keys=10 --duration=0.2 --timeout-ms=50 > /dev/null 2>&1
  status "gsys-kv-bench with nobody listening" 1 $?
}

case_memcached_parity() {
  start_memcached
  "$KV_CHECK" --server="127.0.0.1:$MC_PORT" --portable
  status "the portable checks against memcached" 0 $?
  stop_memcached
  start_server --max-value=4096
  "$KV_CHECK" --server="127.0.0.1:$PORT" --max-value=4096 --portable --shutdown
  status "the same checks against gsys-kv" 0 $?
  stopped "shutdown" 0 "shutdown command"
}

# The generated stream (kv_diff.cpp) to gsys-kv and to memcached, replies
# compared byte for byte, datagram by datagram (headers and message
# boundaries included). Limits that agree: values up to 20000 bytes fit
# both, 40000 fit neither (gsys-kv --max-value=30000, memcached -I 32k).
# memcached runs without its LRU crawler and maintainer threads: they hold
# item references now and then, and an incr/decr whose result is shorter
# rewrites the value in place (space padded) only when nobody else holds it.
diff_case() {
  [ -x "$KV_DIFF" ] || { fail "kv-diff not given"; finish; }
  start_memcached -I 32k -o slab_chunk_max=16384,no_lru_crawler,no_lru_maintainer
  start_server --granularity="$1" --blocks=2 --threads=64 --max-value=30000 --capacity=1024
  "$KV_DIFF" --server="127.0.0.1:$PORT" --reference="127.0.0.1:$MC_PORT" --max-value=30000 --big=20000 \
    --seed="${KV_DIFF_SEED:-1}" --steps=400
  status "kv-diff, $1 granularity: gsys-kv and memcached reply the same" 0 $?
  stop_memcached
  kill -TERM "$SERVER_PID"
  stopped "SIGTERM after kv-diff" 0 SIGTERM
  grep -q ", 0 datagrams dropped" server.log || fail "gsys-kv dropped datagrams: $(tail -1 server.log)"
}

case_diff_warp() { diff_case warp; }
case_diff_block() { diff_case block; }

# libmemcached's tools over UDP: memccp stores files (set, then add and
# replace, with flags and an expiry), every one read back and compared; then
# memcslap stores its generated keys (values up to 4989 bytes, noreply as
# libmemcached does over UDP) and every set must have arrived and been
# stored: the server's cmd_set and total_items count them, and it answered
# no errors.
clients() {
  command -v memccp > /dev/null && command -v memcslap > /dev/null ||
    skip "libmemcached-tools is not installed (tools/deps.sh installs it)"
  start_server --granularity="$1" --blocks=2 --threads=64 --capacity=4096
  local server="127.0.0.1:$PORT" files=() i
  mkdir files
  for i in $(seq 1 12); do
    head -c $((i * 1777 % 9000 + i)) /dev/urandom > "files/file$i.bin"
    files+=("files/file$i.bin")
  done
  head -c 65000 /dev/urandom > files/largest.bin   # near the datagram's limit
  files+=(files/largest.bin)
  memccp --udp --servers="$server" --flags=7 --expire=3600 "${files[@]}"
  status "memccp --udp" 0 $?
  memccp --udp --servers="$server" --add files/file1.bin        # exists: not stored, still there
  memccp --udp --servers="$server" --replace files/file2.bin
  for f in "${files[@]}"; do
    "$KV_CHECK" --server="$server" --fetch="$(basename "$f")" --out=got.bin --flags=7 > /dev/null
    status "fetch $(basename "$f") stored by memccp" 0 $?
    same "$(basename "$f") as memccp stored it" "$f" got.bin
  done
  # memcslap sends its sets as fast as it can, all noreply: they wait in the
  # server's socket buffer, 4 MiB when it may have that much
  # (SO_RCVBUFFORCE as root, or net.core.rmem_max), else fewer sets.
  local before after sets items per=400
  [ "$(id -u)" -eq 0 ] || [ "$(cat /proc/sys/net/core/rmem_max 2> /dev/null || echo 0)" -ge 4194304 ] || per=40
  before=$("$KV_CHECK" --server="$server" --stat=cmd_set)
  memcslap --udp --servers="$server" --test=set --execute-number=$per --concurrency=2 > slap.out 2>&1
  status "memcslap --udp --test=set" 0 $?
  cat slap.out
  # The sets are noreply datagrams: wait until the server has seen them all.
  for _ in $(seq 1 100); do
    after=$("$KV_CHECK" --server="$server" --stat=cmd_set)
    [ "$((after - before))" -ge $((2 * per)) ] && break
    sleep 0.2
  done
  sets=$((after - before))
  CHECKS=$((CHECKS + 1))
  [ "$sets" -eq $((2 * per)) ] || fail "memcslap sent $((2 * per)) sets, the server saw $sets"
  items=$("$KV_CHECK" --server="$server" --stat=total_items)
  CHECKS=$((CHECKS + 1))
  [ "$items" -ge $((2 * per)) ] || fail "only $items items stored in all"
  "$KV_CHECK" --server="$server" --shutdown-only > /dev/null
  stopped "shutdown after the clients" 0 "shutdown command"
  CHECKS=$((CHECKS + 1))
  grep -q " 0 error replies, 0 datagrams dropped" server.log || fail "errors or drops: $(tail -1 server.log)"
}

case_clients_warp() { clients warp; }
case_clients_block() { clients block; }

# A bad --server is a usage error (exit 2, before any client thread starts):
# a port that was not a number once aborted the program from its threads
# (std::stoi), out-of-range ports were cut to 16 bits, and a missing port or
# an unknown host waited for replies that could not come.
case_bench_usage() {
  local server what
  while IFS='|' read -r server what; do
    timeout 60 "$KV_BENCH" --server="$server" --duration=1 > usage.out 2> usage.err
    status "--server=$server" 2 $?
    CHECKS=$((CHECKS + 1))
    grep -qF "gsys-kv-bench: $what" usage.err && grep -qF "Try 'gsys-kv-bench --help'" usage.err ||
      { fail "--server=$server: expected \"$what\" and the --help hint"; cat usage.err >&2; }
  done << 'CASES'
127.0.0.1:abc|--server wants a port from 1 to 65535, got 'abc'
127.0.0.1:99999|--server wants a port from 1 to 65535, got '99999'
127.0.0.1:65536|--server wants a port from 1 to 65535, got '65536'
127.0.0.1:0|--server wants a port from 1 to 65535, got '0'
127.0.0.1:-1|--server wants a port from 1 to 65535, got '-1'
127.0.0.1:|--server wants a port from 1 to 65535, got ''
nohost|--server wants HOST:PORT, no port in 'nohost'
127.0.0.1|--server wants HOST:PORT, no port in '127.0.0.1'
:11311|--server wants HOST:PORT, no host in ':11311'
nohost.invalid:11311|--server: cannot resolve host 'nohost.invalid'
CASES
  # A host name is resolved: nobody answers on port 1, but that is no usage error.
  timeout 60 "$KV_BENCH" --server=localhost:1 --keys=10 --duration=0.2 --timeout-ms=50 > /dev/null 2> usage.err
  status "--server=localhost:1 (resolved, nobody listening)" 1 $?
  "$KV_BENCH" --help > help.out
  status "gsys-kv-bench --help" 0 $?
  grep -q "host name" help.out || fail "--help does not say HOST may be a name"
}

# Nobody answers: the run stops at the first request that gets no reply
# (it once preloaded 1000 keys at 1 s each, silent for minutes).
case_bench_no_reply() {
  timeout 60 "$KV_BENCH" --server=127.0.0.1:1 --duration=1 > noreply.out 2> noreply.err
  status "gsys-kv-bench with nobody listening, default options" 1 $?
  CHECKS=$((CHECKS + 1))
  grep -q "no reply from 127.0.0.1:1 within 1 s" noreply.err || { fail "no 'no reply from' message"; cat noreply.err >&2; }
  # Without the preload the measured run says the same.
  timeout 60 "$KV_BENCH" --server=127.0.0.1:1 --duration=0.5 --timeout-ms=200 --no-preload > noreply.out 2> noreply.err
  status "gsys-kv-bench --no-preload with nobody listening" 1 $?
  CHECKS=$((CHECKS + 1))
  grep -q "no reply from 127.0.0.1:1 within 0.2 s" noreply.err ||
    { fail "--no-preload: no 'no reply from' message"; cat noreply.err >&2; }
}

# A --port-file that cannot be written stops the server before it serves
# (a script waiting for the file would wait forever) and leaves no
# temporary file behind.
case_port_file() {
  timeout 60 "$GSYS_KV" --port=0 --port-file=/nonexistent/dir/port --max-value=4096 > pf.log 2>&1
  status "--port-file in a missing directory" 1 $?
  CHECKS=$((CHECKS + 1))
  grep -q "^gsys-kv: cannot write port file /nonexistent/dir/port: " pf.log || { fail "no message for the port file"; cat pf.log >&2; }
  mkdir portdir
  timeout 60 "$GSYS_KV" --port=0 --port-file=portdir --max-value=4096 > pf.log 2>&1
  status "--port-file naming a directory" 1 $?
  CHECKS=$((CHECKS + 1))
  grep -q "^gsys-kv: cannot write port file portdir: " pf.log || { fail "no message for the port file"; cat pf.log >&2; }
  CHECKS=$((CHECKS + 1))
  [ ! -e portdir.tmp ] || fail "portdir.tmp left behind"
}

# --stats / --json that cannot be written: the line asked for is lost, and
# the exit status says so (1) besides the message.
case_unwritable_output() {
  mkdir outdir
  start_server --max-value=4096 --stats=outdir
  "$KV_BENCH" --server="127.0.0.1:$PORT" --threads=1 --keys=20 --duration=0.3 --timeout-ms=3000 --json=outdir \
    > json.out 2> json.err
  status "gsys-kv-bench --json=DIR" 1 $?
  CHECKS=$((CHECKS + 1))
  grep -q '"errors":0' json.out && grep -q "^gsys-kv-bench: cannot write outdir" json.err ||
    { fail "gsys-kv-bench --json=DIR: expected a clean run and 'cannot write outdir'"; cat json.out json.err >&2; }
  "$KV_CHECK" --server="127.0.0.1:$PORT" --shutdown-only > /dev/null
  stopped "gsys-kv --stats=DIR" 1 "shutdown command"
  CHECKS=$((CHECKS + 1))
  grep -q "^gsys-kv: cannot write outdir" server.log || fail "gsys-kv --stats=DIR: no message"
}

run_case "$CASE"
