#!/bin/bash
# gsys-vlm against an independent numpy forward pass (numpy_check.py) on a
# tiny model with three images of different grids, one of them video-like
# (t = 2). Exit 77 (skip) when python3-numpy is missing.
# Usage: numpy_test.sh GSYS_VLM
set -eu
vlm=$1
here=$(dirname "$0")
# Debian's python3-numpy belongs to /usr/bin/python3, which a python3 first
# on PATH (pyenv, a venv) may not be.
py=
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import numpy' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { echo "python3-numpy is not installed; skipping"; exit 77; }
dir=$(mktemp -d /tmp/gsys-vlm-numpy-XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$vlm" make-weights --preset=tiny --shards=2 --out="$dir/m" >/dev/null
"$vlm" make-prompt --model="$dir/m" --images=3 --grid=1,8,8 --grid=2,4,6 --grid=1,4,8 --dtype=bf16 \
  --out="$dir/p.json" >/dev/null
"$vlm" prefill --model="$dir/m" --prompt="$dir/p.json" --logits-out="$dir/logits.bin" >/dev/null
"$py" "$here/numpy_check.py" "$dir/m" "$dir/p.json" "$dir/logits.bin"
