// The language decoder's shape, read from a Hugging Face config.json of a
// qwen2_vl model (the fields this engine uses; everything else is ignored).
// parse_config is a pure function: text in, config or error out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vlm {

enum class dtype : std::uint8_t { f32, f16, bf16 };
const char* dtype_name(dtype d);              // "F32", "F16", "BF16" (safetensors spelling)
bool parse_dtype(std::string_view s, dtype& out);  // also "float32", "bfloat16", ... (torch_dtype)
inline std::uint32_t dtype_bytes(dtype d) { return d == dtype::f32 ? 4 : 2; }

struct config {
  std::int64_t hidden = 0;        // hidden_size
  std::int64_t layers = 0;        // num_hidden_layers
  std::int64_t heads = 0;         // num_attention_heads
  std::int64_t kv_heads = 0;      // num_key_value_heads
  std::int64_t ffn = 0;           // intermediate_size
  std::int64_t vocab = 0;         // vocab_size
  double rms_eps = 1e-6;          // rms_norm_eps
  double rope_theta = 1000000.0;  // rope_theta
  std::int64_t mrope_section[3] = {0, 0, 0};  // rope_scaling.mrope_section: t, h, w shares of head_dim/2
  bool tie_embeddings = false;    // tie_word_embeddings
  dtype torch_dtype = dtype::bf16;
  // Chat-template tokens (Qwen2-VL ids by default; image_token_id etc.
  // from the config; <|im_end|> is eos_token_id, <|im_start|> the id before).
  std::int64_t vision_start = 151652, vision_end = 151653, image_pad = 151655;
  std::int64_t im_start = 151644, im_end = 151645;

  std::int64_t head_dim() const { return heads ? hidden / heads : 0; }
  std::int64_t q_dim() const { return heads * head_dim(); }
  std::int64_t kv_dim() const { return kv_heads * head_dim(); }
};

struct config_result {
  config cfg;
  std::string error;  // empty on success
  bool ok() const { return error.empty(); }
};

// Parses and validates (head_dim even and <= kMaxHeadDim, heads a multiple
// of kv_heads, mrope_section summing to head_dim/2, token ids inside the
// vocabulary, ...). `source` names the file in messages.
config_result parse_config(std::string_view json_text, std::string_view source = "config.json");

// Checks an in-memory config the same way ("" when valid).
std::string validate(const config& c);

// The config.json make-weights writes (qwen2_vl, with the fields above).
std::string to_json(const config& c);

// Named shapes: "tiny" (tests), "small" (the simulator benchmark: hidden 256,
// 4 layers, 4 / 2 heads), "qwen2-vl-2b" (Qwen2-VL-2B's language model).
bool preset(std::string_view name, config& out);

// Largest head_dim the attention kernel supports.
constexpr std::int64_t kMaxHeadDim = 128;

}  // namespace vlm
