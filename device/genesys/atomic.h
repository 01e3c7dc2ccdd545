// Atomics on ring memory, scoped by where the word lives (abi.h: every word
// has one home). Host memory is shared with the executors: its accesses are
// system-scope (cuda::atomic_ref<T, thread_scope_system>). Device memory is
// touched by GPU threads only: device scope, so that releasing a slot or a
// claim bit does not order against the whole system (a release at system
// scope is a fence that waits on the link). Every helper names the home:
// load_acquire<host>(&slot.state), cas_acq_rel<device>(&claim[w], ...). On
// the host (the simulator and libgenesys) both are std::atomic_ref, the
// same locked instructions on x86, so a GPU, a simulated kernel, an executor
// thread and genesys.ko all agree on one ring.
//
// On the simulator every helper also reports its access to the link-cost
// model (sim/link_model.h), which counts the host-memory round trips and
// posted stores a GPU would make, and reports a device-scope access to host
// memory as a protocol error; under nvcc GSYS_LINK is nothing.
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

// Where a word lives: host memory (the ring's header, slots and queue, the
// staging arena, runtime::alloc) or device memory (the ring's device part,
// a launch's grid state).
enum class home { host, device };
constexpr home host = home::host;
constexpr home device = home::device;

#if GSYS_CUDA
template <home H, class T>
using scoped_atomic =
    cuda::atomic_ref<T, H == home::host ? cuda::thread_scope_system : cuda::thread_scope_device>;
namespace mo = cuda::std;
#else
template <home H, class T>
using scoped_atomic = std::atomic_ref<T>;
namespace mo = std;
#endif

// The link model's view of one access: what it costs on host memory, or,
// for a device-memory word, a check that it is not host memory after all.
#define GSYS_NOTE(H, p, kind) (H == home::host ? GSYS_LINK(p, kind) : GSYS_LINK(p, device_scope))

template <home H, class T>
GSYS_DEVICE T load_relaxed(T* p)
{
  GSYS_NOTE(H, p, load);
  return scoped_atomic<H, T>(*p).load(mo::memory_order_relaxed);
}
template <home H, class T>
GSYS_DEVICE T load_acquire(T* p)
{
  GSYS_NOTE(H, p, load);
  return scoped_atomic<H, T>(*p).load(mo::memory_order_acquire);
}
// A completion poll: load_acquire of the host word the host signals a result
// in (a slot's state). The same load; the link model counts it apart, since
// a call's round trips on its way in are those before its first poll.
template <class T>
GSYS_DEVICE T poll_acquire(T* p)
{
  GSYS_LINK(p, poll);
  return scoped_atomic<home::host, T>(*p).load(mo::memory_order_acquire);
}
template <home H, class T>
GSYS_DEVICE void store_relaxed(T* p, T v)
{
  GSYS_NOTE(H, p, store);
  scoped_atomic<H, T>(*p).store(v, mo::memory_order_relaxed);
}
// Two 8-byte words at a 16-byte aligned p in host memory as one 16-byte
// store: one write over the link, where two stores would be two (a
// request's arguments). Each word is a relaxed store (the two are not one
// atomic unit, as in PTX's vector accesses).
template <home H>
GSYS_DEVICE void store_relaxed_x2(u64* p, u64 lo, u64 hi)
{
  static_assert(H == home::host, "only the request's stores, in host memory, need it");
#if GSYS_CUDA
  asm volatile("st.relaxed.sys.v2.u64 [%0], {%1, %2};" ::"l"(p), "l"(lo), "l"(hi) : "memory");
#else
  struct alignas(16) u64x2 {
    u64 lo, hi;
  };
  GSYS_NOTE(H, reinterpret_cast<const u64x2*>(p), store);  // one posted store of 16 bytes
  std::atomic_ref<u64>(p[0]).store(lo, std::memory_order_relaxed);
  std::atomic_ref<u64>(p[1]).store(hi, std::memory_order_relaxed);
#endif
}
template <home H, class T>
GSYS_DEVICE void store_release(T* p, T v)
{
  GSYS_NOTE(H, p, store);
  scoped_atomic<H, T>(*p).store(v, mo::memory_order_release);
}
template <home H, class T>
GSYS_DEVICE T fetch_add_relaxed(T* p, T v)
{
  GSYS_NOTE(H, p, rmw);
  return scoped_atomic<H, T>(*p).fetch_add(v, mo::memory_order_relaxed);
}
template <home H, class T>
GSYS_DEVICE T fetch_add_acq_rel(T* p, T v)
{
  GSYS_NOTE(H, p, rmw);
  return scoped_atomic<H, T>(*p).fetch_add(v, mo::memory_order_acq_rel);
}
template <home H, class T>
GSYS_DEVICE T fetch_and_release(T* p, T v)
{
  GSYS_NOTE(H, p, rmw);
  return scoped_atomic<H, T>(*p).fetch_and(v, mo::memory_order_release);
}
template <home H, class T>
GSYS_DEVICE T fetch_or_release(T* p, T v)
{
  GSYS_NOTE(H, p, rmw);
  return scoped_atomic<H, T>(*p).fetch_or(v, mo::memory_order_release);
}
template <home H, class T>
GSYS_DEVICE T fetch_and_acq_rel(T* p, T v)
{
  GSYS_NOTE(H, p, rmw);
  return scoped_atomic<H, T>(*p).fetch_and(v, mo::memory_order_acq_rel);
}
// Strong CAS; on failure `expected` holds the value seen.
template <home H, class T>
GSYS_DEVICE bool cas_acq_rel(T* p, T& expected, T desired)
{
  GSYS_NOTE(H, p, rmw);
  return scoped_atomic<H, T>(*p).compare_exchange_strong(expected, desired, mo::memory_order_acq_rel,
                                                         mo::memory_order_acquire);
}

#undef GSYS_NOTE

}  // namespace gsys::detail
