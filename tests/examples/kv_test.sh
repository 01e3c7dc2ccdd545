#!/usr/bin/env bash
# gsys-kv: protocol replies against a reference model (kv-check), the same
# portable checks against memcached, clean stops (shutdown command, SIGINT,
# SIGTERM), and a short load run checked by gsys-kv-bench.
#   kv_test.sh GSYS_KV KV_CHECK GSYS_KV_BENCH CASE
# CASE: protocol_warp | protocol_block | signals | bench | memcached_parity
. "$(dirname "$0")/lib.sh"
GSYS_KV=$1
KV_CHECK=$2
KV_BENCH=$3
CASE=$4
cd "$SCRATCH"
SERVER_PID=

# start_server [gsys-kv options...]: on a free port; sets PORT and SERVER_PID.
start_server() {
  rm -f port
  "$GSYS_KV" --port=0 --port-file=port --max-value=4096 "$@" > server.log 2>&1 &
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

trap '[ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null; chmod -R u+rwx "$SCRATCH"; rm -rf "$SCRATCH"' EXIT

protocol() {
  start_server --granularity="$1" --blocks=2 --threads=64
  "$KV_CHECK" --server="127.0.0.1:$PORT" --max-value=4096 --shutdown
  status "kv-check, $1 granularity" 0 $?
  stopped "shutdown command, $1 granularity" 0 "shutdown command"
}

case_protocol_warp() { protocol warp; }
case_protocol_block() { protocol block; }

case_signals() {
  for sig in TERM INT; do
    start_server --blocks=2 --threads=64
    "$KV_CHECK" --server="127.0.0.1:$PORT" --max-value=4096 --portable > /dev/null
    status "kv-check before SIG$sig" 0 $?
    kill -"$sig" "$SERVER_PID"
    stopped "SIG$sig" 0 "SIG$sig"
  done
  start_server --no-shutdown
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
}

case_bench() {
  start_server --blocks=2 --threads=64
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
  local mc
  mc=$(command -v memcached || true)
  [ -n "$mc" ] || skip "memcached is not installed (tools/deps.sh installs it)"
  local port=$((20000 + RANDOM % 20000))
  local user=()
  [ "$(id -u)" -eq 0 ] && user=(-u root)
  "$mc" -U "$port" -p 0 -l 127.0.0.1 -t 1 "${user[@]}" > mc.log 2>&1 &
  local mc_pid=$!
  sleep 0.5
  kill -0 "$mc_pid" 2> /dev/null || { cat mc.log >&2; skip "memcached did not start"; }
  "$KV_CHECK" --server="127.0.0.1:$port" --portable
  status "the portable checks against memcached" 0 $?
  kill "$mc_pid"
  wait "$mc_pid" 2> /dev/null
  start_server
  "$KV_CHECK" --server="127.0.0.1:$PORT" --max-value=4096 --portable --shutdown
  status "the same checks against gsys-kv" 0 $?
  stopped "shutdown" 0 "shutdown command"
}

"case_$CASE"
finish
