// The `uring` executor: requests io_uring has an opcode for become SQEs,
// submitted in batches by one thread and completed by another, so a call
// that blocks (a socket read with no data) never stalls the rest. The others
// (lseek, mmap, munmap, getrusage, fstat, getpid, nop, ...) run inline.
#include <liburing.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "executor.h"

// ThreadSanitizer does not see that the kernel orders an SQE's submission
// before its completion, so the submitter's writes to a uring_op would look
// racy with the reaper's reads: a release after preparing each op and an
// acquire per completion tell it (TSan builds only).
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define GSYS_TSAN_RELEASE(p) __tsan_release(p)
#define GSYS_TSAN_ACQUIRE(p) __tsan_acquire(p)
#else
#define GSYS_TSAN_RELEASE(p) ((void)(p))
#define GSYS_TSAN_ACQUIRE(p) ((void)(p))
#endif

namespace gsys::detail {

namespace {

constexpr std::uint64_t kExit = ~0ull;  // user_data of the NOP that ends the reaper
constexpr std::uint64_t kCancel = ~1ull;
constexpr unsigned kBatch = 32;
// How long stop() lets in-flight calls finish (file I/O does) before it
// cancels them (a recv that may never see data).
constexpr std::uint64_t kStopGraceNs = 500'000'000ull;

// Per-slot state of a request in flight. in_flight keeps a slot's second
// queue entry (a buggy kernel queuing a slot twice) from overwriting the
// state io_uring is still using: the ring's slot is never read or CASed by
// the host (abi.h), so the executor keeps this in its own memory.
struct uring_op {
  std::atomic<bool> in_flight{false};
  request_copy q;
  std::uint64_t t0 = 0;
  msghdr msg{};
  iovec iov{};
  sockaddr_storage name{};
};

class uring_executor final : public executor {
 public:
  explicit uring_executor(executor_context& ctx) : ctx_(ctx), ring_(ctx.access()), ops_(ctx.nslots) {}
  ~uring_executor() override
  {
    ctx_.stopping.store(true, std::memory_order_release);  // also when the runtime failed to start
    std::atomic_ref<gsys_u32>(ctx_.header->stop).store(1, std::memory_order_release);
    stop();
    if (ring_ready_) io_uring_queue_exit(&uring_);
  }
  const char* name() const override { return "uring"; }
  gsys_u32 id() const override { return GSYS_EXECUTOR_URING; }

  void start() override
  {
    unsigned entries = ctx_.opt.uring_entries ? ctx_.opt.uring_entries : 256;
    int err = io_uring_queue_init(entries, &uring_, 0);
    if (err < 0) throw setup_error(std::string("genesys: io_uring_queue_init: ") + std::strerror(-err));
    ring_ready_ = true;
    cq_capacity_ = uring_.cq.ring_entries;
    ctx_.pol->protect_fd(uring_.ring_fd);
    submitter_ = std::thread([this] {
      ctx_.become_executor_thread();
      submit_loop();
    });
    reaper_ = std::thread([this] {
      ctx_.become_executor_thread();
      reap_loop();
    });
  }

  void stop() override
  {
    if (!submitter_.joinable()) return;
    wake_sleepers(ctx_.header);
    submitter_.join();  // it cancels what is in flight and sends kExit
    reaper_.join();
    // Calls still queued behind ones that never finished: refused, not
    // lost (a waiting device sees -ECANCELED; posted ones are counted).
    stats_shard& shard = ctx_.take_shard();
    for (request_copy q; ring_.pop(q); q = request_copy()) finish_call(ring_, shard, q, -ECANCELED, 0, false);
  }

 private:
  io_uring_sqe* get_sqe()
  {
    io_uring_sqe* sqe;
    while (!(sqe = io_uring_get_sqe(&uring_))) io_uring_submit(&uring_);
    return sqe;
  }

  // The calls prepare() hands to io_uring; the others run inline.
  static bool async_op(unsigned nr)
  {
    switch (nr) {
      case __NR_read:
      case __NR_write:
      case __NR_pread64:
      case __NR_pwrite64:
      case __NR_close:
      case __NR_fsync:
      case __NR_madvise:
      case __NR_sendto:
      case __NR_recvfrom:
        return true;
      default:
        return false;
    }
  }

  // What io_uring would read differently from the system call, so the
  // executors agree: a negative pread/pwrite offset means "the file
  // position" to io_uring and -EINVAL to pread(2).
  static long refused_by_syscall(const request_copy& q)
  {
    if ((q.nr == __NR_pread64 || q.nr == __NR_pwrite64) && (std::int64_t)q.arg[3] < 0) return -EINVAL;
    return 0;
  }

  // An SQE's length is 32 bits; read(2) and write(2) move at most
  // MAX_RW_COUNT (INT_MAX rounded down to a page) bytes a call anyway, so
  // clamping there keeps their result (cutting to 32 bits made 4 GiB a
  // 0-byte read).
  static unsigned rw_len(std::uint64_t n)
  {
    constexpr std::uint64_t kMaxRwCount = 0x7ffff000;
    return (unsigned)(n < kMaxRwCount ? n : kMaxRwCount);
  }

  // Prepares an SQE for an async_op() request (false for any other).
  // openat runs inline: the policy inspects the opened file before any
  // other request can use its descriptor (policy::finish).
  bool prepare(uring_op& op)
  {
    const request_copy& q = op.q;
    const int fd = (int)(std::int64_t)q.arg[0];
    io_uring_sqe* sqe = nullptr;
    switch (q.nr) {
      case __NR_read:
        sqe = get_sqe();
        io_uring_prep_read(sqe, fd, (void*)q.arg[1], rw_len(q.arg[2]), (std::uint64_t)-1);  // -1: file position
        break;
      case __NR_write:
        sqe = get_sqe();
        io_uring_prep_write(sqe, fd, (const void*)q.arg[1], rw_len(q.arg[2]), (std::uint64_t)-1);
        break;
      case __NR_pread64:
        sqe = get_sqe();
        io_uring_prep_read(sqe, fd, (void*)q.arg[1], rw_len(q.arg[2]), q.arg[3]);
        break;
      case __NR_pwrite64:
        sqe = get_sqe();
        io_uring_prep_write(sqe, fd, (const void*)q.arg[1], rw_len(q.arg[2]), q.arg[3]);
        break;
      case __NR_close:
        sqe = get_sqe();
        io_uring_prep_close(sqe, fd);
        break;
      case __NR_fsync:
        sqe = get_sqe();
        io_uring_prep_fsync(sqe, fd, 0);
        break;
      case __NR_madvise:
        sqe = get_sqe();
        io_uring_prep_madvise(sqe, (void*)q.arg[0], (off_t)q.arg[1], (int)q.arg[2]);
        break;
      case __NR_sendto:
        op.iov = {(void*)q.arg[1], (std::size_t)q.arg[2]};
        op.msg = {};
        op.msg.msg_iov = &op.iov;
        op.msg.msg_iovlen = 1;
        op.msg.msg_name = (void*)q.arg[4];  // the kernel copies and checks it
        op.msg.msg_namelen = (socklen_t)q.arg[5];
        sqe = get_sqe();
        io_uring_prep_sendmsg(sqe, fd, &op.msg, (unsigned)q.arg[3]);
        break;
      case __NR_recvfrom:
        op.iov = {(void*)q.arg[1], (std::size_t)q.arg[2]};
        op.msg = {};
        op.msg.msg_iov = &op.iov;
        op.msg.msg_iovlen = 1;
        if (q.arg[4]) {  // the source address lands here, then is copied out
          op.msg.msg_name = &op.name;
          op.msg.msg_namelen = sizeof op.name;
        }
        sqe = get_sqe();
        io_uring_prep_recvmsg(sqe, fd, &op.msg, (unsigned)q.arg[3]);
        break;
      default:
        return false;
    }
    io_uring_sqe_set_data64(sqe, q.slot);
    GSYS_TSAN_RELEASE(&op);
    return true;
  }

  // recvfrom's source address: copy into the caller's buffer, truncated to
  // its *addrlen, and write back the real length, as recvfrom(2) does.
  long finish_recvfrom(uring_op& op, long ret)
  {
    if (ret < 0 || !op.q.arg[4]) return ret;
    // op.q.addrlen is *addrlen as the policy checked it, not as it is now.
    const socklen_t cap = op.q.addrlen, real = op.msg.msg_namelen;
    if (!copy_to_process(op.q.arg[4], &op.name, cap < real ? cap : real)) return -EFAULT;
    if (!copy_to_process(op.q.arg[5], &real, sizeof real)) return -EFAULT;
    return ret;
  }

  void finish(uring_op& op, long ret, stats_shard& shard)
  {
    if (op.q.nr == __NR_recvfrom) ret = finish_recvfrom(op, ret);
    complete(op, ret, shard, false);
  }

  // Lets go of the op, then publishes DONE and counts the call: the device
  // may queue the slot again only after DONE, and its next entry must find
  // the op free, so what finish_call reads is copied out of the op first.
  void complete(uring_op& op, long ret, stats_shard& shard, bool denied)
  {
    const gsys_request q = op.q;
    const std::uint64_t t0 = op.t0;
    op.q.files.reset();  // the call has run: a replaced fixed-file table may close now
    op.in_flight.store(false, std::memory_order_release);
    finish_call(ring_, shard, q, ret, t0, denied);
  }

  void submit_loop()
  {
    stats_shard& shard = ctx_.take_shard();
    idle_waiter waiter(ctx_);
    std::uint64_t full_since = 0;  // stopping with the completion queue full: since when
    for (;;) {
      unsigned queued = 0, popped = 0;
      bool empty = false;  // the ring's queue, not the completion queue, ran dry
      while (popped < kBatch && inflight_.load(std::memory_order_acquire) < cq_capacity_) {
        request_copy q;
        if (!ring_.pop(q)) {
          empty = true;
          break;
        }
        ++popped;
        uring_op& op = ops_[q.slot];  // validated: q.slot < nslots
        if (!async_op(q.nr)) {
          // Runs here, as the sync executor runs it, without taking the op
          // (an exchange and a request copy fewer per call). Only this
          // thread takes ops, so a slot whose op is free stays free; one
          // still in flight is refused as below. acquire: as below.
          if (op.in_flight.load(std::memory_order_acquire)) {
            ring_.count_garbage();
            continue;
          }
          serve_one(ring_, *ctx_.pol, shard, waiter, q);
          continue;
        }
        // acquire: the reaper finished with this op before it let go
        if (op.in_flight.exchange(true, std::memory_order_acquire)) {
          ring_.count_garbage();
          continue;
        }
        op.q = std::move(q);
        op.t0 = monotonic_ns();
        bool denied = false;
        long err = ctx_.pol->check(op.q, denied);
        if (err == 0) err = refused_by_syscall(op.q);
        if (err == 0 && prepare(op)) {
          inflight_.fetch_add(1, std::memory_order_acq_rel);
          ++queued;
          continue;
        }
        // Denied (prepare() takes every async_op(); -ENOSYS if it did not).
        complete(op, err ? err : -ENOSYS, shard, denied);
      }
      if (queued) {
        io_uring_submit(&uring_);
        // Page-cache reads and writes usually complete inside the submit:
        // finish them here rather than wake the reaper for each.
        reap_ready(shard);
      }
      if (popped) {
        waiter.worked(ring_, false);  // io_uring runs what was submitted
        continue;
      }
      if (!empty) {
        // Full: the reaper makes room as calls finish, and the queue behind
        // keeps its turn, stopping or not (leaving it lost posted calls).
        // Calls that never finish (fire-and-forget recvs on a silent
        // socket) must not keep stop() waiting: after the grace period they
        // are cancelled below, and what is still queued is refused.
        if (ctx_.stopping.load(std::memory_order_acquire)) {
          const std::uint64_t now = monotonic_ns();
          if (!full_since) full_since = now;
          if (now - full_since > kStopGraceNs) break;
        }
        std::this_thread::yield();
        continue;
      }
      full_since = 0;
      // Only an empty queue ends the loop: the completion queue being full
      // a moment ago (the reaper may have made room since) is no reason.
      if (ctx_.stopping.load(std::memory_order_acquire)) break;
      waiter.idle(ring_);
    }
    // What is in flight gets a grace period to finish (file I/O does);
    // what is still there after it (a recv that may never see data) is
    // cancelled and completes with -ECANCELED.
    const std::uint64_t grace_end = monotonic_ns() + kStopGraceNs;
    while (inflight_.load(std::memory_order_acquire) > 0 && monotonic_ns() < grace_end)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, kCancel);
    sqe = get_sqe();
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, kExit);
    io_uring_submit(&uring_);
  }

  // Consumes the completions that are there now; the submitter and the
  // reaper both call it, one at a time (the completion queue has one head).
  // Returns whether it saw the exit marker.
  bool reap_ready(stats_shard& shard)
  {
    std::lock_guard lk(reap_mu_);
    bool exit_seen = false;
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(&uring_, &cqe) == 0 && cqe) {
      const std::uint64_t data = io_uring_cqe_get_data64(cqe);
      if (data < ops_.size()) GSYS_TSAN_ACQUIRE(&ops_[data]);
      const long res = cqe->res;
      io_uring_cqe_seen(&uring_, cqe);
      if (data == kExit) {
        exit_seen = true;
      } else if (data != kCancel && data < ops_.size()) {
        finish(ops_[data], res, shard);
        inflight_.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
    return exit_seen;
  }

  void reap_loop()
  {
    stats_shard& shard = ctx_.take_shard();
    bool exit_seen = false;
    while (!exit_seen || inflight_.load(std::memory_order_acquire) > 0) {
      // Wait without consuming, then consume under the lock.
      io_uring_cqe* cqe = nullptr;
      int err = io_uring_wait_cqe(&uring_, &cqe);
      if (err == -EINTR) continue;
      if (err < 0) break;
      if (reap_ready(shard)) exit_seen = true;
    }
  }

  executor_context& ctx_;
  ring_access ring_;
  std::vector<uring_op> ops_;
  io_uring uring_{};
  bool ring_ready_ = false;
  unsigned cq_capacity_ = 0;
  std::atomic<unsigned> inflight_{0};
  std::mutex reap_mu_;
  std::thread submitter_, reaper_;
};

}  // namespace

std::unique_ptr<executor> make_uring_executor(executor_context& ctx)
{
  return std::make_unique<uring_executor>(ctx);
}

}  // namespace gsys::detail
