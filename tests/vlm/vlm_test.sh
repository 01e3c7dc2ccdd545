#!/bin/bash
# gsys-vlm end to end on the simulator: --help on every command, a synthetic
# checkpoint through inspect and prefill --check (the CPU reference agrees),
# and the messages for a truncated shard, a wrong shape, a bad prompt and a
# missing image. Usage: vlm_test.sh GSYS_VLM
set -u
vlm=$1
dir=$(mktemp -d /tmp/gsys-vlm-cli-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect STATUS PATTERN CMD...: CMD exits with STATUS and its output matches PATTERN.
expect() {
  local status=$1 pattern=$2
  shift 2
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" != "$status" ]; then fail "$* exited $rc, not $status: $out"; return; fi
  if ! grep -q -- "$pattern" <<<"$out"; then fail "$* printed no '$pattern': $out"; fi
}

expect 0 "Commands:" "$vlm" --help
expect 2 "unknown command" "$vlm" frobnicate
for c in make-weights make-prompt inspect prefill; do
  expect 0 "usage: gsys-vlm $c" "$vlm" $c --help
done
expect 2 "required" "$vlm" prefill
expect 2 "invalid grid" "$vlm" make-prompt --model=x --out=y --grid=1,3,4

expect 0 "vocab 320" "$vlm" make-weights --preset=tiny --shards=2 --out="$dir/m"
expect 0 "OK: hidden 64, 2 layers" "$vlm" inspect --model="$dir/m"
expect 0 "2 images (32 image tokens)" "$vlm" make-prompt --model="$dir/m" --images=2 --grid=1,8,8 --out="$dir/p.json"
expect 0 "top-1 agrees" "$vlm" prefill --model="$dir/m" --prompt="$dir/p.json" --check --top-k=3
expect 0 "load: .* GB/s (GPU gsys::pread" "$vlm" prefill --model="$dir/m" --prompt="$dir/p.json"

# A config that disagrees with the tensors: expected vs found shape.
cp -r "$dir/m" "$dir/wide"
sed -i 's/"intermediate_size": 96/"intermediate_size": 128/' "$dir/wide/config.json"
expect 1 "tensor model.layers.0.mlp.gate_proj.weight: expected shape \[128, 64\], found \[96, 64\]" "$vlm" inspect --model="$dir/wide"

# A truncated shard.
cp -r "$dir/m" "$dir/cut"
truncate -s 2000 "$dir/cut/model-00002-of-00002.safetensors"
expect 1 "model-00002-of-00002.safetensors: tensor .*truncated file" "$vlm" inspect --model="$dir/cut"

# A corrupt header.
cp -r "$dir/m" "$dir/bad"
printf '\x10\x00\x00\x00\x00\x00\x00\x00{"a": [1, 2,   ' | dd of="$dir/bad/model-00001-of-00002.safetensors" conv=notrunc status=none
expect 1 "model-00001-of-00002.safetensors: corrupt header" "$vlm" inspect --model="$dir/bad"

# Bad prompts.
echo '{"content": [' >"$dir/broken.json"
expect 1 "broken.json: line 2, column 1: unexpected end of input" "$vlm" prefill --model="$dir/m" --prompt="$dir/broken.json"
echo '{"content": [{"image": "nowhere.bin", "grid": [1, 4, 4]}]}' >"$dir/noimage.json"
expect 1 "nowhere.bin: No such file" "$vlm" prefill --model="$dir/m" --prompt="$dir/noimage.json"
truncate -s 1000 "$dir/p.json.img1.bin"
expect 1 "p.json.img1.bin: expected 4096 bytes (16 tokens x 64 F32), found 1000" "$vlm" prefill --model="$dir/m" --prompt="$dir/p.json"
echo '{"content": [{"text": [1, 2, 99999]}]}' >"$dir/vocab.json"
expect 1 "token id 99999 is outside the vocabulary" "$vlm" prefill --model="$dir/m" --prompt="$dir/vocab.json"

if [ "$fails" -ne 0 ]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all gsys-vlm CLI checks passed"
