// The decoder's GPU kernels, fp32 throughout. The same source runs on the
// SIMT simulator, so every kernel takes whatever grid it is given and loops
// its blocks over the work (a grid of a few blocks per core there, a few
// per SM on a GPU; see launch_blocks()).
//
//   embed_kernel       token embeddings, image rows replaced by the image's embeddings
//   rmsnorm_kernel     out = x / rms(x) * w, one row per block iteration
//   matmul_kernel      C (+)= A . W^T + bias: shared-memory tiles of 64 x 64, k-steps of 32
//   rope_kernel        Qwen2-VL M-RoPE on q and k in place
//   attention_kernel   causal GQA attention, FlashAttention-style: tiles of
//                      32 queries x 32 keys, online softmax, optional block mask
//                      or per-head BlindSight tile lists
//   attention_mass_kernel  BlindSight calibration: image queries' attention mass per key class
//   swiglu_kernel      g = silu(g) * u
//   logits_kernel      one warp per vocabulary row: logits = W . x
#pragma once

#include <genesys.cuh>

#include <math.h>

namespace vlm {

using i64 = long long;

// ---------------------------------------------------------------- embed

// x[i] = image row image_row[i] of `images` when >= 0, else emb[tokens[i]].
__global__ void embed_kernel(const int* tokens, const long long* image_row, const float* emb, const float* images,
                             float* x, int S, int H)
{
  for (int i = blockIdx.x; i < S; i += gridDim.x) {
    const float* src = image_row[i] >= 0 ? images + image_row[i] * (i64)H : emb + (i64)tokens[i] * H;
    for (int d = threadIdx.x; d < H; d += blockDim.x) x[(i64)i * H + d] = src[d];
  }
}

// ---------------------------------------------------------------- rmsnorm

// Block-wide sum; every thread gets it. blockDim.x a multiple of 32, <= 1024.
__device__ inline float block_sum_f(float v)
{
  __shared__ float part[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) part[warp] = v;
  __syncthreads();
  float s = 0;
  for (int w = 0; w < (int)(blockDim.x >> 5); ++w) s += part[w];
  __syncthreads();  // part is reused by the next call
  return s;
}

__global__ void rmsnorm_kernel(const float* x, const float* w, float* out, int rows, int H, float eps)
{
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + (i64)r * H;
    float ss = 0;
    for (int d = threadIdx.x; d < H; d += blockDim.x) ss += xr[d] * xr[d];
    const float inv = rsqrtf(block_sum_f(ss) / (float)H + eps);
    for (int d = threadIdx.x; d < H; d += blockDim.x) out[(i64)r * H + d] = xr[d] * inv * w[d];
  }
}

// ---------------------------------------------------------------- matmul

constexpr int kMmTile = 64;     // rows and columns of C per block tile
constexpr int kMmK = 32;        // k-step
constexpr int kMmThreads = 256; // 16 x 16 threads, each 4 x 4 outputs

// C[M x N] = A[M x K] . W[N x K]^T (+ bias[N]) (+ C when accumulate): a
// PyTorch Linear (W is [out, in]); accumulate adds the residual in place.
// Launched with kMmThreads threads; blocks take output tiles in turn.
__global__ void __launch_bounds__(kMmThreads) matmul_kernel(const float* A, const float* W, const float* bias,
                                                            float* C, int M, int N, int K, int accumulate)
{
  // k-major, so the inner loop reads a row of 4 strided values of each
  // (+1 pads the rows apart in the banks when the tile is stored)
  __shared__ float As[kMmK][kMmTile + 1];
  __shared__ float Ws[kMmK][kMmTile + 1];
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int tiles_m = (M + kMmTile - 1) / kMmTile, tiles_n = (N + kMmTile - 1) / kMmTile;
  for (int tile = blockIdx.x; tile < tiles_m * tiles_n; tile += gridDim.x) {
    const int m0 = (tile / tiles_n) * kMmTile, n0 = (tile % tiles_n) * kMmTile;
    float acc[4][4] = {};
    for (int k0 = 0; k0 < K; k0 += kMmK) {
      // Coalesced loads: consecutive threads read consecutive k of a row.
      for (int e = tid; e < kMmTile * kMmK; e += kMmThreads) {
        const int r = e / kMmK, k = e % kMmK;
        const int gm = m0 + r, gn = n0 + r, gk = k0 + k;
        As[k][r] = (gm < M && gk < K) ? A[(i64)gm * K + gk] : 0.0f;
        Ws[k][r] = (gn < N && gk < K) ? W[(i64)gn * K + gk] : 0.0f;
      }
      __syncthreads();
#if defined(__CUDACC__)
#pragma unroll 4
#endif
      for (int k = 0; k < kMmK; ++k) {
        float a[4], b[4];
        for (int i = 0; i < 4; ++i) a[i] = As[k][ty + 16 * i];
        for (int j = 0; j < 4; ++j) b[j] = Ws[k][tx + 16 * j];
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
      }
      __syncthreads();  // the tiles are refilled next
    }
    for (int i = 0; i < 4; ++i) {
      const int gm = m0 + ty + 16 * i;
      if (gm >= M) continue;
      for (int j = 0; j < 4; ++j) {
        const int gn = n0 + tx + 16 * j;
        if (gn >= N) continue;
        float v = acc[i][j] + (bias ? bias[gn] : 0.0f);
        float* c = C + (i64)gm * N + gn;
        *c = accumulate ? *c + v : v;
      }
    }
  }
}

// ---------------------------------------------------------------- rope

struct rope_args {
  float* q;
  float* k;
  const int* pos;  // 3 x S
  int S, heads, kv_heads, D;
  int section0, section1;  // frequencies [0, s0) use t, [s0, s0+s1) h, the rest w
  float theta;
};

// One thread per (token, head, frequency) pair, q heads then k heads.
__global__ void rope_kernel(rope_args a)
{
  const int half = a.D / 2, per_token = (a.heads + a.kv_heads) * half;
  const i64 total = (i64)a.S * per_token;
  for (i64 e = (i64)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (i64)gridDim.x * blockDim.x) {
    const int i = (int)(e / per_token), r = (int)(e % per_token);
    const int head = r / half, j = r % half;
    const int comp = j < a.section0 ? 0 : (j < a.section0 + a.section1 ? 1 : 2);
    const float inv = powf(a.theta, -2.0f * (float)j / (float)a.D);
    const float ang = (float)a.pos[(i64)comp * a.S + i] * inv;
    const float c = cosf(ang), s = sinf(ang);
    float* v = head < a.heads ? a.q + ((i64)i * a.heads + head) * a.D
                              : a.k + ((i64)i * a.kv_heads + (head - a.heads)) * a.D;
    const float x0 = v[j], x1 = v[j + half];
    v[j] = x0 * c - x1 * s;
    v[j + half] = x1 * c + x0 * s;
  }
}

// ---------------------------------------------------------------- attention

constexpr int kAttnTileQ = 32;      // queries per tile (= reference.h's kAttnTile)
constexpr int kAttnTileK = 32;      // keys per tile
constexpr int kAttnThreads = 128;   // 4 threads per query row
constexpr int kAttnMaxD = 128;

struct attention_args {
  const float* q;  // S x heads x D
  const float* k;  // S x kv_heads x D
  const float* v;  // S x kv_heads x D
  float* out;      // S x heads x D
  int S, heads, kv_heads, D;
  float scale;
  // Optional BlindSight-style block mask, [head][qtile][ktile] of 32 x 32
  // tiles, nonzero = computed; nullptr = dense. The causal mask applies on
  // top; a query whose keys are all masked gets zeros.
  const unsigned char* block_mask;
  // Optional BlindSight tile lists (blindsight.h's tile_lists on the
  // device): per head a category (0 = dense walks kt = 0..qt), per category
  // and query tile the key tiles to walk, so skipped tiles cost nothing.
  // Used instead of block_mask when head_cat is set.
  const unsigned char* head_cat;  // heads
  const int* tile_ptr;            // 4 x (nT + 1) offsets into tile_cols
  const int* tile_cols;
};

// Blocks take (head, query tile) items in turn. Each thread owns one query
// row (tid / 4) and a quarter of its keys and output columns (tid % 4), so a
// row's max and sum need only two shuffles. The K and V tiles share one
// buffer (K for the scores, then V for the output): 32 x 128 floats.
__global__ void __launch_bounds__(kAttnThreads) attention_kernel(attention_args a)
{
  __shared__ float Qs[kAttnTileQ][kAttnMaxD + 1];
  __shared__ float KVs[kAttnTileK][kAttnMaxD + 1];
  __shared__ float Ps[kAttnTileQ][kAttnTileK + 1];
  const int tid = threadIdx.x, row = tid >> 2, quarter = tid & 3, D = a.D;
  const int nT = (a.S + kAttnTileQ - 1) / kAttnTileQ, group = a.heads / a.kv_heads;
  const int qstride = a.heads * D, kstride = a.kv_heads * D;
  for (int item = blockIdx.x; item < a.heads * nT; item += gridDim.x) {
    // Longest tiles first: later query tiles see more keys.
    const int h = item % a.heads, qt = nT - 1 - item / a.heads, kh = h / group;
    const int q0 = qt * kAttnTileQ, qpos = q0 + row;
    for (int e = tid; e < kAttnTileQ * D; e += kAttnThreads) {
      const int r = e / D, d = e % D;
      Qs[r][d] = q0 + r < a.S ? a.q[(i64)(q0 + r) * qstride + h * D + d] : 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    float acc[kAttnMaxD / 4];
    for (int c = 0; c < kAttnMaxD / 4; ++c) acc[c] = 0.0f;
    // The key tiles to walk: 0..qt, or the head's list.
    const int cat = a.head_cat ? a.head_cat[h] : 0;
    const int* list = cat ? a.tile_cols + a.tile_ptr[cat * (nT + 1) + qt] : nullptr;
    const int count = cat ? a.tile_ptr[cat * (nT + 1) + qt + 1] - a.tile_ptr[cat * (nT + 1) + qt] : qt + 1;
    for (int it = 0; it < count; ++it) {
      const int kt = list ? list[it] : it;
      if (a.block_mask && !a.head_cat && !a.block_mask[((i64)h * nT + qt) * nT + kt]) continue;  // uniform over the block
      const int k0 = kt * kAttnTileK;
      __syncthreads();  // the previous V tile (and, the first time, Qs) is complete / no longer read
      for (int e = tid; e < kAttnTileK * D; e += kAttnThreads) {
        const int r = e / D, d = e % D;
        KVs[r][d] = k0 + r < a.S ? a.k[(i64)(k0 + r) * kstride + kh * D + d] : 0.0f;
      }
      __syncthreads();
      float s[kAttnTileK / 4];
      float mt = -INFINITY;
      for (int j = 0; j < kAttnTileK / 4; ++j) {
        const int key = quarter * (kAttnTileK / 4) + j, kpos = k0 + key;
        float dot = 0.0f;
        for (int d = 0; d < D; ++d) dot += Qs[row][d] * KVs[key][d];
        s[j] = (kpos <= qpos && kpos < a.S) ? dot * a.scale : -INFINITY;
        mt = fmaxf(mt, s[j]);
      }
      mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 1));
      mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 2));
      const float m_new = fmaxf(m, mt);
      float ls = 0.0f;
      for (int j = 0; j < kAttnTileK / 4; ++j) {
        const float p = m_new == -INFINITY ? 0.0f : __expf(s[j] - m_new);
        Ps[row][quarter * (kAttnTileK / 4) + j] = p;
        ls += p;
      }
      ls += __shfl_xor_sync(0xffffffffu, ls, 1);
      ls += __shfl_xor_sync(0xffffffffu, ls, 2);
      const float alpha = m == -INFINITY ? 0.0f : __expf(m - m_new);
      l = l * alpha + ls;
      m = m_new;
      __syncthreads();  // everyone is done with K; Ps is complete
      for (int e = tid; e < kAttnTileK * D; e += kAttnThreads) {
        const int r = e / D, d = e % D;
        KVs[r][d] = k0 + r < a.S ? a.v[(i64)(k0 + r) * kstride + kh * D + d] : 0.0f;
      }
      __syncthreads();
      // Fixed bounds, so acc stays in registers on a GPU (a loop to D / 4
      // would index it dynamically and put it in local memory).
#if defined(__CUDACC__)
#pragma unroll
#endif
      for (int c = 0; c < kAttnMaxD / 4; ++c) {
        if (c >= D / 4) break;
        const int col = quarter + 4 * c;
        float o = acc[c] * alpha;
        for (int key = 0; key < kAttnTileK; ++key) o += Ps[row][key] * KVs[key][col];
        acc[c] = o;
      }
    }
    if (qpos < a.S) {
      const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#if defined(__CUDACC__)
#pragma unroll
#endif
      for (int c = 0; c < kAttnMaxD / 4; ++c)
        if (c < D / 4) a.out[(i64)qpos * qstride + h * D + quarter + 4 * c] = acc[c] * inv;
    }
    __syncthreads();  // Qs is refilled by the next item
  }
}

// ---------------------------------------------------------------- attention mass (BlindSight calibration)

constexpr int kMassClasses = 5;  // blindsight.h's key_class: own, sink, prefix, text, inter

struct mass_args {
  const float* q;  // S x heads x D (after rotary)
  const float* k;  // S x kv_heads x D
  int S, heads, kv_heads, D;
  float scale;
  const unsigned char* role;  // per token: blindsight.h's token_role (0 prefix, 1 text, 2 delimiter, 3 image_lead, 4 image_rest)
  const int* image;           // per token: its image, or -1
  float* out;                 // [heads][nT][kMassClasses + 1]: mass per key class summed over the tile's image queries, then their count
};

// Where a head's image queries put their attention: one block of 32 threads
// per (head, query tile), one thread per query row. Pass 1 runs the online
// softmax over the row's causal keys (max m, sum l); pass 2 adds
// exp(s - m) / l of each key to its class. No S x S matrix; calibration
// only, so plain loops over the keys.
__global__ void attention_mass_kernel(mass_args a)
{
  const int nT = (a.S + 31) / 32, group = a.heads / a.kv_heads, D = a.D;
  __shared__ float part[32][kMassClasses + 1];
  for (int item = blockIdx.x; item < a.heads * nT; item += gridDim.x) {
    const int h = item % a.heads, qt = item / a.heads, kh = h / group;
    const int i = qt * 32 + (int)threadIdx.x;
    float sum[kMassClasses + 1] = {0, 0, 0, 0, 0, 0};
    const bool image_query = i < a.S && a.role[i] >= 3;
    if (image_query) {
      const float* qi = a.q + ((i64)i * a.heads + h) * D;
      const int qimage = a.image[i];
      float m = -INFINITY, l = 0.0f;
      for (int j = 0; j <= i; ++j) {
        const float* kj = a.k + ((i64)j * a.kv_heads + kh) * D;
        float d = 0.0f;
        for (int x = 0; x < D; ++x) d += qi[x] * kj[x];
        d *= a.scale;
        const float mn = fmaxf(m, d);
        l = l * __expf(m - mn) + __expf(d - mn);
        m = mn;
      }
      for (int j = 0; j <= i; ++j) {
        const float* kj = a.k + ((i64)j * a.kv_heads + kh) * D;
        float d = 0.0f;
        for (int x = 0; x < D; ++x) d += qi[x] * kj[x];
        const float p = __expf(d * a.scale - m) / l;
        const int r = a.role[j];
        const int cls = r == 0 ? 2 : r == 1 ? 3 : a.image[j] == qimage ? 0 : r == 4 ? 4 : 1;
        sum[cls] += p;
      }
      sum[kMassClasses] = 1.0f;
    }
    for (int c = 0; c <= kMassClasses; ++c) part[threadIdx.x][c] = sum[c];
    __syncthreads();
    if (threadIdx.x == 0)
      for (int c = 0; c <= kMassClasses; ++c) {
        float t = 0.0f;
        for (int r = 0; r < 32; ++r) t += part[r][c];
        a.out[((i64)h * nT + qt) * (kMassClasses + 1) + c] = t;
      }
    __syncthreads();  // part is refilled by the next item
  }
}

// ---------------------------------------------------------------- swiglu, logits

__global__ void swiglu_kernel(float* g, const float* u, i64 n)
{
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    const float x = g[i];
    g[i] = x / (1.0f + __expf(-x)) * u[i];
  }
}

// logits[n] = W[n] . x for n < V; one warp per row.
__global__ void logits_kernel(const float* x, const float* W, float* logits, int V, int H)
{
  const int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  for (int n = blockIdx.x * warps + (threadIdx.x >> 5); n < V; n += gridDim.x * warps) {
    const float* w = W + (i64)n * H;
    float s = 0.0f;
    for (int d = lane; d < H; d += 32) s += w[d] * x[d];
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) logits[n] = s;
  }
}

}  // namespace vlm
