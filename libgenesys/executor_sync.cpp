// The `sync` executor: worker threads that each pop requests and run them
// with syscall(2). A call that blocks (a socket read) holds one worker; the
// others keep serving. stop() interrupts blocked workers with a signal.
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
    workers_.start(ctx_.opt.workers ? ctx_.opt.workers : 1, [this] {
      ctx_.become_executor_thread();
      run();
    });
  }

  void stop() override
  {
    if (workers_.empty()) return;
    wake_sleepers(ctx_.header);
    workers_.join([this] { wake_sleepers(ctx_.header); });
  }

 private:
  void run()
  {
    stats_shard& shard = ctx_.take_shard();
    ring_access ring = ctx_.access();
    idle_waiter waiter(ctx_);
    for (;;) {
      request_copy q;
      if (ring.pop(q)) {
        serve_one(ring, *ctx_.pol, shard, waiter, q);
        continue;
      }
      // Stopping: everything that could be popped was served (kernels
      // have finished, so nothing more is being published).
      if (ctx_.stopping.load(std::memory_order_acquire)) break;
      waiter.idle(ring);
    }
  }

  executor_context& ctx_;
  blocking_threads workers_;
};

}  // namespace

std::unique_ptr<executor> make_sync_executor(executor_context& ctx)
{
  return std::make_unique<sync_executor>(ctx);
}

}  // namespace gsys::detail
