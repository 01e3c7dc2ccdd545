// Resident blocks: an ordinary grid runs a few blocks at a time (as a GPU's
// SMs do), each to completion, however many it has; a co-resident one
// (gsys::sim::coresident) starts every block at once; an undeclared kernel
// whose blocks wait for each other hangs, as it may on a GPU, and is
// reported; the blocks of a big grid all run, each once.
#include <genesys/sim/sim.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace {

using gsys::sim::launch;
using gsys::sim::synchronize;

unsigned long long load(unsigned long long* p) { return std::atomic_ref<unsigned long long>(*p).load(); }

__global__ void count_and_track(unsigned long long* running, unsigned long long* peak, unsigned long long* seen)
{
  __shared__ unsigned long long mine;
  if (threadIdx.x == 0) {
    const unsigned long long now = atomicAdd(running, 1ull) + 1;
    unsigned long long p = load(peak);
    while (now > p && atomicCAS(peak, p, now) != p) p = load(peak);
    mine = 0;
  }
  __syncthreads();
  atomicAdd(&mine, 1ull);
  __nanosleep(20000);  // long enough for other workers to overlap
  __syncthreads();
  if (threadIdx.x == 0) {
    atomicAdd(&seen[blockIdx.x + blockIdx.y * gridDim.x], mine);
    atomicAdd(running, ~0ull);  // -1
  }
}

TEST(SimResident, AnOrdinaryGridRunsAFewBlocksAtATime)
{
  const unsigned k = gsys::sim::resident_blocks();
  unsigned long long running = 0, peak = 0;
  std::vector<unsigned long long> seen(64 * 3, 0);
  launch(count_and_track, dim3(64, 3), 32, &running, &peak, seen.data());
  synchronize();
  EXPECT_EQ(running, 0u);
  EXPECT_LE(peak, k) << "more blocks ran at once than are resident";
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 32u) << "block " << i << " ran other than once";
}

// Each block counts itself in and waits (a bounded while) until every block
// has: only a co-resident grid has them all running at once.
__global__ void arrive_and_wait(unsigned long long* arrived, unsigned long long* running, unsigned long long total,
                                unsigned long long* most)
{
  if (threadIdx.x != 0) return;
  atomicAdd(arrived, 1ull);
  atomicAdd(running, 1ull);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (load(arrived) < total && std::chrono::steady_clock::now() < deadline) __nanosleep(100000);
  atomicMax(most, load(running));
  atomicAdd(running, ~0ull);  // -1
}

// Every block of a co-resident grid is running at once. (This used to sleep
// 20 us per block and hope they overlapped; under a loaded CI machine one
// thread could finish before the third started, and it failed 2 vs 2.)
TEST(SimResident, ACoResidentGridStartsEveryBlockAtOnce)
{
  const unsigned k = gsys::sim::resident_blocks();
  unsigned long long arrived = 0, running = 0, most = 0;
  launch(arrive_and_wait, dim3(3 * k), 32, gsys::sim::coresident{}, &arrived, &running, 3ull * k, &most);
  synchronize();
  EXPECT_EQ(most, 3ull * k);
}

__global__ void add_index(unsigned long long* sum) { atomicAdd(sum, (unsigned long long)blockIdx.x); }

// Past the 4096 OS threads a co-resident grid may have.
TEST(SimResident, AHundredThousandBlocksRunOnAFewWorkers)
{
  unsigned long long sum = 0;
  const unsigned long long n = 100000;
  launch(add_index, dim3(unsigned(n)), 1, &sum);
  synchronize();
  EXPECT_EQ(sum, n * (n - 1) / 2);
  EXPECT_THROW(launch(add_index, dim3(unsigned(n)), 1, gsys::sim::coresident{}, &sum), std::runtime_error);
}

// Every block waits until all have arrived, or the host lets them go.
__global__ void wait_for_all(unsigned long long* arrived, unsigned long long total, unsigned long long* release)
{
  if (threadIdx.x == 0) {
    atomicAdd(arrived, 1ull);
    while (load(arrived) < total && load(release) == 0) __nanosleep(100000);
  }
}

TEST(SimResident, UndeclaredCoResidencyHangsAndIsReported)
{
  gsys::sim::detail::set_stall_report_after(std::chrono::milliseconds(300));
  const unsigned k = gsys::sim::resident_blocks();
  const unsigned long long before = gsys::sim::stall_reports();
  unsigned long long arrived = 0, release = 0;
  testing::internal::CaptureStderr();
  launch(wait_for_all, dim3(k + 1), 32, &arrived, (unsigned long long)(k + 1), &release);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (gsys::sim::stall_reports() == before && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(gsys::sim::stall_reports(), before + 1);
  EXPECT_EQ(load(&arrived), k) << "exactly the resident blocks started";
  std::atomic_ref<unsigned long long>(release).store(1);
  synchronize();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("is stuck: none of its " + std::to_string(k) + " running blocks has ended"), std::string::npos) << err;
  EXPECT_NE(err.find("launch it with gsys::cooperative"), std::string::npos) << err;
  EXPECT_EQ(arrived, k + 1u);

  // Declared, the same kernel needs no help and nothing is reported.
  arrived = 0, release = 0;
  launch(wait_for_all, dim3(k + 1), 32, gsys::sim::coresident{}, &arrived, (unsigned long long)(k + 1), &release);
  synchronize();
  EXPECT_EQ(arrived, k + 1u);
  EXPECT_EQ(gsys::sim::stall_reports(), before + 1);
  gsys::sim::detail::set_stall_report_after(std::chrono::seconds(10));
}

// Many short blocks: no report however long the grid takes, as blocks end.
__global__ void short_nap() { __nanosleep(2000000); }

TEST(SimResident, ALongGridOfShortBlocksIsNotReported)
{
  // A second without a block ending is a stall; the grid takes twice that.
  gsys::sim::detail::set_stall_report_after(std::chrono::seconds(1));
  const unsigned long long before = gsys::sim::stall_reports();
  launch(short_nap, dim3(gsys::sim::resident_blocks() * 1000), 1);  // about 2 s
  synchronize();
  EXPECT_EQ(gsys::sim::stall_reports(), before);
  gsys::sim::detail::set_stall_report_after(std::chrono::seconds(10));
}

}  // namespace
