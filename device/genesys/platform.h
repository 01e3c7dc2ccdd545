// The few target-dependent helpers the device library needs: lane and warp
// ids, a clock, a sleep, a system fence and the simulator's executor wake-up. Everything else is
// spelled as in CUDA (the simulator provides those built-ins).
#pragma once

#include "atomic.h"
#include "ring_handle.h"

#if !GSYS_CUDA
#include <climits>
#include <ctime>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace gsys::detail {

constexpr u32 kFullMask = 0xffffffffu;

GSYS_DEVICE u32 thread_rank_in_block()
{
  return threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y;
}

GSYS_DEVICE u32 block_size() { return blockDim.x * blockDim.y * blockDim.z; }

GSYS_DEVICE u32 block_rank_in_grid()
{
  return blockIdx.x + blockIdx.y * gridDim.x + blockIdx.z * gridDim.x * gridDim.y;
}

GSYS_DEVICE u32 grid_blocks() { return gridDim.x * gridDim.y * gridDim.z; }

GSYS_DEVICE u32 lane_id() { return thread_rank_in_block() & 31u; }

// Lanes below this one, as a mask (PTX %lanemask_lt).
GSYS_DEVICE u32 lanemask_lt() { return (1u << lane_id()) - 1u; }

GSYS_DEVICE u32 global_warp_id()
{
  return block_rank_in_grid() * ((block_size() + 31u) / 32u) + thread_rank_in_block() / 32u;
}

// The lanes that make a warp call: those the handle names (none, for an
// empty mask: every lane that calls is then outside it and gets -EINVAL),
// or every lane of the caller's warp (all 32, fewer in a block's last,
// partial warp).
GSYS_DEVICE u32 warp_lanes(const ring& r)
{
  if (r.lanes_named) return r.lanes;
  const u32 first = thread_rank_in_block() & ~31u;
  const u32 n = block_size() - first;
  return n >= 32 ? kFullMask : (1u << n) - 1u;
}

// Warp collectives over `mask` that cost nothing when the mask is one lane
// (a lone thread's call, a group leader's): the simulator parks a fiber at
// every collective, and the result for one lane is known.
GSYS_DEVICE bool one_lane(u32 mask) { return (mask & (mask - 1)) == 0; }
GSYS_DEVICE u32 lanes_ballot(u32 mask, bool p) { return one_lane(mask) ? (p ? mask : 0u) : __ballot_sync(mask, p); }
GSYS_DEVICE void lanes_sync(u32 mask)
{
  if (!one_lane(mask)) __syncwarp(mask);
}
// Two words from lane src: two shuffles on a GPU, one collective on the
// simulator.
struct u64_pair {
  u64 first, second;
};
GSYS_DEVICE u64_pair lanes_shfl2(u32 mask, u64 first, u64 second, u32 src)
{
  if (one_lane(mask)) return {first, second};
#if GSYS_CUDA
  return {__shfl_sync(mask, first, src), __shfl_sync(mask, second, src)};
#else
  const gsys::sim::detail::word_pair p = gsys::sim::detail::warp_shuffle_pair(mask, first, second, src);
  return {p.first, p.second};
#endif
}

// The position of the n-th (0-based) set bit of x; x must have more than n
// bits set. Halving the window: five popcounts whatever n is (a claim round
// runs it in every lane).
GSYS_DEVICE u32 nth_set_bit(u32 x, u32 n)
{
  u32 pos = 0;
  for (u32 half = 16; half; half /= 2) {
    const u32 low = __popc(x & ((1u << half) - 1u));
    if (n >= low) {
      n -= low;
      x >>= half;
      pos += half;
    }
  }
  return pos;
}

// The lowest `want` set bits of x (all of them if x has fewer).
GSYS_DEVICE u32 lowest_bits(u32 x, u32 want)
{
  if (want >= (u32)__popc(x)) return x;
  if (want == 0) return 0;
  return x & ((2u << nth_set_bit(x, want - 1)) - 1u);  // 2u << 31 wraps to 0: every bit
}

// Monotonic nanoseconds: %globaltimer on the GPU, CLOCK_MONOTONIC on the host.
GSYS_DEVICE u64 now_ns()
{
#if GSYS_CUDA
  u64 t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
#else
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return u64(ts.tv_sec) * 1000000000ull + u64(ts.tv_nsec);
#endif
}

GSYS_DEVICE void sleep_ns(u32 ns) { __nanosleep(ns); }

// The pause between two polls while a wait spins: a short __nanosleep on
// the GPU; on the simulator a yield to the other threads of the block. A
// simulated __nanosleep's bookkeeping (three clock reads, the sleeper scan)
// cost more than the poll, and a result was seen up to a poll period late.
GSYS_DEVICE void spin_pause(u32 ns)
{
#if GSYS_CUDA
  __nanosleep(ns);
#else
  (void)ns;
  gsys::sim::yield();
#endif
}

#if !GSYS_CUDA
// The simulator's device threads are host threads, so they can do what a GPU
// cannot: wake executors asleep on the ring's doorbell futex. The fence
// orders the queue entry before the looks at sleepers and pollers (an
// executor announces itself in one of them, then re-checks the queue, so
// the entry is seen by it or here). No wake while an executor polls: it
// will take the entry, or, if it takes a call that may block first, see
// this one queued and wake a sleeper itself (idle_waiter::worked; it stops
// counting itself before it looks). The doorbell is bumped only for a wake:
// line 2 of the header is then written by nobody per call, and the read
// here stays a cache hit (a locked add on every submit had moved the line
// to this core and back each call). With two sync workers, one polling and
// one asleep, skipping the wake saved a futex system call per call (a
// thread-level nop: 2.1 to about 0.8 µs).
inline void sim_wake_executors(gsys_ring_header* h)
{
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (std::atomic_ref<gsys_u32>(h->sleepers).load(std::memory_order_seq_cst) == 0 ||
      std::atomic_ref<gsys_u32>(h->pollers).load(std::memory_order_seq_cst) != 0)
    return;
  // seq_cst: a sleeper that reads the new value sees the entry too
  std::atomic_ref<gsys_u32>(h->doorbell).fetch_add(1, std::memory_order_seq_cst);
  ::syscall(SYS_futex, &h->doorbell, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}
#endif

}  // namespace gsys::detail
