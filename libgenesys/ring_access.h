// The executor side of the ring protocol (ordering contract: abi.h). Every
// value read from ring memory is validated: the ring is memory a buggy GPU
// kernel can scribble on, and an executor must never trust or hang on it.
#pragma once

#include <genesys/abi.h>

#include <atomic>
#include <cstdint>

namespace gsys::detail {

template <class T>
inline std::atomic_ref<T> ref(T& v) { return std::atomic_ref<T>(v); }

// A request as the executor copied it out of its slot: read once, then
// validated and used, so a concurrent scribble cannot change it under us.
struct request_copy {
  gsys_u32 idx = 0;
  gsys_u16 nr = 0;
  gsys_u16 flags = 0;
  gsys_u64 arg[GSYS_SLOT_ARGS] = {};
};

class ring_access {
 public:
  explicit ring_access(gsys_ring_header* h)
      : h_(h),
        slots_(reinterpret_cast<gsys_slot*>(reinterpret_cast<char*>(h) + h->slots_offset)),
        bitmap_(reinterpret_cast<gsys_u32*>(reinterpret_cast<char*>(h) + h->bitmap_offset)),
        sq_(reinterpret_cast<gsys_sq_entry*>(reinterpret_cast<char*>(h) + h->sq_offset)),
        nslots_(h->nslots),
        entries_(h->sq_entries)
  {
  }

  gsys_ring_header* header() const { return h_; }
  gsys_u32 nslots() const { return nslots_; }

  bool queue_nonempty() const
  {
    return ref(h_->sq_tail).load(std::memory_order_acquire) != ref(h_->sq_head).load(std::memory_order_acquire);
  }
  gsys_u64 queue_depth() const
  {
    return ref(h_->sq_tail).load(std::memory_order_relaxed) - ref(h_->sq_head).load(std::memory_order_relaxed);
  }

  // Pops one slot index (MPMC). False when the queue is empty, or when the
  // head entry is not yet published by its producer.
  bool pop(gsys_u32& slot)
  {
    gsys_u64 pos = ref(h_->sq_head).load(std::memory_order_relaxed);
    for (;;) {
      gsys_sq_entry& e = sq_[pos & (entries_ - 1)];
      // acquire: pairs with the producer's release of seq = pos + 1
      const gsys_u32 seq = ref(e.seq).load(std::memory_order_acquire);
      const int32_t dif = (int32_t)(seq - (gsys_u32)(pos + 1));
      if (dif == 0) {
        if (ref(h_->sq_head).compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          slot = ref(e.slot).load(std::memory_order_relaxed);
          // release: hands the entry to the producer one lap later
          ref(e.seq).store((gsys_u32)(pos + entries_), std::memory_order_release);
          return true;
        }
      } else if (dif < 0) {
        return false;
      } else {
        pos = ref(h_->sq_head).load(std::memory_order_relaxed);
      }
    }
  }

  // READY -> BUSY and copy the request out. False (and counted) for an index
  // out of range or a slot not in READY; an orphaned slot is freed here.
  bool begin(gsys_u32 idx, request_copy& q)
  {
    if (!valid_index(idx)) return false;
    gsys_slot& s = slots_[idx];
    gsys_u32 st = GSYS_SLOT_READY;
    // acquire: pairs with the device's release of READY (args and buffers)
    if (!ref(s.state).compare_exchange_strong(st, GSYS_SLOT_BUSY, std::memory_order_acquire)) {
      if (st == GSYS_SLOT_ORPHANED) {
        free_slot(idx);
        ref(h_->orphaned).fetch_add(1, std::memory_order_relaxed);
      } else {
        ref(h_->garbage).fetch_add(1, std::memory_order_relaxed);
      }
      return false;
    }
    copy_out(idx, q);
    return true;
  }

  // Copies out a request another party already moved to BUSY: the kernel
  // module leaves the requests it cannot run in BUSY for userspace. False
  // (and counted) for an index out of range or a slot not in BUSY.
  bool adopt_busy(gsys_u32 idx, request_copy& q)
  {
    if (!valid_index(idx)) return false;
    gsys_slot& s = slots_[idx];
    // acquire: pairs with the device's release of READY, which the kernel's
    // READY -> BUSY exchange carried forward
    if (ref(s.state).load(std::memory_order_acquire) != GSYS_SLOT_BUSY) {
      ref(h_->garbage).fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    copy_out(idx, q);
    return true;
  }

  // Publishes the result: DONE for a blocking call, FREE for a
  // fire-and-forget one; an orphaned slot (device gave up) is freed.
  void complete(const request_copy& q, int64_t ret)
  {
    gsys_slot& s = slots_[q.idx];
    ref(h_->completed).fetch_add(1, std::memory_order_relaxed);
    if (ret < 0) ref(h_->failed).fetch_add(1, std::memory_order_relaxed);
    if (q.flags & GSYS_SLOT_F_NONBLOCK) {
      free_slot(q.idx);
      return;
    }
    ref(s.ret).store(ret, std::memory_order_relaxed);
    gsys_u32 st = GSYS_SLOT_BUSY;
    // release: the device that acquires DONE sees ret and the call's writes
    if (!ref(s.state).compare_exchange_strong(st, GSYS_SLOT_DONE, std::memory_order_release,
                                              std::memory_order_relaxed)) {
      if (st == GSYS_SLOT_ORPHANED) {
        free_slot(q.idx);
        ref(h_->orphaned).fetch_add(1, std::memory_order_relaxed);
      } else {
        ref(h_->garbage).fetch_add(1, std::memory_order_relaxed);
      }
    }
  }

  // FREE, then clear the claim bit with release so the next owner sees FREE.
  void free_slot(gsys_u32 idx)
  {
    ref(slots_[idx].state).store(GSYS_SLOT_FREE, std::memory_order_relaxed);
    ref(bitmap_[idx / 32]).fetch_and(~(1u << (idx % 32)), std::memory_order_release);
  }

  void count_denied() { ref(h_->denied).fetch_add(1, std::memory_order_relaxed); }

 private:
  // An index from ring memory: out of range is garbage, counted.
  bool valid_index(gsys_u32 idx)
  {
    if (idx < nslots_) return true;
    ref(h_->garbage).fetch_add(1, std::memory_order_relaxed);
    return false;
  }

  // The request, read once (after the acquire that made it ours).
  void copy_out(gsys_u32 idx, request_copy& q) const
  {
    const gsys_slot& s = slots_[idx];
    q.idx = idx;
    q.nr = s.nr;
    q.flags = s.flags;
    for (int i = 0; i < GSYS_SLOT_ARGS; ++i) q.arg[i] = s.arg[i];
  }

  gsys_ring_header* h_;
  gsys_slot* slots_;
  gsys_u32* bitmap_;
  gsys_sq_entry* sq_;
  gsys_u32 nslots_;
  gsys_u32 entries_;
};

}  // namespace gsys::detail
