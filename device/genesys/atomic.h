// System-scope atomics on ring memory: cuda::atomic_ref<T, thread_scope_system>
// on the GPU, std::atomic_ref on the host (the simulator and libgenesys).
// Both compile to the same locked instructions on x86, so a GPU, a simulated
// kernel, an executor thread and genesys.ko all agree on one ring.
//
// On the simulator every helper also reports its access to the link-cost
// model (sim/link_model.h), which counts the host-memory round trips and
// posted stores a GPU would make; under nvcc GSYS_LINK is nothing.
#pragma once

#include "config.h"

#if GSYS_CUDA
#include <cuda/atomic>
#define GSYS_LINK(p, kind) ((void)0)
#else
#include <atomic>

#include "sim/link_model.h"
// The model's on/off switch is tested inline: off (gsys-ring-bench's timed
// loops), an access costs a load, not a call.
#define GSYS_LINK(p, kind)                                                                                     \
  (::gsys::sim::link_enabled()                                                                                 \
       ? ::gsys::sim::link_detail::note_device((const void*)(p), sizeof(*(p)), ::gsys::sim::link_access::kind) \
       : (void)0)
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
GSYS_DEVICE T load_relaxed(T* p)
{
  GSYS_LINK(p, load);
  return sys_atomic<T>(*p).load(mo::memory_order_relaxed);
}
template <class T>
GSYS_DEVICE T load_acquire(T* p)
{
  GSYS_LINK(p, load);
  return sys_atomic<T>(*p).load(mo::memory_order_acquire);
}
// A completion poll: load_acquire of the word the host signals a result in
// (a slot's state). The same load; the link model counts it apart, since a
// call's round trips on its way in are those before its first poll.
template <class T>
GSYS_DEVICE T poll_acquire(T* p)
{
  GSYS_LINK(p, poll);
  return sys_atomic<T>(*p).load(mo::memory_order_acquire);
}
template <class T>
GSYS_DEVICE void store_relaxed(T* p, T v)
{
  GSYS_LINK(p, store);
  sys_atomic<T>(*p).store(v, mo::memory_order_relaxed);
}
template <class T>
GSYS_DEVICE void store_release(T* p, T v)
{
  GSYS_LINK(p, store);
  sys_atomic<T>(*p).store(v, mo::memory_order_release);
}
template <class T>
GSYS_DEVICE T fetch_add_relaxed(T* p, T v)
{
  GSYS_LINK(p, rmw);
  return sys_atomic<T>(*p).fetch_add(v, mo::memory_order_relaxed);
}
template <class T>
GSYS_DEVICE T fetch_add_acq_rel(T* p, T v)
{
  GSYS_LINK(p, rmw);
  return sys_atomic<T>(*p).fetch_add(v, mo::memory_order_acq_rel);
}
template <class T>
GSYS_DEVICE T fetch_and_release(T* p, T v)
{
  GSYS_LINK(p, rmw);
  return sys_atomic<T>(*p).fetch_and(v, mo::memory_order_release);
}
template <class T>
GSYS_DEVICE T fetch_or_release(T* p, T v)
{
  GSYS_LINK(p, rmw);
  return sys_atomic<T>(*p).fetch_or(v, mo::memory_order_release);
}
template <class T>
GSYS_DEVICE T fetch_and_acq_rel(T* p, T v)
{
  GSYS_LINK(p, rmw);
  return sys_atomic<T>(*p).fetch_and(v, mo::memory_order_acq_rel);
}
// Strong CAS; on failure `expected` holds the value seen.
template <class T>
GSYS_DEVICE bool cas_acq_rel(T* p, T& expected, T desired)
{
  GSYS_LINK(p, rmw);
  return sys_atomic<T>(*p).compare_exchange_strong(expected, desired, mo::memory_order_acq_rel,
                                                   mo::memory_order_acquire);
}

}  // namespace gsys::detail
