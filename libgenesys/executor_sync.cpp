// The `sync` executor: worker threads that each pop requests and run them
// with syscall(2). A call that blocks (a socket read) holds one worker; the
// others keep serving. stop() interrupts blocked workers with a signal.
#include <pthread.h>
#include <signal.h>

#include <mutex>
#include <thread>
#include <vector>

#include "executor.h"

namespace gsys::detail {

namespace {

// Interrupts a worker blocked in a system call at shutdown (EINTR).
int interrupt_signal() { return SIGRTMIN + 7; }

// True if the signal is ours to use (we installed a no-op handler for it).
bool install_interrupt_handler()
{
  static const bool ours = [] {
    struct sigaction sa {};
    sigaction(interrupt_signal(), nullptr, &sa);
    if (sa.sa_handler != SIG_DFL) return false;  // the application uses it: leave it be
    sa = {};
    sa.sa_handler = [](int) {};  // no SA_RESTART: the blocked call returns EINTR
    sigemptyset(&sa.sa_mask);
    return sigaction(interrupt_signal(), &sa, nullptr) == 0;
  }();
  return ours;
}

class sync_executor final : public executor {
 public:
  explicit sync_executor(executor_context& ctx) : ctx_(ctx) {}
  ~sync_executor() override { stop(); }
  const char* name() const override { return "sync"; }
  gsys_u32 id() const override { return GSYS_EXECUTOR_SYNC; }

  void start() override
  {
    can_interrupt_ = install_interrupt_handler();
    const unsigned n = ctx_.opt.workers ? ctx_.opt.workers : 1;
    for (unsigned i = 0; i < n; ++i) workers_.emplace_back([this] { run(); });
  }

  void stop() override
  {
    if (workers_.empty()) return;
    wake_sleepers(ctx_.header);
    for (auto& t : workers_) {
      // A worker may sit in a blocking call for a long time; poke it until it leaves.
      while (!done_joinable(t)) {
        if (can_interrupt_) pthread_kill(t.native_handle(), interrupt_signal());
        wake_sleepers(ctx_.header);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      t.join();
    }
    workers_.clear();
  }

 private:
  bool done_joinable(std::thread& t)
  {
    std::lock_guard lk(mu_);
    for (auto id : finished_)
      if (id == t.get_id()) return true;
    return false;
  }

  void run()
  {
    stats_shard& shard = ctx_.take_shard();
    ring_access ring(ctx_.header);
    idle_waiter waiter(ctx_);
    gsys_u32 idx;
    for (;;) {
      if (ring.pop(idx)) {
        waiter.worked();
        serve_one(ring, *ctx_.pol, shard, idx);
        continue;
      }
      // Stopping: everything that could be popped was served (kernels
      // have finished, so nothing more is being published).
      if (ctx_.stopping.load(std::memory_order_acquire)) break;
      waiter.idle(ring);
    }
    std::lock_guard lk(mu_);
    finished_.push_back(std::this_thread::get_id());
  }

  executor_context& ctx_;
  bool can_interrupt_ = false;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::vector<std::thread::id> finished_;
};

}  // namespace

std::unique_ptr<executor> make_sync_executor(executor_context& ctx)
{
  return std::make_unique<sync_executor>(ctx);
}

}  // namespace gsys::detail
