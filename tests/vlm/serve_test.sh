#!/bin/bash
# gsys-vlm serve and client end to end on the simulator: a client's answer
# matches prefill's; every kind of bad request gets its error reply and the
# server goes on serving; --requests and SIGTERM stop it cleanly; a --data
# that is not a directory is refused before serving.
# Usage: serve_test.sh GSYS_VLM
set -u
vlm=$1
dir=$(mktemp -d /tmp/gsys-vlm-serve-XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
. "$(dirname "$0")/expect.sh"

# start_server OUT ARGS...: starts a server in the background and sets $port
# from its "listening on" line (30 s at most).
start_server() {
  local out=$1
  shift
  "$vlm" serve "$@" >"$out" 2>&1 &
  pids+=($!)
  server=$!
  port=
  for _ in $(seq 300); do
    port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$out")
    [ -n "$port" ] && return 0
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  fail "server did not start: $(cat "$out")"
  exit 1
}

mkdir -p "$dir/data"
expect 0 "vocab 320" "$vlm" make-weights --preset=tiny --out="$dir/m"
expect 0 "2 images" "$vlm" make-prompt --model="$dir/m" --images=2 --grid=1,8,8 --out="$dir/data/p.json"
expect 0 "3 images" "$vlm" make-prompt --model="$dir/m" --images=3 --grid=1,16,16 --out="$dir/data/long.json"
expect 0 "3 images" "$vlm" make-prompt --model="$dir/m" --images=3 --grid=1,8,8 --out="$dir/data/three.json"
want=$("$vlm" prefill --model="$dir/m" --prompt="$dir/data/p.json" --top-k=3 | awk '/^top-3/ {on = 1; next} on {printf "%s ", $1}')
[ -n "$want" ] || fail "prefill printed no top-3"

start_server "$dir/serve.out" --model="$dir/m" --port=0 --data="$dir/data" --requests=21 --max-request=10000 \
  --max-tokens=150 --max-images=2 --queue=4 --log="$dir/serve.log"

# A second server cannot have the port.
expect 1 "cannot bind 127.0.0.1:$port: Address already in use" "$vlm" serve --model="$dir/m" --port="$port"

# 1: the same answer as prefill.
out=$("$vlm" client --port="$port" --prompt="$dir/data/p.json" --top-k=3 2>&1) || fail "client: $out"
got=$(sed -n 's/^request 0: .*top \(.*\); load.*/\1/p' <<<"$out" | sed 's/ ([^)]*)//g; s/,//g')
[ "$got " = "$want" ] || fail "client's top-3 '$got' differs from prefill's '$want': $out"

# 2-7: six requests at once, more than the server's queue of 4: the GPU's
# receiver takes them while the first is served, and each is answered, with
# prefill's answer. (A serving path that waited for the whole device, not
# just its own stream, would wait for the resident receiver: no reply.)
out=$("$vlm" client --port="$port" --prompt="$dir/data/p.json" --top-k=3 --requests=6 --in-flight=6 --timeout=60 2>&1) ||
  fail "client --in-flight=6: $out"
grep -q "6 of 6 answered" <<<"$out" || fail "client --in-flight=6: $out"
for i in 0 1 2 3 4 5; do
  got=$(sed -n "s/^request $i: .*top \(.*\); load.*/\1/p" <<<"$out" | sed 's/ ([^)]*)//g; s/,//g')
  [ "$got " = "$want" ] || fail "request $i of the burst: top-3 '$got', prefill's '$want': $out"
done

# 8-19: bad requests (an empty datagram too: it does not stop the server), each answered with its reason.
expect 1 "error: request: line 1, column 21: unexpected end of input" "$vlm" client --port="$port" --raw='{"id": 5, "prompt": '
expect 1 "error: request: line 1, column 1: unexpected end of input" "$vlm" client --port="$port" --raw=''
expect 1 "error: request of 12000 bytes: the server takes at most 10000" "$vlm" client --port="$port" --raw="$(head -c 12000 /dev/zero | tr '\0' x)"
expect 1 "nowhere.bin: no such file" "$vlm" client --port="$port" --raw='{"id": 6, "prompt": {"content": [{"image": "nowhere.bin", "grid": [1, 8, 8]}]}}'
echo x >"$dir/outside.bin"
expect 1 "outside the server's data directory" "$vlm" client --port="$port" --raw='{"id": 7, "prompt": {"content": [{"image": "../outside.bin", "grid": [1, 8, 8]}]}}'
expect 1 "token id 999 is outside the vocabulary" "$vlm" client --port="$port" --raw='{"id": 8, "prompt": {"content": [{"text": [1, 999]}]}}'
expect 1 "tokens: the server takes at most 150" "$vlm" client --port="$port" --prompt="$dir/data/long.json"
cp "$dir/data/p.json.img1.bin" "$dir/data/short.bin"
truncate -s 1000 "$dir/data/short.bin"
expect 1 "short.bin: expected 4096 bytes (16 tokens x 64 F32), found 1000" "$vlm" client --port="$port" \
  --raw='{"id": 9, "prompt": {"content": [{"image": "short.bin", "grid": [1, 8, 8]}]}}'

# A path of 1500 control characters: escaped six-fold, the error no longer
# fits the server's 8 KiB reply buffer (the old code overran it); it is cut
# to fit.
long=$(printf '\\u0001%.0s' $(seq 1500))
expect 1 "error: image .*\.\.\.$" "$vlm" client --port="$port" \
  --raw='{"id": 10, "prompt": {"content": [{"image": "'"$long"'", "grid": [1, 8, 8]}]}}'

expect 1 "error: prompt with 3 images: the server takes at most 2" "$vlm" client --port="$port" --prompt="$dir/data/three.json"
mkdir "$dir/data/sub"
expect 1 "error: .*/data/sub: is a directory" "$vlm" client --port="$port" \
  --raw='{"id": 11, "prompt": {"content": [{"image": "sub", "grid": [1, 8, 8]}]}}'
# A FIFO without a writer in the data directory: refused (its open blocked
# the server for good, SIGTERM included).
mkfifo "$dir/data/fifo"
expect 1 "error: .*/data/fifo: not a regular file" timeout 60 "$vlm" client --port="$port" --timeout=30 \
  --raw='{"id": 12, "prompt": {"content": [{"image": "fifo", "grid": [1, 8, 8]}]}}'
exec 3<>"$dir/data/fifo"  # a writer: a server still blocked in that open goes on (and the test ends)

# 20-21: and it still serves.
expect 0 "2 of 2 answered" "$vlm" client --port="$port" --prompt="$dir/data/p.json" --requests=2

wait "$server"
rc=$?
[ "$rc" = 0 ] || fail "server exited $rc: $(cat "$dir/serve.out")"
grep -q "stopped (--requests reached): 21 requests answered (12 errors, of which 1 oversized" "$dir/serve.out" ||
  fail "server summary: $(cat "$dir/serve.out")"
[ "$(wc -l <"$dir/serve.log")" = 21 ] || fail "the log has $(wc -l <"$dir/serve.log") lines, not 21"
[ "$(grep -c '"ok":true' "$dir/serve.log")" = 9 ] || fail "the log has not 9 ok replies: $(cat "$dir/serve.log")"

# SIGTERM while the receiver waits: a clean stop.
start_server "$dir/serve2.out" --model="$dir/m" --port=0 --data="$dir/data" --log=-
kill -TERM "$server"
wait "$server"
rc=$?
[ "$rc" = 0 ] || fail "server exited $rc after SIGTERM: $(cat "$dir/serve2.out")"
grep -q "stopped (signal): 0 requests answered" "$dir/serve2.out" || fail "after SIGTERM: $(cat "$dir/serve2.out")"

expect 2 "required" "$vlm" client --raw=x
expect 2 "invalid top-k" "$vlm" client --port=1 --raw=x --top-k=65
expect 2 "invalid requests in flight" "$vlm" client --port=1 --raw=x --in-flight=0
expect 2 "invalid queue length" "$vlm" serve --model="$dir/m" --queue=0
# --data must be a directory: a file or a missing path is refused before
# serving (timeout: a server that starts anyway fails here, not hangs).
expect 2 "--data must be a directory: .*outside.bin: not a directory" timeout 20 "$vlm" serve --model="$dir/m" --port=0 --data="$dir/outside.bin"
expect 2 "--data must be a directory: .*nodir: No such file or directory" timeout 20 "$vlm" serve --model="$dir/m" --port=0 --data="$dir/nodir"

finish "gsys-vlm serve"
