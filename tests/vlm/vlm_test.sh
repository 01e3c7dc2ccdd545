#!/bin/bash
# gsys-vlm end to end on the simulator: --help on every command, a synthetic
# checkpoint through inspect and prefill --check (the CPU reference agrees),
# --shards, and the messages for a truncated shard, a wrong shape, a bad
# prompt, a missing image, a directory or FIFO where a file belongs (and the
# reverse), a grid too large, a spec too large to read, weights that do not
# fit a memory limit, prompts and checkpoints too large to write, and
# --stats files that cannot be written. Usage: vlm_test.sh GSYS_VLM
set -u
vlm=$1
dir=$(mktemp -d /tmp/gsys-vlm-cli-XXXXXX)
trap 'rm -rf "$dir"' EXIT
. "$(dirname "$0")/expect.sh"

# big_vocab SRC DEST: SRC's single-file tiny checkpoint with a vocabulary of
# 2^24, 2 GiB of bf16 embeddings in a sparse file: the embeddings move past
# the other tensors (their old bytes stay, a gap no tensor names).
big_vocab() (
  export LC_ALL=C
  local src=$1 dst=$2 n hdr data le='' i
  mkdir -p "$dst"
  n=$(od -An -tu8 -N8 "$src/model.safetensors" | tr -d ' ')
  hdr=$(tail -c +9 "$src/model.safetensors" | head -c "$n")
  data=$(($(stat -c %s "$src/model.safetensors") - 8 - n))
  hdr=${hdr/'"shape":[320,64],"data_offsets":[0,40960]'/"\"shape\":[16777216,64],\"data_offsets\":[$data,$((data + 2147483648))]"}
  for i in 0 1 2 3 4 5 6 7; do le+=$(printf '\\x%02x' $(((${#hdr} >> (8 * i)) & 255))); done
  { printf "$le"; printf '%s' "$hdr"; tail -c +$((9 + n)) "$src/model.safetensors"; } >"$dst/model.safetensors"
  truncate -s $((8 + ${#hdr} + data + 2147483648)) "$dst/model.safetensors"
  sed 's/"vocab_size": 320/"vocab_size": 16777216/' "$src/config.json" >"$dst/config.json"
)

expect 0 "Commands:" "$vlm" --help
expect 2 "unknown command" "$vlm" frobnicate
for c in make-weights make-prompt inspect prefill calibrate bench-attention serve client; do
  expect 0 "usage: gsys-vlm $c" "$vlm" $c --help
done
expect 2 "required" "$vlm" prefill
expect 2 "invalid grid" "$vlm" make-prompt --model=x --out=y --grid=1,3,4

expect 0 "vocab 320" "$vlm" make-weights --preset=tiny --shards=2 --out="$dir/m"
expect 0 "vocab 320" "$vlm" make-weights --preset=tiny --out="$dir/m1"
expect 0 "OK: hidden 64, 2 layers" "$vlm" inspect --model="$dir/m"
expect 0 "2 images (32 image tokens)" "$vlm" make-prompt --model="$dir/m" --images=2 --grid=1,8,8 --out="$dir/p.json"
expect 0 "top-1 agrees" "$vlm" prefill --model="$dir/m" --prompt="$dir/p.json" --check --top-k=3
expect 0 "load: .* GB/s (GPU gsys::pread" "$vlm" prefill --model="$dir/m" --prompt="$dir/p.json"

# --shards=N writes exactly N files, each named ...-of-N (the index lists them
# all); more shards than the model has tensors is refused. Tiny has 26.
for n in 20 26; do
  expect 0 "vocab 320" "$vlm" make-weights --preset=tiny --shards=$n --out="$dir/s$n"
  got=$(ls "$dir/s$n" | grep -c '^model-.*\.safetensors$')
  named=$(ls "$dir/s$n" | grep -c "^model-000[0-9][0-9]-of-000$n\.safetensors\$")
  listed=$(grep -o '"model-[^"]*"' "$dir/s$n/model.safetensors.index.json" | sort -u | wc -l)
  [ "$got" = "$n" ] && [ "$named" = "$n" ] && [ "$listed" = "$n" ] ||
    fail "--shards=$n: $got shard files, $named named -of-000$n, $listed in the index: $(ls "$dir/s$n")"
  expect 0 "OK: hidden 64, 2 layers" "$vlm" inspect --model="$dir/s$n"
done
expect 2 "invalid shard count (the model has 26 tensors: at most 26 shards) '27'" "$vlm" make-weights --preset=tiny --shards=27 --out="$dir/s27"
[ -e "$dir/s27" ] && fail "--shards=27 wrote $dir/s27"

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
# Directories where files belong, and a --model that is not a directory.
mkdir "$dir/imgdir"
echo '{"content": [{"image": "imgdir", "grid": [1, 8, 8]}]}' >"$dir/dirimage.json"
expect 1 "imgdir: is a directory" "$vlm" prefill --model="$dir/m" --prompt="$dir/dirimage.json"
expect 1 "gsys-vlm: $dir/imgdir: is a directory" "$vlm" prefill --model="$dir/m" --prompt="$dir/imgdir"
expect 1 "gsys-vlm: $dir/imgdir: is a directory" "$vlm" prefill --model="$dir/m" --prompt="$dir/p.json" --heads="$dir/imgdir"
expect 1 "gsys-vlm: $dir/imgdir: is a directory" "$vlm" make-weights --config="$dir/imgdir" --out="$dir/x"
expect 1 "gsys-vlm: $dir/p.json: not a directory" "$vlm" prefill --model="$dir/p.json" --prompt="$dir/p.json"
expect 1 "gsys-vlm: $dir/nomodel: No such file or directory" "$vlm" inspect --model="$dir/nomodel"
mkdir -p "$dir/cfgdir/config.json"
expect 1 "gsys-vlm: $dir/cfgdir/config.json: is a directory" "$vlm" inspect --model="$dir/cfgdir"
# FIFOs without a writer where files belong: refused, not waited on (every
# open blocked for good: prompt, config, weights, image, heads, --config).
mkfifo "$dir/fifo"
for m in cfgfifo wfifo; do mkdir "$dir/$m" && cp "$dir/m1/"* "$dir/$m/"; done
rm "$dir/cfgfifo/config.json" "$dir/wfifo/model.safetensors"
mkfifo "$dir/cfgfifo/config.json" "$dir/wfifo/model.safetensors"
echo '{"content": [{"image": "fifo", "grid": [1, 8, 8]}]}' >"$dir/fifoimage.json"
expect 1 "gsys-vlm: $dir/fifo: not a regular file" timeout 20 "$vlm" prefill --model="$dir/m" --prompt="$dir/fifo"
expect 1 "gsys-vlm: $dir/cfgfifo/config.json: not a regular file" timeout 20 "$vlm" inspect --model="$dir/cfgfifo"
expect 1 "gsys-vlm: $dir/wfifo/model.safetensors: not a regular file" timeout 20 "$vlm" inspect --model="$dir/wfifo"
expect 1 "gsys-vlm: $dir/fifo: not a regular file" timeout 20 "$vlm" prefill --model="$dir/m" --prompt="$dir/fifoimage.json"
expect 1 "gsys-vlm: $dir/fifo: not a regular file" timeout 20 "$vlm" prefill --model="$dir/m" --prompt="$dir/p.json" --heads="$dir/fifo"
expect 1 "gsys-vlm: $dir/fifo: not a regular file" timeout 20 "$vlm" make-weights --config="$dir/fifo" --out="$dir/x"
# A shard index that is there but unreadable is an error (the single file
# next to it was used instead).
mkdir "$dir/idxdir" && cp "$dir/m1/"* "$dir/idxdir/" && mkdir "$dir/idxdir/model.safetensors.index.json"
expect 1 "gsys-vlm: $dir/idxdir/model.safetensors.index.json: is a directory" "$vlm" inspect --model="$dir/idxdir"
# An image name with a NUL (JSON's \u0000) named another file: the part before it.
printf '%s' '{"content": [{"image": "p.json.img0.bin\u0000x", "grid": [1, 8, 8]}]}' >"$dir/nul.json"
expect 1 "nul.json: content\[0\]: \"image\" must be a file name" "$vlm" prefill --model="$dir/m" --prompt="$dir/nul.json"
# --stats that cannot be written is an error (it said nothing and exited 0).
echo '{"content": [{"text": [1, 2, 3]}]}' >"$dir/text.json"
expect 1 "gsys-vlm: cannot write $dir/nodir/stats.json" "$vlm" prefill --model="$dir/m" --prompt="$dir/text.json" --stats="$dir/nodir/stats.json"
# A prompt spec of 2 GiB (a sparse file) is refused by its size, not read
# (it was read whole, and under this memory limit std::bad_alloc aborted).
truncate -s 2G "$dir/huge-spec.json"
expect 1 "huge-spec.json: too large (2147483648 bytes; at most 1073741824)" \
  bash -c 'ulimit -v 1500000; exec "$@"' - "$vlm" prefill --model="$dir/m" --prompt="$dir/huge-spec.json"
rm -f "$dir/huge-spec.json"
# Weights that do not fit in memory: 2 GiB of embeddings (a sparse file)
# under a 1.5 GB memory limit. calibrate's CPU weights aborted on
# std::bad_alloc; prefill said only "std::bad_alloc".
big_vocab "$dir/m1" "$dir/big"
expect 0 "vocab 16777216, tied embeddings" "$vlm" inspect --model="$dir/big"
expect 1 "big/model.safetensors: tensor model.embed_tokens.weight: 2147483648 bytes do not fit in memory" \
  bash -c 'ulimit -v 1500000; exec "$@"' - "$vlm" calibrate --model="$dir/big" --prompt="$dir/p.json" --out="$dir/h.json"
expect 1 "gsys-vlm: device memory: cannot allocate 4295215360 bytes" \
  bash -c 'ulimit -v 1500000; exec "$@"' - "$vlm" prefill --model="$dir/big" --prompt="$dir/p.json"
rm -rf "$dir/big"
# make-prompt checks the prompt before writing any image (it wrote 70
# images, 4.7 GB, then said the prompt was too long); make-weights and
# make-prompt refuse what the disk cannot hold (a 40 TB checkpoint was
# written until the disk was full). ulimit -f: a regression fails, not fills.
mkdir "$dir/mp"
expect 1 "make-prompt: $dir/mp/big.json: the prompt would have 18350797 tokens: a prompt has at most 16777216" \
  bash -c 'ulimit -f 10240; exec "$@"' - "$vlm" make-prompt --model="$dir/m" --images=70 --grid=1,1024,1024 --out="$dir/mp/big.json"
[ -z "$(ls "$dir/mp")" ] || fail "make-prompt wrote files for a prompt it refused: $(ls "$dir/mp")"
# --out a directory: said so, and nothing written beside it (the images were,
# then "cannot write").
expect 1 "gsys-vlm: $dir/mp: is a directory" "$vlm" make-prompt --model="$dir/m" --images=1 --out="$dir/mp"
[ -e "$dir/mp.img0.bin" ] && fail "make-prompt wrote $dir/mp.img0.bin for an --out it refused"
expect 1 "make-weights: the checkpoint: .* to write; $dir has .* free" \
  bash -c 'ulimit -f 10240; exec "$@"' - "$vlm" make-weights --preset=tiny --hidden=1048576 --heads=8192 --kv-heads=8192 \
  --vocab=16777216 --out="$dir/w40t"
[ -e "$dir/w40t" ] && fail "make-weights wrote $dir/w40t for a checkpoint that does not fit"
# A grid too large says so (and the limit); a bad one says what is wrong.
sed 's/"grid": \[1, 8, 8\]/"grid": [1, 100000, 100000]/' "$dir/p.json" >"$dir/huge.json"
expect 1 "grid \[1, 100000, 100000\] is too large: t, h and w are at most 4096" "$vlm" prefill --model="$dir/m" --prompt="$dir/huge.json"
sed 's/"grid": \[1, 8, 8\]/"grid": [64, 4096, 4096]/' "$dir/p.json" >"$dir/long.json"
expect 1 "grid \[64, 4096, 4096\] makes 268435456 tokens: a prompt has at most 16777216" "$vlm" prefill --model="$dir/m" --prompt="$dir/long.json"
sed 's/"grid": \[1, 8, 8\]/"grid": [1, 100001, 8]/' "$dir/p.json" >"$dir/odd.json"
expect 1 "grid \[1, 100001, 8\] must be positive with even h and w" "$vlm" prefill --model="$dir/m" --prompt="$dir/odd.json"
expect 2 "grid too large (T at most 64, H and W at most 1024) '1,2048,8'" "$vlm" make-prompt --model="$dir/m" --out="$dir/y" --grid=1,2048,8
echo '{"content": [{"text": [1, 2, 99999]}]}' >"$dir/vocab.json"
expect 1 "token id 99999 is outside the vocabulary" "$vlm" prefill --model="$dir/m" --prompt="$dir/vocab.json"

# BlindSight: a planted model, calibration recovers its heads, the sparse
# prefill matches the reference under the same masks.
expect 1 "needs head_dim >= 32" "$vlm" make-weights --preset=tiny --plant --out="$dir/np"
expect 0 "planted.json: dense 2, sink 2, intra 2, intra+sink 2" "$vlm" make-weights --preset=tiny --hidden=128 --plant --dtype=fp32 --out="$dir/pm"
expect 0 "3 images" "$vlm" make-prompt --model="$dir/pm" --plant --images=3 --grid=1,16,16 --text=4 --seed=1 --out="$dir/c1.json"
expect 0 "5 images" "$vlm" make-prompt --model="$dir/pm" --plant --images=5 --grid=1,8,8 --grid=1,16,12 --text=9 --seed=2 --out="$dir/c2.json"
expect 0 "4 images" "$vlm" make-prompt --model="$dir/pm" --plant --images=4 --grid=1,16,16 --text=6 --seed=3 --out="$dir/e.json"
expect 2 "required" "$vlm" calibrate --model="$dir/pm" --out="$dir/heads.json"
expect 2 "invalid alpha" "$vlm" calibrate --model="$dir/pm" --prompt="$dir/c1.json" --alpha=0.1:2 --out="$dir/heads.json"
expect 0 "planted: 8 of 8 heads recovered" "$vlm" calibrate --model="$dir/pm" --prompt="$dir/c1.json" --prompt="$dir/c2.json" --out="$dir/heads.json"
expect 0 "planted: 8 of 8 heads recovered" "$vlm" calibrate --engine=device --model="$dir/pm" --prompt="$dir/c1.json" --prompt="$dir/c2.json" --out="$dir/heads-dev.json"
expect 2 "invalid engine" "$vlm" calibrate --engine=gpu --model="$dir/pm" --prompt="$dir/c1.json" --out="$dir/x.json"
expect 0 "blindsight flops: attention .* saved" "$vlm" prefill --model="$dir/pm" --prompt="$dir/e.json" --heads="$dir/heads.json"
expect 0 "fp64, same block masks.*top-1 agrees" "$vlm" prefill --model="$dir/pm" --prompt="$dir/e.json" --heads="$dir/heads.json" --check
sed 's/"intra+sink"/"sparse"/' "$dir/heads.json" >"$dir/badheads.json"
expect 1 "badheads.json: layer 0: unknown category" "$vlm" prefill --model="$dir/pm" --prompt="$dir/e.json" --heads="$dir/badheads.json"
expect 0 "4 layers" "$vlm" make-weights --preset=tiny --hidden=128 --layers=4 --out="$dir/pm4"
expect 1 "heads.json: 2 layers x 4 heads, the model has 4 x 4" "$vlm" prefill --model="$dir/pm4" --prompt="$dir/e.json" --heads="$dir/heads.json"
expect 0 "faster, FLOPs ratio" "$vlm" bench-attention --tokens=256 --images=4 --heads=2 --kv-heads=1 --head-dim=32 --reps=1
expect 2 "invalid --mix" "$vlm" bench-attention --mix=sparse
# A length too short for the images is refused (64 tokens and 1000 images
# ran a prompt of 14000: minutes on the simulator); --stats that cannot be
# written is an error (it exited 0).
expect 2 "token count too small for 1000 images (at least 14016) '64'" timeout 20 "$vlm" bench-attention --tokens=64 --images=1000 --reps=1
expect 1 "gsys-vlm: cannot write $dir/nodir/b.json" "$vlm" bench-attention --tokens=256 --images=4 --heads=2 --kv-heads=1 \
  --head-dim=32 --reps=1 --stats="$dir/nodir/b.json"

finish "gsys-vlm CLI"
