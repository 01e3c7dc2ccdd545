#include "vlm/config.h"

#include <string>

#include "common/json.h"

namespace vlm {

const char* dtype_name(dtype d)
{
  switch (d) {
    case dtype::f32: return "F32";
    case dtype::f16: return "F16";
    case dtype::bf16: return "BF16";
  }
  return "?";
}

bool parse_dtype(std::string_view s, dtype& out)
{
  if (s == "F32" || s == "float32" || s == "fp32" || s == "f32") out = dtype::f32;
  else if (s == "F16" || s == "float16" || s == "fp16" || s == "f16") out = dtype::f16;
  else if (s == "BF16" || s == "bfloat16" || s == "bf16") out = dtype::bf16;
  else return false;
  return true;
}

std::string validate(const config& c)
{
  auto in_vocab = [&](std::int64_t id) { return id >= 0 && id < c.vocab; };
  if (c.hidden <= 0 || c.layers <= 0 || c.heads <= 0 || c.kv_heads <= 0 || c.ffn <= 0 || c.vocab <= 0)
    return "hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, intermediate_size and "
           "vocab_size must all be positive";
  if (c.hidden % c.heads) return "hidden_size is not a multiple of num_attention_heads";
  if (c.heads % c.kv_heads) return "num_attention_heads is not a multiple of num_key_value_heads";
  const std::int64_t d = c.head_dim();
  if (d % 2 || d > kMaxHeadDim)
    return "head_dim " + std::to_string(d) + " must be even and at most " + std::to_string(kMaxHeadDim);
  if (c.mrope_section[0] < 0 || c.mrope_section[1] < 0 || c.mrope_section[2] < 0 || c.mrope_section[0] > d / 2 ||
      c.mrope_section[1] > d / 2 || c.mrope_section[2] > d / 2 ||  // so the sum cannot overflow
      c.mrope_section[0] + c.mrope_section[1] + c.mrope_section[2] != d / 2)
    return "rope_scaling.mrope_section must sum to head_dim/2 = " + std::to_string(d / 2);
  if (!(c.rms_eps > 0) || !(c.rope_theta > 1)) return "rms_norm_eps must be > 0 and rope_theta > 1";
  if (!in_vocab(c.vision_start) || !in_vocab(c.vision_end) || !in_vocab(c.image_pad) || !in_vocab(c.im_start) ||
      !in_vocab(c.im_end))
    return "a chat-template token id (vision_start_token_id, vision_end_token_id, image_token_id, eos_token_id) "
           "is outside the vocabulary";
  if (c.hidden > (1 << 20) || c.ffn > (1 << 22) || c.vocab > (1 << 24) || c.layers > 1024)
    return "implausibly large model dimensions";
  return "";
}

config_result parse_config(std::string_view text, std::string_view source)
{
  config_result r;
  const std::string src(source);
  const ex::json::result j = ex::json::parse(text);
  if (!j.ok()) {
    r.error = src + ": " + j.error;
    return r;
  }
  if (!j.val.is_object()) {
    r.error = src + ": not a JSON object";
    return r;
  }
  config& c = r.cfg;
  auto need_int = [&](const char* key, std::int64_t& out) {
    const ex::json::value* v = j.val.find(key);
    if (!v) return r.error = src + ": missing \"" + key + "\"", false;
    if (!v->get_int(out)) return r.error = src + ": \"" + key + "\" is not an integer", false;
    return true;
  };
  auto opt_int = [&](const char* key, std::int64_t& out) {
    const ex::json::value* v = j.val.find(key);
    if (v && !v->is_null() && !v->get_int(out)) return r.error = src + ": \"" + key + "\" is not an integer", false;
    return true;
  };
  auto opt_double = [&](const char* key, double& out) {
    const ex::json::value* v = j.val.find(key);
    if (v && !v->get_double(out)) return r.error = src + ": \"" + key + "\" is not a number", false;
    return true;
  };
  if (!need_int("hidden_size", c.hidden) || !need_int("num_hidden_layers", c.layers) ||
      !need_int("num_attention_heads", c.heads) || !need_int("intermediate_size", c.ffn) ||
      !need_int("vocab_size", c.vocab))
    return r;
  c.kv_heads = c.heads;
  if (!opt_int("num_key_value_heads", c.kv_heads) || !opt_double("rms_norm_eps", c.rms_eps) ||
      !opt_double("rope_theta", c.rope_theta))
    return r;
  if (const auto* t = j.val.find("tie_word_embeddings"); t && !t->get_bool(c.tie_embeddings)) {
    r.error = src + ": \"tie_word_embeddings\" is not true or false";
    return r;
  }
  if (const auto* t = j.val.find("torch_dtype"); t && !t->is_null()) {
    if (!t->is_string() || !parse_dtype(t->s, c.torch_dtype)) {
      r.error = src + ": \"torch_dtype\" must be float32, float16 or bfloat16";
      return r;
    }
  }
  // Qwen2-VL's split of the rotary frequencies between t, h and w; without
  // it, a plain 1-D RoPE (all of it on the first component, which carries the
  // same position as the others for text).
  const std::int64_t half = c.heads > 0 && c.hidden % c.heads == 0 ? c.head_dim() / 2 : 0;
  c.mrope_section[0] = half;
  if (const auto* rs = j.val.find("rope_scaling"); rs && !rs->is_null()) {
    const auto* ms = rs->find("mrope_section");
    if (!rs->is_object() || !ms) {
      r.error = src + ": \"rope_scaling\" has no \"mrope_section\"";
      return r;
    }
    if (!ms->is_array() || ms->items.size() != 3 || !ms->items[0].get_int(c.mrope_section[0]) ||
        !ms->items[1].get_int(c.mrope_section[1]) || !ms->items[2].get_int(c.mrope_section[2])) {
      r.error = src + ": \"rope_scaling.mrope_section\" must be three integers";
      return r;
    }
  }
  std::int64_t eos = -1;
  if (!opt_int("vision_start_token_id", c.vision_start) || !opt_int("vision_end_token_id", c.vision_end) ||
      !opt_int("image_token_id", c.image_pad) || !opt_int("eos_token_id", eos))
    return r;
  if (eos >= 1) {
    c.im_end = eos;
    c.im_start = eos - 1;
  }
  if (std::string e = validate(c); !e.empty()) r.error = src + ": " + e;
  return r;
}

std::string to_json(const config& c)
{
  using ex::json::number;
  auto i = [](std::int64_t v) { return std::to_string(v); };
  std::string s = "{\n";
  s += "  \"architectures\": [\"Qwen2VLForConditionalGeneration\"],\n";
  s += "  \"model_type\": \"qwen2_vl\",\n";
  s += "  \"hidden_size\": " + i(c.hidden) + ",\n";
  s += "  \"num_hidden_layers\": " + i(c.layers) + ",\n";
  s += "  \"num_attention_heads\": " + i(c.heads) + ",\n";
  s += "  \"num_key_value_heads\": " + i(c.kv_heads) + ",\n";
  s += "  \"intermediate_size\": " + i(c.ffn) + ",\n";
  s += "  \"vocab_size\": " + i(c.vocab) + ",\n";
  s += "  \"rms_norm_eps\": " + number(c.rms_eps) + ",\n";
  s += "  \"rope_theta\": " + number(c.rope_theta) + ",\n";
  s += "  \"rope_scaling\": {\"type\": \"mrope\", \"mrope_section\": [" + i(c.mrope_section[0]) + ", " +
       i(c.mrope_section[1]) + ", " + i(c.mrope_section[2]) + "]},\n";
  s += "  \"tie_word_embeddings\": " + std::string(c.tie_embeddings ? "true" : "false") + ",\n";
  s += std::string("  \"torch_dtype\": \"") +
       (c.torch_dtype == dtype::f32 ? "float32" : c.torch_dtype == dtype::f16 ? "float16" : "bfloat16") + "\",\n";
  s += "  \"vision_start_token_id\": " + i(c.vision_start) + ",\n";
  s += "  \"vision_end_token_id\": " + i(c.vision_end) + ",\n";
  s += "  \"image_token_id\": " + i(c.image_pad) + ",\n";
  s += "  \"eos_token_id\": " + i(c.im_end) + "\n";
  s += "}\n";
  return s;
}

namespace {

// Template tokens at the top of a small vocabulary.
void small_vocab_tokens(config& c)
{
  c.vision_start = c.vocab - 6;
  c.vision_end = c.vocab - 5;
  c.image_pad = c.vocab - 3;
  c.im_start = c.vocab - 8;
  c.im_end = c.vocab - 7;
}

}  // namespace

bool preset(std::string_view name, config& c)
{
  c = config{};
  if (name == "tiny") {
    c.hidden = 64, c.layers = 2, c.heads = 4, c.kv_heads = 2, c.ffn = 96, c.vocab = 320;
    c.mrope_section[0] = 2, c.mrope_section[1] = 3, c.mrope_section[2] = 3;  // head_dim 16
    c.tie_embeddings = true;
    small_vocab_tokens(c);
  } else if (name == "small") {
    c.hidden = 256, c.layers = 4, c.heads = 4, c.kv_heads = 2, c.ffn = 768, c.vocab = 2048;
    c.mrope_section[0] = 8, c.mrope_section[1] = 12, c.mrope_section[2] = 12;  // head_dim 64
    c.tie_embeddings = true;
    small_vocab_tokens(c);
  } else if (name == "qwen2-vl-2b") {
    c.hidden = 1536, c.layers = 28, c.heads = 12, c.kv_heads = 2, c.ffn = 8960, c.vocab = 151936;
    c.mrope_section[0] = 16, c.mrope_section[1] = 24, c.mrope_section[2] = 24;  // head_dim 128
    c.tie_embeddings = true;
  } else {
    return false;
  }
  c.rms_eps = 1e-6;
  c.rope_theta = 1000000.0;
  c.torch_dtype = dtype::bf16;
  return true;
}

}  // namespace vlm
