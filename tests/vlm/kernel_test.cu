// gsys-vlm's kernels against the host: the loader kernel (GPU preads) against
// a host read, the matmul against a loop, and the whole prefill against the
// fp64 CPU reference on several model shapes, prompt shapes and image
// counts, with and without an attention block mask. Runs on the simulator
// (and, as vlm_kernel_test_cuda, on a GPU).
//
// Tolerance: the kernels compute in fp32, the reference in fp64; every
// hidden value and logit must be within 2e-5 x max(1, largest |reference
// value|) of the reference. Observed on the simulator: about 2e-7 (printed
// per case). Swapping the h and w components of M-RoPE, which only moves
// image tokens, gives 7e-4 to 5e-3; a wrong mask or weight gives more.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/scratch_dir.h"

#include "vlm/blindsight.h"
#include "vlm/cpu_forward.h"
#include "vlm/engine.cuh"
#include "vlm/blindsight_engine.cuh"

namespace {

using namespace vlm;

constexpr double kTolerance = 2e-5;

struct image_shape {
  std::int64_t t, h, w;
};

// A checkpoint and a prompt on disk, and the engine's and the reference's
// view of them.
struct setup {
  gsys_test::scratch_dir dir;
  config c;
  checkpoint ck;
  weight_plan plan;
  prompt p;

  setup(const config& cfg, dtype dt, unsigned shards, const std::vector<image_shape>& images, int text,
        dtype image_dt = dtype::f32)
      : c(cfg)
  {
    const std::string model = dir.path() + "/model";
    EXPECT_EQ(write_synthetic_checkpoint(model, c, dt, shards, 3), "");
    checkpoint_result r = open_checkpoint(model);
    EXPECT_TRUE(r.ok()) << r.error;
    ck = std::move(r.ckpt);
    plan = plan_weights(ck, c);
    EXPECT_TRUE(plan.ok()) << plan.error;
    prompt_spec s;
    s.system = {1, 2, 3};
    std::int64_t id = 5;
    auto text_seg = [&] {
      prompt_segment seg;
      for (int i = 0; i < text; ++i) seg.text.push_back(id++ % (c.vocab - 16));
      return seg;
    };
    s.content.push_back(text_seg());
    for (std::size_t k = 0; k < images.size(); ++k) {
      prompt_segment im;
      im.is_image = true;
      im.image.t = images[k].t, im.image.h = images[k].h, im.image.w = images[k].w, im.image.dt = image_dt;
      im.image.file = dir.path() + "/img" + std::to_string(k) + ".bin";
      EXPECT_EQ(write_image_embeddings(im.image.file, im.image.tokens(), c.hidden, image_dt, 100 + k), "");
      s.content.push_back(im);
      s.content.push_back(text_seg());
    }
    s.assistant = {4};
    prompt_result pr = build_prompt(s, c);
    EXPECT_TRUE(pr.ok()) << pr.error;
    p = std::move(pr.p);
  }

  reference_output reference(const std::uint8_t* mask = nullptr) const { return reference_layers(mask, 0); }
  reference_output reference_layers(const std::uint8_t* mask, std::size_t layer_stride) const
  {
    host_weights hw;
    EXPECT_EQ(load_host_weights(ck, plan, c, hw), "");
    std::vector<std::vector<float>> imgs(p.images.size());
    for (std::size_t k = 0; k < p.images.size(); ++k)
      EXPECT_EQ(load_image_embeddings(p.images[k], c.hidden, imgs[k]), "");
    return reference_forward(hw, p, imgs, mask, layer_stride);
  }
};

// Largest |a - b| over the largest |b|, at least 1.
template <class A, class B>
double relative_error(const std::vector<A>& a, const std::vector<B>& b)
{
  EXPECT_EQ(a.size(), b.size());
  double err = 0, scale = 1;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    err = std::max(err, std::fabs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::fabs(double(b[i])));
  }
  return err / scale;
}

config tiny()
{
  config c;
  preset("tiny", c);
  return c;
}

// ------------------------------------------------------------ the loader

// Every tensor and image arrives through the kernel's preads exactly as a
// host read sees it: the same checksum of the raw bytes and the same fp32
// values. Small chunks, so tensors span chunks and chunks end mid-tensor.
TEST(VlmLoader, MatchesHostReadForEachDtype)
{
  for (dtype dt : {dtype::bf16, dtype::f16, dtype::f32}) {
    config c = tiny();
    c.tie_embeddings = false;
    setup s(c, dt, 2, {{1, 4, 4}, {1, 2, 6}}, 3, dt);
    gsys::runtime rt;
    device_model m;
    load_options lo;
    lo.chunk_bytes = 4096;
    lo.blocks = 3;
    const load_report r = load_model(rt, s.ck, s.plan, s.c, s.p, m, lo);
    std::uint64_t image_bytes = 0;
    for (const auto& im : s.p.images) image_bytes += std::uint64_t(im.tokens() * c.hidden) * dtype_bytes(dt);
    EXPECT_EQ(r.bytes, s.plan.bytes + image_bytes) << dtype_name(dt);
    ASSERT_EQ(r.checksums.size(), s.plan.tensors.size() + s.p.images.size());
    for (std::size_t i = 0; i < s.plan.tensors.size(); ++i) {
      const tensor_info& t = *s.plan.tensors[i];
      std::vector<unsigned char> raw;
      ASSERT_EQ(read_tensor_bytes(s.ck, t, raw), "");
      EXPECT_EQ(r.checksums[i], checksum_bytes(raw.data(), raw.size())) << t.name << " " << dtype_name(dt);
      std::vector<float> host;
      ASSERT_EQ(read_tensor_f32(s.ck, t, host), "");
      std::vector<float> dev(host.size());
      copy_to_host(dev.data(), m.t[i], dev.size() * sizeof(float));
      EXPECT_EQ(dev, host) << t.name << " " << dtype_name(dt);
    }
    std::vector<float> dev_images = m.images.download(), host_images;
    for (const auto& im : s.p.images) {
      std::vector<float> v;
      ASSERT_EQ(load_image_embeddings(im, c.hidden, v), "");
      host_images.insert(host_images.end(), v.begin(), v.end());
    }
    EXPECT_EQ(dev_images, host_images) << dtype_name(dt);
  }
}

// A shard cut short after its header was read: the kernel's pread comes up
// short and the error names the file and the tensor.
TEST(VlmLoader, ReportsShortReadWithTensorName)
{
  setup s(tiny(), dtype::bf16, 1, {}, 2);
  const tensor_info& last = *s.plan.tensors[final_norm_index(s.c)];
  ASSERT_EQ(::truncate(s.ck.files[0].c_str(), off_t(last.offset + 10)), 0);
  gsys::runtime rt;
  device_model m;
  try {
    load_model(rt, s.ck, s.plan, s.c, s.p, m);
    FAIL() << "the load should fail";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("model.safetensors: tensor model.norm.weight: short read"), std::string::npos) << msg;
  }
}

// ------------------------------------------------------------ matmul

TEST(VlmKernels, MatmulOddShapesWithBiasAndResidual)
{
  const int M = 70, N = 33, K = 45;
  std::vector<float> A(M * K), W(N * K), bias(N), C0(M * N);
  for (std::size_t i = 0; i < A.size(); ++i) A[i] = float(int(i * 37 % 101) - 50) / 50.0f;
  for (std::size_t i = 0; i < W.size(); ++i) W[i] = float(int(i * 53 % 89) - 44) / 44.0f;
  for (std::size_t i = 0; i < bias.size(); ++i) bias[i] = float(i) / 10.0f;
  for (std::size_t i = 0; i < C0.size(); ++i) C0[i] = float(i % 7);
  device_array<float> a(A.size()), w(W.size()), b(bias.size()), c(C0.size());
  a.upload(A), w.upload(W), b.upload(bias), c.upload(C0);
  for (int accumulate : {0, 1}) {
    c.upload(C0);
    gsys::launch(matmul_kernel, dim3(3), dim3(kMmThreads), (const float*)a.p, (const float*)w.p, (const float*)b.p,
                 c.p, M, N, K, accumulate);
    gsys::synchronize();
    const std::vector<float> got = c.download();
    std::vector<double> want(C0.size());
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        double s = bias[std::size_t(n)] + (accumulate ? C0[std::size_t(m * N + n)] : 0.0);
        for (int k = 0; k < K; ++k) s += double(A[std::size_t(m * K + k)]) * W[std::size_t(n * K + k)];
        want[std::size_t(m * N + n)] = s;
      }
    EXPECT_LT(relative_error(got, want), 1e-5) << "accumulate " << accumulate;
  }
}

// ------------------------------------------------------------ the prefill

struct prefill_case {
  const char* name;
  config c;
  dtype dt;
  unsigned shards;
  std::vector<image_shape> images;
  int text;
};

void expect_matches_reference(const prefill_case& pc)
{
  setup s(pc.c, pc.dt, pc.shards, pc.images, pc.text);
  gsys::runtime rt;
  device_model m;
  load_model(rt, s.ck, s.plan, s.c, s.p, m);
  device_prompt dp(s.p);
  prefill_options o;
  o.keep_hidden = true;
  const prefill_report r = run_prefill(m, dp, o);
  const reference_output ref = s.reference();
  std::printf("%s: %lld tokens, relative error: hidden %.2g, logits %.2g\n", pc.name, (long long)s.p.size(),
              relative_error(r.hidden, ref.hidden), relative_error(r.logits, ref.logits));
  EXPECT_LT(relative_error(r.hidden, ref.hidden), kTolerance) << pc.name << ", " << s.p.size() << " tokens";
  EXPECT_LT(relative_error(r.logits, ref.logits), kTolerance) << pc.name;
  EXPECT_EQ(top_k(r.logits, 1)[0].first, int(std::max_element(ref.logits.begin(), ref.logits.end()) - ref.logits.begin()))
      << pc.name;
}

TEST(VlmPrefill, TinyTwoImagesBf16)
{
  expect_matches_reference({"tiny, 2 images", tiny(), dtype::bf16, 1, {{1, 8, 8}, {1, 8, 8}}, 8});
}

TEST(VlmPrefill, TextOnlyMultiHeadUntiedFp32)
{
  config c = tiny();
  c.kv_heads = c.heads;  // plain multi-head attention
  c.tie_embeddings = false;
  expect_matches_reference({"text only, MHA, untied", c, dtype::f32, 2, {}, 40});
}

// head_dim 128 (Qwen2-VL-2B's), one KV head for two query heads, video-like
// images (t = 2) and grids that are not square.
TEST(VlmPrefill, HeadDim128ThreeImagesFp16)
{
  config c = tiny();
  c.hidden = 256, c.heads = 2, c.kv_heads = 1, c.ffn = 160, c.layers = 1;
  c.mrope_section[0] = 16, c.mrope_section[1] = 24, c.mrope_section[2] = 24;
  expect_matches_reference({"head_dim 128, 3 images", c, dtype::f16, 3, {{1, 4, 4}, {2, 4, 6}, {1, 8, 4}}, 5});
}

// Longer than several attention tiles, with the images across tile edges.
TEST(VlmPrefill, ManyTilesThreeImages)
{
  expect_matches_reference({"tiny, 3 x 64 image tokens", tiny(), dtype::bf16, 1, {{1, 16, 16}, {1, 16, 16}, {1, 16, 16}}, 7});
}

// The attention's block mask (what BlindSight plugs in): the kernel skips
// the masked tiles exactly as the reference masks them, and the mask matters.
TEST(VlmPrefill, BlockMaskMatchesMaskedReference)
{
  setup s(tiny(), dtype::f32, 1, {{1, 8, 16}, {1, 8, 8}}, 6);
  const std::int64_t nT = (s.p.size() + kAttnTile - 1) / kAttnTile;
  ASSERT_GE(nT, 3);
  std::vector<std::uint8_t> mask(std::size_t(s.c.heads * nT * nT));
  for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = (i * 7 + i / 5) % 3 != 0;  // about a third off
  gsys::runtime rt;
  device_model m;
  load_model(rt, s.ck, s.plan, s.c, s.p, m);
  device_prompt dp(s.p);
  device_array<unsigned char> dmask(mask.size());
  dmask.upload(std::vector<unsigned char>(mask.begin(), mask.end()));
  prefill_options o;
  o.keep_hidden = true;
  o.block_mask = dmask.p;
  const prefill_report masked = run_prefill(m, dp, o);
  const reference_output ref = s.reference(mask.data());
  EXPECT_LT(relative_error(masked.hidden, ref.hidden), kTolerance);
  EXPECT_LT(relative_error(masked.logits, ref.logits), kTolerance);
  const reference_output dense = s.reference();
  EXPECT_GT(relative_error(masked.hidden, dense.hidden), 100 * kTolerance) << "the mask changed nothing";
}

// BlindSight: the kernel walking per-head tile lists (per layer a different
// mix of categories) equals the reference under the same per-layer block
// masks, for each of the four masks in head 0 of every layer.
TEST(VlmPrefill, BlindSightTileListsMatchMaskedReference)
{
  setup s(tiny(), dtype::f32, 1, {{1, 16, 16}, {1, 12, 16}, {1, 16, 16}}, 7);
  const tile_lists t = build_tile_lists(token_roles::of(s.p, mask_params{}));
  gsys::runtime rt;
  device_model m;
  load_model(rt, s.ck, s.plan, s.c, s.p, m);
  device_prompt dp(s.p);
  device_array<int> ptr(t.ptr.size()), cols(std::max<std::size_t>(t.cols.size(), 1));
  ptr.upload(std::vector<int>(t.ptr.begin(), t.ptr.end()));
  cols.upload(std::vector<int>(t.cols.begin(), t.cols.end()));
  const reference_output dense = s.reference();
  for (int first = 0; first < kCategories; ++first) {
    std::vector<head_category> cats;
    for (int l = 0; l < s.c.layers; ++l)
      for (int h = 0; h < s.c.heads; ++h) cats.push_back(head_category((first + h + 3 * l * (h > 0)) % kCategories));
    std::vector<std::uint8_t> masks;
    for (int l = 0; l < s.c.layers; ++l) {
      const std::vector<head_category> layer(cats.begin() + l * s.c.heads, cats.begin() + (l + 1) * s.c.heads);
      const std::vector<std::uint8_t> mk = expand_block_mask(t, layer);
      masks.insert(masks.end(), mk.begin(), mk.end());
    }
    device_array<unsigned char> dcat(cats.size());
    std::vector<unsigned char> raw;
    for (head_category c : cats) raw.push_back((unsigned char)c);
    dcat.upload(raw);
    prefill_options o;
    o.keep_hidden = true;
    o.head_cat = dcat.p, o.tile_ptr = ptr.p, o.tile_cols = cols.p;
    const prefill_report r = run_prefill(m, dp, o);
    const reference_output ref = s.reference_layers(masks.data(), masks.size() / std::size_t(s.c.layers));
    EXPECT_LT(relative_error(r.hidden, ref.hidden), kTolerance) << category_name(head_category(first));
    EXPECT_LT(relative_error(r.logits, ref.logits), kTolerance) << category_name(head_category(first));
    EXPECT_GT(relative_error(r.hidden, dense.hidden), 100 * kTolerance) << "the masks changed nothing";
  }
}

// BlindSight calibration on the engine: attention_mass_kernel's masses per
// layer and head equal the CPU path's (attention_mass on the CPU forward
// pass) on a model whose attention is spread over every key class.
TEST(VlmPrefill, BlindSightMassKernelMatchesCpuPath)
{
  setup s(tiny(), dtype::f32, 1, {{1, 8, 8}, {1, 8, 12}, {1, 8, 8}}, 5);
  const token_roles roles = token_roles::of(s.p, mask_params{});
  gsys::runtime rt;
  device_model m;
  load_model(rt, s.ck, s.plan, s.c, s.p, m);
  device_prompt dp(s.p);
  device_calibration cal(roles, int(s.c.layers), int(s.c.heads));
  prefill_options o;
  cal.attach(o);
  run_prefill(m, dp, o);
  const std::vector<head_mass> dev = cal.masses();
  host_weights hw;
  ASSERT_EQ(load_host_weights(s.ck, s.plan, s.c, hw), "");
  std::vector<std::vector<float>> imgs(s.p.images.size());
  for (std::size_t k = 0; k < imgs.size(); ++k) ASSERT_EQ(load_image_embeddings(s.p.images[k], s.c.hidden, imgs[k]), "");
  std::vector<head_mass> cpu;
  cpu_forward_options co;
  co.roles = &roles, co.mass = &cpu;
  cpu_forward(hw, s.p, imgs, co);
  ASSERT_EQ(dev.size(), cpu.size());
  double worst = 0, smallest_class = 1;
  for (std::size_t i = 0; i < dev.size(); ++i) {
    EXPECT_EQ(dev[i].queries, cpu[i].queries);
    EXPECT_EQ(dev[i].queries, 16 + 24 + 16);  // the image tokens
    for (int k = 0; k < kKeyClasses; ++k) {
      worst = std::max(worst, std::fabs(dev[i].fraction(key_class(k)) - cpu[i].fraction(key_class(k))));
      smallest_class = std::min(smallest_class, cpu[i].fraction(key_class(k)));
    }
  }
  std::printf("mass fractions: largest difference %.2g; every class carries at least %.3f\n", worst, smallest_class);
  EXPECT_LT(worst, 1e-4);
  EXPECT_GT(smallest_class, 0.005) << "the prompt should exercise every class";
}

}  // namespace
