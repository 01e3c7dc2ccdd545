// A prompt: the spec a user writes (JSON: text token ids and image files
// with their grids), and what the engine runs: the token sequence of the
// Qwen2-VL chat template, a tag per token (system, text, image k, delimiter
// of image k: what the BlindSight masks use) and the three M-RoPE position
// components per token.
//
// Spec (paths relative to the spec's directory):
//   {"system": [ids...],                       optional: <|im_start|> ids <|im_end|>
//    "content": [{"text": [ids...]},
//                {"image": "img0.bin", "grid": [t, h, w], "dtype": "F32"}, ...],
//    "assistant": [ids...]}                    optional, after the final <|im_start|>
// An image file holds t*h*w/4 merged-patch embeddings (the vision encoder's
// output after its 2x2 merge; the encoder itself is out of scope), each
// `hidden` values, row-major, little-endian, of the given dtype (F32
// default, F16, BF16).
//
// Template: [<|im_start|> system <|im_end|>] <|im_start|> content...
// <|im_end|> <|im_start|> assistant, where an image is <|vision_start|>
// N x <|image_pad|> <|vision_end|>.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vlm/config.h"

namespace ex::json {
struct value;
}

namespace vlm {

struct image_input {
  std::string file;            // as resolved against the spec's directory
  std::int64_t t = 1, h = 0, w = 0;  // grid in patches, before the 2x2 merge
  dtype dt = dtype::f32;
  std::int64_t tokens() const { return t * (h / 2) * (w / 2); }
};

struct prompt_segment {
  bool is_image = false;
  std::vector<std::int64_t> text;  // when !is_image
  image_input image;               // when is_image
};

struct prompt_spec {
  std::vector<std::int64_t> system;
  std::vector<prompt_segment> content;
  std::vector<std::int64_t> assistant;
};

struct spec_result {
  prompt_spec spec;
  std::string error;
  bool ok() const { return error.empty(); }
};

// Pure: parses a spec; `base_dir` is prepended to relative image paths.
spec_result parse_prompt_spec(std::string_view json_text, std::string_view source, const std::string& base_dir);
// The same from a parsed value (a spec inside a server request).
spec_result parse_prompt_spec(const ex::json::value& spec, std::string_view source, const std::string& base_dir);
// Reads and parses a spec file.
spec_result load_prompt_spec(const std::string& path);
// The spec as JSON (image paths as given).
std::string to_json(const prompt_spec& s);

enum class tag_kind : std::uint8_t { system = 0, text = 1, image = 2, delimiter = 3 };
struct token_tag {
  tag_kind kind;
  std::uint16_t image;  // for image and delimiter
};

struct prompt {
  std::vector<std::int32_t> tokens;
  std::vector<token_tag> tags;
  std::vector<std::int32_t> pos;  // 3 x S: t components, then h, then w
  std::vector<image_input> images;
  std::vector<std::int64_t> image_first;  // first image-pad token of image k
  std::int64_t size() const { return std::int64_t(tokens.size()); }
};

struct prompt_result {
  prompt p;
  std::string error;
  bool ok() const { return error.empty(); }
};

// build_prompt's limits: each of an image's t, h, w, and the tokens of a
// whole prompt (2^24; M-RoPE positions are int32).
constexpr std::int64_t kMaxGridSide = 4096;
constexpr std::uint64_t kMaxPromptTokens = std::uint64_t(1) << 24;

// Pure: the template, tags and M-RoPE positions (Qwen2-VL's get_rope_index:
// text tokens (p, p, p); image tokens (s+i, s+row, s+col) on the merged
// grid, where s is one past the largest position so far; text after an
// image continues from one past the image's largest position). Checks token
// ids against the vocabulary and grids (h, w even, positive, within the
// limits above).
prompt_result build_prompt(const prompt_spec& s, const config& c);

// Human-readable name of a tag: "system", "text", "image 2", "delimiter 2".
std::string tag_name(token_tag t);

}  // namespace vlm
