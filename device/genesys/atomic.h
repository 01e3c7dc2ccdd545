// System-scope atomics on ring memory: cuda::atomic_ref<T, thread_scope_system>
// on the GPU, std::atomic_ref on the host (the simulator and libgenesys).
// Both compile to the same locked instructions on x86, so a GPU, a simulated
// kernel, an executor thread and genesys.ko all agree on one ring.
#pragma once

#include "config.h"

#if GSYS_CUDA
#include <cuda/atomic>
#else
#include <atomic>
#endif

namespace gsys::detail {

#if GSYS_CUDA
template <class T>
using sys_atomic = cuda::atomic_ref<T, cuda::thread_scope_system>;
namespace mo = cuda::std;
#else
template <class T>
using sys_atomic = std::atomic_ref<T>;
namespace mo = std;
#endif

template <class T>
GSYS_DEVICE T load_relaxed(T* p) { return sys_atomic<T>(*p).load(mo::memory_order_relaxed); }
template <class T>
GSYS_DEVICE T load_acquire(T* p) { return sys_atomic<T>(*p).load(mo::memory_order_acquire); }
template <class T>
GSYS_DEVICE void store_relaxed(T* p, T v) { sys_atomic<T>(*p).store(v, mo::memory_order_relaxed); }
template <class T>
GSYS_DEVICE void store_release(T* p, T v) { sys_atomic<T>(*p).store(v, mo::memory_order_release); }
template <class T>
GSYS_DEVICE T fetch_add_relaxed(T* p, T v) { return sys_atomic<T>(*p).fetch_add(v, mo::memory_order_relaxed); }
template <class T>
GSYS_DEVICE T fetch_add_acq_rel(T* p, T v) { return sys_atomic<T>(*p).fetch_add(v, mo::memory_order_acq_rel); }
template <class T>
GSYS_DEVICE T fetch_and_release(T* p, T v) { return sys_atomic<T>(*p).fetch_and(v, mo::memory_order_release); }
template <class T>
GSYS_DEVICE T fetch_or_release(T* p, T v) { return sys_atomic<T>(*p).fetch_or(v, mo::memory_order_release); }
template <class T>
GSYS_DEVICE T fetch_and_acq_rel(T* p, T v) { return sys_atomic<T>(*p).fetch_and(v, mo::memory_order_acq_rel); }
// Strong CAS; on failure `expected` holds the value seen.
template <class T>
GSYS_DEVICE bool cas_acq_rel(T* p, T& expected, T desired)
{
  return sys_atomic<T>(*p).compare_exchange_strong(expected, desired, mo::memory_order_acq_rel,
                                                   mo::memory_order_acquire);
}

}  // namespace gsys::detail
