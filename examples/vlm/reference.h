// The CPU reference of the whole prefill: plain loops, fp64 accumulation,
// nothing shared with the kernels but the weights. The tests hold the
// kernels to it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vlm/config.h"
#include "vlm/prompt.h"
#include "vlm/safetensors.h"
#include "vlm/weights.h"

namespace vlm {

// The decoder's weights in fp32, parallel to expected_tensors(c).
struct host_weights {
  config c;
  std::vector<std::vector<float>> t;
  const std::vector<float>& layer(int l, int which) const { return t[layer_tensor_index(l, which)]; }
};

// Reads every planned tensor on the host (pread(2)). "" or an error.
std::string load_host_weights(const checkpoint& ck, const weight_plan& plan, const config& c, host_weights& out);

// Reads an image's embeddings (tokens x hidden, converted to fp32). "" or an error
// naming the file and the expected vs found size.
std::string load_image_embeddings(const image_input& im, std::int64_t hidden, std::vector<float>& out);

// Writes an image embedding file of random values in [-1, 1) (deterministic in seed).
std::string write_image_embeddings(const std::string& path, std::int64_t tokens, std::int64_t hidden, dtype dt,
                                   std::uint64_t seed);

// Attention tile for block masks: a mask says, per head, which tiles of
// kAttnTile queries x kAttnTile keys are computed (layout [head][qtile][ktile],
// nonzero = computed; the causal mask applies on top).
constexpr int kAttnTile = 32;

struct reference_output {
  std::vector<double> hidden;  // S x hidden: the residual stream after the last layer
  std::vector<double> logits;  // vocab: LM head on the final-normed last token
};

// The forward pass. `images[k]` holds image k's embeddings. `block_mask`
// (optional, layout above) restricts attention: layer l uses
// block_mask + l * mask_layer_stride (0: the same mask for every layer).
reference_output reference_forward(const host_weights& w, const prompt& p, const std::vector<std::vector<float>>& images,
                                   const std::uint8_t* block_mask = nullptr, std::size_t mask_layer_stride = 0);

// FLOPs of a prefill of S tokens (multiply-add = 2), split by kind.
struct flop_count {
  double matmul = 0, attention = 0, lm_head = 0;
  double total() const { return matmul + attention + lm_head; }
};
flop_count prefill_flops(const config& c, std::int64_t S);

}  // namespace vlm
