#include <genesys/runtime.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
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
  if (o.staging_bytes) {
    const std::size_t c = o.staging_chunk_bytes;
    if (c < 64 || c > (std::size_t(1) << 30) || !std::has_single_bit(c))
      bad("staging_chunk_bytes must be a power of two from 64 B to 1 GiB");
    if (c > o.policy.max_io_bytes) bad("staging_chunk_bytes exceeds policy.max_io_bytes");
  }
}

// The staging arena: a claim bitmap (one bit per chunk) padded to the chunk
// alignment, then the chunks. Chunks are aligned to min(chunk, page).
struct staging_layout {
  std::size_t chunks_offset = 0;
  std::uint32_t chunks = 0;
};

staging_layout layout_staging(std::size_t bytes, std::size_t chunk)
{
  const std::size_t align = std::min<std::size_t>(chunk, 4096);
  auto head = [&](std::size_t n) { return ((n + 31) / 32 * 4 + align - 1) / align * align; };
  std::size_t n = std::min<std::size_t>(bytes / chunk, 0xffffffe0u);
  while (n && head(n) + n * chunk > bytes) --n;
  return {head(n), (std::uint32_t)n};
}

// Owns the arena's memory, so that a constructor failing after it frees it.
struct staging_arena {
  void* base = nullptr;
  std::size_t bytes = 0;
  staging_layout layout;
  staging_arena() = default;
  staging_arena(const staging_arena&) = delete;
  staging_arena& operator=(const staging_arena&) = delete;
  ~staging_arena() { detail::device_visible_free(base, bytes); }
  gsys_u32* bitmap() const { return static_cast<gsys_u32*>(base); }
  char* chunks() const { return static_cast<char*>(base) + layout.chunks_offset; }
};

}  // namespace

struct runtime::impl {
  runtime_options opt;
  detail::ring_geometry geo;
  detail::ring_memory mem;
  detail::stats_page* stats;
  detail::policy pol;
  staging_arena staging;  // outlives the executor (destroyed after it)
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
    make_staging();

    start_executor();
    std::snprintf(stats->executor, sizeof stats->executor, "%s", exec->name());
    mem.header()->executor = exec->id();

    device_base = detail::map_for_device(mem.header(), geo.ring_bytes);
    const bool gpu = detail::memory_backend_name() == "cuda";
    gsys_u32 bmin = o.device_backoff_min_ns ? o.device_backoff_min_ns : (gpu ? 64 : 200);
    gsys_u32 bmax = o.device_backoff_max_ns ? o.device_backoff_max_ns : (gpu ? 2000 : 20000);
    handle = make_ring_handle(mem.header(), device_base, bmin, bmax < bmin ? bmin : bmax);
    // Mapped memory from device_visible_alloc has one address on both sides
    // (unified addressing), as memory from runtime::alloc() does.
    if (staging.base)
      attach_staging(handle, staging.bitmap(), staging.chunks(), staging.chunks(), staging.layout.chunks,
                     (gsys_u32)opt.staging_chunk_bytes);
  }

  void make_staging()
  {
    if (!opt.staging_bytes) return;
    staging.layout = layout_staging(opt.staging_bytes, opt.staging_chunk_bytes);
    if (!staging.layout.chunks)
      throw setup_error("genesys: bad runtime option: staging_bytes (" + std::to_string(opt.staging_bytes) +
                        ") holds no chunk of staging_chunk_bytes (" + std::to_string(opt.staging_chunk_bytes) +
                        ") plus its bitmap");
    staging.base = detail::device_visible_alloc(opt.staging_bytes);
    if (!staging.base)
      throw setup_error("genesys: out of memory allocating a " + std::to_string(opt.staging_bytes) +
                        "-byte staging arena");
    staging.bytes = opt.staging_bytes;
    // Bits past the last chunk stay set, so the device never claims them.
    const std::uint32_t n = staging.layout.chunks;
    if (n % 32) staging.bitmap()[n / 32] = ~((1u << (n % 32)) - 1u);
    // Only the chunks are the executor's to read and write, not the bitmap.
    pol.allow_region((std::uintptr_t)staging.chunks(), (std::size_t)n * opt.staging_chunk_bytes);
  }

  std::uint32_t staging_busy() const
  {
    const std::uint32_t n = staging.layout.chunks;
    std::uint32_t busy = 0;
    for (std::uint32_t w = 0; w < (n + 31) / 32; ++w) {
      gsys_u32 bits = std::atomic_ref<gsys_u32>(staging.bitmap()[w]).load(std::memory_order_acquire);
      if (w == n / 32) bits &= (1u << (n % 32)) - 1u;
      busy += (std::uint32_t)std::popcount(bits);
    }
    return busy;
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

stats_snapshot runtime::stats() const
{
  stats_snapshot s = detail::summarize(*impl_->stats, impl_->mem.header());
  if (impl_->exec) impl_->exec->add_stats(s);
  return s;
}

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

std::uint32_t runtime::staging_chunks() const { return impl_->staging.layout.chunks; }
std::uint32_t runtime::staging_chunks_busy() const { return impl_->staging_busy(); }

void runtime::register_files(std::span<const int> fds)
{
  if (fds.size() > GSYS_MAX_FIXED_FILES) throw setup_error("genesys: too many fixed files");
  std::vector<int> v(fds.begin(), fds.end());
  impl_->pol.set_files(v);
  if (impl_->exec) impl_->exec->set_files(v);
}

}  // namespace gsys
