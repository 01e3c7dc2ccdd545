// Warp-granularity calls have one meaning on the GPU and on the simulator:
// the lanes that call together are the whole warp (or, in a partial last
// warp, every lane it has), or exactly the lanes a handle names with
// ring::with_lanes(mask). v1 used __activemask(), which says which lanes
// happen to run together: lanes arriving at different times made several
// calls (one went out with the late lanes' bytes still zero), and g++
// merging two identical calls of an if/else made one call where the GPU
// makes two. Each case here failed on v1.
#include <genesys.cuh>

#include "support/test_env.h"

namespace {

// Every lane stores its byte after a delay that grows with the lane, then
// the warp writes the 32 bytes in one relaxed call (its barrier before waits
// for all of them).
__global__ void staggered_lanes_write(gsys::ring r, int fd, char* buf, long* ret)
{
  const unsigned lane = threadIdx.x % 32;
  const unsigned long long t0 = gsys::detail::now_ns();
  while (gsys::detail::now_ns() - t0 < lane * 200'000ull) __nanosleep(50'000);
  buf[threadIdx.x] = (char)('A' + lane % 26);
  ret[threadIdx.x] = gsys::pwrite<gsys::warp>(r, fd, buf + (threadIdx.x & ~31u), 32, (long)(threadIdx.x & ~31u));
}

// Two branches with identical warp calls, each naming its own lanes.
__global__ void branches_name_their_lanes(gsys::ring r, int fd, char* buf, long* ret)
{
  const unsigned lane = threadIdx.x % 32;
  buf[lane] = (char)(lane < 16 ? 'l' : 'h');
  const unsigned low = __ballot_sync(~0u, lane < 16);
  long n;
  if (lane < 16)
    n = gsys::pwrite<gsys::warp>(r.with_lanes(low), fd, buf + (lane & 16u), 16, (long)(lane & 16u));
  else
    n = gsys::pwrite<gsys::warp>(r.with_lanes(~low), fd, buf + (lane & 16u), 16, (long)(lane & 16u));
  ret[lane] = n;
}

// A 48-thread block: warp 1 has 16 lanes, and they are its whole warp.
__global__ void partial_warp_getpid(gsys::ring r, long* ret)
{
  ret[threadIdx.x] = gsys::getpid<gsys::warp>(r);
}

// A lane that calls with a mask that leaves it out is told so.
__global__ void lane_outside_its_mask(gsys::ring r, long* ret)
{
  ret[threadIdx.x] = gsys::getpid<gsys::warp>(r.with_lanes(0x2u));
}

// An empty mask names no lane: every lane that calls with it is outside it
// (v1 read a mask of 0 as "the whole warp": from the full warp the call
// ran, from fewer lanes it waited for lanes that never came).
__global__ void whole_warp_names_no_lanes(gsys::ring r, int fd, char* buf, long* ret)
{
  const gsys::ring none = r.with_lanes(__ballot_sync(~0u, false));
  ret[threadIdx.x] = gsys::getpid<gsys::warp>(none);
  ret[32 + threadIdx.x] = gsys::pread<gsys::warp, gsys::strong>(none, fd, buf, 16, 0);
  ret[64 + threadIdx.x] = gsys::staged::pread<gsys::warp>(none, fd, buf, 16, 0);
}

__global__ void some_lanes_name_no_lanes(gsys::ring r, long* ret)
{
  const unsigned m = __ballot_sync(~0u, threadIdx.x >= 100);  // 0
  if (threadIdx.x < 4) ret[threadIdx.x] = gsys::getpid<gsys::warp>(r.with_lanes(m));
}

class WarpCall : public testing::TestWithParam<gsys::executor_kind> {
 protected:
  void SetUp() override { GSYS_REQUIRE_DEVICE(); }
  std::uint64_t calls_of(const gsys::runtime& rt, const char* name)
  {
    for (auto& op : rt.stats().ops)
      if (op.name == name) return op.calls;
    return 0;
  }
  gsys_test::scratch_dir dir;
};

TEST_P(WarpCall, LanesArrivingAtDifferentTimesMakeOneCall)
{
  gsys::runtime rt(gsys_test::options_for(GetParam()));
  const int fd = ::open(dir.file("w").c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
  char* buf = static_cast<char*>(rt.alloc(64));
  long* ret = static_cast<long*>(rt.alloc(64 * sizeof(long)));
  gsys::launch(staggered_lanes_write, dim3(1), dim3(64), rt.ring(), fd, buf, ret);
  gsys::synchronize();
  ASSERT_TRUE(gsys_test::eventually([&] { return calls_of(rt, "pwrite64") >= 2; }));
  EXPECT_EQ(calls_of(rt, "pwrite64"), 2u) << "one call per warp";
  std::string want;
  for (int w = 0; w < 2; ++w)
    for (int l = 0; l < 32; ++l) want += (char)('A' + l % 26);
  EXPECT_EQ(gsys_test::read_file(dir.file("w")), want);
  for (int t = 0; t < 64; ++t)
    EXPECT_TRUE(ret[t] == 32 || ret[t] == gsys::not_waited) << "thread " << t << ": " << ret[t];
  ::close(fd);
}

TEST_P(WarpCall, BranchesThatNameTheirLanesMakeOneCallEach)
{
  gsys::runtime rt(gsys_test::options_for(GetParam()));
  const int fd = ::open(dir.file("b").c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
  char* buf = static_cast<char*>(rt.alloc(32));
  long* ret = static_cast<long*>(rt.alloc(32 * sizeof(long)));
  gsys::launch(branches_name_their_lanes, dim3(1), dim3(32), rt.ring(), fd, buf, ret);
  gsys::synchronize();
  ASSERT_TRUE(gsys_test::eventually([&] { return calls_of(rt, "pwrite64") >= 2; }));
  EXPECT_EQ(calls_of(rt, "pwrite64"), 2u) << "one call per branch";
  EXPECT_EQ(gsys_test::read_file(dir.file("b")), std::string(16, 'l') + std::string(16, 'h'));
  EXPECT_EQ(ret[0], 16);
  EXPECT_EQ(ret[16], 16);
  ::close(fd);
}

TEST_P(WarpCall, APartialLastWarpIsAWholeWarp)
{
  gsys::runtime rt(gsys_test::options_for(GetParam()));
  long* ret = static_cast<long*>(rt.alloc(48 * sizeof(long)));
  gsys::launch(partial_warp_getpid, dim3(1), dim3(48), rt.ring(), ret);
  gsys::synchronize();
  for (int t = 0; t < 48; ++t) EXPECT_EQ(ret[t], ::getpid()) << "thread " << t;
  EXPECT_EQ(calls_of(rt, "getpid"), 2u);
}

TEST_P(WarpCall, ALaneOutsideTheLanesItNamesGetsEinval)
{
  gsys::runtime rt(gsys_test::options_for(GetParam()));
  long* ret = static_cast<long*>(rt.alloc(32 * sizeof(long)));
  gsys::launch(lane_outside_its_mask, dim3(1), dim3(32), rt.ring(), ret);
  gsys::synchronize();
  EXPECT_EQ(ret[1], ::getpid());
  for (int t = 0; t < 32; ++t) {
    if (t != 1) {
      EXPECT_EQ(ret[t], -EINVAL) << "thread " << t;
    }
  }
  EXPECT_EQ(calls_of(rt, "getpid"), 1u);
}

TEST_P(WarpCall, AnEmptyLaneMaskFromTheWholeWarpIsEinvalInEveryLane)
{
  gsys::runtime rt(gsys_test::options_for(GetParam()));
  const int fd = ::open("/dev/zero", O_RDONLY);
  ASSERT_GE(fd, 0);
  char* buf = static_cast<char*>(rt.alloc(16));
  long* ret = static_cast<long*>(rt.alloc(96 * sizeof(long)));
  gsys::launch(whole_warp_names_no_lanes, dim3(1), dim3(32), rt.ring(), fd, buf, ret);
  gsys::synchronize();
  for (int t = 0; t < 32; ++t) {
    EXPECT_EQ(ret[t], -EINVAL) << "getpid, lane " << t;
    EXPECT_EQ(ret[32 + t], -EINVAL) << "pread, lane " << t;
    EXPECT_EQ(ret[64 + t], -EINVAL) << "staged pread, lane " << t;
  }
  EXPECT_EQ(rt.usage().reserved, 0u) << "nothing was queued";
  ::close(fd);
}

TEST_P(WarpCall, AnEmptyLaneMaskFromSomeLanesIsEinvalNotAHang)
{
  gsys::runtime rt(gsys_test::options_for(GetParam()));
  long* ret = static_cast<long*>(rt.alloc(32 * sizeof(long)));
  gsys::launch(some_lanes_name_no_lanes, dim3(1), dim3(32), rt.ring(), ret);
  gsys::synchronize();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(ret[t], -EINVAL) << "lane " << t;
  EXPECT_EQ(rt.usage().reserved, 0u) << "nothing was queued";
}

INSTANTIATE_TEST_SUITE_P(Executors, WarpCall, testing::ValuesIn(gsys_test::executors()), gsys_test::executor_name);

}  // namespace
