// CUDA's atomic functions, for the types CUDA declares them for (so code that
// compiles here compiles with nvcc). Blocks run on real OS threads and share
// memory with real host threads, so every one of them is a real seq_cst
// atomic; the _block and _system scopes are therefore the same operation.
#pragma once

#include <atomic>

namespace gsys::sim::detail {

// Read-modify-write with a function CUDA has and std::atomic_ref lacks.
template <class T, class F>
inline T update(T* p, F next)
{
  std::atomic_ref<T> a(*p);
  T old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, next(old), std::memory_order_seq_cst, std::memory_order_relaxed)) {
  }
  return old;
}

}  // namespace gsys::sim::detail

// std::atomic_ref's operations default to seq_cst.
#define GSYS_SIM_FETCH(name, op, T) \
  inline T name(T* p, T v) { return std::atomic_ref<T>(*p).op(v); }

GSYS_SIM_FETCH(atomicAdd, fetch_add, int)
GSYS_SIM_FETCH(atomicAdd, fetch_add, unsigned int)
GSYS_SIM_FETCH(atomicAdd, fetch_add, unsigned long long)
GSYS_SIM_FETCH(atomicAdd, fetch_add, float)
GSYS_SIM_FETCH(atomicAdd, fetch_add, double)
GSYS_SIM_FETCH(atomicSub, fetch_sub, int)
GSYS_SIM_FETCH(atomicSub, fetch_sub, unsigned int)
GSYS_SIM_FETCH(atomicExch, exchange, int)
GSYS_SIM_FETCH(atomicExch, exchange, unsigned int)
GSYS_SIM_FETCH(atomicExch, exchange, unsigned long long)
GSYS_SIM_FETCH(atomicExch, exchange, float)
GSYS_SIM_FETCH(atomicAnd, fetch_and, int)
GSYS_SIM_FETCH(atomicAnd, fetch_and, unsigned int)
GSYS_SIM_FETCH(atomicAnd, fetch_and, unsigned long long)
GSYS_SIM_FETCH(atomicOr, fetch_or, int)
GSYS_SIM_FETCH(atomicOr, fetch_or, unsigned int)
GSYS_SIM_FETCH(atomicOr, fetch_or, unsigned long long)
GSYS_SIM_FETCH(atomicXor, fetch_xor, int)
GSYS_SIM_FETCH(atomicXor, fetch_xor, unsigned int)
GSYS_SIM_FETCH(atomicXor, fetch_xor, unsigned long long)
#undef GSYS_SIM_FETCH

#define GSYS_SIM_MIN_MAX(T)                                                                         \
  inline T atomicMin(T* p, T v) { return gsys::sim::detail::update(p, [v](T o) { return v < o ? v : o; }); } \
  inline T atomicMax(T* p, T v) { return gsys::sim::detail::update(p, [v](T o) { return v > o ? v : o; }); }
GSYS_SIM_MIN_MAX(int)
GSYS_SIM_MIN_MAX(unsigned int)
GSYS_SIM_MIN_MAX(long long)
GSYS_SIM_MIN_MAX(unsigned long long)
#undef GSYS_SIM_MIN_MAX

#define GSYS_SIM_CAS(T)                                                                      \
  inline T atomicCAS(T* p, T compare, T val)                                                 \
  {                                                                                          \
    std::atomic_ref<T>(*p).compare_exchange_strong(compare, val, std::memory_order_seq_cst); \
    return compare; /* the old value: unchanged on success, the value seen on failure */     \
  }
GSYS_SIM_CAS(int)
GSYS_SIM_CAS(unsigned int)
GSYS_SIM_CAS(unsigned long long)
GSYS_SIM_CAS(unsigned short)
#undef GSYS_SIM_CAS

// ((old >= limit) ? 0 : old + 1) and ((old == 0 || old > limit) ? limit : old - 1), as in CUDA.
inline unsigned int atomicInc(unsigned int* p, unsigned int limit)
{
  return gsys::sim::detail::update(p, [limit](unsigned int o) { return o >= limit ? 0u : o + 1; });
}
inline unsigned int atomicDec(unsigned int* p, unsigned int limit)
{
  return gsys::sim::detail::update(p, [limit](unsigned int o) { return o == 0 || o > limit ? limit : o - 1; });
}

// The scoped spellings take whatever the unscoped overload set takes.
#define GSYS_SIM_SCOPED(op)                                                              \
  template <class T, class... A>                                                         \
  inline auto op##_system(T* p, A... a)->decltype(op(p, a...)) { return op(p, a...); } \
  template <class T, class... A>                                                         \
  inline auto op##_block(T* p, A... a)->decltype(op(p, a...)) { return op(p, a...); }
GSYS_SIM_SCOPED(atomicAdd)
GSYS_SIM_SCOPED(atomicSub)
GSYS_SIM_SCOPED(atomicExch)
GSYS_SIM_SCOPED(atomicMin)
GSYS_SIM_SCOPED(atomicMax)
GSYS_SIM_SCOPED(atomicInc)
GSYS_SIM_SCOPED(atomicDec)
GSYS_SIM_SCOPED(atomicCAS)
GSYS_SIM_SCOPED(atomicAnd)
GSYS_SIM_SCOPED(atomicOr)
GSYS_SIM_SCOPED(atomicXor)
#undef GSYS_SIM_SCOPED
