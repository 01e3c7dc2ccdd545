// Executors run the requests of one ring. They share what is here: the
// context a runtime hands them, the one-request path, and the idle strategy
// (poll while requests flow, then sleep on the doorbell with short timeouts,
// because a GPU cannot wake a host thread).
#pragma once

#include <atomic>
#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <genesys/runtime.h>

#include "policy.h"
#include "ring_access.h"
#include "sandbox.h"
#include "stats.h"

namespace gsys::detail {

std::uint64_t monotonic_ns();

struct executor_context {
  gsys_ring_header* header = nullptr;
  // The ring's geometry as the runtime made it (not read back from the header).
  gsys_u32 nslots = 0;
  gsys_u32 sq_entries = 0;
  gsys_u64 timeout_ns = 0;
  ring_access access() const { return ring_access(header, nslots, sq_entries, timeout_ns); }
  policy* pol = nullptr;
  stats_page* stats = nullptr;
  runtime_options opt;
  std::atomic<bool> stopping{false};

  // A fresh shard for a new executor thread.
  stats_shard& take_shard();

  // The kernel-enforced restrictions (sandbox.h). Every executor thread
  // calls become_executor_thread() before it serves anything: it blocks the
  // application's asynchronous signals (their handlers must not run under
  // the sandbox, and a mask inherited from the creator must not block the
  // interrupt signal that stops the thread), then enters the sandbox.
  const sandbox* box = nullptr;
  void become_executor_thread();
};

class executor {
 public:
  virtual ~executor() = default;
  virtual const char* name() const = 0;
  virtual gsys_u32 id() const = 0;  // GSYS_EXECUTOR_*
  // Starts the executor's threads; throws setup_error if it cannot run.
  virtual void start() = 0;
  // Called after ctx.stopping is set: completes or cancels what is in
  // flight and joins the threads.
  virtual void stop() = 0;
  // The fixed-file table changed (the policy already has it); an executor
  // that resolves fixed files itself (kmod) takes its own copy here.
  virtual void set_files(const std::vector<int>& fds) { (void)fds; }
  // Adds what the executor counted outside the stats page (genesys.ko's
  // per-operation counts) to a snapshot from summarize(). Any thread.
  virtual void add_stats(stats_snapshot& s) const { (void)s; }
};

std::unique_ptr<executor> make_sync_executor(executor_context& ctx);
std::unique_ptr<executor> make_uring_executor(executor_context& ctx);
std::unique_ptr<executor> make_kmod_executor(executor_context& ctx);

// Runs a request that passed the policy with syscall(2).
long run_syscall(const request_copy& q);

class idle_waiter;

// The whole path for one popped request, run on the calling thread;
// `waiter` learns which call it took before it runs.
void serve_one(ring_access& ring, policy& pol, stats_shard& shard, idle_waiter& waiter, request_copy& q);

// Opcodes that return within microseconds whatever their arguments and
// whatever the file system (nop, getpid, getppid, getrusage, munmap): an
// executor running one is as good as polling. Everything else may block (a
// socket read, a FIFO open, disk or network file system I/O) and hands the
// polling over.
bool finishes_promptly(unsigned nr);

// The same for a request genesys.ko left to userspace (a fall-back), run
// from the copy the module validated.
void serve_fallback(ring_access& ring, policy& pol, stats_shard& shard, request_copy q);

// Publishes a call's result (DONE), then counts it: in the header's totals,
// and in `shard` with its service time since t0 (0: it never ran). DONE
// goes first because the device waits for it and not for the statistics
// (they had taken ~0.1 of a ping-pong of the thread-level round trip);
// begin_recording/end_recording (stats.h) keep a snapshot from missing it.
// q is read after DONE, when the device may already reuse the slot: it must
// be the caller's own copy of the request (never memory the next call of the
// slot can rewrite, such as a uring op).
void finish_call(ring_access& ring, stats_shard& shard, const gsys_request& q, long ret, std::uint64_t t0,
                 bool denied);

// Policy, then run; what serve_one and the kmod fall-back path share.
long check_and_run(policy& pol, request_copy& q, bool& denied);

// The signal stop() sends an executor thread blocked in a system call so
// that it returns EINTR: the first real-time signal from SIGRTMIN+7 up that
// the application leaves at its default (-1 if none).
// install_interrupt_handler() is false when there is none (then stop()
// waits instead).
int interrupt_signal();
bool install_interrupt_handler();

// Wakes executor threads sleeping on the ring's doorbell (all of them, or
// how_many): bumps the futex word, then wakes.
void wake_sleepers(gsys_ring_header* h, int how_many = INT_MAX);

// The threads of an executor that may sit in a blocking system call (sync
// workers, kmod SERVE threads). join() pokes each one with the interrupt
// signal (and the doorbell) until it has left its loop, then joins it.
class blocking_threads {
 public:
  ~blocking_threads() { join(nullptr); }
  void start(unsigned n, std::function<void()> body);
  bool empty() const { return threads_.empty(); }
  // `poke` (may be null) runs between interrupts, e.g. to ring the doorbell.
  void join(const std::function<void()>& poke);

 private:
  bool finished(const std::thread& t);

  bool can_interrupt_ = false;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::vector<std::thread::id> finished_;
};

class idle_waiter {
 public:
  explicit idle_waiter(const executor_context& ctx) : ctx_(ctx) {}
  idle_waiter(const idle_waiter&) = delete;
  idle_waiter& operator=(const idle_waiter&) = delete;
  ~idle_waiter() { stop_polling(); }
  // After a poll that found work, before running it. For work that cannot
  // block (a call that finishes_promptly, a submission to io_uring) a
  // polling thread stays counted in the header's pollers: it is back at the
  // queue in a moment, and the count is not written per call. Before a
  // call that may block for as long as it likes, it stops counting itself
  // and, if more work is queued while an executor sleeps, wakes one: the
  // device skipped the wake because this thread was polling.
  void worked(ring_access& ring, bool may_block)
  {
    idle_since_ = 0;
    sleep_us_ = 0;
    if (polling_ && may_block) {
      stop_polling();
      pass_on_wake(ring);
    }
  }
  // After a poll that found nothing: polls for the configured spin time
  // (counted in pollers), then sleeps on the doorbell for growing periods
  // (up to 1 ms, and after a second of quiet up to
  // runtime_options::idle_nap_max).
  void idle(ring_access& ring);

 private:
  void stop_polling();
  void pass_on_wake(ring_access& ring);
  bool move_off_this_cpu(std::uint64_t now);

  static constexpr unsigned kLookEvery = 16;
  const executor_context& ctx_;
  std::uint64_t idle_since_ = 0;
  unsigned polls_ = 0;
  std::uint64_t last_move_ns_ = 0;  // move_off_this_cpu's last try
  unsigned sleep_us_ = 0;
  bool polling_ = false;
};

}  // namespace gsys::detail
