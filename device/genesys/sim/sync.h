// The built-ins that are scheduling points: block barriers, warp collectives,
// __activemask, __nanosleep and gsys::sim::yield. Each parks the calling
// simulated thread (a fiber) and lets the block's scheduler run the others;
// the out-of-line entry points live in device/sim/block.cpp and warp.cpp.
//
// Collectives follow CUDA's mask rule: every lane named in `mask` must make
// the same call (same collective, same mask), and the caller must be in its
// own mask. Lanes past the end of a partial last warp do not exist and are
// dropped from masks. See docs/simulator.md.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "builtins.h"

namespace gsys::sim {

// Lets the other simulated threads of this block run before the caller
// continues (round-robin). Spin loops that wait for another thread of the
// same block must call this or __nanosleep. Outside a kernel: sched_yield().
void yield();

namespace detail {

enum class warp_op : std::uint8_t {
  sync,
  shfl_idx,
  shfl_up,
  shfl_down,
  shfl_xor,
  ballot,
  any,
  all,
  match_any,
  match_all,
  reduce_add,
  reduce_min_u,
  reduce_min_s,
  reduce_max_u,
  reduce_max_s,
  reduce_and,
  reduce_or,
  reduce_xor,
};

// Parks the calling lane until every lane of `mask` has called with the same
// op and mask, then returns this lane's result. `value` is the lane's operand
// as bits; `param` is the shuffle's source lane, delta or lane mask.
std::uint64_t warp_collective(warp_op op, unsigned mask, std::uint64_t value, unsigned param = 0,
                              unsigned width = 32);

// Two 64-bit words from lane `src` of mask, as one collective: what a GPU
// does with two __shfl_sync (the device library's lanes_shfl2; one
// collective here because each switches every lane of the warp).
struct word_pair {
  std::uint64_t first, second;
};
word_pair warp_shuffle_pair(unsigned mask, std::uint64_t first, std::uint64_t second, unsigned src);

struct barrier_result {
  int arrived;         // threads that took part (exited threads do not)
  int with_predicate;  // of those, how many passed a nonzero predicate
};

// The block-wide barrier over all threads that have not exited.
barrier_result block_barrier(int predicate);

// What a shuffle or match can carry: any trivially copyable value of 8 bytes
// or less, moved as its bit pattern.
template <class T>
concept warp_value = std::is_trivially_copyable_v<T> && sizeof(T) <= 8;

template <warp_value T>
inline std::uint64_t to_bits(T v)
{
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof v);
  return b;
}

template <warp_value T>
inline T from_bits(std::uint64_t b)
{
  T v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

template <warp_value T>
inline T shuffle(warp_op op, unsigned mask, T var, unsigned param, int width)
{
  return from_bits<T>(warp_collective(op, mask, to_bits(var), param, (unsigned)width));
}

}  // namespace detail
}  // namespace gsys::sim

inline void __syncthreads() { gsys::sim::detail::block_barrier(0); }
inline int __syncthreads_count(int predicate) { return gsys::sim::detail::block_barrier(predicate).with_predicate; }
inline int __syncthreads_and(int predicate)
{
  const auto r = gsys::sim::detail::block_barrier(predicate);
  return r.with_predicate == r.arrived;
}
inline int __syncthreads_or(int predicate) { return gsys::sim::detail::block_barrier(predicate).with_predicate != 0; }

// The lanes of the caller's warp that reached this same call site, once
// every other live lane of the warp is parked somewhere (see
// docs/simulator.md). Out of line on purpose: its return address is the key.
unsigned __activemask();

// Parks the caller for at least `ns` nanoseconds.
void __nanosleep(unsigned ns);

inline void __syncwarp(unsigned mask = 0xffffffffu)
{
  gsys::sim::detail::warp_collective(gsys::sim::detail::warp_op::sync, mask, 0);
}

template <gsys::sim::detail::warp_value T>
inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize)
{
  return gsys::sim::detail::shuffle(gsys::sim::detail::warp_op::shfl_idx, mask, var, (unsigned)srcLane, width);
}

template <gsys::sim::detail::warp_value T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize)
{
  return gsys::sim::detail::shuffle(gsys::sim::detail::warp_op::shfl_up, mask, var, delta, width);
}

template <gsys::sim::detail::warp_value T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize)
{
  return gsys::sim::detail::shuffle(gsys::sim::detail::warp_op::shfl_down, mask, var, delta, width);
}

template <gsys::sim::detail::warp_value T>
inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize)
{
  return gsys::sim::detail::shuffle(gsys::sim::detail::warp_op::shfl_xor, mask, var, (unsigned)laneMask, width);
}

inline unsigned __ballot_sync(unsigned mask, int predicate)
{
  return (unsigned)gsys::sim::detail::warp_collective(gsys::sim::detail::warp_op::ballot, mask, predicate != 0);
}

inline int __any_sync(unsigned mask, int predicate)
{
  return (int)gsys::sim::detail::warp_collective(gsys::sim::detail::warp_op::any, mask, predicate != 0);
}

inline int __all_sync(unsigned mask, int predicate)
{
  return (int)gsys::sim::detail::warp_collective(gsys::sim::detail::warp_op::all, mask, predicate != 0);
}

// Values match when their bit patterns are equal.
template <gsys::sim::detail::warp_value T>
inline unsigned __match_any_sync(unsigned mask, T value)
{
  return (unsigned)gsys::sim::detail::warp_collective(gsys::sim::detail::warp_op::match_any, mask,
                                                      gsys::sim::detail::to_bits(value));
}

template <gsys::sim::detail::warp_value T>
inline unsigned __match_all_sync(unsigned mask, T value, int* pred)
{
  const auto m = (unsigned)gsys::sim::detail::warp_collective(gsys::sim::detail::warp_op::match_all, mask,
                                                              gsys::sim::detail::to_bits(value));
  *pred = m != 0;
  return m;
}

#define GSYS_SIM_REDUCE(name, T, op)                                                         \
  inline T name(unsigned mask, T value)                                                      \
  {                                                                                          \
    return (T)gsys::sim::detail::warp_collective(gsys::sim::detail::warp_op::op, mask,       \
                                                 (std::uint64_t)(std::uint32_t)value);       \
  }
GSYS_SIM_REDUCE(__reduce_add_sync, unsigned, reduce_add)
GSYS_SIM_REDUCE(__reduce_add_sync, int, reduce_add)
GSYS_SIM_REDUCE(__reduce_min_sync, unsigned, reduce_min_u)
GSYS_SIM_REDUCE(__reduce_min_sync, int, reduce_min_s)
GSYS_SIM_REDUCE(__reduce_max_sync, unsigned, reduce_max_u)
GSYS_SIM_REDUCE(__reduce_max_sync, int, reduce_max_s)
GSYS_SIM_REDUCE(__reduce_and_sync, unsigned, reduce_and)
GSYS_SIM_REDUCE(__reduce_or_sync, unsigned, reduce_or)
GSYS_SIM_REDUCE(__reduce_xor_sync, unsigned, reduce_xor)
#undef GSYS_SIM_REDUCE
