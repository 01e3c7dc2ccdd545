#include "executor.h"

#include <genesys/sim/cpu_share.h>

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace gsys::detail {

std::uint64_t monotonic_ns()
{
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000ull + std::uint64_t(ts.tv_nsec);
}

stats_shard& executor_context::take_shard()
{
  std::atomic_ref<std::uint32_t> n(stats->nshards);
  std::uint32_t i = n.fetch_add(1, std::memory_order_relaxed);
  if (i < kMaxShards - 1) return stats->shard[i];
  // More threads than shards share the last one. Each of them marks it
  // before its first record, so all of them add atomically there (record()).
  stats_shard& s = stats->shard[kMaxShards - 1];
  std::atomic_ref<std::uint32_t>(s.shared).store(1, std::memory_order_relaxed);
  return s;
}

void executor_context::become_executor_thread()
{
  sigset_t mask;
  sigfillset(&mask);
  for (int sync_signal : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS}) sigdelset(&mask, sync_signal);
  if (interrupt_signal() > 0) sigdelset(&mask, interrupt_signal());
  pthread_sigmask(SIG_SETMASK, &mask, nullptr);
  if (!box) return;
  const std::string problems = box->enter();
  static std::atomic<bool> said{false};
  if (!problems.empty() && !said.exchange(true))
    std::fprintf(stderr, "genesys: executor threads: %s\n", problems.c_str());
}

long run_syscall(const request_copy& q)
{
  if (q.nr == GSYS_NR_NOP) return 0;
  if (q.nr >= GSYS_NR_PRIVATE_BASE) return -ENOSYS;
  if (q.nr == __NR_recvfrom && q.arg[4]) {
    // The length the policy checked, in memory the GPU cannot change.
    socklen_t len = q.addrlen;
    long r = ::syscall(__NR_recvfrom, q.arg[0], q.arg[1], q.arg[2], q.arg[3], q.arg[4], &len);
    if (r == -1) return -errno;
    // Through the kernel even in given memory: a GPU mapping of a file
    // truncated since would raise SIGBUS on a plain store.
    return copy_to_process(q.arg[5], &len, sizeof len) ? r : -EFAULT;
  }
  long r = ::syscall((long)q.nr, q.arg[0], q.arg[1], q.arg[2], q.arg[3], q.arg[4], q.arg[5]);
  return r == -1 ? -errno : r;
}

long check_and_run(policy& pol, request_copy& q, bool& denied)
{
  long ret = pol.check(q, denied);
  if (ret == 0) ret = pol.finish(q, run_syscall(q), denied);
  return ret;
}

void finish_call(ring_access& ring, stats_shard& shard, const gsys_request& q, long ret, std::uint64_t t0,
                 bool denied)
{
  begin_recording(shard);
  ring.complete(q, ret);
  if (denied) ring.count_denied();
  record(shard, q.nr, ret, t0 ? monotonic_ns() - t0 : 0, denied, q.flags & GSYS_SLOT_F_NONBLOCK);
  end_recording(shard);
}

namespace {

void run_and_complete(ring_access& ring, policy& pol, stats_shard& shard, request_copy& q)
{
  const std::uint64_t t0 = monotonic_ns();
  bool denied = false;
  long ret = check_and_run(pol, q, denied);
  finish_call(ring, shard, q, ret, t0, denied);
}

}  // namespace

void serve_one(ring_access& ring, policy& pol, stats_shard& shard, idle_waiter& waiter, request_copy& q)
{
  waiter.worked(ring, !finishes_promptly(q.nr));
  run_and_complete(ring, pol, shard, q);
}

bool finishes_promptly(unsigned nr)
{
  switch (nr) {
    case GSYS_NR_NOP:
    case __NR_getpid:
    case __NR_getppid:
    case __NR_getrusage:
    case __NR_munmap:
      return true;
    default:
      return false;
  }
}

void serve_fallback(ring_access& ring, policy& pol, stats_shard& shard, request_copy q)
{
  if (ring.adopt_copy(q)) run_and_complete(ring, pol, shard, q);
}

int interrupt_signal()
{
  static const int sig = [] {
    for (int s = SIGRTMIN + 7; s <= SIGRTMAX; ++s) {
      struct sigaction sa {};
      if (sigaction(s, nullptr, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL) return s;
    }
    return -1;
  }();
  return sig;
}

void blocking_threads::start(unsigned n, std::function<void()> body)
{
  can_interrupt_ = install_interrupt_handler();
  for (unsigned i = 0; i < n; ++i)
    threads_.emplace_back([this, body] {
      body();
      std::lock_guard lk(mu_);
      finished_.push_back(std::this_thread::get_id());
    });
}

bool blocking_threads::finished(const std::thread& t)
{
  std::lock_guard lk(mu_);
  for (auto id : finished_)
    if (id == t.get_id()) return true;
  return false;
}

void blocking_threads::join(const std::function<void()>& poke)
{
  for (auto& t : threads_) {
    // A thread may sit in a blocking call for a long time; poke it until it leaves.
    while (!finished(t)) {
      if (can_interrupt_) pthread_kill(t.native_handle(), interrupt_signal());
      if (poke) poke();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    t.join();
  }
  threads_.clear();
}

bool install_interrupt_handler()
{
  static const bool ours = [] {
    if (interrupt_signal() < 0) return false;  // the application uses them all: leave them be
    struct sigaction sa {};
    // Chosen earlier (an executor thread's mask) and taken since: leave it be.
    if (sigaction(interrupt_signal(), nullptr, &sa) != 0 || (sa.sa_flags & SA_SIGINFO) || sa.sa_handler != SIG_DFL)
      return false;
    sa = {};
    sa.sa_handler = [](int) {};  // no SA_RESTART: the blocked call returns EINTR
    sigemptyset(&sa.sa_mask);
    return sigaction(interrupt_signal(), &sa, nullptr) == 0;
  }();
  return ours;
}

void wake_sleepers(gsys_ring_header* h, int how_many)
{
  std::atomic_ref<gsys_u32>(h->doorbell).fetch_add(1, std::memory_order_seq_cst);
  ::syscall(SYS_futex, &h->doorbell, FUTEX_WAKE, how_many, nullptr, nullptr, 0);
}

void idle_waiter::stop_polling()
{
  if (!polling_) return;
  polling_ = false;
  std::atomic_ref<gsys_u32>(ctx_.header->pollers).fetch_sub(1, std::memory_order_seq_cst);
}

// Runs right after stop_polling(): its seq_cst decrement precedes this look
// at the queue, and a device that saw this thread counted published its
// entry before it looked (platform.h, sim_wake_executors), so the entry is
// seen here or by the device's own check.
void idle_waiter::pass_on_wake(ring_access& ring)
{
  gsys_ring_header* h = ctx_.header;
  if (std::atomic_ref<gsys_u32>(h->sleepers).load(std::memory_order_seq_cst) != 0 && ring.queue_nonempty())
    wake_sleepers(h, 1);
}

// Leaves the calling thread's CPU for another it may run on: allowed
// everywhere else for a moment (which migrates it at once), then allowed
// everywhere again. Sleeping alone did not separate the two threads: the
// device's futex wakes kept putting this one back beside the block thread
// (a uring executor spent 5 of 20 benchmark runs at 18 µs per call on a
// quiet 2-vCPU VM). At most once a millisecond, so that a thread the
// scheduler keeps putting back falls back to sleeping.
bool idle_waiter::move_off_this_cpu(std::uint64_t now)
{
  if (now - last_move_ns_ < 1'000'000) return false;
  last_move_ns_ = now;
  cpu_set_t allowed, others;
  const int here = sched_getcpu();
  if (here < 0 || sched_getaffinity(0, sizeof allowed, &allowed) != 0 || !CPU_ISSET(here, &allowed) ||
      CPU_COUNT(&allowed) < 2)
    return false;
  others = allowed;
  CPU_CLR(here, &others);
  if (sched_setaffinity(0, sizeof others, &others) != 0) return false;
  sched_setaffinity(0, sizeof allowed, &allowed);
  return sched_getcpu() != here;
}

void idle_waiter::idle(ring_access& ring)
{
  // A polling thread looks at the clock and its CPU on every kLookEvery-th
  // poll only: a poll costs a few nanoseconds, a clock read 26 on the VM.
  if (polling_ && ++polls_ % kLookEvery != 0) {
    __builtin_ia32_pause();
    return;
  }
  const std::uint64_t now = monotonic_ns();
  if (idle_since_ == 0) idle_since_ = now;
  // No spinning on a CPU a simulated device thread needs (cpu_share.h):
  // this thread moves to another CPU, or where it may not, sleeps on the
  // doorbell while the block thread has this one.
  if (now - idle_since_ < (std::uint64_t)ctx_.opt.spin.count() &&
      (!sim::block_thread_on_my_cpu() || move_off_this_cpu(now))) {
    if (!polling_) {
      polling_ = true;
      std::atomic_ref<gsys_u32>(ctx_.header->pollers).fetch_add(1, std::memory_order_seq_cst);
    }
    __builtin_ia32_pause();
    return;
  }
  gsys_ring_header* h = ctx_.header;
  std::atomic_ref<gsys_u64>(h->heartbeat_ns).store(now, std::memory_order_relaxed);
  // 1 ms naps for the first second of quiet, then up to idle_nap_max.
  const unsigned cap = now - idle_since_ < 1'000'000'000ull
                           ? 1000u
                           : std::max<unsigned>(1000u, (unsigned)ctx_.opt.idle_nap_max.count());
  sleep_us_ = sleep_us_ ? std::min(sleep_us_ * 2, cap) : 20;
  std::atomic_ref<gsys_u32> bell(h->doorbell), sleepers(h->sleepers);
  const gsys_u32 seen = bell.load(std::memory_order_seq_cst);
  sleepers.fetch_add(1, std::memory_order_seq_cst);
  // After announcing the sleep: a device sees this thread as a poller or a
  // sleeper, never as neither, and the queue check below follows both.
  stop_polling();
  // Checked after announcing ourselves: a producer that submitted before it
  // could see us is visible here; one after it will bump the doorbell.
  if (!ring.queue_nonempty() && !ctx_.stopping.load(std::memory_order_relaxed)) {
    timespec ts{0, (long)sleep_us_ * 1000};
    ::syscall(SYS_futex, &h->doorbell, FUTEX_WAIT, seen, &ts, nullptr, 0);
  }
  sleepers.fetch_sub(1, std::memory_order_seq_cst);
}

}  // namespace gsys::detail
