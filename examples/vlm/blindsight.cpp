#include "vlm/blindsight.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>

#include "common/json.h"
#include "vlm/numeric.h"

namespace vlm {

const char* category_name(head_category c)
{
  switch (c) {
    case head_category::dense: return "dense";
    case head_category::sink: return "sink";
    case head_category::intra: return "intra";
    case head_category::intra_sink: return "intra+sink";
  }
  return "?";
}

bool parse_category(std::string_view s, head_category& out)
{
  for (int i = 0; i < kCategories; ++i)
    if (s == category_name(head_category(i))) return out = head_category(i), true;
  return false;
}

bool keeps(head_category c, key_class k)
{
  if (k == kOwn || k == kPrefix || c == head_category::dense) return true;
  if (k == kSink) return c == head_category::sink || c == head_category::intra_sink;
  if (k == kText) return c == head_category::intra || c == head_category::intra_sink;
  return false;  // other images' content: only Dense
}

token_roles token_roles::of(const prompt& p, const mask_params& mp)
{
  token_roles r;
  const std::size_t S = p.tokens.size();
  r.role.assign(S, token_role::text);
  r.image.assign(S, -1);
  bool seen_image = false;
  for (std::size_t i = 0; i < S; ++i) {
    const token_tag t = p.tags[i];
    if (t.kind == tag_kind::delimiter) {
      seen_image = true;
      r.role[i] = token_role::delimiter;
      r.image[i] = t.image;
    } else if (t.kind == tag_kind::image) {
      const std::int64_t n = p.images[t.image].tokens();
      const std::int64_t lead = std::int64_t(std::ceil(mp.sink_fraction * double(n) - 1e-9));
      r.role[i] = std::int64_t(i) - p.image_first[t.image] < lead ? token_role::image_lead : token_role::image_rest;
      r.image[i] = t.image;
    } else {
      r.role[i] = seen_image ? token_role::text : token_role::prefix;
    }
  }
  return r;
}

tile_lists build_tile_lists(const token_roles& r)
{
  constexpr std::int64_t T = kAttnTile;
  tile_lists t;
  t.S = r.size();
  t.nT = (t.S + T - 1) / T;
  // Per key tile, what it holds: prefix, text, and which images' own
  // tokens, sinks (delimiters, leading tokens) and other content.
  struct key_tile {
    bool prefix = false, text = false;
    std::vector<std::int32_t> any, sinks, rest;  // images present at all / as sinks / as non-sink content
  };
  std::vector<key_tile> kt(std::size_t(t.nT));
  std::vector<std::vector<std::int32_t>> qimages(std::size_t(t.nT));  // images of the tile's image queries
  std::vector<char> text_query(std::size_t(t.nT), 0);
  auto add = [](std::vector<std::int32_t>& v, std::int32_t x) {
    if (v.empty() || v.back() != x) v.push_back(x);
  };
  for (std::int64_t j = 0; j < t.S; ++j) {
    key_tile& k = kt[std::size_t(j / T)];
    const token_role role = r.role[std::size_t(j)];
    const std::int32_t im = r.image[std::size_t(j)];
    if (role == token_role::prefix) k.prefix = true;
    else if (role == token_role::text) k.text = true;
    else {
      add(k.any, im);
      add(role == token_role::image_rest ? k.rest : k.sinks, im);
    }
    if (r.is_image_query(j)) add(qimages[std::size_t(j / T)], im);
    else text_query[std::size_t(j / T)] = 1;
  }
  auto has_other = [](const std::vector<std::int32_t>& v, std::int32_t im) {
    for (std::int32_t x : v)
      if (x != im) return true;
    return false;
  };
  t.ptr.assign(std::size_t(kCategories * (t.nT + 1)), 0);
  for (int c = 0; c < kCategories; ++c) {
    const head_category cat = head_category(c);
    t.ptr[std::size_t(c * (t.nT + 1))] = std::int32_t(t.cols.size());
    for (std::int64_t qt = 0; qt < t.nT; ++qt) {
      for (std::int64_t j = 0; j <= qt; ++j) {
        bool keep = cat == head_category::dense || j == qt || text_query[std::size_t(qt)];
        const key_tile& k = kt[std::size_t(j)];
        for (std::size_t a = 0; !keep && a < qimages[std::size_t(qt)].size(); ++a) {
          const std::int32_t im = qimages[std::size_t(qt)][a];
          keep = k.prefix || std::find(k.any.begin(), k.any.end(), im) != k.any.end() ||
                 (k.text && keeps(cat, kText)) || (has_other(k.sinks, im) && keeps(cat, kSink)) ||
                 (has_other(k.rest, im) && keeps(cat, kInter));
        }
        if (keep) t.cols.push_back(std::int32_t(j));
      }
      t.ptr[std::size_t(c * (t.nT + 1) + qt + 1)] = std::int32_t(t.cols.size());
    }
  }
  return t;
}

std::vector<std::uint8_t> expand_block_mask(const tile_lists& t, const std::vector<head_category>& heads)
{
  std::vector<std::uint8_t> m(heads.size() * std::size_t(t.nT * t.nT), 0);
  for (std::size_t h = 0; h < heads.size(); ++h)
    for (std::int64_t qt = 0; qt < t.nT; ++qt)
      for (const std::int32_t* k = t.begin(heads[h], qt); k != t.end(heads[h], qt); ++k)
        m[(h * std::size_t(t.nT) + std::size_t(qt)) * std::size_t(t.nT) + std::size_t(*k)] = 1;
  return m;
}

double kept_pairs(const tile_lists& t, head_category c)
{
  constexpr std::int64_t T = kAttnTile;
  double pairs = 0;
  for (std::int64_t qt = 0; qt < t.nT; ++qt) {
    const std::int64_t q0 = qt * T, q1 = std::min(t.S, q0 + T);
    for (const std::int32_t* k = t.begin(c, qt); k != t.end(c, qt); ++k) {
      const std::int64_t k0 = std::int64_t(*k) * T, k1 = std::min(t.S, k0 + T);
      if (*k < qt) {
        pairs += double(q1 - q0) * double(k1 - k0);
      } else {
        for (std::int64_t q = q0; q < q1; ++q) pairs += double(q - k0 + 1);  // causal inside the diagonal tile
      }
    }
  }
  return pairs;
}

flop_count prefill_flops(const config& c, const tile_lists& t, const std::vector<head_category>& cats)
{
  flop_count f = prefill_flops(c, t.S);
  if (cats.empty()) return f;
  double per_cat[kCategories];
  for (int i = 0; i < kCategories; ++i) per_cat[i] = kept_pairs(t, head_category(i));
  f.attention = 0;
  for (head_category h : cats) f.attention += 4.0 * double(c.head_dim()) * per_cat[int(h)];
  return f;
}

// ------------------------------------------------------------ calibration

head_category classify(const head_mass& m, const thresholds& t)
{
  if (m.fraction(kInter) >= t.gamma_d) return head_category::dense;
  const bool sinks = m.fraction(kSink) >= t.gamma_s, text = m.fraction(kText) >= t.gamma_i;
  if (sinks && text) return head_category::intra_sink;
  if (sinks) return head_category::sink;
  if (text) return head_category::intra;
  // Neither is needed: the mask that loses less (Sink drops the text,
  // Intra-Image drops the sinks).
  return m.fraction(kText) <= m.fraction(kSink) ? head_category::sink : head_category::intra;
}

head_category aggregate(const std::vector<head_category>& per_prompt, double alpha)
{
  if (per_prompt.empty()) return head_category::dense;
  double dense = 0, sinks = 0, text = 0, sink_only = 0, intra_only = 0;
  for (head_category c : per_prompt) {
    dense += c == head_category::dense;
    sinks += c == head_category::dense || c == head_category::sink || c == head_category::intra_sink;
    text += c == head_category::dense || c == head_category::intra || c == head_category::intra_sink;
    sink_only += c == head_category::sink;
    intra_only += c == head_category::intra;
  }
  const double n = double(per_prompt.size());
  if (dense / n > alpha) return head_category::dense;
  const bool need_sinks = sinks / n > alpha, need_text = text / n > alpha;
  if (need_sinks && need_text) return head_category::intra_sink;
  if (need_sinks) return head_category::sink;
  if (need_text) return head_category::intra;
  return sink_only >= intra_only ? head_category::sink : head_category::intra;
}

void attention_mass(const float* q, const float* k, std::int64_t S, int heads, int kv_heads, int D,
                    const token_roles& r, head_mass* out, unsigned threads)
{
  constexpr std::int64_t T = kAttnTile;
  const std::int64_t nT = (S + T - 1) / T;
  const int group = heads / kv_heads;
  const float scale = 1.0f / std::sqrt(float(D));
  if (!threads) threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::vector<head_mass>> part(threads, std::vector<head_mass>(std::size_t(heads)));
  std::atomic<std::int64_t> next{0};
  auto work = [&](unsigned w) {
    std::vector<float> s(std::size_t(T * T));
    float m[T], l[T];
    for (std::int64_t item; (item = next.fetch_add(1)) < heads * nT;) {
      const int h = int(item % heads), kh = h / group;
      const std::int64_t qt = item / heads, q0 = qt * T, q1 = std::min(S, q0 + T);
      bool any = false;
      for (std::int64_t i = q0; i < q1; ++i) any |= r.is_image_query(i);
      if (!any) continue;
      auto scores = [&](std::int64_t kt) {
        const std::int64_t k0 = kt * T, k1 = std::min(S, k0 + T);
        for (std::int64_t i = q0; i < q1; ++i) {
          const float* qi = q + (i * heads + h) * D;
          for (std::int64_t j = k0; j < k0 + T; ++j) {
            float d = -std::numeric_limits<float>::infinity();
            if (j < k1 && j <= i) {
              d = 0;
              const float* kj = k + (j * kv_heads + kh) * D;
              for (int x = 0; x < D; ++x) d += qi[x] * kj[x];
              d *= scale;
            }
            s[std::size_t((i - q0) * T + (j - k0))] = d;
          }
        }
      };
      // Pass 1: each row's max and sum, online over the key tiles.
      for (int i = 0; i < T; ++i) m[i] = -std::numeric_limits<float>::infinity(), l[i] = 0;
      for (std::int64_t kt = 0; kt <= qt; ++kt) {
        scores(kt);
        for (std::int64_t i = q0; i < q1; ++i) {
          const float* row = &s[std::size_t((i - q0) * T)];
          float mt = m[i - q0];
          for (int j = 0; j < T; ++j) mt = std::max(mt, row[j]);
          float sum = 0;
          for (int j = 0; j < T; ++j) sum += std::isinf(row[j]) ? 0.0f : std::exp(row[j] - mt);
          l[i - q0] = l[i - q0] * std::exp(m[i - q0] - mt) + sum;
          m[i - q0] = mt;
        }
      }
      // Pass 2: each tile's probabilities into the key classes.
      head_mass& hm = part[w][std::size_t(h)];
      for (std::int64_t kt = 0; kt <= qt; ++kt) {
        scores(kt);
        const std::int64_t k0 = kt * T, k1 = std::min(S, k0 + T);
        for (std::int64_t i = q0; i < q1; ++i) {
          if (!r.is_image_query(i)) continue;
          const std::int32_t im = r.image[std::size_t(i)];
          const float* row = &s[std::size_t((i - q0) * T)];
          for (std::int64_t j = k0; j < k1 && j <= i; ++j)
            hm.mass[classify_key(r, im, j)] += double(std::exp(row[j - k0] - m[i - q0]) / l[i - q0]);
        }
      }
      for (std::int64_t i = q0; i < q1; ++i) hm.queries += r.is_image_query(i);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned w = 1; w < threads; ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& th : pool) th.join();
  for (int h = 0; h < heads; ++h) {
    out[h] = head_mass{};
    for (unsigned w = 0; w < threads; ++w) out[h].add(part[w][std::size_t(h)]);
  }
}

// ------------------------------------------------------------ heads.json

std::string to_json(const head_table& t)
{
  auto number = [](double d) {
    char b[32];
    std::snprintf(b, sizeof b, "%.6g", d);
    return std::string(b);
  };
  std::string o = "{\n  \"method\": \"blindsight\",\n  \"layers\": " + std::to_string(t.layers) +
                  ",\n  \"heads\": " + std::to_string(t.heads) + ",\n  \"prompts\": " + std::to_string(t.prompts) +
                  ",\n  \"params\": {\"sink_fraction\": " + number(t.mp.sink_fraction) +
                  ", \"gamma_d\": " + number(t.th.gamma_d) + ", \"gamma_s\": " + number(t.th.gamma_s) +
                  ", \"gamma_i\": " + number(t.th.gamma_i) + ", \"alpha_first\": " + number(t.th.alpha_first) +
                  ", \"alpha_last\": " + number(t.th.alpha_last) + "},\n  \"categories\": [";
  for (int l = 0; l < t.layers; ++l) {
    o += l ? ",\n    [" : "\n    [";
    for (int h = 0; h < t.heads; ++h) {
      const std::size_t i = std::size_t(l * t.heads + h);
      o += (h ? ", " : "") + ex::json::quote(category_name(t.cats[i]));
    }
    o += "]";
  }
  if (t.mass.empty()) return o + "\n  ]\n}\n";  // planted.json: categories only
  o += "\n  ],\n  \"fractions\": [";
  char b[256];
  for (int l = 0; l < t.layers; ++l) {
    o += l ? ",\n    [" : "\n    [";
    for (int h = 0; h < t.heads; ++h) {
      const std::size_t i = std::size_t(l * t.heads + h);
      const head_mass m = i < t.mass.size() ? t.mass[i] : head_mass{};
      std::snprintf(b, sizeof b, "%s{\"own\": %.5f, \"sink\": %.5f, \"prefix\": %.5f, \"text\": %.5f, \"inter\": %.5f}",
                    h ? ", " : "", m.fraction(kOwn), m.fraction(kSink), m.fraction(kPrefix), m.fraction(kText),
                    m.fraction(kInter));
      o += b;
    }
    o += "]";
  }
  o += "\n  ]\n}\n";
  return o;
}

std::string parse_head_table(std::string_view text, std::string_view source, head_table& out)
{
  const std::string src(source);
  ex::json::result r = ex::json::parse(text);
  if (!r.ok()) return src + ": " + r.error;
  const ex::json::value* layers = r.val.find("layers");
  const ex::json::value* heads = r.val.find("heads");
  const ex::json::value* cats = r.val.find("categories");
  std::int64_t L = 0, H = 0;
  if (!layers || !layers->get_int(L) || !heads || !heads->get_int(H) || L <= 0 || H <= 0 || L > 4096 || H > 4096)
    return src + ": \"layers\" and \"heads\" must be positive integers";
  if (!cats || !cats->is_array() || std::int64_t(cats->items.size()) != L)
    return src + ": \"categories\" must be an array of " + std::to_string(L) + " layers";
  out = head_table{};
  out.layers = int(L), out.heads = int(H);
  for (std::int64_t l = 0; l < L; ++l) {
    const ex::json::value& row = cats->items[std::size_t(l)];
    if (!row.is_array() || std::int64_t(row.items.size()) != H)
      return src + ": layer " + std::to_string(l) + ": expected " + std::to_string(H) + " heads";
    for (const auto& c : row.items) {
      head_category hc;
      if (!c.is_string() || !parse_category(c.s, hc))
        return src + ": layer " + std::to_string(l) + ": unknown category (dense, sink, intra, intra+sink)";
      out.cats.push_back(hc);
    }
  }
  if (const ex::json::value* p = r.val.find("params")) {
    auto get = [&](const char* k, double& v) {
      if (const ex::json::value* x = p->find(k)) x->get_double(v);
    };
    get("sink_fraction", out.mp.sink_fraction);
    get("gamma_d", out.th.gamma_d), get("gamma_s", out.th.gamma_s), get("gamma_i", out.th.gamma_i);
    get("alpha_first", out.th.alpha_first), get("alpha_last", out.th.alpha_last);
    if (!(out.mp.sink_fraction >= 0 && out.mp.sink_fraction <= 1)) return src + ": sink_fraction must be in [0, 1]";
  }
  return "";
}

// ------------------------------------------------------------ planted model

head_category planted_category(int layer, int head)
{
  static const head_category pattern[4] = {head_category::intra, head_category::sink, head_category::intra_sink,
                                           head_category::dense};
  return pattern[(layer + head) % 4];
}

std::string plant_check(const config& c)
{
  if (c.head_dim() < 32) return "--plant needs head_dim >= 32 (found " + std::to_string(c.head_dim()) + ")";
  if (c.hidden < 64) return "--plant needs hidden >= 64";
  return "";
}

namespace {

// The planted head reads feature f in head dimension plant_dim(D, f): the
// five lowest-frequency rotary pairs (j and j + D/2 for j in [D/2-5, D/2)).
int plant_dim(int D, int f) { return f < 5 ? D / 2 - 5 + f : D - 5 + (f - 5); }
int plant_feature(int D, int d)
{
  for (int f = 0; f < kPlantFeatures; ++f)
    if (plant_dim(D, f) == d) return f;
  return -1;
}

constexpr float kPlantValue = 4.0f;  // a feature's value in an embedding row

// The feature's value after RMSNorm, for the score scales: the other
// hidden - 10 values are ~U(-1, 1) (mean square 1/3).
float normed_feature(const config& c)
{
  const double H = double(c.hidden);
  return float(kPlantValue / std::sqrt(((H - kPlantFeatures) / 3.0 + kPlantValue * kPlantValue) / H));
}

// Parses "model.layers.L.<rest>" -> L and rest.
bool layer_of(const std::string& name, int& layer, std::string& rest)
{
  static const std::string p = "model.layers.";
  if (name.rfind(p, 0) != 0) return false;
  const std::size_t dot = name.find('.', p.size());
  if (dot == std::string::npos) return false;
  layer = std::atoi(name.c_str() + p.size());
  rest = name.substr(dot + 1);
  return true;
}

}  // namespace

std::function<float(const tensor_spec&, std::uint64_t, float)> plant_adjuster(const config& c)
{
  const std::int64_t H = c.hidden, R0 = H - kPlantFeatures, D = c.head_dim();
  const float F = normed_feature(c), sd = std::sqrt(float(D));
  // Scores (after the 1/sqrt(D) scale) of the planted matches.
  const float own = 14.0f, sink = 16.5f, text = 16.0f;
  const float beta = own * sd / (F * F);
  return [=](const tensor_spec& t, std::uint64_t i, float v) -> float {
    if (t.name == "model.embed_tokens.weight") {
      const std::int64_t row = std::int64_t(i) / H, col = std::int64_t(i) % H;
      if (col < R0) return v;
      const bool is_sink = row == c.vision_start || row == c.vision_end || row == c.im_start;
      if (col == R0 + kPlantIdentities) return is_sink ? kPlantValue : 0.0f;
      if (col == R0 + kPlantIdentities + 1) return !is_sink && row != c.image_pad ? kPlantValue : 0.0f;
      return 0.0f;
    }
    if (t.r == role::norm) return std::int64_t(i) % H >= R0 ? 1.0f : v;
    int layer;
    std::string rest;
    if (!layer_of(t.name, layer, rest)) return v;
    if (rest == "self_attn.o_proj.weight" || rest == "mlp.down_proj.weight")
      return std::int64_t(i) / t.shape[1] >= R0 ? 0.0f : v;  // nothing is written into the features
    if (rest == "self_attn.q_proj.weight" || rest == "self_attn.q_proj.bias") {
      const bool bias = rest.back() == 's';
      const std::int64_t row = bias ? std::int64_t(i) : std::int64_t(i) / H, col = bias ? -1 : std::int64_t(i) % H;
      const int head = int(row / D), f = plant_feature(int(D), int(row % D));
      if (f < 0) return 0.5f * v;
      const head_category cat = planted_category(layer, head);
      if (f < kPlantIdentities) {
        if (cat == head_category::dense) return bias ? beta * F : (col == R0 + f ? -beta : 0.0f);
        return bias ? 0.0f : (col == R0 + f ? beta : 0.0f);
      }
      if (bias && f == kPlantIdentities && keeps(cat, kSink) && cat != head_category::dense) return sink * sd / F;
      if (bias && f == kPlantIdentities + 1 && keeps(cat, kText) && cat != head_category::dense) return text * sd / F;
      return 0.0f;
    }
    if (rest == "self_attn.k_proj.weight" || rest == "self_attn.k_proj.bias") {
      const bool bias = rest.back() == 's';
      const std::int64_t row = bias ? std::int64_t(i) : std::int64_t(i) / H, col = bias ? -1 : std::int64_t(i) % H;
      const int f = plant_feature(int(D), int(row % D));
      if (f < 0) return v;
      return !bias && col == R0 + f ? 1.0f : 0.0f;
    }
    return v;
  };
}

std::string write_planted_image_embeddings(const std::string& path, std::int64_t tokens, std::int64_t hidden,
                                           int slot, std::uint64_t seed)
{
  const std::int64_t R0 = hidden - kPlantFeatures;
  std::vector<float> v(std::size_t(tokens * hidden));
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::int64_t col = std::int64_t(i) % hidden;
    if (col >= R0) v[i] = col == R0 + slot % kPlantIdentities ? kPlantValue : 0.0f;
    else v[i] = float((checksum_term(i, std::uint32_t(seed)) ^ seed) >> 40) / float(1 << 23) - 1.0f;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return path + ": " + std::strerror(errno);
  const char* p = reinterpret_cast<const char*>(v.data());
  std::size_t left = v.size() * sizeof(float);
  while (left) {
    const ssize_t w = ::write(fd, p, left);
    if (w <= 0) {
      ::close(fd);
      return path + ": " + std::strerror(errno);
    }
    p += w, left -= std::size_t(w);
  }
  return ::close(fd) == 0 ? "" : path + ": " + std::strerror(errno);
}

}  // namespace vlm
