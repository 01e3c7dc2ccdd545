// gsys-io-bench: the GENESYS microbenchmarks on the ring. A null call;
// read / pread / write / pwrite from 4 KiB to 1 MiB at thread, warp, block
// and grid granularity, relaxed vs strong, blocking vs non-blocking
// (gsys::post: fire-and-forget, timed until the host has run every call);
// open+close, lseek, mmap+munmap, madvise and getrusage; for each executor.
// Every case also runs the same system call directly on one CPU thread as
// the yardstick.
//
// Output: one flat JSON object per line (bench/bench_common.h), tagged with
// machine, device, executor and git revision.
#include <getopt.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include <genesys.cuh>
#include <genesys/runtime.h>

#include "bench_common.h"

namespace {

using bench::u64;

enum class op_kind { nop, read, pread, write, pwrite, open_close, lseek, mmap_munmap, madvise, getrusage };
constexpr const char* kOpNames[] = {"nop",        "read",  "pread",       "write",   "pwrite",
                                    "open_close", "lseek", "mmap_munmap", "madvise", "getrusage"};
constexpr long kFileBytes = 32l << 20;  // data and scratch files; iterations keep within them
constexpr long kMapBytes = 64 << 10;    // mmap / madvise length

bool is_io(op_kind k) { return k >= op_kind::read && k <= op_kind::pwrite; }
bool moves_bytes(op_kind k) { return is_io(k); }

// What one call of a case does. Each group (a thread, a warp, a block or
// the grid) has its own buffer and, for read/write, its own file
// description, so offsets do not interfere.
struct op_args {
  op_kind kind;
  int data_fd, scratch_fd;
  const int* rfds;  // per group, on the data file (read, lseek)
  const int* wfds;  // per group, on the scratch file (write)
  char* bufs;       // page aligned, `stride` bytes per group
  long n, stride, groups;
  const char* path;  // open_close
  struct rusage* ru; // per group
};

template <class G>
__device__ long group_index()
{
  const long tid = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if constexpr (G::code == GSYS_GRAN_THREAD) return tid;
  else if constexpr (G::code == GSYS_GRAN_WARP) return tid / 32;
  else if constexpr (G::code == GSYS_GRAN_BLOCK) return blockIdx.x;
  else return 0;
}

// NB: gsys::post (the result is dropped; the call completes later).
// `map`: the group's gsys::mmap'd range for madvise (the policy accepts
// madvise only on mappings the GPU made).
template <class G, class O, bool NB>
__device__ long one_call(const gsys::ring& r, const op_args& a, int i, void* map)
{
  const long g = group_index<G>();
  char* buf = a.bufs + g * a.stride;
  const long off = ((g + (long)i * a.groups) * a.n) % kFileBytes;
  switch (a.kind) {
    case op_kind::nop: return NB ? gsys::post<G, O>(r, GSYS_NR_NOP) : gsys::nop<G, O>(r);
    case op_kind::read:
      return NB ? gsys::post<G, O>(r, __NR_read, a.rfds[g], buf, a.n) : gsys::read<G, O>(r, a.rfds[g], buf, a.n);
    case op_kind::pread:
      return NB ? gsys::post<G, O>(r, __NR_pread64, a.data_fd, buf, a.n, off)
                : gsys::pread<G, O>(r, a.data_fd, buf, a.n, off);
    case op_kind::write:
      return NB ? gsys::post<G, O>(r, __NR_write, a.wfds[g], buf, a.n) : gsys::write<G, O>(r, a.wfds[g], buf, a.n);
    case op_kind::pwrite:
      return NB ? gsys::post<G, O>(r, __NR_pwrite64, a.scratch_fd, buf, a.n, off)
                : gsys::pwrite<G, O>(r, a.scratch_fd, buf, a.n, off);
    case op_kind::open_close: {
      long fd = gsys::open<G, O>(r, a.path, O_RDONLY);
      return fd < 0 ? fd : gsys::close<G, O>(r, (int)fd);
    }
    case op_kind::lseek: return gsys::lseek<G, O>(r, a.rfds[g], off, SEEK_SET);
    case op_kind::mmap_munmap: {
      long p = gsys::mmap<G, O>(r, nullptr, kMapBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      return p < 0 ? p : gsys::munmap<G, O>(r, (void*)p, kMapBytes);
    }
    case op_kind::madvise: return gsys::madvise<G, O>(r, map, kMapBytes, MADV_WILLNEED);
    default: return gsys::getrusage<G, O>(r, RUSAGE_SELF, a.ru + g);
  }
}

// Every group calls `iters` times; thread 0 of block 0 records each call's
// time when `samples` is set.
template <class G, class O, bool NB>
__global__ void io_kernel(gsys::ring r, op_args a, int iters, u64* samples, int* errors)
{
  const bool rec = samples && threadIdx.x == 0 && blockIdx.x == 0;
  void* map = nullptr;
  if (a.kind == op_kind::madvise) {
    long p = gsys::mmap<G, O>(r, nullptr, kMapBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p < 0) atomicAdd(errors, 1);
    map = p < 0 ? nullptr : (void*)p;
  }
  for (int i = 0; i < iters; ++i) {
    u64 t0 = gsys::detail::now_ns();
    long ret = one_call<G, O, NB>(r, a, i, map);
    u64 t1 = gsys::detail::now_ns();
    if (ret < 0 && ret != gsys::not_waited) atomicAdd(errors, 1);
    if (rec) samples[i] = t1 - t0;
  }
  if (map) gsys::munmap<G, O>(r, map, kMapBytes);
}

template <class G, class K, class... A>
void launch_for(K kernel, dim3 grid, dim3 block, A... args)
{
  if constexpr (G::code == GSYS_GRAN_GRID) gsys::launch(kernel, grid, block, gsys::cooperative{}, args...);
  else gsys::launch(kernel, grid, block, args...);
}

template <class G>
const char* gran_name()
{
  if constexpr (G::code == GSYS_GRAN_THREAD) return "thread";
  else if constexpr (G::code == GSYS_GRAN_WARP) return "warp";
  else if constexpr (G::code == GSYS_GRAN_BLOCK) return "block";
  else return "grid";
}

struct config {
  std::vector<gsys::executor_kind> executors;
  std::vector<op_kind> ops;
  std::vector<long> sizes;
  std::vector<std::string> grans = {"thread", "warp", "block", "grid"};
  int blocks = 2, threads = 64;
  bool quick = false, nonblocking = true;
  std::string out;
  // Tags.
  std::string machine, device, rev;
};

// Per runtime: buffers, descriptors and files the cases share.
struct context {
  const config& c;
  gsys::runtime& rt;
  bench::sink& out;
  int data_fd, scratch_fd;
  int* rfds;
  int* wfds;
  char* bufs;
  long max_stride;
  char* path;
  struct rusage* ru;
  int* errors;
  u64* samples;
  int max_samples;
  bool stuck = false;  // a non-blocking case never drained: skip the rest of them
};

struct direct_numbers {
  double p50_ns, calls_per_s;
};

int g_failed_cases = 0;  // cases with errors: the exit status says so

// The same call made directly by one CPU thread: p50 of `n` timed calls and
// the rate of a back-to-back run.
direct_numbers measure_direct(const context& x, op_kind k, long n, int iters)
{
  static thread_local std::vector<char> buf;
  buf.resize(std::max<long>(n, kMapBytes) + 4096);
  char* b = (char*)(((uintptr_t)buf.data() + 4095) & ~(uintptr_t)4095);
  struct rusage ru;
  auto call = [&](int i) -> long {
    const long off = ((long)i * n) % kFileBytes;
    switch (k) {
      case op_kind::nop: return syscall(SYS_getppid);  // the cheapest real call
      case op_kind::read:
        if (off == 0) lseek(x.rfds[0], 0, SEEK_SET);
        return ::read(x.rfds[0], b, n);
      case op_kind::pread: return ::pread(x.data_fd, b, n, off);
      case op_kind::write:
        if (off == 0) lseek(x.wfds[0], 0, SEEK_SET);
        return ::write(x.wfds[0], b, n);
      case op_kind::pwrite: return ::pwrite(x.scratch_fd, b, n, off);
      case op_kind::open_close: {
        int fd = ::open(x.path, O_RDONLY);
        return fd < 0 ? fd : ::close(fd);
      }
      case op_kind::lseek: return ::lseek(x.rfds[0], off, SEEK_SET);
      case op_kind::mmap_munmap: {
        void* p = ::mmap(nullptr, kMapBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? -1 : ::munmap(p, kMapBytes);
      }
      case op_kind::madvise: return ::madvise(b, kMapBytes, MADV_WILLNEED);
      default: return ::getrusage(RUSAGE_SELF, &ru);
    }
  };
  std::vector<u64> s(iters);
  for (int i = 0; i < iters; ++i) {
    u64 t0 = bench::host_ns();
    call(i);
    s[i] = bench::host_ns() - t0;
  }
  const int m = iters * 4;
  u64 t0 = bench::host_ns();
  for (int i = 0; i < m; ++i) call(i);
  return {bench::percentile(s, 50), m / ((double)(bench::host_ns() - t0) / 1e9)};
}

void reset_offsets(const context& x, long groups)
{
  for (long g = 0; g < groups; ++g) {
    lseek(x.rfds[g], 0, SEEK_SET);
    lseek(x.wfds[g], 0, SEEK_SET);
  }
}

// Waits until the host has run every posted call (non-blocking cases).
bool wait_quiescent(gsys::runtime& rt)
{
  const u64 deadline = bench::host_ns() + 10'000'000'000ull;
  while (!rt.usage().quiescent()) {
    if (bench::host_ns() > deadline) {
      const gsys::ring_usage u = rt.usage();
      std::fprintf(stderr,
                   "gsys-io-bench: ring not quiescent 10 s after the kernel: claimed %u parked %u parked_done %u "
                   "reserved %llu consumed %llu\n",
                   u.claimed, u.parked, u.parked_done, (unsigned long long)u.reserved, (unsigned long long)u.consumed);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  return true;
}

template <class G, class O, bool NB>
void run_case(context& x, op_kind k, long n)
{
  const config& c = x.c;
  if (NB && x.stuck) {
    std::fprintf(stderr, "gsys-io-bench: %s: skipping non-blocking %s %ld (the ring did not drain before)\n",
                 gsys::to_string(x.rt.executor()), kOpNames[(int)k], n);
    ++g_failed_cases;
    return;
  }
  const long threads_total = (long)c.blocks * c.threads;
  const long groups = G::code == GSYS_GRAN_THREAD ? threads_total
                      : G::code == GSYS_GRAN_WARP ? threads_total / 32
                      : G::code == GSYS_GRAN_BLOCK ? c.blocks : 1;
  const long bytes = moves_bytes(k) ? n : 0;
  op_args a{k, x.data_fd, x.scratch_fd, x.rfds, x.wfds, x.bufs, std::max(n, 1l), x.max_stride, 1, x.path, x.ru};
  const long cap = moves_bytes(k) ? kFileBytes / n : 1 << 20;  // read/write stay inside the file

  // Latency: one group calling back to back (one thread at thread granularity).
  const long lat_budget = c.quick ? (8l << 20) : (32l << 20);
  int lat_iters = (int)std::clamp<long>(moves_bytes(k) ? lat_budget / n : (c.quick ? 100 : 400), 10,
                                        std::min<long>(x.max_samples, cap));
  const int warm = lat_iters / 10;
  *x.errors = 0;
  reset_offsets(x, 1);
  launch_for<G>(io_kernel<G, O, NB>, dim3(1), dim3(G::code == GSYS_GRAN_THREAD ? 1 : 32), x.rt.ring(), a, lat_iters,
                x.samples, x.errors);
  gsys::synchronize();
  if (NB && !wait_quiescent(x.rt)) x.stuck = true;
  std::vector<u64> v(x.samples + warm, x.samples + lat_iters);

  // Throughput: the whole grid; timed until the host has run every call.
  a.groups = groups;
  const long tput_budget = c.quick ? (32l << 20) : (128l << 20);
  const int tput_iters = (int)std::clamp<long>(moves_bytes(k) ? tput_budget / (groups * n) : (c.quick ? 100 : 400),
                                               4, std::min<long>(c.quick ? 100 : 400, cap));
  reset_offsets(x, groups);
  const u64 t0 = bench::host_ns();
  launch_for<G>(io_kernel<G, O, NB>, dim3(c.blocks), dim3(c.threads), x.rt.ring(), a, tput_iters, (u64*)nullptr,
                x.errors);
  gsys::synchronize();
  const bool drained = !NB || (!x.stuck && wait_quiescent(x.rt));
  if (!drained) x.stuck = true;
  const double secs = (double)(bench::host_ns() - t0) / 1e9;
  const long calls = groups * tput_iters;
  const direct_numbers d = measure_direct(x, k, std::max(n, 1l), c.quick ? 50 : 200);

  bench::row r("io", c.machine, c.device, gsys::to_string(x.rt.executor()), c.rev);
  r.str("op", kOpNames[(int)k])
      .num("bytes", bytes)
      .str("granularity", gran_name<G>())
      .str("ordering", O::is_strong ? "strong" : "relaxed")
      .str("blocking", NB ? "nonblocking" : "blocking")
      .str("grid", std::to_string(c.blocks) + "x" + std::to_string(c.threads))
      .num("groups", groups)
      .num("calls", calls)
      .num("p50_ns", bench::percentile(v, 50))
      .num("p99_ns", bench::percentile(v, 99))
      .num("calls_per_s", calls / secs)
      .num("mib_per_s", (double)calls * (double)bytes / secs / (1 << 20), 1)
      .num("direct_p50_ns", d.p50_ns)
      .num("direct_calls_per_s", d.calls_per_s)
      .num("direct_mib_per_s", d.calls_per_s * (double)bytes / (1 << 20), 1)
      .num("errors", *x.errors + (drained ? 0 : 1));
  x.out.emit(r);
  if (*x.errors || !drained) ++g_failed_cases;
}

template <class G>
void run_granularity(context& x)
{
  const config& c = x.c;
  if (std::find(c.grans.begin(), c.grans.end(), gran_name<G>()) == c.grans.end()) return;
  constexpr bool is_thread = G::code == GSYS_GRAN_THREAD;
  for (op_kind k : c.ops) {
    // open/close, lseek, mmap/munmap, madvise, getrusage: thread and block,
    // relaxed and blocking (their cost is the call, not the group protocol).
    if (!is_io(k) && k != op_kind::nop && G::code != GSYS_GRAN_THREAD && G::code != GSYS_GRAN_BLOCK) continue;
    const std::vector<long> sizes = is_io(k) ? c.sizes : std::vector<long>{0};
    for (long n : sizes) {
      run_case<G, gsys::relaxed, false>(x, k, n);
      if (!is_io(k) && k != op_kind::nop) continue;
      if (!is_thread) run_case<G, gsys::strong, false>(x, k, n);  // identical for one thread
      if (c.nonblocking) run_case<G, gsys::relaxed, true>(x, k, n);
    }
  }
}

// "4k", "64K", "1m", "512": a power of two from 1 byte to 1 MiB, or 0 if
// the text is anything else.
long parse_size(const std::string& s)
{
  std::string digits = s;
  int shift = 0;
  if (!s.empty() && (s.back() == 'k' || s.back() == 'K')) shift = 10, digits.pop_back();
  else if (!s.empty() && (s.back() == 'm' || s.back() == 'M')) shift = 20, digits.pop_back();
  long long v = 0;
  if (!bench::to_int(digits, 1, 1l << 20, v)) return 0;  // bounded before the shift: no overflow
  v <<= shift;
  return v <= (1l << 20) && !(v & (v - 1)) ? (long)v : 0;
}

void usage(const char* argv0)
{
  std::printf(
      "usage: %s [options]\n"
      "The GENESYS microbenchmarks on the genesys ring; JSON lines on stdout.\n\n"
      "  --executor E   sync, uring, kmod or all, or a list (default: sync,uring);\n"
      "                 those that cannot run here are left out\n"
      "  --ops LIST     nop,read,pread,write,pwrite,open_close,lseek,mmap_munmap,madvise,getrusage\n"
      "                 (default: all)\n"
      "  --sizes LIST   transfer sizes, e.g. 4k,64k,1m (default 4k,16k,64k,256k,1m; --quick 4k,64k,1m)\n"
      "  --gran LIST    thread,warp,block,grid (default: all)\n"
      "  --grid BxT     throughput grid, T a multiple of 32 (default 2x64)\n"
      "  --no-nonblocking   skip the gsys::post cases\n"
      "  --out FILE     also append the JSON lines to FILE\n"
      "  --quick        smaller byte budgets and fewer sizes\n\n"
      "Fields: p50_ns/p99_ns: one group calling back to back (for nonblocking: the\n"
      "time to post); calls_per_s, mib_per_s: the whole grid, until the host has run\n"
      "every call; direct_*: the same system call made by one CPU thread (getppid for nop).\n"
      "open_close and mmap_munmap count a pair as one call.\n",
      argv0);
}

}  // namespace

int main(int argc, char** argv)
{
  config c;
  static option opts[] = {{"executor", required_argument, nullptr, 'e'}, {"ops", required_argument, nullptr, 'p'},
                          {"sizes", required_argument, nullptr, 's'},    {"gran", required_argument, nullptr, 'G'},
                          {"grid", required_argument, nullptr, 'g'},     {"out", required_argument, nullptr, 'o'},
                          {"quick", no_argument, nullptr, 'q'},          {"no-nonblocking", no_argument, nullptr, 'N'},
                          {"help", no_argument, nullptr, 'h'},           {nullptr, 0, nullptr, 0}};
  std::string exec = "sync,uring", sizes;
  constexpr const char* prog = "gsys-io-bench";
  bool sizes_given = false;  // --sizes '' is an error, not the default
  for (int ch; (ch = getopt_long(argc, argv, "e:p:s:G:g:o:qNh", opts, nullptr)) != -1;) {
    switch (ch) {
      case 'e': exec = optarg; break;
      case 'p':
        for (const auto& name : bench::parse_names(prog, "--ops", optarg,
                                                   "nop,read,pread,write,pwrite,open_close,lseek,mmap_munmap,madvise,getrusage"))
          c.ops.push_back((op_kind)(std::find_if(std::begin(kOpNames), std::end(kOpNames),
                                                 [&](const char* s) { return name == s; }) - std::begin(kOpNames)));
        break;
      case 's': sizes = optarg, sizes_given = true; break;
      case 'G': c.grans = bench::parse_names(prog, "--gran", optarg, "thread,warp,block,grid"); break;
      case 'g':
        if (!bench::parse_grid(optarg, c.blocks, c.threads) || c.threads % 32)
          bench::bad_arg(prog, "--grid", "BxT, B >= 1 blocks of T threads, T a multiple of 32 up to 1024, e.g. 2x64", optarg);
        break;
      case 'o': c.out = optarg; break;
      case 'q': c.quick = true; break;
      case 'N': c.nonblocking = false; break;
      case 'h': usage(argv[0]); return 0;
      default: usage(argv[0]); return 2;
    }
  }
  bench::reject_operands(prog, argc, argv, optind);
  if (c.ops.empty())
    for (int i = 0; i <= (int)op_kind::getrusage; ++i) c.ops.push_back((op_kind)i);
  if (!sizes_given) sizes = c.quick ? "4k,64k,1m" : "4k,16k,64k,256k,1m";
  const char* sizes_want = "a comma-separated list of powers of two from 1 to 1m, e.g. 4k,64k,1m";
  for (const auto& s : bench::split_list(sizes)) {
    const long n = parse_size(s);
    if (!n) bench::bad_arg(prog, "--sizes", sizes_want, s);
    c.sizes.push_back(n);
  }
  if (c.sizes.empty()) bench::bad_arg(prog, "--sizes", sizes_want, sizes);
  bench::parse_executors(exec == "all" ? "sync,uring,kmod" : exec, prog, c.executors);
  bench::drop_unavailable(c.executors, prog);
  if (c.executors.empty()) {
    std::fprintf(stderr, "gsys-io-bench: none of the executors asked for can run here\n");
    return 1;
  }
  if (!gsys::device_present()) {
    std::fprintf(stderr, "gsys-io-bench: no CUDA device\n");
    return 1;
  }
  c.machine = bench::machine_tag();
  c.device = GSYS_CUDA ? gsys::device_name() : "simulator";
  c.rev = bench::git_rev();

  const int data_fd = bench::make_data_file(kFileBytes, "io-data");
  const int scratch_fd = bench::make_data_file(kFileBytes, "io-scratch");
  char open_path[] = "/tmp/gsys-io-open-XXXXXX";
  const int open_fd = mkstemp(open_path);
  if (data_fd < 0 || scratch_fd < 0 || open_fd < 0) {
    std::fprintf(stderr, "gsys-io-bench: cannot create files in /tmp: %s\n", std::strerror(errno));
    return 1;
  }
  close(open_fd);
  bench::sink out(c.out);
  int rc = 0;
  const long threads_total = (long)c.blocks * c.threads;
  const long max_n = std::max(*std::max_element(c.sizes.begin(), c.sizes.end()), kMapBytes);
  for (auto k : c.executors) {
    gsys::runtime_options o;
    o.executor = k;
    try {
      gsys::runtime rt(o);
      std::fprintf(stderr, "gsys-io-bench: executor %s on %s\n", gsys::to_string(k), c.device.c_str());
      context x{c, rt, out, data_fd, scratch_fd, nullptr, nullptr, nullptr, 0, nullptr, nullptr, nullptr, nullptr, 0};
      x.rfds = static_cast<int*>(rt.alloc(sizeof(int) * threads_total));
      x.wfds = static_cast<int*>(rt.alloc(sizeof(int) * threads_total));
      char name[64];
      for (long g = 0; g < threads_total; ++g) {
        std::snprintf(name, sizeof name, "/proc/self/fd/%d", data_fd);
        x.rfds[g] = open(name, O_RDONLY);
        std::snprintf(name, sizeof name, "/proc/self/fd/%d", scratch_fd);
        x.wfds[g] = open(name, O_WRONLY);
        if (x.rfds[g] < 0 || x.wfds[g] < 0) throw std::runtime_error("cannot reopen the data files (ulimit -n?)");
      }
      x.max_stride = (max_n + 4095) & ~4095l;
      char* raw = static_cast<char*>(rt.alloc(x.max_stride * threads_total + 4096));
      x.bufs = (char*)(((uintptr_t)raw + 4095) & ~(uintptr_t)4095);
      std::memset(x.bufs, 1, x.max_stride * threads_total);  // fault the pages in before any case times them
      x.path = static_cast<char*>(rt.alloc(sizeof open_path));
      std::memcpy(x.path, open_path, sizeof open_path);
      x.ru = static_cast<struct rusage*>(rt.alloc(sizeof(struct rusage) * threads_total));
      x.errors = static_cast<int*>(rt.alloc(sizeof(int)));
      x.max_samples = 4096;
      x.samples = static_cast<u64*>(rt.alloc(sizeof(u64) * x.max_samples));
      run_granularity<gsys::thread>(x);
      run_granularity<gsys::warp>(x);
      run_granularity<gsys::block>(x);
      run_granularity<gsys::grid>(x);
      for (long g = 0; g < threads_total; ++g) close(x.rfds[g]), close(x.wfds[g]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gsys-io-bench: executor %s: %s\n", gsys::to_string(k), e.what());
      rc = 1;
    }
  }
  unlink(open_path);
  if (g_failed_cases) std::fprintf(stderr, "gsys-io-bench: %d case(s) had errors\n", g_failed_cases);
  return rc ? rc : g_failed_cases ? 1 : 0;
}
