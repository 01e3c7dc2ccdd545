#include "stats.h"

#include "ring_access.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace gsys::detail {

namespace {

std::uint64_t rd(const std::uint64_t& v)
{
  return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(v)).load(std::memory_order_relaxed);
}

// Waits until no shard has a call between DONE and its record, or until a
// deadline: a record takes nanoseconds, unless its thread was preempted.
void wait_for_records(const stats_page& page, unsigned nshards)
{
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  for (unsigned i = 0; i < nshards; ++i) {
    std::atomic_ref<std::uint32_t> r(const_cast<std::uint32_t&>(page.shard[i].recording));
    while (r.load(std::memory_order_acquire) != 0) {
      if (std::chrono::steady_clock::now() > deadline) return;
      std::this_thread::yield();
    }
  }
}

}  // namespace

stats_snapshot summarize(const stats_page& page, const gsys_ring_header* h, gsys_u32 nslots, gsys_u32 sq_entries)
{
  stats_snapshot s;
  s.executor = std::string(page.executor, strnlen(page.executor, sizeof page.executor));
  // Executor threads take shards while this runs (executor.cpp, fetch_add).
  const std::uint32_t nshards =
      std::atomic_ref<std::uint32_t>(const_cast<std::uint32_t&>(page.nshards)).load(std::memory_order_relaxed);
  const unsigned n = nshards < kMaxShards ? nshards : kMaxShards;
  wait_for_records(page, n);
  for (unsigned o = 0; o < kOpSlots; ++o) {
    op_stats op;
    op.name = o < GSYS_OP_COUNT ? kOps[o].name : "other";
    op.nr = o < GSYS_OP_COUNT ? kOps[o].nr : -1;
    op.latency_hist.assign(kLatencyBuckets, 0);
    for (unsigned i = 0; i < n; ++i) {
      const op_counters& c = page.shard[i].op[o];
      op.calls += rd(c.calls);
      op.errors += rd(c.errors);
      op.denied += rd(c.denied);
      op.nonblocking += rd(c.nonblocking);
      for (unsigned b = 0; b < kLatencyBuckets; ++b) op.latency_hist[b] += rd(c.hist[b]);
    }
    if (!op.calls) continue;
    s.calls += op.calls;
    s.errors += op.errors;
    s.denied += op.denied;
    s.ops.push_back(std::move(op));
  }
  if (h && s.executor == "kmod") {
    // genesys.ko counts the calls it runs in the ring header, where our
    // completions are counted too; the header's excess over our shards is
    // the kernel's share. The kmod executor replaces this estimate with the
    // module's per-operation counts (add_op_counts) where it can ask for
    // them; a reader of a published page (genesys stat) cannot.
    const std::uint64_t done = rd(h->completed), failed = rd(h->failed), denied = rd(h->denied);
    op_stats op;
    op.name = kInKernelOp;
    op.nr = -1;
    op.calls = done > s.calls ? done - s.calls : 0;
    op.errors = failed > s.errors ? failed - s.errors : 0;
    op.denied = denied > s.denied ? denied - s.denied : 0;
    if (op.calls) {
      s.calls += op.calls;
      s.errors += op.errors;
      s.denied += op.denied;
      s.ops.push_back(std::move(op));
    }
  }
  if (h) {
    s.garbage = rd(h->garbage);
    s.skipped = rd(h->skipped);
    s.queue_depth = ring_access(const_cast<gsys_ring_header*>(h), nslots, sq_entries, 0).queue_depth();
  }
  return s;
}

void add_op_counts(stats_snapshot& s, const gsys_ioc_op_stats (&ops)[kOpSlots])
{
  auto named = [&s](const char* name) {
    return std::find_if(s.ops.begin(), s.ops.end(), [name](const op_stats& op) { return op.name == name; });
  };
  // the module's own counts replace the estimate of its share
  if (auto est = named(kInKernelOp); est != s.ops.end()) {
    s.calls -= est->calls;
    s.errors -= est->errors;
    s.denied -= est->denied;
    s.ops.erase(est);
  }
  std::vector<op_stats> merged;
  for (unsigned o = 0; o < kOpSlots; ++o) {
    const char* name = o < GSYS_OP_COUNT ? kOps[o].name : "other";
    op_stats op;
    if (auto it = named(name); it != s.ops.end()) {
      op = std::move(*it);
      s.ops.erase(it);
    } else {
      op.name = name;
      op.nr = o < GSYS_OP_COUNT ? kOps[o].nr : -1;
      op.latency_hist.assign(kLatencyBuckets, 0);  // the module keeps no latencies
    }
    op.calls += ops[o].calls;
    op.errors += ops[o].errors;
    op.denied += ops[o].denied;
    op.nonblocking += ops[o].nonblocking;
    s.calls += ops[o].calls;
    s.errors += ops[o].errors;
    s.denied += ops[o].denied;
    if (op.calls) merged.push_back(std::move(op));
  }
  for (op_stats& rest : s.ops) merged.push_back(std::move(rest));
  s.ops = std::move(merged);
}

}  // namespace gsys::detail

namespace gsys {

std::uint64_t op_stats::percentile_ns(double p) const
{
  // A percent: outside [0, 100] (a NaN included) it answered the top bucket.
  if (!(p >= 0 && p <= 100)) {
    char what[120];
    std::snprintf(what, sizeof what, "genesys: op_stats::percentile_ns(%g): p is a percent in [0, 100] (99 for p99)", p);
    throw std::invalid_argument(what);
  }
  std::uint64_t total = 0;
  for (auto v : latency_hist) total += v;
  if (!total) return 0;
  const double want = p / 100.0 * (double)total;
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < latency_hist.size(); ++b) {
    if (!latency_hist[b]) continue;  // p0 is the first bucket with a call, not bucket 0
    seen += latency_hist[b];
    // report the bucket's geometric middle: [2^b, 2^(b+1)) -> 1.41 * 2^b
    if ((double)seen >= want) return (std::uint64_t)((double)(1ull << b) * 1.4142);
  }
  return 1ull << (latency_hist.size() - 1);
}

std::string stats_snapshot::to_text() const
{
  std::ostringstream o;
  char line[200];
  std::snprintf(line, sizeof line,
                "executor %s: %llu calls, %llu errors, %llu denied, %llu garbage, %llu skipped, %llu timeouts, queue %llu\n",
                executor.c_str(), (unsigned long long)calls, (unsigned long long)errors, (unsigned long long)denied,
                (unsigned long long)garbage, (unsigned long long)skipped, (unsigned long long)timeouts,
                (unsigned long long)queue_depth);
  o << line;
  if (ops.empty()) return o.str();
  std::snprintf(line, sizeof line, "  %-10s %12s %10s %8s %10s %10s\n", "op", "calls", "errors", "denied", "p50", "p99");
  o << line;
  for (const op_stats& op : ops) {
    std::snprintf(line, sizeof line, "  %-10s %12llu %10llu %8llu %8lluns %8lluns\n", op.name.c_str(),
                  (unsigned long long)op.calls, (unsigned long long)op.errors, (unsigned long long)op.denied,
                  (unsigned long long)op.percentile_ns(50), (unsigned long long)op.percentile_ns(99));
    o << line;
  }
  return o.str();
}

std::string stats_snapshot::to_json() const
{
  std::ostringstream o;
  o << "{\"executor\":\"" << executor << "\",\"calls\":" << calls << ",\"errors\":" << errors
    << ",\"denied\":" << denied << ",\"garbage\":" << garbage << ",\"skipped\":" << skipped << ",\"timeouts\":" << timeouts
    << ",\"queue_depth\":" << queue_depth << ",\"ops\":[";
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const op_stats& op = ops[i];
    o << (i ? "," : "") << "{\"op\":\"" << op.name << "\",\"nr\":" << op.nr << ",\"calls\":" << op.calls
      << ",\"errors\":" << op.errors << ",\"denied\":" << op.denied << ",\"nonblocking\":" << op.nonblocking
      << ",\"p50_ns\":" << op.percentile_ns(50) << ",\"p99_ns\":" << op.percentile_ns(99) << "}";
  }
  o << "]}";
  return o.str();
}

}  // namespace gsys
