// Launches, atomics and sleeping on the SIMT simulator: grids that run
// asynchronously, in order on one stream and concurrently on two streams,
// persistent blocks that wait for each other or for a host thread, and
// atomics between real OS threads.
#include <genesys/sim/sim.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using gsys::sim::launch;
using gsys::sim::synchronize;

int load(int* p) { return std::atomic_ref<int>(*p).load(); }
void store(int* p, int v) { std::atomic_ref<int>(*p).store(v); }

struct where {
  uint3 thread, block;
  dim3 block_dim, grid_dim;
};

__global__ void record_indices(where* out)
{
  const unsigned block = blockIdx.x + blockIdx.y * gridDim.x + blockIdx.z * gridDim.x * gridDim.y;
  const unsigned thread = threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y;
  out[block * blockDim.x * blockDim.y * blockDim.z + thread] = {threadIdx, blockIdx, blockDim, gridDim};
}

TEST(SimLaunch, MultiDimensionalIndicesCoverTheGrid)
{
  const dim3 grid(2, 3, 2), block(4, 2, 3);
  std::vector<where> out(12 * 24);
  launch(record_indices, grid, block, out.data());
  synchronize();
  unsigned i = 0;
  for (unsigned bz = 0; bz < 2; ++bz)
    for (unsigned by = 0; by < 3; ++by)
      for (unsigned bx = 0; bx < 2; ++bx)
        for (unsigned tz = 0; tz < 3; ++tz)
          for (unsigned ty = 0; ty < 2; ++ty)
            for (unsigned tx = 0; tx < 4; ++tx, ++i) {
              const where& w = out[i];
              ASSERT_EQ(w.thread.x, tx);
              ASSERT_EQ(w.thread.y, ty);
              ASSERT_EQ(w.thread.z, tz);
              ASSERT_EQ(w.block.x, bx);
              ASSERT_EQ(w.block.y, by);
              ASSERT_EQ(w.block.z, bz);
              ASSERT_EQ(w.block_dim.x * w.block_dim.y * w.block_dim.z, 24u);
              ASSERT_EQ(w.grid_dim.x * 100 + w.grid_dim.y * 10 + w.grid_dim.z, 232u);
            }
}

__global__ void wait_for_host(int* started, int* go, int* done)
{
  store(started, 1);
  while (load(go) == 0) __nanosleep(1000);
  store(done, 1);
}

TEST(SimLaunch, IsAsynchronousAndSeesHostWrites)
{
  int started = 0, go = 0, done = 0;
  launch(wait_for_host, 1, 1, &started, &go, &done);  // returns while the kernel waits
  while (load(&started) == 0) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(load(&done), 0);
  std::thread host([&] { store(&go, 1); });
  synchronize();
  host.join();
  EXPECT_EQ(done, 1);
}

struct config {
  int value;
};

__global__ void read_argument_late(config c, int* go, int* seen)
{
  while (load(go) == 0) __nanosleep(1000);
  *seen = c.value;
}

TEST(SimLaunch, CopiesArgumentsAtLaunch)
{
  config c{7};
  int go = 0, seen = 0;
  launch(read_argument_late, 1, 1, c, &go, &seen);
  c.value = 8;
  store(&go, 1);
  synchronize();
  EXPECT_EQ(seen, 7);
}

// Blocks 0 and 1 play ping-pong through global memory: each waits for the
// other, so they must be running at the same time.
__global__ void ping_pong(int* ball, int rounds)
{
  const int me = (int)blockIdx.x;
  for (int r = 0; r < rounds; ++r) {
    if (threadIdx.x == 0) {
      while (load(ball) % 2 != me) __nanosleep(500);
      store(ball, load(ball) + 1);
    }
    __syncthreads();
  }
}

TEST(SimLaunch, PersistentBlocksWaitForEachOther)
{
  int ball = 0;
  launch(ping_pong, 2, 32, gsys::sim::coresident{}, &ball, 50);
  synchronize();
  EXPECT_EQ(ball, 100);
}

// CUDA's stream order: a grid launched on the default stream starts only
// after the one launched before it has finished, yet launch() returns at
// once. The first grid waits for the host, so the second launch happens while
// it runs; the second grid must not start until the first has written.
__global__ void write_when_told(int* go, int* value, int* first_done)
{
  while (load(go) == 0) __nanosleep(1000);
  __nanosleep(2000000);  // a late write: a second grid running early reads 0
  store(value, 42);
  store(first_done, 1);
}

__global__ void read_after(int* value, int* second_started, int* seen)
{
  store(second_started, 1);
  store(seen, load(value));
}

TEST(SimLaunch, LaunchesOnTheDefaultStreamRunInOrder)
{
  int go = 0, value = 0, first_done = 0, second_started = 0, seen = -1;
  const auto t0 = std::chrono::steady_clock::now();
  launch(write_when_told, 1, 32, &go, &value, &first_done);
  launch(read_after, 4, 32, &value, &second_started, &seen);  // returns while the first grid waits
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1)) << "launch() must not wait";
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(load(&second_started), 0) << "the second grid started while the first was running";
  store(&go, 1);
  synchronize();
  EXPECT_EQ(first_done, 1);
  EXPECT_EQ(second_started, 1);
  EXPECT_EQ(seen, 42) << "the second grid did not see what the first wrote";
}

// A chain of many-block grids, each checking on entry that every block of
// the grid before it has finished.
__global__ void stage(int* counter, int k, int blocks, int* bad)
{
  if (threadIdx.x == 0) {
    if (atomicAdd(counter, 0) < k * blocks) atomicAdd(bad, 1);
    __nanosleep(200000u * (blockIdx.x % 3));  // blocks of a grid end at different times
    atomicAdd(counter, 1);
  }
}

TEST(SimLaunch, EveryBlockOfAGridEndsBeforeTheNextGridStarts)
{
  constexpr int kBlocks = 8, kStages = 6;
  int counter = 0, bad = 0;
  for (int k = 0; k < kStages; ++k) launch(stage, kBlocks, 32, &counter, k, kBlocks, &bad);
  synchronize();
  EXPECT_EQ(counter, kStages * kBlocks);
  EXPECT_EQ(bad, 0);
}

__global__ void wait_for_flag(int* flag, int* seen)
{
  while (load(flag) == 0) __nanosleep(1000);
  *seen = 1;
}

__global__ void set_flag_later(int* flag)
{
  __nanosleep(2000000);
  store(flag, 1);
}

// Grids on different streams may run at once (they do on the simulator):
// the first waits for the second. On one stream this would never finish.
TEST(SimLaunch, GridsOnDifferentStreamsRunConcurrently)
{
  int flag = 0, seen = 0;
  gsys::sim::stream other;
  launch(wait_for_flag, 1, 32, other, &flag, &seen);  // cannot finish until the second grid runs
  launch(set_flag_later, 1, 1, &flag);
  synchronize();
  EXPECT_EQ(seen, 1);
}

// Waiting for one stream (or the default stream) leaves the others running,
// as cudaStreamSynchronize does: a server's receiver that never ends must
// not hold up the work that answers its requests.
TEST(SimLaunch, SynchronizingAStreamWaitsForThatStreamAlone)
{
  int flag = 0, seen = 0, flag2 = 0;
  gsys::sim::stream receiver, work;
  launch(wait_for_flag, 1, 32, receiver, &flag, &seen);  // runs until the host lets it go
  launch(set_flag_later, 1, 1, work, &flag2);
  gsys::sim::synchronize(work);
  EXPECT_EQ(load(&flag2), 1) << "the stream's grid had not finished";
  flag2 = 0;
  launch(set_flag_later, 1, 1, &flag2);
  gsys::sim::synchronize_default_stream();
  EXPECT_EQ(load(&flag2), 1) << "the default stream's grid had not finished";
  EXPECT_EQ(load(&seen), 0) << "the receiver ended while it waited";
  store(&flag, 1);
  gsys::sim::synchronize(receiver);
  EXPECT_EQ(load(&seen), 1);
}

__global__ void large_block_reduce(unsigned long long* total)
{
  __shared__ unsigned long long sum;
  if (threadIdx.x == 0) sum = 0;
  __syncthreads();
  atomicAdd(&sum, (unsigned long long)threadIdx.x);
  __syncthreads();
  if (threadIdx.x == 0) atomicAdd(total, sum);
}

// 65536 fibers alive at once. The cost is dominated by first touches of
// their stack pages (about 2 s on a small VM, twice that under ASan); the
// bound catches per-thread costs that grow with the block, not page faults.
TEST(SimLaunch, SixtyFourBlocksOf1024ThreadsComplete)
{
  unsigned long long total = 0;
  const auto t0 = std::chrono::steady_clock::now();
  launch(large_block_reduce, 64, 1024, &total);
  synchronize();
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(total, 64ull * (1023ull * 1024 / 2));
  EXPECT_LT(elapsed, std::chrono::seconds(20));
}

__global__ void noop() {}

TEST(SimLaunch, RejectsConfigurationsCudaOrTheSimulatorCannotRun)
{
  EXPECT_THROW(launch(noop, 1, 1025), std::runtime_error);
  EXPECT_THROW(launch(noop, 1, dim3(1, 1, 65)), std::runtime_error);
  EXPECT_THROW(launch(noop, dim3(0), 32), std::runtime_error);
  EXPECT_THROW(launch(noop, dim3(4097), 32, gsys::sim::coresident{}), std::runtime_error);  // 4097 OS threads
  EXPECT_THROW(launch(noop, dim3(0x80000000u), 1), std::runtime_error);                     // CUDA: x < 2^31
  launch(noop, dim3(4097), 32);                                                              // a few at a time
  launch(noop, dim3(16, 16), dim3(8, 8, 8));
  synchronize();
}

TEST(SimLaunch, DeviceNameSaysSimulator)
{
  EXPECT_NE(gsys::sim::device_name().find("SIMT simulator"), std::string::npos);
}

__global__ void add_everywhere(int* i, unsigned* u, unsigned long long* ull, float* f, int* sys)
{
  atomicAdd(i, 1);
  atomicAdd(u, 2u);
  atomicAdd(ull, 1ull << 33);
  atomicAdd(f, 1.0f);
  atomicAdd_system(sys, 1);
}

TEST(SimAtomics, AddAcrossManyBlocksIsExact)
{
  int i = 0, sys = 0;
  unsigned u = 0;
  unsigned long long ull = 0;
  float f = 0;
  launch(add_everywhere, 64, 256, &i, &u, &ull, &f, &sys);
  synchronize();
  EXPECT_EQ(i, 64 * 256);
  EXPECT_EQ(u, 2u * 64 * 256);
  EXPECT_EQ(ull, (64ull * 256) << 33);
  EXPECT_EQ(f, 64.0f * 256);
  EXPECT_EQ(sys, 64 * 256);
}

// A spin lock from atomicCAS/atomicExch guarding plain memory, contended by
// 16 blocks on real threads.
__global__ void locked_increment(int* lock, int* counter)
{
  for (int k = 0; k < 10; ++k) {
    while (atomicCAS(lock, 0, 1) != 0) __nanosleep(100);
    __threadfence();
    *counter += 1;
    __threadfence();
    atomicExch(lock, 0);
  }
}

TEST(SimAtomics, CasLockSerializesBlocks)
{
  int lock = 0, counter = 0;
  launch(locked_increment, 16, 32, &lock, &counter);
  synchronize();
  EXPECT_EQ(counter, 16 * 32 * 10);
}

__global__ void each_operation(int* i, unsigned* u, unsigned long long* ull, long long* ll, int* old)
{
  old[0] = atomicSub(&i[0], 5);           // 10 -> 5
  old[1] = atomicExch(&i[1], 9);          // 1 -> 9
  old[2] = atomicMin(&i[2], -3);          // 4 -> -3
  old[3] = atomicMax(&i[3], 7);           // 4 -> 7
  old[4] = atomicCAS(&i[4], 0, 5);        // 2: compare fails, stays 2
  old[5] = atomicCAS_block(&i[5], 2, 6);  // 2 -> 6
  old[6] = atomicAnd(&i[6], 0x6);         // 0xf -> 0x6
  old[7] = atomicOr_system(&i[7], 0x10);  // 1 -> 0x11
  old[8] = atomicXor(&i[8], 0x3);         // 0x5 -> 0x6
  old[9] = (int)atomicInc(&u[0], 3);      // 3 -> 0 (wraps at the limit)
  old[10] = (int)atomicInc(&u[1], 3);     // 1 -> 2
  old[11] = (int)atomicDec(&u[2], 3);     // 0 -> 3 (wraps at zero)
  old[12] = (int)atomicDec(&u[3], 3);     // 2 -> 1
  old[13] = (int)atomicMax(ull, 1ull << 40);
  old[14] = (int)atomicMin(ll, -(1ll << 40));
}

TEST(SimAtomics, EachOperationHasCudaSemantics)
{
  int i[9] = {10, 1, 4, 4, 2, 2, 0xf, 1, 0x5};
  unsigned u[4] = {3, 1, 0, 2};
  unsigned long long ull = 1;
  long long ll = 0;
  int old[15] = {};
  launch(each_operation, 1, 1, i, u, &ull, &ll, old);
  synchronize();
  const int want_i[9] = {5, 9, -3, 7, 2, 6, 0x6, 0x11, 0x6};
  const int want_old[13] = {10, 1, 4, 4, 2, 2, 0xf, 1, 0x5, 3, 1, 0, 2};
  const unsigned want_u[4] = {0, 2, 3, 1};
  for (int k = 0; k < 9; ++k) EXPECT_EQ(i[k], want_i[k]) << k;
  for (int k = 0; k < 13; ++k) EXPECT_EQ(old[k], want_old[k]) << k;
  for (int k = 0; k < 4; ++k) EXPECT_EQ(u[k], want_u[k]) << k;
  EXPECT_EQ(old[13], 1);
  EXPECT_EQ(ull, 1ull << 40);
  EXPECT_EQ(old[14], 0);
  EXPECT_EQ(ll, -(1ll << 40));
}

__global__ void timed_sleep(long long* slept, unsigned ns)
{
  const long long t0 = clock64();
  __nanosleep(ns * (threadIdx.x + 1));
  slept[threadIdx.x] = clock64() - t0;
}

TEST(SimSleep, NanosleepWaitsAtLeastTheRequestedTime)
{
  std::vector<long long> slept(4);
  launch(timed_sleep, 1, 4, slept.data(), 2000000u);
  synchronize();
  for (unsigned t = 0; t < 4; ++t) EXPECT_GE(slept[t], 2000000ll * (t + 1)) << t;
  launch(timed_sleep, 1, 1, slept.data(), 5000u);  // the short-sleep path
  synchronize();
  EXPECT_GE(slept[0], 5000);
}

// Thread 0 waits for a flag that thread 31 of its own block sets: the wait
// must let the thread's siblings run, by sleeping or by yielding.
__global__ void wait_for_sibling(int* order, bool use_yield)
{
  __shared__ int flag;
  if (threadIdx.x == 0) {
    flag = 0;
    while (load(&flag) == 0) {
      if (use_yield)
        gsys::sim::yield();
      else
        __nanosleep(100);
    }
    order[1] = 1;
  } else if (threadIdx.x == 31) {
    order[0] = 1;
    store(&flag, 1);
  }
}

TEST(SimScheduler, SleepingOrYieldingLetsSiblingsRun)
{
  for (bool use_yield : {false, true}) {
    int order[2] = {0, 0};
    launch(wait_for_sibling, 1, 32, order, use_yield);
    synchronize();
    EXPECT_EQ(order[0], 1);
    EXPECT_EQ(order[1], 1);
  }
}

}  // namespace
