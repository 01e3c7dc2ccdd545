// gsys-blindsight-bench: BlindSight on gsys-vlm against the targets,
// on the CPU path (examples/vlm/cpu_forward.h), one JSON line per result.
//
//   1. accuracy and FLOPs: a planted model (make-weights --plant, the
//      "small" shape: hidden 256, 4 layers, 4/2 heads, head_dim 64) is
//      calibrated on 4 prompts (3-6 images, 64-256 tokens each), then prompts
//      of 4-8 images of 256 tokens are run dense and block-sparse:
//      attention and whole-prefill FLOPs saved, top-1 / top-5 agreement of
//      the next-token logits at every position, max relative hidden error.
//      Target: >= 40% attention FLOPs saved at >= 99% top-1 agreement.
//   2. CPU attention time, dense vs sparse, at 4K-16K tokens (8 images of
//      the template, random q/k/v, one layer's calibrated categories):
//      target sparse/dense time within 1.25x of the FLOPs ratio.
//
// usage: gsys-blindsight-bench [--out=FILE] [--quick] [--threads=N]
// (default FILE <source tree>/bench/results/blindsight-<date>.jsonl, appended
// to; the calibrated heads go to the same name with -heads.json)
#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_args.h"
#include "vlm/blindsight.h"
#include "vlm/cpu_forward.h"

// Where make bench keeps results and bench/blindsight_plot.sh looks: the
// source tree's bench/results, by absolute path (bench/CMakeLists.txt), so
// the default works from any directory.
#ifndef GSYS_BENCH_RESULTS_DIR
#define GSYS_BENCH_RESULTS_DIR "bench/results"
#endif

namespace {

using namespace vlm;

[[noreturn]] void die(const std::string& s)
{
  std::fprintf(stderr, "gsys-blindsight-bench: %s\n", s.c_str());
  std::exit(1);
}

struct sample {
  prompt p;
  std::vector<std::vector<float>> images;
};

// system, text, then per image: image, text. Images' identities rotate with the seed.
sample make_sample(const config& c, const std::string& dir, const std::vector<std::pair<int, int>>& grids, int text,
                   int seed, bool write)
{
  prompt_spec s;
  s.system = {1, 2, 3, 4, 5};
  std::int64_t id = 11 + seed * 17;
  auto seg = [&](int n) {
    prompt_segment t;
    for (int i = 0; i < n; ++i) t.text.push_back(id++ % (c.vocab - 16));
    return t;
  };
  s.content.push_back(seg(text));
  for (std::size_t k = 0; k < grids.size(); ++k) {
    prompt_segment im;
    im.is_image = true;
    im.image.h = grids[k].first, im.image.w = grids[k].second;
    im.image.file = dir + "/s" + std::to_string(seed) + "_" + std::to_string(k) + ".bin";
    if (write) {
      const std::string e = write_planted_image_embeddings(im.image.file, im.image.tokens(), c.hidden,
                                                           int(k + std::size_t(seed)) % kPlantIdentities,
                                                           std::uint64_t(seed * 131 + int(k)));
      if (!e.empty()) die(e);
    }
    s.content.push_back(im);
    s.content.push_back(seg(text + int(k % 3)));
  }
  prompt_result pr = build_prompt(s, c);
  if (!pr.ok()) die(pr.error);
  sample out;
  out.p = std::move(pr.p);
  if (write) {
    out.images.resize(out.p.images.size());
    for (std::size_t k = 0; k < out.images.size(); ++k)
      if (std::string e = load_image_embeddings(out.p.images[k], c.hidden, out.images[k]); !e.empty()) die(e);
  }
  return out;
}

std::string today()
{
  char b[32];
  const std::time_t t = std::time(nullptr);
  std::strftime(b, sizeof b, "%Y%m%d", std::gmtime(&t));
  return b;
}

double seconds_since(std::chrono::steady_clock::time_point t)
{
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv)
{
  constexpr const char* prog = "gsys-blindsight-bench";
  const std::string default_out = std::string(GSYS_BENCH_RESULTS_DIR) + "/blindsight-" + today() + ".jsonl";
  std::string out = default_out;
  bool quick = false;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  unsigned threads = cores;
  const option opts[] = {{"out", required_argument, nullptr, 'o'},
                         {"quick", no_argument, nullptr, 'q'},
                         {"threads", required_argument, nullptr, 't'},
                         {"help", no_argument, nullptr, 'h'},
                         {nullptr, 0, nullptr, 0}};
  for (int ch; (ch = getopt_long(argc, argv, "o:qt:h", opts, nullptr)) != -1;) {
    switch (ch) {
      case 'o': out = optarg; break;
      case 'q': quick = true; break;
      case 't': threads = unsigned(bench::parse_int(prog, "--threads", optarg, 1, 1024)); break;
      case 'h':
        std::printf("usage: gsys-blindsight-bench [--out FILE] [--quick] [--threads N]   (--opt=value too)\n"
                    "BlindSight on gsys-vlm's CPU path: FLOPs saved, agreement, sparse/dense attention time.\n\n"
                    "  --out FILE    append the JSON lines to FILE (default %s,\n"
                    "                where make bench keeps results); the calibrated heads go to\n"
                    "                FILE's name with -heads.json\n"
                    "  --quick       fewer prompts and sequence lengths\n"
                    "  --threads N   CPU threads, 1-1024 (default: one per core, %u here)\n",
                    default_out.c_str(), cores);
        return 0;
      default:
        std::fprintf(stderr, "%s: see --help (--out FILE, --quick, --threads N, --help)\n", prog);
        return 2;
    }
  }
  bench::reject_operands(prog, argc, argv, optind);
  errno = 0;
  std::ofstream jl(out, std::ios::app);
  if (!jl) {
    const int e = errno;
    die(out + ": cannot open" + (e ? std::string(": ") + std::strerror(e) : std::string()) +
        " (pass --out=FILE to write the results elsewhere)");
  }
  char dir_t[] = "/tmp/gsys-blindsight-bench-XXXXXX";
  if (!mkdtemp(dir_t)) die(std::string("cannot create a directory in /tmp: ") + std::strerror(errno));
  const std::string dir = dir_t;
  config c;
  preset("small", c);
  const std::string host = "cpu " + std::to_string(threads) + " threads";
  int misses = 0;

  // ---- 1. calibrate the planted model, then accuracy and FLOPs
  if (std::string e = write_synthetic_checkpoint(dir + "/model", c, dtype::f32, 1, 7, {}, plant_adjuster(c)); !e.empty()) die(e);
  checkpoint_result ck = open_checkpoint(dir + "/model");
  if (!ck.ok()) die(ck.error);
  const weight_plan plan = plan_weights(ck.ckpt, c);
  if (!plan.ok()) die(plan.error);
  host_weights w;
  if (std::string e = load_host_weights(ck.ckpt, plan, c, w); !e.empty()) die(e);
  head_table table;
  table.layers = int(c.layers), table.heads = int(c.heads);
  const std::size_t LH = std::size_t(c.layers * c.heads);
  std::vector<std::vector<head_category>> per_head(LH);
  const std::vector<std::vector<std::pair<int, int>>> calib = {
      {{16, 16}, {32, 32}, {16, 16}}, {{24, 24}, {16, 16}, {16, 32}, {16, 16}},
      {{16, 16}, {16, 16}, {24, 16}, {16, 16}, {32, 16}}, {{16, 16}, {16, 16}, {16, 16}, {16, 16}, {16, 16}, {16, 16}}};
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < calib.size(); ++i) {
    const sample s = make_sample(c, dir, calib[i], 4 + 3 * int(i), int(i) + 1, true);
    const token_roles r = token_roles::of(s.p, table.mp);
    std::vector<head_mass> mass;
    cpu_forward_options o;
    o.roles = &r, o.mass = &mass, o.threads = threads;
    cpu_forward(w, s.p, s.images, o);
    for (std::size_t h = 0; h < LH; ++h) per_head[h].push_back(classify(mass[h], table.th));
  }
  int recovered = 0;
  for (int l = 0; l < c.layers; ++l)
    for (int h = 0; h < c.heads; ++h) {
      table.cats.push_back(aggregate(per_head[std::size_t(l * c.heads + h)], table.th.alpha(l, int(c.layers))));
      recovered += table.cats.back() == planted_category(l, h);
    }
  table.prompts = int(calib.size());
  const std::string heads_out = out.substr(0, out.rfind(".jsonl")) + "-heads.json";
  {
    std::ofstream hf(heads_out);
    hf << to_json(table);
  }
  std::printf("calibration: %zu prompts in %.1f s, %d of %zu planted heads recovered (%s)\n", calib.size(),
              seconds_since(t0), recovered, LH, heads_out.c_str());
  {
    char line[256];
    std::snprintf(line, sizeof line,
                  "{\"bench\":\"blindsight\",\"kind\":\"calibration\",\"host\":\"%s\",\"prompts\":%zu,\"heads\":%zu,"
                  "\"recovered\":%d}",
                  host.c_str(), calib.size(), LH, recovered);
    jl << line << "\n";
  }
  const std::vector<int> image_counts = quick ? std::vector<int>{4, 8} : std::vector<int>{4, 5, 6, 8};
  double agree = 0, top5 = 0, positions = 0, last_agree = 0, att_dense = 0, att_sparse = 0, all_dense = 0,
         all_sparse = 0, worst_rel = 0;
  for (int m : image_counts) {
    const sample s = make_sample(c, dir, std::vector<std::pair<int, int>>(std::size_t(m), {32, 32}), 6, 40 + m, true);
    const tile_lists t = build_tile_lists(token_roles::of(s.p, table.mp));
    cpu_forward_options o;
    o.keep_hidden = true, o.all_logits = true, o.threads = threads;
    t0 = std::chrono::steady_clock::now();
    const cpu_output d = cpu_forward(w, s.p, s.images, o);
    const double dense_s = seconds_since(t0);
    o.tiles = &t, o.cats = &table.cats;
    t0 = std::chrono::steady_clock::now();
    const cpu_output sp = cpu_forward(w, s.p, s.images, o);
    const double sparse_s = seconds_since(t0);
    const std::size_t V = std::size_t(c.vocab), S = std::size_t(s.p.size());
    double a = 0, a5 = 0, err = 0, scale = 0;
    for (std::size_t i = 0; i < d.hidden.size(); ++i) {
      err = std::max(err, double(std::fabs(d.hidden[i] - sp.hidden[i])));
      scale = std::max(scale, double(std::fabs(d.hidden[i])));
    }
    bool last = false;
    for (std::size_t i = 0; i < S; ++i) {
      const float* dl = &d.logits[i * V];
      const float* sl = &sp.logits[i * V];
      const std::size_t want = std::size_t(std::max_element(dl, dl + V) - dl);
      const bool same = want == std::size_t(std::max_element(sl, sl + V) - sl);
      a += same;
      int above = 0;
      for (std::size_t x = 0; x < V; ++x) above += sl[x] > sl[want];
      a5 += above < 5;
      if (i + 1 == S) last = same;
    }
    const flop_count fd = prefill_flops(c, s.p.size()), fs = prefill_flops(c, t, table.cats);
    agree += a, top5 += a5, positions += double(S), last_agree += last, worst_rel = std::max(worst_rel, err / scale);
    att_dense += fd.attention, att_sparse += fs.attention, all_dense += fd.total(), all_sparse += fs.total();
    std::printf("%d images, %zu tokens: attention FLOPs saved %.1f%%, prefill FLOPs saved %.1f%%, top-1 %.4f, top-5 "
                "%.4f, max rel hidden error %.2g; CPU prefill dense %.2f s, sparse %.2f s (attention %.2f vs %.2f s)\n",
                m, S, 100 * (1 - fs.attention / fd.attention), 100 * (1 - fs.total() / fd.total()), a / double(S),
                a5 / double(S), err / scale, dense_s, sparse_s, d.attention_s, sp.attention_s);
    char line[512];
    std::snprintf(line, sizeof line,
                  "{\"bench\":\"blindsight\",\"kind\":\"accuracy\",\"host\":\"%s\",\"images\":%d,\"tokens\":%zu,"
                  "\"attn_flops_saved\":%.4f,\"prefill_flops_saved\":%.4f,\"top1\":%.5f,\"top5\":%.5f,"
                  "\"last_top1\":%d,\"max_rel_hidden_err\":%.3g,\"prefill_dense_s\":%.3f,\"prefill_sparse_s\":%.3f,"
                  "\"attn_dense_s\":%.3f,\"attn_sparse_s\":%.3f}",
                  host.c_str(), m, S, 1 - fs.attention / fd.attention, 1 - fs.total() / fd.total(), a / double(S),
                  a5 / double(S), int(last), err / scale, dense_s, sparse_s, d.attention_s, sp.attention_s);
    jl << line << "\n";
  }
  const double saved = 1 - att_sparse / att_dense, top1 = agree / positions;
  const bool pass1 = saved >= 0.40 && top1 >= 0.99;
  misses += !pass1;
  std::printf("%s  attention FLOPs saved %.1f%% (target >= 40%%) at top-1 agreement %.2f%% (target >= 99%%), top-5 "
              "%.2f%%, last-token top-1 %.0f/%zu; prefill FLOPs saved %.1f%%; worst rel hidden error %.2g\n",
              pass1 ? "PASS" : "MISS", 100 * saved, 100 * top1, 100 * top5 / positions, last_agree,
              image_counts.size(), 100 * (1 - all_sparse / all_dense), worst_rel);
  {
    char line[384];
    std::snprintf(line, sizeof line,
                  "{\"bench\":\"blindsight\",\"kind\":\"accuracy_target\",\"host\":\"%s\",\"attn_flops_saved\":%.4f,"
                  "\"prefill_flops_saved\":%.4f,\"top1\":%.5f,\"top5\":%.5f,\"result\":\"%s\"}",
                  host.c_str(), saved, 1 - all_sparse / all_dense, top1, top5 / positions, pass1 ? "PASS" : "MISS");
    jl << line << "\n";
  }

  // ---- 2. CPU attention time, dense vs sparse, at 4K-16K tokens
  const std::vector<head_category> layer0(table.cats.begin(), table.cats.begin() + c.heads);
  const int H = int(c.heads), KVH = int(c.kv_heads), D = int(c.head_dim());
  const std::vector<std::int64_t> lengths = quick ? std::vector<std::int64_t>{4096, 8192} : std::vector<std::int64_t>{4096, 8192, 16384};
  bool pass2 = true;
  for (std::int64_t target : lengths) {
    const int images = 8, text = 6;
    const int gw = int((target - 64) / images / 16);  // 16 x gw merged tokens per image
    const sample s = make_sample(c, dir, std::vector<std::pair<int, int>>(images, {32, 2 * gw}), text, 90, false);
    const std::int64_t S = s.p.size();
    const auto tm = std::chrono::steady_clock::now();
    const tile_lists t = build_tile_lists(token_roles::of(s.p, table.mp));
    const double mask_ms = seconds_since(tm) * 1e3;
    std::vector<float> q(std::size_t(S * H * D)), k(std::size_t(S * KVH * D)), v(k.size()), o(q.size());
    std::uint64_t st = 99;
    for (auto* a : {&q, &k, &v})
      for (float& x : *a) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        x = float(double(st >> 11) / double(1ull << 53) - 0.5);
      }
    auto best = [&](const head_category* cats) {
      double b = 1e30;
      for (int rep = 0; rep < (quick ? 1 : 2); ++rep) {
        const auto ts = std::chrono::steady_clock::now();
        cpu_attention(q.data(), k.data(), v.data(), o.data(), S, H, KVH, D, cats ? &t : nullptr, cats, threads);
        b = std::min(b, seconds_since(ts));
      }
      return b;
    };
    const double dense_s = best(nullptr), sparse_s = best(layer0.data());
    const double dense_pairs = kept_pairs(t, head_category::dense) * H;
    double sparse_pairs = 0;
    for (head_category hc : layer0) sparse_pairs += kept_pairs(t, hc);
    const double flop_ratio = sparse_pairs / dense_pairs, time_ratio = sparse_s / dense_s;
    const bool ok = time_ratio <= 1.25 * flop_ratio;
    pass2 &= ok;
    const double dense_gflops = 4.0 * D * dense_pairs / dense_s / 1e9, sparse_gflops = 4.0 * D * sparse_pairs / sparse_s / 1e9;
    std::printf("%s  %lld tokens (8 images of %d): attention dense %.3f s (%.1f GFLOP/s), sparse %.3f s (%.1f GFLOP/s); "
                "time ratio %.3f vs FLOPs ratio %.3f = %.2fx (target <= 1.25x); tile lists %.2f ms\n",
                ok ? "PASS" : "MISS", (long long)S, 16 * gw, dense_s, dense_gflops, sparse_s, sparse_gflops, time_ratio,
                flop_ratio, time_ratio / flop_ratio, mask_ms);
    char line[512];
    std::snprintf(line, sizeof line,
                  "{\"bench\":\"blindsight\",\"kind\":\"cpu_attention\",\"host\":\"%s\",\"tokens\":%lld,\"heads\":%d,"
                  "\"kv_heads\":%d,\"head_dim\":%d,\"images\":8,\"dense_s\":%.4f,\"sparse_s\":%.4f,\"dense_gflops\":%.2f,"
                  "\"sparse_gflops\":%.2f,\"flop_ratio\":%.4f,\"time_ratio\":%.4f,\"mask_build_ms\":%.3f,\"result\":\"%s\"}",
                  host.c_str(), (long long)S, H, KVH, D, dense_s, sparse_s, dense_gflops, sparse_gflops, flop_ratio,
                  time_ratio, mask_ms, ok ? "PASS" : "MISS");
    jl << line << "\n";
    jl.flush();
  }
  misses += !pass2;
  std::system(("rm -rf '" + dir + "'").c_str());
  std::printf("results appended to %s\n", out.c_str());
  return misses ? 1 : 0;
}
