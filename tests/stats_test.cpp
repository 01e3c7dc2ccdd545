// Statistics shards: every call an executor thread records must show up in
// the snapshot, also when there are more executor threads than shards and
// several of them record into the same (last) shard at once.
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "executor.h"
#include "stats.h"

using namespace gsys::detail;

namespace {

// Threads take a shard each from ctx, wait for one another, then record
// `calls` calls each (every fourth a failure) with latencies in two buckets.
void record_concurrently(executor_context& ctx, unsigned threads, unsigned calls)
{
  std::atomic<unsigned> ready{0};
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      stats_shard& shard = ctx.take_shard();
      ready.fetch_add(1);
      while (ready.load() < threads) std::this_thread::yield();
      for (unsigned i = 0; i < calls; ++i)
        record(shard, GSYS_NR_NOP, i % 4 == 0 ? -5 : 0, i % 2 ? 100 : 5000, false, i % 8 == 0);
    });
  for (auto& t : ts) t.join();
}

std::uint64_t hist_total(const gsys::op_stats& op)
{
  std::uint64_t n = 0;
  for (auto v : op.latency_hist) n += v;
  return n;
}

void expect_exact(const stats_page& page, unsigned threads, unsigned calls)
{
  const std::uint64_t total = std::uint64_t(threads) * calls;
  gsys::stats_snapshot s = summarize(page, nullptr, 0, 0);
  ASSERT_EQ(s.ops.size(), 1u);
  const gsys::op_stats& op = s.ops[0];
  EXPECT_EQ(op.nr, (long)GSYS_NR_NOP);
  EXPECT_EQ(s.calls, total);
  EXPECT_EQ(op.calls, total);
  EXPECT_EQ(op.errors, std::uint64_t(threads) * ((calls + 3) / 4));
  EXPECT_EQ(op.nonblocking, std::uint64_t(threads) * ((calls + 7) / 8));
  EXPECT_EQ(hist_total(op), total);
  EXPECT_EQ(op.latency_hist[latency_bucket(100)], std::uint64_t(threads) * (calls / 2));
}

}  // namespace

TEST(Stats, OneShardPerThreadCountsEveryCall)
{
  auto page = std::make_unique<stats_page>();
  executor_context ctx;
  ctx.stats = page.get();
  record_concurrently(ctx, 4, 20000);
  EXPECT_EQ(page->nshards, 4u);
  EXPECT_EQ(page->shard[0].shared, 0u);  // owned shards keep the cheap path
  expect_exact(*page, 4, 20000);
}

// The regression: threads beyond kMaxShards share the last shard, and a
// plain read-modify-write there lost counts whenever two of them raced.
// The owned shards are taken first (and stay empty), so every recording
// thread lands on the shared one and they all overlap.
TEST(Stats, ThreadsSharingTheLastShardLoseNoCounts)
{
  const unsigned threads = 4, calls = 5000000;
  auto page = std::make_unique<stats_page>();
  executor_context ctx;
  ctx.stats = page.get();
  for (unsigned i = 0; i + 1 < kMaxShards; ++i) ctx.take_shard();
  record_concurrently(ctx, threads, calls);
  EXPECT_EQ(page->nshards, kMaxShards - 1 + threads);
  EXPECT_EQ(page->shard[kMaxShards - 2].shared, 0u);
  EXPECT_NE(page->shard[kMaxShards - 1].shared, 0u);
  expect_exact(*page, threads, calls);
}

namespace {

// A snapshot of `page` taken while another thread, 20 ms later, records one
// call in `shard` and ends its recording (what finish_call does after DONE).
gsys::stats_snapshot snapshot_while_a_call_is_recorded(const stats_page& page, stats_shard& shard)
{
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    record(shard, GSYS_NR_NOP, 0, 100, false, false);
    end_recording(shard);
  });
  gsys::stats_snapshot s = summarize(page, nullptr, 0, 0);
  late.join();
  return s;
}

}  // namespace

// finish_call publishes DONE before it counts the call (the device waits
// for DONE, not for the statistics). A snapshot taken in between, by a
// thread that saw the call finish, waits for the count rather than miss it.
TEST(Stats, ASnapshotWaitsForACallPublishedButNotYetCounted)
{
  auto page = std::make_unique<stats_page>();
  executor_context ctx;
  ctx.stats = page.get();
  stats_shard& shard = ctx.take_shard();
  begin_recording(shard);  // DONE is out
  EXPECT_EQ(snapshot_while_a_call_is_recorded(*page, shard).calls, 1u);
}

// Threads sharing the last shard can be between DONE and their record at
// the same time: the first one done must not clear the mark of the other.
TEST(Stats, TheSharedShardWaitsForEveryCallNotYetCounted)
{
  auto page = std::make_unique<stats_page>();
  executor_context ctx;
  ctx.stats = page.get();
  for (unsigned i = 0; i + 1 < kMaxShards; ++i) ctx.take_shard();
  stats_shard& shared = ctx.take_shard();
  ASSERT_NE(shared.shared, 0u);
  begin_recording(shared);  // two threads published DONE
  begin_recording(shared);
  record(shared, GSYS_NR_NOP, 0, 100, false, false);  // the first counts its call
  end_recording(shared);
  EXPECT_EQ(snapshot_while_a_call_is_recorded(*page, shared).calls, 2u);
}

TEST(Stats, LatencyBuckets)
{
  EXPECT_EQ(latency_bucket(0), 0u);
  EXPECT_EQ(latency_bucket(1), 0u);
  EXPECT_EQ(latency_bucket(1024), 10u);
  EXPECT_EQ(latency_bucket(~0ull), kLatencyBuckets - 1);
}

// percentile_ns takes a percent: 99 is p99. Outside [0, 100] (or NaN) it
// answered the top bucket without a word, and p0 answered 1 ns whatever the
// calls took. 0.99 is a valid percent (p0.99), so it cannot be refused: the
// header says what p is.
TEST(Stats, PercentileTakesAPercentAndRefusesAnythingElse)
{
  gsys::op_stats op;
  op.latency_hist.assign(kLatencyBuckets, 0);
  op.latency_hist[10] = 99;  // [1024, 2048) ns
  op.latency_hist[20] = 1;   // [1 Mi, 2 Mi) ns
  EXPECT_EQ(op.percentile_ns(50), 1448u);
  EXPECT_EQ(op.percentile_ns(99), 1448u);
  EXPECT_EQ(op.percentile_ns(100), 1482896u);
  EXPECT_EQ(op.percentile_ns(0), 1448u) << "p0 is the fastest call's bucket";
  EXPECT_EQ(op.percentile_ns(0.99), 1448u) << "p0.99, not p99";
  for (double bad : {-1.0, 100.5, 9900.0, std::nan("")}) {
    try {
      op.percentile_ns(bad);
      ADD_FAILURE() << "percentile_ns(" << bad << ") did not throw";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("[0, 100]"), std::string::npos) << e.what();
    }
  }
  const gsys::op_stats none;
  EXPECT_EQ(none.percentile_ns(99), 0u) << "no calls: 0";
  EXPECT_THROW(none.percentile_ns(-1), std::invalid_argument) << "checked even without calls";
}
