// gsys-vlm: a Qwen2-VL-style multi-image prefill whose GPU kernels read
// their own weights and image embeddings through genesys (engine.cuh).
//
//   gsys-vlm make-weights --preset=small --out=DIR     synthetic checkpoint
//   gsys-vlm make-prompt --model=DIR --images=3 --out=P.json
//   gsys-vlm inspect --model=DIR                       headers only: shapes, offsets, bytes
//   gsys-vlm prefill --model=DIR --prompt=P.json       top-k next tokens, phase times, GFLOP/s
//   gsys-vlm calibrate --model=DIR --prompt=P.json ... --out=heads.json   BlindSight head categories
//   gsys-vlm prefill ... --heads=heads.json             block-sparse attention per head
//   gsys-vlm bench-attention --tokens=36864,65536      the attention kernel, dense vs BlindSight
//   gsys-vlm serve --model=DIR --port=N                 prefill requests over UDP (serve_cli.cuh)
//   gsys-vlm client --port=N --prompt=P.json            send them, print replies and latencies
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <array>
#include <atomic>
#include <optional>
#include <random>
#include <thread>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <genesys.cuh>
#include <genesys/runtime.h>

#include "common/cli.h"
#include "common/percentile.h"
#include "common/device_info.cuh"
#include "vlm/blindsight.h"
#include "vlm/cpu_forward.h"
#include "vlm/engine.cuh"
#include "vlm/blindsight_engine.cuh"
#include "vlm/request.h"
#include "vlm/serve_kernels.cuh"

namespace {

const char* const kProg = "gsys-vlm";

[[noreturn]] void bad_usage(const char* cmd, const char* what, const char* arg = nullptr)
{
  const std::string p = std::string(kProg) + " " + cmd;
  ex::usage_error(p.c_str(), 2, what, arg);
}

// An option getopt refused (and named).
[[noreturn]] void try_help(const char* cmd) { ex::try_help((std::string(kProg) + " " + cmd).c_str(), 2); }

[[noreturn]] void fail(const std::string& what)
{
  std::fprintf(stderr, "%s: %s\n", kProg, what.c_str());
  std::exit(1);
}

std::uint64_t count_arg(const char* cmd, const char* name, const char* s, std::uint64_t lo, std::uint64_t hi)
{
  std::uint64_t v;
  if (!ex::parse_count(s, lo, hi, v)) bad_usage(cmd, (std::string("invalid ") + name).c_str(), s);
  return v;
}


vlm::config load_config(const std::string& dir)
{
  // Say what is wrong with --model itself, not "DIR/config.json: cannot open".
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) fail(dir + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) fail(dir + ": not a directory");
  std::string text;
  const std::string path = dir + "/config.json";
  if (std::string e = vlm::read_file(path, text); !e.empty()) fail(e);
  vlm::config_result r = vlm::parse_config(text, path);
  if (!r.ok()) fail(r.error);
  return r.cfg;
}

std::string human_bytes(double b)
{
  char buf[32];
  if (b >= 1e9) std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  else if (b >= 1e6) std::snprintf(buf, sizeof buf, "%.2f MB", b / 1e6);
  else std::snprintf(buf, sizeof buf, "%.0f kB", b / 1e3);
  return buf;
}

// Refuses to write `bytes` into directory `dir` (or, while it does not
// exist, the directory it will be made in) when its file system has less
// free: an absurd shape would otherwise fill the disk and only then fail.
void check_free_space(const std::string& dir, std::uint64_t bytes, const std::string& what)
{
  struct statvfs fs {};
  std::string at = dir;
  if (::statvfs(at.c_str(), &fs) != 0) {
    const std::size_t slash = dir.find_last_of('/');
    at = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
    if (::statvfs(at.c_str(), &fs) != 0) return;  // the write itself will say what is wrong
  }
  const std::uint64_t free_bytes = std::uint64_t(fs.f_bavail) * std::uint64_t(fs.f_frsize);
  if (bytes > free_bytes)
    fail(what + ": " + human_bytes(double(bytes)) + " (" + std::to_string(bytes) + " bytes) to write; " + at + " has " +
         human_bytes(double(free_bytes)) + " free");
}

#include "vlm/blindsight_cli.cuh"
#include "vlm/serve_cli.cuh"

// ------------------------------------------------------------ make-weights

void make_weights_usage(FILE* to)
{
  std::fprintf(to,
               "usage: %s make-weights --out=DIR [OPTION]...\n"
               "Writes a deterministic synthetic checkpoint: DIR/config.json (qwen2_vl) and the decoder's\n"
               "tensors with Hugging Face names in DIR/model.safetensors (or shards plus\n"
               "model.safetensors.index.json).\n\n"
               "  --out=DIR          where to write (created if missing)\n"
               "  --preset=NAME      tiny, small (default: hidden 256, 4 layers, 4/2 heads) or qwen2-vl-2b\n"
               "  --config=FILE      take the shape from a config.json instead of a preset\n"
               "  --hidden=N --layers=N --heads=N --kv-heads=N --ffn=N --vocab=N\n"
               "                     override one dimension (mrope_section is rescaled to head_dim/2)\n"
               "  --untied           a separate lm_head.weight (default: tied to the embeddings)\n"
               "  --dtype=T          bf16 (default), fp16 or fp32\n"
               "  --shards=N         write exactly N safetensors files, model-0000i-of-0000N (default 1;\n"
               "                     at most the number of tensors: 26 for tiny)\n"
               "  --seed=N           value seed (default 1)\n"
               "  --plant            BlindSight test model: heads with known behaviour (intra, sink,\n"
               "                     intra+sink, dense cross-image; a fixed pattern over layer and head),\n"
               "                     written to DIR/planted.json; use with make-prompt --plant\n"
               "  --help             this text\n",
               kProg);
}

int cmd_make_weights(int argc, char** argv)
{
  const char* cmd = "make-weights";
  enum { kOut = 256, kPreset, kConfig, kHidden, kLayers, kHeads, kKvHeads, kFfn, kVocab, kUntied, kDtype, kShards, kSeed, kPlant, kHelp };
  static const option opts[] = {{"plant", no_argument, nullptr, kPlant},
                                {"out", required_argument, nullptr, kOut},       {"preset", required_argument, nullptr, kPreset},
                                {"config", required_argument, nullptr, kConfig}, {"hidden", required_argument, nullptr, kHidden},
                                {"layers", required_argument, nullptr, kLayers}, {"heads", required_argument, nullptr, kHeads},
                                {"kv-heads", required_argument, nullptr, kKvHeads}, {"ffn", required_argument, nullptr, kFfn},
                                {"vocab", required_argument, nullptr, kVocab},   {"untied", no_argument, nullptr, kUntied},
                                {"dtype", required_argument, nullptr, kDtype},   {"shards", required_argument, nullptr, kShards},
                                {"seed", required_argument, nullptr, kSeed},     {"help", no_argument, nullptr, kHelp},
                                {nullptr, 0, nullptr, 0}};
  std::string out, preset = "small", config_file;
  std::int64_t over[6] = {0, 0, 0, 0, 0, 0};
  bool untied = false, plant = false;
  vlm::dtype dt = vlm::dtype::bf16;
  std::uint64_t shards = 1, seed = 1;
  for (int ch; (ch = getopt_long(argc, argv, "", opts, nullptr)) != -1;) {
    switch (ch) {
      case kOut: out = optarg; break;
      case kPreset: preset = optarg; break;
      case kConfig: config_file = optarg; break;
      case kHidden: case kLayers: case kHeads: case kKvHeads: case kFfn: case kVocab:
        over[ch - kHidden] = std::int64_t(count_arg(cmd, "dimension", optarg, 1, 1ull << 24));
        break;
      case kUntied: untied = true; break;
      case kPlant: plant = true; break;
      case kDtype:
        if (!vlm::parse_dtype(optarg, dt)) bad_usage(cmd, "invalid dtype", optarg);
        break;
      case kShards: shards = count_arg(cmd, "shard count", optarg, 1, 1000); break;
      case kSeed: seed = count_arg(cmd, "seed", optarg, 0, ~0ull); break;
      case kHelp: make_weights_usage(stdout); return 0;
      default: try_help(cmd);
    }
  }
  if (out.empty()) bad_usage(cmd, "--out=DIR is required");
  vlm::config c;
  if (!config_file.empty()) {
    std::string text;
    if (std::string e = vlm::read_file(config_file, text); !e.empty()) fail(e);
    auto r = vlm::parse_config(text, config_file);
    if (!r.ok()) fail(r.error);
    c = r.cfg;
  } else if (!vlm::preset(preset, c)) {
    bad_usage(cmd, "unknown preset", preset.c_str());
  }
  std::int64_t* fields[6] = {&c.hidden, &c.layers, &c.heads, &c.kv_heads, &c.ffn, &c.vocab};
  for (int i = 0; i < 6; ++i)
    if (over[i]) *fields[i] = over[i];
  if (untied) c.tie_embeddings = false;
  if (over[0] || over[2]) {  // rescale the rotary split to the new head_dim (Qwen2-VL's 1/4, 3/8, 3/8)
    const std::int64_t half = c.heads ? c.hidden / c.heads / 2 : 0;
    c.mrope_section[0] = half / 4;
    c.mrope_section[1] = (half - c.mrope_section[0]) / 2;
    c.mrope_section[2] = half - c.mrope_section[0] - c.mrope_section[1];
  }
  if (over[5] && c.vocab < 151936) {
    c.vision_start = c.vocab - 6, c.vision_end = c.vocab - 5, c.image_pad = c.vocab - 3;
    c.im_start = c.vocab - 8, c.im_end = c.vocab - 7;
  }
  if (std::string e = vlm::validate(c); !e.empty()) fail("invalid model shape: " + e);
  if (plant)
    if (std::string e = vlm::plant_check(c); !e.empty()) fail(e);
  if (const std::size_t n = vlm::expected_tensors(c).size(); shards > n) {
    const std::string what = "invalid shard count (the model has " + std::to_string(n) + " tensors: at most " +
                             std::to_string(n) + " shards)";
    bad_usage(cmd, what.c_str(), std::to_string(shards).c_str());
  }
  std::uint64_t params = 0;
  for (const auto& t : vlm::expected_tensors(c)) {
    std::uint64_t n = 1;
    for (auto d : t.shape) n *= std::uint64_t(d);
    params += n;
  }
  check_free_space(out, params * vlm::dtype_bytes(dt), "make-weights: the checkpoint");
  const auto t0 = std::chrono::steady_clock::now();
  auto last = t0;
  const std::string err = vlm::write_synthetic_checkpoint(out, c, dt, unsigned(shards), seed, [&](std::uint64_t done, std::uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last > std::chrono::seconds(2)) {
      last = now;
      std::fprintf(stderr, "%s: make-weights: %s of %s (%.0f%%)\n", kProg, human_bytes(double(done)).c_str(),
                   human_bytes(double(total)).c_str(), 100.0 * double(done) / double(total));
    }
  }, plant ? vlm::plant_adjuster(c) : nullptr);
  if (!err.empty()) fail(err);
  if (plant) {
    vlm::head_table t;
    t.layers = int(c.layers), t.heads = int(c.heads);
    for (int l = 0; l < c.layers; ++l)
      for (int h = 0; h < c.heads; ++h) t.cats.push_back(vlm::planted_category(l, h));
    std::ofstream f(out + "/planted.json");
    f << vlm::to_json(t);
    if (!f) fail(out + "/planted.json: cannot write");
    std::printf("%s/planted.json: %s\n", out.c_str(), category_counts(t.cats, 0, t.cats.size()).c_str());
  } else {
    ::unlink((out + "/planted.json").c_str());
  }
  std::printf("%s: hidden %lld, %lld layers, %lld/%lld heads, head_dim %lld, ffn %lld, vocab %lld, %s: %.1f M params, %s in %.1f s\n",
              out.c_str(), (long long)c.hidden, (long long)c.layers, (long long)c.heads, (long long)c.kv_heads,
              (long long)c.head_dim(), (long long)c.ffn, (long long)c.vocab, vlm::dtype_name(dt), double(params) / 1e6,
              human_bytes(double(params * vlm::dtype_bytes(dt))).c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}

// ------------------------------------------------------------ make-prompt

void make_prompt_usage(FILE* to)
{
  std::fprintf(to,
               "usage: %s make-prompt --model=DIR --out=FILE [OPTION]...\n"
               "Writes a prompt spec (JSON) with K images and random token ids, and each image's\n"
               "merged-patch embeddings (t*h*w/4 tokens x hidden, random in [-1, 1)) beside it as\n"
               "FILE.img<k>.bin. Layout: system ids; text, image 0, text, image 1, ..., text.\n\n"
               "  --model=DIR        the checkpoint whose config.json gives hidden and the vocabulary\n"
               "  --out=FILE         the spec to write\n"
               "  --images=K         images (default 1)\n"
               "  --grid=T,H,W       an image's grid in patches before the 2x2 merge (default 1,16,16:\n"
               "                     64 tokens; 1,32,32 is a 448x448 image: 256 tokens); repeat for\n"
               "                     per-image grids, the last one is used for the rest; T at most 64,\n"
               "                     H and W even and at most 1024\n"
               "  --text=N           token ids per text segment (default 8)\n"
               "  --system=N         system token ids (default 4; 0: no system turn)\n"
               "  --dtype=T          embeddings' dtype: fp32 (default), fp16, bf16\n"
               "  --seed=N           (default 1)\n"
               "  --plant            embeddings for a make-weights --plant model: each image carries an\n"
               "                     identity feature (up to 8 distinct images)\n"
               "  --help             this text\n",
               kProg);
}

int cmd_make_prompt(int argc, char** argv)
{
  const char* cmd = "make-prompt";
  enum { kModel = 256, kOut, kImages, kGrid, kText, kSystem, kDtype, kSeed, kPlant, kHelp };
  static const option opts[] = {{"plant", no_argument, nullptr, kPlant},{"model", required_argument, nullptr, kModel}, {"out", required_argument, nullptr, kOut},
                                {"images", required_argument, nullptr, kImages}, {"grid", required_argument, nullptr, kGrid},
                                {"text", required_argument, nullptr, kText},   {"system", required_argument, nullptr, kSystem},
                                {"dtype", required_argument, nullptr, kDtype}, {"seed", required_argument, nullptr, kSeed},
                                {"help", no_argument, nullptr, kHelp},         {nullptr, 0, nullptr, 0}};
  std::string model, out;
  std::uint64_t images = 1, text = 8, system = 4, seed = 1;
  std::vector<std::array<std::int64_t, 3>> grids;
  vlm::dtype dt = vlm::dtype::f32;
  bool plant = false;
  for (int ch; (ch = getopt_long(argc, argv, "", opts, nullptr)) != -1;) {
    switch (ch) {
      case kModel: model = optarg; break;
      case kOut: out = optarg; break;
      case kPlant: plant = true; break;
      case kImages: images = count_arg(cmd, "image count", optarg, 0, 1000); break;
      case kGrid: {
        long long t, h, w;
        char extra;
        if (std::sscanf(optarg, "%lld,%lld,%lld%c", &t, &h, &w, &extra) != 3 || t <= 0 || h <= 0 || w <= 0 || h % 2 ||
            w % 2)
          bad_usage(cmd, "invalid grid (T,H,W with even H and W)", optarg);
        if (t > 64 || h > 1024 || w > 1024) bad_usage(cmd, "grid too large (T at most 64, H and W at most 1024)", optarg);
        grids.push_back({t, h, w});
        break;
      }
      case kText: text = count_arg(cmd, "text length", optarg, 0, 1u << 20); break;
      case kSystem: system = count_arg(cmd, "system length", optarg, 0, 1u << 20); break;
      case kDtype:
        if (!vlm::parse_dtype(optarg, dt)) bad_usage(cmd, "invalid dtype", optarg);
        break;
      case kSeed: seed = count_arg(cmd, "seed", optarg, 0, ~0ull); break;
      case kHelp: make_prompt_usage(stdout); return 0;
      default: try_help(cmd);
    }
  }
  if (model.empty() || out.empty()) bad_usage(cmd, "--model=DIR and --out=FILE are required");
  if (grids.empty()) grids.push_back({1, 16, 16});
  if (plant && dt != vlm::dtype::f32) bad_usage(cmd, "--plant writes fp32 embeddings");
  const vlm::config c = load_config(model);
  // The prompt's size before anything is made or written (the template:
  // [<|im_start|> system <|im_end|>] <|im_start|> content <|im_end|> <|im_start|>):
  // 1000 images of 1,1024,1024 would write 1000 embedding files and only then fail.
  std::uint64_t total_tokens = (system ? system + 2 : 0) + 3 + (images + 1) * text, image_bytes = 0;
  for (std::uint64_t k = 0; k < images; ++k) {
    const auto& g = grids[std::min<std::size_t>(k, grids.size() - 1)];
    const std::uint64_t n = std::uint64_t(g[0] * (g[1] / 2) * (g[2] / 2));
    total_tokens += n + 2;
    image_bytes += n * std::uint64_t(c.hidden) * vlm::dtype_bytes(dt);
  }
  if (total_tokens > vlm::kMaxPromptTokens)
    fail("make-prompt: " + out + ": the prompt would have " + std::to_string(total_tokens) + " tokens: a prompt has at most " +
         std::to_string(vlm::kMaxPromptTokens));
  std::uint64_t state = seed * 0x9e3779b97f4a7c15ull + 1;
  auto next_id = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return std::int64_t((state >> 33) % std::uint64_t(std::max<std::int64_t>(1, std::min<std::int64_t>(c.vocab - 16, c.vision_start))));
  };
  auto ids = [&](std::uint64_t n) {
    std::vector<std::int64_t> v;
    for (std::uint64_t i = 0; i < n; ++i) v.push_back(next_id());
    return v;
  };
  vlm::prompt_spec s;
  s.system = ids(system);
  const std::size_t slash = out.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : out.substr(0, slash);
  const std::string stem = slash == std::string::npos ? out : out.substr(slash + 1);
  std::int64_t image_tokens = 0;
  for (std::uint64_t k = 0; k <= images; ++k) {
    if (text) {
      vlm::prompt_segment t;
      t.text = ids(text);
      s.content.push_back(t);
    }
    if (k == images) break;
    vlm::prompt_segment im;
    im.is_image = true;
    const auto& g = grids[std::min<std::size_t>(k, grids.size() - 1)];
    im.image.t = g[0], im.image.h = g[1], im.image.w = g[2], im.image.dt = dt;
    im.image.file = stem + ".img" + std::to_string(k) + ".bin";
    image_tokens += im.image.tokens();
    s.content.push_back(im);
  }
  // The whole prompt is checked before any file is written, and --out too
  // (a directory there failed only after the images were written beside it).
  auto built = vlm::build_prompt(s, c);
  if (!built.ok()) fail(built.error);
  struct stat out_st {};
  if (stem.empty() || (::stat(out.c_str(), &out_st) == 0 && S_ISDIR(out_st.st_mode))) fail(out + ": is a directory");
  check_free_space(dir, image_bytes, "make-prompt: the image embeddings");
  std::uint64_t k = 0;
  for (const auto& seg : s.content) {
    if (!seg.is_image) continue;
    const vlm::image_input& im = seg.image;
    if (plant && k == vlm::kPlantIdentities)
      std::fprintf(stderr, "%s: make-prompt: more than %d planted images: identities repeat\n", kProg,
                   vlm::kPlantIdentities);
    const std::string e =
        plant ? vlm::write_planted_image_embeddings(dir + "/" + im.file, im.tokens(), c.hidden,
                                                    int((k + seed) % vlm::kPlantIdentities), seed * 1000003 + k)
              : vlm::write_image_embeddings(dir + "/" + im.file, im.tokens(), c.hidden, dt, seed * 1000003 + k);
    if (!e.empty()) fail(e);
    ++k;
  }
  std::ofstream f(out);
  f << vlm::to_json(s);
  if (!f) fail(out + ": cannot write");
  f.close();
  std::printf("%s: %lld tokens: %llu images (%lld image tokens), %lld text and template tokens\n", out.c_str(),
              (long long)built.p.size(), (unsigned long long)images, (long long)image_tokens,
              (long long)(built.p.size() - image_tokens));
  return 0;
}

// ------------------------------------------------------------ inspect

int cmd_inspect(int argc, char** argv)
{
  const char* cmd = "inspect";
  enum { kModel = 256, kVerbose, kHelp };
  static const option opts[] = {{"model", required_argument, nullptr, kModel}, {"verbose", no_argument, nullptr, kVerbose},
                                {"help", no_argument, nullptr, kHelp},         {nullptr, 0, nullptr, 0}};
  std::string model;
  bool verbose = false;
  for (int ch; (ch = getopt_long(argc, argv, "v", opts, nullptr)) != -1;) {
    switch (ch) {
      case kModel: model = optarg; break;
      case 'v': case kVerbose: verbose = true; break;
      case kHelp:
        std::printf("usage: %s inspect --model=DIR [--verbose]\n"
                    "Reads only config.json and the safetensors headers, checks every tensor the decoder\n"
                    "needs (name, shape, dtype, bounds) and prints the plan: files, tensors, bytes.\n"
                    "Nothing is loaded. Exit status 1 with the first problem found.\n",
                    kProg);
        return 0;
      default: try_help(cmd);
    }
  }
  if (model.empty()) bad_usage(cmd, "--model=DIR is required");
  const vlm::config c = load_config(model);
  vlm::checkpoint_result ck = vlm::open_checkpoint(model);
  if (!ck.ok()) fail(ck.error);
  vlm::weight_plan plan = vlm::plan_weights(ck.ckpt, c);
  if (!plan.ok()) fail(plan.error);
  if (verbose)
    for (const auto* t : plan.tensors)
      std::printf("  %-52s %-5s %-14s %s @ %llu (+%llu)\n", t->name.c_str(), vlm::dtype_name(t->dt),
                  vlm::shape_string(t->shape).c_str(), ck.ckpt.files[t->file].c_str(), (unsigned long long)t->offset,
                  (unsigned long long)t->bytes);
  std::printf("%s: OK: hidden %lld, %lld layers, %lld/%lld heads, head_dim %lld, ffn %lld, vocab %lld, %s embeddings; "
              "%zu files, %zu tensors used of %zu, %.1f M params, %s\n",
              model.c_str(), (long long)c.hidden, (long long)c.layers, (long long)c.heads, (long long)c.kv_heads,
              (long long)c.head_dim(), (long long)c.ffn, (long long)c.vocab, c.tie_embeddings ? "tied" : "untied",
              ck.ckpt.files.size(), plan.tensors.size(), ck.ckpt.tensors.size(), double(plan.params) / 1e6,
              human_bytes(double(plan.bytes)).c_str());
  return 0;
}

// ------------------------------------------------------------ prefill

void prefill_usage(FILE* to)
{
  std::fprintf(to,
               "usage: %s prefill --model=DIR --prompt=FILE [OPTION]...\n"
               "Runs one prompt through the decoder on the GPU (or the simulator) and prints the top-k\n"
               "next tokens, the time of each phase and the achieved GFLOP/s. The loader kernel reads\n"
               "the weights and the image embeddings itself (gsys::pread at block granularity); the\n"
               "host parses only config.json, the safetensors headers and the prompt spec.\n\n"
               "  --model=DIR        checkpoint directory (config.json + safetensors)\n"
               "  --prompt=FILE      prompt spec (see make-prompt)\n"
               "  --top-k=N          tokens to print (default 5)\n"
               "  --check            also run the CPU reference and print the largest logit error\n"
               "  --logits-out=FILE  write the last token's logits (vocab x fp32, little-endian)\n"
               "  --chunk-size=N     bytes per loader pread (default 4M on a GPU, 256K on the simulator)\n"
               "  --executor=KIND    sync, uring, kmod or auto (default)\n"
               "  --stats=FILE       append one JSON line with the numbers (\"-\": stderr)\n"
               "  --heads=FILE       BlindSight: heads.json from calibrate; each head's attention walks only\n"
               "                     the key tiles its mask keeps (--check then uses the masked reference)\n"
               "  --help             this text\n",
               kProg);
}

int cmd_prefill(int argc, char** argv)
{
  const char* cmd = "prefill";
  enum { kModel = 256, kPrompt, kTopK, kCheck, kChunk, kExecutor, kStats, kLogits, kHeads, kHelp };
  static const option opts[] = {{"heads", required_argument, nullptr, kHeads},{"model", required_argument, nullptr, kModel},   {"prompt", required_argument, nullptr, kPrompt},
                                {"logits-out", required_argument, nullptr, kLogits},
                                {"top-k", required_argument, nullptr, kTopK},    {"check", no_argument, nullptr, kCheck},
                                {"chunk-size", required_argument, nullptr, kChunk}, {"executor", required_argument, nullptr, kExecutor},
                                {"stats", required_argument, nullptr, kStats},   {"help", no_argument, nullptr, kHelp},
                                {nullptr, 0, nullptr, 0}};
  std::string model, prompt_file, stats, logits_out, heads_file;
  std::uint64_t topk = 5, chunk = 0;
  bool check = false;
  gsys::executor_kind executor = gsys::executor_kind::automatic;
  for (int ch; (ch = getopt_long(argc, argv, "", opts, nullptr)) != -1;) {
    switch (ch) {
      case kModel: model = optarg; break;
      case kPrompt: prompt_file = optarg; break;
      case kTopK: topk = count_arg(cmd, "top-k", optarg, 1, 1000); break;
      case kCheck: check = true; break;
      case kChunk:
        if (!ex::parse_size(optarg, chunk) || chunk < 4096 || chunk > (1ull << 30)) bad_usage(cmd, "invalid chunk size", optarg);
        break;
      case kExecutor:
        if (!ex::parse_executor_arg(optarg, executor)) bad_usage(cmd, "invalid executor", optarg);
        break;
      case kStats: stats = optarg; break;
      case kLogits: logits_out = optarg; break;
      case kHeads: heads_file = optarg; break;
      case kHelp: prefill_usage(stdout); return 0;
      default: try_help(cmd);
    }
  }
  if (model.empty() || prompt_file.empty()) bad_usage(cmd, "--model=DIR and --prompt=FILE are required");
  const vlm::config c = load_config(model);
  vlm::checkpoint_result ck = vlm::open_checkpoint(model);
  if (!ck.ok()) fail(ck.error);
  const vlm::weight_plan plan = vlm::plan_weights(ck.ckpt, c);
  if (!plan.ok()) fail(plan.error);
  vlm::spec_result spec = vlm::load_prompt_spec(prompt_file);
  if (!spec.ok()) fail(spec.error);
  vlm::prompt_result pr = vlm::build_prompt(spec.spec, c);
  if (!pr.ok()) fail(prompt_file + ": " + pr.error);
  const vlm::prompt& p = pr.p;
  vlm::head_table heads;
  if (!heads_file.empty()) heads = load_heads(heads_file, c);
  if (!ex::require_device(kProg)) return 1;
  try {
    gsys::runtime_options ro;
    ro.executor = executor;
    gsys::runtime rt(ro);
    std::int64_t image_tokens = 0;
    for (const auto& im : p.images) image_tokens += im.tokens();
    std::printf("model: %s: hidden %lld, %lld layers, %lld/%lld heads, ffn %lld, vocab %lld (%.1f M params, %s)\n",
                model.c_str(), (long long)c.hidden, (long long)c.layers, (long long)c.heads, (long long)c.kv_heads,
                (long long)c.ffn, (long long)c.vocab, double(plan.params) / 1e6, human_bytes(double(plan.bytes)).c_str());
    std::printf("prompt: %lld tokens, %zu images (%lld image tokens)\n", (long long)p.size(), p.images.size(),
                (long long)image_tokens);
    vlm::device_model m;
    vlm::load_options lo;
    lo.chunk_bytes = chunk;
    const vlm::load_report lr = vlm::load_model(rt, ck.ckpt, plan, c, p, m, lo);
    std::printf("load: %s in %.3f s, %.2f GB/s (GPU gsys::pread, block granularity: %u blocks, %llu chunks), %s\n",
                human_bytes(double(lr.bytes)).c_str(), lr.seconds, lr.gbps(), lr.blocks, (unsigned long long)lr.chunks,
                rt.executor() == gsys::executor_kind::kmod ? "kmod" : gsys::to_string(rt.executor()));
    vlm::device_prompt dp(p);
    vlm::prefill_options po;
    vlm::tile_lists tiles;
    std::unique_ptr<vlm::device_blindsight> bs;
    if (!heads_file.empty()) {
      const auto tm = std::chrono::steady_clock::now();
      tiles = vlm::build_tile_lists(vlm::token_roles::of(p, heads.mp));
      std::printf("blindsight: %s: %s; tile lists built in %.2f ms\n", heads_file.c_str(),
                  category_counts(heads.cats, 0, heads.cats.size()).c_str(),
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - tm).count());
      bs = std::make_unique<vlm::device_blindsight>(heads.cats, tiles);
      bs->attach(po);
    }
    double last_note = 0;
    po.progress = [&](int l, int n, double s) {
      if (s - last_note > 2.0 && l < n) {
        last_note = s;
        std::fprintf(stderr, "%s: prefill: layer %d of %d, %.1f s\n", kProg, l, n, s);
      }
    };
    const vlm::prefill_report r = vlm::run_prefill(m, dp, po);
    const vlm::flop_count dense_fl = vlm::prefill_flops(c, p.size());
    const vlm::flop_count fl = heads_file.empty() ? dense_fl : vlm::prefill_flops(c, tiles, heads.cats);
    std::printf("prefill: %.3f s on %s: embed %.3f, attention blocks %.3f (attention kernel %.3f), mlp %.3f, "
                "lm_head %.3f\n",
                r.total_s(), ex::device_label().c_str(), r.embed_s, r.attention_s, r.attn_kernel_s, r.mlp_s, r.head_s);
    std::printf("flops: %.2f GFLOP (matmul %.2f, attention %.2f): %.2f GFLOP/s overall, attention kernel %.2f GFLOP/s\n",
                fl.total() / 1e9, fl.matmul / 1e9, fl.attention / 1e9, fl.total() / r.total_s() / 1e9,
                r.attn_kernel_s > 0 ? fl.attention / r.attn_kernel_s / 1e9 : 0.0);
    if (!heads_file.empty())
      std::printf("blindsight flops: attention %.4f GFLOP vs %.4f dense (%.1f%% saved); prefill %.4f vs %.4f GFLOP "
                  "(%.1f%% saved)\n",
                  fl.attention / 1e9, dense_fl.attention / 1e9, 100.0 * (1 - fl.attention / dense_fl.attention),
                  fl.total() / 1e9, dense_fl.total() / 1e9, 100.0 * (1 - fl.total() / dense_fl.total()));
    // The same prompt dense on the same device: the speedup and whether the
    // next token changed.
    double dense_attn_s = 0;
    int top5_overlap = 0;
    bool top1_same = true;
    if (!heads_file.empty()) {
      vlm::prefill_options dense_po;
      const vlm::prefill_report d = vlm::run_prefill(m, dp, dense_po);
      dense_attn_s = d.attn_kernel_s;
      const auto a = vlm::top_k(r.logits, 5), b = vlm::top_k(d.logits, 5);
      top1_same = a[0].first == b[0].first;
      for (const auto& x : a)
        for (const auto& y : b) top5_overlap += x.first == y.first;
      std::printf("blindsight vs dense on %s: attention kernel %.3f s vs %.3f s (%.2fx), prefill %.3f s vs %.3f s; "
                  "next token %s, top-5 overlap %d/5\n",
                  ex::device_label().c_str(), r.attn_kernel_s, d.attn_kernel_s,
                  r.attn_kernel_s > 0 ? d.attn_kernel_s / r.attn_kernel_s : 0.0, r.total_s(), d.total_s(),
                  top1_same ? "agrees" : "DIFFERS", top5_overlap);
    }
    std::printf("top-%llu next tokens:\n", (unsigned long long)topk);
    for (const auto& [id, logit] : vlm::top_k(r.logits, int(topk))) std::printf("  %8d  %10.4f\n", id, logit);
    if (!logits_out.empty()) {
      std::ofstream f(logits_out, std::ios::binary);
      f.write(reinterpret_cast<const char*>(r.logits.data()), std::streamsize(r.logits.size() * sizeof(float)));
      if (!f) fail(logits_out + ": cannot write");
    }
    double max_err = -1, max_ref = 0;
    bool stats_ok = true;
    if (check) {
      vlm::host_weights hw;
      if (std::string e = vlm::load_host_weights(ck.ckpt, plan, c, hw); !e.empty()) fail(e);
      std::vector<std::vector<float>> imgs(p.images.size());
      for (std::size_t k = 0; k < p.images.size(); ++k)
        if (std::string e = vlm::load_image_embeddings(p.images[k], c.hidden, imgs[k]); !e.empty()) fail(e);
      const auto t0 = std::chrono::steady_clock::now();
      const std::vector<std::uint8_t> masks = heads_file.empty() ? std::vector<std::uint8_t>{} : layer_masks(heads, tiles);
      const vlm::reference_output ref = vlm::reference_forward(hw, p, imgs, masks.empty() ? nullptr : masks.data(),
                                                               masks.size() / std::size_t(c.layers));
      max_err = 0;
      for (std::size_t i = 0; i < ref.logits.size(); ++i) {
        max_err = std::max(max_err, std::fabs(ref.logits[i] - double(r.logits[i])));
        max_ref = std::max(max_ref, std::fabs(ref.logits[i]));
      }
      std::printf("check: CPU reference (fp64%s) in %.2f s: largest logit error %.3g (largest logit %.3g), top-1 %s\n",
                  heads_file.empty() ? "" : ", same block masks",
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), max_err, max_ref,
                  vlm::top_k(r.logits, 1)[0].first ==
                          int(std::max_element(ref.logits.begin(), ref.logits.end()) - ref.logits.begin())
                      ? "agrees"
                      : "DIFFERS");
    }
    if (!stats.empty()) {
      char line[1024];
      std::snprintf(line, sizeof line,
                    "{\"example\":\"vlm\",\"device\":\"%s\",\"executor\":\"%s\",\"hidden\":%lld,\"layers\":%lld,"
                    "\"tokens\":%lld,\"images\":%zu,\"load_bytes\":%llu,\"load_s\":%.6f,\"load_gbps\":%.4f,"
                    "\"prefill_s\":%.6f,\"attention_s\":%.6f,\"mlp_s\":%.6f,\"gflop\":%.4f,\"gflops\":%.4f,"
                    "\"max_logit_err\":%.6g}",
                    ex::json_escape(ex::device_label()).c_str(), gsys::to_string(rt.executor()), (long long)c.hidden,
                    (long long)c.layers, (long long)p.size(), p.images.size(), (unsigned long long)lr.bytes, lr.seconds,
                    lr.gbps(), r.total_s(), r.attention_s, r.mlp_s, fl.total() / 1e9, fl.total() / r.total_s() / 1e9,
                    max_err);
      std::string l = line;
      if (!heads_file.empty()) {
        char more[384];
        std::snprintf(more, sizeof more,
                      ",\"blindsight\":true,\"attn_flops_saved\":%.4f,\"prefill_flops_saved\":%.4f,"
                      "\"attn_kernel_s\":%.6f,\"dense_attn_kernel_s\":%.6f,\"top1_agrees\":%d,\"top5_overlap\":%d}",
                      1 - fl.attention / dense_fl.attention, 1 - fl.total() / dense_fl.total(), r.attn_kernel_s,
                      dense_attn_s, int(top1_same), top5_overlap);
        l.pop_back();
        l += more;
      }
      if (!ex::append_line(stats, l)) {
        std::fprintf(stderr, "%s: cannot write %s\n", kProg, stats.c_str());
        stats_ok = false;
      }
    }
    if (check && max_err > 1e-2 * std::max(1.0, max_ref)) {
      std::fprintf(stderr, "%s: check FAILED: the prefill differs from the CPU reference\n", kProg);
      return 1;
    }
    return stats_ok ? 0 : 1;  // statistics asked for and lost are an error too
  } catch (const std::exception& e) {
    fail(e.what());
  }
}

void usage(FILE* to)
{
  std::fprintf(to,
               "usage: %s COMMAND [OPTION]...\n"
               "A Qwen2-VL-style multi-image prefill (the language decoder; images arrive as their\n"
               "merged-patch embeddings) whose GPU kernels read their own weights through genesys.\n\n"
               "Commands:\n"
               "  make-weights   write a deterministic synthetic checkpoint (config.json + safetensors)\n"
               "  make-prompt    write a prompt spec with K images and random embeddings\n"
               "  inspect        check a checkpoint's headers against the config, load nothing\n"
               "  prefill        run one prompt: top-k next tokens, phase times, GFLOP/s\n"
               "  calibrate      BlindSight: per-head attention masks from sample prompts (heads.json)\n"
               "  bench-attention  BlindSight: the attention kernel dense vs tile lists on this device\n"
               "  serve          answer prefill requests over UDP (the GPU receives and replies)\n"
               "  client         send requests to a server, print replies and latency percentiles\n\n"
               "'%s COMMAND --help' describes each.\n",
               kProg, kProg);
}

int run_command(int argc, char** argv)
{
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    usage(stdout);
    return 0;
  }
  // getopt sees "COMMAND [OPTION]..." with the command as its argv[0].
  argv[1] = argv[0];
  if (cmd == "make-weights") return cmd_make_weights(argc - 1, argv + 1);
  if (cmd == "make-prompt") return cmd_make_prompt(argc - 1, argv + 1);
  if (cmd == "inspect") return cmd_inspect(argc - 1, argv + 1);
  if (cmd == "prefill") return cmd_prefill(argc - 1, argv + 1);
  if (cmd == "calibrate") return cmd_calibrate(argc - 1, argv + 1);
  if (cmd == "bench-attention") return cmd_bench_attention(argc - 1, argv + 1);
  if (cmd == "serve") return cmd_serve(argc - 1, argv + 1);
  if (cmd == "client") return cmd_client(argc - 1, argv + 1);
  std::fprintf(stderr, "%s: unknown command '%s'\n", kProg, cmd.c_str());
  usage(stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv)
{
  // What a command did not catch (memory for a model or prompt that does
  // not fit, say) ends it with a message, not std::terminate's abort.
  try {
    return run_command(argc, argv);
  } catch (const std::bad_alloc&) {
    fail("out of memory");
  } catch (const std::exception& e) {
    fail(e.what());
  }
}
