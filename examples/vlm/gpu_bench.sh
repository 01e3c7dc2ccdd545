#!/bin/bash
# gsys-vlm on a GPU, in one go (no network needed): the kernel tests, a small
# model checked against the CPU reference, then Qwen2-VL-2B shapes (a
# synthetic bf16 checkpoint) at about 8K and 32K tokens, and BlindSight's
# attention kernel dense vs block-sparse at 36K, 64K and 128K tokens. One JSON
# line per run goes to OUT/vlm-gpu-<date>.jsonl (load GB/s, phase times, GFLOP/s).
#
#   examples/vlm/gpu_bench.sh BUILD_DIR [OUT_DIR] [WORK_DIR]
#
# BUILD_DIR holds gsys-vlm-cuda and vlm_kernel_test_cuda (built with nvcc);
# WORK_DIR (default /tmp/gsys-vlm-bench) gets the 4.4 GB checkpoint.
set -u
build=${1:?usage: gpu_bench.sh BUILD_DIR [OUT_DIR] [WORK_DIR]}
out=${2:-bench/results}
work=${3:-/tmp/gsys-vlm-bench}
vlm=$build/examples/vlm/gsys-vlm-cuda
test=$build/tests/vlm/vlm_kernel_test_cuda
stats=$out/vlm-gpu-$(date -u +%Y%m%d-%H%M%S).jsonl
mkdir -p "$out" "$work"
status=0
step() { echo "== $*"; }

if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "no GPU (nvidia-smi -L failed)"
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/gpu: /'

step "kernel tests"
"$test" --gtest_brief=1 || status=1

step "small model, checked against the CPU reference"
"$vlm" make-weights --preset=small --out="$work/small" >/dev/null &&
  "$vlm" make-prompt --model="$work/small" --images=3 --grid=1,32,32 --text=16 --out="$work/small.json" >/dev/null &&
  "$vlm" prefill --model="$work/small" --prompt="$work/small.json" --check --stats="$stats" || status=1

step "Qwen2-VL-2B shapes"
if [ ! -f "$work/2b/model.safetensors" ]; then
  "$vlm" make-weights --preset=qwen2-vl-2b --out="$work/2b" || exit 1
fi
"$vlm" inspect --model="$work/2b" || status=1
for images in 31 127; do  # 256 tokens each (448x448): about 8K and 32K tokens with the text
  "$vlm" make-prompt --model="$work/2b" --images=$images --grid=1,32,32 --text=8 --out="$work/p$images.json" &&
    "$vlm" prefill --model="$work/2b" --prompt="$work/p$images.json" --stats="$stats" || status=1
done
step "BlindSight: the attention kernel dense vs tile lists, Qwen2-VL-2B attention shapes (12/2 heads, head_dim 128)"
# 16 images and, per head, a quarter of each category (the planted pattern);
# docs/blindsight.md. One JSON line per length.
"$vlm" bench-attention --tokens=36864,65536,131072 --images=16 --stats="$stats" || status=1
echo "results: $stats"
exit $status
