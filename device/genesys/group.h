// Who calls and how the call is ordered against the rest of its group: the
// GENESYS invocation model on top of the ring client.
//
//   granularity  who makes the call                 result reaches
//   thread       every calling thread, own slot     that thread
//                (warp-aggregated claim/submission)
//   warp         lowest lane of the warp's lanes    those lanes (shuffle); every
//                (the whole warp, or r.with_lanes(m))  one of them must call
//   block        thread 0; all threads must call    the block (shared memory)
//   grid         one elected block leader; all       every thread of the grid
//                threads of all blocks must call; the kernel is launched
//                with gsys::launch(..., gsys::cooperative{}, ...) (else -EINVAL)
//
// Ordering, per GENESYS: `strong` puts a group barrier before and after the
// call. `relaxed` keeps only the barrier the data needs, from the op table's
// direction: a call that fills memory (read, pread, recvfrom) has its barrier
// after, so the group waits for the data; a call that sends memory out
// (write, pwrite, sendto) has its barrier before, so the group's data is
// complete when it leaves, and the rest of the group does not wait for the
// result: they get gsys::not_waited. For a single thread both orderings are
// the same (its own program order).
#pragma once

#include "ring_client.h"

namespace gsys {

struct thread { static constexpr u32 code = GSYS_GRAN_THREAD; };
struct warp { static constexpr u32 code = GSYS_GRAN_WARP; };
struct block { static constexpr u32 code = GSYS_GRAN_BLOCK; };
struct grid { static constexpr u32 code = GSYS_GRAN_GRID; };
// GENESYS's names.
using work_item = thread;
using wavefront = warp;
using workgroup = block;
using kernel = grid;

struct relaxed { static constexpr bool is_strong = false; };
struct strong { static constexpr bool is_strong = true; };

// What the non-calling members of a group get back from a relaxed call that
// sends data out: they did not wait for its completion.
constexpr long not_waited = -EINPROGRESS;

namespace detail {

struct call_plan {
  bool barrier_before;
  bool others_wait;  // false: relaxed send, the rest of the group moves on
};

template <class O>
GSYS_DEVICE call_plan plan(u32 dir, bool nonblock)
{
  const bool out = dir == GSYS_DIR_OUT;
  call_plan p;
  p.barrier_before = O::is_strong || out;
  p.others_wait = !nonblock && (O::is_strong || !out);
  return p;
}

GSYS_DEVICE request with_granularity(request q, u32 code)
{
  q.flags = (u16)((q.flags & ~GSYS_SLOT_F_GRAN_MASK) | (code << GSYS_SLOT_F_GRAN_SHIFT));
  return q;
}

template <class O>
GSYS_DEVICE long warp_call(const ring& r, const request& q, call_plan p)
{
  const u32 mask = warp_lanes(r);
  if (!(mask & (1u << lane_id()))) return -EINVAL;  // a lane outside the lanes it names
  const u32 leader = __ffs(mask) - 1;
  const bool me = lane_id() == leader;
  if (p.barrier_before) __syncwarp(mask);
  long ret = 0;
  // No fence here: the request's release store (system scope) publishes
  // the lanes' writes too, which the barrier ordered before the leader's.
  if (me) ret = call_one(r, q);
  if (!p.others_wait) return me ? ret : (q.flags & GSYS_SLOT_F_NONBLOCK ? 0 : not_waited);
  // The shuffle is the barrier after: every lane waits for the leader's result.
  return (long)__shfl_sync(mask, (long long)ret, leader);
}

template <class O>
GSYS_DEVICE long block_call(const ring& r, const request& q, call_plan p)
{
  __shared__ long long result;
  const bool me = thread_rank_in_block() == 0;
  if (p.barrier_before) __syncthreads();
  long ret = 0;
  if (me) ret = call_one(r, q);  // its release publishes the block's writes (warp_call)
  if (!p.others_wait) return me ? ret : (q.flags & GSYS_SLOT_F_NONBLOCK ? 0 : not_waited);
  if (me) result = ret;
  __syncthreads();
  ret = (long)result;
  __syncthreads();  // nobody overwrites `result` before everyone has read it
  return ret;
}

// A grid call of this launch gave up waiting: the grid is out of step. The
// first block leader to find it so marks the grid with its rank and counts
// the call; it alone counts the launch's later grid calls, which fail at
// once (every block makes the same grid calls in the same order), so each
// grid call that returns -ETIMEDOUT counts once, not once per block.
GSYS_DEVICE long grid_gave_up(const ring& r, grid_state* g)
{
  u32 none = 0;
  if (cas_acq_rel<device>(&g->broken, none, block_rank_in_grid() + 1)) count_timeouts(r, 1);
  return -ETIMEDOUT;
}

// A grid-wide barrier among block leaders, on the launch's grid state
// (device memory). Returns the barrier's index, or -1 after the ring's
// timeout (a block never arrived: the grid is marked out of step).
GSYS_DEVICE long long grid_barrier(const ring& r, grid_state* g, bool& last)
{
  const u64 nb = grid_blocks();
  const u64 gen = load_acquire<device>(&g->gen);  // cannot advance without us
  const u64 t = fetch_add_acq_rel<device>(&g->arrive, (u64)1);
  last = t + 1 == nb;
  if (last) {
    store_relaxed<device>(&g->arrive, (u64)0);
    store_release<device>(&g->gen, gen + 1);  // releases the waiters and the reset
    return (long long)gen;
  }
  backoff wait(r);
  while (load_acquire<device>(&g->gen) == gen) {
    if (!wait.pause()) {
      grid_gave_up(r, g);
      return -1;
    }
  }
  return (long long)gen;
}

// This block's count of ticket elections, kept in the grid state.
GSYS_DEVICE u64* grid_block_calls(grid_state* g)
{
  return reinterpret_cast<u64*>(g + 1) + block_rank_in_grid();
}

// Run by each block's leader. The caller is elected among block leaders: the
// last to arrive at the barrier before (strong, send) or, with no barrier
// before (relaxed receive/control), the first to move the election round
// from this block's call count k to k + 1; every block makes the same grid
// calls in the same order, so the k-th such call has exactly one winner,
// blocking or not. `act` is what the elected leader runs.
template <class F>
GSYS_DEVICE long grid_leader_run(const ring& r, call_plan p, bool nonblock, F&& act)
{
  grid_state* g = r.grid;
  if (!g) return -EINVAL;  // not a cooperative gsys::launch: the blocks may not all be resident
  if (const u32 broken = load_relaxed<device>(&g->broken)) {
    if (broken == block_rank_in_grid() + 1) count_timeouts(r, 1);  // grid_gave_up
    return -ETIMEDOUT;
  }
  bool elected = false;
  if (p.barrier_before) {
    if (grid_barrier(r, g, elected) < 0) return -ETIMEDOUT;
  } else {
    u64* mine = grid_block_calls(g);
    u64 k = *mine;
    *mine = k + 1;
    elected = cas_acq_rel<device>(&g->round, k, k + 1);
  }
  long ret = 0;
  if (elected) ret = act();
  if (!p.others_wait) return elected ? ret : (nonblock ? 0 : not_waited);

  // The elected leader publishes the result stamped with the index of the
  // barrier after; a leader released by that barrier waits for the stamp, so
  // a fast block starting the next round cannot be read by mistake.
  bool last = false;
  const u64 gen = load_acquire<device>(&g->gen);  // index of the barrier after
  if (elected) {
    g->ret[gen & 1] = ret;
    store_release<device>(&g->stamp[gen & 1], gen + 1);
  }
  if (grid_barrier(r, g, last) < 0) return -ETIMEDOUT;
  backoff wait(r);
  while (load_acquire<device>(&g->stamp[gen & 1]) != gen + 1) {
    if (!wait.pause()) return grid_gave_up(r, g);
  }
  return (long)g->ret[gen & 1];
}

// The grid-level call around an action run by the elected block leader.
template <class F>
GSYS_DEVICE long grid_run(const ring& r, call_plan p, bool nonblock, F&& act)
{
  __shared__ long long result;
  const bool me = thread_rank_in_block() == 0;
  __syncthreads();  // the block is represented by its leader from here on
  long ret = 0;
  if (me) ret = grid_leader_run(r, p, nonblock, act);
  if (!p.others_wait) return me ? ret : (nonblock ? 0 : not_waited);
  if (me) result = ret;
  __syncthreads();
  ret = (long)result;
  __syncthreads();
  return ret;
}

template <class O>
GSYS_DEVICE long grid_call(const ring& r, const request& q, call_plan p)
{
  // The grid's writes reach the elected leader through the barrier (device
  // scope) and the host through the request's release (system scope).
  return grid_run(r, p, (q.flags & GSYS_SLOT_F_NONBLOCK) != 0, [&]() -> long { return call_one(r, q); });
}

// The single entry point: granularity G, ordering O, direction from the op table.
template <class G, class O>
GSYS_DEVICE long invoke(const ring& r, request q, u32 dir)
{
  // A number that does not fit the ABI's nr (make_request) is refused before
  // anything is queued, and before the group's barriers: every member of a
  // group call passes the same number, so they all return here.
  if (q.nr == kNoOpcode) return -ENOSYS;
  q = with_granularity(q, G::code);
  const call_plan p = plan<O>(dir, q.flags & GSYS_SLOT_F_NONBLOCK);
  if constexpr (G::code == GSYS_GRAN_THREAD) {
    return call_lanes(r, __activemask(), q);
  } else if constexpr (G::code == GSYS_GRAN_WARP) {
    return warp_call<O>(r, q, p);
  } else if constexpr (G::code == GSYS_GRAN_BLOCK) {
    return block_call<O>(r, q, p);
  } else {
    return grid_call<O>(r, q, p);
  }
}

}  // namespace detail
}  // namespace gsys
