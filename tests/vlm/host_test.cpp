// gsys-vlm's host parts: the JSON reader, config.json, safetensors headers
// (single and sharded, and every error a user can meet), the weight plan on
// a Qwen2-VL-2B-shaped checkpoint (headers only, a sparse file), the prompt
// template with its tags and M-RoPE positions, and the number formats.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "support/scratch_dir.h"

#include "common/json.h"
#include "vlm/config.h"
#include "vlm/numeric.h"
#include "vlm/prompt.h"
#include "vlm/reference.h"
#include "vlm/safetensors.h"
#include "vlm/weights.h"

namespace {

using namespace vlm;

void write_file(const std::string& path, const std::string& data)
{
  std::ofstream f(path, std::ios::binary);
  f << data;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// ------------------------------------------------------------ JSON

TEST(Json, ParsesNestedValues)
{
  auto r = ex::json::parse(R"( {"a": [1, -2.5e3, "x\u00e9\n"], "b": {"c": true, "d": null}} )");
  ASSERT_TRUE(r.ok()) << r.error;
  const auto* a = r.val.find("a");
  ASSERT_TRUE(a && a->is_array() && a->items.size() == 3);
  std::int64_t i;
  double d;
  EXPECT_TRUE(a->items[0].get_int(i) && i == 1);
  EXPECT_FALSE(a->items[1].get_int(i));
  EXPECT_TRUE(a->items[1].get_double(d) && d == -2500.0);
  EXPECT_EQ(a->items[2].s, "x\xc3\xa9\n");
  bool b;
  EXPECT_TRUE(r.val.find("b")->find("c")->get_bool(b) && b);
  EXPECT_TRUE(r.val.find("b")->find("d")->is_null());
}

TEST(Json, LargeIntegersStayExact)
{
  auto r = ex::json::parse("[9007199254740993]");
  ASSERT_TRUE(r.ok());
  std::int64_t i;
  ASSERT_TRUE(r.val.items[0].get_int(i));
  EXPECT_EQ(i, 9007199254740993ll);
}

TEST(Json, RejectsMalformedInputWithPosition)
{
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,\"a\":2}", "01", "\"\\x\"", "tru", "[1] 2",
                          "\"\\ud800\"", "{\"a\":\"\x01\"}"}) {
    auto r = ex::json::parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(contains(r.error, "line 1, column")) << r.error;
  }
  std::string deep(1000, '[');
  EXPECT_TRUE(contains(ex::json::parse(deep).error, "nesting too deep"));
}

// ------------------------------------------------------------ config.json

const char* kQwen2Vl2bConfig = R"({
  "architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl",
  "hidden_size": 1536, "intermediate_size": 8960, "num_attention_heads": 12, "num_hidden_layers": 28,
  "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "vocab_size": 151936,
  "vision_start_token_id": 151652, "vision_end_token_id": 151653, "vision_token_id": 151654,
  "image_token_id": 151655, "video_token_id": 151656, "bos_token_id": 151643, "eos_token_id": 151645,
  "vision_config": {"depth": 32, "embed_dim": 1280, "hidden_size": 1536}
})";

TEST(Config, ReadsQwen2Vl2b)
{
  auto r = parse_config(kQwen2Vl2bConfig);
  ASSERT_TRUE(r.ok()) << r.error;
  const config& c = r.cfg;
  EXPECT_EQ(c.hidden, 1536);
  EXPECT_EQ(c.layers, 28);
  EXPECT_EQ(c.heads, 12);
  EXPECT_EQ(c.kv_heads, 2);
  EXPECT_EQ(c.head_dim(), 128);
  EXPECT_EQ(c.ffn, 8960);
  EXPECT_EQ(c.vocab, 151936);
  EXPECT_EQ(c.mrope_section[0], 16);
  EXPECT_EQ(c.mrope_section[2], 24);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_EQ(c.torch_dtype, dtype::bf16);
  EXPECT_DOUBLE_EQ(c.rms_eps, 1e-6);
  EXPECT_EQ(c.image_pad, 151655);
  EXPECT_EQ(c.im_end, 151645);
  EXPECT_EQ(c.im_start, 151644);
  config p;
  ASSERT_TRUE(preset("qwen2-vl-2b", p));
  EXPECT_EQ(to_json(p), to_json(c));
}

TEST(Config, RoundTripsThroughJson)
{
  for (const char* name : {"tiny", "small", "qwen2-vl-2b"}) {
    config c;
    ASSERT_TRUE(preset(name, c));
    auto r = parse_config(to_json(c));
    ASSERT_TRUE(r.ok()) << name << ": " << r.error;
    EXPECT_EQ(to_json(r.cfg), to_json(c)) << name;
  }
}

TEST(Config, ReportsBadFields)
{
  auto err = [](const std::string& text) { return parse_config(text, "m/config.json").error; };
  EXPECT_TRUE(contains(err("{\"hidden_size\": 64}"), "m/config.json: missing \"num_hidden_layers\""));
  EXPECT_TRUE(contains(err("{\"hidden_size\": \"64\"}"), "\"hidden_size\" is not an integer"));
  EXPECT_TRUE(contains(err("[1]"), "not a JSON object"));
  EXPECT_TRUE(contains(err("{"), "m/config.json: line 1"));
  const std::string base = R"("hidden_size": 64, "num_hidden_layers": 1, "intermediate_size": 8, "vocab_size": 300, )";
  EXPECT_TRUE(contains(err("{" + base + R"("num_attention_heads": 3})"), "multiple of num_attention_heads"));
  EXPECT_TRUE(contains(err("{" + base + R"("num_attention_heads": 4, "num_key_value_heads": 3})"), "multiple of num_key_value_heads"));
  EXPECT_TRUE(contains(err("{" + base + R"("num_attention_heads": 4, "rope_scaling": {"mrope_section": [1, 2, 3]}})"),
                       "must sum to head_dim/2 = 8"));
  EXPECT_TRUE(contains(err("{" + base + R"("num_attention_heads": 4, "image_token_id": 5000})"), "outside the vocabulary"));
  EXPECT_TRUE(contains(err("{" + base + R"("num_attention_heads": 4, "torch_dtype": "int8"})"), "torch_dtype"));
  EXPECT_TRUE(contains(err(R"({"hidden_size": 512, "num_hidden_layers": 1, "intermediate_size": 8, "vocab_size": 300,
                                "num_attention_heads": 2})"),
                       "head_dim 256 must be even and at most 128"));
}

// ------------------------------------------------------------ safetensors

std::string tiny_file(std::vector<tensor_info>& ts)
{
  std::string f = make_safetensors_header(ts);
  std::uint64_t bytes = 0;
  for (auto& t : ts) bytes += t.bytes;
  return f + std::string(bytes, '\x01');
}

std::vector<tensor_info> two_tensors()
{
  tensor_info a{"a", dtype::bf16, {3, 5}, 0, 30, 0};
  tensor_info b{"b.weight", dtype::f32, {4}, 0, 16, 0};
  return {a, b};
}

TEST(Safetensors, ParsesWhatItWrites)
{
  auto ts = two_tensors();
  const std::string f = tiny_file(ts);
  auto r = parse_safetensors(f, f.size(), "x.safetensors");
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.tensors.size(), 2u);
  EXPECT_EQ(r.tensors[0].name, "a");
  EXPECT_EQ(r.tensors[0].dt, dtype::bf16);
  EXPECT_EQ(r.tensors[0].shape, (std::vector<std::int64_t>{3, 5}));
  EXPECT_EQ(r.tensors[0].offset, ts[0].offset);
  EXPECT_EQ(r.tensors[1].offset, r.tensors[0].offset + 30);
  EXPECT_EQ(r.tensors[0].offset % 8, 0u);
  EXPECT_EQ(safetensors_prefix_bytes(f.substr(0, 8)), 8 + r.header_bytes);
}

TEST(Safetensors, ReportsTruncatedFiles)
{
  auto ts = two_tensors();
  const std::string f = tiny_file(ts);
  auto r = parse_safetensors(f.substr(0, f.size() - 1), f.size() - 1, "x.safetensors");
  EXPECT_TRUE(contains(r.error, "x.safetensors: tensor b.weight: truncated file")) << r.error;
  r = parse_safetensors(f.substr(0, 20), 20, "x.safetensors");
  EXPECT_TRUE(contains(r.error, "truncated header")) << r.error;
  r = parse_safetensors(f.substr(0, 5), 5, "x.safetensors");
  EXPECT_TRUE(contains(r.error, "truncated file")) << r.error;
}

TEST(Safetensors, ReportsCorruptHeaders)
{
  auto with_json = [](const std::string& j) {
    std::string f(8, '\0');
    for (int i = 0; i < 8; ++i) f[std::size_t(i)] = char((j.size() >> (8 * i)) & 0xff);
    return f + j + std::string(64, '\0');
  };
  auto err = [&](const std::string& j) {
    const std::string f = with_json(j);
    return parse_safetensors(f, f.size(), "y").error;
  };
  EXPECT_TRUE(contains(err("{\"t\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]"), "corrupt header"));
  EXPECT_TRUE(contains(err(R"({"t": {"dtype": "I8", "shape": [2], "data_offsets": [0, 2]}})"), "tensor t: dtype I8 is not supported"));
  EXPECT_TRUE(contains(err(R"({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})"),
                       "tensor t: data_offsets hold 8 bytes, shape [3] of F32 needs 12"));
  EXPECT_TRUE(contains(err(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})"), "invalid data_offsets"));
  EXPECT_TRUE(contains(err(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                               "u": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})"),
                       "overlap"));
  std::string huge(8, '\xff');
  EXPECT_TRUE(contains(parse_safetensors(huge, 1 << 20, "z").error, "corrupt header: header length"));
}

// What a fuzzer will do later, in small: mutated headers and JSON never
// crash the parsers (run under ASan to catch reads out of bounds); each
// either parses or says why, and what parses stays inside the file.
TEST(Safetensors, SurvivesMutatedHeaders)
{
  auto ts = two_tensors();
  const std::string good = tiny_file(ts);
  std::uint64_t state = 12345;
  auto rnd = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  int parsed = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::string f = good;
    const int edits = 1 + int(rnd() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = rnd() % f.size();
      switch (rnd() % 4) {
        case 0: f[at] = char(rnd()); break;
        case 1: f.erase(at, 1 + rnd() % 8); break;
        case 2: f.insert(at, 1, "{}[],:\"0123456789e-"[rnd() % 20]); break;
        default: f.resize(at); break;
      }
      if (f.empty()) f = "x";
    }
    const header_result r = parse_safetensors(f, f.size(), "m");
    if (r.ok()) {
      ++parsed;
      for (const auto& t : r.tensors) EXPECT_LE(t.offset + t.bytes, f.size());
    } else {
      EXPECT_EQ(r.error.rfind("m: ", 0), 0u) << r.error;
    }
    (void)ex::json::parse(f.substr(f.size() > 8 ? 8 : 0));
  }
  EXPECT_GT(parsed, 0);  // some mutations only touch the data
}

// ------------------------------------------------------------ checkpoints and the plan

TEST(Checkpoint, SyntheticSingleAndShardedAgree)
{
  gsys_test::scratch_dir d;
  config c;
  ASSERT_TRUE(preset("tiny", c));
  c.tie_embeddings = false;
  ASSERT_EQ(write_synthetic_checkpoint(d.path() + "/one", c, dtype::bf16, 1, 7), "");
  ASSERT_EQ(write_synthetic_checkpoint(d.path() + "/three", c, dtype::bf16, 3, 7), "");
  auto one = open_checkpoint(d.path() + "/one");
  auto three = open_checkpoint(d.path() + "/three");
  ASSERT_TRUE(one.ok()) << one.error;
  ASSERT_TRUE(three.ok()) << three.error;
  EXPECT_EQ(one.ckpt.files.size(), 1u);
  EXPECT_EQ(three.ckpt.files.size(), 3u);
  auto p1 = plan_weights(one.ckpt, c), p3 = plan_weights(three.ckpt, c);
  ASSERT_TRUE(p1.ok()) << p1.error;
  ASSERT_TRUE(p3.ok()) << p3.error;
  EXPECT_EQ(p1.bytes, p3.bytes);
  EXPECT_EQ(p1.params * 2, p1.bytes);
  const std::string name = "model.layers.1.mlp.down_proj.weight";
  std::vector<float> a, b;
  ASSERT_EQ(read_tensor_f32(one.ckpt, *one.ckpt.find(name), a), "");
  ASSERT_EQ(read_tensor_f32(three.ckpt, *three.ckpt.find(name), b), "");
  EXPECT_EQ(a, b);
  // The config.json it wrote reads back as the same model (dtype aside).
  std::ifstream in(d.path() + "/one/config.json");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto back = parse_config(text);
  ASSERT_TRUE(back.ok()) << back.error;
  EXPECT_EQ(back.cfg.ffn, c.ffn);
  EXPECT_FALSE(back.cfg.tie_embeddings);
}

// --shards=N: exactly N files, each named model-0000i-of-0000N as on the Hub,
// even when one tensor (the embeddings) outweighs several shares of the
// bytes; more shards than tensors is an error, nothing written.
TEST(Checkpoint, ShardsAreExactlyTheCountAsked)
{
  gsys_test::scratch_dir d;
  const config c = [] {
    config t;
    preset("tiny", t);
    return t;
  }();
  ASSERT_EQ(expected_tensors(c).size(), 26u);
  for (unsigned n : {2u, 20u, 26u}) {
    const std::string dir = d.path() + "/s" + std::to_string(n);
    ASSERT_EQ(write_synthetic_checkpoint(dir, c, dtype::bf16, n, 1), "") << n;
    auto ck = open_checkpoint(dir);
    ASSERT_TRUE(ck.ok()) << ck.error;
    ASSERT_EQ(ck.ckpt.files.size(), n);
    for (unsigned i = 0; i < n; ++i) {
      char want[64];
      std::snprintf(want, sizeof want, "/model-%05u-of-%05u.safetensors", i + 1, n);
      EXPECT_EQ(ck.ckpt.files[i], dir + want);
    }
    EXPECT_TRUE(plan_weights(ck.ckpt, c).ok()) << n;
  }
  const std::string e = write_synthetic_checkpoint(d.path() + "/s27", c, dtype::bf16, 27, 1);
  EXPECT_TRUE(contains(e, "27 shards: the model has 26 tensors, at most one shard each")) << e;
  EXPECT_NE(::access((d.path() + "/s27").c_str(), F_OK), 0);
}

TEST(Checkpoint, PlanNamesMissingAndMisshapenTensors)
{
  gsys_test::scratch_dir d;
  config c;
  ASSERT_TRUE(preset("tiny", c));
  ASSERT_EQ(write_synthetic_checkpoint(d.path(), c, dtype::f32, 1, 1), "");
  auto ck = open_checkpoint(d.path());
  ASSERT_TRUE(ck.ok());
  config wider = c;
  wider.ffn = c.ffn + 32;
  auto p = plan_weights(ck.ckpt, wider);
  EXPECT_TRUE(contains(p.error, "model.safetensors: tensor model.layers.0.mlp.gate_proj.weight: expected shape [128, 64], found [96, 64]"))
      << p.error;
  config untied = c;
  untied.tie_embeddings = false;
  p = plan_weights(ck.ckpt, untied);
  EXPECT_TRUE(contains(p.error, "missing tensor lm_head.weight (expected shape [320, 64])")) << p.error;
  // A truncated shard is reported when the headers are read.
  ASSERT_EQ(::truncate((d.path() + "/model.safetensors").c_str(), off_t(ck.ckpt.file_sizes[0] - 10)), 0);
  auto t = open_checkpoint(d.path());
  EXPECT_TRUE(contains(t.error, "model.safetensors: tensor model.norm.weight: truncated file")) << t.error;
  EXPECT_TRUE(contains(t.error, "truncated file")) << t.error;
}

TEST(Checkpoint, ShardIndexErrors)
{
  EXPECT_TRUE(contains(parse_safetensors_index("{}", "i.json").error, "no \"weight_map\""));
  EXPECT_TRUE(contains(parse_safetensors_index(R"({"weight_map": {"a": "../x"}})", "i.json").error, "same directory"));
  auto r = parse_safetensors_index(R"({"weight_map": {"a": "s1", "b": "s2", "c": "s1"}})", "i.json");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.files, (std::vector<std::string>{"s1", "s2"}));
  gsys_test::scratch_dir d;
  write_file(d.path() + "/model.safetensors.index.json", R"({"weight_map": {"a": "missing.safetensors"}})");
  EXPECT_TRUE(contains(open_checkpoint(d.path()).error, "missing.safetensors: No such file")) << open_checkpoint(d.path()).error;
}

// The loader's plan for a real Qwen2-VL-2B checkpoint, without 4 GB of data:
// the header is written for real and the file extended sparsely.
TEST(Checkpoint, Qwen2Vl2bShapesPlanLazily)
{
  gsys_test::scratch_dir d;
  auto cr = parse_config(kQwen2Vl2bConfig);
  ASSERT_TRUE(cr.ok());
  const config& c = cr.cfg;
  std::vector<tensor_info> infos;
  // Two shards as on the Hub, plus a vision tower tensor the decoder ignores.
  const auto specs = expected_tensors(c);
  std::vector<tensor_info> shard[2];
  for (std::size_t i = 0; i < specs.size(); ++i) {
    tensor_info t;
    t.name = specs[i].name;
    t.dt = dtype::bf16;
    t.shape = specs[i].shape;
    t.bytes = std::uint64_t(t.numel()) * 2;
    shard[i < specs.size() / 2 ? 0 : 1].push_back(t);
  }
  shard[1].push_back({"visual.merger.mlp.0.weight", dtype::bf16, {5120, 5120}, 0, 5120ull * 5120 * 2, 0});
  std::string index = R"({"metadata": {}, "weight_map": {)";
  bool first = true;
  for (int s = 0; s < 2; ++s) {
    const std::string name = "model-0000" + std::to_string(s + 1) + "-of-00002.safetensors";
    const std::string header = make_safetensors_header(shard[s]);
    std::uint64_t end = header.size();
    for (const auto& t : shard[s]) {
      end = std::max(end, t.offset + t.bytes);
      index += std::string(first ? "" : ",") + ex::json::quote(t.name) + ":" + ex::json::quote(name);
      first = false;
    }
    write_file(d.path() + "/" + name, header);
    ASSERT_EQ(::truncate((d.path() + "/" + name).c_str(), off_t(end)), 0);
  }
  write_file(d.path() + "/model.safetensors.index.json", index + "}}");
  auto ck = open_checkpoint(d.path());
  ASSERT_TRUE(ck.ok()) << ck.error;
  EXPECT_EQ(ck.ckpt.tensors.size(), specs.size() + 1);
  auto plan = plan_weights(ck.ckpt, c);
  ASSERT_TRUE(plan.ok()) << plan.error;
  // Qwen2-VL-2B's language model: 1.54 B parameters with tied embeddings.
  EXPECT_EQ(plan.params, 1543714304ull);
  EXPECT_EQ(plan.bytes, plan.params * 2);
  const tensor_info* q = plan.tensors[layer_tensor_index(27, kQ)];
  EXPECT_EQ(q->name, "model.layers.27.self_attn.q_proj.weight");
  EXPECT_EQ(q->shape, (std::vector<std::int64_t>{1536, 1536}));
  EXPECT_EQ(plan.tensors[layer_tensor_index(3, kK)]->shape, (std::vector<std::int64_t>{256, 1536}));
  EXPECT_EQ(plan.tensors[layer_tensor_index(3, kDown)]->shape, (std::vector<std::int64_t>{1536, 8960}));
  EXPECT_EQ(plan.tensors[lm_head_index(c)]->name, "model.embed_tokens.weight");
  // Every planned range lies inside its file and none overlaps another.
  for (const tensor_info* t : plan.tensors) EXPECT_LE(t->offset + t->bytes, ck.ckpt.file_sizes[t->file]) << t->name;
}

// ------------------------------------------------------------ prompts

config tiny_config()
{
  config c;
  preset("tiny", c);
  return c;
}

TEST(Prompt, TemplateTagsAndMropePositions)
{
  const config c = tiny_config();
  prompt_spec s;
  s.system = {1, 2};
  prompt_segment t1;
  t1.text = {10, 11};
  prompt_segment im;
  im.is_image = true;
  im.image.file = "x";
  im.image.t = 2, im.image.h = 4, im.image.w = 6;  // merged grid 2 x 2 x 3: 12 tokens
  prompt_segment t2;
  t2.text = {12};
  s.content = {t1, im, t2};
  s.assistant = {13};
  auto r = build_prompt(s, c);
  ASSERT_TRUE(r.ok()) << r.error;
  const prompt& p = r.p;
  // system: im_start 1 2 im_end | im_start 10 11 vs [12 pads] ve 12 im_end im_start 13
  ASSERT_EQ(p.size(), 4 + 3 + 1 + 12 + 1 + 1 + 2 + 1);
  EXPECT_EQ(p.tokens[0], c.im_start);
  EXPECT_EQ(p.tokens[3], c.im_end);
  EXPECT_EQ(p.tags[0].kind, tag_kind::system);
  EXPECT_EQ(p.tags[4].kind, tag_kind::text);
  EXPECT_EQ(p.tokens[7], c.vision_start);
  EXPECT_EQ(tag_name(p.tags[7]), "delimiter 0");
  EXPECT_EQ(p.image_first[0], 8);
  for (int i = 8; i < 20; ++i) {
    EXPECT_EQ(p.tokens[std::size_t(i)], c.image_pad);
    EXPECT_EQ(tag_name(p.tags[std::size_t(i)]), "image 0");
  }
  EXPECT_EQ(p.tokens[20], c.vision_end);
  const std::int64_t S = p.size();
  auto pos = [&](int i) {
    return std::vector<int>{p.pos[std::size_t(i)], p.pos[std::size_t(S + i)], p.pos[std::size_t(2 * S + i)]};
  };
  EXPECT_EQ(pos(0), (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(pos(7), (std::vector<int>{7, 7, 7}));  // vision_start is text
  EXPECT_EQ(pos(8), (std::vector<int>{8, 8, 8}));  // t=0, row 0, col 0
  EXPECT_EQ(pos(10), (std::vector<int>{8, 8, 10}));
  EXPECT_EQ(pos(11), (std::vector<int>{8, 9, 8}));
  EXPECT_EQ(pos(19), (std::vector<int>{9, 9, 10}));  // t=1, row 1, col 2
  // Text resumes one past the image's largest position: 8 + max(2, 2, 3) = 11.
  EXPECT_EQ(pos(20), (std::vector<int>{11, 11, 11}));
  EXPECT_EQ(pos(21), (std::vector<int>{12, 12, 12}));
}

TEST(Prompt, SpecRoundTripsAndErrors)
{
  const config c = tiny_config();
  auto r = parse_prompt_spec(R"({"system": [1], "content": [{"text": [2, 3]},
                                  {"image": "a.bin", "grid": [1, 32, 32], "dtype": "BF16"}]})",
                             "p.json", "/data");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.spec.content[1].image.file, "/data/a.bin");
  EXPECT_EQ(r.spec.content[1].image.tokens(), 256);  // a 448 x 448 image
  EXPECT_EQ(r.spec.content[1].image.dt, dtype::bf16);
  auto again = parse_prompt_spec(to_json(r.spec), "q.json", "");
  ASSERT_TRUE(again.ok()) << again.error;
  EXPECT_EQ(to_json(again.spec), to_json(r.spec));

  EXPECT_TRUE(contains(parse_prompt_spec("{}", "p.json", "").error, "no \"content\""));
  EXPECT_TRUE(contains(parse_prompt_spec(R"({"content": [{"image": "a", "grid": [1, 2]}]})", "p.json", "").error,
                       "content[0]: \"grid\" must be [t, h, w]"));
  EXPECT_TRUE(contains(parse_prompt_spec(R"({"content": [{"video": "a"}]})", "p.json", "").error, "neither"));
  prompt_spec bad;
  prompt_segment t;
  t.text = {c.vocab};
  bad.content = {t};
  EXPECT_TRUE(contains(build_prompt(bad, c).error, "outside the vocabulary"));
  prompt_segment odd;
  odd.is_image = true;
  odd.image.h = 3, odd.image.w = 4;
  bad.content = {odd};
  EXPECT_TRUE(contains(build_prompt(bad, c).error, "even h and w"));
}

// A grid too large is named as such, with the limit; a malformed one as malformed.
TEST(Prompt, GridTooLargeSaysSo)
{
  const config c = tiny_config();
  auto err = [&](std::int64_t t, std::int64_t h, std::int64_t w) {
    prompt_spec s;
    prompt_segment im;
    im.is_image = true;
    im.image.file = "x.bin";
    im.image.t = t, im.image.h = h, im.image.w = w;
    s.content = {im};
    return build_prompt(s, c).error;
  };
  std::string e = err(1, 100000, 100000);
  EXPECT_TRUE(contains(e, "grid [1, 100000, 100000] is too large: t, h and w are at most 4096")) << e;
  EXPECT_FALSE(contains(e, "even")) << e;
  e = err(64, 4096, 4096);
  EXPECT_TRUE(contains(e, "grid [64, 4096, 4096] makes 268435456 tokens: a prompt has at most 16777216")) << e;
  e = err(1, 100001, 8);
  EXPECT_TRUE(contains(e, "must be positive with even h and w")) << e;
  EXPECT_TRUE(contains(err(0, 8, 8), "must be positive")) << err(0, 8, 8);
  EXPECT_EQ(err(1, 4096, 8), "");
}

// A directory where a file belongs: "is a directory", not a parse error or
// lseek's idea of its size.
TEST(Files, DirectoriesAreNamed)
{
  gsys_test::scratch_dir d;
  const std::string sub = d.path() + "/sub";
  ASSERT_EQ(::mkdir(sub.c_str(), 0777), 0);
  EXPECT_EQ(load_prompt_spec(sub).error, sub + ": is a directory");
  std::string text;
  EXPECT_EQ(read_file(sub, text), sub + ": is a directory");
  EXPECT_EQ(read_file(d.path() + "/none", text), d.path() + "/none: No such file or directory");
  write_file(d.path() + "/f", "abc");
  EXPECT_EQ(read_file(d.path() + "/f", text), "");
  EXPECT_EQ(text, "abc");
  image_input im;
  im.file = sub, im.h = 8, im.w = 8;
  std::vector<float> out;
  EXPECT_EQ(load_image_embeddings(im, 64, out), sub + ": is a directory");
}

// ------------------------------------------------------------ numbers

TEST(Numeric, HalfFormatsRoundTrip)
{
  for (float f : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.1f, 3.14159f}) {
    EXPECT_EQ(f16_to_float(float_to_f16(f)), f == 0.1f ? 0.0999755859375f : (f == 3.14159f ? 3.140625f : f)) << f;
    const float b = bf16_to_float(float_to_bf16(f));
    EXPECT_NEAR(b, f, std::fabs(f) / 128) << f;
  }
  EXPECT_TRUE(std::isinf(f16_to_float(float_to_f16(1e6f))));
  EXPECT_TRUE(std::isnan(f16_to_float(float_to_f16(NAN))));
  for (std::uint32_t h = 0; h < 0x7c00; h += 7) EXPECT_EQ(float_to_f16(f16_to_float(std::uint16_t(h))), h);
  EXPECT_EQ(float_to_bf16(1.00390625f), 0x3f80);  // ties to even
}

TEST(Numeric, ChecksumDependsOnPositionNotOrder)
{
  unsigned char a[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const std::uint64_t whole = checksum_bytes(a, 12);
  EXPECT_EQ(whole, checksum_bytes(a + 8, 4, 8) + checksum_bytes(a, 8));
  std::swap(a[0], a[4]);
  EXPECT_NE(whole, checksum_bytes(a, 12));
}

}  // namespace
