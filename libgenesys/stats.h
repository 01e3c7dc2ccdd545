// Statistics: each executor thread owns one shard (no shared cache lines on
// the hot path; threads beyond kMaxShards share the last one); a snapshot
// sums the shards. The shards live in the page after the ring, so
// `genesys stat <pid>` can read them from /dev/shm.
#pragma once

#include <atomic>
#include <cstdint>

#include <genesys/runtime.h>

#include "op_table.h"

namespace gsys::detail {

constexpr std::uint32_t kStatsMagic = 0x41545347u;  // "GSTA"
constexpr std::uint32_t kStatsVersion = 1;
constexpr unsigned kMaxShards = 16;
constexpr unsigned kOpSlots = GSYS_OP_COUNT + 1;  // table ops + "other"
constexpr unsigned kLatencyBuckets = 40;          // up to ~2^40 ns = 18 min

struct alignas(64) op_counters {
  std::uint64_t calls, errors, denied, nonblocking;
  std::uint64_t hist[kLatencyBuckets];
};

struct alignas(64) stats_shard {
  op_counters op[kOpSlots];
  std::uint64_t other_nr_last;  // last opcode counted under "other"
  // Nonzero when several executor threads record here (more threads than
  // shards share the last one). Fits the padding: the layout is unchanged.
  std::uint32_t shared;
  // Calls published DONE but not yet recorded here (finish_call, in
  // executor.cpp, counts after DONE so that the device does not wait for
  // the statistics). summarize() waits for it to be 0. In the padding too.
  std::uint32_t recording;
};
static_assert(sizeof(stats_shard) == sizeof(op_counters) * kOpSlots + 64, "a shard is its counters and one line");

struct stats_page {
  std::uint32_t magic;
  std::uint32_t version;
  std::uint32_t nshards;  // shards in use
  std::uint32_t pid;
  char executor[16];
  std::uint64_t ring_bytes;
  std::uint64_t start_ns;
  std::uint8_t pad[64 - 48];
  stats_shard shard[kMaxShards];
};

inline unsigned latency_bucket(std::uint64_t ns)
{
  unsigned b = ns ? 63u - (unsigned)__builtin_clzll(ns) : 0u;
  return b < kLatencyBuckets ? b : kLatencyBuckets - 1;
}

// Records one call in a shard. An owned shard has one writer: a relaxed
// store of v + 1 lets a reader sum it without tearing. A shared shard needs
// atomic adds; they cost ~12 ns per record against ~2 ns (a locked add per
// counter, measured on the build VM), a tenth of a call at 10 M calls/s, so
// only the shared shard pays for them.
inline void record(stats_shard& s, unsigned nr, std::int64_t ret, std::uint64_t ns, bool denied,
                   bool nonblocking)
{
  op_counters& c = s.op[op_index(nr)];
  const bool shared = std::atomic_ref<std::uint32_t>(s.shared).load(std::memory_order_relaxed);
  auto bump = [shared](std::uint64_t& v) {
    std::atomic_ref<std::uint64_t> a(v);
    if (shared) a.fetch_add(1, std::memory_order_relaxed);
    else a.store(v + 1, std::memory_order_relaxed);
  };
  bump(c.calls);
  if (ret < 0) bump(c.errors);
  if (denied) bump(c.denied);
  if (nonblocking) bump(c.nonblocking);
  bump(c.hist[latency_bucket(ns)]);
  if (op_index(nr) == kOtherOp) std::atomic_ref<std::uint64_t>(s.other_nr_last).store(nr, std::memory_order_relaxed);
}

// Bracket a call's DONE and its record(): a snapshot taken by a thread that
// saw the call finish waits for the record. The mark is set before DONE
// (whose release store orders it) and cleared with release after the
// counts, so a reader that sees it cleared sees them. A shared shard has
// several writers and counts with atomic adds.
inline void add_recording(stats_shard& s, std::uint32_t delta, std::memory_order order)
{
  std::atomic_ref<std::uint32_t> r(s.recording);
  if (std::atomic_ref<std::uint32_t>(s.shared).load(std::memory_order_relaxed)) r.fetch_add(delta, order);
  else r.store(r.load(std::memory_order_relaxed) + delta, order);
}
inline void begin_recording(stats_shard& s) { add_recording(s, 1, std::memory_order_relaxed); }
inline void end_recording(stats_shard& s) { add_recording(s, ~0u, std::memory_order_release); }  // minus one

// Sums the shards of a stats page (and the ring header's totals). For the
// kmod executor it adds one "in-kernel" pseudo-op: the header's excess over
// the shards, i.e. what genesys.ko ran, estimated without a breakdown.
// `nslots`/`sq_entries`: the ring's geometry as the caller validated it
// (never re-read from the header, which the device side can write). It
// first waits, up to 100 ms in all, for records in progress (begin_recording).
stats_snapshot summarize(const stats_page& page, const gsys_ring_header* h, gsys_u32 nslots, gsys_u32 sq_entries);

constexpr const char* kInKernelOp = "in-kernel";

// Adds per-operation counts kept elsewhere (genesys.ko's, kOpSlots entries in
// op-table order, the last "other") to a snapshot from summarize(), merging
// them by name into the shards' entries and replacing the "in-kernel"
// estimate; the totals follow.
void add_op_counts(stats_snapshot& s, const gsys_ioc_op_stats (&ops)[kOpSlots]);

}  // namespace gsys::detail
