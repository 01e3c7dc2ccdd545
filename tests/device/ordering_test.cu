// Granularity x ordering, each pinned by a test that fails if the ordering is
// wrong. The trick: all of the group but the thread that would call first
// dawdle (20 ms) before doing their part, so a call that does not wait for
// the group visibly misses their data, deterministically.
#include <genesys.cuh>

#include "support/test_env.h"

namespace {

constexpr int kBlocks = 4;
constexpr int kThreads = 64;
constexpr int kTotal = kBlocks * kThreads;

__host__ __device__ char pattern(long t) { return (char)('a' + t % 26); }

__device__ long gtid() { return (long)blockIdx.x * blockDim.x + threadIdx.x; }

__device__ void dawdle()
{
  for (int i = 0; i < 20; ++i) __nanosleep(1000000);
}

// The part of the buffer a group works on, and who would call first.
template <class G> struct group_of;
template <> struct group_of<gsys::thread> {
  __device__ static long base() { return gtid(); }
  __device__ static long size() { return 1; }
  __device__ static bool first() { return true; }
};
template <> struct group_of<gsys::warp> {
  __device__ static long base() { return gtid() & ~31L; }
  __device__ static long size() { return 32; }
  __device__ static bool first() { return (threadIdx.x & 31) == 0; }
};
template <> struct group_of<gsys::block> {
  __device__ static long base() { return (long)blockIdx.x * blockDim.x; }
  __device__ static long size() { return blockDim.x; }
  __device__ static bool first() { return threadIdx.x == 0; }
};
template <> struct group_of<gsys::grid> {
  __device__ static long base() { return 0; }
  __device__ static long size() { return (long)gridDim.x * blockDim.x; }
  __device__ static bool first() { return blockIdx.x == 0; }  // block 0 arrives first
};

// Everyone fills its byte, then the group writes its region out.
template <class G, class O>
__global__ void fill_then_pwrite(gsys::ring r, int fd, char* buf, long* ret, bool slow_others)
{
  using grp = group_of<G>;
  const long t = gtid();
  if (slow_others && !grp::first()) dawdle();
  buf[t] = pattern(t);
  ret[t] = gsys::pwrite<G, O>(r, fd, buf + grp::base(), grp::size(), grp::base());
}

// The group reads its region; then every thread checks its own byte.
template <class G, class O>
__global__ void pread_then_check(gsys::ring r, int fd, char* buf, int* bad)
{
  using grp = group_of<G>;
  const long t = gtid();
  long n = gsys::pread<G, O>(r, fd, buf + grp::base(), grp::size(), grp::base());
  if (n != grp::size() || buf[t] != pattern(t)) atomicAdd(bad, 1);
}

// Every thread writes its own byte to the file (others slowly), then the
// group reads the region back: only a barrier before the read sees them all.
template <class G, class O>
__global__ void own_write_then_group_read(gsys::ring r, int fd, char* own, char* buf, int* bad)
{
  using grp = group_of<G>;
  const long t = gtid();
  if (!grp::first()) dawdle();
  own[t] = pattern(t);
  gsys::pwrite<gsys::thread>(r, fd, own + t, 1, t);
  gsys::pread<G, O>(r, fd, buf + grp::base(), grp::size(), grp::base());
  if (buf[t] != pattern(t)) atomicAdd(bad, 1);
}

std::string expected()
{
  std::string s(kTotal, '\0');
  for (int t = 0; t < kTotal; ++t) s[t] = pattern(t);
  return s;
}

class Ordering : public testing::Test {
 protected:
  void SetUp() override
  {
    GSYS_REQUIRE_DEVICE();
    fd = ::open(dir.file("f").c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
  }
  void TearDown() override
  {
    if (fd >= 0) ::close(fd);
  }

  template <class G, class O>
  std::string run_fill_then_pwrite(bool slow_others)
  {
    gsys::launch(fill_then_pwrite<G, O>, dim3(kBlocks), dim3(kThreads), gsys::cooperative{}, rt.ring(), fd, buf, ret, slow_others);
    gsys::synchronize();
    return gsys_test::read_file(dir.file("f"));
  }
  template <class G, class O>
  int run_pread_then_check()
  {
    gsys_test::write_file(dir.file("f"), expected());
    gsys::launch(pread_then_check<G, O>, dim3(kBlocks), dim3(kThreads), gsys::cooperative{}, rt.ring(), fd, buf, bad);
    gsys::synchronize();
    return *bad;
  }
  template <class G, class O>
  int run_own_write_then_group_read()
  {
    gsys::launch(own_write_then_group_read<G, O>, dim3(kBlocks), dim3(kThreads), gsys::cooperative{}, rt.ring(), fd, own, buf, bad);
    gsys::synchronize();
    return *bad;
  }
  // How many threads got the call's real result (vs gsys::not_waited).
  int got_result(long size)
  {
    int n = 0;
    for (int t = 0; t < kTotal; ++t) {
      EXPECT_TRUE(ret[t] == size || ret[t] == gsys::not_waited) << "thread " << t << ": " << ret[t];
      n += ret[t] == size;
    }
    return n;
  }

  // automatic: uring here, kmod in the QEMU guest where genesys.ko is loaded
  gsys::runtime rt{gsys_test::options_for(gsys::executor_kind::automatic)};
  gsys_test::scratch_dir dir;
  int fd = -1;
  char* buf = static_cast<char*>(rt.alloc(kTotal));
  char* own = static_cast<char*>(rt.alloc(kTotal));
  long* ret = static_cast<long*>(rt.alloc(kTotal * sizeof(long)));
  int* bad = static_cast<int*>(rt.alloc(sizeof(int)));
};

// --- thread: the group is one thread; both orderings are its program order.
TEST_F(Ordering, ThreadRelaxedWriteCarriesEachThreadsData)
{
  EXPECT_EQ((run_fill_then_pwrite<gsys::thread, gsys::relaxed>(true)), expected());
  EXPECT_EQ(got_result(1), kTotal);
}
TEST_F(Ordering, ThreadStrongWriteCarriesEachThreadsData)
{
  EXPECT_EQ((run_fill_then_pwrite<gsys::thread, gsys::strong>(true)), expected());
  EXPECT_EQ(got_result(1), kTotal);
}
TEST_F(Ordering, ThreadRelaxedReadSeesItsData) { EXPECT_EQ((run_pread_then_check<gsys::thread, gsys::relaxed>()), 0); }
TEST_F(Ordering, ThreadStrongReadSeesItsData) { EXPECT_EQ((run_pread_then_check<gsys::thread, gsys::strong>()), 0); }

// --- warp: the lowest active lane calls for the converged lanes.
TEST_F(Ordering, WarpRelaxedWriteCarriesAllLanesData)
{
  EXPECT_EQ((run_fill_then_pwrite<gsys::warp, gsys::relaxed>(false)), expected());
  EXPECT_EQ(got_result(32), kTotal / 32) << "relaxed send: only the caller waits for the result";
}
TEST_F(Ordering, WarpStrongWriteResultReachesEveryLane)
{
  EXPECT_EQ((run_fill_then_pwrite<gsys::warp, gsys::strong>(false)), expected());
  EXPECT_EQ(got_result(32), kTotal);
}
TEST_F(Ordering, WarpRelaxedReadEveryLaneSeesData) { EXPECT_EQ((run_pread_then_check<gsys::warp, gsys::relaxed>()), 0); }
TEST_F(Ordering, WarpStrongReadEveryLaneSeesData) { EXPECT_EQ((run_pread_then_check<gsys::warp, gsys::strong>()), 0); }

// --- block: thread 0 calls; the whole block takes part.
TEST_F(Ordering, BlockRelaxedWriteWaitsForSlowThreadsData)
{
  EXPECT_EQ((run_fill_then_pwrite<gsys::block, gsys::relaxed>(true)), expected());
  EXPECT_EQ(got_result(kThreads), kBlocks);
}
TEST_F(Ordering, BlockStrongWriteResultReachesEveryThread)
{
  EXPECT_EQ((run_fill_then_pwrite<gsys::block, gsys::strong>(true)), expected());
  EXPECT_EQ(got_result(kThreads), kTotal);
}
TEST_F(Ordering, BlockRelaxedReadEveryThreadSeesData) { EXPECT_EQ((run_pread_then_check<gsys::block, gsys::relaxed>()), 0); }
TEST_F(Ordering, BlockStrongReadWaitsForEarlierWrites)
{
  EXPECT_EQ((run_own_write_then_group_read<gsys::block, gsys::strong>()), 0);
}
TEST_F(Ordering, BlockRelaxedReadDoesNotWaitForEarlierWrites)
{
  // Relaxed keeps no barrier before a read: thread 0 reads before the slow
  // threads have written. This pins that relaxed really is relaxed.
  EXPECT_GT((run_own_write_then_group_read<gsys::block, gsys::relaxed>()), 0);
}

// --- grid: one elected block leader calls for every thread of the grid.
TEST_F(Ordering, GridRelaxedWriteWaitsForSlowBlocksData)
{
  EXPECT_EQ((run_fill_then_pwrite<gsys::grid, gsys::relaxed>(true)), expected());
  EXPECT_EQ(got_result(kTotal), 1) << "exactly one thread in the grid made the call";
}
TEST_F(Ordering, GridStrongWriteResultReachesEveryThread)
{
  EXPECT_EQ((run_fill_then_pwrite<gsys::grid, gsys::strong>(true)), expected());
  EXPECT_EQ(got_result(kTotal), kTotal);
}
TEST_F(Ordering, GridRelaxedReadEveryThreadSeesData) { EXPECT_EQ((run_pread_then_check<gsys::grid, gsys::relaxed>()), 0); }
TEST_F(Ordering, GridStrongReadWaitsForEarlierWrites)
{
  EXPECT_EQ((run_own_write_then_group_read<gsys::grid, gsys::strong>()), 0);
}
TEST_F(Ordering, GridRelaxedReadDoesNotWaitForEarlierWrites)
{
  EXPECT_GT((run_own_write_then_group_read<gsys::grid, gsys::relaxed>()), 0);
}
TEST_F(Ordering, GridCallsRepeatWithoutMixingRounds)
{
  // Back-to-back grid calls reuse the election and barrier words; each
  // round must see its own result.
  for (int round = 0; round < 5; ++round) {
    *bad = 0;
    EXPECT_EQ((run_pread_then_check<gsys::grid, gsys::relaxed>()), 0) << "round " << round;
    EXPECT_EQ((run_pread_then_check<gsys::grid, gsys::strong>()), 0) << "round " << round;
  }
}

}  // namespace
