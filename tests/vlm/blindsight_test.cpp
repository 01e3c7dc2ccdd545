// BlindSight on gsys-vlm, host side: the masks built from the template, the
// fast CPU attention against a naive masked loop for each of the four masks,
// exact FLOP counts, calibration recovering the planted heads of
// make-weights --plant on prompts of different image counts, sizes and text
// lengths, and the accuracy of the calibrated masks against dense (with a
// negative control: a Dense head forced sparse hurts visibly).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/scratch_dir.h"

#include "vlm/blindsight.h"
#include "vlm/cpu_forward.h"

namespace {

using namespace vlm;

// The planted test model: head_dim 32 (the smallest the plant supports).
config planted_config()
{
  config c;
  c.hidden = 128, c.layers = 4, c.heads = 4, c.kv_heads = 2, c.ffn = 256, c.vocab = 512;
  c.mrope_section[0] = 4, c.mrope_section[1] = 6, c.mrope_section[2] = 6;
  c.tie_embeddings = true;
  c.vision_start = c.vocab - 6, c.vision_end = c.vocab - 5, c.image_pad = c.vocab - 3;
  c.im_start = c.vocab - 8, c.im_end = c.vocab - 7;
  return c;
}

struct image_grid {
  std::int64_t h, w;
};

// A prompt: system, text, then per image the image and a text segment.
struct planted_prompt {
  prompt p;
  std::vector<std::vector<float>> images;
};

planted_prompt make_prompt(const config& c, const std::string& dir, const std::vector<image_grid>& grids, int text,
                           int seed, bool planted = true)
{
  prompt_spec s;
  s.system = {1, 2, 3, 4};
  std::int64_t id = 7 + seed * 13;
  auto text_seg = [&](int n) {
    prompt_segment seg;
    for (int i = 0; i < n; ++i) seg.text.push_back(id++ % (c.vocab - 16));
    return seg;
  };
  s.content.push_back(text_seg(text));
  for (std::size_t k = 0; k < grids.size(); ++k) {
    prompt_segment im;
    im.is_image = true;
    im.image.t = 1, im.image.h = grids[k].h, im.image.w = grids[k].w;
    im.image.file = dir + "/p" + std::to_string(seed) + "_img" + std::to_string(k) + ".bin";
    const std::string e = planted ? write_planted_image_embeddings(im.image.file, im.image.tokens(), c.hidden,
                                                                   int(k + std::size_t(seed)) % kPlantIdentities,
                                                                   std::uint64_t(seed * 100 + int(k)))
                                  : write_image_embeddings(im.image.file, im.image.tokens(), c.hidden, dtype::f32,
                                                           std::uint64_t(seed * 100 + int(k)));
    EXPECT_EQ(e, "");
    s.content.push_back(im);
    s.content.push_back(text_seg(text + int(k) % 3));
  }
  prompt_result pr = build_prompt(s, c);
  EXPECT_TRUE(pr.ok()) << pr.error;
  planted_prompt out;
  out.p = std::move(pr.p);
  out.images.resize(out.p.images.size());
  for (std::size_t k = 0; k < out.p.images.size(); ++k)
    EXPECT_EQ(load_image_embeddings(out.p.images[k], c.hidden, out.images[k]), "");
  return out;
}

host_weights planted_model(const config& c, const std::string& dir, bool plant = true)
{
  const std::string model = dir + "/model";
  EXPECT_EQ(write_synthetic_checkpoint(model, c, dtype::f32, 1, 5, {}, plant ? plant_adjuster(c) : nullptr), "");
  checkpoint_result r = open_checkpoint(model);
  EXPECT_TRUE(r.ok()) << r.error;
  const weight_plan plan = plan_weights(r.ckpt, c);
  EXPECT_TRUE(plan.ok()) << plan.error;
  host_weights w;
  EXPECT_EQ(load_host_weights(r.ckpt, plan, c, w), "");
  return w;
}

// The calibration prompt set: 2 to 6 images of 16 to 64 tokens, text segments of 3 to 12 tokens.
std::vector<planted_prompt> calibration_prompts(const config& c, const std::string& dir)
{
  std::vector<planted_prompt> v;
  v.push_back(make_prompt(c, dir, {{8, 8}, {8, 8}}, 6, 1));
  v.push_back(make_prompt(c, dir, {{16, 16}, {8, 12}, {12, 12}}, 3, 2));
  v.push_back(make_prompt(c, dir, {{8, 8}, {16, 8}, {8, 8}, {12, 8}}, 12, 3));
  v.push_back(make_prompt(c, dir, {{12, 12}, {12, 12}, {12, 12}, {12, 12}, {8, 8}, {8, 16}}, 5, 4));
  return v;
}

// ------------------------------------------------------------ masks

// A prompt whose images straddle tile edges, for the mask tests.
prompt structural_prompt(const config& c)
{
  prompt_spec s;
  s.system = {1, 2};
  auto seg = [](int n) {
    prompt_segment t;
    for (int i = 0; i < n; ++i) t.text.push_back(10 + i);
    return t;
  };
  s.content.push_back(seg(5));
  for (auto [h, w] : std::vector<std::pair<int, int>>{{16, 16}, {12, 16}, {16, 20}, {8, 8}}) {
    prompt_segment im;
    im.is_image = true;
    im.image.h = h, im.image.w = w;
    s.content.push_back(im);
    s.content.push_back(seg(9));
  }
  prompt_result r = build_prompt(s, c);
  EXPECT_TRUE(r.ok()) << r.error;
  return r.p;
}

// The token-level rule the tiles round up: a text query keeps every key; an
// image query keeps the classes its category keeps.
bool token_keeps(const token_roles& r, head_category c, std::int64_t i, std::int64_t j)
{
  if (j > i) return false;
  if (!r.is_image_query(i)) return true;
  return keeps(c, classify_key(r, r.image[std::size_t(i)], j));
}

// Every tile the lists keep holds a pair the token mask keeps, and every
// pair the token mask keeps lies in a kept tile; text query tiles are dense.
TEST(BlindSightMask, TilesAreTheTokenMaskRoundedUp)
{
  const config c = planted_config();
  const prompt p = structural_prompt(c);
  const token_roles r = token_roles::of(p, mask_params{});
  const tile_lists t = build_tile_lists(r);
  const std::int64_t S = p.size(), T = kAttnTile;
  for (int ci = 0; ci < kCategories; ++ci) {
    const head_category cat = head_category(ci);
    const std::vector<std::uint8_t> m = expand_block_mask(t, {cat});
    for (std::int64_t qt = 0; qt < t.nT; ++qt)
      for (std::int64_t kt = 0; kt <= qt; ++kt) {
        bool any = false;
        for (std::int64_t i = qt * T; i < std::min(S, qt * T + T); ++i)
          for (std::int64_t j = kt * T; j < std::min(S, kt * T + T); ++j) any |= token_keeps(r, cat, i, j);
        EXPECT_EQ(bool(m[std::size_t(qt * t.nT + kt)]), any) << category_name(cat) << " tile " << qt << "," << kt;
      }
  }
  // Sparse masks are sparser than dense; the union keeps at least each part.
  const double dense = kept_pairs(t, head_category::dense), sink = kept_pairs(t, head_category::sink),
               intra = kept_pairs(t, head_category::intra), both = kept_pairs(t, head_category::intra_sink);
  EXPECT_DOUBLE_EQ(dense, double(S) * double(S + 1) / 2);
  EXPECT_LT(sink, dense);
  EXPECT_LT(intra, dense);
  EXPECT_LE(std::max(sink, intra), both);
  EXPECT_LT(both, dense);
}

// What each mask keeps for an image query, as docs/blindsight.md's table
// says (own, sink, prefix, text, inter).
TEST(BlindSightMask, KeepsTableAsDocumented)
{
  const bool want[kCategories][kKeyClasses] = {
      {true, true, true, true, true},     // dense
      {true, true, true, false, false},   // sink
      {true, false, true, true, false},   // intra
      {true, true, true, true, false}};   // intra+sink
  for (int c = 0; c < kCategories; ++c)
    for (int k = 0; k < kKeyClasses; ++k)
      EXPECT_EQ(keeps(head_category(c), key_class(k)), want[c][k]) << category_name(head_category(c)) << " class " << k;
  // and the classes of a prompt's keys for a query in image 2
  const config c = planted_config();
  const prompt p = structural_prompt(c);
  const token_roles r = token_roles::of(p, mask_params{});
  EXPECT_EQ(classify_key(r, 2, 0), kPrefix);                   // <|im_start|> of the system turn
  EXPECT_EQ(classify_key(r, 2, p.image_first[0] - 1), kSink);  // image 0's <|vision_start|>
  EXPECT_EQ(classify_key(r, 2, p.image_first[0]), kSink);      // image 0's first token (leading 10%)
  EXPECT_EQ(classify_key(r, 2, p.image_first[0] + p.images[0].tokens() - 1), kInter);
  EXPECT_EQ(classify_key(r, 2, p.image_first[1] + p.images[1].tokens()), kSink);      // image 1's <|vision_end|>
  EXPECT_EQ(classify_key(r, 2, p.image_first[1] + p.images[1].tokens() + 1), kText);  // text after image 1
  EXPECT_EQ(classify_key(r, 2, p.image_first[2] - 1), kOwn);   // its own <|vision_start|>
  EXPECT_EQ(classify_key(r, 2, p.image_first[2] + 5), kOwn);
}

// The sink fraction decides how many of an image's tokens are sinks.
TEST(BlindSightMask, SinkFractionMarksLeadingTokens)
{
  const config c = planted_config();
  const prompt p = structural_prompt(c);
  for (double f : {0.0, 0.1, 0.5}) {
    mask_params mp;
    mp.sink_fraction = f;
    const token_roles r = token_roles::of(p, mp);
    std::int64_t lead = 0;
    for (std::int64_t i = p.image_first[1]; i < p.image_first[1] + p.images[1].tokens(); ++i)
      lead += r.role[std::size_t(i)] == token_role::image_lead;
    EXPECT_EQ(lead, std::int64_t(std::ceil(f * double(p.images[1].tokens()) - 1e-9))) << f;
  }
}

// FLOPs: the whole-prefill count with every head dense equals the dense
// formula; with sparse heads the attention part equals the pairs of the
// expanded mask, counted one by one.
TEST(BlindSightMask, FlopsCountComputedPairsExactly)
{
  const config c = planted_config();
  const prompt p = structural_prompt(c);
  const tile_lists t = build_tile_lists(token_roles::of(p, mask_params{}));
  const flop_count dense = prefill_flops(c, p.size());
  EXPECT_DOUBLE_EQ(prefill_flops(c, t, std::vector<head_category>(std::size_t(c.layers * c.heads))).attention,
                   dense.attention);
  std::vector<head_category> cats;
  for (int l = 0; l < c.layers; ++l)
    for (int h = 0; h < c.heads; ++h) cats.push_back(head_category((l + h) % 4));
  double pairs = 0;
  const std::int64_t S = p.size(), T = kAttnTile;
  for (head_category cat : cats) {
    const std::vector<std::uint8_t> m = expand_block_mask(t, {cat});
    for (std::int64_t i = 0; i < S; ++i)
      for (std::int64_t j = 0; j <= i; ++j) pairs += m[std::size_t((i / T) * t.nT + j / T)];
  }
  const flop_count sparse = prefill_flops(c, t, cats);
  EXPECT_DOUBLE_EQ(sparse.attention, 4.0 * double(c.head_dim()) * pairs);
  EXPECT_DOUBLE_EQ(sparse.matmul, dense.matmul);
  EXPECT_LT(sparse.attention, dense.attention);
}

// The CPU attention (dense and each sparse mask) equals a naive loop over
// (query, key) pairs with the expanded block mask, in double precision.
TEST(BlindSightCpu, SparseAttentionMatchesNaiveMaskedLoop)
{
  const config c = planted_config();
  const prompt p = structural_prompt(c);
  const tile_lists t = build_tile_lists(token_roles::of(p, mask_params{}));
  const std::int64_t S = p.size(), T = kAttnTile;
  const int heads = 4, kvh = 2, D = 32;
  std::vector<float> q(std::size_t(S * heads * D)), k(std::size_t(S * kvh * D)), v(k.size()), out(q.size());
  std::uint64_t st = 12345;
  auto rnd = [&] {
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    return float(double(st >> 11) / double(1ull << 53) * 4.0 - 2.0);
  };
  for (auto* a : {&q, &k, &v})
    for (float& x : *a) x = rnd();
  for (int ci = 0; ci < kCategories; ++ci) {
    // Head 0 of the tested category, the others a mix, so per-head lists are exercised.
    std::vector<head_category> cats = {head_category(ci), head_category((ci + 1) % 4), head_category((ci + 2) % 4),
                                       head_category((ci + 3) % 4)};
    cpu_attention(q.data(), k.data(), v.data(), out.data(), S, heads, kvh, D, &t, cats.data(), 2);
    const std::vector<std::uint8_t> m = expand_block_mask(t, cats);
    double err = 0;
    for (int h = 0; h < heads; ++h)
      for (std::int64_t i = 0; i < S; ++i) {
        std::vector<double> s(std::size_t(i + 1), -std::numeric_limits<double>::infinity());
        double mx = -std::numeric_limits<double>::infinity();
        for (std::int64_t j = 0; j <= i; ++j) {
          if (!m[std::size_t((h * t.nT + i / T) * t.nT + j / T)]) continue;
          double d = 0;
          for (int x = 0; x < D; ++x) d += double(q[std::size_t((i * heads + h) * D + x)]) * k[std::size_t((j * kvh + h / 2) * D + x)];
          s[std::size_t(j)] = d / std::sqrt(double(D));
          mx = std::max(mx, s[std::size_t(j)]);
        }
        double sum = 0;
        std::vector<double> o(std::size_t(D), 0.0);
        for (std::int64_t j = 0; j <= i; ++j) {
          const double pj = std::exp(s[std::size_t(j)] - mx);
          sum += pj;
          for (int x = 0; x < D; ++x) o[std::size_t(x)] += pj * v[std::size_t((j * kvh + h / 2) * D + x)];
        }
        for (int x = 0; x < D; ++x)
          err = std::max(err, std::fabs(o[std::size_t(x)] / sum - out[std::size_t((i * heads + h) * D + x)]));
      }
    EXPECT_LT(err, 2e-5) << category_name(head_category(ci));
    // and the mask matters: dense attention differs
    std::vector<float> dense(out.size());
    cpu_attention(q.data(), k.data(), v.data(), dense.data(), S, heads, kvh, D, nullptr, nullptr, 2);
    double diff = 0;
    for (std::size_t i = 0; i < out.size(); ++i) diff = std::max(diff, double(std::fabs(out[i] - dense[i])));
    EXPECT_GT(diff, 1e-2) << category_name(head_category(ci));
  }
}

// The CPU forward pass with every head dense equals the fp64 reference, and
// with per-layer sparse heads the reference under the same per-layer masks.
TEST(BlindSightCpu, ForwardMatchesReferenceDenseAndMasked)
{
  gsys_test::scratch_dir dir;
  const config c = planted_config();
  const host_weights w = planted_model(c, dir.path(), false);
  const planted_prompt pp = make_prompt(c, dir.path(), {{16, 16}, {16, 12}, {16, 16}}, 5, 9, false);
  const tile_lists t = build_tile_lists(token_roles::of(pp.p, mask_params{}));
  std::vector<head_category> cats;
  for (int l = 0; l < c.layers; ++l)
    for (int h = 0; h < c.heads; ++h) cats.push_back(head_category((l * 3 + h) % 4));
  std::vector<std::uint8_t> masks;
  for (int l = 0; l < c.layers; ++l) {
    const std::vector<head_category> layer(cats.begin() + l * c.heads, cats.begin() + (l + 1) * c.heads);
    const std::vector<std::uint8_t> m = expand_block_mask(t, layer);
    masks.insert(masks.end(), m.begin(), m.end());
  }
  for (bool sparse : {false, true}) {
    cpu_forward_options o;
    o.keep_hidden = true;
    if (sparse) o.tiles = &t, o.cats = &cats;
    const cpu_output got = cpu_forward(w, pp.p, pp.images, o);
    const reference_output ref = reference_forward(w, pp.p, pp.images, sparse ? masks.data() : nullptr,
                                                   sparse ? masks.size() / std::size_t(c.layers) : 0);
    double err = 0, scale = 1;
    for (std::size_t i = 0; i < ref.hidden.size(); ++i) {
      err = std::max(err, std::fabs(ref.hidden[i] - got.hidden[i]));
      scale = std::max(scale, std::fabs(ref.hidden[i]));
    }
    EXPECT_LT(err / scale, 2e-5) << (sparse ? "sparse" : "dense");
    if (sparse) {
      const reference_output dense = reference_forward(w, pp.p, pp.images);
      double diff = 0;
      for (std::size_t i = 0; i < ref.hidden.size(); ++i) diff = std::max(diff, std::fabs(dense.hidden[i] - got.hidden[i]));
      EXPECT_GT(diff / scale, 1e-3) << "the masks changed nothing";
    }
  }
}

// ------------------------------------------------------------ calibration

TEST(BlindSightCalibrate, ClassifyAndAggregateRules)
{
  thresholds th;
  auto mass = [](double own, double sink, double prefix, double text, double inter) {
    head_mass m;
    m.mass[kOwn] = own, m.mass[kSink] = sink, m.mass[kPrefix] = prefix, m.mass[kText] = text, m.mass[kInter] = inter;
    m.queries = 1;
    return m;
  };
  EXPECT_EQ(classify(mass(0.5, 0.1, 0.1, 0.1, 0.2), th), head_category::dense);
  EXPECT_EQ(classify(mass(0.8, 0.1, 0.05, 0.01, 0.01), th), head_category::sink);
  EXPECT_EQ(classify(mass(0.8, 0.01, 0.05, 0.1, 0.01), th), head_category::intra);
  EXPECT_EQ(classify(mass(0.7, 0.1, 0.0, 0.1, 0.01), th), head_category::intra_sink);
  // Neither needed: the mask that loses less.
  EXPECT_EQ(classify(mass(0.97, 0.01, 0.0, 0.02, 0.0), th), head_category::intra);
  EXPECT_EQ(classify(mass(0.97, 0.02, 0.0, 0.01, 0.0), th), head_category::sink);
  using hc = head_category;
  EXPECT_EQ(aggregate({hc::sink, hc::sink, hc::sink, hc::dense}, 0.2), hc::dense);
  EXPECT_EQ(aggregate({hc::sink, hc::sink, hc::sink, hc::dense}, 0.3), hc::sink);
  EXPECT_EQ(aggregate({hc::sink, hc::intra, hc::sink, hc::intra}, 0.3), hc::intra_sink);
  EXPECT_EQ(aggregate({hc::intra, hc::intra, hc::intra, hc::sink}, 0.3), hc::intra);
  const thresholds lin{0.05, 0.05, 0.05, 0.1, 0.5};
  EXPECT_DOUBLE_EQ(lin.alpha(2, 5), 0.3);
}

TEST(BlindSightCalibrate, HeadsJsonRoundTrip)
{
  head_table t;
  t.layers = 2, t.heads = 3, t.prompts = 4;
  t.mp.sink_fraction = 0.25;
  t.th.alpha_last = 0.4;
  for (int i = 0; i < 6; ++i) t.cats.push_back(head_category(i % 4));
  head_table back;
  ASSERT_EQ(parse_head_table(to_json(t), "heads.json", back), "");
  EXPECT_EQ(back.cats, t.cats);
  EXPECT_EQ(back.layers, 2);
  EXPECT_DOUBLE_EQ(back.mp.sink_fraction, 0.25);
  EXPECT_DOUBLE_EQ(back.th.alpha_last, 0.4);
  EXPECT_NE(parse_head_table("{\"layers\": 1, \"heads\": 1, \"categories\": [[\"sparse\"]]}", "h.json", back), "");
  EXPECT_NE(parse_head_table("{\"layers\": 2, \"heads\": 1, \"categories\": [[\"dense\"]]}", "h.json", back), "");
}

// Calibration on the planted model recovers every head's planted category,
// on every prompt of the set (2-6 images of 16-64 tokens, text segments of
// 3-14 tokens) and after aggregation.
TEST(BlindSightCalibrate, RecoversPlantedHeads)
{
  gsys_test::scratch_dir dir;
  const config c = planted_config();
  ASSERT_EQ(plant_check(c), "");
  const host_weights w = planted_model(c, dir.path());
  const thresholds th;
  std::vector<std::vector<head_category>> per_head(std::size_t(c.layers * c.heads));
  int prompt_no = 0;
  for (const planted_prompt& pp : calibration_prompts(c, dir.path())) {
    const token_roles r = token_roles::of(pp.p, mask_params{});
    std::vector<head_mass> mass;
    cpu_forward_options o;
    o.roles = &r, o.mass = &mass;
    cpu_forward(w, pp.p, pp.images, o);
    for (int l = 0; l < c.layers; ++l)
      for (int h = 0; h < c.heads; ++h) {
        const head_mass& m = mass[std::size_t(l * c.heads + h)];
        const head_category got = classify(m, th);
        per_head[std::size_t(l * c.heads + h)].push_back(got);
        EXPECT_EQ(got, planted_category(l, h))
            << "prompt " << prompt_no << " layer " << l << " head " << h << ": own " << m.fraction(kOwn) << " sink "
            << m.fraction(kSink) << " prefix " << m.fraction(kPrefix) << " text " << m.fraction(kText) << " inter "
            << m.fraction(kInter);
      }
    ++prompt_no;
  }
  for (int l = 0; l < c.layers; ++l)
    for (int h = 0; h < c.heads; ++h)
      EXPECT_EQ(aggregate(per_head[std::size_t(l * c.heads + h)], th.alpha(l, int(c.layers))), planted_category(l, h))
          << "layer " << l << " head " << h;
}

// With the planted (= calibrated) categories the prefill stays close to
// dense on prompts it was not calibrated on; forcing the Dense heads sparse
// (Intra-Image) is the negative control and must hurt visibly.
TEST(BlindSightAccuracy, CalibratedMasksStayCloseForcedDenseHeadsDoNot)
{
  gsys_test::scratch_dir dir;
  const config c = planted_config();
  const host_weights w = planted_model(c, dir.path());
  std::vector<head_category> cats, forced;
  for (int l = 0; l < c.layers; ++l)
    for (int h = 0; h < c.heads; ++h) {
      cats.push_back(planted_category(l, h));
      forced.push_back(cats.back() == head_category::dense ? head_category::intra : cats.back());
    }
  const std::vector<std::vector<image_grid>> shapes = {
      {{8, 8}, {8, 8}, {8, 8}, {8, 8}}, {{12, 12}, {16, 8}, {8, 8}, {12, 16}, {8, 8}},
      {{16, 16}, {16, 16}, {16, 16}, {16, 16}}, {{8, 8}, {8, 12}, {12, 8}, {8, 8}, {8, 8}, {12, 12}}};
  // Agreement of the next-token logits at every position of every prompt.
  double agree[2] = {0, 0}, top5[2] = {0, 0}, rel[2] = {0, 0};
  double positions = 0;
  int n = 0;
  for (std::size_t s = 0; s < shapes.size(); ++s)
    for (int text : {4, 11}) {
      const planted_prompt pp = make_prompt(c, dir.path(), shapes[s], text, 20 + int(s) * 2 + text);
      const tile_lists t = build_tile_lists(token_roles::of(pp.p, mask_params{}));
      cpu_forward_options o;
      o.keep_hidden = true, o.all_logits = true;
      const cpu_output dense = cpu_forward(w, pp.p, pp.images, o);
      o.tiles = &t;
      const std::size_t V = std::size_t(c.vocab);
      for (int which = 0; which < 2; ++which) {
        o.cats = which ? &forced : &cats;
        const cpu_output sp = cpu_forward(w, pp.p, pp.images, o);
        double err = 0, scale = 0;
        for (std::size_t i = 0; i < dense.hidden.size(); ++i) {
          err = std::max(err, double(std::fabs(sp.hidden[i] - dense.hidden[i])));
          scale = std::max(scale, double(std::fabs(dense.hidden[i])));
        }
        rel[which] = std::max(rel[which], err / scale);
        for (std::int64_t i = 0; i < pp.p.size(); ++i) {
          const float* dl = &dense.logits[std::size_t(i) * V];
          const float* sl = &sp.logits[std::size_t(i) * V];
          const std::size_t want = std::size_t(std::max_element(dl, dl + V) - dl);
          agree[which] += want == std::size_t(std::max_element(sl, sl + V) - sl);
          int above = 0;
          for (std::size_t x = 0; x < V; ++x) above += sl[x] > sl[want];
          top5[which] += above < 5;
        }
      }
      positions += double(pp.p.size());
      ++n;
    }
  for (int i = 0; i < 2; ++i) agree[i] /= positions, top5[i] /= positions;
  std::printf("%d prompts, %.0f positions: calibrated: max rel hidden error %.3g, top-1 %.4f, top-5 %.4f; dense heads "
              "forced sparse: %.3g, top-1 %.4f, top-5 %.4f\n",
              n, positions, rel[0], agree[0], top5[0], rel[1], agree[1], top5[1]);
  EXPECT_GE(agree[0], 0.99);
  EXPECT_GE(top5[0], 0.999);
  // The negative control misses the 99% top-1 target the calibrated masks meet
  // (observed: 98.4% of positions keep their top-1, hidden error 0.14).
  EXPECT_LT(agree[1], 0.99) << "forcing Dense heads sparse should cost agreement";
  EXPECT_LT(rel[0], 0.02);
  EXPECT_GT(rel[1], 1000 * rel[0]) << "forcing Dense heads sparse should hurt";
  EXPECT_GT(rel[1], 0.05);
}

}  // namespace
