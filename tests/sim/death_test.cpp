// Programs the simulator must stop loudly: deadlocks, exceptions escaping a
// kernel, misused collectives. Each dies with a diagnostic on stderr.
#include <genesys/sim/sim.h>
#include <gtest/gtest.h>

#include <stdexcept>

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

TEST_F(SimDeathTest, BarrierOutsideAKernelAborts)
{
  EXPECT_DEATH(__syncthreads(), "__syncthreads called outside a simulated kernel");
}

}  // namespace
