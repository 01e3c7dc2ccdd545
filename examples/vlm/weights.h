// Which tensors the decoder needs (Hugging Face Qwen2-VL names and shapes),
// checking a checkpoint against them, writing a deterministic synthetic
// checkpoint, and reading tensors on the host (for the CPU reference and
// the loader's checksum test).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vlm/config.h"
#include "vlm/safetensors.h"

namespace vlm {

// What a tensor is for; decides its synthetic values.
enum class role : std::uint8_t { embedding, linear, bias, norm };

struct tensor_spec {
  std::string name;  // without the "model." / "model.language_model." prefix handling: full HF name
  std::vector<std::int64_t> shape;
  role r;
};

// Per layer, in this order.
enum layer_tensor : int {
  kInputNorm, kQ, kQBias, kK, kKBias, kV, kVBias, kO, kPostNorm, kGate, kUp, kDown, kLayerTensors
};

// Every tensor the decoder reads: embed_tokens, per layer the kLayerTensors
// above, the final norm, and lm_head unless the embeddings are tied.
std::vector<tensor_spec> expected_tensors(const config& c);

// Index into expected_tensors(c).
inline std::size_t layer_tensor_index(int layer, int which) { return 1 + std::size_t(layer) * kLayerTensors + which; }
inline std::size_t final_norm_index(const config& c) { return 1 + std::size_t(c.layers) * kLayerTensors; }
inline std::size_t lm_head_index(const config& c) { return c.tie_embeddings ? 0 : final_norm_index(c) + 1; }

// Where each expected tensor is in a checkpoint.
struct weight_plan {
  std::vector<const tensor_info*> tensors;  // parallel to expected_tensors(c)
  std::uint64_t bytes = 0;                  // on disk
  std::uint64_t params = 0;
  std::string error;
  bool ok() const { return error.empty(); }
};

// Finds each tensor (as "model.X", or "model.language_model.X" as newer
// transformers save it; lm_head also as "lm_head.weight") and checks its
// shape. Errors name the file, the tensor, and expected vs found.
weight_plan plan_weights(const checkpoint& ck, const config& c);

// Writes dir/config.json and the safetensors (one file, or exactly `shards`
// files, model-0000i-of-0000N.safetensors, with model.safetensors.index.json;
// an error, nothing written, when `shards` exceeds the tensor count). Values are a deterministic function of
// (seed, tensor name, index): embeddings ~U(-1,1), linear weights
// ~U(-1,1)/sqrt(in), biases ~U(-0.1,0.1), norm weights ~1+U(-0.1,0.1).
// `progress` (may be empty) gets bytes written so far and the total;
// `adjust` (may be empty) maps (tensor, index, synthetic value) to the value
// written (make-weights --plant). Returns "" or an error.
std::string write_synthetic_checkpoint(const std::string& dir, const config& c, dtype dt, unsigned shards,
                                       std::uint64_t seed,
                                       const std::function<void(std::uint64_t, std::uint64_t)>& progress = {},
                                       const std::function<float(const tensor_spec&, std::uint64_t, float)>& adjust = {});

// The synthetic value of element i of a tensor (before rounding to dtype).
float synthetic_value(std::uint64_t seed, const tensor_spec& t, std::uint64_t i);

// Reads a tensor's raw bytes with pread(2): "" or an error.
std::string read_tensor_bytes(const checkpoint& ck, const tensor_info& t, std::vector<unsigned char>& out);
// ... converted to fp32.
std::string read_tensor_f32(const checkpoint& ck, const tensor_info& t, std::vector<float>& out);

// FNV-1a of a string (tensor names -> seeds).
std::uint64_t name_hash(const std::string& s);

}  // namespace vlm
