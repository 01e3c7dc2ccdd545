// Ring memory and the executor's side of the slot state machine, driven by
// hand (no executor threads) so every transition is observed exactly.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <genesys/runtime.h>
#include <gtest/gtest.h>

#include "ring_access.h"
#include "ring_memory.h"

using namespace gsys::detail;

namespace {

struct test_ring {
  explicit test_ring(gsys_u32 slots = 64)
      : geo(geometry_for(slots)), mem(geo, 0, -1, false), ring(initialized(mem, geo))
  {
  }
  static gsys_ring_header* initialized(ring_memory& m, const ring_geometry& g)
  {
    init_ring(m.header(), g, 1000000000ull);
    return m.header();
  }
  gsys_ring_header* h() { return mem.header(); }
  gsys_slot* slot(gsys_u32 i) { return reinterpret_cast<gsys_slot*>(reinterpret_cast<char*>(h()) + h()->slots_offset) + i; }
  gsys_u32* bitmap() { return reinterpret_cast<gsys_u32*>(reinterpret_cast<char*>(h()) + h()->bitmap_offset); }
  gsys_sq_entry* sq() { return reinterpret_cast<gsys_sq_entry*>(reinterpret_cast<char*>(h()) + h()->sq_offset); }

  // What a device does, by hand: claim bit, fill, READY, queue.
  void device_submit(gsys_u32 idx, gsys_u16 nr, gsys_u16 flags = 0)
  {
    bitmap()[idx / 32] |= 1u << (idx % 32);
    gsys_slot* s = slot(idx);
    s->nr = nr;
    s->flags = flags;
    s->state = GSYS_SLOT_READY;
    push_index(idx);
  }
  void push_index(gsys_u32 idx)
  {
    gsys_u64 pos = h()->sq_tail++;
    gsys_sq_entry& e = sq()[pos & (h()->sq_entries - 1)];
    ASSERT_EQ(e.seq, (gsys_u32)pos);
    e.slot = idx;
    e.seq = (gsys_u32)(pos + 1);
  }

  ring_geometry geo;
  ring_memory mem;
  ring_access ring;
};

}  // namespace

TEST(RingMemory, FreshRingPassesCheck)
{
  test_ring t;
  EXPECT_EQ(check_ring(t.h(), t.geo.ring_bytes), "");
  EXPECT_EQ(t.h()->nslots, 64u);
  EXPECT_EQ(t.h()->sq_entries, 64u);
  EXPECT_EQ(t.ring.queue_depth(), 0u);
}

// A process killed before its runtime ended leaves /dev/shm/genesys.<pid>.<n>
// behind; a later process that gets the same pid must reclaim the name.
TEST(RingMemory, StaleSharedMemoryFromAReusedPidIsReclaimed)
{
  std::string first;
  {
    gsys::runtime_options o;
    o.slots = 32;
    o.executor = gsys::executor_kind::sync;
    gsys::runtime rt(o);
    first = rt.shm_name();
  }
  // The next runtime of this process takes the next number: plant it.
  const auto dot = first.rfind('.');
  ASSERT_NE(dot, std::string::npos) << first;
  const std::string next = first.substr(0, dot + 1) + std::to_string(std::stoul(first.substr(dot + 1)) + 1);
  int fd = shm_open(next.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0) << next << ": " << std::strerror(errno);
  ::close(fd);
  gsys::runtime_options o;
  o.slots = 32;
  o.executor = gsys::executor_kind::sync;
  gsys::runtime rt(o);
  EXPECT_EQ(rt.shm_name(), next);
}

TEST(RingMemory, SlotCountMustBePowerOfTwoInRange)
{
  EXPECT_THROW(geometry_for(0), gsys::setup_error);
  EXPECT_THROW(geometry_for(16), gsys::setup_error);
  EXPECT_THROW(geometry_for(100), gsys::setup_error);
  EXPECT_THROW(geometry_for(GSYS_MAX_SLOTS * 2), gsys::setup_error);
  EXPECT_NO_THROW(geometry_for(32));
}

TEST(RingMemory, GarbageHeaderIsRejectedWithAReason)
{
  std::vector<unsigned char> junk(1 << 16);
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    for (auto& b : junk) b = (unsigned char)rng();
    auto* h = reinterpret_cast<gsys_ring_header*>(junk.data());
    if (round % 2) h->magic = GSYS_RING_MAGIC;  // get past the first check half the time
    EXPECT_NE(check_ring(h, junk.size()), "") << "round " << round;
  }
}

TEST(RingMemory, TruncatedRegionIsRejected)
{
  test_ring t;
  EXPECT_NE(check_ring(t.h(), t.geo.ring_bytes - 4096), "");
  EXPECT_NE(check_ring(t.h(), 100), "");
}

TEST(SlotStateMachine, ReadyBusyDoneCarriesResult)
{
  test_ring t;
  t.device_submit(3, GSYS_NR_NOP);
  gsys_u32 idx;
  ASSERT_TRUE(t.ring.pop(idx));
  EXPECT_EQ(idx, 3u);
  request_copy q;
  ASSERT_TRUE(t.ring.begin(idx, q));
  EXPECT_EQ(t.slot(3)->state, GSYS_SLOT_BUSY);
  EXPECT_EQ(q.nr, GSYS_NR_NOP);
  t.ring.complete(q, -ENOENT);
  EXPECT_EQ(t.slot(3)->state, GSYS_SLOT_DONE);
  EXPECT_EQ(t.slot(3)->ret, -ENOENT);
  EXPECT_EQ(t.bitmap()[0], 1u << 3) << "a blocking slot stays claimed until its owner consumes it";
  EXPECT_EQ(t.h()->completed, 1u);
  EXPECT_EQ(t.h()->failed, 1u);
}

TEST(SlotStateMachine, NonBlockingSlotIsFreedByExecutor)
{
  test_ring t;
  t.device_submit(33, GSYS_NR_NOP, GSYS_SLOT_F_NONBLOCK);
  gsys_u32 idx;
  request_copy q;
  ASSERT_TRUE(t.ring.pop(idx));
  ASSERT_TRUE(t.ring.begin(idx, q));
  t.ring.complete(q, 0);
  EXPECT_EQ(t.slot(33)->state, GSYS_SLOT_FREE);
  EXPECT_EQ(t.bitmap()[1], 0u);
}

TEST(SlotStateMachine, OrphanedWhileQueuedIsReclaimedAtPop)
{
  test_ring t;
  t.device_submit(5, GSYS_NR_NOP);
  t.slot(5)->state = GSYS_SLOT_ORPHANED;  // the device timed out before anyone ran it
  gsys_u32 idx;
  request_copy q;
  ASSERT_TRUE(t.ring.pop(idx));
  EXPECT_FALSE(t.ring.begin(idx, q));
  EXPECT_EQ(t.slot(5)->state, GSYS_SLOT_FREE);
  EXPECT_EQ(t.bitmap()[0], 0u);
  EXPECT_EQ(t.h()->orphaned, 1u);
}

TEST(SlotStateMachine, OrphanedWhileRunningIsReclaimedAtCompletion)
{
  test_ring t;
  t.device_submit(6, GSYS_NR_NOP);
  gsys_u32 idx;
  request_copy q;
  ASSERT_TRUE(t.ring.pop(idx));
  ASSERT_TRUE(t.ring.begin(idx, q));
  t.slot(6)->state = GSYS_SLOT_ORPHANED;  // device gave up mid-call
  t.ring.complete(q, 0);
  EXPECT_EQ(t.slot(6)->state, GSYS_SLOT_FREE);
  EXPECT_EQ(t.bitmap()[0], 0u);
  EXPECT_EQ(t.h()->orphaned, 1u);
}

TEST(SlotStateMachine, GarbageIndexAndStateAreCountedNotUsed)
{
  test_ring t;
  t.push_index(100000);             // out of range
  t.push_index(7);                  // slot 7 is FREE, not READY
  t.slot(8)->state = 0xdeadbeef;
  t.push_index(8);                  // nonsense state
  gsys_u32 idx;
  request_copy q;
  int popped = 0;
  while (t.ring.pop(idx)) {
    ++popped;
    EXPECT_FALSE(t.ring.begin(idx, q));
  }
  EXPECT_EQ(popped, 3);
  EXPECT_EQ(t.h()->garbage, 3u);
  EXPECT_EQ(t.slot(8)->state, 0xdeadbeefu) << "the executor does not write slots it does not own";
}

TEST(SubmitQueue, EmptyUntilPublishedThenFifo)
{
  test_ring t;
  gsys_u32 idx;
  EXPECT_FALSE(t.ring.pop(idx));
  // A reserved position whose entry is not yet published blocks the queue
  // without being mistaken for data.
  t.h()->sq_tail = 1;
  EXPECT_TRUE(t.ring.queue_nonempty());
  EXPECT_FALSE(t.ring.pop(idx));
  t.sq()[0].slot = 9;
  t.sq()[0].seq = 1;
  ASSERT_TRUE(t.ring.pop(idx));
  EXPECT_EQ(idx, 9u);
  for (gsys_u32 i = 0; i < 10; ++i) t.push_index(i);
  for (gsys_u32 i = 0; i < 10; ++i) {
    ASSERT_TRUE(t.ring.pop(idx));
    EXPECT_EQ(idx, i);
  }
  EXPECT_FALSE(t.ring.pop(idx));
}

TEST(SubmitQueue, WrapsAroundManyLaps)
{
  test_ring t(32);
  gsys_u32 idx;
  for (gsys_u32 lap = 0; lap < 1000; ++lap) {
    for (gsys_u32 i = 0; i < 32; ++i) t.push_index((lap + i) % 32);
    for (gsys_u32 i = 0; i < 32; ++i) {
      ASSERT_TRUE(t.ring.pop(idx));
      ASSERT_EQ(idx, (lap + i) % 32);
    }
  }
  EXPECT_EQ(t.h()->sq_head, 32000u);
}
