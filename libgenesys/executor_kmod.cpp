// The `kmod` executor: threads that sit in genesys.ko's SERVE ioctl, so the
// GPU's requests run inside the kernel in this process's context, with no
// system call entry per request. What the module does not run natively it
// takes off the queue and hands over as the copy it validated (the
// fall-back array; SERVE returns after the batch that met one); those run
// here, from the copy, through the same policy and path as the userspace
// executors, so `kmod` supports every operation.
//
// Policy split: the module enforces the allow-list (the bitmap registered
// with the ring), the length cap, the executor's own descriptors and the
// forbidden files. With policy.confine_memory the ring is registered
// GSYS_RING_F_CONFINE and the module gets the runtime's regions
// (GSYS_IOC_REGION, kept exact through policy::watch_regions), so it refuses
// pointers outside them as the userspace policy does; a fall-back it hands
// over was checked already (request_copy::kernel_checked).
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "executor.h"

namespace gsys::detail {

namespace {

constexpr unsigned kFallbackMax = 64;
// SERVE returns after this long without requests so a thread notices a
// failed ioctl state or a stop that raced its last check; cheap either way.
constexpr std::uint64_t kServeIdleNs = 100'000'000;

std::string errno_text(int e) { return std::strerror(e); }

class kmod_executor final : public executor {
 public:
  explicit kmod_executor(executor_context& ctx) : ctx_(ctx) {}
  ~kmod_executor() override
  {
    ctx_.stopping.store(true, std::memory_order_release);  // also when the runtime failed to start
    std::atomic_ref<gsys_u32>(ctx_.header->stop).store(1, std::memory_order_release);
    stop();
    if (confined_) ctx_.pol->watch_regions(nullptr);  // before fd_ (the watcher's) closes
    if (fd_ >= 0) ::close(fd_);
  }
  const char* name() const override { return "kmod"; }
  gsys_u32 id() const override { return GSYS_EXECUTOR_KMOD; }

  void start() override
  {
    fd_ = ::open("/dev/genesys", O_RDWR | O_CLOEXEC);
    if (fd_ < 0) {
      const int e = errno;
      if (e == ENOENT || e == ENODEV || e == ENXIO)
        throw setup_error("genesys: /dev/genesys not found: genesys.ko is not loaded (README: Loading the kernel module)");
      throw setup_error("genesys: cannot open /dev/genesys: " + errno_text(e));
    }
    ctx_.pol->protect_fd(fd_);
    confined_ = ctx_.opt.policy.confine_memory;
    if (confined_) give_regions();
    register_ring();
    ctx_.pol->trust_kernel_mappings();
    if (!files_.empty()) push_files(files_);
    threads_.start(ctx_.opt.workers ? ctx_.opt.workers : 1, [this] {
      ctx_.become_executor_thread();
      run();
    });
  }

  void stop() override
  {
    if (threads_.empty()) return;
    // The runtime set header->stop: SERVE returns within one nap (<= 1 ms).
    // A thread blocked in a call the kernel runs (a socket read) is
    // interrupted with the executor signal, as in `sync`.
    threads_.join(nullptr);
    // SERVE leaves the queue as it is once `stop` is set; kernels have
    // finished, so what is queued now is all there is: run it here.
    ring_access ring = ctx_.access();
    stats_shard& shard = ctx_.take_shard();
    idle_waiter waiter(ctx_);
    for (request_copy q; ring.pop(q); q = request_copy()) serve_one(ring, *ctx_.pol, shard, waiter, q);
    if (::ioctl(fd_, GSYS_IOC_UNREGISTER) != 0)
      std::fprintf(stderr, "genesys: kmod: unregister failed: %s\n", errno_text(errno).c_str());
  }

  void set_files(const std::vector<int>& fds) override
  {
    if (fd_ >= 0) push_files(fds);
    files_ = fds;  // after the module took it: a refused table is not pushed again at start
  }

  // The module's per-operation counts of the calls it ran. A module that
  // cannot give them (older ABI: -EINVAL for ops_ptr; another ops.h: a
  // different count) leaves summarize()'s "in-kernel" estimate in place.
  void add_stats(stats_snapshot& s) const override
  {
    if (fd_ < 0) return;
    gsys_ioc_op_stats ops[kOpSlots] = {};
    gsys_ioc_stats a{};
    a.size = sizeof a;
    a.ops_ptr = reinterpret_cast<std::uintptr_t>(ops);
    a.ops_count = kOpSlots;
    if (::ioctl(fd_, GSYS_IOC_STATS, &a) != 0 || a.ops_count != kOpSlots) return;
    add_op_counts(s, ops);
  }

 private:
  void register_ring()
  {
    std::vector<std::uint8_t> allow((GSYS_NR_MAX + 1) / 8, 0);
    const auto& bits = ctx_.pol->allow_bits();
    for (unsigned nr = 0; nr <= GSYS_NR_MAX; ++nr)
      if (bits[nr]) allow[nr / 8] |= std::uint8_t(1u << (nr % 8));
    gsys_ioc_register_ring a{};
    a.size = sizeof a;
    a.abi_version = GSYS_ABI_VERSION;
    a.ring_addr = reinterpret_cast<std::uintptr_t>(ctx_.header);
    a.ring_bytes = gsys_ring_bytes(ctx_.nslots, ctx_.sq_entries);
    a.allow_ptr = reinterpret_cast<std::uintptr_t>(allow.data());
    a.max_io_bytes = ctx_.opt.policy.max_io_bytes;  // the module caps transfers as the policy does
    if (confined_) a.flags = GSYS_RING_F_CONFINE;
    if (::ioctl(fd_, GSYS_IOC_REGISTER_RING, &a) != 0) {
      const int e = errno;
      std::string why = "genesys.ko refused the ring: " + errno_text(e);
      if (e == EINVAL) why += " (is the module built from the same ABI version, " + std::to_string(GSYS_ABI_VERSION) + "?)";
      throw setup_error(why);
    }
  }

  // The runtime's regions now and from now on, into the module's copy.
  void give_regions()
  {
    ctx_.pol->watch_regions([fd = fd_](std::uintptr_t p, std::size_t n, bool added) {
      gsys_ioc_region a{};
      a.size = sizeof a;
      a.op = added ? GSYS_REGION_ADD : GSYS_REGION_REMOVE;
      a.addr = p;
      a.len = n;
      if (::ioctl(fd, GSYS_IOC_REGION, &a) == 0) return;
      const int e = errno;
      if (e == ENOTTY)
        throw setup_error("genesys.ko is too old to confine memory (no GSYS_IOC_REGION): rebuild and reload it "
                          "(make kmod-install), or set policy.confine_memory = false");
      if (!added) {  // free() must not throw; the module keeps a stale region, which is only wider
        std::fprintf(stderr, "genesys: kmod: cannot remove a region from genesys.ko: %s\n", errno_text(e).c_str());
        return;
      }
      throw setup_error("genesys.ko refused a memory region: " + errno_text(e) +
                        (e == ENOSPC ? " (more than " + std::to_string(GSYS_MAX_REGIONS) + " regions)" : std::string()));
    });
  }

  void push_files(const std::vector<int>& fds)
  {
    gsys_ioc_register_files a{};
    a.size = sizeof a;
    a.count = (gsys_u32)fds.size();
    a.fds_ptr = reinterpret_cast<std::uintptr_t>(fds.data());
    if (::ioctl(fd_, GSYS_IOC_REGISTER_FILES, &a) != 0)
      throw setup_error("genesys.ko refused the fixed-file table: " + errno_text(errno));
  }

  void run()
  {
    stats_shard& shard = ctx_.take_shard();
    ring_access ring = ctx_.access();
    idle_waiter waiter(ctx_);
    std::vector<gsys_request> fallback(kFallbackMax);
    gsys_ioc_serve a{};
    a.size = sizeof a;
    a.idle_timeout_ns = kServeIdleNs;
    a.spin_ns = (std::uint64_t)ctx_.opt.spin.count();
    a.fallback_ptr = reinterpret_cast<std::uintptr_t>(fallback.data());
    a.fallback_max = kFallbackMax;
    bool broken = false;
    while (!ctx_.stopping.load(std::memory_order_acquire)) {
      if (broken) {
        // SERVE failed for a reason other than a signal: keep the ring
        // moving from userspace rather than lose requests.
        request_copy q;
        if (ring.pop(q)) {
          serve_one(ring, *ctx_.pol, shard, waiter, q);
        } else {
          waiter.idle(ring);
        }
        continue;
      }
      a.fallback_count = 0;
      a.completed = 0;
      const int r = ::ioctl(fd_, GSYS_IOC_SERVE, &a);
      const int e = r == 0 ? 0 : errno;
      const unsigned nfb = a.fallback_count < kFallbackMax ? a.fallback_count : kFallbackMax;
      for (unsigned i = 0; i < nfb; ++i) {
        request_copy q(fallback[i]);
        q.kernel_checked = confined_;
        serve_fallback(ring, *ctx_.pol, shard, q);
      }
      if (e && e != EINTR) {
        std::fprintf(stderr, "genesys: kmod: SERVE failed (%s); serving this thread's share from userspace\n",
                     errno_text(e).c_str());
        broken = true;
      }
    }
  }

  executor_context& ctx_;
  int fd_ = -1;
  bool confined_ = false;
  std::vector<int> files_;
  blocking_threads threads_;
};

}  // namespace

std::unique_ptr<executor> make_kmod_executor(executor_context& ctx)
{
  return std::make_unique<kmod_executor>(ctx);
}

}  // namespace gsys::detail
