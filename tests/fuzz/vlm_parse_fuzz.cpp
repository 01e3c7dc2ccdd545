// libFuzzer harness: gsys-vlm's host-side readers of files it is handed
// (examples/vlm): the JSON reader (examples/common/json.h), safetensors
// headers and the shard index (safetensors.cpp), config.json (config.cpp),
// prompt specs and the prompt built from one (prompt.cpp), and BlindSight's
// heads.json (blindsight.cpp). The first input byte picks the reader; the
// rest is the file (copied into an allocation of exactly its size).
//
// Oracle, from what the headers promise:
//  - nothing crashes, leaks, trips ASan/UBSan, or throws (parse and the
//    parse_* functions report errors as values: an exception escaping one
//    is a finding); an error is non-empty exactly when ok() is false, and
//    names its source;
//  - json::parse: an accepted value, written back (json::quote for strings,
//    numbers as their kept text), parses to the same value (member order
//    kept), and nests at most kMaxDepth deep;
//  - parse_safetensors: safetensors_prefix_bytes agrees with the length
//    field; every accepted tensor lies inside the data section (offset >= 8
//    + N, offset + bytes <= file size), its byte count is its shape's
//    element count times its dtype's size, shapes are non-negative, tensors
//    come in data order and do not overlap; make_safetensors_header for
//    them parses back to the same names, dtypes, shapes and sizes;
//  - parse_safetensors_index: every shard a non-empty file name without
//    '/' and not "..", listed once, and every weight_map entry names one;
//  - parse_config: an accepted config passes validate(), and to_json of it
//    parses back to the same config;
//  - parse_prompt_spec: to_json of an accepted spec parses back to the same
//    spec; build_prompt of it (a "tiny" config) either fails or gives
//    tokens, tags and 3 x S positions of one length (at most 2^24), ids in
//    the vocabulary, and image k's first token an image token of image k;
//  - parse_head_table: an accepted table has layers x heads categories, its
//    sink_fraction in [0, 1], and to_json of it parses back to the same
//    layers, heads and categories;
//  - parse_request (gsys-vlm serve): an accepted request has top_k in
//    [1, kMaxTopK], its relative image paths under the data directory, and
//    request_json of it parses back to the same id, top_k and spec; a
//    refused one says "request: ...". Whatever the text, the error reply
//    carrying it as the message (with the id, when one was read) parses
//    back (parse_reply) to that id and message;
//  - parse_reply: never crashes; an accepted ok reply has its top pairs.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "report.h"
#include "vlm/blindsight.h"
#include "vlm/config.h"
#include "vlm/prompt.h"
#include "vlm/request.h"
#include "vlm/safetensors.h"

namespace {

[[noreturn]] void fail(const char* reader, const std::string& what)
{
  std::fprintf(report(), "vlm_parse_fuzz: %s: %s\n", reader, what.c_str());
  std::abort();
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// ------------------------------------------------------------------ json

void write(const ex::json::value& v, std::string& o)
{
  using ex::json::kind;
  switch (v.k) {
    case kind::null: o += "null"; break;
    case kind::boolean: o += v.b ? "true" : "false"; break;
    case kind::number: o += v.s; break;
    case kind::string: o += ex::json::quote(v.s); break;
    case kind::array:
      o += '[';
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        if (i) o += ',';
        write(v.items[i], o);
      }
      o += ']';
      break;
    case kind::object:
      o += '{';
      for (std::size_t i = 0; i < v.members.size(); ++i) {
        if (i) o += ',';
        o += ex::json::quote(v.members[i].first);
        o += ':';
        write(v.members[i].second, o);
      }
      o += '}';
      break;
  }
}

bool same(const ex::json::value& a, const ex::json::value& b)
{
  if (a.k != b.k || a.b != b.b || a.s != b.s || a.items.size() != b.items.size() || a.members.size() != b.members.size())
    return false;
  for (std::size_t i = 0; i < a.items.size(); ++i)
    if (!same(a.items[i], b.items[i])) return false;
  for (std::size_t i = 0; i < a.members.size(); ++i)
    if (a.members[i].first != b.members[i].first || !same(a.members[i].second, b.members[i].second)) return false;
  return true;
}

int depth(const ex::json::value& v)
{
  int d = 0;
  for (const auto& x : v.items) d = std::max(d, 1 + depth(x));
  for (const auto& m : v.members) d = std::max(d, 1 + depth(m.second));
  return d;
}

void fuzz_json(std::string_view text)
{
  const ex::json::result r = ex::json::parse(text);
  if (!r.ok()) return;
  if (depth(r.val) > ex::json::kMaxDepth) fail("json", "nesting deeper than kMaxDepth accepted");
  std::string o;
  write(r.val, o);
  const ex::json::result back = ex::json::parse(o);
  if (!back.ok()) fail("json", "the value written back does not parse: " + back.error);
  if (!same(r.val, back.val)) fail("json", "the value written back parses to another value");
  std::int64_t i;
  double d;
  bool b;
  (void)r.val.get_int(i), (void)r.val.get_double(d), (void)r.val.get_bool(b);
}

// ----------------------------------------------------------- safetensors

std::uint64_t dtype_size(vlm::dtype d) { return d == vlm::dtype::f32 ? 4 : 2; }

void fuzz_safetensors(std::string_view in)
{
  // in: flags, u32 size, then the file's first bytes. flags bit 0: the
  // length field is set to the JSON's length (so mutated JSON stays
  // reachable); bit 1: the size is the whole file's size (may be less than
  // the prefix), else the number of data bytes after the prefix.
  if (in.size() < 5) return;
  const unsigned flags = (unsigned char)in[0];
  std::uint32_t sz = 0;
  for (int i = 0; i < 4; ++i) sz |= std::uint32_t((unsigned char)in[1 + i]) << (8 * i);
  std::string prefix(in.substr(5));
  if ((flags & 1) && prefix.size() >= 8) {
    const std::uint64_t n = prefix.size() - 8;
    for (int i = 0; i < 8; ++i) prefix[std::size_t(i)] = char((n >> (8 * i)) & 0xff);
  }
  const std::uint64_t file_size = (flags & 2) ? sz : prefix.size() + std::uint64_t(sz);
  const std::uint32_t file_index = flags >> 2;

  const std::uint64_t want = vlm::safetensors_prefix_bytes(prefix);
  std::uint64_t n = 0;
  if (prefix.size() >= 8)
    for (int i = 7; i >= 0; --i) n = (n << 8) | (unsigned char)prefix[std::size_t(i)];
  if (prefix.size() < 8 ? want != 8 : want != (n > vlm::kMaxHeaderBytes ? 8 : 8 + n))
    fail("safetensors", "safetensors_prefix_bytes disagrees with the length field");

  const vlm::header_result h = vlm::parse_safetensors(prefix, file_size, "f.safetensors", file_index);
  if (!h.ok()) {
    if (!starts_with(h.error, "f.safetensors: ")) fail("safetensors", "an error that does not name the file: " + h.error);
    return;
  }
  if (prefix.size() < 8 || h.header_bytes != n) fail("safetensors", "accepted, header_bytes is not the length field");
  const std::uint64_t data_start = 8 + n;
  if (data_start > file_size) fail("safetensors", "accepted a header longer than the file");
  for (std::size_t i = 0; i < h.tensors.size(); ++i) {
    const vlm::tensor_info& t = h.tensors[i];
    unsigned __int128 numel = 1;
    for (auto d : t.shape) {
      if (d < 0) fail("safetensors", "tensor " + t.name + ": a negative dimension accepted");
      numel *= (unsigned __int128)d;
      if (numel > ((unsigned __int128)1 << 64)) numel = (unsigned __int128)1 << 64;  // saturate: a mismatch anyway
    }
    if (t.offset < data_start) fail("safetensors", "tensor " + t.name + " starts before the data section");
    if (t.bytes > file_size || t.offset > file_size - t.bytes) fail("safetensors", "tensor " + t.name + " reaches past the file");
    if (numel * dtype_size(t.dt) != t.bytes) fail("safetensors", "tensor " + t.name + ": bytes != shape x dtype size");
    if (t.file != file_index) fail("safetensors", "tensor " + t.name + ": wrong file index");
    if (i && h.tensors[i - 1].offset > t.offset) fail("safetensors", "tensors not in data order");
    if (i && h.tensors[i - 1].offset + h.tensors[i - 1].bytes > t.offset) fail("safetensors", "overlapping tensors accepted");
  }
  // Written back (offsets reassigned in order), the header reads the same.
  std::vector<vlm::tensor_info> ts = h.tensors;
  const std::string again = vlm::make_safetensors_header(ts);
  std::uint64_t total = 0;
  for (const auto& t : ts) total += t.bytes;
  const vlm::header_result h2 = vlm::parse_safetensors(again, again.size() + total, "g", 0);
  if (!h2.ok()) fail("safetensors", "make_safetensors_header's output refused: " + h2.error);
  if (h2.tensors.size() != ts.size()) fail("safetensors", "make_safetensors_header's output has other tensors");
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const vlm::tensor_info &a = ts[i], &b = h2.tensors[i];
    if (a.name != b.name || a.dt != b.dt || a.shape != b.shape || a.bytes != b.bytes || a.offset != b.offset)
      fail("safetensors", "make_safetensors_header's output reads back differently: " + a.name);
  }
}

void fuzz_index(std::string_view text)
{
  const vlm::index_result r = vlm::parse_safetensors_index(text, "idx.json");
  if (!r.ok()) {
    if (!starts_with(r.error, "idx.json: ")) fail("index", "an error that does not name the file: " + r.error);
    return;
  }
  if (r.files.empty()) fail("index", "accepted with no shard");
  for (std::size_t i = 0; i < r.files.size(); ++i) {
    const std::string& f = r.files[i];
    if (f.empty() || f.find('/') != std::string::npos || f == "..") fail("index", "a shard that is not a file name: " + f);
    for (std::size_t j = 0; j < i; ++j)
      if (r.files[j] == f) fail("index", "a shard listed twice: " + f);
  }
  for (const auto& [name, file] : r.weight_map) {
    bool listed = false;
    for (const auto& f : r.files) listed = listed || f == file;
    if (!listed) fail("index", "tensor " + name + "'s shard is not in files");
  }
}

// ---------------------------------------------------------------- config

bool same_config(const vlm::config& a, const vlm::config& b)
{
  return a.hidden == b.hidden && a.layers == b.layers && a.heads == b.heads && a.kv_heads == b.kv_heads &&
         a.ffn == b.ffn && a.vocab == b.vocab && a.rms_eps == b.rms_eps && a.rope_theta == b.rope_theta &&
         a.mrope_section[0] == b.mrope_section[0] && a.mrope_section[1] == b.mrope_section[1] &&
         a.mrope_section[2] == b.mrope_section[2] && a.tie_embeddings == b.tie_embeddings &&
         a.torch_dtype == b.torch_dtype && a.vision_start == b.vision_start && a.vision_end == b.vision_end &&
         a.image_pad == b.image_pad && a.im_start == b.im_start && a.im_end == b.im_end;
}

void fuzz_config(std::string_view text)
{
  const vlm::config_result r = vlm::parse_config(text, "config.json");
  if (!r.ok()) {
    if (!starts_with(r.error, "config.json: ")) fail("config", "an error that does not name the file: " + r.error);
    return;
  }
  if (std::string e = vlm::validate(r.cfg); !e.empty()) fail("config", "accepted, validate() says: " + e);
  const vlm::config_result back = vlm::parse_config(vlm::to_json(r.cfg), "again");
  if (!back.ok()) fail("config", "to_json's output refused: " + back.error);
  if (!same_config(r.cfg, back.cfg)) fail("config", "to_json's output reads back differently");
}

// ---------------------------------------------------------------- prompt

bool same_ids(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b) { return a == b; }

bool same_spec(const vlm::prompt_spec& a, const vlm::prompt_spec& b)
{
  bool eq = same_ids(a.system, b.system) && same_ids(a.assistant, b.assistant) && a.content.size() == b.content.size();
  for (std::size_t i = 0; eq && i < a.content.size(); ++i) {
    const vlm::prompt_segment &x = a.content[i], &y = b.content[i];
    eq = x.is_image == y.is_image && same_ids(x.text, y.text) && x.image.file == y.image.file && x.image.t == y.image.t &&
         x.image.h == y.image.h && x.image.w == y.image.w && x.image.dt == y.image.dt;
  }
  return eq;
}


void fuzz_prompt(std::string_view text)
{
  const vlm::spec_result r = vlm::parse_prompt_spec(text, "p.json", "");
  if (!r.ok()) {
    if (!starts_with(r.error, "p.json: ")) fail("prompt", "an error that does not name the file: " + r.error);
    return;
  }
  const vlm::spec_result back = vlm::parse_prompt_spec(vlm::to_json(r.spec), "again", "");
  if (!back.ok()) fail("prompt", "to_json's output refused: " + back.error);
  if (!same_spec(r.spec, back.spec)) fail("prompt", "to_json's output reads back differently");

  vlm::config c;
  vlm::preset("tiny", c);
  const vlm::prompt_result pr = vlm::build_prompt(r.spec, c);
  if (!pr.ok()) return;
  const vlm::prompt& p = pr.p;
  const std::size_t n = p.tokens.size();
  if (n > (std::size_t(1) << 24) || p.tags.size() != n || p.pos.size() != 3 * n) fail("prompt", "tokens, tags and positions disagree");
  for (auto t : p.tokens)
    if (t < 0 || t >= c.vocab) fail("prompt", "a token outside the vocabulary");
  if (p.image_first.size() != p.images.size()) fail("prompt", "image_first and images disagree");
  for (std::size_t k = 0; k < p.images.size(); ++k) {
    const std::int64_t f = p.image_first[k];
    if (f < 0 || std::size_t(f) >= n || p.tokens[std::size_t(f)] != c.image_pad ||
        p.tags[std::size_t(f)].kind != vlm::tag_kind::image || p.tags[std::size_t(f)].image != k)
      fail("prompt", "image_first does not point at the image's first token");
  }
}

// ------------------------------------------------------------- heads.json

void fuzz_heads(std::string_view text)
{
  vlm::head_table t;
  const std::string e = vlm::parse_head_table(text, "heads.json", t);
  if (!e.empty()) {
    if (!starts_with(e, "heads.json: ")) fail("heads", "an error that does not name the file: " + e);
    return;
  }
  if (t.layers <= 0 || t.heads <= 0 || t.cats.size() != std::size_t(t.layers) * std::size_t(t.heads))
    fail("heads", "categories are not layers x heads");
  if (!(t.mp.sink_fraction >= 0 && t.mp.sink_fraction <= 1)) fail("heads", "sink_fraction outside [0, 1] accepted");
  vlm::head_table u;
  const std::string e2 = vlm::parse_head_table(vlm::to_json(t), "again", u);
  if (!e2.empty()) fail("heads", "to_json's output refused: " + e2);
  if (u.layers != t.layers || u.heads != t.heads || u.cats != t.cats) fail("heads", "to_json's output reads back differently");
}

// ------------------------------------------------------------- serve requests

void fuzz_request(std::string_view text)
{
  const vlm::request_result r = vlm::parse_request(text, "/data");
  // Whatever the server is sent, its error reply reads back.
  const std::string message(text);
  const vlm::reply_result e = vlm::parse_reply(vlm::error_reply(r.id, message));
  if (!e.ok()) fail("request", "an error reply that does not parse: " + e.error);
  if (e.r.ok || e.r.error != message || e.r.id != (r.id ? *r.id : -1))
    fail("request", "an error reply that reads back differently");
  if (!r.ok()) {
    if (!starts_with(r.error, "request: ")) fail("request", "an error that does not say request: " + r.error);
    return;
  }
  if (r.req.top_k < 1 || r.req.top_k > vlm::kMaxTopK) fail("request", "top_k out of range accepted");
  for (const auto& seg : r.req.spec.content)
    if (seg.is_image && seg.image.file[0] != '/') fail("request", "a relative image path left unresolved");
  const vlm::request_result back = vlm::parse_request(vlm::request_json(r.req.id, r.req.top_k, r.req.spec), "/elsewhere");
  if (!back.ok()) fail("request", "request_json's output refused: " + back.error);
  if (back.req.id != r.req.id || back.req.top_k != r.req.top_k || !same_spec(back.req.spec, r.req.spec))
    fail("request", "request_json's output reads back differently");
}

void fuzz_reply(std::string_view text)
{
  const vlm::reply_result r = vlm::parse_reply(text);
  if (!r.ok()) {
    if (!starts_with(r.error, "reply: ")) fail("reply", "an error that does not say reply: " + r.error);
    return;
  }
  if (!r.r.ok && !r.r.top.empty()) fail("reply", "an error reply with tokens");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
  if (size == 0) return 0;
  const std::size_t n = size - 1;
  char* buf = static_cast<char*>(std::malloc(n ? n : 1));
  if (n) std::memcpy(buf, data + 1, n);
  const std::string_view text(buf, n);
  const char* reader = "?";
  try {
    switch (data[0] % 8) {
      case 0: reader = "json"; fuzz_json(text); break;
      case 1: reader = "safetensors"; fuzz_safetensors(text); break;
      case 2: reader = "index"; fuzz_index(text); break;
      case 3: reader = "config"; fuzz_config(text); break;
      case 4: reader = "prompt"; fuzz_prompt(text); break;
      case 5: reader = "heads"; fuzz_heads(text); break;
      case 6: reader = "request"; fuzz_request(text); break;
      default: reader = "reply"; fuzz_reply(text); break;
    }
  } catch (const std::exception& x) {
    fail(reader, std::string("an exception escaped: ") + x.what());
  } catch (...) {
    fail(reader, "an exception escaped");
  }
  std::free(buf);
  return 0;
}
