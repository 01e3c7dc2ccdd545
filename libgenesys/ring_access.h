// The executor side of the ring protocol, for libgenesys: the shared rules
// of include/genesys/ring_exec.h (also genesys.ko's) with userspace atomics,
// plus the header's counters. Every value read from ring memory is
// validated: the ring is memory a buggy GPU kernel can scribble on, and an
// executor must never trust or hang on it.
#pragma once

#include <genesys/abi.h>
#include <genesys/sim/link_model.h>

#include <atomic>
#include <cstdint>
#include <memory>

// GCC's __atomic builtins on plain objects: what std::atomic_ref compiles to.
// A CAS is also noted in the simulator's link-cost model, which reports a
// ring word both the device and the host read-modify-write (a protocol
// error); with a GPU runtime nothing is registered and the note returns
// at once.
#define GSYS_X_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define GSYS_X_LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define GSYS_X_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define GSYS_X_STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define GSYS_X_CAS(p, expp, v)                        \
  (gsys::sim::link_note_host_rmw((p), sizeof(*(p))), \
   __atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
#define GSYS_X_NOW() gsys::detail::monotonic_ns()

namespace gsys::detail {
std::uint64_t monotonic_ns();
}

#include <genesys/ring_exec.h>

#include <string>

namespace gsys::detail {

class fixed_files;

template <class T>
inline std::atomic_ref<T> ref(T& v) { return std::atomic_ref<T>(v); }

// The validated copy of a request, plus what the policy read while it
// checked it, so the call runs on exactly what was checked.
struct request_copy : gsys_request {
  request_copy() : gsys_request{} {}
  request_copy(const gsys_request& r) : gsys_request(r) {}  // a genesys.ko fall-back
  // recvfrom: *addrlen as the policy read it (clamped to a sockaddr_storage);
  // the call gets a private copy of it, so the GPU changing its own copy
  // afterwards cannot make the kernel write past what was checked.
  std::uint32_t addrlen = 0;
  // Paths, NUL included, as the policy checked them (confined rings): the
  // path arguments point here, so a GPU rewriting its copy after the check
  // cannot make the kernel read a different or longer string. The call
  // must run on this object (not a copy of it).
  std::string paths[2];
  // A fall-back from a confined genesys.ko ring: the module already checked
  // every pointer against the regions and its own mappings (which this
  // process's policy never saw), so the policy skips that part.
  bool kernel_checked = false;
  // A fixed-file call: the table its index was translated with, held until
  // the call has run, so a new table never closes the file under it.
  std::shared_ptr<const fixed_files> files;
};

class ring_access {
 public:
  // The geometry comes from the runtime's own validated copy, never from the
  // live header, which a kernel can scribble on (v1's kmod stop() did and
  // crashed).
  ring_access(gsys_ring_header* h, gsys_u32 nslots, gsys_u32 sq_entries, gsys_u64 timeout_ns)
  {
    char* base = reinterpret_cast<char*>(h);
    r_.hdr = h;
    r_.slots = reinterpret_cast<gsys_slot*>(base + gsys_ring_slots_offset());
    r_.sq = reinterpret_cast<gsys_sq_entry*>(base + gsys_ring_sq_offset(nslots));
    r_.nslots = nslots;
    r_.sq_entries = sq_entries;
    r_.timeout_ns = timeout_ns;
  }

  gsys_ring_header* header() const { return r_.hdr; }
  gsys_u32 nslots() const { return r_.nslots; }

  bool queue_nonempty() { return gsys_x_nonempty(&r_); }
  gsys_u64 queue_depth() { return gsys_x_depth(&r_, r_.sq_entries); }

  // Pops one request (MPMC), copied out of its queue entry, its slot index
  // in range. False when nothing is published at the head. A lost entry, or
  // a hole a dead producer left for longer than the ring's timeout, is
  // skipped and counted; so is an entry naming a slot past the ring.
  bool pop(request_copy& q)
  {
    for (int i = 0; i < 4; ++i) {
      switch (gsys_x_pop(&r_, &cur_, &q)) {
        case GSYS_X_POPPED: return true;
        case GSYS_X_SKIPPED: ref(r_.hdr->skipped).fetch_add(1, std::memory_order_relaxed); continue;
        case GSYS_X_GARBAGE: count_garbage(); continue;
        default: return false;
      }
    }
    return false;
  }

  // A request genesys.ko took and validated but left to userspace, as the
  // copy it handed over (never re-read from the live queue entry). False
  // (and counted) for a slot index out of range.
  bool adopt_copy(const request_copy& q)
  {
    if (q.slot < r_.nslots) return true;
    count_garbage();
    return false;
  }

  // Publishes the result (DONE, for every call: the device frees the slot),
  // then counts it in the header's totals: the device does not wait for those.
  void complete(const gsys_request& q, int64_t ret)
  {
    gsys_x_complete(&r_, &q, ret);
    ref(r_.hdr->completed).fetch_add(1, std::memory_order_relaxed);
    if (ret < 0) ref(r_.hdr->failed).fetch_add(1, std::memory_order_relaxed);
  }

  void count_denied() { ref(r_.hdr->denied).fetch_add(1, std::memory_order_relaxed); }
  // A request refused before it ran for what the ring holds (a slot already
  // in flight, queued again by a buggy kernel).
  void count_garbage() { ref(r_.hdr->garbage).fetch_add(1, std::memory_order_relaxed); }

 private:
  gsys_x_ring r_{};
  gsys_x_cursor cur_{};
};

}  // namespace gsys::detail
