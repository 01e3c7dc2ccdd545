#include "vlm/prompt.h"

#include <algorithm>

#include "common/json.h"
#include "vlm/safetensors.h"

namespace vlm {

namespace {

bool get_ids(const ex::json::value& v, std::vector<std::int64_t>& out)
{
  if (!v.is_array()) return false;
  for (const auto& x : v.items) {
    std::int64_t id;
    if (!x.get_int(id)) return false;
    out.push_back(id);
  }
  return true;
}

}  // namespace

spec_result parse_prompt_spec(std::string_view text, std::string_view source, const std::string& base_dir)
{
  const ex::json::result j = ex::json::parse(text);
  if (!j.ok()) {
    spec_result r;
    r.error = std::string(source) + ": " + j.error;
    return r;
  }
  return parse_prompt_spec(j.val, source, base_dir);
}

spec_result parse_prompt_spec(const ex::json::value& v, std::string_view source, const std::string& base_dir)
{
  spec_result r;
  const std::string src(source);
  if (!v.is_object()) return r.error = src + ": not a JSON object", r;
  if (const auto* s = v.find("system"); s && !get_ids(*s, r.spec.system))
    return r.error = src + ": \"system\" must be an array of token ids", r;
  if (const auto* s = v.find("assistant"); s && !get_ids(*s, r.spec.assistant))
    return r.error = src + ": \"assistant\" must be an array of token ids", r;
  const auto* content = v.find("content");
  if (!content || !content->is_array()) return r.error = src + ": no \"content\" array", r;
  for (std::size_t i = 0; i < content->items.size(); ++i) {
    const auto& item = content->items[i];
    const std::string at = src + ": content[" + std::to_string(i) + "]: ";
    prompt_segment seg;
    if (const auto* t = item.find("text")) {
      if (!get_ids(*t, seg.text)) return r.error = at + "\"text\" must be an array of token ids", r;
    } else if (const auto* im = item.find("image")) {
      seg.is_image = true;
      // (A NUL, which JSON can spell \u0000, would cut the name short: another file.)
      if (!im->is_string() || im->s.empty() || im->s.find('\0') != std::string::npos)
        return r.error = at + "\"image\" must be a file name", r;
      seg.image.file = (im->s[0] == '/' || base_dir.empty()) ? im->s : base_dir + "/" + im->s;
      const auto* g = item.find("grid");
      if (!g || !g->is_array() || g->items.size() != 3 || !g->items[0].get_int(seg.image.t) ||
          !g->items[1].get_int(seg.image.h) || !g->items[2].get_int(seg.image.w))
        return r.error = at + "\"grid\" must be [t, h, w]", r;
      if (const auto* d = item.find("dtype"); d && (!d->is_string() || !parse_dtype(d->s, seg.image.dt)))
        return r.error = at + "\"dtype\" must be F32, F16 or BF16", r;
    } else {
      return r.error = at + "neither \"text\" nor \"image\"", r;
    }
    r.spec.content.push_back(std::move(seg));
  }
  return r;
}

spec_result load_prompt_spec(const std::string& path)
{
  std::string text;
  if (std::string e = read_file(path, text); !e.empty()) {
    spec_result r;
    r.error = e;
    return r;
  }
  const std::size_t slash = path.find_last_of('/');
  return parse_prompt_spec(text, path, slash == std::string::npos ? "." : path.substr(0, slash));
}

std::string to_json(const prompt_spec& s)
{
  auto ids = [](const std::vector<std::int64_t>& v) {
    std::string o = "[";
    for (std::size_t i = 0; i < v.size(); ++i) o += (i ? ", " : "") + std::to_string(v[i]);
    return o + "]";
  };
  std::string o = "{\n  \"system\": " + ids(s.system) + ",\n  \"content\": [";
  for (std::size_t i = 0; i < s.content.size(); ++i) {
    const auto& c = s.content[i];
    o += i ? ",\n    " : "\n    ";
    if (c.is_image)
      o += "{\"image\": " + ex::json::quote(c.image.file) + ", \"grid\": [" + std::to_string(c.image.t) + ", " +
           std::to_string(c.image.h) + ", " + std::to_string(c.image.w) + "], \"dtype\": \"" + dtype_name(c.image.dt) +
           "\"}";
    else
      o += "{\"text\": " + ids(c.text) + "}";
  }
  o += "\n  ],\n  \"assistant\": " + ids(s.assistant) + "\n}\n";
  return o;
}

prompt_result build_prompt(const prompt_spec& s, const config& c)
{
  prompt_result r;
  prompt& p = r.p;
  std::int64_t next = 0;  // the next text position
  auto check = [&](const std::vector<std::int64_t>& ids, const char* what) {
    for (auto id : ids)
      if (id < 0 || id >= c.vocab) {
        r.error = std::string("prompt: ") + what + " token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                  std::to_string(c.vocab) + ")";
        return false;
      }
    return true;
  };
  // Positions are built as triples, then transposed to 3 x S.
  std::vector<std::int32_t> tri;
  auto push_text = [&](std::int64_t id, tag_kind k, std::uint16_t image = 0) {
    const std::int32_t q = std::int32_t(next++);
    p.tokens.push_back(std::int32_t(id));
    p.tags.push_back({k, image});
    tri.insert(tri.end(), {q, q, q});
  };
  if (!check(s.system, "system") || !check(s.assistant, "assistant")) return r;
  if (!s.system.empty()) {
    push_text(c.im_start, tag_kind::system);
    for (auto id : s.system) push_text(id, tag_kind::system);
    push_text(c.im_end, tag_kind::system);
  }
  push_text(c.im_start, tag_kind::text);
  for (const auto& seg : s.content) {
    if (!seg.is_image) {
      if (!check(seg.text, "text")) return r;
      for (auto id : seg.text) push_text(id, tag_kind::text);
      continue;
    }
    const image_input& im = seg.image;
    const std::uint16_t k = std::uint16_t(p.images.size());
    if (p.images.size() >= 65535) return r.error = "prompt: too many images", r;
    const std::string grid = "prompt: image " + std::to_string(k) + " (" + im.file + "): grid [" +
                             std::to_string(im.t) + ", " + std::to_string(im.h) + ", " + std::to_string(im.w) + "]";
    if (im.t <= 0 || im.h <= 0 || im.w <= 0 || im.h % 2 || im.w % 2)
      return r.error = grid + " must be positive with even h and w", r;
    if (im.t > kMaxGridSide || im.h > kMaxGridSide || im.w > kMaxGridSide)
      return r.error = grid + " is too large: t, h and w are at most " + std::to_string(kMaxGridSide), r;
    // Before the image's tokens are made: a grid may ask for 2^34 of them.
    if (p.tokens.size() + std::uint64_t(im.tokens()) > kMaxPromptTokens)
      return r.error = grid + " makes " + std::to_string(im.tokens()) + " tokens: a prompt has at most " +
                       std::to_string(kMaxPromptTokens),
             r;
    push_text(c.vision_start, tag_kind::delimiter, k);
    const std::int64_t s0 = next, gh = im.h / 2, gw = im.w / 2;
    p.images.push_back(im);
    p.image_first.push_back(p.size());
    for (std::int64_t ti = 0; ti < im.t; ++ti)
      for (std::int64_t y = 0; y < gh; ++y)
        for (std::int64_t x = 0; x < gw; ++x) {
          p.tokens.push_back(std::int32_t(c.image_pad));
          p.tags.push_back({tag_kind::image, k});
          tri.insert(tri.end(), {std::int32_t(s0 + ti), std::int32_t(s0 + y), std::int32_t(s0 + x)});
        }
    next = s0 + std::max({im.t, gh, gw});
    push_text(c.vision_end, tag_kind::delimiter, k);
  }
  push_text(c.im_end, tag_kind::text);
  push_text(c.im_start, tag_kind::text);
  for (auto id : s.assistant) push_text(id, tag_kind::text);
  const std::size_t n = p.tokens.size();
  if (n > kMaxPromptTokens) return r.error = "prompt: longer than " + std::to_string(kMaxPromptTokens) + " tokens", r;
  p.pos.assign(3 * n, 0);
  for (std::size_t i = 0; i < n; ++i)
    for (int d = 0; d < 3; ++d) p.pos[std::size_t(d) * n + i] = tri[3 * i + std::size_t(d)];
  return r;
}

std::string tag_name(token_tag t)
{
  switch (t.kind) {
    case tag_kind::system: return "system";
    case tag_kind::text: return "text";
    case tag_kind::image: return "image " + std::to_string(t.image);
    case tag_kind::delimiter: return "delimiter " + std::to_string(t.image);
  }
  return "?";
}

}  // namespace vlm
