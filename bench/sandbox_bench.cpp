// What the kernel-enforced layer (libgenesys/sandbox.h) costs an executor
// thread: the system calls it makes per request (getppid as the call, futex
// as the executor's own) and an open+close (Landlock's hook), timed in a
// fresh thread without and with seccomp-bpf + Landlock, alternating, so
// the ratio inside one run is what to read. JSON lines on stdout.
#include <fcntl.h>
#include <getopt.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "policy.h"
#include "sandbox.h"

namespace {

using clk = std::chrono::steady_clock;

struct sample {
  double getppid_ns, futex_ns, open_close_ns;
};

sample measure(const gsys::detail::sandbox* box, int iters)
{
  sample s{};
  std::thread t([&] {
    if (box) box->enter();
    int word = 0;
    auto t0 = clk::now();
    for (int i = 0; i < iters; ++i) ::syscall(SYS_getppid);
    auto t1 = clk::now();
    for (int i = 0; i < iters; ++i) ::syscall(SYS_futex, &word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
    auto t2 = clk::now();
    const int opens = std::max(iters / 20, 10);
    for (int i = 0; i < opens; ++i) {
      const int fd = ::open("/etc/hostname", O_RDONLY | O_CLOEXEC);
      if (fd >= 0) ::close(fd);
    }
    auto t3 = clk::now();
    auto ns = [](auto a, auto b, int n) { return std::chrono::duration<double, std::nano>(b - a).count() / n; };
    s = {ns(t0, t1, iters), ns(t1, t2, iters), ns(t2, t3, opens)};
  });
  t.join();
  return s;
}

double median(std::vector<double> v)
{
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv)
{
  int iters = 200000, rounds = 7;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") iters = 20000, rounds = 3;
    else if (a == "--help" || a == "-h") {
      std::printf("usage: %s [--quick]\nTimes getppid, futex and open+close in an executor-like thread\n"
                  "without and with genesys's seccomp-bpf + Landlock restrictions; JSON lines.\n", argv[0]);
      return 0;
    } else {
      std::fprintf(stderr, "gsys-sandbox-bench: unknown argument '%s' (--quick, --help)\n", a.c_str());
      return 2;
    }
  }
  gsys::runtime_options o;
  gsys::detail::policy pol{o.policy};
  gsys::detail::sandbox box(pol, o);
  std::fprintf(stderr, "gsys-sandbox-bench: %s\n", box.summary().c_str());
  std::vector<double> off[3], on[3];
  for (int r = 0; r < rounds; ++r) {
    const sample a = measure(nullptr, iters), b = measure(&box, iters);
    off[0].push_back(a.getppid_ns), off[1].push_back(a.futex_ns), off[2].push_back(a.open_close_ns);
    on[0].push_back(b.getppid_ns), on[1].push_back(b.futex_ns), on[2].push_back(b.open_close_ns);
  }
  const char* names[] = {"getppid", "futex_wake", "open_close"};
  for (int k = 0; k < 3; ++k) {
    const double a = median(off[k]), b = median(on[k]);
    auto [lo, hi] = std::minmax_element(on[k].begin(), on[k].end());
    std::printf("{\"bench\":\"sandbox\",\"call\":\"%s\",\"rounds\":%d,\"plain_ns\":%.1f,\"confined_ns\":%.1f,"
                "\"added_ns\":%.1f,\"ratio\":%.3f,\"confined_min_ns\":%.1f,\"confined_max_ns\":%.1f,\"summary\":\"%s\"}\n",
                names[k], rounds, a, b, b - a, b / a, *lo, *hi, box.summary().c_str());
  }
  return 0;
}
