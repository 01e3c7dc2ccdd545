#include "vlm/reference.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>

#include "vlm/numeric.h"

namespace vlm {

std::string load_host_weights(const checkpoint& ck, const weight_plan& plan, const config& c, host_weights& out)
{
  out.c = c;
  out.t.clear();
  for (const tensor_info* t : plan.tensors) {
    out.t.emplace_back();
    if (std::string e = read_tensor_f32(ck, *t, out.t.back()); !e.empty()) return e;
  }
  return "";
}

std::string load_image_embeddings(const image_input& im, std::int64_t hidden, std::vector<float>& out)
{
  const std::uint64_t want = std::uint64_t(im.tokens() * hidden) * dtype_bytes(im.dt);
  // O_NONBLOCK: a FIFO is refused below (not a regular file), not waited on.
  const int fd = ::open(im.file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return im.file + ": " + std::strerror(errno);
  std::uint64_t size = 0;
  if (std::string e = regular_file_size(fd, im.file, size); !e.empty()) {
    ::close(fd);
    return e;
  }
  if (size != want) {
    ::close(fd);
    return im.file + ": expected " + std::to_string(want) + " bytes (" + std::to_string(im.tokens()) + " tokens x " +
           std::to_string(hidden) + " " + dtype_name(im.dt) + "), found " + std::to_string(size);
  }
  std::vector<unsigned char> raw;
  try {
    raw.resize(want);
    out.resize(want / dtype_bytes(im.dt));
  } catch (const std::bad_alloc&) {
    ::close(fd);
    return im.file + ": " + std::to_string(want) + " bytes of embeddings do not fit in memory";
  }
  std::uint64_t got = 0;
  while (got < want) {
    const ssize_t n = ::pread(fd, raw.data() + got, want - got, off_t(got));
    if (n <= 0) {
      ::close(fd);
      return im.file + ": read failed";
    }
    got += std::uint64_t(n);
  }
  ::close(fd);
  const std::uint64_t n = want / dtype_bytes(im.dt);
  for (std::uint64_t i = 0; i < n; ++i) {
    if (im.dt == dtype::f32) {
      std::memcpy(&out[i], &raw[4 * i], 4);
    } else {
      std::uint16_t h;
      std::memcpy(&h, &raw[2 * i], 2);
      out[i] = im.dt == dtype::bf16 ? bf16_to_float(h) : f16_to_float(h);
    }
  }
  return "";
}

std::string write_image_embeddings(const std::string& path, std::int64_t tokens, std::int64_t hidden, dtype dt,
                                   std::uint64_t seed)
{
  const std::uint64_t n = std::uint64_t(tokens * hidden);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return path + ": " + std::strerror(errno);
  // 1 Mi values at a time: an image of 2^24 tokens x 1536 needs no 100 GB buffer.
  std::vector<unsigned char> raw;
  for (std::uint64_t first = 0; first < n;) {
    const std::uint64_t m = std::min<std::uint64_t>(n - first, 1u << 20);
    raw.resize(m * dtype_bytes(dt));
    for (std::uint64_t k = 0; k < m; ++k) {
      const std::uint64_t i = first + k;
      const float v = float((checksum_term(i, std::uint32_t(seed)) ^ seed) >> 40) / float(1 << 23) - 1.0f;
      if (dt == dtype::f32) {
        std::memcpy(&raw[4 * k], &v, 4);
      } else {
        const std::uint16_t h = dt == dtype::bf16 ? float_to_bf16(v) : float_to_f16(v);
        std::memcpy(&raw[2 * k], &h, 2);
      }
    }
    std::uint64_t done = 0;
    while (done < raw.size()) {
      const ssize_t w = ::write(fd, raw.data() + done, raw.size() - done);
      if (w <= 0) {
        const int e = w < 0 ? errno : ENOSPC;
        ::close(fd);
        return path + ": " + std::strerror(e);
      }
      done += std::uint64_t(w);
    }
    first += m;
  }
  return ::close(fd) == 0 ? "" : path + ": " + std::strerror(errno);
}

namespace {

using vec = std::vector<double>;

void rmsnorm(const double* x, const std::vector<float>& w, double eps, std::int64_t H, double* out)
{
  double ss = 0;
  for (std::int64_t i = 0; i < H; ++i) ss += x[i] * x[i];
  const double r = 1.0 / std::sqrt(ss / double(H) + eps);
  for (std::int64_t i = 0; i < H; ++i) out[i] = x[i] * r * double(w[std::size_t(i)]);
}

// out[S x N] = in[S x K] . W[N x K]^T (+ bias)
void linear(const vec& in, std::int64_t S, std::int64_t K, const std::vector<float>& W, const std::vector<float>* bias,
            std::int64_t N, vec& out)
{
  out.assign(std::size_t(S * N), 0.0);
  for (std::int64_t s = 0; s < S; ++s)
    for (std::int64_t n = 0; n < N; ++n) {
      double a = bias ? double((*bias)[std::size_t(n)]) : 0.0;
      const double* x = &in[std::size_t(s * K)];
      const float* w = &W[std::size_t(n * K)];
      for (std::int64_t k = 0; k < K; ++k) a += x[k] * double(w[k]);
      out[std::size_t(s * N + n)] = a;
    }
}

// Qwen2-VL M-RoPE on one head vector of D values at token i.
void rope(double* v, std::int64_t D, const config& c, const prompt& p, std::int64_t i)
{
  const std::int64_t S = p.size(), half = D / 2;
  for (std::int64_t j = 0; j < half; ++j) {
    const int comp = j < c.mrope_section[0] ? 0 : (j < c.mrope_section[0] + c.mrope_section[1] ? 1 : 2);
    const double inv = std::pow(c.rope_theta, -2.0 * double(j) / double(D));
    const double a = double(p.pos[std::size_t(comp * S + i)]) * inv;
    const double x0 = v[j], x1 = v[j + half];
    v[j] = x0 * std::cos(a) - x1 * std::sin(a);
    v[j + half] = x1 * std::cos(a) + x0 * std::sin(a);
  }
}

}  // namespace

reference_output reference_forward(const host_weights& w, const prompt& p, const std::vector<std::vector<float>>& images,
                                   const std::uint8_t* layer0_mask, std::size_t mask_layer_stride)
{
  const config& c = w.c;
  const std::int64_t S = p.size(), H = c.hidden, D = c.head_dim(), QD = c.q_dim(), KD = c.kv_dim(), F = c.ffn;
  const std::int64_t nT = (S + kAttnTile - 1) / kAttnTile, group = c.heads / c.kv_heads;
  vec x(std::size_t(S * H));
  for (std::int64_t i = 0; i < S; ++i) {
    const token_tag t = p.tags[std::size_t(i)];
    for (std::int64_t d = 0; d < H; ++d) {
      double v;
      if (t.kind == tag_kind::image)
        v = images[t.image][std::size_t((i - p.image_first[t.image]) * H + d)];
      else
        v = w.t[0][std::size_t(std::int64_t(p.tokens[std::size_t(i)]) * H + d)];
      x[std::size_t(i * H + d)] = v;
    }
  }
  vec h(x.size()), q, k, v, a(std::size_t(S * QD)), o, g, u;
  for (int l = 0; l < c.layers; ++l) {
    const std::uint8_t* block_mask = layer0_mask ? layer0_mask + std::size_t(l) * mask_layer_stride : nullptr;
    for (std::int64_t i = 0; i < S; ++i) rmsnorm(&x[std::size_t(i * H)], w.layer(l, kInputNorm), c.rms_eps, H, &h[std::size_t(i * H)]);
    linear(h, S, H, w.layer(l, kQ), &w.layer(l, kQBias), QD, q);
    linear(h, S, H, w.layer(l, kK), &w.layer(l, kKBias), KD, k);
    linear(h, S, H, w.layer(l, kV), &w.layer(l, kVBias), KD, v);
    for (std::int64_t i = 0; i < S; ++i) {
      for (std::int64_t hh = 0; hh < c.heads; ++hh) rope(&q[std::size_t(i * QD + hh * D)], D, c, p, i);
      for (std::int64_t hh = 0; hh < c.kv_heads; ++hh) rope(&k[std::size_t(i * KD + hh * D)], D, c, p, i);
    }
    const double scale = 1.0 / std::sqrt(double(D));
    std::vector<double> sc(static_cast<std::size_t>(S));
    for (std::int64_t hh = 0; hh < c.heads; ++hh) {
      const std::int64_t kh = hh / group;
      for (std::int64_t i = 0; i < S; ++i) {
        double m = -std::numeric_limits<double>::infinity();
        for (std::int64_t j = 0; j <= i; ++j) {
          const bool on = !block_mask || block_mask[std::size_t((hh * nT + i / kAttnTile) * nT + j / kAttnTile)];
          double s = -std::numeric_limits<double>::infinity();
          if (on) {
            s = 0;
            for (std::int64_t d = 0; d < D; ++d) s += q[std::size_t(i * QD + hh * D + d)] * k[std::size_t(j * KD + kh * D + d)];
            s *= scale;
          }
          sc[std::size_t(j)] = s;
          m = std::max(m, s);
        }
        double sum = 0;
        for (std::int64_t j = 0; j <= i; ++j) {
          sc[std::size_t(j)] = std::isinf(m) ? 0.0 : std::exp(sc[std::size_t(j)] - m);
          sum += sc[std::size_t(j)];
        }
        for (std::int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (std::int64_t j = 0; j <= i; ++j) acc += sc[std::size_t(j)] * v[std::size_t(j * KD + kh * D + d)];
          a[std::size_t(i * QD + hh * D + d)] = sum > 0 ? acc / sum : 0.0;
        }
      }
    }
    linear(a, S, QD, w.layer(l, kO), nullptr, H, o);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    for (std::int64_t i = 0; i < S; ++i) rmsnorm(&x[std::size_t(i * H)], w.layer(l, kPostNorm), c.rms_eps, H, &h[std::size_t(i * H)]);
    linear(h, S, H, w.layer(l, kGate), nullptr, F, g);
    linear(h, S, H, w.layer(l, kUp), nullptr, F, u);
    for (std::size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
    linear(g, S, F, w.layer(l, kDown), nullptr, H, o);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += o[i];
  }
  reference_output r;
  r.hidden = x;
  vec last(static_cast<std::size_t>(H));
  rmsnorm(&x[std::size_t((S - 1) * H)], w.t[final_norm_index(c)], c.rms_eps, H, last.data());
  const std::vector<float>& head = w.t[lm_head_index(c)];
  r.logits.assign(std::size_t(c.vocab), 0.0);
  for (std::int64_t n = 0; n < c.vocab; ++n) {
    double s = 0;
    for (std::int64_t d = 0; d < H; ++d) s += last[std::size_t(d)] * double(head[std::size_t(n * H + d)]);
    r.logits[std::size_t(n)] = s;
  }
  return r;
}

flop_count prefill_flops(const config& c, std::int64_t S)
{
  flop_count f;
  const double s = double(S), H = double(c.hidden), Q = double(c.q_dim()), K = double(c.kv_dim()), F = double(c.ffn);
  f.matmul = double(c.layers) * 2.0 * s * (H * Q + 2 * H * K + Q * H + 3 * H * F);
  // causal: about half of S x S scores, QK^T and PV each 2 * D per pair
  f.attention = double(c.layers) * double(c.heads) * 2.0 * 2.0 * double(c.head_dim()) * s * (s + 1) / 2.0;
  f.lm_head = 2.0 * H * double(c.vocab);
  return f;
}

}  // namespace vlm
