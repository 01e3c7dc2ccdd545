// The device side of the ring protocol (v2; who writes what: include/genesys/abi.h).
//
// Every function that takes a `mask` is a warp collective: all lanes named in
// mask call it together, and the work that needs an atomic is done once per
// warp by the lowest lane: one claim for the whole warp's slots, one
// fetch_add for its queue positions, one release per claim word. Those
// atomics are on device memory; across the link the way in is posted stores
// only (the slot's READY, then the queue entry with the request in it), and
// the way back is polling the slot's state until the host stores DONE. A
// single-thread call is the same code with a one-lane mask.
#pragma once

#include <cerrno>
#if !GSYS_CUDA
#include <cstdio>
#include <cstdlib>
#endif

#include "platform.h"

namespace gsys::detail {

constexpr u32 kNoSlot = 0xffffffffu;
// A request's nr for a number that does not fit the ABI's 16-bit field
// (calls.h make_request): refused with -ENOSYS before anything is queued.
constexpr u32 kNoOpcode = 0xffffffffu;

struct request {
  u32 nr = 0;  // an opcode (<= GSYS_NR_MAX), or kNoOpcode
  u16 flags = 0;
  u64 arg[GSYS_SLOT_ARGS] = {0, 0, 0, 0, 0, 0};
  u32 chunk = GSYS_NO_CHUNK;  // device only: a staging chunk to quarantine with the slot on timeout
};

// Polling with backoff, bounded by the ring's timeout: every backoff_min_ns
// (spin_pause) for the first backoff_spin_ns of a wait (a round trip is
// usually over by then), then doubling up to backoff_max_ns. Backing off at
// once made both sides fall asleep in turn on the simulator (the device past
// its spin threshold, the executor past its own) and locked a busy ring into
// a ~70 µs round trip. pause() returns false, without sleeping, once the
// timeout has passed since the wait's first pause; one clock read serves
// both. On the simulator, whose spinning pause is a yield much shorter than
// a clock read, the clock is read on every kClockEvery-th pause of a spin.
struct backoff {
  static constexpr u32 kClockEvery = GSYS_CUDA ? 1 : 16;
  u32 ns;
  u32 min_ns;
  u32 max_ns;
  u32 spin_ns;
  u64 timeout_ns;
  u64 start = 0;
  u32 pauses = 0;
  bool spinning = false;
  GSYS_DEVICE explicit backoff(const ring& r)
      : ns(r.backoff_min_ns), min_ns(r.backoff_min_ns), max_ns(r.backoff_max_ns), spin_ns(r.backoff_spin_ns),
        timeout_ns(r.timeout_ns)
  {
  }
  GSYS_DEVICE bool pause()
  {
    if (spinning && ++pauses % kClockEvery != 0) {
      spin_pause(min_ns);
      return true;
    }
    const u64 now = now_ns();
    if (start == 0) start = now;
    if (now - start >= timeout_ns) return false;
    spinning = now - start < spin_ns;
    if (spinning) {
      spin_pause(min_ns);
      return true;
    }
    sleep_ns(ns);
    ns = ns * 2 < max_ns ? ns * 2 : max_ns;
    return true;
  }
};

// Frees staging chunk c (device/genesys/staging.h). release: every access to
// the chunk (the host's, which the caller acquired with the result, and the
// caller's copies) precedes the next owner's claim.
GSYS_DEVICE void release_chunk(const ring& r, long c)
{
  fetch_and_release<device>(&r.staging_bitmap[c / 32], ~(1u << (c % 32)));
}

// Whether parked slot i is finished: the host released DONE (and with it
// the buffers). acquire: pairs with that release.
GSYS_DEVICE bool slot_done(const ring& r, u32 i) { return GSYS_SLOT_FINISHED(load_acquire<host>(&r.slots[i].state)); }

// The result of the call in slot s, whose finished state the caller
// acquired: in the state word itself, or, in DONE_WIDE (a result past 61
// bits: a huge lseek offset), in ret: the one case that costs a second load.
GSYS_DEVICE long slot_result(gsys_slot* s, u64 state)
{
  if (GSYS_SLOT_TAG(state) == GSYS_SLOT_DONE) return (long)GSYS_SLOT_INLINE_RET(state);
  return (long)load_relaxed<host>(&s->ret);
}

// Takes the `candidates` bits of pending[w] (slots seen DONE) and frees
// those still DONE once taken, with their quarantined staging chunks; a bit
// taken for a slot that is not DONE goes back. Seeing DONE before taking the
// bit is not enough (issue #9 finding): another sweeper can free that slot
// in between, and a new caller claim it and park it again with its call
// still running; the stale look then freed the new call's slot and staging
// chunk to a third caller while the host was still using them (a lost call,
// a garbage queue entry). Once this sweeper holds the bit, nobody can free
// or reuse the slot, so the second look is the truth. Returns the bits freed.
GSYS_DEVICE u32 reclaim_bits(const ring& r, u32 w, u32 candidates)
{
  u32 mine = fetch_and_acq_rel<device>(&r.pending[w], ~candidates) & candidates;  // one sweeper per bit
  u32 back = 0;
  for (u32 b = mine; b; b &= b - 1)
    if (!slot_done(r, w * 32 + __ffs(b) - 1)) back |= b & (~b + 1u);
  if (back) {
    fetch_or_release<device>(&r.pending[w], back);
    mine &= ~back;
  }
  for (u32 b = mine; b; b &= b - 1) {
    const u32 i = w * 32 + __ffs(b) - 1;
    const u32 c = r.slot_chunk[i];
    if (c != GSYS_NO_CHUNK) {
      r.slot_chunk[i] = GSYS_NO_CHUNK;
      release_chunk(r, c);
    }
  }
  if (mine) fetch_and_release<device>(&r.claim[w], ~mine);
  return mine;
}

// Frees the slots of claim word w that their callers left (fire-and-forget
// or timed out) and the host has finished since (state DONE). One load of
// host memory per parked slot: only run when a word cannot give a warp all
// the slots it wants.
GSYS_DEVICE u32 reclaim_word(const ring& r, u32 w)
{
  // acquire: pairs with the release that parked the slot after its READY store
  const u32 parked = load_acquire<device>(&r.pending[w]);
  u32 done = 0;
  for (u32 b = parked; b; b &= b - 1)
    if (slot_done(r, w * 32 + __ffs(b) - 1)) done |= b & (~b + 1u);
  return done ? reclaim_bits(r, w, done) : 0;
}

// reclaim_word over the whole ring: what a caller short of staging chunks
// runs, since quarantined chunks come back only with their slots.
GSYS_DEVICE u32 reclaim_parked(const ring& r)
{
  u32 freed = 0;
  for (u32 w = 0; w < r.nslots / 32; ++w)
    if (load_relaxed<device>(&r.pending[w])) freed += __popc(reclaim_word(r, w));
  return freed;
}

// A handle no runtime made (gsys::ring{}) has no slots. A call on it
// stops the kernel saying so, where it divided by zero (the simulator's
// SIGFPE) or faulted on a null pointer. Callers reach it on a value they
// already loaded (nslots): the hot path gains one untaken branch.
inline GSYS_DEVICE_NOINLINE void empty_ring()
{
#if GSYS_CUDA
  printf("genesys: call on an empty gsys::ring (not obtained from a runtime) in block %u, thread %u\n",
         block_rank_in_grid(), thread_rank_in_block());
  __trap();
#else
  std::fprintf(stderr, "genesys: call on an empty gsys::ring (not obtained from a runtime) in block %u, thread %u\n",
               block_rank_in_grid(), thread_rank_in_block());
  std::abort();
#endif
}

// What one claim round gave a warp: the same in every lane but idx.
struct claim {
  u32 idx = kNoSlot;        // this lane's slot, or kNoSlot: none this round
  u32 word = 0;             // the claim word all of the round's slots are in
  u32 bits = 0;             // those slots, as bits of that word
  u32 lanes = 0;            // the lanes that got one: the k-th lowest took the k-th lowest bit
  u64 sq_base = 0;          // their queue positions, one each from here, in lane order
  bool timed_out = false;   // the ring stayed full too long; nothing was claimed
};

// Counts n calls that returned -ETIMEDOUT (runtime::stats().timeouts):
// one per lane at thread granularity, one per warp, block or grid call, as
// calls are counted (one request each). Device memory; callers add a warp's
// count at once.
GSYS_DEVICE void count_timeouts(const ring& r, u32 n)
{
  if (n) fetch_add_relaxed<device>(&r.dev->timeouts, (u64)n);
}

// One lane's claim of slot idx alone (a future's).
GSYS_DEVICE claim single_claim(u32 idx)
{
  claim c;
  c.idx = idx;
  c.word = idx / 32;
  c.bits = 1u << (idx % 32);
  c.lanes = 1u << lane_id();
  return c;
}

// One claim for the `pending` lanes of mask (a warp collective over mask):
// the leader takes as many free slots as one claim word offers, at least one,
// waiting while the ring is full, and reserves as many queue positions. A
// warp never holds slots while it waits for more, so warps competing for a
// small ring cannot deadlock each other. A give-up is counted here, for
// every pending lane: each of them returns -ETIMEDOUT.
GSYS_DEVICE claim claim_round(const ring& r, u32 mask, u32 pending)
{
  const u32 lane = lane_id();
  const u32 leader = __ffs(mask) - 1;
  const u32 nwords = r.nslots / 32;
  u32 got = 0, got_word = 0, give_up = 0;
  u64 base = 0;
  if (lane == leader) {
    if (nwords == 0) empty_ring();
    const u32 want = __popc(pending);
    u32 word = global_warp_id() % nwords;  // warps start apart to avoid contention
    backoff wait(r);
    for (;;) {
      for (u32 i = 0; i < nwords && !got; ++i) {
        u32* w = &r.claim[word];
        u32 cur = load_relaxed<device>(w);
        // Short of what the warp wants: first free what callers left behind.
        if ((u32)__popc(~cur) < want && reclaim_word(r, word)) cur = load_relaxed<device>(w);
        while (~cur != 0u) {
          u32 take = lowest_bits(~cur, want);
          // acquire: the slots' previous owner saw DONE before releasing
          if (cas_acq_rel<device>(w, cur, cur | take)) {
            got = take;
            got_word = word;
            break;
          }
        }
        if (!got) word = word + 1 == nwords ? 0 : word + 1;
      }
      if (got) break;
      if (!wait.pause()) {
        give_up = 1;
        count_timeouts(r, __popc(pending));
        break;
      }
    }
    if (got) base = fetch_add_relaxed<device>(&r.dev->sq_tail, (u64)__popc(got));
  }
  // One collective for the four answers (a word index fits 31 bits): on the
  // simulator each one switches every lane.
  const u64_pair answer =
      lanes_shfl2(mask, (u64)got | ((u64)got_word << 32) | ((u64)give_up << 63), base, leader);
  claim c;
  c.bits = (u32)answer.first;
  c.word = (u32)(answer.first >> 32) & 0x7fffffffu;
  c.timed_out = (answer.first >> 63) != 0;
  c.sq_base = answer.second;
  // Every lane knows who got what: no ballot needed.
  c.lanes = lowest_bits(pending, __popc(c.bits));
  if (c.lanes & (1u << lane)) c.idx = c.word * 32 + nth_set_bit(c.bits, __popc(c.lanes & lanemask_lt()));
  return c;
}

// Marks this lane's claimed slot READY (a posted store): the DONE of its
// previous call is gone before the new call can be answered. The request
// itself goes into the queue entry (submit), whose release orders this
// store too.
GSYS_DEVICE void publish(const ring& r, u32 idx)
{
  store_relaxed<host>(&r.slots[idx].state, (u64)GSYS_SLOT_READY);
}

// The simulator's stand-in for an interrupt: wakes executors asleep on the
// doorbell futex. A GPU has none and never touches the header; its
// executors find work by polling the queue.
GSYS_DEVICE void ring_doorbell(const ring& r)
{
#if !GSYS_CUDA
  sim_wake_executors(r.hdr);
#else
  (void)r;
#endif
}

// Pushes this lane's request for its published slot (c.idx) onto the
// submission queue, at the position its claim reserved: the request, then
// one 64-bit store with release into the entry's line, posted stores only.
// Nothing here waits for the host: an entry's previous lap was consumed
// before its slot could be claimed again (abi.h).
GSYS_DEVICE void submit(const ring& r, const claim& c, const request& q)
{
  if (c.idx == kNoSlot) return;
  const u64 pos = c.sq_base + __popc(c.lanes & lanemask_lt());
  gsys_sq_entry* e = &r.sq[pos & r.sq_mask];
  // Four posted writes: nr, flags and the pad as one 8-byte store, the
  // arguments as three 16-byte ones (one store each was eight).
  store_relaxed<host>(reinterpret_cast<u64*>(&e->nr), (u64)q.nr | ((u64)q.flags << 16));
  static_assert(GSYS_SLOT_ARGS == 6, "three 16-byte stores");
  for (int i = 0; i < GSYS_SLOT_ARGS; i += 2) store_relaxed_x2<host>(&e->arg[i], q.arg[i], q.arg[i + 1]);
  // release: the executor that acquires the entry sees the request, the slot and the buffers
  store_release<host>(reinterpret_cast<u64*>(e), (u64)GSYS_SQ_WORD(pos, c.idx));
#if !GSYS_CUDA
  // The lane that queues the round's last entry rings the doorbell, so a
  // woken executor finds them all (a GPU has no doorbell: its executors
  // poll). A block's threads share one OS thread here: a count per round
  // needs no atomics, and no collective. Rounds of one warp's diverged
  // groups run at once, their lanes alternating: each counts under its own
  // lowest lane.
  __shared__ u32 queued[1024];
  u32& n = queued[(thread_rank_in_block() & ~31u) + __ffs(c.lanes) - 1];
  if (++n == (u32)__popc(c.lanes)) {
    n = 0;
    ring_doorbell(r);
  }
#endif
}

// One round of a warp's calls (a warp collective over mask): a claim for the
// `pending` lanes, READY in each slot got, the requests queued. Lanes that
// got a slot leave `pending`. If the claim timed out (the ring stayed full
// too long), nothing was queued.
GSYS_DEVICE claim queue_round(const ring& r, u32 mask, u32& pending, const request& q)
{
  const claim c = claim_round(r, mask, pending);
  if (c.timed_out) return c;
  pending &= ~c.lanes;
  if (c.idx != kNoSlot) publish(r, c.idx);
  submit(r, c, q);
  return c;
}

// Waits for this lane's slot, whatever the ring holds, at most the ring's
// timeout. Returns the result; on timeout returns -ETIMEDOUT and sets
// `park`: the slot (and q.chunk) stay quarantined until the host is done.
// The caller counts the timeout (once per warp: call_lanes).
GSYS_DEVICE long wait_slot(const ring& r, u32 idx, bool& park)
{
  gsys_slot* s = &r.slots[idx];
  backoff wait(r);
  // acquire: pairs with the executor's release of DONE (the result and buffers)
  u64 state;
  while (!GSYS_SLOT_FINISHED(state = poll_acquire(&s->state))) {
    if (!wait.pause()) {
      park = true;
      return -ETIMEDOUT;
    }
  }
  return slot_result(s, state);
}

// Ends the lanes' use of the slots of claim c (a warp collective over mask):
// parked slots (fire-and-forget, timed out) join pending[] for a later
// reclaim_word, the others are released at once; one atomic for each. The
// ballot waits for every lane (and, on a GPU, __syncwarp orders their slot
// reads first), so the leader releases slots nobody reads any more.
// Returns the lanes that parked their slot, in every lane.
GSYS_DEVICE u32 settle_slots(const ring& r, u32 mask, const claim& c, bool park, u32 chunk)
{
  if (c.idx != kNoSlot && park && chunk != GSYS_NO_CHUNK) r.slot_chunk[c.idx] = chunk;
#if GSYS_CUDA
  lanes_sync(mask);  // the simulator's memory is coherent: its ballot is the barrier
#endif
  const u32 parked_lanes = lanes_ballot(mask, c.idx != kNoSlot && park);
  if (!c.lanes || lane_id() != (u32)(__ffs(mask) - 1)) return parked_lanes;
  u32 parked = 0;  // the k-th lane of c.lanes holds the k-th bit of c.bits
  for (u32 l = c.lanes, b = c.bits; l; l &= l - 1, b &= b - 1)
    if (parked_lanes & l & (~l + 1u)) parked |= b & (~b + 1u);
  // release: a parked slot's READY store and chunk precede the sweeper's
  // acquire; a released slot's last access precedes the next claim
  if (parked) fetch_or_release<device>(&r.pending[c.word], parked);
  if (c.bits & ~parked) fetch_and_release<device>(&r.claim[c.word], ~(c.bits & ~parked));
  return parked_lanes;
}

// Every lane in mask makes its own call (a warp collective over mask). The
// claim, the submission and the release are aggregated over the warp; when
// the ring has fewer free slots than lanes, the lanes go in rounds.
// `abandoned` (optional) is set in a lane whose call timed out after it was
// submitted: q.chunk then went into quarantine with the slot.
GSYS_DEVICE long call_lanes(const ring& r, u32 mask, const request& q, bool* abandoned = nullptr)
{
  const bool nonblock = q.flags & GSYS_SLOT_F_NONBLOCK;
  u32 pending = mask;
  long ret = -ETIMEDOUT;
  while (pending) {
    const claim c = queue_round(r, mask, pending, q);
    if (c.timed_out) break;
    bool park = false;
    if (c.idx != kNoSlot) {
      if (nonblock) {
        ret = 0;
        park = true;  // nobody waits: freed once the host is done with it
      } else {
        ret = wait_slot(r, c.idx, park);
        if (park && abandoned) *abandoned = true;
      }
    }
    const u32 parked = settle_slots(r, mask, c, park, nonblock ? GSYS_NO_CHUNK : q.chunk);
    // A blocking call parks only when its wait timed out.
    if (!nonblock && lane_id() == (u32)(__ffs(mask) - 1)) count_timeouts(r, __popc(parked));
  }
  return ret;
}

// One slot, one lane: the path used by the elected caller of a group call.
GSYS_DEVICE long call_one(const ring& r, const request& q, bool* abandoned = nullptr)
{
  return call_lanes(r, 1u << lane_id(), q, abandoned);
}

}  // namespace gsys::detail
