// What gsys-io-bench, gsys-split-bench and gsys-host-cost share: the tags
// every result row carries (machine, device, executor, git revision), one
// flat JSON object per row, percentiles, clocks, per-thread CPU time, and
// a file of known bytes.
//
// Rows are flat JSON objects with no commas or quotes inside values, so
// tools/bench.sh can turn a run's lines into one CSV with awk.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <genesys/runtime.h>

#include "../examples/common/percentile.h"
#include "bench_args.h"  // split_list, the strict option parsers

namespace bench {

using u64 = unsigned long long;

// "sync,uring" -> executors appended to out; an unknown name (or "auto", which
// is not one executor) or an empty list is prog's usage error (bad_arg:
// "--executor wants ..., got 'x'", exit 2).
inline void parse_executors(const std::string& list, const char* prog, std::vector<gsys::executor_kind>& out)
{
  const char* want = "a comma-separated list of sync, uring, kmod";
  const auto names = split_list(list);
  if (names.empty()) bad_arg(prog, "--executor", want, list);
  for (const auto& e : names) {
    auto k = gsys::parse_executor(e);
    if (!k || *k == gsys::executor_kind::automatic) bad_arg(prog, "--executor", want, e);
    out.push_back(*k);
  }
}

// Leaves out of `executors` those that cannot start here, saying so on
// stderr: kmod without a loaded module, uring where io_uring_setup is
// refused (gVisor, a container's seccomp profile). Without this a run of
// every executor failed at the uring one on such a machine.
inline void drop_unavailable(std::vector<gsys::executor_kind>& executors, const char* prog)
{
  std::erase_if(executors, [prog](gsys::executor_kind k) {
    const char* why = k == gsys::executor_kind::kmod && !gsys::kmod_available()     ? "no /dev/genesys"
                      : k == gsys::executor_kind::uring && !gsys::io_uring_available() ? "io_uring_setup is refused"
                                                                                       : nullptr;
    if (why) std::fprintf(stderr, "%s: executor %s left out: %s here\n", prog, gsys::to_string(k), why);
    return why != nullptr;
  });
}

inline u64 host_ns()
{
  return (u64)std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

using ex::percentile;  // examples/common/percentile.h

// A tag value safe inside the flat JSON and the CSV: no quotes, commas,
// backslashes or control characters; runs of blanks become one.
inline std::string clean(std::string s)
{
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == ',' || ch == '\\' || (unsigned char)ch < 0x20) ch = ' ';
    if (ch == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += ch;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// "hostname/cpu model", e.g. "vm-3/Intel(R) Xeon(R) CPU @ 2.20GHz".
inline std::string machine_tag()
{
  char host[256] = "unknown";
  gethostname(host, sizeof host - 1);
  std::string model = "unknown cpu";
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 1);
      break;
    }
  return clean(std::string(host) + "/" + clean(model) + " x" + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)));
}

// GSYS_GIT_REV (bench/genesys_bench.sh sets it), else `git describe --dirty`, else "unknown".
inline std::string git_rev()
{
  if (const char* e = std::getenv("GSYS_GIT_REV"); e && *e) return clean(e);
  std::string rev;
  if (FILE* p = popen("git describe --always --dirty --abbrev=7 2>/dev/null", "r")) {
    char buf[64] = {};
    if (std::fgets(buf, sizeof buf, p)) rev = buf;
    pclose(p);
  }
  rev = clean(rev);
  return rev.empty() ? "unknown" : rev;
}

// One result row: keys in insertion order, the tags first.
class row {
 public:
  row(const std::string& bench, const std::string& machine, const std::string& device, const std::string& executor,
      const std::string& rev)
  {
    str("bench", bench).str("machine", machine).str("device", device).str("executor", executor).str("git_rev", rev);
  }
  row& str(const char* k, const std::string& v) { return put(k, "\"" + clean(v) + "\""); }
  row& num(const char* k, double v, int decimals = 0)
  {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", decimals, v);
    return put(k, b);
  }
  row& num(const char* k, long v) { return put(k, std::to_string(v)); }
  row& num(const char* k, int v) { return put(k, std::to_string(v)); }
  std::string json() const { return "{" + body_ + "}"; }

 private:
  row& put(const char* k, const std::string& v)
  {
    if (!body_.empty()) body_ += ",";
    body_ += "\"" + std::string(k) + "\":" + v;
    return *this;
  }
  std::string body_;
};

// Prints each row on stdout and appends it to `path` (when not empty).
class sink {
 public:
  explicit sink(std::string path) : path_(std::move(path)) {}
  void emit(const row& r) const
  {
    const std::string line = r.json();
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    if (!path_.empty()) std::ofstream(path_, std::ios::app) << line << "\n";
  }

 private:
  std::string path_;
};

// The calling process's thread ids.
inline std::vector<int> task_ids()
{
  std::vector<int> ids;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ids.push_back(std::atoi(e->d_name));
    closedir(d);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

// CPU time (user + system, ns) of one thread of this process: the kernel's
// per-thread CPU clock (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)), which
// counts nanoseconds; /proc/self/task/<tid>/stat (clock ticks) as fallback.
// 0 once the thread is gone.
inline u64 thread_cpu_ns(int tid)
{
  const clockid_t clk = (clockid_t)((~(unsigned)tid << 3) | 6);
  timespec ts;
  if (clock_gettime(clk, &ts) == 0) return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = s.rfind(')');
  if (close == std::string::npos) return 0;
  unsigned long long ut = 0, st = 0;
  // Fields after the command: state(3) ... utime(14) stime(15).
  const char* p = s.c_str() + close + 2;
  for (int field = 3; field < 14 && *p; ++field) p = std::strchr(p, ' ') ? std::strchr(p, ' ') + 1 : "";
  std::sscanf(p, "%llu %llu", &ut, &st);
  return (ut + st) * (1000000000ull / (u64)sysconf(_SC_CLK_TCK));
}

inline u64 threads_cpu_ns(const std::vector<int>& tids)
{
  u64 sum = 0;
  for (int t : tids) sum += thread_cpu_ns(t);
  return sum;
}

// Context switches of one thread (voluntary + involuntary), from
// /proc/self/task/<tid>/status: for an idle thread, how often it woke.
inline u64 thread_switches(int tid)
{
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/status");
  u64 n = 0;
  for (std::string line; std::getline(in, line);)
    if (line.find("ctxt_switches:") != std::string::npos) n += std::strtoull(line.c_str() + line.find(':') + 1, nullptr, 10);
  return n;
}

inline u64 threads_switches(const std::vector<int>& tids)
{
  u64 sum = 0;
  for (int t : tids) sum += thread_switches(t);
  return sum;
}

// The ids in `after` that are not in `before` (both sorted).
inline std::vector<int> new_tasks(const std::vector<int>& before, const std::vector<int>& after)
{
  std::vector<int> out;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(out));
  return out;
}

// A file of `bytes` known bytes (each 4 KiB block filled with its index),
// unlinked at once: the fd keeps it; -1 on failure. Page-cached after the write.
inline int make_data_file(size_t bytes, const char* tag)
{
  char path[96];
  std::snprintf(path, sizeof path, "/tmp/gsys-%s-XXXXXX", tag);
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  unlink(path);
  std::vector<char> block(1 << 20);
  for (size_t done = 0; done < bytes;) {
    const size_t n = std::min(block.size(), bytes - done);
    for (size_t i = 0; i < n; i += 4096) std::memset(block.data() + i, (int)((done + i) / 4096), std::min<size_t>(4096, n - i));
    if (pwrite(fd, block.data(), n, (off_t)done) != (ssize_t)n) return close(fd), -1;
    done += n;
  }
  return fd;
}

}  // namespace bench
