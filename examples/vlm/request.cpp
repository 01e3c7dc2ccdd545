#include "vlm/request.h"

#include <climits>
#include <cstdlib>

#include "common/json.h"

namespace vlm {

request_result parse_request(std::string_view text, const std::string& data_dir)
{
  request_result r;
  const ex::json::result j = ex::json::parse(text);
  if (!j.ok()) return r.error = "request: " + j.error, r;
  if (!j.val.is_object()) return r.error = "request: not a JSON object", r;
  const auto* id = j.val.find("id");
  if (!id || !id->get_int(r.req.id)) return r.error = "request: \"id\" must be an integer", r;
  r.id = r.req.id;
  if (const auto* k = j.val.find("top_k")) {
    std::int64_t v;
    if (!k->get_int(v) || v < 1 || v > kMaxTopK)
      return r.error = "request: \"top_k\" must be an integer in [1, " + std::to_string(kMaxTopK) + "]", r;
    r.req.top_k = int(v);
  }
  const auto* p = j.val.find("prompt");
  if (!p) return r.error = "request: no \"prompt\"", r;
  spec_result s = parse_prompt_spec(*p, "request: prompt", data_dir);
  if (!s.ok()) return r.error = s.error, r;
  r.req.spec = std::move(s.spec);
  return r;
}

std::string request_json(std::int64_t id, int top_k, const prompt_spec& spec)
{
  return "{\"id\": " + std::to_string(id) + ", \"top_k\": " + std::to_string(top_k) + ", \"prompt\": " + to_json(spec) +
         "}";
}

std::string confine_images(prompt_spec& spec, const std::string& data_dir)
{
  char buf[PATH_MAX];
  if (!::realpath(data_dir.c_str(), buf)) return "data directory " + data_dir + ": cannot be resolved";
  std::string root = buf;
  if (root.back() != '/') root += '/';
  for (auto& seg : spec.content) {
    if (!seg.is_image) continue;
    if (!::realpath(seg.image.file.c_str(), buf)) return "image " + seg.image.file + ": no such file";
    const std::string real = buf;
    if (real.compare(0, root.size(), root) != 0)
      return "image " + seg.image.file + ": outside the server's data directory";
    seg.image.file = real;
  }
  return "";
}

std::string error_reply(std::optional<std::int64_t> id, std::string_view message)
{
  return "{\"id\":" + (id ? std::to_string(*id) : std::string("null")) + ",\"ok\":false,\"error\":" +
         ex::json::quote(message) + "}";
}

std::string error_reply(std::optional<std::int64_t> id, std::string_view message, std::size_t max_bytes)
{
  std::string text = error_reply(id, message);
  for (std::size_t keep = message.size(); text.size() > max_bytes && keep > 0;) {
    keep /= 2;
    text = error_reply(id, std::string(message.substr(0, keep)) + "...");
  }
  return text;
}

reply_result parse_reply(std::string_view text)
{
  reply_result out;
  reply& r = out.r;
  const ex::json::result j = ex::json::parse(text);
  if (!j.ok()) return out.error = "reply: " + j.error, out;
  const auto* id = j.val.find("id");
  const auto* ok = j.val.find("ok");
  if (!id || !ok || ok->k != ex::json::kind::boolean) return out.error = "reply: no \"id\" and \"ok\"", out;
  if (!id->is_null() && !id->get_int(r.id)) return out.error = "reply: bad \"id\"", out;
  r.ok = ok->b;
  if (!r.ok) {
    const auto* e = j.val.find("error");
    if (!e || !e->is_string()) return out.error = "reply: an error without a message", out;
    r.error = e->s;
    return out;
  }
  const auto* top = j.val.find("top");
  const auto* tokens = j.val.find("tokens");
  const auto* images = j.val.find("images");
  if (!top || !top->is_array() || !tokens || !tokens->get_int(r.tokens) || !images || !images->get_int(r.images))
    return out.error = "reply: no \"top\", \"tokens\" or \"images\"", out;
  for (const auto& t : top->items) {
    std::int64_t tok;
    double logit;
    if (!t.is_array() || t.items.size() != 2 || !t.items[0].get_int(tok) || !t.items[1].get_double(logit))
      return out.error = "reply: \"top\" must hold [id, logit] pairs", out;
    r.top.emplace_back(tok, logit);
  }
  if (const auto* v = j.val.find("load_ms"); !v || !v->get_double(r.load_ms))
    return out.error = "reply: no \"load_ms\"", out;
  if (const auto* v = j.val.find("prefill_ms"); !v || !v->get_double(r.prefill_ms))
    return out.error = "reply: no \"prefill_ms\"", out;
  return out;
}

}  // namespace vlm
