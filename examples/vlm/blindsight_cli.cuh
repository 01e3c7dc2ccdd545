// gsys-vlm's BlindSight commands, included by vlm.cu inside its anonymous
// namespace (they use its fail / bad_usage / load_config helpers):
//
//   calibrate --model=DIR --prompt=P1 --prompt=P2 ... --out=heads.json
//
// and the helpers prefill --heads uses. docs/blindsight.md describes the
// method and the parameters.
// (vlm.cu includes vlm/blindsight.h and vlm/cpu_forward.h at file scope.)
#pragma once

bool parse_fraction(const char* s, double& out)
{
  char* end = nullptr;
  errno = 0;
  out = std::strtod(s, &end);
  return errno == 0 && end != s && *end == '\0' && out >= 0 && out <= 1;
}

vlm::head_table load_heads(const std::string& path, const vlm::config& c)
{
  std::string text;
  if (std::string e = vlm::read_file(path, text); !e.empty()) fail(e);
  vlm::head_table t;
  if (std::string e = vlm::parse_head_table(text, path, t); !e.empty()) fail(e);
  if (t.layers != c.layers || t.heads != c.heads)
    fail(path + ": " + std::to_string(t.layers) + " layers x " + std::to_string(t.heads) + " heads, the model has " +
         std::to_string(c.layers) + " x " + std::to_string(c.heads));
  return t;
}

// "dense 4, sink 4, intra 4, intra+sink 4"
std::string category_counts(const std::vector<vlm::head_category>& cats, std::size_t from, std::size_t n)
{
  int count[vlm::kCategories] = {};
  for (std::size_t i = from; i < from + n && i < cats.size(); ++i) ++count[int(cats[i])];
  std::string s;
  for (int c = 0; c < vlm::kCategories; ++c)
    s += std::string(c ? ", " : "") + vlm::category_name(vlm::head_category(c)) + " " + std::to_string(count[c]);
  return s;
}

void calibrate_usage(FILE* to)
{
  std::fprintf(to,
               "usage: %s calibrate --model=DIR --prompt=FILE [--prompt=FILE]... --out=heads.json [OPTION]...\n"
               "BlindSight calibration: a dense prefill of each sample prompt (the CPU path, fp32) measures,\n"
               "per head, where its image queries put their attention: own image, sinks (other images'\n"
               "delimiters and leading tokens), the prefix (system turn and leading text), the other text, other\n"
               "images. Masses come tile by tile from the online-softmax max and sum; no S x S matrix.\n"
               "Each prompt classifies each head; the prompts are aggregated per layer with alpha_layer.\n\n"
               "  --model=DIR          checkpoint directory\n"
               "  --prompt=FILE        a sample prompt spec (repeat; several image counts and sizes)\n"
               "  --out=FILE           heads.json to write (category and measured fractions per head)\n"
               "  --gamma-d=X          other images' content >= X: Dense (default 0.05)\n"
               "  --gamma-s=X          sinks >= X: the mask keeps the sinks (default 0.05)\n"
               "  --gamma-i=X          text after the prefix >= X: the mask keeps the text (default 0.05)\n"
               "  --alpha=A[:B]        a need seen in more than this share of prompts is adopted; A:B is a\n"
               "                       linear schedule from layer 0 to the last layer (default 0.2)\n"
               "  --sink-fraction=X    leading share of each image's tokens that are sinks (default 0.1)\n"
               "  --threads=N          CPU threads (default: all)\n"
               "  --engine=E           cpu (default: the fp32 CPU path) or device: the prefill kernels on the\n"
               "                       GPU or the simulator, masses from attention_mass_kernel\n"
               "  --help               this text\n",
               kProg);
}

int cmd_calibrate(int argc, char** argv)
{
  const char* cmd = "calibrate";
  enum { kModel = 256, kPrompt, kOut, kGammaD, kGammaS, kGammaI, kAlpha, kSinkFraction, kThreads, kEngine, kHelp };
  static const option opts[] = {{"engine", required_argument, nullptr, kEngine},{"model", required_argument, nullptr, kModel},     {"prompt", required_argument, nullptr, kPrompt},
                                {"out", required_argument, nullptr, kOut},         {"gamma-d", required_argument, nullptr, kGammaD},
                                {"gamma-s", required_argument, nullptr, kGammaS},  {"gamma-i", required_argument, nullptr, kGammaI},
                                {"alpha", required_argument, nullptr, kAlpha},     {"sink-fraction", required_argument, nullptr, kSinkFraction},
                                {"threads", required_argument, nullptr, kThreads}, {"help", no_argument, nullptr, kHelp},
                                {nullptr, 0, nullptr, 0}};
  std::string model, out;
  std::vector<std::string> prompts;
  vlm::head_table table;
  std::uint64_t threads = 0;
  bool on_device = false;
  for (int ch; (ch = getopt_long(argc, argv, "", opts, nullptr)) != -1;) {
    switch (ch) {
      case kModel: model = optarg; break;
      case kPrompt: prompts.push_back(optarg); break;
      case kOut: out = optarg; break;
      case kGammaD: if (!parse_fraction(optarg, table.th.gamma_d)) bad_usage(cmd, "invalid gamma", optarg); break;
      case kGammaS: if (!parse_fraction(optarg, table.th.gamma_s)) bad_usage(cmd, "invalid gamma", optarg); break;
      case kGammaI: if (!parse_fraction(optarg, table.th.gamma_i)) bad_usage(cmd, "invalid gamma", optarg); break;
      case kAlpha: {
        std::string a = optarg;
        const std::size_t colon = a.find(':');
        const std::string first = a.substr(0, colon), last = colon == std::string::npos ? first : a.substr(colon + 1);
        if (!parse_fraction(first.c_str(), table.th.alpha_first) || !parse_fraction(last.c_str(), table.th.alpha_last))
          bad_usage(cmd, "invalid alpha (A or A:B, each in [0, 1])", optarg);
        break;
      }
      case kSinkFraction:
        if (!parse_fraction(optarg, table.mp.sink_fraction)) bad_usage(cmd, "invalid sink fraction", optarg);
        break;
      case kThreads: threads = count_arg(cmd, "thread count", optarg, 1, 1024); break;
      case kEngine:
        if (std::strcmp(optarg, "cpu") && std::strcmp(optarg, "device")) bad_usage(cmd, "invalid engine (cpu, device)", optarg);
        on_device = !std::strcmp(optarg, "device");
        break;
      case kHelp: calibrate_usage(stdout); return 0;
      default: try_help(cmd);
    }
  }
  if (model.empty() || prompts.empty() || out.empty()) bad_usage(cmd, "--model=DIR, --prompt=FILE and --out=FILE are required");
  const vlm::config c = load_config(model);
  vlm::checkpoint_result ck = vlm::open_checkpoint(model);
  if (!ck.ok()) fail(ck.error);
  const vlm::weight_plan plan = vlm::plan_weights(ck.ckpt, c);
  if (!plan.ok()) fail(plan.error);
  vlm::host_weights hw;
  std::unique_ptr<gsys::runtime> rt;
  if (on_device) {
    if (!ex::require_device(kProg)) return 1;
    rt = std::make_unique<gsys::runtime>();
  } else if (std::string e = vlm::load_host_weights(ck.ckpt, plan, c, hw); !e.empty()) {
    fail(e);
  }
  const std::size_t LH = std::size_t(c.layers * c.heads);
  std::vector<std::vector<vlm::head_category>> per_head(LH);
  table.layers = int(c.layers), table.heads = int(c.heads);
  table.mass.assign(LH, vlm::head_mass{});
  const auto t0 = std::chrono::steady_clock::now();
  for (const std::string& file : prompts) {
    vlm::spec_result spec = vlm::load_prompt_spec(file);
    if (!spec.ok()) fail(spec.error);
    vlm::prompt_result pr = vlm::build_prompt(spec.spec, c);
    if (!pr.ok()) fail(file + ": " + pr.error);
    if (pr.p.images.size() < 2) fail(file + ": calibration prompts need at least 2 images");
    std::vector<std::vector<float>> imgs(pr.p.images.size());
    for (std::size_t k = 0; k < imgs.size() && !on_device; ++k)
      if (std::string e = vlm::load_image_embeddings(pr.p.images[k], c.hidden, imgs[k]); !e.empty()) fail(e);
    const vlm::token_roles roles = vlm::token_roles::of(pr.p, table.mp);
    std::vector<vlm::head_mass> mass;
    double seconds = 0;
    if (on_device) {
      try {
        vlm::device_model m;
        vlm::load_model(*rt, ck.ckpt, plan, c, pr.p, m);
        vlm::device_prompt dp(pr.p);
        vlm::device_calibration cal(roles, int(c.layers), int(c.heads));
        vlm::prefill_options po;
        cal.attach(po);
        seconds = vlm::run_prefill(m, dp, po).total_s();
        mass = cal.masses();
      } catch (const std::exception& e) {
        fail(e.what());
      }
    } else {
      vlm::cpu_forward_options o;
      o.roles = &roles, o.mass = &mass, o.threads = unsigned(threads);
      seconds = vlm::cpu_forward(hw, pr.p, imgs, o).total_s;
    }
    std::vector<vlm::head_category> cats;
    for (std::size_t i = 0; i < LH; ++i) {
      cats.push_back(vlm::classify(mass[i], table.th));
      per_head[i].push_back(cats.back());
      table.mass[i].add(mass[i]);
    }
    ++table.prompts;
    std::printf("%s: %lld tokens, %zu images, dense prefill %.2f s (%s): %s\n", file.c_str(), (long long)pr.p.size(),
                pr.p.images.size(), seconds, on_device ? ex::device_label().c_str() : "CPU path", category_counts(cats, 0, LH).c_str());
  }
  int stable = 0;
  for (int l = 0; l < c.layers; ++l)
    for (int h = 0; h < c.heads; ++h) {
      const std::size_t i = std::size_t(l * c.heads + h);
      table.cats.push_back(vlm::aggregate(per_head[i], table.th.alpha(l, int(c.layers))));
      stable += std::all_of(per_head[i].begin(), per_head[i].end(), [&](vlm::head_category x) { return x == per_head[i][0]; });
    }
  std::ofstream f(out);
  f << vlm::to_json(table);
  if (!f) fail(out + ": cannot write");
  f.close();
  for (int l = 0; l < c.layers; ++l)
    std::printf("layer %2d: %s\n", l, category_counts(table.cats, std::size_t(l * c.heads), std::size_t(c.heads)).c_str());
  std::printf("%s: %zu heads: %s; %d of %zu heads classified the same on every prompt; %.2f s\n", out.c_str(), LH,
              category_counts(table.cats, 0, LH).c_str(), stable, LH,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  // A planted model (make-weights --plant) knows its heads: say how many were recovered.
  std::string planted_text;
  if (vlm::read_whole_file(model + "/planted.json", planted_text)) {
    vlm::head_table planted;
    if (vlm::parse_head_table(planted_text, model + "/planted.json", planted).empty() && planted.cats.size() == LH) {
      std::size_t same = 0;
      for (std::size_t i = 0; i < LH; ++i) same += planted.cats[i] == table.cats[i];
      std::printf("planted: %zu of %zu heads recovered\n", same, LH);
    }
  }
  return 0;
}

// Per-layer block masks of the categories, for the masked CPU reference.
std::vector<std::uint8_t> layer_masks(const vlm::head_table& t, const vlm::tile_lists& tl)
{
  std::vector<std::uint8_t> all;
  for (int l = 0; l < t.layers; ++l) {
    const std::vector<vlm::head_category> layer(t.cats.begin() + l * t.heads, t.cats.begin() + (l + 1) * t.heads);
    const std::vector<std::uint8_t> m = vlm::expand_block_mask(tl, layer);
    all.insert(all.end(), m.begin(), m.end());
  }
  return all;
}

// ------------------------------------------------------------ bench-attention

void bench_attention_usage(FILE* to)
{
  std::fprintf(to,
               "usage: %s bench-attention [OPTION]...\n"
               "The attention kernel alone on this device (GPU or simulator), dense vs BlindSight tile lists,\n"
               "on random q/k/v laid out as a prompt of K equal images (template tokens around them).\n"
               "Prints time, GFLOP/s (computed FLOPs) and the speedup next to the FLOPs ratio. The\n"
               "default shape is for a GPU; on the simulator try --heads=2 --kv-heads=1 --head-dim=32.\n\n"
               "  --tokens=N[,N...]    sequence lengths (default 4096)\n"
               "  --images=K           images per prompt (default 8)\n"
               "  --heads=N --kv-heads=N --head-dim=N   shape (default Qwen2-VL-2B: 12, 2, 128)\n"
               "  --mix=CAT            every head one category (dense, sink, intra, intra+sink), or\n"
               "                       'pattern' (default: the planted pattern of layer 0, a quarter each)\n"
               "  --heads-file=FILE    take layer 0's categories from a heads.json instead\n"
               "  --reps=N             best of N runs (default 2)\n"
               "  --stats=FILE         append one JSON line per length\n"
               "  --help               this text\n",
               kProg);
}

int cmd_bench_attention(int argc, char** argv)
{
  const char* cmd = "bench-attention";
  enum { kTokens = 256, kImages, kHeads, kKvHeads, kHeadDim, kMix, kHeadsFile, kReps, kStats, kHelp };
  static const option opts[] = {{"tokens", required_argument, nullptr, kTokens},     {"images", required_argument, nullptr, kImages},
                                {"heads", required_argument, nullptr, kHeads},       {"kv-heads", required_argument, nullptr, kKvHeads},
                                {"head-dim", required_argument, nullptr, kHeadDim},  {"mix", required_argument, nullptr, kMix},
                                {"heads-file", required_argument, nullptr, kHeadsFile}, {"reps", required_argument, nullptr, kReps},
                                {"stats", required_argument, nullptr, kStats},       {"help", no_argument, nullptr, kHelp},
                                {nullptr, 0, nullptr, 0}};
  std::vector<std::int64_t> lengths;
  std::uint64_t images = 8, heads = 12, kv_heads = 2, head_dim = 128, reps = 2;
  std::string mix = "pattern", heads_file, stats;
  for (int ch; (ch = getopt_long(argc, argv, "", opts, nullptr)) != -1;) {
    switch (ch) {
      case kTokens: {
        std::stringstream ss(optarg);
        for (std::string item; std::getline(ss, item, ',');)
          lengths.push_back(std::int64_t(count_arg(cmd, "token count", item.c_str(), 64, 1u << 22)));
        break;
      }
      case kImages: images = count_arg(cmd, "image count", optarg, 1, 1000); break;
      case kHeads: heads = count_arg(cmd, "head count", optarg, 1, 256); break;
      case kKvHeads: kv_heads = count_arg(cmd, "KV head count", optarg, 1, 256); break;
      case kHeadDim: head_dim = count_arg(cmd, "head_dim", optarg, 2, std::uint64_t(vlm::kMaxHeadDim)); break;
      case kMix: mix = optarg; break;
      case kHeadsFile: heads_file = optarg; break;
      case kReps: reps = count_arg(cmd, "repetitions", optarg, 1, 100); break;
      case kStats: stats = optarg; break;
      case kHelp: bench_attention_usage(stdout); return 0;
      default: try_help(cmd);
    }
  }
  if (lengths.empty()) lengths.push_back(4096);
  if (heads % kv_heads || head_dim % 4) bad_usage(cmd, "heads must be a multiple of kv-heads and head-dim of 4");
  // The prompt below: 16 system and template tokens, then per image 8 text
  // tokens, 2 delimiters and at least 4 image tokens. A shorter --tokens
  // silently became that much longer (64 tokens and 1000 images: 14000).
  for (std::int64_t target : lengths)
    if (std::uint64_t(target) < 16 + 14 * images) {
      const std::string what = "token count too small for " + std::to_string(images) + " images (at least " +
                               std::to_string(16 + 14 * images) + ")";
      bad_usage(cmd, what.c_str(), std::to_string(target).c_str());
    }
  std::vector<vlm::head_category> cats;
  if (!heads_file.empty()) {
    std::string text;
    if (std::string e = vlm::read_file(heads_file, text); !e.empty()) fail(e);
    vlm::head_table t;
    if (std::string e = vlm::parse_head_table(text, heads_file, t); !e.empty()) fail(e);
    if (std::uint64_t(t.heads) != heads) fail(heads_file + ": " + std::to_string(t.heads) + " heads, --heads is " + std::to_string(heads));
    cats.assign(t.cats.begin(), t.cats.begin() + t.heads);
  } else {
    for (std::uint64_t h = 0; h < heads; ++h) {
      vlm::head_category c = vlm::planted_category(0, int(h));
      if (mix != "pattern" && !vlm::parse_category(mix, c)) bad_usage(cmd, "invalid --mix", mix.c_str());
      cats.push_back(c);
    }
  }
  if (!ex::require_device(kProg)) return 1;
  vlm::config c;
  vlm::preset("qwen2-vl-2b", c);  // template token ids only
  int status = 0;
  for (std::int64_t target : lengths) {
    // K equal images of 2 x g merged rows filling the length, 8 text tokens between.
    const std::int64_t per_image = std::max<std::int64_t>(4, (target - 16 - 10 * std::int64_t(images)) / std::int64_t(images));
    vlm::prompt_spec s;
    s.system = {1, 2, 3, 4};
    for (std::uint64_t k = 0; k <= images; ++k) {
      vlm::prompt_segment t;
      t.text = std::vector<std::int64_t>(8, 100);
      s.content.push_back(t);
      if (k == images) break;
      vlm::prompt_segment im;
      im.is_image = true;
      im.image.h = 4, im.image.w = 2 * (per_image / 2);
      s.content.push_back(im);
    }
    vlm::prompt_result pr = vlm::build_prompt(s, c);
    if (!pr.ok()) fail(pr.error);
    const std::int64_t S = pr.p.size();
    vlm::head_table table;
    table.layers = 1, table.heads = int(heads), table.cats = cats;
    const vlm::tile_lists tl = vlm::build_tile_lists(vlm::token_roles::of(pr.p, table.mp));
    vlm::device_blindsight bs(table.cats, tl);
    const int H = int(heads), KVH = int(kv_heads), D = int(head_dim);
    vlm::device_array<float> q(std::size_t(S * H * D)), k(std::size_t(S * KVH * D)), v(k.n), o(q.n);
    {
      std::vector<float> host(q.n);
      std::uint64_t st = 7;
      auto fill = [&](vlm::device_array<float>& a) {
        host.resize(a.n);
        for (float& x : host) {
          st = st * 6364136223846793005ull + 1442695040888963407ull;
          x = float(double(st >> 11) / double(1ull << 53) - 0.5);
        }
        a.upload(host);
      };
      fill(q), fill(k), fill(v);
    }
    auto run = [&](bool sparse) {
      double best = 1e30;
      for (std::uint64_t r = 0; r < reps; ++r) {
        vlm::attention_args aa{q.p, k.p, v.p, o.p, int(S), H, KVH, D, 1.0f / std::sqrt(float(D)), nullptr,
                               sparse ? bs.cats.p : nullptr, bs.ptr.p, bs.cols.p};
        const long long items = (long long)H * ((S + vlm::kAttnTileQ - 1) / vlm::kAttnTileQ);
        gsys::synchronize();
        const auto t0 = std::chrono::steady_clock::now();
        gsys::launch(vlm::attention_kernel, dim3(vlm::launch_blocks(items)), dim3(vlm::kAttnThreads), aa);
        gsys::synchronize();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      return best;
    };
    const double dense_s = run(false), sparse_s = run(true);
    const double dense_pairs = vlm::kept_pairs(tl, vlm::head_category::dense) * H;
    double sparse_pairs = 0;
    for (vlm::head_category hc : cats) sparse_pairs += vlm::kept_pairs(tl, hc);
    const double fl_dense = 4.0 * D * dense_pairs, fl_sparse = 4.0 * D * sparse_pairs;
    std::printf("%lld tokens (%llu images of %lld): dense %.4f s (%.1f GFLOP/s), blindsight %.4f s (%.1f GFLOP/s): "
                "%.2fx faster, FLOPs ratio %.3f (%.1f%% saved); %s\n",
                (long long)S, (unsigned long long)images, (long long)pr.p.images[0].tokens(), dense_s,
                fl_dense / dense_s / 1e9, sparse_s, fl_sparse / sparse_s / 1e9, dense_s / sparse_s,
                sparse_pairs / dense_pairs, 100 * (1 - sparse_pairs / dense_pairs), ex::device_label().c_str());
    if (!stats.empty()) {
      char line[512];
      std::snprintf(line, sizeof line,
                    "{\"bench\":\"blindsight\",\"kind\":\"kernel_attention\",\"device\":\"%s\",\"tokens\":%lld,"
                    "\"images\":%llu,\"heads\":%d,\"kv_heads\":%d,\"head_dim\":%d,\"dense_s\":%.6f,\"sparse_s\":%.6f,"
                    "\"dense_gflops\":%.2f,\"sparse_gflops\":%.2f,\"flop_ratio\":%.4f,\"speedup\":%.3f}",
                    ex::json_escape(ex::device_label()).c_str(), (long long)S, (unsigned long long)images, H, KVH, D,
                    dense_s, sparse_s, fl_dense / dense_s / 1e9, fl_sparse / sparse_s / 1e9, sparse_pairs / dense_pairs,
                    dense_s / sparse_s);
      if (!ex::append_line(stats, line)) {
        std::fprintf(stderr, "%s: cannot write %s\n", kProg, stats.c_str());
        status = 1;  // statistics asked for and lost (it exited 0)
      }
    }
  }
  return status;
}
