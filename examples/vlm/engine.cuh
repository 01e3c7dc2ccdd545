// Host side of the prefill engine, for the .cu programs and tests: device
// memory for the model and the activations, the loader launch, and the
// forward pass as a sequence of kernel launches, timed per phase.
//
//   vlm::device_model m;
//   vlm::load_report lr = vlm::load_model(rt, ck, plan, cfg, prompt, m);   // GPU preads the weights
//   vlm::device_prompt dp(prompt);
//   vlm::prefill_report pr = vlm::run_prefill(m, dp);                      // logits of the last token
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <genesys.cuh>
#include <genesys/runtime.h>

#include "common/device_info.cuh"
#include "vlm/config.h"
#include "vlm/kernels.cuh"
#include "vlm/loader.cuh"
#include "vlm/prompt.h"
#include "vlm/reference.h"
#include "vlm/safetensors.h"
#include "vlm/weights.h"

namespace vlm {

static_assert(kAttnTileQ == kAttnTile, "reference and kernel agree on the mask tile");

// ------------------------------------------------------------ memory

inline void copy_to_device(void* dst, const void* src, std::size_t n)
{
#if GSYS_CUDA
  gsys::check_cuda(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice), "copy to device");
#else
  std::memcpy(dst, src, n);
#endif
}

inline void copy_to_host(void* dst, const void* src, std::size_t n)
{
#if GSYS_CUDA
  gsys::check_cuda(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost), "copy to host");
#else
  std::memcpy(dst, src, n);
#endif
}

// Device memory that frees itself.
template <class T>
struct device_array {
  T* p = nullptr;
  std::size_t n = 0;
  device_array() = default;
  explicit device_array(std::size_t count) : p(static_cast<T*>(ex::scratch_alloc(count * sizeof(T)))), n(count) {}
  device_array(const device_array&) = delete;
  device_array& operator=(const device_array&) = delete;
  device_array(device_array&& o) noexcept : p(o.p), n(o.n) { o.p = nullptr, o.n = 0; }
  device_array& operator=(device_array&& o) noexcept
  {
    std::swap(p, o.p);
    std::swap(n, o.n);
    return *this;
  }
  ~device_array()
  {
    if (p) ex::scratch_free(p);
  }
  void upload(const std::vector<T>& v) { copy_to_device(p, v.data(), std::min(n, v.size()) * sizeof(T)); }
  std::vector<T> download() const
  {
    std::vector<T> v(n);
    copy_to_host(v.data(), p, n * sizeof(T));
    return v;
  }
};

// Blocks for a launch with `work` independent items: a few per SM on a GPU;
// on the simulator (a block is an OS thread) two per host core.
inline unsigned launch_blocks(long long work)
{
#if GSYS_CUDA
  static const unsigned cap = ex::default_blocks() * 4;
#else
  static const unsigned cap = std::max(2u, std::min(16u, 2 * std::thread::hardware_concurrency()));
#endif
  return (unsigned)std::max(1ll, std::min<long long>(work, cap));
}

// ------------------------------------------------------------ model and loading

struct device_model {
  config c;
  device_array<float> weights;  // every tensor, fp32, in expected_tensors order
  std::vector<float*> t;        // parallel to expected_tensors(c)
  device_array<float> images;   // every image's embeddings, in prompt order
  const float* layer(int l, int which) const { return t[layer_tensor_index(l, which)]; }
};

struct load_report {
  std::uint64_t bytes = 0;  // read by the kernel
  double seconds = 0;
  std::uint64_t chunks = 0;
  unsigned blocks = 0;
  std::vector<std::uint64_t> checksums;  // per job: the weights (plan order), then the images
  double gbps() const { return seconds > 0 ? double(bytes) / seconds / 1e9 : 0; }
};

struct load_options {
  std::uint64_t chunk_bytes = 0;  // 0: 4 MiB on a GPU, 256 KiB on the simulator
  unsigned blocks = 0;            // 0: launch_blocks(chunks)
};

// The loader's pinned memory (its job list, one chunk-sized window per block,
// its results), for `jobs` jobs on up to `blocks` blocks. A server makes one
// before its receiver starts and reuses it: allocating and freeing pinned
// memory (cudaHostAlloc, cudaFreeHost) waits for every kernel on the device,
// and a resident receiver never ends.
struct loader_workspace {
  loader_workspace(gsys::runtime& rt, std::size_t jobs, unsigned blocks, load_options o = {})
      : rt_(rt), max_jobs(std::max<std::size_t>(jobs, 1)), max_blocks(std::max(blocks, 1u)), chunk(chunk_bytes(o))
  {
    job_mem = static_cast<load_job*>(rt.alloc(max_jobs * sizeof(load_job)));
    windows = static_cast<char*>(rt.alloc(std::size_t(max_blocks) * chunk));
    checksums = static_cast<unsigned long long*>(rt.alloc(max_jobs * 8));
    bytes_read = static_cast<unsigned long long*>(rt.alloc(8));
    error = static_cast<long long*>(rt.alloc(8));
    failed_job = static_cast<int*>(rt.alloc(sizeof(int)));
  }
  loader_workspace(const loader_workspace&) = delete;
  loader_workspace& operator=(const loader_workspace&) = delete;
  ~loader_workspace()
  {
    for (void* q : {(void*)job_mem, (void*)windows, (void*)checksums, (void*)bytes_read, (void*)error, (void*)failed_job})
      rt_.free(q);
  }
  // 4 MiB on a GPU, 256 KiB on the simulator, unless the options say.
  static std::uint64_t chunk_bytes(const load_options& o)
  {
    return o.chunk_bytes ? (o.chunk_bytes + 3) / 4 * 4 : (GSYS_CUDA ? 4u << 20 : 256u << 10);
  }

  gsys::runtime& rt_;
  const std::size_t max_jobs;
  const unsigned max_blocks;
  const std::uint64_t chunk;
  load_job* job_mem;
  char* windows;
  unsigned long long* checksums;
  unsigned long long* bytes_read;
  long long* error;
  int* failed_job;
};

// One loader launch: the files it reads, its jobs (a byte range of a file
// into fp32 device memory), then run(). Throws std::runtime_error naming the
// file (and tensor) on failure; closes its files either way.
class load_batch {
 public:
  explicit load_batch(load_options o) : o_(o), chunk_(loader_workspace::chunk_bytes(o)) {}
  load_batch(const load_batch&) = delete;
  load_batch& operator=(const load_batch&) = delete;
  ~load_batch()
  {
    for (int fd : fds_) ::close(fd);
  }

  int open(const std::string& path)
  {
    // O_NONBLOCK: a FIFO (an image a request names, say) must not block the
    // open for good; add_images refuses anything but a regular file. Then
    // cleared: io_uring may answer a read of an O_NONBLOCK file with EAGAIN.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw std::runtime_error(path + ": " + std::strerror(errno));
    fds_.push_back(fd);
    if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
      throw std::runtime_error(path + ": " + std::strerror(errno));
    return fd;
  }

  void add(int fd, dtype dt, std::uint64_t off, std::uint64_t bytes, float* dest, std::string name)
  {
    jobs_.push_back({fd, int(dt), off, bytes, dest, chunks_});
    names_.push_back(std::move(name));
    chunks_ += (bytes + chunk_ - 1) / chunk_;
  }

  // The checkpoint's tensors, in plan order, into m.t.
  void add_weights(const checkpoint& ck, const weight_plan& plan, const device_model& m)
  {
    std::vector<int> fds;
    for (const auto& f : ck.files) fds.push_back(open(f));
    for (std::size_t i = 0; i < plan.tensors.size(); ++i) {
      const tensor_info* t = plan.tensors[i];
      add(fds[t->file], t->dt, t->offset, t->bytes, m.t[i], ck.files[t->file] + ": tensor " + t->name);
    }
  }

  // The prompt's images, in order, into m.images (sized by alloc_images).
  void add_images(const config& c, const prompt& p, const device_model& m)
  {
    std::uint64_t row = 0;
    for (const auto& im : p.images) {
      const std::uint64_t want = std::uint64_t(im.tokens() * c.hidden) * dtype_bytes(im.dt);
      const int fd = open(im.file);
      std::uint64_t size = 0;
      if (std::string e = regular_file_size(fd, im.file, size); !e.empty()) throw std::runtime_error(e);
      if (size != want)
        throw std::runtime_error(im.file + ": expected " + std::to_string(want) + " bytes (" +
                                 std::to_string(im.tokens()) + " tokens x " + std::to_string(c.hidden) + " " +
                                 dtype_name(im.dt) + "), found " + std::to_string(size));
      add(fd, im.dt, 0, want, m.images.p + row * std::uint64_t(c.hidden), im.file);
      row += std::uint64_t(im.tokens());
    }
  }

  // Runs the loader on its own pinned memory, allocated for this batch.
  load_report run(gsys::runtime& rt)
  {
    loader_workspace ws(rt, jobs_.size(), wanted_blocks(), o_);
    return run(ws);
  }

  // Runs it in `ws` (made with the same chunk size). Throws when the batch
  // has more jobs than the workspace holds.
  load_report run(loader_workspace& ws)
  {
    if (jobs_.size() > ws.max_jobs)
      throw std::runtime_error(std::to_string(jobs_.size()) + " files to read: the loader takes at most " +
                               std::to_string(ws.max_jobs));
    if (ws.chunk != chunk_) throw std::logic_error("load_batch::run: the workspace has another chunk size");
    load_report r;
    r.chunks = chunks_;
    r.blocks = std::min(wanted_blocks(), ws.max_blocks);
    std::copy(jobs_.begin(), jobs_.end(), ws.job_mem);
    *ws.bytes_read = 0, *ws.error = 0, *ws.failed_job = 0;
    std::fill(ws.checksums, ws.checksums + jobs_.size(), 0ull);
    load_args a{};
    a.ring = ws.rt_.ring();
    a.jobs = ws.job_mem;
    a.njobs = int(jobs_.size());
    a.chunks = chunks_;
    a.chunk_bytes = chunk_;
    a.windows = ws.windows;
    a.checksums = ws.checksums;
    a.bytes_read = ws.bytes_read;
    a.error = ws.error;
    a.failed_job = ws.failed_job;
    const auto t0 = std::chrono::steady_clock::now();
    if (chunks_) {
      gsys::launch(load_kernel, dim3(r.blocks), dim3(256), a);
      gsys::synchronize(gsys::default_stream);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.bytes = *ws.bytes_read;
    r.checksums.assign(ws.checksums, ws.checksums + jobs_.size());
    if (const long long err = *ws.error)
      throw std::runtime_error(names_[std::size_t(*ws.failed_job)] + ": " +
                               (err == -EIO ? std::string("short read (truncated file?)") : std::strerror(int(-err))));
    return r;
  }

 private:
  // Each block holds one chunk-sized window of pinned memory: 64 blocks of
  // 4 MiB keep 64 preads in flight on a GPU without pinning gigabytes.
  unsigned wanted_blocks() const
  {
    return o_.blocks ? o_.blocks : std::min(launch_blocks((long long)chunks_), GSYS_CUDA ? 64u : 16u);
  }

  load_options o_;
  std::uint64_t chunk_;
  std::vector<int> fds_;
  std::vector<load_job> jobs_;
  std::vector<std::string> names_;
  std::uint64_t chunks_ = 0;
};

// Device memory for every tensor of the plan, laid out in plan order.
inline void alloc_weights(const weight_plan& plan, const config& c, device_model& m)
{
  m.c = c;
  std::uint64_t floats = 0;
  for (const tensor_info* t : plan.tensors) floats += std::uint64_t(t->numel());
  m.weights = device_array<float>(floats);
  m.t.clear();
  floats = 0;
  for (const tensor_info* t : plan.tensors) {
    m.t.push_back(m.weights.p + floats);
    floats += std::uint64_t(t->numel());
  }
}

// Device memory for the prompt's image embeddings, one after the other.
inline void alloc_images(const config& c, const prompt& p, device_model& m)
{
  std::uint64_t image_floats = 0;
  for (const auto& im : p.images) image_floats += std::uint64_t(im.tokens() * c.hidden);
  m.images = device_array<float>(std::max<std::uint64_t>(image_floats, 1));
}

// Weights and images in one loader launch (checksums: the weights in plan
// order, then the images).
inline load_report load_model(gsys::runtime& rt, const checkpoint& ck, const weight_plan& plan, const config& c,
                              const prompt& p, device_model& m, load_options o = {})
{
  alloc_weights(plan, c, m);
  alloc_images(c, p, m);
  load_batch b(o);
  b.add_weights(ck, plan, m);
  b.add_images(c, p, m);
  return b.run(rt);
}

// The weights alone (a server loads them once)...
inline load_report load_weights(gsys::runtime& rt, const checkpoint& ck, const weight_plan& plan, const config& c,
                                device_model& m, load_options o = {})
{
  alloc_weights(plan, c, m);
  load_batch b(o);
  b.add_weights(ck, plan, m);
  return b.run(rt);
}

// ...and each request's images into m.images, replacing the last request's
// (in the server's workspace when it gives one).
inline load_report load_images(gsys::runtime& rt, const prompt& p, device_model& m, load_options o = {},
                               loader_workspace* ws = nullptr)
{
  alloc_images(m.c, p, m);
  load_batch b(o);
  b.add_images(m.c, p, m);
  return ws ? b.run(*ws) : b.run(rt);
}

// ------------------------------------------------------------ the prompt on the device

struct device_prompt {
  std::int64_t S = 0;
  device_array<int> tokens;
  device_array<long long> image_row;  // row in device_model::images, or -1
  device_array<int> pos;              // 3 x S
  explicit device_prompt(const prompt& p) : S(p.size()), tokens(p.tokens.size()), image_row(p.tokens.size()), pos(p.pos.size())
  {
    tokens.upload(std::vector<int>(p.tokens.begin(), p.tokens.end()));
    std::vector<long long> rows(p.tokens.size(), -1);
    long long base = 0;
    for (std::size_t k = 0; k < p.images.size(); ++k) {
      for (long long j = 0; j < p.images[k].tokens(); ++j) rows[std::size_t(p.image_first[k] + j)] = base + j;
      base += p.images[k].tokens();
    }
    image_row.upload(rows);
    pos.upload(std::vector<int>(p.pos.begin(), p.pos.end()));
  }
};

// ------------------------------------------------------------ the forward pass

struct prefill_report {
  std::vector<float> logits;  // vocab
  std::vector<float> hidden;  // S x hidden after the last layer (when asked for)
  double embed_s = 0, attention_s = 0, mlp_s = 0, head_s = 0;  // attention: norm, qkv, rope, attention, o_proj
  double attn_kernel_s = 0;                                     // of which the attention kernel
  double total_s() const { return embed_s + attention_s + mlp_s + head_s; }
};

struct prefill_options {
  const unsigned char* block_mask = nullptr;  // device memory, [head][qtile][ktile]; nullptr: dense
  // BlindSight (device memory): head categories, layers x heads (0 dense,
  // blindsight.h's head_category), and the prompt's tile lists.
  const unsigned char* head_cat = nullptr;
  const int* tile_ptr = nullptr;
  const int* tile_cols = nullptr;
  // BlindSight calibration (device memory): per token its role and image
  // (blindsight.h's token_roles), and where each layer's attention masses go:
  // layers x heads x nT x (kMassClasses + 1) floats (attention_mass_kernel).
  const unsigned char* roles = nullptr;
  const int* role_image = nullptr;
  float* mass_out = nullptr;
  bool keep_hidden = false;
  // Device memory for the logits (vocab floats) that outlives the call, for
  // a kernel that works on them next (the server's reply kernel).
  float* device_logits = nullptr;
  // Called after each layer with (layer, layers, seconds so far).
  std::function<void(int, int, double)> progress;
};

inline prefill_report run_prefill(const device_model& m, const device_prompt& dp, const prefill_options& o = {})
{
  const config& c = m.c;
  const int S = int(dp.S), H = int(c.hidden), QD = int(c.q_dim()), KD = int(c.kv_dim()), F = int(c.ffn);
  const int V = int(c.vocab), D = int(c.head_dim());
  device_array<float> x(std::size_t(S) * H), h(std::size_t(S) * H), q(std::size_t(S) * QD), k(std::size_t(S) * KD),
      v(std::size_t(S) * KD), att(std::size_t(S) * QD), g(std::size_t(S) * F), u(std::size_t(S) * F), last(H);
  device_array<float> logits;  // unless the caller's device memory takes them
  if (!o.device_logits) logits = device_array<float>(std::size_t(V));
  float* const out_logits = o.device_logits ? o.device_logits : logits.p;
  prefill_report r;
  using clock = std::chrono::steady_clock;
  auto secs = [](clock::time_point a) { return std::chrono::duration<double>(clock::now() - a).count(); };
  const auto start = clock::now();
  auto mm = [&](const float* A, const float* W, const float* bias, float* C, int M, int N, int K, int acc) {
    const long long tiles = (long long)((M + kMmTile - 1) / kMmTile) * ((N + kMmTile - 1) / kMmTile);
    gsys::launch(matmul_kernel, dim3(launch_blocks(tiles)), dim3(kMmThreads), A, W, bias, C, M, N, K, acc);
  };
  auto t0 = clock::now();
  gsys::launch(embed_kernel, dim3(launch_blocks(S)), dim3(128), (const int*)dp.tokens.p,
               (const long long*)dp.image_row.p, (const float*)m.t[0], (const float*)m.images.p, x.p, S, H);
  gsys::synchronize(gsys::default_stream);
  r.embed_s = secs(t0);
  const unsigned norm_threads = H >= 256 ? 256 : 64;
  for (int l = 0; l < c.layers; ++l) {
    t0 = clock::now();
    gsys::launch(rmsnorm_kernel, dim3(launch_blocks(S)), dim3(norm_threads), (const float*)x.p,
                 m.layer(l, kInputNorm), h.p, S, H, float(c.rms_eps));
    mm(h.p, m.layer(l, kQ), m.layer(l, kQBias), q.p, S, QD, H, 0);
    mm(h.p, m.layer(l, kK), m.layer(l, kKBias), k.p, S, KD, H, 0);
    mm(h.p, m.layer(l, kV), m.layer(l, kVBias), v.p, S, KD, H, 0);
    rope_args ra{q.p, k.p, dp.pos.p, S, int(c.heads), int(c.kv_heads), D, int(c.mrope_section[0]),
                 int(c.mrope_section[1]), float(c.rope_theta)};
    const long long pairs = (long long)S * (c.heads + c.kv_heads) * (D / 2);
    gsys::launch(rope_kernel, dim3(launch_blocks((pairs + 255) / 256)), dim3(256), ra);
    gsys::synchronize(gsys::default_stream);
    if (o.mass_out) {
      const int nT = (S + 31) / 32;
      mass_args ma{q.p, k.p, S, int(c.heads), int(c.kv_heads), D, 1.0f / std::sqrt(float(D)), o.roles, o.role_image,
                   o.mass_out + (long long)l * c.heads * nT * (kMassClasses + 1)};
      gsys::launch(attention_mass_kernel, dim3(launch_blocks((long long)c.heads * nT)), dim3(32), ma);
      gsys::synchronize(gsys::default_stream);
    }
    const auto ta = clock::now();
    attention_args aa{q.p, k.p, v.p, att.p, S, int(c.heads), int(c.kv_heads), D, 1.0f / std::sqrt(float(D)),
                      o.block_mask, o.head_cat ? o.head_cat + (long long)l * c.heads : nullptr, o.tile_ptr,
                      o.tile_cols};
    const long long items = (long long)c.heads * ((S + kAttnTileQ - 1) / kAttnTileQ);
    gsys::launch(attention_kernel, dim3(launch_blocks(items)), dim3(kAttnThreads), aa);
    gsys::synchronize(gsys::default_stream);
    r.attn_kernel_s += secs(ta);
    mm(att.p, m.layer(l, kO), nullptr, x.p, S, H, QD, 1);
    gsys::synchronize(gsys::default_stream);
    r.attention_s += secs(t0);

    t0 = clock::now();
    gsys::launch(rmsnorm_kernel, dim3(launch_blocks(S)), dim3(norm_threads), (const float*)x.p,
                 m.layer(l, kPostNorm), h.p, S, H, float(c.rms_eps));
    mm(h.p, m.layer(l, kGate), nullptr, g.p, S, F, H, 0);
    mm(h.p, m.layer(l, kUp), nullptr, u.p, S, F, H, 0);
    const long long n = (long long)S * F;
    gsys::launch(swiglu_kernel, dim3(launch_blocks((n + 255) / 256)), dim3(256), g.p, (const float*)u.p, n);
    mm(g.p, m.layer(l, kDown), nullptr, x.p, S, H, F, 1);
    gsys::synchronize(gsys::default_stream);
    r.mlp_s += secs(t0);
    if (o.progress) o.progress(l + 1, int(c.layers), secs(start));
  }
  t0 = clock::now();
  gsys::launch(rmsnorm_kernel, dim3(1), dim3(norm_threads), (const float*)(x.p + (long long)(S - 1) * H),
               (const float*)m.t[final_norm_index(c)], last.p, 1, H, float(c.rms_eps));
  gsys::launch(logits_kernel, dim3(launch_blocks((V + 7) / 8)), dim3(256), (const float*)last.p,
               (const float*)m.t[lm_head_index(c)], out_logits, V, H);
  gsys::synchronize(gsys::default_stream);
  r.head_s = secs(t0);
  r.logits.resize(std::size_t(V));
  copy_to_host(r.logits.data(), out_logits, r.logits.size() * sizeof(float));
  if (o.keep_hidden) r.hidden = x.download();
  return r;
}

// The k largest logits, largest first (ties: lower id first).
inline std::vector<std::pair<int, float>> top_k(const std::vector<float>& logits, int k)
{
  std::vector<int> ids(logits.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = int(i);
  k = std::min<int>(k, int(ids.size()));
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int a, int b) {
    return logits[std::size_t(a)] > logits[std::size_t(b)] || (logits[std::size_t(a)] == logits[std::size_t(b)] && a < b);
  });
  std::vector<std::pair<int, float>> out;
  for (int i = 0; i < k; ++i) out.emplace_back(ids[std::size_t(i)], logits[std::size_t(ids[std::size_t(i)])]);
  return out;
}

}  // namespace vlm
