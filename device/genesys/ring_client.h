// The device side of the ring protocol (ordering contract: include/genesys/abi.h).
//
// Every function that takes a `mask` is a warp collective: all lanes named in
// mask call it together, and the work that needs an atomic on ring memory is
// done once per warp by the lowest lane: one claim for the whole warp's
// slots, one fetch_add for its submission-queue positions, one doorbell, one
// release per claim word. A single-thread call is the same code with a
// one-lane mask.
#pragma once

#include <cerrno>

#include "platform.h"

namespace gsys::detail {

constexpr u32 kNoSlot = 0xffffffffu;

struct request {
  u16 nr = 0;
  u16 flags = 0;
  u64 arg[GSYS_SLOT_ARGS] = {0, 0, 0, 0, 0, 0};
};

// Bounded exponential backoff between polls of ring memory.
struct backoff {
  u32 ns;
  u32 max_ns;
  GSYS_DEVICE explicit backoff(const ring& r) : ns(r.backoff_min_ns), max_ns(r.backoff_max_ns) {}
  GSYS_DEVICE void pause()
  {
    sleep_ns(ns);
    ns = ns * 2 < max_ns ? ns * 2 : max_ns;
  }
};

// One claim for the `pending` lanes of mask (a warp collective over mask):
// the leader takes as many free slots as one claim word offers, at least one,
// waiting while the ring is full. A warp never holds slots while it waits for
// more, so warps competing for a small ring cannot deadlock each other.
// Returns this lane's slot, or kNoSlot if it got none this round;
// `timed_out` (the same in every lane) says the ring stayed full too long.
GSYS_DEVICE u32 claim_round(const ring& r, u32 mask, u32 pending, bool& timed_out)
{
  const u32 lane = lane_id();
  const u32 leader = __ffs(mask) - 1;
  const u32 nwords = r.nslots / 32;
  u32 got = 0, got_word = 0, give_up = 0;
  if (lane == leader) {
    const u32 want = __popc(pending);
    u32 word = global_warp_id() % nwords;  // warps start apart to avoid contention
    u64 deadline = 0;
    backoff wait(r);
    for (;;) {
      for (u32 i = 0; i < nwords && !got; ++i) {
        u32* w = &r.bitmap[word];
        u32 cur = load_relaxed(w);
        while (~cur != 0u) {
          u32 take = lowest_bits(~cur, want);
          // acquire: the slots' previous owner stored FREE before releasing
          if (cas_acq_rel(w, cur, cur | take)) {
            got = take;
            got_word = word;
            break;
          }
        }
        if (!got) word = word + 1 == nwords ? 0 : word + 1;
      }
      if (got) break;
      u64 now = now_ns();
      if (deadline == 0) deadline = now + r.timeout_ns;
      if (now >= deadline) {
        give_up = 1;
        break;
      }
      wait.pause();
    }
  }
  got = __shfl_sync(mask, got, leader);
  got_word = __shfl_sync(mask, got_word, leader);
  timed_out = __shfl_sync(mask, give_up, leader) != 0;

  // The lowest popc(got) pending lanes take the claimed bits, in order.
  const u32 assigned = lowest_bits(pending, __popc(got));
  if (!(assigned & (1u << lane))) return kNoSlot;
  return got_word * 32 + nth_set_bit(got, __popc(assigned & lanemask_lt()));
}

// Writes the request into this lane's claimed slot and publishes it.
GSYS_DEVICE void publish(const ring& r, u32 idx, const request& q)
{
  gsys_slot* s = &r.slots[idx];
  store_relaxed(&s->state, GSYS_SLOT_CLAIMED);
  s->nr = q.nr;
  s->flags = q.flags;
  for (int i = 0; i < GSYS_SLOT_ARGS; ++i) s->arg[i] = q.arg[i];
  s->ret = 0;
  // release: the executor that acquires READY sees the arguments and every
  // buffer write this thread made before the call
  store_release(&s->state, GSYS_SLOT_READY);
}

// Pushes the lanes' published slots (idx != kNoSlot) onto the submission
// queue with one reservation, then rings the doorbell once.
// Returns false for a lane whose queue entry never became free (corrupt ring).
GSYS_DEVICE bool submit(const ring& r, u32 mask, u32 idx)
{
  const u32 have = __ballot_sync(mask, idx != kNoSlot);
  if (!have) return true;
  const u32 lane = lane_id();
  const u32 leader = __ffs(have) - 1;
  unsigned long long base = 0;
  if (lane == leader) base = fetch_add_relaxed(&r.hdr->sq_tail, (u64)__popc(have));
  base = __shfl_sync(mask, base, leader);

  bool ok = true;
  if (idx != kNoSlot) {
    const u64 pos = base + __popc(have & lanemask_lt());
    gsys_sq_entry* e = &r.sq[pos & r.sq_mask];
    // The entry is ours once the consumer of the previous lap handed it back
    // (seq == pos); with sq_entries >= nslots that is at most a short wait.
    u64 deadline = 0;
    backoff wait(r);
    while (load_acquire(&e->seq) != (u32)pos) {
      u64 now = now_ns();
      if (deadline == 0) deadline = now + r.timeout_ns;
      if (now >= deadline) {
        ok = false;
        break;
      }
      wait.pause();
    }
    if (ok) {
      store_relaxed(&e->slot, idx);
      // release: the consumer that acquires seq == pos + 1 sees the index
      store_release(&e->seq, (u32)(pos + 1));
    }
  }
  __syncwarp(mask);
  if (lane == leader) ring_doorbell(r);
  return ok;
}

// Waits for this lane's slot. Returns the result; on timeout orphans the slot
// (the executor frees it) and sets idx = kNoSlot so the caller won't free it.
GSYS_DEVICE long wait_slot(const ring& r, u32& idx)
{
  gsys_slot* s = &r.slots[idx];
  u64 deadline = 0;
  backoff wait(r);
  for (;;) {
    // acquire: pairs with the executor's release of DONE (ret and buffers)
    u32 st = load_acquire(&s->state);
    if (st == GSYS_SLOT_DONE) return (long)s->ret;
    u64 now = now_ns();
    if (deadline == 0) deadline = now + r.timeout_ns;
    if (now >= deadline && (st == GSYS_SLOT_READY || st == GSYS_SLOT_BUSY)) {
      if (cas_acq_rel(&s->state, st, (u32)GSYS_SLOT_ORPHANED)) {
        idx = kNoSlot;
        return -ETIMEDOUT;
      }
      continue;  // the state moved on (likely DONE): look again
    }
    wait.pause();
  }
}

// Frees the lanes' slots (idx != kNoSlot): one release per claim word. The
// word's lowest lane stores FREE into each slot and then clears the bits, so
// its own release orders those stores before the next owner's claim.
GSYS_DEVICE void release_slots(const ring& r, u32 mask, u32 idx)
{
  const u32 word = idx == kNoSlot ? kNoSlot : idx / 32;
  const u32 group = __match_any_sync(mask, word);
  const u32 bits = __reduce_add_sync(group, idx == kNoSlot ? 0u : 1u << (idx % 32));
  if (word == kNoSlot || lane_id() != (u32)(__ffs(group) - 1)) return;
  for (u32 b = bits; b; b &= b - 1) store_relaxed(&r.slots[word * 32 + __ffs(b) - 1].state, GSYS_SLOT_FREE);
  fetch_and_release(&r.bitmap[word], ~bits);
}

// Every lane in mask makes its own call (a warp collective over mask). The
// claim, the submission and the release are aggregated over the warp; when
// the ring has fewer free slots than lanes, the lanes go in rounds.
GSYS_DEVICE long call_lanes(const ring& r, u32 mask, const request& q)
{
  const bool nonblock = q.flags & GSYS_SLOT_F_NONBLOCK;
  u32 pending = mask;
  long ret = -ETIMEDOUT;
  while (pending) {
    bool timed_out;
    u32 idx = claim_round(r, mask, pending, timed_out);
    if (timed_out) break;
    pending &= ~__ballot_sync(mask, idx != kNoSlot);
    if (idx != kNoSlot) publish(r, idx, q);
    const bool queued = submit(r, mask, idx);
    if (idx != kNoSlot) {
      if (!queued) ret = -ETIMEDOUT;  // corrupt queue: the slot stays claimed
      else if (nonblock) ret = 0;     // the executor frees it
      else ret = wait_slot(r, idx);
      if (!queued || nonblock) idx = kNoSlot;
    }
    __syncwarp(mask);
    release_slots(r, mask, idx);
  }
  return ret;
}

// One slot, one lane: the path used by the elected caller of a group call.
GSYS_DEVICE long call_one(const ring& r, const request& q)
{
  return call_lanes(r, 1u << lane_id(), q);
}

}  // namespace gsys::detail
