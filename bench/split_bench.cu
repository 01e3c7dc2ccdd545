// gsys-split-bench: genesys against the conventional kernel-split way and
// a CPU-only version, on the same workload in the same run.
//
// Workload: every block of B blocks x T threads reads `steps` chunks of
// 64 KiB from a page-cached file and reduces each (T threads, one slice
// each, `rounds` multiply-shift rounds per 8-byte word; the block combines
// the slices into one hash).
//   independent  chunk s of block b is (s*B + b): all offsets known up front
//                (rounds = 1: a plain read-and-checksum)
//   dependent    the next chunk's index comes from the hash of the last one:
//                I/O interleaved with compute, what GENESYS argued for
// Versions:
//   genesys  one kernel; each block calls gsys::pread<gsys::block> per chunk
//   split    the kernel ends, the CPU makes the same preads, the kernel is
//            launched again: independent = every pread first, then one
//            launch over all chunks; dependent = one launch per step
//   cpu      B CPU threads do the preads and the same reduction
// All three must end with the same hash per block (checked). On the
// simulator the kernels are simulated: a relaunch costs what a simulated
// launch costs (OS threads per block), not what a GPU launch costs.
#include <getopt.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include <genesys.cuh>
#include <genesys/runtime.h>

#include "bench_common.h"

namespace {

using bench::u64;

constexpr long kChunk = 64 << 10;
constexpr long kFileBytes = 32l << 20;
constexpr long kChunks = kFileBytes / kChunk;
constexpr int kMaxThreads = 256;

struct work {
  int fd;
  int steps;
  int rounds;
  bool dependent;
};

// One thread's slice of a chunk, folded into one word.
__host__ __device__ inline u64 reduce_slice(const char* p, long bytes, int rounds, u64 seed)
{
  const u64* w = reinterpret_cast<const u64*>(p);
  u64 x = seed;
  for (long j = 0; j < bytes / 8; ++j) {
    u64 v = w[j] ^ x;
    for (int k = 0; k < rounds; ++k) v = v * 0x9E3779B97F4A7C15ull + (v >> 29);
    x ^= v;
  }
  return x;
}

__host__ __device__ inline u64 mix(u64 h)
{
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

__host__ __device__ inline long chunk_index(const work& w, int s, long b, long blocks, u64 h)
{
  return w.dependent ? (long)(h % kChunks) : ((long)s * blocks + b) % kChunks;
}

// The block's part of a step: every thread folds its slice, the block sums
// the slices. Returns the new block hash (same in every thread).
__device__ u64 block_step(const char* chunk, int rounds, u64 h)
{
  __shared__ u64 part[kMaxThreads];
  const long slice = kChunk / blockDim.x;
  part[threadIdx.x] = reduce_slice(chunk + threadIdx.x * slice, slice, rounds, h);
  __syncthreads();
  u64 acc = 0;
  for (unsigned t = 0; t < blockDim.x; ++t) acc += part[t];
  __syncthreads();  // everyone has read part[] and the chunk before they are reused
  return mix(acc ^ h);
}

__global__ void genesys_kernel(gsys::ring r, work w, char* bufs, u64* hash, int* errors)
{
  char* buf = bufs + blockIdx.x * kChunk;
  u64 h = blockIdx.x + 1;
  for (int s = 0; s < w.steps; ++s) {
    const long idx = chunk_index(w, s, blockIdx.x, gridDim.x, h);
    long got = gsys::pread<gsys::block, gsys::relaxed>(r, w.fd, buf, kChunk, idx * kChunk);
    if (got != kChunk && threadIdx.x == 0) atomicAdd(errors, 1);
    h = block_step(buf, w.rounds, h);
  }
  if (threadIdx.x == 0) hash[blockIdx.x] = h;
}

// `steps` chunks per block, already in memory: block b's chunk s at
// data[(s*B + b) * kChunk]. Starts from and leaves the hash in hash[b].
__global__ void split_kernel(work w, const char* data, int steps, u64* hash)
{
  u64 h = hash[blockIdx.x];
  for (int s = 0; s < steps; ++s) h = block_step(data + ((long)s * gridDim.x + blockIdx.x) * kChunk, w.rounds, h);
  if (threadIdx.x == 0) hash[blockIdx.x] = h;
}

struct config {
  int blocks = 2, threads = 64;
  int steps = 0, reps = 0;
  std::vector<int> rounds = {1, 8, 32};
  std::vector<gsys::executor_kind> executors = {gsys::executor_kind::sync, gsys::executor_kind::uring};
  bool quick = false;
  long spin_ns = -1, device_spin_ns = -1;  // -1: the runtime's defaults
  std::string out, machine, device, rev;
};

struct timing {
  double secs;
  std::vector<u64> hash;
  int errors;
};

timing run_genesys(gsys::runtime& rt, const config& c, const work& w, char* bufs, u64* hash, int* errors)
{
  *errors = 0;
  const u64 t0 = bench::host_ns();
  gsys::launch(genesys_kernel, dim3(c.blocks), dim3(c.threads), rt.ring(), w, bufs, hash, errors);
  gsys::synchronize();
  return {(double)(bench::host_ns() - t0) / 1e9, std::vector<u64>(hash, hash + c.blocks), *errors};
}

// The conventional way: the CPU does the system calls between launches.
timing run_split(const config& c, const work& w, char* data, u64* hash)
{
  int errors = 0;
  const long B = c.blocks;
  for (long b = 0; b < B; ++b) hash[b] = b + 1;
  const u64 t0 = bench::host_ns();
  if (!w.dependent) {
    for (int s = 0; s < w.steps; ++s)
      for (long b = 0; b < B; ++b)
        if (pread(w.fd, data + ((long)s * B + b) * kChunk, kChunk, chunk_index(w, s, b, B, 0) * kChunk) != kChunk)
          ++errors;
    gsys::launch(split_kernel, dim3(c.blocks), dim3(c.threads), w, (const char*)data, w.steps, hash);
    gsys::synchronize();
  } else {
    for (int s = 0; s < w.steps; ++s) {
      for (long b = 0; b < B; ++b)
        if (pread(w.fd, data + b * kChunk, kChunk, chunk_index(w, s, b, B, hash[b]) * kChunk) != kChunk) ++errors;
      gsys::launch(split_kernel, dim3(c.blocks), dim3(c.threads), w, (const char*)data, 1, hash);
      gsys::synchronize();
    }
  }
  return {(double)(bench::host_ns() - t0) / 1e9, std::vector<u64>(hash, hash + B), errors};
}

// No GPU at all: one CPU thread per block, the same reduction.
timing run_cpu(const config& c, const work& w)
{
  std::vector<u64> out(c.blocks);
  std::vector<int> errs(c.blocks);
  const u64 t0 = bench::host_ns();
  std::vector<std::thread> ts;
  for (long b = 0; b < c.blocks; ++b)
    ts.emplace_back([&, b] {
      std::vector<char> buf(kChunk);
      std::vector<u64> part(c.threads);
      const long slice = kChunk / c.threads;
      u64 h = b + 1;
      for (int s = 0; s < w.steps; ++s) {
        if (pread(w.fd, buf.data(), kChunk, chunk_index(w, s, b, c.blocks, h) * kChunk) != kChunk) ++errs[b];
        u64 acc = 0;
        for (int t = 0; t < c.threads; ++t) acc += reduce_slice(buf.data() + t * slice, slice, w.rounds, h);
        h = mix(acc ^ h);
      }
      out[b] = h;
    });
  for (auto& t : ts) t.join();
  int errors = 0;
  for (int e : errs) errors += e;
  return {(double)(bench::host_ns() - t0) / 1e9, out, errors};
}

double median(std::vector<double> v)
{
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void usage(const char* argv0)
{
  std::printf(
      "usage: %s [options]\n"
      "genesys vs the kernel-split baseline vs CPU only: block-level pread of 64 KiB\n"
      "chunks, independent (read + checksum) and dependent (next offset from the\n"
      "last chunk's hash: I/O interleaved with compute). JSON lines on stdout.\n\n"
      "  --executor LIST  sync,uring (default both)\n"
      "  --rounds LIST    compute rounds per word for the dependent case (default 1,8,32)\n"
      "  --steps N        chunks per block (default 256; --quick 96)\n"
      "  --reps N         repetitions, median reported (default 5; --quick 3)\n"
      "  --grid BxT       blocks x threads (default 2x64)\n"
      "  --spin-ns N      executor polls this long before sleeping (default: the runtime's)\n"
      "  --device-spin-ns N   device polls at the minimum backoff this long (default: the runtime's)\n"
      "  --out FILE       also append the JSON lines to FILE\n"
      "  --quick          fewer steps and repetitions\n",
      argv0);
}

}  // namespace

int main(int argc, char** argv)
{
  config c;
  static option opts[] = {{"executor", required_argument, nullptr, 'e'}, {"rounds", required_argument, nullptr, 'r'},
                          {"steps", required_argument, nullptr, 's'},    {"reps", required_argument, nullptr, 'R'},
                          {"grid", required_argument, nullptr, 'g'},     {"out", required_argument, nullptr, 'o'},
                          {"quick", no_argument, nullptr, 'q'},          {"help", no_argument, nullptr, 'h'},
                          {"spin-ns", required_argument, nullptr, 'S'},  {"device-spin-ns", required_argument, nullptr, 'D'},
                          {nullptr, 0, nullptr, 0}};
  constexpr const char* prog = "gsys-split-bench";
  constexpr long long kMaxSpinNs = 10'000'000'000;  // 10 s
  for (int ch; (ch = getopt_long(argc, argv, "e:r:s:R:g:o:qhS:D:", opts, nullptr)) != -1;) {
    switch (ch) {
      case 'e':
        c.executors.clear();
        bench::parse_executors(optarg, prog, c.executors);
        break;
      case 'r':
        c.rounds.clear();
        for (long long r : bench::parse_int_list(prog, "--rounds", optarg, 1, 1000000)) c.rounds.push_back((int)r);
        break;
      case 's': c.steps = (int)bench::parse_int(prog, "--steps", optarg, 1, 1000000); break;
      case 'R': c.reps = (int)bench::parse_int(prog, "--reps", optarg, 1, 1000); break;
      case 'g':
        if (!bench::parse_grid(optarg, c.blocks, c.threads) || c.threads > kMaxThreads || kChunk % (c.threads * 8))
          bench::bad_arg(prog, "--grid", "BxT, T a power of two <= " + std::to_string(kMaxThreads), optarg);
        break;
      case 'o': c.out = optarg; break;
      case 'S': c.spin_ns = (long)bench::parse_int(prog, "--spin-ns", optarg, 0, kMaxSpinNs); break;
      // 0: the platform's default (runtime_options::device_spin_ns, 32 bits).
      case 'D': c.device_spin_ns = (long)bench::parse_int(prog, "--device-spin-ns", optarg, 0, UINT32_MAX); break;
      case 'q': c.quick = true; break;
      case 'h': usage(argv[0]); return 0;
      default: usage(argv[0]); return 2;
    }
  }
  bench::reject_operands(prog, argc, argv, optind);
  if (!c.steps) c.steps = c.quick ? 96 : 256;
  if (!c.reps) c.reps = c.quick ? 3 : 5;
  if (!gsys::device_present()) {
    std::fprintf(stderr, "gsys-split-bench: no CUDA device\n");
    return 1;
  }
  c.machine = bench::machine_tag();
  c.device = GSYS_CUDA ? gsys::device_name() : "simulator";
  c.rev = bench::git_rev();
  const int fd = bench::make_data_file(kFileBytes, "split-data");
  if (fd < 0) {
    std::fprintf(stderr, "gsys-split-bench: cannot create the data file in /tmp: %s\n", std::strerror(errno));
    return 1;
  }
  bench::sink out(c.out);
  // The cases: independent read + checksum, then dependent with each compute load.
  std::vector<work> cases = {{fd, c.steps, 1, false}};
  for (int r : c.rounds) cases.push_back({fd, c.steps, r, true});

  int rc = 0;
  for (auto k : c.executors) {
    gsys::runtime_options o;
    o.executor = k;
    if (c.spin_ns >= 0) o.spin = std::chrono::nanoseconds(c.spin_ns);
    if (c.device_spin_ns > 0) o.device_spin_ns = (std::uint32_t)c.device_spin_ns;
    try {
      gsys::runtime rt(o);
      char* bufs = static_cast<char*>(rt.alloc(kChunk * c.blocks));
      // Kernels read the split version's chunks: host memory the device can reach.
      char* data = static_cast<char*>(rt.alloc(kChunk * c.blocks * (long)c.steps));
      u64* hash = static_cast<u64*>(rt.alloc(sizeof(u64) * c.blocks));
      int* errors = static_cast<int*>(rt.alloc(sizeof(int)));
      std::memset(bufs, 0, kChunk * c.blocks);
      std::memset(data, 0, kChunk * c.blocks * (long)c.steps);
      for (const work& w : cases) {
        std::vector<double> tg, ts, tc;
        int errs = 0;
        bool same = true;
        // Interleaved repetitions: the three versions share whatever else
        // the machine is doing.
        for (int rep = 0; rep < c.reps; ++rep) {
          timing g = run_genesys(rt, c, w, bufs, hash, errors);
          timing s = run_split(c, w, data, hash);
          timing p = run_cpu(c, w);
          tg.push_back(g.secs), ts.push_back(s.secs), tc.push_back(p.secs);
          errs += g.errors + s.errors + p.errors;
          same = same && g.hash == s.hash && s.hash == p.hash;
        }
        const double mib = (double)w.steps * c.blocks * kChunk / (1 << 20);
        const double g = median(tg), s = median(ts), p = median(tc);
        bench::row r("split", c.machine, c.device, gsys::to_string(rt.executor()), c.rev);
        r.str("workload", w.dependent ? "dependent" : "independent")
            .str("op", "pread")
            .num("bytes", kChunk)
            .str("granularity", "block")
            .num("rounds", w.rounds)
            .str("grid", std::to_string(c.blocks) + "x" + std::to_string(c.threads))
            .num("steps", w.steps)
            .num("reps", c.reps)
            .num("launches_split", w.dependent ? (long)w.steps : 1l)
            .num("executor_spin_ns", (double)rt.options().spin.count())
            .num("device_spin_ns", (double)rt.options().device_spin_ns)
            .num("genesys_ms", g * 1e3, 2)
            .num("split_ms", s * 1e3, 2)
            .num("cpu_ms", p * 1e3, 2)
            .num("genesys_mib_per_s", mib / g, 1)
            .num("split_mib_per_s", mib / s, 1)
            .num("cpu_mib_per_s", mib / p, 1)
            .num("genesys_vs_split", s / g, 3)
            .num("genesys_vs_cpu", p / g, 3)
            .num("same_result", same ? 1 : 0)
            .num("errors", errs);
        out.emit(r);
        if (!same || errs) rc = 1;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gsys-split-bench: executor %s: %s\n", gsys::to_string(k), e.what());
      rc = 1;
    }
  }
  return rc;
}
