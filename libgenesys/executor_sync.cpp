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

class sync_executor final : public executor {
 public:
  explicit sync_executor(executor_context& ctx) : ctx_(ctx) {}
  ~sync_executor() override
  {
    ctx_.stopping.store(true, std::memory_order_release);  // also when the runtime failed to start
    stop();
  }
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
