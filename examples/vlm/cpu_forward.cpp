#include "vlm/cpu_forward.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

namespace vlm {

namespace {

unsigned worker_count(unsigned threads)
{
  return threads ? threads : std::max(1u, std::thread::hardware_concurrency());
}

// Runs fn(worker) on `threads` workers (the caller is worker 0).
template <class F>
void run_workers(unsigned threads, F&& fn)
{
  std::vector<std::thread> pool;
  for (unsigned w = 1; w < threads; ++w) pool.emplace_back([&fn, w] { fn(w); });
  fn(0u);
  for (auto& t : pool) t.join();
}

// C[M x N] (+)= A[M x K] . W[N x K]^T (+ bias). W is transposed once so the
// inner loop runs along a row of C: blocks of 8 rows x 256 columns.
void matmul(const float* A, const float* W, const float* bias, float* C, std::int64_t M, std::int64_t N,
            std::int64_t K, bool accumulate, unsigned threads)
{
  if (M < 8) {  // a few rows (the LM head of the last token): dot products, no transposed copy of W
    std::atomic<std::int64_t> next{0};
    run_workers(threads, [&](unsigned) {
      for (std::int64_t n0; (n0 = next.fetch_add(256)) < N;)
        for (std::int64_t m = 0; m < M; ++m)
          for (std::int64_t n = n0; n < std::min(N, n0 + 256); ++n) {
            float s = bias ? bias[n] : 0.0f;
            for (std::int64_t k = 0; k < K; ++k) s += A[m * K + k] * W[n * K + k];
            C[m * N + n] = accumulate ? C[m * N + n] + s : s;
          }
    });
    return;
  }
  std::vector<float> Wt(std::size_t(K * N));
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t k = 0; k < K; ++k) Wt[std::size_t(k * N + n)] = W[n * K + k];
  constexpr std::int64_t RB = 8, NB = 256;
  const std::int64_t row_blocks = (M + RB - 1) / RB;
  std::atomic<std::int64_t> next{0};
  run_workers(threads, [&](unsigned) {
    alignas(64) float acc[RB][NB];
    for (std::int64_t rb; (rb = next.fetch_add(1)) < row_blocks;) {
      const std::int64_t m0 = rb * RB, rows = std::min(RB, M - m0);
      for (std::int64_t n0 = 0; n0 < N; n0 += NB) {
        const std::int64_t cols = std::min(NB, N - n0);
        for (std::int64_t r = 0; r < RB; ++r)
          for (std::int64_t n = 0; n < NB; ++n) acc[r][n] = 0;
        for (std::int64_t k = 0; k < K; ++k) {
          const float* w = &Wt[std::size_t(k * N + n0)];
          for (std::int64_t r = 0; r < rows; ++r) {
            const float a = A[(m0 + r) * K + k];
            float* c = acc[r];
            for (std::int64_t n = 0; n < cols; ++n) c[n] += a * w[n];
          }
        }
        for (std::int64_t r = 0; r < rows; ++r) {
          float* c = C + (m0 + r) * N + n0;
          for (std::int64_t n = 0; n < cols; ++n) {
            const float v = acc[r][n] + (bias ? bias[n0 + n] : 0.0f);
            c[n] = accumulate ? c[n] + v : v;
          }
        }
      }
    }
  });
}

void rmsnorm_rows(const float* x, const float* w, float* out, std::int64_t rows, std::int64_t H, double eps)
{
  for (std::int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (std::int64_t d = 0; d < H; ++d) ss += double(x[r * H + d]) * x[r * H + d];
    const float inv = float(1.0 / std::sqrt(ss / double(H) + eps));
    for (std::int64_t d = 0; d < H; ++d) out[r * H + d] = x[r * H + d] * inv * w[d];
  }
}

void rope(float* v, std::int64_t S, int nheads, int D, const config& c, const prompt& p)
{
  const int half = D / 2;
  std::vector<double> inv(static_cast<std::size_t>(half));
  for (int j = 0; j < half; ++j) inv[std::size_t(j)] = std::pow(c.rope_theta, -2.0 * double(j) / double(D));
  for (std::int64_t i = 0; i < S; ++i)
    for (int j = 0; j < half; ++j) {
      const int comp = j < c.mrope_section[0] ? 0 : (j < c.mrope_section[0] + c.mrope_section[1] ? 1 : 2);
      const double a = double(p.pos[std::size_t(comp * S + i)]) * inv[std::size_t(j)];
      const float cs = float(std::cos(a)), sn = float(std::sin(a));
      for (int h = 0; h < nheads; ++h) {
        float* x = v + (i * nheads + h) * D;
        const float x0 = x[j], x1 = x[j + half];
        x[j] = x0 * cs - x1 * sn;
        x[j + half] = x1 * cs + x0 * sn;
      }
    }
}

}  // namespace

void cpu_attention(const float* q, const float* k, const float* v, float* out, std::int64_t S, int heads,
                   int kv_heads, int D, const tile_lists* tiles, const head_category* cats, unsigned threads)
{
  constexpr std::int64_t T = kAttnTile;
  const std::int64_t nT = (S + T - 1) / T, Sp = nT * T;
  const int group = heads / kv_heads;
  const float scale = 1.0f / std::sqrt(float(D));
  threads = worker_count(threads);
  // K transposed per KV head (D x Sp, zero-padded), so a tile's scores are
  // 32-wide contiguous multiply-adds.
  std::vector<float> Kt(std::size_t(kv_heads) * std::size_t(D) * std::size_t(Sp), 0.0f);
  for (std::int64_t j = 0; j < S; ++j)
    for (int kh = 0; kh < kv_heads; ++kh)
      for (int d = 0; d < D; ++d) Kt[(std::size_t(kh) * D + d) * std::size_t(Sp) + std::size_t(j)] = k[(j * kv_heads + kh) * D + d];
  std::atomic<std::int64_t> next{0};
  run_workers(threads, [&](unsigned) {
    alignas(64) float s[T][T];
    std::vector<float> acc(std::size_t(T * D)), zeros(std::size_t(D), 0.0f);
    float m[T], l[T];
    for (std::int64_t item; (item = next.fetch_add(1)) < heads * nT;) {
      // Longest query tiles first.
      const int h = int(item % heads), kh = h / group;
      const std::int64_t qt = nT - 1 - item / heads, q0 = qt * T, rows = std::min(T, S - q0);
      const bool sparse = tiles && cats && cats[h] != head_category::dense;
      const std::int32_t* list = sparse ? tiles->begin(cats[h], qt) : nullptr;
      const std::int64_t count = sparse ? tiles->end(cats[h], qt) - list : qt + 1;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int r = 0; r < T; ++r) m[r] = -std::numeric_limits<float>::infinity(), l[r] = 0;
      // Rows in groups of 4 share each K and V load (register blocking);
      // rows past the end of the sequence read a zero query and are dropped.
      const float* qrow[T];
      for (std::int64_t r = 0; r < T; ++r) qrow[r] = r < rows ? q + ((q0 + r) * heads + h) * D : zeros.data();
      for (std::int64_t it = 0; it < count; ++it) {
        const std::int64_t kt = list ? list[it] : it, k0 = kt * T, kn = std::min(T, S - k0);
        const float* kb = &Kt[std::size_t(kh) * D * std::size_t(Sp) + std::size_t(k0)];
        for (std::int64_t r0 = 0; r0 < rows; r0 += 4) {
          float *s0 = s[r0], *s1 = s[r0 + 1], *s2 = s[r0 + 2], *s3 = s[r0 + 3];
          for (int j = 0; j < T; ++j) s0[j] = s1[j] = s2[j] = s3[j] = 0;
          for (int d = 0; d < D; ++d) {
            const float a0 = qrow[r0][d] * scale, a1 = qrow[r0 + 1][d] * scale, a2 = qrow[r0 + 2][d] * scale,
                        a3 = qrow[r0 + 3][d] * scale;
            const float* kd = kb + std::size_t(d) * std::size_t(Sp);
            for (int j = 0; j < T; ++j) {
              const float kv = kd[j];
              s0[j] += a0 * kv, s1[j] += a1 * kv, s2[j] += a2 * kv, s3[j] += a3 * kv;
            }
          }
        }
        for (std::int64_t r = 0; r < rows; ++r) {
          float* sr = s[r];
          if (kt == qt || k0 + T > S)  // causal inside the diagonal tile; padding
            for (int j = 0; j < T; ++j)
              if (k0 + j > q0 + r || k0 + j >= S) sr[j] = -std::numeric_limits<float>::infinity();
          float mt = m[r];
          for (int j = 0; j < T; ++j) mt = std::max(mt, sr[j]);
          const float alpha = std::exp(m[r] - mt);  // m = -inf the first time: 0
          float sum = 0;
          for (int j = 0; j < T; ++j) {
            sr[j] = std::exp(sr[j] - mt);
            sum += sr[j];
          }
          l[r] = l[r] * alpha + sum;
          m[r] = mt;
          float* o = &acc[std::size_t(r * D)];
          for (int d = 0; d < D; ++d) o[d] *= alpha;
        }
        for (std::int64_t r = rows; r < ((rows + 3) & ~std::int64_t(3)); ++r)
          for (int j = 0; j < T; ++j) s[r][j] = 0;
        for (std::int64_t r0 = 0; r0 < rows; r0 += 4) {
          float *o0 = &acc[std::size_t(r0 * D)], *o1 = o0 + D, *o2 = o1 + D, *o3 = o2 + D;
          for (std::int64_t j = 0; j < kn; ++j) {
            const float p0 = s[r0][j], p1 = s[r0 + 1][j], p2 = s[r0 + 2][j], p3 = s[r0 + 3][j];
            const float* vr = v + ((k0 + j) * kv_heads + kh) * D;
            for (int d = 0; d < D; ++d) {
              const float x = vr[d];
              o0[d] += p0 * x, o1[d] += p1 * x, o2[d] += p2 * x, o3[d] += p3 * x;
            }
          }
        }
      }
      for (std::int64_t r = 0; r < rows; ++r) {
        const float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
        float* dst = out + ((q0 + r) * heads + h) * D;
        for (int d = 0; d < D; ++d) dst[d] = acc[std::size_t(r * D + d)] * inv;
      }
    }
  });
}

cpu_output cpu_forward(const host_weights& w, const prompt& p, const std::vector<std::vector<float>>& images,
                       const cpu_forward_options& o)
{
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const config& c = w.c;
  const std::int64_t S = p.size(), H = c.hidden, QD = c.q_dim(), KD = c.kv_dim(), F = c.ffn;
  const int D = int(c.head_dim()), heads = int(c.heads), kvh = int(c.kv_heads);
  const unsigned threads = worker_count(o.threads);
  std::vector<float> x(std::size_t(S * H)), h(x.size()), q(std::size_t(S * QD)), k(std::size_t(S * KD)),
      v(std::size_t(S * KD)), a(std::size_t(S * QD)), g(std::size_t(S * F)), u(std::size_t(S * F));
  for (std::int64_t i = 0; i < S; ++i) {
    const token_tag t = p.tags[std::size_t(i)];
    const float* src = t.kind == tag_kind::image ? &images[t.image][std::size_t((i - p.image_first[t.image]) * H)]
                                                 : &w.t[0][std::size_t(std::int64_t(p.tokens[std::size_t(i)]) * H)];
    std::copy(src, src + H, &x[std::size_t(i * H)]);
  }
  cpu_output out;
  if (o.mass) o.mass->assign(std::size_t(c.layers * heads), head_mass{});
  for (int l = 0; l < c.layers; ++l) {
    rmsnorm_rows(x.data(), w.layer(l, kInputNorm).data(), h.data(), S, H, c.rms_eps);
    matmul(h.data(), w.layer(l, kQ).data(), w.layer(l, kQBias).data(), q.data(), S, QD, H, false, threads);
    matmul(h.data(), w.layer(l, kK).data(), w.layer(l, kKBias).data(), k.data(), S, KD, H, false, threads);
    matmul(h.data(), w.layer(l, kV).data(), w.layer(l, kVBias).data(), v.data(), S, KD, H, false, threads);
    rope(q.data(), S, heads, D, c, p);
    rope(k.data(), S, kvh, D, c, p);
    if (o.mass && o.roles)
      attention_mass(q.data(), k.data(), S, heads, kvh, D, *o.roles, o.mass->data() + std::size_t(l * heads), threads);
    const auto ta = clock::now();
    const head_category* cats = o.cats && o.tiles ? o.cats->data() + std::size_t(l * heads) : nullptr;
    cpu_attention(q.data(), k.data(), v.data(), a.data(), S, heads, kvh, D, o.tiles, cats, threads);
    out.attention_s += std::chrono::duration<double>(clock::now() - ta).count();
    matmul(a.data(), w.layer(l, kO).data(), nullptr, x.data(), S, H, QD, true, threads);
    rmsnorm_rows(x.data(), w.layer(l, kPostNorm).data(), h.data(), S, H, c.rms_eps);
    matmul(h.data(), w.layer(l, kGate).data(), nullptr, g.data(), S, F, H, false, threads);
    matmul(h.data(), w.layer(l, kUp).data(), nullptr, u.data(), S, F, H, false, threads);
    for (std::size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
    matmul(g.data(), w.layer(l, kDown).data(), nullptr, x.data(), S, H, F, true, threads);
  }
  const std::int64_t first = o.all_logits ? 0 : S - 1, rows = S - first;
  std::vector<float> last(std::size_t(rows * H));
  rmsnorm_rows(&x[std::size_t(first * H)], w.t[final_norm_index(c)].data(), last.data(), rows, H, c.rms_eps);
  out.logits.assign(std::size_t(rows * c.vocab), 0.0f);
  matmul(last.data(), w.t[lm_head_index(c)].data(), nullptr, out.logits.data(), rows, c.vocab, H, false, threads);
  if (o.keep_hidden) out.hidden = std::move(x);
  out.total_s = std::chrono::duration<double>(clock::now() - start).count();
  return out;
}

}  // namespace vlm
