// Warp collectives and __activemask on the SIMT simulator. Blocks have two
// warps so that each test also checks warps stay apart.
#include <genesys/sim/sim.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace {

using gsys::sim::launch;
using gsys::sim::synchronize;

constexpr unsigned kFull = 0xffffffffu;

unsigned lane_of(unsigned t) { return t % 32; }

__global__ void four_shuffles(int* out)
{
  const unsigned t = threadIdx.x, n = blockDim.x;
  const int v = (int)(t * 10);
  out[0 * n + t] = __shfl_sync(kFull, v, 3);
  out[1 * n + t] = __shfl_up_sync(kFull, v, 1);
  out[2 * n + t] = __shfl_down_sync(kFull, v, 2);
  out[3 * n + t] = __shfl_xor_sync(kFull, v, 1);
}

TEST(SimShuffle, AllFourKindsMoveValuesBetweenLanes)
{
  constexpr unsigned n = 64;
  std::vector<int> out(4 * n, -1);
  launch(four_shuffles, 1, n, out.data());
  synchronize();
  for (unsigned t = 0; t < n; ++t) {
    const unsigned warp = t / 32 * 32, lane = lane_of(t);
    EXPECT_EQ(out[0 * n + t], (int)(warp + 3) * 10) << t;
    EXPECT_EQ(out[1 * n + t], (int)(lane >= 1 ? t - 1 : t) * 10) << t;   // lane 0 keeps its own
    EXPECT_EQ(out[2 * n + t], (int)(lane < 30 ? t + 2 : t) * 10) << t;  // lanes 30, 31 keep their own
    EXPECT_EQ(out[3 * n + t], (int)(t ^ 1) * 10) << t;
  }
}

// The device library's two-word shuffle (lanes_shfl2): both words of one
// source lane, in one collective; the odd lanes shuffle among themselves
// from their lowest lane, after a single-word shuffle over the same mask
// (a pair and a plain shuffle do not mix their second words).
__global__ void pair_shuffles(std::uint64_t* out)
{
  const unsigned t = threadIdx.x, lane = t % 32;
  const std::uint64_t a = 1000 + t, b = (std::uint64_t)t << 40;
  const auto all = gsys::sim::detail::warp_shuffle_pair(kFull, a, b, 7);
  out[4 * t + 0] = all.first;
  out[4 * t + 1] = all.second;
  if (lane % 2) {
    const unsigned odd = 0xaaaaaaaau;
    out[4 * t + 2] = __shfl_sync(odd, a, 5);
    out[4 * t + 3] = gsys::sim::detail::warp_shuffle_pair(odd, a, b, 1).second;
  }
}

TEST(SimShuffle, APairComesFromOneLane)
{
  constexpr unsigned n = 64;
  std::vector<std::uint64_t> out(4 * n, 0);
  launch(pair_shuffles, 1, n, out.data());
  synchronize();
  for (unsigned t = 0; t < n; ++t) {
    const unsigned warp = t / 32 * 32;
    EXPECT_EQ(out[4 * t + 0], 1000 + warp + 7) << t;
    EXPECT_EQ(out[4 * t + 1], (std::uint64_t)(warp + 7) << 40) << t;
    if (lane_of(t) % 2) {
      EXPECT_EQ(out[4 * t + 2], 1000 + warp + 5) << t;
      EXPECT_EQ(out[4 * t + 3], (std::uint64_t)(warp + 1) << 40) << t;
    }
  }
}

__global__ void shuffles_in_segments_of_8(int* out)
{
  const unsigned t = threadIdx.x, n = blockDim.x;
  const int v = (int)t;
  out[0 * n + t] = __shfl_sync(kFull, v, 10, 8);  // 10 mod 8 = 2 within the segment
  out[1 * n + t] = __shfl_up_sync(kFull, v, 1, 8);
  out[2 * n + t] = __shfl_down_sync(kFull, v, 3, 8);
  out[3 * n + t] = __shfl_xor_sync(kFull, v, 8, 8);  // later segments are not readable, earlier ones are
}

TEST(SimShuffle, WidthSplitsTheWarpIntoSegments)
{
  constexpr unsigned n = 64;
  std::vector<int> out(4 * n, -1);
  launch(shuffles_in_segments_of_8, 1, n, out.data());
  synchronize();
  for (unsigned t = 0; t < n; ++t) {
    const unsigned seg = t / 8 * 8, in_seg = t % 8;
    EXPECT_EQ(out[0 * n + t], (int)(seg + 2)) << t;
    EXPECT_EQ(out[1 * n + t], (int)(in_seg >= 1 ? t - 1 : t)) << t;
    EXPECT_EQ(out[2 * n + t], (int)(in_seg < 5 ? t + 3 : t)) << t;
    const unsigned partner = (t % 32 ^ 8) + t / 32 * 32;
    EXPECT_EQ(out[3 * n + t], (int)(partner < t ? partner : t)) << t;
  }
}

struct packed {
  short a;
  short b;
  int c;
};

__global__ void wide_shuffles(unsigned long long* u64s, double* doubles, float* floats, packed* packs)
{
  const unsigned t = threadIdx.x, lane = t % 32;
  u64s[t] = __shfl_xor_sync(kFull, (1ull << 40) + t, 16);
  doubles[t] = __shfl_down_sync(kFull, t * 0.5, 1);
  floats[t] = __shfl_sync(kFull, t * 0.25f, 31);
  packs[t] = __shfl_up_sync(kFull, packed{(short)lane, (short)-(int)lane, (int)t * 1000}, 4);
}

TEST(SimShuffle, CarriesSixtyFourBitFloatingAndStructValues)
{
  constexpr unsigned n = 64;
  std::vector<unsigned long long> u64s(n);
  std::vector<double> doubles(n);
  std::vector<float> floats(n);
  std::vector<packed> packs(n);
  launch(wide_shuffles, 1, n, u64s.data(), doubles.data(), floats.data(), packs.data());
  synchronize();
  for (unsigned t = 0; t < n; ++t) {
    const unsigned warp = t / 32 * 32, lane = lane_of(t);
    EXPECT_EQ(u64s[t], (1ull << 40) + (t ^ 16)) << t;
    EXPECT_EQ(doubles[t], (lane < 31 ? t + 1 : t) * 0.5) << t;
    EXPECT_EQ(floats[t], (warp + 31) * 0.25f) << t;
    const unsigned src = lane >= 4 ? t - 4 : t;
    EXPECT_EQ(packs[t].a, (short)(src % 32)) << t;
    EXPECT_EQ(packs[t].b, (short)-(int)(src % 32)) << t;
    EXPECT_EQ(packs[t].c, (int)src * 1000) << t;
  }
}

__global__ void votes(unsigned* out)
{
  const unsigned t = threadIdx.x, lane = t % 32;
  int pred = -1;
  unsigned* o = out + t * 10;
  o[0] = __ballot_sync(kFull, lane % 3 == 0);
  o[1] = __any_sync(kFull, lane == 31);
  o[2] = __any_sync(kFull, 0);
  o[3] = __all_sync(kFull, lane < 32);
  o[4] = __all_sync(kFull, lane != 7);
  o[5] = __match_any_sync(kFull, lane % 4);
  o[6] = __match_all_sync(kFull, 42, &pred);
  o[7] = (unsigned)pred;
  o[8] = __match_all_sync(kFull, (double)lane, &pred);
  o[9] = (unsigned)pred;
}

TEST(SimVote, BallotAnyAllAndMatch)
{
  constexpr unsigned n = 64;
  std::vector<unsigned> out(n * 10, 12345);
  launch(votes, 1, n, out.data());
  synchronize();
  for (unsigned t = 0; t < n; ++t) {
    const unsigned* o = &out[t * 10];
    EXPECT_EQ(o[0], 0x49249249u) << t;  // lanes 0, 3, 6, ..., 30
    EXPECT_EQ(o[1], 1u);
    EXPECT_EQ(o[2], 0u);
    EXPECT_EQ(o[3], 1u);
    EXPECT_EQ(o[4], 0u);
    EXPECT_EQ(o[5], 0x11111111u << lane_of(t) % 4) << t;
    EXPECT_EQ(o[6], kFull);
    EXPECT_EQ(o[7], 1u);
    EXPECT_EQ(o[8], 0u);
    EXPECT_EQ(o[9], 0u);
  }
}

__global__ void reductions(int* out)
{
  const unsigned t = threadIdx.x, lane = t % 32;
  int* o = out + t * 7;
  o[0] = (int)__reduce_add_sync(kFull, lane);
  o[1] = __reduce_add_sync(kFull, (int)lane - 20);
  o[2] = __reduce_min_sync(kFull, (int)lane - 5);
  o[3] = (int)__reduce_max_sync(kFull, lane);
  o[4] = (int)__reduce_and_sync(kFull, lane | 0x100u);
  o[5] = (int)__reduce_or_sync(kFull, 1u << (lane % 8));
  o[6] = (int)__reduce_xor_sync(kFull, lane);
}

TEST(SimReduce, FoldsOverTheMask)
{
  constexpr unsigned n = 64;
  std::vector<int> out(n * 7, -1);
  launch(reductions, 1, n, out.data());
  synchronize();
  for (unsigned t = 0; t < n; ++t) {
    const int* o = &out[t * 7];
    EXPECT_EQ(o[0], 496);
    EXPECT_EQ(o[1], 496 - 640);
    EXPECT_EQ(o[2], -5);
    EXPECT_EQ(o[3], 31);
    EXPECT_EQ(o[4], 0x100);
    EXPECT_EQ(o[5], 0xff);
    EXPECT_EQ(o[6], 0);  // 0 ^ 1 ^ ... ^ 31
  }
}

// Lanes below 16 and lanes from 16 take two branches; each branch's
// __activemask sees only its own lanes, and the low half then sums its lanes
// with shuffles over exactly that mask.
__global__ void halves(unsigned* masks, int* sums)
{
  const unsigned t = threadIdx.x, lane = t % 32;
  if (lane < 16) {
    const unsigned m = __activemask();
    masks[t] = m;
    int v = (int)lane;
    for (int offset = 8; offset > 0; offset /= 2) v += __shfl_xor_sync(m, v, offset);
    sums[t] = v;
  } else {
    masks[t] = __activemask();
    sums[t] = (int)__popc(__ballot_sync(masks[t], 1));
  }
}

TEST(SimActivemask, DivergentHalvesSeeOnlyThemselves)
{
  constexpr unsigned n = 64;
  std::vector<unsigned> masks(n);
  std::vector<int> sums(n);
  launch(halves, 1, n, masks.data(), sums.data());
  synchronize();
  for (unsigned t = 0; t < n; ++t) {
    if (lane_of(t) < 16) {
      EXPECT_EQ(masks[t], 0x0000ffffu) << t;
      EXPECT_EQ(sums[t], 120) << t;  // 0 + 1 + ... + 15
    } else {
      EXPECT_EQ(masks[t], 0xffff0000u) << t;
      EXPECT_EQ(sums[t], 16) << t;
    }
  }
}

__global__ void odd_lanes(unsigned* masks)
{
  const unsigned t = threadIdx.x;
  masks[t] = 0;
  if (t % 2 == 1) {
    const unsigned m = __activemask();
    masks[t] = __shfl_sync(m, m, 1);  // lane 1 is in the mask and agrees
  }
}

TEST(SimActivemask, OddLanesSeeOddLanes)
{
  constexpr unsigned n = 64;
  std::vector<unsigned> masks(n);
  launch(odd_lanes, 1, n, masks.data());
  synchronize();
  for (unsigned t = 0; t < n; ++t) EXPECT_EQ(masks[t], t % 2 ? 0xaaaaaaaau : 0u) << t;
}

__global__ void converged(unsigned* masks) { masks[threadIdx.x] = __activemask(); }

TEST(SimActivemask, ConvergedWarpIsFull)
{
  std::vector<unsigned> masks(64);
  launch(converged, 1, 64, masks.data());
  synchronize();
  for (unsigned t = 0; t < 64; ++t) EXPECT_EQ(masks[t], kFull) << t;
}

// A block of 48 threads: its second warp has lanes 0-15 only. A full mask
// there names lanes that do not exist, and they are not waited for.
__global__ void partial_warp(unsigned* out)
{
  const unsigned t = threadIdx.x;
  out[t * 3 + 0] = __activemask();
  out[t * 3 + 1] = __ballot_sync(kFull, 1);
  out[t * 3 + 2] = (unsigned)__shfl_sync(kFull, (int)t, 0);
}

TEST(SimActivemask, PartialLastWarpHasOnlyItsLanes)
{
  constexpr unsigned n = 48;
  std::vector<unsigned> out(n * 3);
  launch(partial_warp, 1, n, out.data());
  synchronize();
  for (unsigned t = 0; t < n; ++t) {
    const unsigned expect = t < 32 ? kFull : 0x0000ffffu;
    EXPECT_EQ(out[t * 3 + 0], expect) << t;
    EXPECT_EQ(out[t * 3 + 1], expect) << t;
    EXPECT_EQ(out[t * 3 + 2], t / 32 * 32) << t;
  }
}

}  // namespace
