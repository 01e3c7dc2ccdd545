// gsys-sim-bench: the cost of the simulator's scheduling points, per
// operation, in one 1 x threads block: __syncthreads, __syncwarp,
// __shfl_sync, __reduce_add_sync and gsys::sim::yield. An operation of a
// block of n threads switches n fibers, so ns_per_op / threads is the cost
// of one fiber's visit.
//
// Each operation runs --reps launches of --iters iterations and reports the
// fastest launch (ns_per_op) and the median one: on a shared machine the
// fastest is the best estimate of the simulator's own cost.
//
// Then the simulator's throughput on real work: gsys-vlm's tiled matmul
// kernel (examples/vlm/kernels.cuh: 64 x 64 output tiles, k-steps of 32 in
// shared memory, 256 threads) on an M x N x K product, in GFLOP/s, with a
// grid of two blocks per host core (what gsys-vlm launches) and with one
// block per output tile.
//
// Output: one JSON object per line on stdout, e.g.
//   {"bench":"sim","op":"syncthreads","threads":256,"iters":100000,"ns_per_op":...}
//   {"bench":"sim","op":"matmul","m":512,"n":512,"k":512,"blocks":4,"gflops":...}
// Usage: gsys-sim-bench [--iters N] [--threads N] [--reps N] [--matmul M,N,K] (or --opt=value)
#include <genesys/sim/sim.h>

#include "vlm/kernels.cuh"

#include "bench_args.h"

#include <getopt.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

enum class sim_op { syncthreads, syncwarp, shfl, reduce_add, yield };

const char* op_name(sim_op op)
{
  switch (op) {
    case sim_op::syncthreads: return "syncthreads";
    case sim_op::syncwarp: return "syncwarp";
    case sim_op::shfl: return "shfl";
    case sim_op::reduce_add: return "reduce_add";
    case sim_op::yield: return "yield";
  }
  return "?";
}

// `sink` keeps the results alive so the loop is not optimized away.
__global__ void run_op(sim_op op, int iters, unsigned* sink)
{
  unsigned acc = threadIdx.x;
  switch (op) {
    case sim_op::syncthreads:
      for (int i = 0; i < iters; ++i) __syncthreads();
      break;
    case sim_op::syncwarp:
      for (int i = 0; i < iters; ++i) __syncwarp();
      break;
    case sim_op::shfl:
      for (int i = 0; i < iters; ++i) acc = __shfl_sync(0xffffffffu, acc, (int)(threadIdx.x + 1) % 32);
      break;
    case sim_op::reduce_add:
      for (int i = 0; i < iters; ++i) acc += __reduce_add_sync(0xffffffffu, acc);
      break;
    case sim_op::yield:
      for (int i = 0; i < iters; ++i) gsys::sim::yield();
      break;
  }
  sink[threadIdx.x] = acc;
}

double run_ns(sim_op op, unsigned threads, int iters, unsigned* sink)
{
  const auto t0 = std::chrono::steady_clock::now();
  gsys::sim::launch(run_op, 1, threads, op, iters, sink);
  gsys::sim::synchronize();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count();
}

// Seconds of one C = A . W^T on `blocks` blocks.
double matmul_seconds(const std::vector<float>& a, const std::vector<float>& w, std::vector<float>& c, int m, int n,
                      int k, unsigned blocks)
{
  const auto t0 = std::chrono::steady_clock::now();
  gsys::sim::launch(vlm::matmul_kernel, blocks, vlm::kMmThreads, a.data(), w.data(), (const float*)nullptr, c.data(),
                    m, n, k, 0);
  gsys::sim::synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv)
{
  int iters = 100000;
  unsigned threads = 256;
  int reps = 5;
  int mm_m = 512, mm_n = 512, mm_k = 512;
  const char* prog = argv[0];
  const char* usage =
      "usage: %s [--iters N] [--threads N] [--reps N] [--matmul M,N,K]   (--opt=value too)\n"
      "Measures the SIMT simulator's cost per __syncthreads, __syncwarp, __shfl_sync,\n"
      "__reduce_add_sync and yield in one block, and its GFLOP/s on gsys-vlm's matmul\n"
      "kernel (default 512,512,512; 0: skip); prints JSON lines.\n";
  const option opts[] = {{"iters", required_argument, nullptr, 'i'},   {"threads", required_argument, nullptr, 't'},
                         {"reps", required_argument, nullptr, 'r'},    {"matmul", required_argument, nullptr, 'm'},
                         {"help", no_argument, nullptr, 'h'},          {nullptr, 0, nullptr, 0}};
  for (int ch; (ch = getopt_long(argc, argv, "i:t:r:m:h", opts, nullptr)) != -1;) {
    switch (ch) {
      case 'i': iters = (int)bench::parse_int(prog, "--iters", optarg, 1, 1000000000); break;
      case 't': threads = (unsigned)bench::parse_int(prog, "--threads", optarg, 1, 1024); break;  // one block
      case 'r': reps = (int)bench::parse_int(prog, "--reps", optarg, 1, 1000); break;
      case 'm': {
        char extra;
        const int got = std::sscanf(optarg, "%d,%d,%d%c", &mm_m, &mm_n, &mm_k, &extra);
        if (!std::strcmp(optarg, "0"))
          mm_m = 0;
        else if (got != 3 || mm_m < 1 || mm_n < 1 || mm_k < 1 || mm_m > 8192 || mm_n > 8192 || mm_k > 8192)
          bench::bad_arg(prog, "--matmul", "M,N,K in [1, 8192] (or 0)", optarg);
        break;
      }
      case 'h': std::printf(usage, prog); return 0;
      default: std::fprintf(stderr, usage, prog); return 2;
    }
  }
  bench::reject_operands(prog, argc, argv, optind);
  static unsigned sink[1024];
  for (sim_op op : {sim_op::syncthreads, sim_op::syncwarp, sim_op::shfl, sim_op::reduce_add, sim_op::yield}) {
    run_ns(op, threads, iters / 100 + 1, sink);  // warm up: fiber stacks committed
    std::vector<double> ns(reps);
    for (double& n : ns) n = run_ns(op, threads, iters, sink) / iters;
    std::sort(ns.begin(), ns.end());
    std::printf("{\"bench\":\"sim\",\"op\":\"%s\",\"threads\":%u,\"iters\":%d,\"reps\":%d,\"ns_per_op\":%.1f,"
                "\"median_ns_per_op\":%.1f,\"ns_per_thread_op\":%.2f}\n",
                op_name(op), threads, iters, reps, ns[0], ns[reps / 2], ns[0] / threads);
  }
  if (mm_m > 0) {
    std::vector<float> a(std::size_t(mm_m) * mm_k), w(std::size_t(mm_n) * mm_k), c(std::size_t(mm_m) * mm_n);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = float(i % 17) * 0.01f;
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(i % 13) * 0.01f;
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    const unsigned tiles = unsigned((mm_m + vlm::kMmTile - 1) / vlm::kMmTile * ((mm_n + vlm::kMmTile - 1) / vlm::kMmTile));
    const double flop = 2.0 * mm_m * mm_n * mm_k;
    for (unsigned blocks : {std::min(tiles, 2 * cores), tiles}) {
      matmul_seconds(a, w, c, mm_m, mm_n, mm_k, blocks);  // warm up
      std::vector<double> s(reps);
      for (double& x : s) x = matmul_seconds(a, w, c, mm_m, mm_n, mm_k, blocks);
      std::sort(s.begin(), s.end());
      std::printf("{\"bench\":\"sim\",\"op\":\"matmul\",\"m\":%d,\"n\":%d,\"k\":%d,\"blocks\":%u,\"cores\":%u,"
                  "\"reps\":%d,\"ms\":%.3f,\"median_ms\":%.3f,\"gflops\":%.3f,\"median_gflops\":%.3f}\n",
                  mm_m, mm_n, mm_k, blocks, cores, reps, s[0] * 1e3, s[reps / 2] * 1e3, flop / s[0] / 1e9,
                  flop / s[reps / 2] / 1e9);
    }
  }
  return 0;
}
