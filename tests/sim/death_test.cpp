// Programs the simulator must stop loudly: deadlocks, exceptions escaping a
// kernel, misused collectives. Each dies with a diagnostic on stderr.
#include <genesys/sim/sim.h>
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace {

using gsys::sim::launch;
using gsys::sim::synchronize;

// The simulator's worker threads outlive each launch, so fork() alone
// would copy a process with threads: re-run the test binary instead.
class SimDeathTest : public testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

__global__ void half_warp_syncs_with_exited_half()
{
  if (threadIdx.x >= 16) return;
  __syncwarp();
}

TEST_F(SimDeathTest, SyncwarpNamingExitedLanesIsADeadlock)
{
  EXPECT_DEATH(
      {
        launch(half_warp_syncs_with_exited_half, 1, 32);
        synchronize();
      },
      "deadlock in block \\(0,0,0\\).*threads 0-15 \\(warp 0, lanes 0-15\\): __syncwarp\\(mask 0xffffffff\\), "
      "waiting for lanes 0xffff0000 \\(exited: 0xffff0000\\).*threads 16-31 \\(warp 0, lanes 16-31\\): exited");
}

// Lane 0 waits in __syncwarp for lanes that wait in __syncthreads for lane 0.
__global__ void barrier_against_syncwarp()
{
  if (threadIdx.x == 0)
    __syncwarp();
  else
    __syncthreads();
}

TEST_F(SimDeathTest, BarrierAgainstWarpCollectiveIsADeadlock)
{
  EXPECT_DEATH(
      {
        launch(barrier_against_syncwarp, 2, 64);
        synchronize();
      },
      "deadlock in block.*thread 0 \\(warp 0, lane 0\\): __syncwarp.*"
      "threads 1-63 \\(warps 0-1\\): __syncthreads, 63 of 64 live threads arrived");
}

__global__ void throw_in_one_thread()
{
  if (blockIdx.x == 1 && threadIdx.x == 5) throw std::runtime_error("boom");
  __syncthreads();
}

TEST_F(SimDeathTest, ExceptionEscapingAKernelAborts)
{
  EXPECT_DEATH(
      {
        launch(throw_in_one_thread, 2, 32);
        synchronize();
      },
      "thread \\(5,0,0\\) of block \\(1,0,0\\) let an exception escape the kernel: std::runtime_error: boom");
}

__global__ void shuffle_without_own_lane() { __shfl_sync(0x1u, (int)threadIdx.x, 0); }

TEST_F(SimDeathTest, LaneOutsideItsOwnMaskAborts)
{
  EXPECT_DEATH(
      {
        launch(shuffle_without_own_lane, 1, 32);
        synchronize();
      },
      "__shfl_sync: thread \\(1,0,0\\) of block \\(0,0,0\\), lane 1, is not in its own mask 0x00000001");
}

__global__ void different_collectives_one_mask()
{
  if (threadIdx.x < 16)
    __ballot_sync(0xffffffffu, 1);
  else
    __shfl_sync(0xffffffffu, 1, 0);
}

TEST_F(SimDeathTest, DifferentCollectivesWithOneMaskAbort)
{
  EXPECT_DEATH(
      {
        launch(different_collectives_one_mask, 1, 32);
        synchronize();
      },
      "lanes 0x0000ffff called __ballot_sync and lane 16 called __shfl_sync, all with mask 0xffffffff");
}

// A frame larger than the whole 256 KiB stack, written page by page from its
// low end (the trial's program): the first write lands below the stack and
// its guard page, so no scheduling point sees the stack run out.
[[gnu::noinline]] int use_400_kib_of_stack()
{
  volatile char local[400 * 1024];
  for (int i = 0; i < (int)sizeof local; i += 4096) local[i] = (char)i;
  return local[4096];
}

__global__ void one_thread_takes_a_huge_frame(int* out)
{
  if (blockIdx.x == 1 && threadIdx.x == 1) *out = use_400_kib_of_stack();
  __syncthreads();
}

TEST_F(SimDeathTest, StackOverflowInOneLargeFrameIsReported)
{
  EXPECT_DEATH(
      {
        static int out;
        launch(one_thread_takes_a_huge_frame, 2, 2, &out);
        synchronize();
      },
      "thread \\(1,0,0\\) of block \\(1,0,0\\) overflowed its 256 KiB stack; set GSYS_SIM_STACK_KB");
}

// Small frames, one below the other: the overflow hits the guard page.
[[gnu::noinline]] int recurse(int depth)
{
  volatile char pad[512];
  pad[0] = (char)depth;
  return depth == 0 ? 0 : recurse(depth - 1) + pad[0];
}

__global__ void one_thread_recurses_deeply(int* out)
{
  if (blockIdx.y == 1 && threadIdx.x == 2 && threadIdx.z == 1) *out = recurse(1 << 20);
}

TEST_F(SimDeathTest, StackOverflowByDeepRecursionIsReported)
{
  EXPECT_DEATH(
      {
        static int out;
        launch(one_thread_recurses_deeply, dim3(1, 2), dim3(3, 1, 2), &out);
        synchronize();
      },
      "thread \\(2,0,1\\) of block \\(0,1,0\\) overflowed its 256 KiB stack; set GSYS_SIM_STACK_KB");
}

// Any other fault in a kernel is left as it was: a SIGSEGV (or under ASan,
// ASan's report), not a stack overflow report.
volatile std::uintptr_t bad_address = 16;

__global__ void write_through_a_bad_pointer() { *reinterpret_cast<volatile int*>(bad_address) = 1; }

TEST_F(SimDeathTest, OtherFaultsInAKernelKeepTheirUsualEnd)
{
#if defined(__SANITIZE_ADDRESS__)
  const auto ended_as_usual = testing::ExitedWithCode(1);
  const char* report = "AddressSanitizer: SEGV on unknown address";
#else
  const auto ended_as_usual = testing::KilledBySignal(SIGSEGV);
  const char* report = "^$";
#endif
  EXPECT_EXIT(
      {
        launch(write_through_a_bad_pointer, 1, 1);
        synchronize();
      },
      ended_as_usual, report);
}

__global__ void nothing() {}

// Launches one co-resident block with `name`=`value` in the environment (in
// the child of a death test: the simulator reads each variable once) and
// exits 3 with what the launch threw, or 0 if it ran.
void launch_with(const char* name, const char* value)
{
  setenv(name, value, 1);
  try {
    launch(nothing, 1, 1, gsys::sim::coresident{});
    synchronize();
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::_Exit(3);
  }
  std::_Exit(0);
}

TEST_F(SimDeathTest, NegativeOrOverflowingNumbersInTheEnvironmentAreRefused)
{
  for (const char* name : {"GSYS_SIM_RESIDENT_BLOCKS", "GSYS_SIM_MAX_BLOCKS", "GSYS_SIM_STACK_KB"}) {
    // strtoull took "-1" as 2^64-1, and the second as 32.
    for (const char* value : {"-1", "-18446744073709551584", "18446744073709551616"})
      EXPECT_EXIT(launch_with(name, value), testing::ExitedWithCode(3),
                  std::string(name) + "=" + value + ": expected a ")
          << name << "=" << value;
    EXPECT_EXIT(launch_with(name, "64"), testing::ExitedWithCode(0), "") << name << "=64";
  }
}

TEST_F(SimDeathTest, BarrierOutsideAKernelAborts)
{
  EXPECT_DEATH(__syncthreads(), "__syncthreads called outside a simulated kernel");
}

}  // namespace
