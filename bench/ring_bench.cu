// gsys-ring-bench: round-trip latency and throughput of the ring, per
// granularity x ordering x executor, for a null call (nop: the protocol
// alone), getppid (the cheapest real system call) and a 4 KiB pread, with
// the same call made directly by a CPU thread, and a cache-line ping-pong,
// measured around each case as yardsticks.
//
// Output: one JSON object per line on stdout (and appended to --out). On
// the simulator each line also carries the link-cost model's counts
// (device/genesys/sim/link_model.h): what the calls would cost across PCIe.
#include <getopt.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <genesys.cuh>
#include <genesys/runtime.h>

#include "bench_common.h"

namespace {

using u64 = unsigned long long;

enum class op_kind { nop, getppid, pread4k };
constexpr int kPreadBytes = 4096;
constexpr int kPreadFileBlocks = 256;  // 1 MiB file, read block by block
#if !GSYS_CUDA
constexpr int kLinkPassCalls = 400;  // calls the link-cost pass counts, after its warm-up
#endif

const char* op_name(op_kind k)
{
  return k == op_kind::nop ? "nop" : k == op_kind::getppid ? "getppid" : "pread4k";
}

// What one call of the benchmark does. pread4k: each thread reads 4 KiB of
// the file into its own buffer, at an offset that moves with the iteration.
struct op_args {
  op_kind kind;
  int fd;
  char* bufs;  // kPreadBytes per thread of the launch
};

template <class G, class O>
__device__ long one_call(const gsys::ring& r, const op_args& a, int i)
{
  switch (a.kind) {
    case op_kind::nop: return gsys::nop<G, O>(r);
    case op_kind::getppid: return gsys::getppid<G, O>(r);
    default: {
      const long tid = (long)blockIdx.x * blockDim.x + threadIdx.x;
      const long off = ((tid + i) % kPreadFileBlocks) * kPreadBytes;
      return gsys::pread<G, O>(r, a.fd, a.bufs + tid * kPreadBytes, kPreadBytes, off);
    }
  }
}

// One lane's link-cost counts over the latency loop's calls after the
// warm-up (simulator only; gsys::sim::link_counters per call, summed).
struct link_sums {
  u64 calls, before_poll, polls, nonposted, stores;
};

// Latency: one group makes `iters` calls back to back; its first thread
// records each round trip. On the simulator every lane also sums its
// link-cost counts per call into link[lane] (calls from `warm` on), unless
// link is null (a timed pass, run with the model off).
template <class G, class O>
__global__ void latency_kernel(gsys::ring r, op_args a, int iters, int warm, u64* samples, int* errors,
                               link_sums* link)
{
  const bool rec = threadIdx.x == 0 && blockIdx.x == 0;
#if !GSYS_CUDA
  link_sums mine{};
#endif
  for (int i = 0; i < iters; ++i) {
#if !GSYS_CUDA
    gsys::sim::link_reset();
#endif
    u64 t0 = gsys::detail::now_ns();
    long ret = one_call<G, O>(r, a, i);
    u64 t1 = gsys::detail::now_ns();
#if !GSYS_CUDA
    // Read before the stores below, which are the benchmark's, not the call's.
    const gsys::sim::link_counters c = gsys::sim::link_now();
    if (i >= warm) {
      ++mine.calls;
      mine.before_poll += c.nonposted_before_poll;
      mine.polls += c.completion_polls;
      mine.nonposted += c.nonposted();
      mine.stores += c.posted_stores;
    }
#endif
    if (ret < 0 && ret != gsys::not_waited) atomicAdd(errors, 1);
    if (rec) samples[i] = t1 - t0;
  }
#if !GSYS_CUDA
  if (link) link[threadIdx.x] = mine;
#else
  (void)warm, (void)link;
#endif
}

// Throughput: every group of the grid calls `iters` times.
template <class G, class O>
__global__ void throughput_kernel(gsys::ring r, op_args a, int iters, int* errors)
{
  for (int i = 0; i < iters; ++i) {
    long ret = one_call<G, O>(r, a, i);
    if (ret < 0 && ret != gsys::not_waited) atomicAdd(errors, 1);
  }
}

struct config {
  std::vector<gsys::executor_kind> executors;
  int latency_iters = 2000;
  // Calls per group in the throughput runs; unset: 200 on a GPU (264x256
  // threads), 2000 on the simulator, whose 1x64 grid would otherwise finish
  // in ~10 ms and time mostly the launch and the executors waking up (1.2 M
  // against 1.45 M thread nops/s in steady state on the build VM).
  int throughput_iters = -1;
  int blocks = 0, threads = 0;  // throughput grid; 0: pick for the device
  std::string out;
  bool quick = false;
  std::vector<op_kind> ops = {op_kind::nop, op_kind::getppid};
  std::vector<std::string> grans = {"thread", "warp", "block", "grid"};
  int fd = -1;  // the pread4k file
  unsigned workers = 0;  // 0: the runtime's default
  bool kernel_confinement = true;  // seccomp + Landlock on the executor threads
};

struct direct_numbers {
  double p50_ns, p99_ns, calls_per_s;
};

// The floor under any ring round trip on this host: two CPU threads handing
// a flag back and forth through one shared cache line (p50, ns). A call
// needs at least two such transfers (the request over, the result back), so
// this bounds what the protocol can reach here. Reported as "pingpong_ns".
double measure_pingpong(int n);

// What a case's ratios are taken against, measured around that case: the
// ping-pong right before its latency loop and right after its throughput
// loop, the direct call right before. The build VM switches between states
// (a ping-pong of ~160 or ~470 ns) within seconds, and a ratio of numbers
// taken in different states says nothing: a case whose two ping-pongs
// differ by more than kStableSpread runs again, up to kCaseTries times.
struct yardstick {
  double pingpong_before_ns = 0, pingpong_after_ns = 0;
  int tries = 0;
  double pingpong_ns() const { return (pingpong_before_ns + pingpong_after_ns) / 2; }
  bool stable() const
  {
    const double lo = std::min(pingpong_before_ns, pingpong_after_ns);
    return lo > 0 && std::max(pingpong_before_ns, pingpong_after_ns) <= kStableSpread * lo;
  }
  static constexpr double kStableSpread = 1.25;
  static constexpr int kCaseTries = 3;
  static constexpr int kPingpongs = 5000;
};

// Lets the executors stop spinning (they poll 50 us after their last call,
// then nap) so that the two ping-pong threads have the CPUs to themselves.
void quiet_executors() { std::this_thread::sleep_for(std::chrono::milliseconds(2)); }

u64 host_ns()
{
  return (u64)std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The same work as one call, made directly by a CPU thread: getppid for the
// null and getppid cases, a 4 KiB pread for pread4k.
direct_numbers measure_direct(int n, op_kind k, int fd)
{
  static char buf[kPreadBytes];
  auto call = [&](int i) {
    if (k == op_kind::pread4k) return (long)pread(fd, buf, kPreadBytes, (long)(i % kPreadFileBlocks) * kPreadBytes);
    return syscall(SYS_getppid);
  };
  std::vector<u64> s(n);
  for (int i = 0; i < n; ++i) {
    u64 t0 = host_ns();
    call(i);
    s[i] = host_ns() - t0;
  }
  const int m = n * 20;
  u64 t0 = host_ns();
  for (int i = 0; i < m; ++i) call(i);
  double secs = (double)(host_ns() - t0) / 1e9;
  return {bench::percentile(s, 50), bench::percentile(s, 99), m / secs};
}

double measure_pingpong(int n)
{
  std::atomic<int> flag{0};
  std::thread peer([&] {
    for (int i = 0; i < n; ++i) {
      while (flag.load(std::memory_order_acquire) != 2 * i + 1) {}
      flag.store(2 * i + 2, std::memory_order_release);
    }
  });
  std::vector<u64> s(n);
  for (int i = 0; i < n; ++i) {
    u64 t0 = host_ns();
    flag.store(2 * i + 1, std::memory_order_release);
    while (flag.load(std::memory_order_acquire) != 2 * i + 2) {}
    s[i] = host_ns() - t0;
  }
  peer.join();
  return bench::percentile(s, 50);
}

std::string device_label()
{
#if GSYS_CUDA
  return gsys::device_name();
#else
  return "simulator (" + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " cores)";
#endif
}

void emit(const config& c, const std::string& line)
{
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  if (!c.out.empty()) std::ofstream(c.out, std::ios::app) << line << "\n";
}

template <class G>
const char* gran_name()
{
  if constexpr (G::code == GSYS_GRAN_THREAD) return "thread";
  else if constexpr (G::code == GSYS_GRAN_WARP) return "warp";
  else if constexpr (G::code == GSYS_GRAN_BLOCK) return "block";
  else return "grid";
}

// Grid-granularity calls need a cooperative launch (co-resident blocks and
// per-launch grid state); the others take a plain one.
template <class G, class K, class... A>
void launch_for(K kernel, dim3 grid, dim3 block, A... args)
{
  if constexpr (G::code == GSYS_GRAN_GRID) gsys::launch(kernel, grid, block, gsys::cooperative{}, args...);
  else gsys::launch(kernel, grid, block, args...);
}

// One case's measurements, in the ring's units.
struct case_numbers {
  std::vector<u64> latency;  // after the warm-up
  double calls_per_s = 0;
  long calls = 0;
};

template <class G, class O>
case_numbers measure_case(const config& c, gsys::runtime& rt, const op_args& a, u64* samples, int* errors,
                          link_sums* link)
{
  const int blocks = c.blocks, threads = c.threads;
  // Latency: one thread (thread granularity) or one whole group.
  const int lat_threads = G::code == GSYS_GRAN_THREAD ? 1 : 32;
  const int warm = (int)std::min<size_t>((size_t)c.latency_iters / 10, 100);
#if !GSYS_CUDA
  // The link-cost counts come from a pass of their own; the timed loops run
  // with the model off: its bookkeeping is the simulator's, not the ring's.
  launch_for<G>(latency_kernel<G, O>, dim3(1), dim3(lat_threads), rt.ring(), a,
                std::min(c.latency_iters, warm + kLinkPassCalls), warm, samples, errors, link);
  gsys::synchronize();
  gsys::sim::link_enable(false);
#endif
  launch_for<G>(latency_kernel<G, O>, dim3(1), dim3(lat_threads), rt.ring(), a, c.latency_iters, warm, samples,
                errors, nullptr);
  gsys::synchronize();
  case_numbers out;
  out.latency.assign(samples + warm, samples + c.latency_iters);

  // Throughput: a full grid.
  u64 t0 = host_ns();
  launch_for<G>(throughput_kernel<G, O>, dim3(blocks), dim3(threads), rt.ring(), a, c.throughput_iters, errors);
  gsys::synchronize();
  double secs = (double)(host_ns() - t0) / 1e9;
#if !GSYS_CUDA
  gsys::sim::link_enable(true);
#endif
  long groups = G::code == GSYS_GRAN_THREAD ? (long)blocks * threads
                : G::code == GSYS_GRAN_WARP ? (long)blocks * ((threads + 31) / 32)
                : G::code == GSYS_GRAN_BLOCK ? blocks : 1;
  out.calls = groups * c.throughput_iters;
  out.calls_per_s = (double)out.calls / secs;
  return out;
}

template <class G, class O>
void run_one(const config& c, gsys::runtime& rt, op_kind k)
{
  const int blocks = c.blocks, threads = c.threads;
  op_args a{k, c.fd, nullptr};
  if (k == op_kind::pread4k) a.bufs = static_cast<char*>(rt.alloc((size_t)kPreadBytes * blocks * threads));
  auto* samples = static_cast<u64*>(rt.alloc(sizeof(u64) * c.latency_iters));
  int* errors = static_cast<int*>(rt.alloc(sizeof(int)));
  const int lat_threads = G::code == GSYS_GRAN_THREAD ? 1 : 32;
  link_sums* link = GSYS_CUDA ? nullptr : static_cast<link_sums*>(rt.alloc(sizeof(link_sums) * lat_threads));

  yardstick y;
  direct_numbers d{};
  case_numbers m;
  do {
    ++y.tries;
    *errors = 0;
    quiet_executors();
    y.pingpong_before_ns = measure_pingpong(yardstick::kPingpongs);
    d = measure_direct(c.latency_iters, k, c.fd);
    m = measure_case<G, O>(c, rt, a, samples, errors, link);
    quiet_executors();
    y.pingpong_after_ns = measure_pingpong(yardstick::kPingpongs);
  } while (!y.stable() && y.tries < yardstick::kCaseTries);

  char line[1280];
  int len = std::snprintf(line, sizeof line,
                          "{\"bench\":\"ring\",\"device\":\"%s\",\"granularity\":\"%s\",\"ordering\":\"%s\",\"executor\":\"%s\","
                          "\"op\":\"%s\",\"calls\":%ld,\"p50_ns\":%.0f,\"p99_ns\":%.0f,\"calls_per_s\":%.0f,"
                          "\"direct_ns\":%.0f,\"direct_p99_ns\":%.0f,\"direct_calls_per_s\":%.0f,\"pingpong_ns\":%.0f,"
                          "\"pingpong_before_ns\":%.0f,\"pingpong_after_ns\":%.0f,\"pingpong_stable\":%s,\"tries\":%d,"
                          "\"grid\":\"%dx%d\",\"errors\":%d,\"kernel_confinement\":%s",
                          device_label().c_str(), gran_name<G>(), O::is_strong ? "strong" : "relaxed",
                          gsys::to_string(rt.executor()), op_name(k), m.calls, bench::percentile(m.latency, 50),
                          bench::percentile(m.latency, 99), m.calls_per_s, d.p50_ns, d.p99_ns, d.calls_per_s, y.pingpong_ns(),
                          y.pingpong_before_ns, y.pingpong_after_ns, y.stable() ? "true" : "false", y.tries, blocks, threads,
                          *errors, rt.options().policy.kernel_confinement ? "true" : "false");
#if !GSYS_CUDA
  // The link-cost model, per call of the latency group: its lanes' counts
  // summed (one lane at thread granularity; at warp, block and grid
  // granularity only the calling lane crosses the link, the others wait in
  // device memory: shuffles, barriers), and the largest per lane.
  link_sums sum{};
  double lane_max = 0;
  for (int t = 0; t < lat_threads; ++t) {
    sum.before_poll += link[t].before_poll;
    sum.polls += link[t].polls;
    sum.nonposted += link[t].nonposted;
    sum.stores += link[t].stores;
    if (link[t].calls) lane_max = std::max(lane_max, (double)link[t].before_poll / (double)link[t].calls);
  }
  const double n = link[0].calls ? (double)link[0].calls : 1.0;  // every lane makes every group call
  len += std::snprintf(line + len, sizeof line - len,
                       ",\"link_rtts_submit_per_call\":%.3f,\"link_polls_per_call\":%.3f,\"link_rtts_per_call\":%.3f,"
                       "\"posted_stores_per_call\":%.3f,\"link_lanes\":%d,\"link_lane_max_rtts_submit_per_call\":%.3f,"
                       "\"link_protocol_errors\":%llu",
                       (double)sum.before_poll / n, (double)sum.polls / n, (double)sum.nonposted / n,
                       (double)sum.stores / n, lat_threads, lane_max,
                       (unsigned long long)gsys::sim::link_protocol_errors());
#endif
  std::snprintf(line + len, sizeof line - len, "}");
  emit(c, line);
  rt.free(samples);
  rt.free(errors);
  rt.free(link);
  rt.free(a.bufs);
}

template <class G>
void run_granularity(const config& c, gsys::runtime& rt)
{
  if (std::find(c.grans.begin(), c.grans.end(), gran_name<G>()) == c.grans.end()) return;
  for (op_kind k : c.ops) {
    run_one<G, gsys::relaxed>(c, rt, k);
    if (G::code != GSYS_GRAN_THREAD) run_one<G, gsys::strong>(c, rt, k);  // identical for a thread
  }
}

// A 1 MiB file of known bytes for pread4k, unlinked at once (the fd keeps it).
int make_pread_file()
{
  char path[] = "/tmp/gsys-ring-bench-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  unlink(path);
  std::vector<char> block(kPreadBytes);
  for (int b = 0; b < kPreadFileBlocks; ++b) {
    std::fill(block.begin(), block.end(), (char)b);
    if (write(fd, block.data(), block.size()) != (ssize_t)block.size()) return -1;
  }
  return fd;
}

void usage(const char* argv0)
{
  std::printf(
      "usage: %s [options]\n"
      "Measures genesys ring round trips (nop, getppid, 4 KiB pread) per granularity,\n"
      "ordering and executor, next to the same call made directly by a CPU thread.\n"
      "Prints JSON lines.\n\n"
      "  --executor E   sync, uring, kmod or all (default: all available)\n"
      "  --ops LIST     nop,getppid,pread4k (default: nop,getppid)\n"
      "  --gran LIST    thread,warp,block,grid (default: all)\n"
      "  --workers N    executor threads, 1-64 (sync workers, kmod SERVE threads; default: the runtime's)\n"
      "  --iters N      latency samples per case, >= 10 (default 2000; --quick 200)\n"
      "  --tput-iters N calls per group in the throughput runs (default 200 on a GPU,\n"
      "                 2000 on the simulator; --quick 20)\n"
      "  --grid BxT     throughput grid, T <= 1024 (default: 1x64 simulator, 264x256 GPU)\n"
      "  --out FILE     also append the JSON lines to FILE\n"
      "  --quick        fewer iterations (for tests; an --iters or --tput-iters given wins)\n"
      "  --no-kernel-confinement   executor threads without seccomp and Landlock\n"
      "                 (to measure what they cost; README \"Safety\")\n"
      "  --help         this text\n\n"
      "Fields of each line: p50_ns/p99_ns (latency loop: one group calling back to back),\n"
      "calls_per_s (throughput grid), direct_* (the same call made by a CPU thread,\n"
      "right before the case), pingpong_ns (two CPU threads handing a cache line back\n"
      "and forth: the mean of pingpong_before_ns, right before the latency loop, and\n"
      "pingpong_after_ns, right after the throughput loop). A case whose two ping-pongs\n"
      "differ by more than 25%% (the machine changed speed under it) runs again, up to\n"
      "3 tries; pingpong_stable says whether the last one held, tries how many it took.\n"
      "Simulator only, from the link-cost model (docs/simulator.md), per call of a\n"
      "counting pass of the latency loop (up to 400 calls after its warm-up; the timed\n"
      "loops run with the model off), summed over the latency group's lanes (at warp,\n"
      "block and grid granularity only the calling lane crosses the link):\n"
      "  link_rtts_submit_per_call   non-posted operations (loads, atomics on host\n"
      "                              memory) before the call's first completion poll\n"
      "  link_polls_per_call         completion polls (loads of the slot's state)\n"
      "  link_rtts_per_call          every non-posted operation, polls included\n"
      "  posted_stores_per_call      stores to host memory (the request, the queue entry)\n"
      "  link_lanes, link_lane_max_rtts_submit_per_call\n"
      "                              lanes of the latency group, and the largest\n"
      "                              link_rtts_submit_per_call among them\n"
      "  link_protocol_errors        host words both the device and the host\n"
      "                              read-modify-wrote (must be 0)\n",
      argv0);
}

}  // namespace

int main(int argc, char** argv)
{
  config c;
  static option opts[] = {{"executor", required_argument, nullptr, 'e'}, {"iters", required_argument, nullptr, 'i'},
                          {"tput-iters", required_argument, nullptr, 't'}, {"grid", required_argument, nullptr, 'g'},
                          {"out", required_argument, nullptr, 'o'},      {"quick", no_argument, nullptr, 'q'},
                          {"help", no_argument, nullptr, 'h'},           {"ops", required_argument, nullptr, 'p'},
                          {"gran", required_argument, nullptr, 'G'},     {"workers", required_argument, nullptr, 'w'},
                          {"no-kernel-confinement", no_argument, nullptr, 'K'}, {nullptr, 0, nullptr, 0}};
  std::string exec = "all";
  constexpr const char* prog = "gsys-ring-bench";
  bool iters_given = false, tput_iters_given = false;  // --quick does not override them
  for (int ch; (ch = getopt_long(argc, argv, "e:i:t:g:o:qhp:G:w:K", opts, nullptr)) != -1;) {
    switch (ch) {
      case 'e': exec = optarg; break;
      case 'i':
        // Up to 10 M samples: they live in one buffer of 8 bytes each.
        c.latency_iters = (int)bench::parse_int(prog, "--iters", optarg, 10, 10000000);
        iters_given = true;
        break;
      case 't':
        c.throughput_iters = (int)bench::parse_int(prog, "--tput-iters", optarg, 1, INT_MAX);
        tput_iters_given = true;
        break;
      case 'g':
        if (!bench::parse_grid(optarg, c.blocks, c.threads))
          bench::bad_arg(prog, "--grid", "BxT, B >= 1 blocks of T from 1 to 1024 threads, e.g. 2x64", optarg);
        break;
      case 'o': c.out = optarg; break;
      case 'q': c.quick = true; break;
      // 1..64: what runtime_options accepts.
      case 'w': c.workers = (unsigned)bench::parse_int(prog, "--workers", optarg, 1, 64); break;
      case 'K': c.kernel_confinement = false; break;
      case 'p':
        c.ops.clear();
        for (const auto& name : bench::parse_names(prog, "--ops", optarg, "nop,getppid,pread4k"))
          c.ops.push_back(name == "nop" ? op_kind::nop : name == "getppid" ? op_kind::getppid : op_kind::pread4k);
        break;
      case 'G': c.grans = bench::parse_names(prog, "--gran", optarg, "thread,warp,block,grid"); break;
      case 'h': usage(argv[0]); return 0;
      default: usage(argv[0]); return 2;
    }
  }
  bench::reject_operands(prog, argc, argv, optind);
  if (c.quick) {
    if (!iters_given) c.latency_iters = 200;
    if (!tput_iters_given) c.throughput_iters = 20;
  }
  if (c.throughput_iters == -1) c.throughput_iters = GSYS_CUDA ? 200 : 2000;
  if (!c.blocks) {
    c.blocks = GSYS_CUDA ? 264 : 1;
    c.threads = GSYS_CUDA ? 256 : 64;
  }
  if (exec == "all") {
    c.executors = {gsys::executor_kind::sync, gsys::executor_kind::uring, gsys::executor_kind::kmod};
    bench::drop_unavailable(c.executors, prog);
  } else if (auto k = gsys::parse_executor(exec); k && *k != gsys::executor_kind::automatic) {
    c.executors = {*k};
  } else {
    bench::bad_arg(prog, "--executor", "one of sync, uring, kmod, all", exec);
  }
  if (!gsys::device_present()) {
    std::fprintf(stderr, "gsys-ring-bench: no CUDA device\n");
    return 1;
  }

  if (std::find(c.ops.begin(), c.ops.end(), op_kind::pread4k) != c.ops.end() && (c.fd = make_pread_file()) < 0) {
    std::fprintf(stderr, "gsys-ring-bench: cannot create the pread file in /tmp: %s\n", std::strerror(errno));
    return 1;
  }
  for (auto k : c.executors) {
    gsys::runtime_options o;
    o.executor = k;
    o.slots = 4096;
    if (c.workers) o.workers = c.workers;
    o.policy.kernel_confinement = c.kernel_confinement;
    try {
      gsys::runtime rt(o);
      std::fprintf(stderr, "gsys-ring-bench: executor %s on %s\n", gsys::to_string(k), device_label().c_str());
      run_granularity<gsys::thread>(c, rt);
      run_granularity<gsys::warp>(c, rt);
      run_granularity<gsys::block>(c, rt);
      run_granularity<gsys::grid>(c, rt);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gsys-ring-bench: executor %s: %s\n", gsys::to_string(k), e.what());
      return 1;
    }
  }
  return 0;
}
