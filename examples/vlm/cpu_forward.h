// A fast CPU path of the prefill in fp32: std::thread workers and blocked
// loops whose inner loop is a contiguous multiply-add the compiler
// vectorises (no reduction in the innermost loop). Its attention walks the
// same per-head tile lists as the kernel, so a skipped tile costs nothing
// here either and sparse/dense CPU time is meaningful. calibrate runs its
// dense prefills through it (with the per-head attention masses), the
// agreement checks and the benchmark too; the kernels (engine.cuh) stay
// the GPU / simulator path.
#pragma once

#include <cstdint>
#include <vector>

#include "vlm/blindsight.h"
#include "vlm/prompt.h"
#include "vlm/reference.h"

namespace vlm {

// out (S x heads x D) = causal GQA attention of q (S x heads x D), k and v
// (S x kv_heads x D). `tiles` and `cats` (one per head; both null: dense)
// select the key tiles per head and query tile. `threads` 0 = all cores.
void cpu_attention(const float* q, const float* k, const float* v, float* out, std::int64_t S, int heads,
                   int kv_heads, int D, const tile_lists* tiles, const head_category* cats, unsigned threads = 0);

struct cpu_forward_options {
  const tile_lists* tiles = nullptr;         // with cats: block-sparse attention
  const std::vector<head_category>* cats = nullptr;  // layers x heads
  const token_roles* roles = nullptr;        // with mass: calibration statistics
  std::vector<head_mass>* mass = nullptr;    // layers x heads, filled (dense prefill only)
  bool keep_hidden = false;
  bool all_logits = false;  // logits of every position (S x vocab), for agreement over a whole prompt
  unsigned threads = 0;
};

struct cpu_output {
  std::vector<float> hidden;  // S x hidden after the last layer (keep_hidden)
  std::vector<float> logits;  // vocab (all_logits: S x vocab)
  double attention_s = 0, total_s = 0;
};

cpu_output cpu_forward(const host_weights& w, const prompt& p, const std::vector<std::vector<float>>& images,
                       const cpu_forward_options& o = {});

}  // namespace vlm
