// gsys-mmap: an out-of-core reduction whose kernel maps a file window by
// window (gsys::mmap), reduces it, and releases the memory as asked
// (gsys::madvise / gsys::munmap), then reports the peak resident set through
// gsys::getrusage (see mmap_kernel.cuh). --verify recomputes the result on
// the CPU with pread.
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <genesys.cuh>
#include <genesys/runtime.h>

#include "common/cli.h"
#include "common/device_info.cuh"
#include "mmap/mmap_kernel.cuh"

namespace {

const char* const kProg = "gsys-mmap";

struct options {
  std::string file;
  std::uint64_t generate = 0;  // bytes to write first; 0: use the file as it is
  std::uint64_t window = 1 << 20;
  ex::release_mode release = ex::release_mode::madvise;
  std::uint64_t blocks = 0, threads = 128;
  bool verify = false;
  gsys::executor_kind executor = gsys::executor_kind::automatic;
  std::string stats;
};

const char* release_name(ex::release_mode m)
{
  return m == ex::release_mode::none ? "none" : m == ex::release_mode::madvise ? "madvise" : "munmap";
}

void usage(FILE* to)
{
  std::fprintf(to,
               "usage: %s [OPTION]... FILE\n"
               "Reduces FILE (sum, position-weighted sum and low-byte histogram of its 64-bit words)\n"
               "in a GPU kernel that maps it one window at a time with gsys::mmap and gives the memory\n"
               "back with gsys::madvise(MADV_DONTNEED) or gsys::munmap, then prints the peak resident\n"
               "set from gsys::getrusage. Compare --release=none with madvise to see the working set.\n\n"
               "      --generate=SIZE   first (re)write FILE with SIZE pseudo-random bytes (K, M, G)\n"
               "      --window=SIZE     bytes mapped per window, a multiple of 4K (default 1M)\n"
               "      --release=MODE    madvise (default), munmap, or none (keep every window)\n"
               "      --blocks=N        blocks in the grid (default: one per SM / host core)\n"
               "      --threads=N       threads per block, a multiple of 32 (default 128)\n"
               "      --verify          recompute on the CPU (pread) and compare; exit 1 if different\n"
               "      --executor=KIND   sync, uring, kmod or auto (default: the first of kmod, uring, sync that works here)\n"
               "      --stats=FILE      append one JSON line (peak RSS, times, check; \"-\": stderr)\n"
               "      --help            this text\n\n"
               "On a GPU the kernel reads the mapped file directly: that needs pageable memory access\n"
               "(HMM or ATS). Exit status: 0 on success, 1 on an error (a --stats FILE not written\n"
               "included) or a verify mismatch.\n",
               kProg);
}

[[noreturn]] void bad_usage(const char* what, const char* arg = nullptr)
{
  ex::usage_error(kProg, 1, what, arg);
}

void parse(int argc, char** argv, options& o)
{
  enum { kGenerate = 256, kWindow, kRelease, kBlocks, kThreads, kVerify, kExecutor, kStats, kHelp };
  static const option longopts[] = {
      {"generate", required_argument, nullptr, kGenerate}, {"window", required_argument, nullptr, kWindow},
      {"release", required_argument, nullptr, kRelease},   {"blocks", required_argument, nullptr, kBlocks},
      {"threads", required_argument, nullptr, kThreads},   {"verify", no_argument, nullptr, kVerify},
      {"executor", required_argument, nullptr, kExecutor}, {"stats", required_argument, nullptr, kStats},
      {"help", no_argument, nullptr, kHelp},               {nullptr, 0, nullptr, 0}};
  for (int ch; (ch = getopt_long(argc, argv, "", longopts, nullptr)) != -1;) {
    switch (ch) {
      case kGenerate:
        if (!ex::parse_size(optarg, o.generate) || o.generate == 0) bad_usage("--generate wants a size, got", optarg);
        break;
      case kWindow:
        if (!ex::parse_size(optarg, o.window) || o.window == 0 || o.window % 4096 || o.window > (1u << 30))
          bad_usage("--window wants a multiple of 4K up to 1G, got", optarg);
        break;
      case kRelease:
        if (!std::strcmp(optarg, "none")) o.release = ex::release_mode::none;
        else if (!std::strcmp(optarg, "madvise")) o.release = ex::release_mode::madvise;
        else if (!std::strcmp(optarg, "munmap")) o.release = ex::release_mode::munmap;
        else bad_usage("--release wants none, madvise or munmap, got", optarg);
        break;
      case kBlocks:
        if (!ex::parse_count(optarg, 1, 4096, o.blocks)) bad_usage("--blocks wants 1 to 4096, got", optarg);
        break;
      case kThreads:
        if (!ex::parse_count(optarg, 32, 1024, o.threads) || !ex::valid_block_threads(o.threads))
          bad_usage("--threads wants a multiple of 32 from 32 to 1024, got", optarg);
        break;
      case kVerify: o.verify = true; break;
      case kExecutor:
        if (!ex::parse_executor_arg(optarg, o.executor)) bad_usage("--executor wants sync, uring, kmod or auto, got", optarg);
        break;
      case kStats: o.stats = optarg; break;
      case kHelp: usage(stdout); std::exit(0);
      default: ex::try_help(kProg, 1);
    }
  }
  if (optind + 1 != argc) bad_usage(optind < argc ? "expects exactly one FILE" : "no FILE given");
  o.file = argv[optind];
}

// Deterministic pseudo-random bytes (xorshift64), written 1 MiB at a time.
bool generate(const std::string& path, std::uint64_t size)
{
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::vector<std::uint64_t> buf(1 << 17);
  std::uint64_t s = 0x2545f4914f6cdd1dull;
  for (std::uint64_t done = 0; done < size;) {
    for (auto& v : buf) {
      s ^= s << 13;
      s ^= s >> 7;
      s ^= s << 17;
      v = s;
    }
    const std::size_t n = (std::size_t)std::min<std::uint64_t>(size - done, buf.size() * 8);
    if (write(fd, buf.data(), n) != (ssize_t)n) {
      close(fd);
      return false;
    }
    done += n;
  }
  return close(fd) == 0;
}

// The same reduction on the CPU, from pread: the reference.
bool cpu_reduce(int fd, std::uint64_t size, ex::mmap_result& r)
{
  std::memset(&r, 0, sizeof r);
  std::vector<unsigned char> buf(1 << 20);  // a multiple of 8: words never straddle reads
  for (std::uint64_t off = 0; off < size;) {
    const ssize_t n = pread(fd, buf.data(), std::min<std::uint64_t>(buf.size(), size - off), (off_t)off);
    if (n <= 0) return false;
    for (ssize_t i = 0; i < n; i += 8) {
      std::uint64_t v = 0;
      const int k = n - i < 8 ? (int)(n - i) : 8;
      std::memcpy(&v, buf.data() + i, k);  // little endian, zero-padded like the kernel
      const std::uint64_t idx = (off + i) / 8;
      r.sum += v;
      r.weighted += v * (idx + 1);
      ++r.hist[v & 255];
    }
    off += (std::uint64_t)n;
  }
  return true;
}

bool same_result(const ex::mmap_result& a, const ex::mmap_result& b)
{
  return a.sum == b.sum && a.weighted == b.weighted && std::memcmp(a.hist, b.hist, sizeof a.hist) == 0;
}

// The kernel reads the file through its mappings: a page past the end of a
// file that shrank meanwhile (or one the disk cannot deliver) faults with
// SIGBUS. Say so and exit 1 rather than die of the signal.
char sigbus_message[640];
std::size_t sigbus_length = 0;

void on_sigbus(int)
{
  (void)!write(STDERR_FILENO, sigbus_message, sigbus_length);
  _exit(1);
}

void report_sigbus(const std::string& file)
{
  sigbus_length = (std::size_t)std::snprintf(sigbus_message, sizeof sigbus_message,
                                             "%s: %.400s: a mapped page could not be read (SIGBUS: the file shrank "
                                             "while mapped, or an I/O error)\n",
                                             kProg, file.c_str());
  sigbus_length = std::min(sigbus_length, sizeof sigbus_message - 1);
  struct sigaction sa {};
  sa.sa_handler = on_sigbus;
  sa.sa_flags = SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, nullptr);
}

// Mappings this process has now, and the most the kernel allows (0: unknown).
std::uint64_t mapping_count()
{
  std::ifstream maps("/proc/self/maps");
  std::uint64_t n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

std::uint64_t max_mappings()
{
  std::ifstream f("/proc/sys/vm/max_map_count");
  std::uint64_t n = 0;
  return f >> n ? n : 0;
}

}  // namespace

int main(int argc, char** argv)
{
  options o;
  parse(argc, argv, o);
  if (o.generate && !generate(o.file, o.generate)) {
    std::fprintf(stderr, "%s: cannot write %s: %s\n", kProg, o.file.c_str(), std::strerror(errno));
    return 1;
  }
  // O_NONBLOCK: a FIFO without a writer would block the open for good (it is
  // refused just below, as anything that is not a regular file is).
  const int fd = open(o.file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    std::fprintf(stderr, "%s: %s: %s\n", kProg, o.file.c_str(), std::strerror(errno));
    return 1;
  }
  if (!S_ISREG(st.st_mode) || st.st_size == 0) {
    std::fprintf(stderr, "%s: %s: not a regular file with data\n", kProg, o.file.c_str());
    return 1;
  }
  if (!ex::require_device(kProg)) return 1;
  if (!ex::pageable_memory_access()) {
    std::fprintf(stderr, "%s: this GPU cannot read mapped files (no pageable memory access: needs HMM or ATS)\n", kProg);
    return 1;
  }

  try {
    gsys::runtime_options ro;
    ro.executor = o.executor;
    gsys::runtime rt(ro);

    ex::mmap_job j{};
    j.fd = fd;
    j.size = (std::uint64_t)st.st_size;
    j.window = o.window;
    j.release = o.release;
    const std::uint64_t windows = (j.size + j.window - 1) / j.window;
    const std::uint64_t blocks = std::min<std::uint64_t>(o.blocks ? o.blocks : ex::default_blocks(), windows);
    // none and madvise keep a mapping per window until the end: more than
    // the kernel allows would fail (ENOMEM) window after window.
    const std::uint64_t max_maps = max_mappings();
    if (o.release != ex::release_mode::munmap && max_maps && windows + mapping_count() > max_maps) {
      std::fprintf(stderr,
                   "%s: %s: %llu windows of %llu bytes: --release=%s keeps a mapping per window, and this process "
                   "may have at most %llu (vm.max_map_count); use a larger --window or --release=munmap\n",
                   kProg, o.file.c_str(), (unsigned long long)windows, (unsigned long long)j.window,
                   release_name(o.release), (unsigned long long)max_maps);
      return 1;
    }
    j.kept = static_cast<ex::u64*>(rt.alloc(sizeof(ex::u64) * windows));
    j.result = static_cast<ex::mmap_result*>(rt.alloc(sizeof(ex::mmap_result)));
    j.usage = static_cast<struct rusage*>(rt.alloc(sizeof(struct rusage)));

    report_sigbus(o.file);
    const auto t0 = std::chrono::steady_clock::now();
    gsys::launch(ex::mmap_kernel, dim3((unsigned)blocks), dim3((unsigned)o.threads), gsys::cooperative{}, rt.ring(), j);
    gsys::synchronize();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const ex::mmap_result& got = *j.result;

    const char* check = "skipped";
    double cpu_secs = 0;
    if (o.verify) {
      ex::mmap_result want;
      const auto c0 = std::chrono::steady_clock::now();
      const bool read_ok = cpu_reduce(fd, j.size, want);
      cpu_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
      check = read_ok && same_result(got, want) ? "pass" : "fail";
      if (!read_ok) std::fprintf(stderr, "%s: %s: the CPU reference could not read it\n", kProg, o.file.c_str());
    }
    close(fd);

    const long peak_kib = got.rusage_ret == 0 ? j.usage->ru_maxrss : -1;
    std::printf("%s: %s: %.1f MiB in %llu windows of %.1f MiB, %llu blocks, release=%s: sum %016llx weighted %016llx, "
                "peak RSS %ld KiB, %.3f s%s%s\n",
                kProg, o.file.c_str(), j.size / 1048576.0, (unsigned long long)windows, j.window / 1048576.0,
                (unsigned long long)blocks, release_name(o.release), got.sum, got.weighted, peak_kib, secs,
                o.verify ? ", CPU check: " : "", o.verify ? check : "");
    if (got.errors)
      std::fprintf(stderr, "%s: %u calls failed, the first with: %s%s\n", kProg, got.errors,
                   std::strerror((int)got.first_errno),
                   got.first_errno == ENOMEM && o.release != ex::release_mode::munmap
                       ? " (--release=none and madvise keep a mapping per window: try a larger --window or "
                         "--release=munmap)"
                       : "");
    if (got.rusage_ret != 0) std::fprintf(stderr, "%s: getrusage failed: %s\n", kProg, std::strerror((int)-got.rusage_ret));
    bool stats_ok = true;
    if (!o.stats.empty()) {
      char line[640];
      std::snprintf(line, sizeof line,
                    "{\"example\":\"mmap\",\"device\":\"%s\",\"executor\":\"%s\",\"release\":\"%s\",\"bytes\":%llu,"
                    "\"window\":%llu,\"blocks\":%llu,\"seconds\":%.6f,\"mb_per_s\":%.3f,\"peak_rss_kib\":%ld,"
                    "\"check\":\"%s\",\"cpu_seconds\":%.6f,\"cpu_mb_per_s\":%.3f,\"errors\":%u}",
                    ex::json_escape(ex::device_label()).c_str(), gsys::to_string(rt.executor()), release_name(o.release),
                    (unsigned long long)j.size, (unsigned long long)j.window, (unsigned long long)blocks, secs,
                    j.size / 1e6 / (secs > 0 ? secs : 1e-9), peak_kib, check, cpu_secs,
                    cpu_secs > 0 ? j.size / 1e6 / cpu_secs : 0.0, got.errors);
      stats_ok = ex::append_line(o.stats, line);
      if (!stats_ok) std::fprintf(stderr, "%s: cannot write %s\n", kProg, o.stats.c_str());
    }
    if (!std::strcmp(check, "fail")) std::fprintf(stderr, "%s: %s: the GPU result differs from the CPU's\n", kProg, o.file.c_str());
    // Statistics asked for and lost are an error too.
    return got.errors || got.rusage_ret != 0 || !std::strcmp(check, "fail") || !stats_ok ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kProg, e.what());
    return 1;
  }
}
