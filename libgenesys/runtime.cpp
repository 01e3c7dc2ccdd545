#include <genesys/runtime.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>

#include "executor.h"
#include "memory.h"
#include "ring_memory.h"

namespace gsys {

const char* to_string(executor_kind k)
{
  switch (k) {
    case executor_kind::automatic: return "auto";
    case executor_kind::sync: return "sync";
    case executor_kind::uring: return "uring";
    case executor_kind::kmod: return "kmod";
  }
  return "?";
}

std::optional<executor_kind> parse_executor(std::string_view name)
{
  if (name == "auto") return executor_kind::automatic;
  if (name == "sync") return executor_kind::sync;
  if (name == "uring") return executor_kind::uring;
  if (name == "kmod") return executor_kind::kmod;
  return std::nullopt;
}

bool kmod_available()
{
  int fd = ::open("/dev/genesys", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

namespace {

void validate(const runtime_options& o)
{
  auto bad = [](const std::string& what) { throw setup_error("genesys: bad runtime option: " + what); };
  if (o.workers == 0 || o.workers > 64) bad("workers must be 1..64");
  if (o.timeout.count() <= 0) bad("timeout must be positive");
  if (o.spin.count() < 0) bad("spin must not be negative");
  if (o.uring_entries == 0 || o.uring_entries > 32768 || (o.uring_entries & (o.uring_entries - 1)))
    bad("uring_entries must be a power of two up to 32768");
  if (o.device_backoff_max_ns && o.device_backoff_min_ns > o.device_backoff_max_ns)
    bad("device_backoff_min_ns > device_backoff_max_ns");
}

}  // namespace

struct runtime::impl {
  runtime_options opt;
  detail::ring_geometry geo;
  detail::ring_memory mem;
  detail::stats_page* stats;
  detail::policy pol;
  detail::executor_context ctx;
  std::unique_ptr<detail::executor> exec;
  executor_kind kind = executor_kind::sync;
  void* device_base = nullptr;
  gsys::ring handle;
  std::mutex mu;
  std::map<void*, std::size_t> allocations;

  explicit impl(const runtime_options& o)
      : opt(o),
        geo(detail::geometry_for(o.slots)),
        mem(geo, sizeof(detail::stats_page), o.numa_node, o.publish),
        stats(static_cast<detail::stats_page*>(mem.extra())),
        pol(o.policy)
  {
    detail::init_ring(mem.header(), geo, (gsys_u64)o.timeout.count());
    stats->magic = detail::kStatsMagic;
    stats->version = detail::kStatsVersion;
    stats->pid = (std::uint32_t)getpid();
    stats->ring_bytes = geo.ring_bytes;
    stats->start_ns = detail::monotonic_ns();
    ctx.header = mem.header();
    ctx.pol = &pol;
    ctx.stats = stats;
    ctx.opt = o;

    start_executor();
    std::snprintf(stats->executor, sizeof stats->executor, "%s", exec->name());
    mem.header()->executor = exec->id();

    device_base = detail::map_for_device(mem.header(), geo.ring_bytes);
    const bool gpu = detail::memory_backend_name() == "cuda";
    gsys_u32 bmin = o.device_backoff_min_ns ? o.device_backoff_min_ns : (gpu ? 64 : 200);
    gsys_u32 bmax = o.device_backoff_max_ns ? o.device_backoff_max_ns : (gpu ? 2000 : 20000);
    handle = make_ring_handle(mem.header(), device_base, bmin, bmax < bmin ? bmin : bmax);
  }

  void start_executor()
  {
    executor_kind want = opt.executor;
    if (want == executor_kind::automatic)
      want = kmod_available() && !opt.policy.confine_memory ? executor_kind::kmod : executor_kind::uring;
    try {
      start(want);
    } catch (const setup_error& e) {
      if (opt.executor != executor_kind::automatic) throw;
      // Automatic choice: a missing module or a disabled io_uring (seccomp,
      // sysctl kernel.io_uring_disabled) is not fatal; say so and go on.
      executor_kind next = want == executor_kind::kmod ? executor_kind::uring : executor_kind::sync;
      std::fprintf(stderr, "genesys: %s executor unavailable (%s); using %s\n", to_string(want), e.what(),
                   to_string(next));
      try {
        start(next);
      } catch (const setup_error&) {
        if (next == executor_kind::sync) throw;
        std::fprintf(stderr, "genesys: uring executor unavailable too; using sync\n");
        start(executor_kind::sync);
      }
    }
  }

  void start(executor_kind k)
  {
    ctx.stopping = false;
    switch (k) {
      case executor_kind::sync: exec = detail::make_sync_executor(ctx); break;
      case executor_kind::uring: exec = detail::make_uring_executor(ctx); break;
      case executor_kind::kmod: exec = detail::make_kmod_executor(ctx); break;
      default: throw setup_error("genesys: no executor chosen");
    }
    try {
      exec->start();
    } catch (...) {
      ctx.stopping = true;
      exec.reset();
      throw;
    }
    kind = k;
  }

  ~impl()
  {
    ctx.stopping.store(true, std::memory_order_release);
    std::atomic_ref<gsys_u32>(mem.header()->stop).store(1, std::memory_order_release);
    if (exec) exec->stop();
    exec.reset();
    detail::unmap_for_device(mem.header());
    for (auto& [p, n] : allocations) detail::device_visible_free(p, n);
  }
};

runtime::runtime(runtime_options options)
{
  validate(options);
  impl_ = std::make_unique<impl>(options);
}

runtime::~runtime() = default;

gsys::ring runtime::ring() const { return impl_->handle; }
executor_kind runtime::executor() const { return impl_->kind; }
const runtime_options& runtime::options() const { return impl_->opt; }
std::string runtime::shm_name() const { return impl_->mem.shm_name(); }

stats_snapshot runtime::stats() const { return detail::summarize(*impl_->stats, impl_->mem.header()); }

void* runtime::alloc(std::size_t bytes)
{
  void* p = detail::device_visible_alloc(bytes);
  if (!p) throw setup_error("genesys: out of memory allocating " + std::to_string(bytes) + " device-visible bytes");
  std::lock_guard lk(impl_->mu);
  impl_->allocations[p] = bytes;
  impl_->pol.allow_region((std::uintptr_t)p, bytes);
  return p;
}

void runtime::free(void* p)
{
  if (!p) return;
  std::lock_guard lk(impl_->mu);
  auto it = impl_->allocations.find(p);
  if (it == impl_->allocations.end()) return;
  impl_->pol.forget_region((std::uintptr_t)p);
  detail::device_visible_free(p, it->second);
  impl_->allocations.erase(it);
}

void runtime::allow_region(const void* p, std::size_t bytes)
{
  impl_->pol.allow_region((std::uintptr_t)p, bytes);
}

void runtime::register_files(std::span<const int> fds)
{
  if (fds.size() > GSYS_MAX_FIXED_FILES) throw setup_error("genesys: too many fixed files");
  std::vector<int> v(fds.begin(), fds.end());
  impl_->pol.set_files(v);
  if (impl_->exec) impl_->exec->set_files(v);
}

}  // namespace gsys
