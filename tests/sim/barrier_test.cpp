// Block barriers and shared memory on the SIMT simulator.
#include <genesys/sim/sim.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace {

using gsys::sim::launch;
using gsys::sim::synchronize;

// Each thread reads the slot its right neighbour wrote before the barrier.
// Thread t runs before t+1 until it parks, so without a working barrier
// every thread would read a slot that is not written yet.
__global__ void read_neighbour_after_barrier(int* out)
{
  __shared__ int slots[1024];
  const unsigned t = threadIdx.x;
  slots[t] = (int)t * 3 + 1;
  __syncthreads();
  out[t] = slots[(t + 1) % blockDim.x];
}

TEST(SimBarrier, OrdersAllOf1024Threads)
{
  std::vector<int> out(1024, -1);
  launch(read_neighbour_after_barrier, 1, 1024, out.data());
  synchronize();
  for (int t = 0; t < 1024; ++t) ASSERT_EQ(out[t], ((t + 1) % 1024) * 3 + 1) << "thread " << t;
}

// Ten phases, each counted by every thread; a thread that passed a barrier
// early would see a count from the phase before.
__global__ void count_phases(int* bad)
{
  __shared__ int count;
  if (threadIdx.x == 0) count = 0;
  __syncthreads();
  for (int phase = 1; phase <= 10; ++phase) {
    atomicAdd(&count, 1);
    __syncthreads();
    if (count != phase * (int)blockDim.x) atomicAdd(bad, 1);
    __syncthreads();
  }
}

TEST(SimBarrier, RepeatedBarriersSeparatePhases)
{
  int bad = 0;
  launch(count_phases, 4, 256, &bad);
  synchronize();
  EXPECT_EQ(bad, 0);
}

// Thread 0 skips the second barrier, so it runs ahead: it reads the flag
// before thread 63 (the last to run) has set it. Everyone else waits and
// sees it set. The schedule is deterministic, so this is too.
__global__ void skip_barrier(int* seen)
{
  __shared__ int flag;
  if (threadIdx.x == 0) flag = 0;
  __syncthreads();
  if (threadIdx.x == 63) flag = 1;
  if (threadIdx.x != 0) __syncthreads();
  seen[threadIdx.x] = flag;
}

TEST(SimBarrier, ThreadSkippingBarrierRunsAhead)
{
  std::vector<int> seen(64, -1);
  launch(skip_barrier, 1, 64, seen.data());
  synchronize();
  EXPECT_EQ(seen[0], 0);
  for (int t = 1; t < 64; ++t) EXPECT_EQ(seen[t], 1) << "thread " << t;
}

__global__ void half_exit_then_barrier(int* passed)
{
  if (threadIdx.x >= 32) return;
  __syncthreads();
  atomicAdd(passed, 1);
}

TEST(SimBarrier, ExitedThreadsCountAsArrived)
{
  int passed = 0;
  launch(half_exit_then_barrier, 1, 128, &passed);
  synchronize();
  EXPECT_EQ(passed, 32);
}

__global__ void barrier_votes(int* out)
{
  const int t = (int)threadIdx.x, n = (int)blockDim.x;
  const int even = __syncthreads_count(t % 2 == 0);
  const int all_nonneg = __syncthreads_and(t >= 0);
  const int all_but_last = __syncthreads_and(t < n - 1);
  const int one = __syncthreads_or(t == 5);
  const int none = __syncthreads_or(0);
  if (t == 0) {
    out[0] = even;
    out[1] = all_nonneg;
    out[2] = all_but_last;
    out[3] = one;
    out[4] = none;
  }
}

TEST(SimBarrier, CountAndOrReduceOverTheBlock)
{
  int out[5] = {-1, -1, -1, -1, -1};
  launch(barrier_votes, 1, 100, out);
  synchronize();
  EXPECT_EQ(out[0], 50);
  EXPECT_NE(out[1], 0);
  EXPECT_EQ(out[2], 0);
  EXPECT_NE(out[3], 0);
  EXPECT_EQ(out[4], 0);
}

// Blocks run at once on different OS threads; each must see only its own
// `sum`.
__global__ void sum_block_index(int* out)
{
  __shared__ int sum;
  if (threadIdx.x == 0) sum = 0;
  __syncthreads();
  atomicAdd(&sum, (int)blockIdx.x + 1);
  __syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = sum;
}

TEST(SimSharedMemory, IsPerBlockAndSharedByItsThreads)
{
  std::vector<int> out(8, -1);
  launch(sum_block_index, 8, 64, out.data());
  synchronize();
  for (int b = 0; b < 8; ++b) EXPECT_EQ(out[b], 64 * (b + 1)) << "block " << b;
}

__global__ void reverse_in_dynamic_shared(int* out, std::uintptr_t* base)
{
  int* buf = gsys::sim::dynamic_shared<int>();
  const unsigned t = threadIdx.x, n = blockDim.x;
  buf[t] = (int)(blockIdx.x * 1000 + t);
  __syncthreads();
  out[blockIdx.x * n + t] = buf[n - 1 - t];
  if (t == 0) base[blockIdx.x] = reinterpret_cast<std::uintptr_t>(buf);
}

TEST(SimSharedMemory, DynamicSharedMemoryHasTheLaunchSize)
{
  constexpr unsigned n = 128;
  std::vector<int> out(4 * n, -1);
  std::vector<std::uintptr_t> base(4, 0);
  launch(reverse_in_dynamic_shared, 4, n, gsys::sim::dynamic_shared_bytes{n * sizeof(int)}, out.data(),
         base.data());
  synchronize();
  for (unsigned b = 0; b < 4; ++b) {
    EXPECT_EQ(base[b] % 16, 0u);
    for (unsigned t = 0; t < n; ++t) ASSERT_EQ(out[b * n + t], (int)(b * 1000 + n - 1 - t));
  }
}

}  // namespace
