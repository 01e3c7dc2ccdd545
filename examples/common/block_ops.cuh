// Block-wide building blocks for the examples' kernels: prefix sums, an
// ordered relay between blocks, and a polite spin. 1-D blocks whose size is
// a multiple of 32 (checked by the hosts).
#pragma once

#include <genesys.cuh>

namespace ex {

using u32 = unsigned int;
using u64 = unsigned long long;

constexpr u32 kFullWarp = 0xffffffffu;

// Exclusive prefix sum of `v` over the block, in thread order; `total` gets
// the block's sum. Every thread of the block must call it.
template <class T>
__device__ T block_exclusive_sum(T v, T& total)
{
  __shared__ T warp_sums[32];
  __shared__ T block_total;
  const u32 lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  T x = v;
  for (u32 d = 1; d < 32; d <<= 1) {
    T y = __shfl_up_sync(kFullWarp, x, d);
    if (lane >= d) x += y;
  }
  if (lane == 31) warp_sums[warp] = x;
  __syncthreads();
  if (threadIdx.x == 0) {
    T run = 0;
    for (u32 w = 0; w < warps; ++w) {
      T s = warp_sums[w];
      warp_sums[w] = run;
      run += s;
    }
    block_total = run;
  }
  __syncthreads();
  const T excl = warp_sums[warp] + x - v;
  total = block_total;
  __syncthreads();  // nobody overwrites the sums before everyone has read them
  return excl;
}

template <class T>
__device__ T block_sum(T v)
{
  T total;
  block_exclusive_sum(v, total);
  return total;
}

// The smallest `v` over the block.
__device__ inline u32 block_min(u32 v)
{
  __shared__ u32 m;
  if (threadIdx.x == 0) m = 0xffffffffu;
  __syncthreads();
  if (v != 0xffffffffu) atomicMin(&m, v);
  __syncthreads();
  const u32 r = m;
  __syncthreads();
  return r;
}

// One thread waits, sleeping a little longer each time (a GPU thread that
// spins flat out steals issue slots; the simulator needs the sleep to let
// the block's other threads run).
struct spin_pause {
  u32 ns = 64;
  __device__ void pause()
  {
    __nanosleep(ns);
    if (ns < 100000) ns *= 2;
  }
};

// A relay that orders work items across blocks: item g runs its ordered part
// (writing output, updating running totals) only after item g-1 finished
// its own. Blocks take items in increasing order, so the holder of the
// lowest unfinished item can always proceed.
struct relay {
  u64 next;  // the item whose turn it is
};

// Every thread of the block calls; returns when item g has the turn. The
// acquire pairs with relay_pass's release: the previous holder's writes
// (its totals in memory shared with this block) are visible here.
__device__ inline void relay_wait(relay* r, u64 g)
{
  if (threadIdx.x == 0) {
    spin_pause p;
    while (gsys::detail::load_acquire<gsys::detail::host>(&r->next) != g) p.pause();
  }
  __syncthreads();
}

// Every thread of the block calls, after its ordered part.
__device__ inline void relay_pass(relay* r, u64 g)
{
  __syncthreads();  // the whole block's writes come before the release
  if (threadIdx.x == 0) gsys::detail::store_release<gsys::detail::host>(&r->next, g + 1);
}

}  // namespace ex
