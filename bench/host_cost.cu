// gsys-host-cost: what serving GPU system calls costs the host CPU.
//
//   idle     CPU time of the executor's threads (threads the runtime
//            started) with nothing to serve: right after start, right after
//            a burst of calls (the first second of quiet: 1 ms naps), and
//            settled (after more than a second of quiet: longer naps)
//   rate     a paced kernel makes getppid calls at a target rate; measured:
//            the executor's CPU, the simulated device's CPU (simulator
//            only: a GPU would not spend it), the calls' round trip, and how
//            much a co-running CPU benchmark (one thread, an integer loop)
//            slows down, against the co-runner alone and against the same
//            paced kernel with no calls (the generator alone: what the
//            simulator itself costs)
//   spin     the executor's spin-before-sleep option (runtime_options::spin)
//            as a curve: round trip p50/p99 and executor CPU at 10 k calls/s
//   device_spin  the device side's option (runtime_options::device_spin_ns:
//            how long a waiting GPU thread polls at the minimum backoff):
//            the same curve, plus the simulated device's CPU (on a GPU the
//            polls cost PCIe reads, not host CPU)
//
// CPU time per thread: the kernel's per-thread CPU clock (bench_common.h).
#include <getopt.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <sstream>
#include <thread>

#include <genesys.cuh>
#include <genesys/runtime.h>

#include "bench_common.h"

namespace {

using bench::u64;

constexpr int kPacedThreads = 4;
constexpr int kMaxSamples = 1 << 16;

// Each of the block's threads calls every `period_ns` (staggered) from
// `start_ns` to `end_ns`; a thread that falls behind does not catch up in a
// burst. calls = 0: the pacing alone (the generator), no ring traffic.
// Thread 0 records its round trips in samples[] (up to kMaxSamples).
__global__ void paced_kernel(gsys::ring r, int calls, u64 period_ns, u64 start_ns, u64 end_ns, u64* samples,
                             unsigned long long* made, int* errors)
{
  u64 next = start_ns + threadIdx.x * period_ns / blockDim.x;
  unsigned long long n = 0;
  for (;;) {
    const u64 now = gsys::detail::now_ns();
    if (now >= end_ns) break;
    if (now < next) {
      const u64 wait = next - now;
      __nanosleep((unsigned)(wait < 1000000 ? wait : 1000000));
      continue;
    }
    next = next + period_ns < now ? now + period_ns : next + period_ns;
    if (calls) {
      const u64 t0 = gsys::detail::now_ns();
      if (gsys::getppid(r) < 0) atomicAdd(errors, 1);
      if (threadIdx.x == 0 && n < kMaxSamples) samples[n] = gsys::detail::now_ns() - t0;
    }
    ++n;
  }
  atomicAdd(made, n);
}

__global__ void burst_kernel(gsys::ring r, int iters)
{
  for (int i = 0; i < iters; ++i) gsys::nop(r);
}

// The co-running CPU benchmark: one thread, an integer loop, counted in
// units of 4096 iterations.
class corunner {
 public:
  corunner()
  {
    t_ = std::thread([this] {
      tid_.store((int)::syscall(SYS_gettid));
      u64 x = 1;
      while (!stop_.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 4096; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
        units_.fetch_add(1, std::memory_order_relaxed);
      }
      sink_ = x;
    });
    while (!tid_.load()) std::this_thread::yield();
  }
  ~corunner()
  {
    stop_ = true;
    t_.join();
  }
  u64 units() const { return units_.load(std::memory_order_relaxed); }
  int tid() const { return tid_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<u64> units_{0};
  std::atomic<int> tid_{0};
  volatile u64 sink_ = 0;
  std::thread t_;
};

struct config {
  std::vector<gsys::executor_kind> executors = {gsys::executor_kind::sync, gsys::executor_kind::uring};
  std::vector<double> rates;
  std::vector<long> spins, device_spins;
  double window_s = 0;
  int rounds = 0;
  bool quick = false;
  std::string out, machine, device, rev;
};

u64 process_cpu_ns()
{
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (u64)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
         (u64)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

void sleep_until(u64 t)
{
  const u64 now = bench::host_ns();
  if (t > now) std::this_thread::sleep_for(std::chrono::nanoseconds(t - now));
}

// One measured window: CPU of the executor, of the co-runner and of the
// whole process, co-runner units, and wall time.
struct window {
  double secs;
  u64 executor_ns, corunner_ns, process_ns, units, executor_switches;
};

struct window_probe {
  const std::vector<int>& executor_tids;
  const corunner& co;
  u64 t, ex, cr, pr, un, sw;
  window_probe(const std::vector<int>& ex_tids, const corunner& c) : executor_tids(ex_tids), co(c) { start(); }
  void start()
  {
    t = bench::host_ns(), ex = bench::threads_cpu_ns(executor_tids), cr = bench::thread_cpu_ns(co.tid());
    pr = process_cpu_ns(), un = co.units(), sw = bench::threads_switches(executor_tids);
  }
  window stop() const
  {
    return {(double)(bench::host_ns() - t) / 1e9, bench::threads_cpu_ns(executor_tids) - ex,
            bench::thread_cpu_ns(co.tid()) - cr, process_cpu_ns() - pr, co.units() - un,
            bench::threads_switches(executor_tids) - sw};
  }
};

struct paced_result {
  window w;
  double calls_per_s;
  double p50_ns, p99_ns;
  int errors;
};

// Runs the paced kernel for one window of `secs`, measuring inside it.
paced_result run_paced(gsys::runtime& rt, const std::vector<int>& ex_tids, const corunner& co, double rate,
                       bool calls, double secs, u64* samples, unsigned long long* made, int* errors)
{
  *made = 0;
  *errors = 0;
  const u64 period = (u64)(kPacedThreads * 1e9 / rate);
  const u64 start = bench::host_ns() + 20'000'000, end = start + (u64)(secs * 1e9);
  gsys::launch(paced_kernel, dim3(1), dim3(kPacedThreads), rt.ring(), calls ? 1 : 0, period, start, end, samples,
               made, errors);
  sleep_until(start);
  window_probe p(ex_tids, co);
  sleep_until(end);
  window w = p.stop();
  gsys::synchronize();
  const u64 n = std::min<u64>(kMaxSamples, *made / kPacedThreads);
  std::vector<u64> v(samples, samples + (calls ? n : 0));
  return {w, (double)*made / secs, bench::percentile(v, 50), bench::percentile(v, 99), *errors};
}

window idle_window(const std::vector<int>& ex_tids, const corunner& co, double secs)
{
  window_probe p(ex_tids, co);
  std::this_thread::sleep_for(std::chrono::nanoseconds((u64)(secs * 1e9)));
  return p.stop();
}

double median(std::vector<double> v)
{
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double pct(u64 ns, double secs) { return secs > 0 ? (double)ns / 1e9 / secs * 100.0 : 0; }

void usage(const char* argv0)
{
  std::printf(
      "usage: %s [options]\n"
      "Host CPU cost of the executors: idle, serving paced calls next to a co-running\n"
      "CPU benchmark, and the spin-before-sleep option as a curve. JSON lines on stdout.\n\n"
      "  --executor LIST  sync,uring (default both)\n"
      "  --rates LIST     calls/s, 10-1e7 (default 1000,10000,30000,100000; --quick 10000,100000)\n"
      "  --spins LIST     executor spin in ns for the curve (default 0,2000,10000,50000,200000,1000000;\n"
      "                   --quick 0,10000,50000,1000000)\n"
      "  --device-spins LIST  device polls at the minimum backoff this long, ns, for the\n"
      "                   device curve (default 1000,10000,50000,200000; --quick 1000,50000,200000)\n"
      "  --window S       seconds per measured window, 0.001-3600 (default 1; --quick 0.5)\n"
      "  --rounds N       alone / generator / genesys windows per rate, medians, 1-1000 (default 3; --quick 2)\n"
      "  --out FILE       also append the JSON lines to FILE\n"
      "  --quick          fewer rates, spins and shorter windows\n",
      argv0);
}

}  // namespace

int main(int argc, char** argv)
{
  config c;
  static option opts[] = {{"executor", required_argument, nullptr, 'e'}, {"rates", required_argument, nullptr, 'r'},
                          {"spins", required_argument, nullptr, 's'},    {"window", required_argument, nullptr, 'w'},
                          {"device-spins", required_argument, nullptr, 'd'},
                          {"rounds", required_argument, nullptr, 'R'},
                          {"out", required_argument, nullptr, 'o'},      {"quick", no_argument, nullptr, 'q'},
                          {"help", no_argument, nullptr, 'h'},           {nullptr, 0, nullptr, 0}};
  constexpr const char* prog = "gsys-host-cost";
  constexpr long long kMaxSpinNs = 10'000'000'000;  // 10 s
  for (int ch; (ch = getopt_long(argc, argv, "e:r:s:d:w:R:o:qh", opts, nullptr)) != -1;) {
    switch (ch) {
      case 'e':
        c.executors.clear();
        bench::parse_executors(optarg, prog, c.executors);
        break;
      case 'r':
        for (double r : bench::parse_number_list(prog, "--rates", optarg, 10, 1e7, "calls/s from 10 to 1e7, comma-separated"))
          c.rates.push_back(r);
        break;
      case 's':
        for (long long v : bench::parse_int_list(prog, "--spins", optarg, 0, kMaxSpinNs)) c.spins.push_back((long)v);
        break;
      case 'd':
        // 0 would mean the platform's default, not a point of the curve; at
        // most what runtime_options::device_spin_ns (32 bits) holds.
        for (long long v : bench::parse_int_list(prog, "--device-spins", optarg, 1, UINT32_MAX)) c.device_spins.push_back((long)v);
        break;
      case 'w': c.window_s = bench::parse_number(prog, "--window", optarg, 0.001, 3600, "seconds from 0.001 to 3600"); break;
      case 'R': c.rounds = (int)bench::parse_int(prog, "--rounds", optarg, 1, 1000); break;
      case 'o': c.out = optarg; break;
      case 'q': c.quick = true; break;
      case 'h': usage(argv[0]); return 0;
      default: usage(argv[0]); return 2;
    }
  }
  bench::reject_operands(prog, argc, argv, optind);
  if (c.rates.empty()) c.rates = c.quick ? std::vector<double>{10000, 100000} : std::vector<double>{1000, 10000, 30000, 100000};
  if (c.device_spins.empty())
    c.device_spins = c.quick ? std::vector<long>{1000, 50000, 200000} : std::vector<long>{1000, 10000, 50000, 200000};
  if (c.spins.empty())
    c.spins = c.quick ? std::vector<long>{0, 10000, 50000, 1000000} : std::vector<long>{0, 2000, 10000, 50000, 200000, 1000000};
  if (c.window_s <= 0) c.window_s = c.quick ? 0.5 : 1.0;
  if (c.rounds <= 0) c.rounds = c.quick ? 2 : 3;
  if (!gsys::device_present()) {
    std::fprintf(stderr, "gsys-host-cost: no CUDA device\n");
    return 1;
  }
  c.machine = bench::machine_tag();
  c.device = GSYS_CUDA ? gsys::device_name() : "simulator";
  c.rev = bench::git_rev();
  bench::sink out(c.out);
  corunner co;  // runs through every window; the windows say what ran next to it
  int rc = 0;

  // full: idle and rate; otherwise one point of the spin curve (spin_ns)
  // or of the device backoff curve (device_spin_ns).
  auto run_executor = [&](gsys::executor_kind k, long spin_ns, long device_spin_ns, bool full) {
    gsys::runtime_options o;
    o.executor = k;
    if (spin_ns >= 0) o.spin = std::chrono::nanoseconds(spin_ns);
    if (device_spin_ns > 0) o.device_spin_ns = (std::uint32_t)device_spin_ns;
    const std::vector<int> before = bench::task_ids();
    gsys::runtime rt(o);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let every executor thread start
    const std::vector<int> ex_tids = bench::new_tasks(before, bench::task_ids());
    auto* samples = static_cast<u64*>(rt.alloc(sizeof(u64) * kMaxSamples));
    auto* made = static_cast<unsigned long long*>(rt.alloc(sizeof(unsigned long long)));
    auto* errors = static_cast<int*>(rt.alloc(sizeof(int)));
    const std::string ex = gsys::to_string(rt.executor());
    auto row = [&](const char* kind) {
      bench::row r("host", c.machine, c.device, ex, c.rev);
      r.str("kind", kind)
          .num("executor_threads", (long)ex_tids.size())
          .num("spin_ns", (double)rt.options().spin.count())
          .num("device_spin_ns", (double)rt.options().device_spin_ns);  // 0: the platform's default
      return r;
    };
    if (full) {
      // Idle, fresh: nothing was ever called.
      window w = idle_window(ex_tids, co, c.window_s);
      auto idle_row = [&](const char* phase, const window& w) {
        out.emit(row("idle")
                     .str("phase", phase)
                     .num("seconds", w.secs, 2)
                     .num("executor_cpu_pct", pct(w.executor_ns, w.secs), 3)
                     .num("executor_wakeups_per_s", w.executor_switches / w.secs, 0)
                     .num("cpu_us_per_wakeup", w.executor_switches ? w.executor_ns / 1e3 / w.executor_switches : 0.0, 2));
      };
      idle_row("fresh", w);
      // Idle after a burst: the executor has served, then backs off.
      gsys::launch(burst_kernel, dim3(1), dim3(32), rt.ring(), 1000);
      gsys::synchronize();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      w = idle_window(ex_tids, co, c.window_s);
      idle_row("after_burst", w);
      // Idle, settled: the first second of quiet naps 1 ms at a time (a
      // burst's next call is served sooner); after it, naps grow to
      // runtime_options::idle_nap_max. This is what an idle executor costs.
      std::this_thread::sleep_for(std::chrono::milliseconds(1200));
      w = idle_window(ex_tids, co, c.window_s);
      idle_row("settled", w);

      for (double rate : c.rates) {
        // Interleaved windows, `rounds` times: co-runner alone, generator
        // alone, genesys; medians of each, so all three share the machine's
        // other load.
        std::vector<double> base, with_gen, with_gs, ex_pct, dev_pct, gen_pct, achieved, p50, p99;
        int errs = 0;
        for (int round = 0; round < c.rounds; ++round) {
          const window alone = idle_window(ex_tids, co, c.window_s);
          const paced_result gen = run_paced(rt, ex_tids, co, rate, false, c.window_s, samples, made, errors);
          const paced_result gs = run_paced(rt, ex_tids, co, rate, true, c.window_s, samples, made, errors);
          base.push_back(alone.units / alone.secs);
          with_gen.push_back(gen.w.units / gen.w.secs);
          with_gs.push_back(gs.w.units / gs.w.secs);
          ex_pct.push_back(pct(gs.w.executor_ns, gs.w.secs));
          // The main thread sleeps through the window: the rest is the simulated device.
          dev_pct.push_back(pct(gs.w.process_ns - gs.w.executor_ns - gs.w.corunner_ns, gs.w.secs));
          gen_pct.push_back(pct(gen.w.process_ns - gen.w.executor_ns - gen.w.corunner_ns, gen.w.secs));
          achieved.push_back(gs.calls_per_s), p50.push_back(gs.p50_ns), p99.push_back(gs.p99_ns);
          errs += gs.errors;
        }
        const double b = median(base), g = median(with_gen), w = median(with_gs);
        out.emit(row("rate")
                     .num("target_calls_per_s", rate)
                     .num("rounds", c.rounds)
                     .num("calls_per_s", median(achieved))
                     .num("p50_ns", median(p50))
                     .num("p99_ns", median(p99))
                     .num("executor_cpu_pct", median(ex_pct), 2)
                     .num("device_cpu_pct", median(dev_pct), 2)
                     .num("generator_cpu_pct", median(gen_pct), 2)
                     .num("corunner_alone_per_s", b, 0)
                     .num("corunner_with_generator_per_s", g, 0)
                     .num("corunner_with_genesys_per_s", w, 0)
                     .num("slowdown_pct", (1 - w / b) * 100, 2)
                     .num("slowdown_vs_generator_pct", (1 - w / g) * 100, 2)
                     .num("errors", errs));
        if (errs) rc = 1;
      }
    } else {
      // A point of a curve: 10 k calls/s.
      const paced_result gs = run_paced(rt, ex_tids, co, 10000, true, c.window_s, samples, made, errors);
      out.emit(row(device_spin_ns > 0 ? "device_spin" : "spin")
                   .num("target_calls_per_s", 10000.0)
                   .num("calls_per_s", gs.calls_per_s)
                   .num("p50_ns", gs.p50_ns)
                   .num("p99_ns", gs.p99_ns)
                   .num("executor_cpu_pct", pct(gs.w.executor_ns, gs.w.secs), 2)
                   .num("device_cpu_pct", pct(gs.w.process_ns - gs.w.executor_ns - gs.w.corunner_ns, gs.w.secs), 2)
                   .num("errors", gs.errors));
      if (gs.errors) rc = 1;
    }
  };
  for (auto k : c.executors) {
    try {
      run_executor(k, -1, 0, true);
      for (long s : c.spins) run_executor(k, s, 0, false);
      for (long d : c.device_spins) run_executor(k, -1, d, false);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gsys-host-cost: executor %s: %s\n", gsys::to_string(k), e.what());
      rc = 1;
    }
  }
  return rc;
}
