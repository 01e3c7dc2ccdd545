// The simulator's link-cost model (device/genesys/sim/link_model.h): which
// memory is host memory, what a call costs across the link per simulated
// thread, and the protocol error of a host word that both the device and
// the host read-modify-write. Simulator only: on a GPU the link is real.
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <genesys.cuh>

#include "support/test_env.h"

namespace {

using gsys::sim::link_counters;

struct lane_counts {
  link_counters c;
  long ret;
};

GSYS_DEVICE long tid() { return (long)blockIdx.x * blockDim.x + threadIdx.x; }

// Each thread's counters for one blocking nop at granularity G, read right
// after the call (the stores to `out` come after link_now()).
template <class G, class O>
__global__ void nop_counts(gsys::ring r, lane_counts* out)
{
  gsys::sim::link_reset();
  const long ret = gsys::nop<G, O>(r);
  const link_counters c = gsys::sim::link_now();
  out[tid()] = {c, ret};
}

// A staged 4 KiB read (thread granularity): the chunk's claim and release
// are in device memory, so nothing crosses the link before the poll.
__global__ void staged_pread_counts(gsys::ring r, int fd, char* dev_bufs, lane_counts* out)
{
  gsys::sim::link_reset();
  const long ret = gsys::staged::pread(r, fd, dev_bufs + tid() * 4096, 4096, 0);
  const link_counters c = gsys::sim::link_now();
  out[tid()] = {c, ret};
}

// A future: ready() and wait() poll; submit() does not cross non-posted.
__global__ void future_counts(gsys::ring r, lane_counts* out)
{
  gsys::sim::link_reset();
  gsys::future f = gsys::submit(r, GSYS_NR_NOP);
  while (!f.ready()) __nanosleep(200);
  const long ret = f.wait();
  const link_counters c = gsys::sim::link_now();
  out[tid()] = {c, ret};
}

// A blocking lseek to `off`: its result comes back in the slot's state
// word unless it needs more than 61 bits.
__global__ void lseek_counts(gsys::ring r, int fd, long off, lane_counts* out)
{
  gsys::sim::link_reset();
  const long ret = gsys::lseek(r, fd, off, SEEK_SET);
  const link_counters c = gsys::sim::link_now();
  out[0] = {c, ret};
}

// One load of a host word outside a poll: exactly one round trip.
__global__ void host_word_load(gsys::ring r, lane_counts* out)
{
  gsys::sim::link_reset();
  const long v = (long)gsys::detail::load_acquire<gsys::detail::host>(&r.slots[0].state);
  const link_counters c = gsys::sim::link_now();
  out[0] = {c, v};
}

// Loads, an add of zero and a CAS that changes nothing, all on the ring's
// device part: nothing crosses the link.
__global__ void device_words(gsys::ring r, lane_counts* out)
{
  gsys::sim::link_reset();
  (void)gsys::detail::load_relaxed<gsys::detail::device>(&r.claim[0]);
  (void)gsys::detail::load_acquire<gsys::detail::device>(&r.dev->sq_tail);
  (void)gsys::detail::fetch_add_relaxed<gsys::detail::device>(&r.dev->timeouts, (gsys_u64)0);
  gsys_u32 w = gsys::detail::load_relaxed<gsys::detail::device>(&r.pending[0]);
  (void)gsys::detail::cas_acq_rel<gsys::detail::device>(&r.pending[0], w, w);
  const gsys_u32 chunk = gsys::detail::load_relaxed<gsys::detail::device>(&r.slot_chunk[0]);
  gsys::detail::store_relaxed<gsys::detail::device>(&r.slot_chunk[0], chunk);
  const link_counters c = gsys::sim::link_now();
  out[0] = {c, 0};
}

// The protocol error on purpose: the executor CASes sq_head (host memory);
// a device atomic on it is a word both sides read-modify-write. Adding zero
// leaves the ring working.
__global__ void rmw_sq_head(gsys::ring r, lane_counts* out)
{
  gsys::sim::link_reset();
  (void)gsys::detail::fetch_add_relaxed<gsys::detail::host>(&r.hdr->sq_head, (gsys_u64)0);
  const link_counters c = gsys::sim::link_now();
  out[0] = {c, 0};
}

// The other protocol error on purpose: a slot's state (host memory, which
// the executors write) read as if it were a device-memory word, i.e. with
// device scope, whose order the host would not see. Twice: one word.
__global__ void device_scope_on_slot(gsys::ring r, lane_counts* out)
{
  gsys::sim::link_reset();
  (void)gsys::detail::load_acquire<gsys::detail::device>(&r.slots[1].state);
  (void)gsys::detail::load_relaxed<gsys::detail::device>(&r.slots[1].state);
  const link_counters c = gsys::sim::link_now();
  out[0] = {c, 0};
}

class Link : public testing::TestWithParam<gsys::executor_kind> {
 protected:
  void SetUp() override { GSYS_REQUIRE_DEVICE(); }
  gsys::runtime_options opts() { return gsys_test::options_for(GetParam()); }

  template <class K>
  lane_counts* run(gsys::runtime& rt, K kernel, int blocks, int threads, bool coop = false)
  {
    auto* out = static_cast<lane_counts*>(rt.alloc(sizeof(lane_counts) * blocks * threads));
    std::memset(static_cast<void*>(out), 0xff, sizeof(lane_counts) * blocks * threads);
    if (coop) gsys::launch(kernel, dim3(blocks), dim3(threads), gsys::cooperative{}, rt.ring(), out);
    else gsys::launch(kernel, dim3(blocks), dim3(threads), rt.ring(), out);
    gsys::synchronize();
    return out;
  }
};

// The registry: the ring, runtime::alloc blocks and the staging arena are
// host memory; the ring's device part is device memory; the rest is local.
TEST_P(Link, ClassifiesTheRuntimesMemory)
{
  using gsys::sim::link_classify;
  using gsys::sim::link_memory;
  const void* ring_base;
  {
    auto o = opts();
    o.staging_bytes = 4 * 4096;
    o.staging_chunk_bytes = 4096;
    gsys::runtime rt(o);
    const gsys::ring r = rt.ring();
    ring_base = r.hdr;
    EXPECT_EQ(link_classify(r.hdr), link_memory::host);
    EXPECT_EQ(link_classify(&r.slots[r.nslots - 1].ret), link_memory::host);
    EXPECT_EQ(link_classify(&r.sq[r.sq_mask]), link_memory::host);
    EXPECT_EQ(link_classify(r.staging), link_memory::host);
    EXPECT_EQ(link_classify(r.staging + 4 * 4096 - 1), link_memory::host);
    EXPECT_EQ(link_classify(r.dev), link_memory::device);
    EXPECT_EQ(link_classify(r.claim), link_memory::device);
    EXPECT_EQ(link_classify(r.staging_bitmap), link_memory::device);
    char* buf = static_cast<char*>(rt.alloc(100));
    EXPECT_EQ(link_classify(buf + 99), link_memory::host);
    rt.free(buf);
    EXPECT_EQ(link_classify(buf), link_memory::local) << "freed blocks leave the registry";
    int on_stack = 0;
    EXPECT_EQ(link_classify(&on_stack), link_memory::local);
  }
  EXPECT_EQ(link_classify(ring_base), link_memory::local) << "a destroyed runtime leaves the registry";
}

// Issue 9's target: a thread-level blocking call makes no non-posted
// operation before its first completion poll; its request is posted stores.
TEST_P(Link, ThreadNopIsPostedStoresThenPolls)
{
  gsys::runtime rt(opts());
  const uint64_t errors = gsys::sim::link_protocol_errors();
  lane_counts* one = run(rt, nop_counts<gsys::thread, gsys::relaxed>, 1, 1);
  EXPECT_EQ(one[0].ret, 0);
  const link_counters c = one[0].c;
  EXPECT_EQ(c.nonposted_before_poll, 0u);
  EXPECT_EQ(c.nonposted_atomics, 0u);
  EXPECT_GE(c.completion_polls, 1u);
  // READY; nr and flags in one 8-byte store, the six arguments in three
  // 16-byte ones; the entry's word (there were ten, one per field).
  EXPECT_EQ(c.posted_stores, 6u);
  // The poll that sees the call finished brings its result (until ABI 4 the
  // device loaded ret after it: a second round trip per call).
  EXPECT_EQ(c.nonposted_loads, 0u) << "the result comes with the completion poll";

  // A warp of thread-level calls: each lane pays for its own call only.
  lane_counts* lanes = run(rt, nop_counts<gsys::thread, gsys::relaxed>, 2, 32);
  for (int t = 0; t < 64; ++t) {
    SCOPED_TRACE("thread " + std::to_string(t));
    EXPECT_EQ(lanes[t].ret, 0);
    EXPECT_EQ(lanes[t].c.nonposted_before_poll, 0u);
    EXPECT_EQ(lanes[t].c.nonposted_atomics, 0u);
    EXPECT_GE(lanes[t].c.completion_polls, 1u);
    EXPECT_EQ(lanes[t].c.posted_stores, c.posted_stores);
  }
  EXPECT_EQ(gsys::sim::link_protocol_errors(), errors);
}

// Only a result too wide for the state word (past 61 bits: a huge file
// offset) costs a load of ret after the poll; it comes back exact either way.
TEST_P(Link, OnlyAResultPast61BitsCostsALoadAfterThePoll)
{
  gsys::runtime rt(opts());
  const int fd = ::memfd_create("gsys-link-lseek", 0);
  ASSERT_GE(fd, 0);
  const long narrow = (1L << 60) - 1, wide = 1L << 62;
  lane_counts* out = static_cast<lane_counts*>(rt.alloc(sizeof(lane_counts)));
  gsys::launch(lseek_counts, dim3(1), dim3(1), rt.ring(), fd, narrow, out);
  gsys::synchronize();
  EXPECT_EQ(out[0].ret, narrow);
  EXPECT_EQ(out[0].c.nonposted_loads, 0u);
  gsys::launch(lseek_counts, dim3(1), dim3(1), rt.ring(), fd, wide, out);
  gsys::synchronize();
  EXPECT_EQ(out[0].ret, wide) << "a 63-bit offset comes back through slot.ret";
  EXPECT_EQ(out[0].c.nonposted_loads, 1u);
  EXPECT_EQ(out[0].c.nonposted_before_poll, 0u);
  ::close(fd);
}

// Issue 9's target: warp-level, 0 non-posted operations per lane before the
// first poll; only the calling lane crosses the link at all. Block and grid
// calls likewise.
TEST_P(Link, GroupNopsCrossOnlyInTheCallingLane)
{
  gsys::runtime rt(opts());
  const uint64_t errors = gsys::sim::link_protocol_errors();
  auto check = [](lane_counts* out, int n, const char* what) {
    int callers = 0;
    for (int t = 0; t < n; ++t) {
      SCOPED_TRACE(std::string(what) + " thread " + std::to_string(t));
      EXPECT_EQ(out[t].ret, 0);
      EXPECT_EQ(out[t].c.nonposted_before_poll, 0u);
      EXPECT_EQ(out[t].c.nonposted_atomics, 0u);
      if (out[t].c.completion_polls) {
        ++callers;
        EXPECT_GT(out[t].c.posted_stores, 0u);
      } else {
        EXPECT_EQ(out[t].c.nonposted(), 0u);
        EXPECT_EQ(out[t].c.posted_stores, 0u);
      }
    }
    return callers;
  };
  EXPECT_EQ(check(run(rt, nop_counts<gsys::warp, gsys::relaxed>, 1, 64), 64, "warp relaxed"), 2);
  EXPECT_EQ(check(run(rt, nop_counts<gsys::warp, gsys::strong>, 1, 64), 64, "warp strong"), 2);
  EXPECT_EQ(check(run(rt, nop_counts<gsys::block, gsys::relaxed>, 2, 64), 128, "block"), 2);
  EXPECT_EQ(check(run(rt, nop_counts<gsys::grid, gsys::relaxed>, 2, 64, true), 128, "grid relaxed"), 1);
  EXPECT_EQ(check(run(rt, nop_counts<gsys::grid, gsys::strong>, 2, 64, true), 128, "grid strong"), 1);
  EXPECT_EQ(gsys::sim::link_protocol_errors(), errors);
}

TEST_P(Link, StagedCallsAndFuturesPollOnly)
{
  auto o = opts();
  o.staging_bytes = 64 * 4096;
  o.staging_chunk_bytes = 4096;
  gsys::runtime rt(o);
  gsys_test::scratch_dir dir;
  gsys_test::write_file(dir.file("f"), std::string(4096, 'x'));
  const int fd = ::open(dir.file("f").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto* out = static_cast<lane_counts*>(rt.alloc(sizeof(lane_counts) * 32));
  char* bufs = static_cast<char*>(std::calloc(32, 4096));  // not registered: device memory to the model
  gsys::launch(staged_pread_counts, dim3(1), dim3(32), rt.ring(), fd, bufs, out);
  gsys::synchronize();
  for (int t = 0; t < 32; ++t) {
    SCOPED_TRACE("thread " + std::to_string(t));
    EXPECT_EQ(out[t].ret, 4096);
    EXPECT_EQ(out[t].c.nonposted_before_poll, 0u);
    EXPECT_EQ(out[t].c.nonposted_atomics, 0u);
    EXPECT_GE(out[t].c.completion_polls, 1u);
  }
  EXPECT_EQ(bufs[31 * 4096 + 4095], 'x');
  std::free(bufs);
  ::close(fd);

  lane_counts* f = run(rt, future_counts, 1, 32);
  for (int t = 0; t < 32; ++t) {
    SCOPED_TRACE("thread " + std::to_string(t));
    EXPECT_EQ(f[t].ret, 0);
    EXPECT_EQ(f[t].c.nonposted_before_poll, 0u);
    EXPECT_GE(f[t].c.completion_polls, 2u) << "ready() and wait() both poll";
  }
}

// The model counts what it should: one host load is one round trip, and
// device-memory words cost nothing.
TEST_P(Link, CountsHostLoadsAndIgnoresDeviceMemory)
{
  gsys::runtime rt(opts());
  lane_counts* h = run(rt, host_word_load, 1, 1);
  EXPECT_EQ(h[0].c.nonposted_loads, 1u);
  EXPECT_EQ(h[0].c.nonposted_before_poll, 1u);
  EXPECT_EQ(h[0].c.nonposted(), 1u);
  EXPECT_EQ(h[0].c.completion_polls, 0u);
  EXPECT_EQ(h[0].c.posted_stores, 0u);

  lane_counts* d = run(rt, device_words, 1, 1);
  EXPECT_EQ(d[0].c.nonposted(), 0u);
  EXPECT_EQ(d[0].c.nonposted_before_poll, 0u);
  EXPECT_EQ(d[0].c.posted_stores, 0u);
}

// A word both sides read-modify-write is reported, in either order, and
// counted once; the ring goes on working.
TEST_P(Link, DeviceAtomicOnAHostCasWordIsAProtocolError)
{
  const uint64_t before = gsys::sim::link_protocol_errors();
  {
    gsys::runtime rt(opts());
    lane_counts* ok = run(rt, nop_counts<gsys::thread, gsys::relaxed>, 1, 32);  // the executor CASes sq_head
    EXPECT_EQ(ok[0].ret, 0);
    ASSERT_EQ(gsys::sim::link_protocol_errors(), before) << "a normal run makes no protocol error";
    testing::internal::CaptureStderr();
    lane_counts* bad = run(rt, rmw_sq_head, 1, 1);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(bad[0].c.nonposted_atomics, 1u);
    EXPECT_EQ(gsys::sim::link_protocol_errors(), before + 1);
    if (before == 0) {  // only the process's first error is printed
      EXPECT_NE(err.find("genesys sim: protocol error: host word 0x"), std::string::npos) << err;
      EXPECT_NE(err.find("read-modify-written by both the device and the host"), std::string::npos) << err;
    }
    run(rt, rmw_sq_head, 1, 1);
    EXPECT_EQ(run(rt, nop_counts<gsys::thread, gsys::relaxed>, 1, 1)[0].ret, 0);
    EXPECT_EQ(gsys::sim::link_protocol_errors(), before + 1) << "one word, counted once";
  }
  {
    // The device first, then the host.
    gsys::runtime rt(opts());
    run(rt, rmw_sq_head, 1, 1);
    EXPECT_EQ(gsys::sim::link_protocol_errors(), before + 1);
    EXPECT_EQ(run(rt, nop_counts<gsys::thread, gsys::relaxed>, 1, 1)[0].ret, 0);
    // Exactly one more: the sq_head word, counted once however many
    // executor threads race to CAS it (the model once counted each of the
    // word's two 4-byte granules under load; link_model.h note_rmw).
    EXPECT_EQ(gsys::sim::link_protocol_errors(), before + 2);
  }
}

// A device-scope access to host memory is reported and counted once per
// word; on device memory (device_words above) it is not.
TEST_P(Link, DeviceScopeOnAHostWordIsAProtocolError)
{
  const uint64_t before = gsys::sim::link_protocol_errors();
  gsys::runtime rt(opts());
  run(rt, device_words, 1, 1);
  ASSERT_EQ(gsys::sim::link_protocol_errors(), before) << "device scope on device memory is the rule";
  testing::internal::CaptureStderr();
  lane_counts* bad = run(rt, device_scope_on_slot, 1, 1);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(gsys::sim::link_protocol_errors(), before + 1);
  EXPECT_EQ(bad[0].c.nonposted(), 0u) << "checked, not counted";
  if (before == 0) {
    EXPECT_NE(err.find("accessed by the device with device scope"), std::string::npos) << err;
  }
  run(rt, device_scope_on_slot, 1, 1);
  EXPECT_EQ(gsys::sim::link_protocol_errors(), before + 1) << "one word, counted once";
  EXPECT_EQ(run(rt, nop_counts<gsys::thread, gsys::relaxed>, 1, 1)[0].ret, 0);
}

// Off (gsys-ring-bench times its loops so), the model neither counts nor
// checks; on again, it does both.
TEST_P(Link, OffItCountsAndChecksNothing)
{
  struct turn_on_again {
    ~turn_on_again() { gsys::sim::link_enable(true); }
  } restore;
  gsys::runtime rt(opts());
  const uint64_t before = gsys::sim::link_protocol_errors();
  gsys::sim::link_enable(false);
  EXPECT_FALSE(gsys::sim::link_enabled());
  lane_counts* off = run(rt, nop_counts<gsys::thread, gsys::relaxed>, 1, 1);
  EXPECT_EQ(off[0].ret, 0);
  EXPECT_EQ(off[0].c.posted_stores, 0u);
  EXPECT_EQ(off[0].c.nonposted(), 0u);
  run(rt, rmw_sq_head, 1, 1);  // the protocol error, unseen
  EXPECT_EQ(gsys::sim::link_protocol_errors(), before);

  gsys::sim::link_enable(true);
  lane_counts* on = run(rt, nop_counts<gsys::thread, gsys::relaxed>, 1, 1);
  EXPECT_EQ(on[0].ret, 0);
  EXPECT_GT(on[0].c.posted_stores, 0u);
  EXPECT_GT(on[0].c.completion_polls, 0u);
  testing::internal::CaptureStderr();
  run(rt, rmw_sq_head, 1, 1);
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(gsys::sim::link_protocol_errors(), before + 1);
}

TEST_P(Link, ProtocolErrorAbortsOnRequest)
{
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        setenv("GSYS_SIM_LINK_ABORT", "1", 1);
        gsys::runtime rt(opts());
        run(rt, nop_counts<gsys::thread, gsys::relaxed>, 1, 1);
        run(rt, rmw_sq_head, 1, 1);
      },
      "protocol error: host word 0x");
}

INSTANTIATE_TEST_SUITE_P(Executors, Link, testing::ValuesIn(gsys_test::executors()), gsys_test::executor_name);

}  // namespace
