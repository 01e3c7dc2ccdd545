// BlindSight (arXiv 2507.09071) on gsys-vlm: every attention head gets one
// of four masks, chosen offline from sample prompts and independent of the
// prompt; the mask follows from the prompt template alone (where the images
// and their delimiters sit), and the attention walks only the 32 x 32 tiles
// the mask keeps. docs/blindsight.md explains the method and which parts are
// our reconstruction (the paper does not publish its formulas).
//
//   token_roles r = token_roles::of(prompt, params);           // per token: prefix, text, image k, ...
//   tile_lists t = build_tile_lists(r);                         // per category, per query tile: key tiles
//   double pairs = kept_pairs(t, head_category::intra, S);      // exact (q, k) pairs computed
//   head_category c = classify(fractions, thresholds);         // calibration, one prompt
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "vlm/config.h"
#include "vlm/prompt.h"
#include "vlm/reference.h"
#include "vlm/weights.h"

namespace vlm {

// Ordered from sparsest to densest as far as the order exists: Sink and
// Intra-Image are incomparable (one keeps sinks, the other the text), their
// union is Intra-Image+Sink, and Dense keeps everything.
enum class head_category : std::uint8_t { dense = 0, sink = 1, intra = 2, intra_sink = 3 };
constexpr int kCategories = 4;
const char* category_name(head_category c);  // "dense", "sink", "intra", "intra+sink"
bool parse_category(std::string_view s, head_category& out);

struct mask_params {
  // Leading share of each earlier image's tokens that count as sinks (the
  // paper mentions 10% for its sink template; the rule is our reconstruction).
  double sink_fraction = 0.10;
};

// What a key is to an image query, and what each token is in the template.
// (Values fixed: attention_mass_kernel in kernels.cuh reads them.)
enum class token_role : std::uint8_t {
  prefix = 0,      // before the first image's <|vision_start|>: system turn and leading text (a sink)
  text = 1,        // any other text or template token
  delimiter = 2,   // <|vision_start|> / <|vision_end|> of image `image`
  image_lead = 3,  // the leading sink_fraction of image `image`'s tokens
  image_rest = 4,  // the rest of image `image`
};

struct token_roles {
  std::vector<token_role> role;
  std::vector<std::int32_t> image;  // image index for delimiter and image tokens, else -1
  static token_roles of(const prompt& p, const mask_params& mp);
  std::int64_t size() const { return std::int64_t(role.size()); }
  bool is_image_query(std::int64_t i) const
  {
    return role[std::size_t(i)] == token_role::image_lead || role[std::size_t(i)] == token_role::image_rest;
  }
};

// The share of an image query's attention on each class of key (sums to 1).
enum key_class : int { kOwn = 0, kSink, kPrefix, kText, kInter, kKeyClasses };
// The class of key j for a query in image `qimage`.
inline key_class classify_key(const token_roles& r, std::int32_t qimage, std::int64_t j)
{
  const token_role kr = r.role[std::size_t(j)];
  if (kr == token_role::prefix) return kPrefix;
  if (kr == token_role::text) return kText;
  if (r.image[std::size_t(j)] == qimage) return kOwn;
  return kr == token_role::image_rest ? kInter : kSink;  // other images' delimiters and leading tokens: sinks
}
// Whether a mask keeps keys of that class for an image query.
bool keeps(head_category c, key_class k);

// Per category, per query tile (kAttnTile queries), the key tiles the mask
// keeps, in increasing order, causal (kt <= qt): a CSR per category.
// A tile is kept when the token-level mask keeps any (query, key) pair in
// it; a kept tile is computed whole (causal inside), so the attention is
// exactly "the token mask rounded up to tiles". Text query tiles are dense.
struct tile_lists {
  std::int64_t S = 0, nT = 0;
  std::vector<std::int32_t> ptr;   // kCategories x (nT + 1): offsets into cols
  std::vector<std::int32_t> cols;  // key tiles
  const std::int32_t* begin(head_category c, std::int64_t qt) const { return cols.data() + ptr[std::size_t(int(c) * (nT + 1) + qt)]; }
  const std::int32_t* end(head_category c, std::int64_t qt) const { return cols.data() + ptr[std::size_t(int(c) * (nT + 1) + qt + 1)]; }
};
tile_lists build_tile_lists(const token_roles& r);

// [head][qtile][ktile] block mask (reference.h layout) of one layer's heads.
std::vector<std::uint8_t> expand_block_mask(const tile_lists& t, const std::vector<head_category>& heads);

// (query, key) pairs the kernel computes for a head of category c: the
// causal pairs inside the kept tiles. Dense: S (S + 1) / 2.
double kept_pairs(const tile_lists& t, head_category c);

// Exact FLOPs of a prefill with per-layer, per-head categories
// (cats[l * heads + h]; empty = dense), multiply-add = 2: attention is
// 4 * head_dim per computed pair (QK^T and PV).
flop_count prefill_flops(const config& c, const tile_lists& t, const std::vector<head_category>& cats);

// ------------------------------------------------------------ calibration

// Attention mass of one head's image queries on each key class, summed over
// the image queries (divide by `queries` for the mean per query).
struct head_mass {
  double mass[kKeyClasses] = {0, 0, 0, 0, 0};
  double queries = 0;
  double fraction(key_class k) const { return queries > 0 ? mass[k] / queries : 0.0; }
  void add(const head_mass& o)
  {
    for (int i = 0; i < kKeyClasses; ++i) mass[i] += o.mass[i];
    queries += o.queries;
  }
};

struct thresholds {
  double gamma_d = 0.05;  // other images' content at or above this: Dense
  double gamma_s = 0.05;  // mass on sinks (other images' delimiters and leading tokens) at or above this: sinks kept
  double gamma_i = 0.05;  // mass on the text after the prefix at or above this: the Intra-Image (document) mask's text kept
  // alpha_layer: a requirement (dense, sinks, text) found in more than this
  // share of the calibration prompts is adopted for the head; linear from
  // alpha_first at layer 0 to alpha_last at the last layer (equal: fixed).
  double alpha_first = 0.2, alpha_last = 0.2;
  double alpha(int layer, int layers) const
  {
    return layers > 1 ? alpha_first + (alpha_last - alpha_first) * double(layer) / double(layers - 1) : alpha_first;
  }
};

// One prompt's category for a head (our reconstruction; docs/blindsight.md).
head_category classify(const head_mass& m, const thresholds& t);
// Across prompts: per-prompt categories of one head -> one category.
head_category aggregate(const std::vector<head_category>& per_prompt, double alpha);

// The masses of every head of one layer from q (S x heads x D, after
// rotary) and k (S x kv_heads x D): tile by tile, the online-softmax max and
// sum of each image query first, then each tile's probabilities into the
// classes; no S x S matrix. `threads` 0 = hardware concurrency.
void attention_mass(const float* q, const float* k, std::int64_t S, int heads, int kv_heads, int D,
                    const token_roles& r, head_mass* out, unsigned threads = 0);

// heads.json: {"layers": L, "heads": H, "params": {...}, "heads": [[{"category": ..., "own": ..., ...}]]}
struct head_table {
  int layers = 0, heads = 0;
  mask_params mp;
  thresholds th;
  int prompts = 0;
  std::vector<head_category> cats;  // layers x heads
  std::vector<head_mass> mass;      // layers x heads, summed over the prompts (may be empty)
};
std::string to_json(const head_table& t);
// "" or an error naming the file.
std::string parse_head_table(std::string_view text, std::string_view source, head_table& out);

// ------------------------------------------------------------ planted model

// make-weights --plant: heads with known behaviour. The last 10 hidden
// dimensions are reserved features that the residual stream carries
// unchanged (o_proj and down_proj write nothing there): 8 image-identity
// dimensions (an image's embeddings carry a one-hot in one of them), a sink
// feature (template delimiters and <|im_start|>) and a text feature (other
// text tokens). Each head reads them in its lowest rotary frequencies, so
// positions barely rotate them:
//   intra       query matches its own image and the text
//   sink        query matches its own image and the sink tokens
//   intra+sink  both
//   dense       query matches every *other* image (cross-image head)
constexpr int kPlantFeatures = 10;
constexpr int kPlantIdentities = 8;
// The planted category of a head: a fixed pattern over (layer, head).
head_category planted_category(int layer, int head);
// "" when the shape can carry the plant (head_dim >= 32, hidden >= 64).
std::string plant_check(const config& c);
// Adjusts write_synthetic_checkpoint's values for the plant.
std::function<float(const tensor_spec&, std::uint64_t, float)> plant_adjuster(const config& c);
// Image embeddings for a planted model: random in [-1, 1) outside the
// reserved dimensions, the identity one-hot `slot` (0..7) inside.
std::string write_planted_image_embeddings(const std::string& path, std::int64_t tokens, std::int64_t hidden,
                                           int slot, std::uint64_t seed);

}  // namespace vlm
