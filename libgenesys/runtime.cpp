#include <genesys/runtime.h>
#include <genesys/sim/link_model.h>

#include <fcntl.h>
#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
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

bool io_uring_available()
{
  io_uring_params p{};
  long fd = ::syscall(__NR_io_uring_setup, 1, &p);
  if (fd < 0) return false;
  ::close((int)fd);
  return true;
}

namespace {

// Whether `node` is an online NUMA node: listed in
// /sys/devices/system/node/online ("0-3,5"); without that directory (no
// NUMA support) node 0 alone. mbind takes a 64-bit mask: nodes up to 63.
bool numa_node_online(int node)
{
  if (node < 0 || node >= 64) return false;
  std::FILE* f = std::fopen("/sys/devices/system/node/online", "re");
  if (!f) return node == 0 && access("/sys/devices/system/node", F_OK) != 0;
  char list[256] = {};
  const bool read = std::fgets(list, sizeof list, f) != nullptr;
  std::fclose(f);
  for (const char* p = list; read;) {
    char* end;
    const long lo = std::strtol(p, &end, 10);
    if (end == p) break;
    long hi = lo;
    if (*end == '-') hi = std::strtol(end + 1, &end, 10);
    if (node >= lo && node <= hi) return true;
    if (*end != ',') break;
    p = end + 1;
  }
  return false;
}

void validate(const runtime_options& o)
{
  auto bad = [](const std::string& what) { throw setup_error("genesys: bad runtime option: " + what); };
  if (o.workers == 0 || o.workers > 64) bad("workers must be 1..64");
  if (o.timeout.count() <= 0) bad("timeout must be positive");
  if (o.spin.count() < 0) bad("spin must not be negative");
  if (o.idle_nap_max.count() < 20 || o.idle_nap_max > std::chrono::seconds(1))
    bad("idle_nap_max must be between 20 us and 1 s");
  if (o.uring_entries == 0 || o.uring_entries > 32768 || (o.uring_entries & (o.uring_entries - 1)))
    bad("uring_entries must be a power of two up to 32768");
  if (o.device_backoff_max_ns && o.device_backoff_min_ns > o.device_backoff_max_ns)
    bad("device_backoff_min_ns > device_backoff_max_ns");
  if (o.numa_node != -1 && !numa_node_online(o.numa_node))
    bad("numa_node " + std::to_string(o.numa_node) + " is not an online NUMA node (-1: the local one)");
  if (o.staging_bytes) {
    const std::size_t c = o.staging_chunk_bytes;
    if (c < 64 || c > (std::size_t(1) << 30) || !std::has_single_bit(c))
      bad("staging_chunk_bytes must be a power of two from 64 B to 1 GiB");
    if (c > o.policy.max_io_bytes) bad("staging_chunk_bytes exceeds policy.max_io_bytes");
  }
}

// The options as the runtime uses them: GENESYS_PUBLISH in the environment
// (1/true/yes/on) turns publishing on for every ring of this process, and
// options() says so. 0/false/no/off or unset leave the program's choice.
runtime_options with_environment(runtime_options o)
{
  const char* v = std::getenv("GENESYS_PUBLISH");
  if (!v || !*v) return o;
  const std::string s = v;
  if (s == "1" || s == "true" || s == "yes" || s == "on")
    o.publish = true;
  else if (s != "0" && s != "false" && s != "no" && s != "off")
    throw setup_error("genesys: GENESYS_PUBLISH must be 1, true, yes or on (or 0, false, no, off), got '" + s + "'");
  return o;
}

// The staging arena: chunks in host memory, aligned to min(chunk, page);
// their claim bits are in the ring's device part.
std::uint32_t staging_chunks_for(std::size_t bytes, std::size_t chunk)
{
  return (std::uint32_t)std::min<std::size_t>(bytes / chunk, 0xffffffe0u);
}

// Owns a piece of memory, so that a constructor failing after it frees it.
struct owned_memory {
  void* base = nullptr;
  std::size_t bytes = 0;
  void (*release)(void*, std::size_t) = nullptr;
  owned_memory() = default;
  owned_memory(const owned_memory&) = delete;
  owned_memory& operator=(const owned_memory&) = delete;
  ~owned_memory()
  {
    if (base) release(base, bytes);
  }
};

// The ring's device part as it starts: counters zero, no slot claimed or
// parked, no chunk quarantined, staging bits past the last chunk set for good.
std::vector<unsigned char> device_part_image(gsys_u32 nslots, gsys_u32 chunks)
{
  std::vector<unsigned char> img(gsys_dev_bytes(nslots, chunks), 0);
  auto* d = reinterpret_cast<gsys_ring_device*>(img.data());
  d->nslots = nslots;
  d->staging_chunks = chunks;
  auto* slot_chunk = reinterpret_cast<gsys_u32*>(img.data() + gsys_dev_slot_chunk_offset(nslots));
  std::fill(slot_chunk, slot_chunk + nslots, GSYS_NO_CHUNK);
  auto* staging = reinterpret_cast<gsys_u32*>(img.data() + gsys_dev_staging_offset(nslots));
  if (chunks % 32) staging[chunks / 32] = ~((1u << (chunks % 32)) - 1u);
  return img;
}

}  // namespace

struct runtime::impl {
  runtime_options opt;
  detail::ring_geometry geo;
  detail::ring_memory mem;
  detail::stats_page* stats;
  detail::policy pol;
  detail::sandbox box;  // before the executor, which applies it on each of its threads
  owned_memory staging;  // chunks; outlive the executor (destroyed after it)
  std::uint32_t staging_chunks = 0;
  owned_memory device_part;  // the ring's device memory (abi.h)
  detail::executor_context ctx;
  std::unique_ptr<detail::executor> exec;
  executor_kind kind = executor_kind::sync;
  void* device_base = nullptr;
  gsys::ring handle;
  bool link_model = false;  // simulator: ranges registered with the link-cost model
  std::mutex mu;
  std::map<void*, std::size_t> allocations;
  const pid_t owner = getpid();  // a forked child's copy is not its to tear down

  explicit impl(const runtime_options& o)
      : opt(with_environment(o)),
        geo(detail::geometry_for(o.slots)),
        mem(geo, sizeof(detail::stats_page), o.numa_node, opt.publish),
        stats(static_cast<detail::stats_page*>(mem.extra())),
        pol(o.policy),
        box(pol, o)
  {
    if (box.ruleset_fd() >= 0) pol.protect_fd(box.ruleset_fd());
    if (o.staging_bytes) staging_chunks = staging_chunks_for(o.staging_bytes, o.staging_chunk_bytes);
    detail::init_ring(mem.header(), geo, (gsys_u64)o.timeout.count(), gsys_dev_bytes(geo.nslots, staging_chunks));
    stats->magic = detail::kStatsMagic;
    stats->version = detail::kStatsVersion;
    stats->pid = (std::uint32_t)getpid();
    stats->ring_bytes = geo.ring_bytes;
    stats->start_ns = detail::monotonic_ns();
    ctx.header = mem.header();
    ctx.nslots = geo.nslots;
    ctx.sq_entries = geo.sq_entries;
    ctx.timeout_ns = (gsys_u64)o.timeout.count();
    ctx.pol = &pol;
    ctx.box = &box;
    ctx.stats = stats;
    ctx.opt = opt;
    make_staging();
    make_device_part();

    start_executor();
    std::snprintf(stats->executor, sizeof stats->executor, "%s", exec->name());
    mem.header()->executor = exec->id();

    device_base = detail::map_for_device(mem.header(), geo.ring_bytes);
    const bool gpu = detail::memory_backend_name() == "cuda";
    gsys_u32 bmin = o.device_backoff_min_ns ? o.device_backoff_min_ns : (gpu ? 64 : 100);
    gsys_u32 bmax = o.device_backoff_max_ns ? o.device_backoff_max_ns : (gpu ? 2000 : 20000);
    // A GPU thread's poll is a PCIe round trip: spin briefly there. The
    // simulator's device threads poll for as long as the executor spins.
    const gsys_u32 bspin = o.device_spin_ns ? o.device_spin_ns : (gpu ? 4000 : 50000);
    handle = make_ring_handle(mem.header(), device_base, device(), bmin, bmax < bmin ? bmin : bmax, bspin);
    // Mapped memory from device_visible_alloc has one address on both sides
    // (unified addressing), as memory from runtime::alloc() does.
    if (staging.base)
      attach_staging(handle, staging.base, staging.base, staging_chunks, (gsys_u32)opt.staging_chunk_bytes);
    // The simulator's link-cost model (device/genesys/sim/link_model.h):
    // what a GPU reaches over the link, and what is its own memory.
    link_model = !gpu;
    if (link_model) {
      sim::link_register(mem.header(), geo.ring_bytes, sim::link_memory::host);
      sim::link_register(staging.base, staging.bytes, sim::link_memory::host);
      sim::link_register(device_part.base, device_part.bytes, sim::link_memory::device);
    }
  }

  gsys_ring_device* device() const { return static_cast<gsys_ring_device*>(device_part.base); }

  void make_device_part()
  {
    const std::vector<unsigned char> img = device_part_image(geo.nslots, staging_chunks);
    device_part.base = detail::device_only_alloc(img.size());
    if (!device_part.base)
      throw setup_error("genesys: out of device memory for the ring's device part (" + std::to_string(img.size()) +
                        " bytes)");
    device_part.bytes = img.size();
    device_part.release = detail::device_only_free;
    detail::device_upload(device_part.base, img.data(), img.size());
  }

  // A snapshot of the device part, for statistics.
  std::vector<unsigned char> device_snapshot() const
  {
    std::vector<unsigned char> img(device_part.bytes);
    detail::device_download(img.data(), device_part.base, img.size());
    return img;
  }

  void make_staging()
  {
    if (!opt.staging_bytes) return;
    if (!staging_chunks)
      throw setup_error("genesys: bad runtime option: staging_bytes (" + std::to_string(opt.staging_bytes) +
                        ") holds no chunk of staging_chunk_bytes (" + std::to_string(opt.staging_chunk_bytes) + ")");
    const std::size_t bytes = (std::size_t)staging_chunks * opt.staging_chunk_bytes;
    staging.base = detail::device_visible_alloc(bytes);
    if (!staging.base)
      throw setup_error("genesys: out of memory allocating a " + std::to_string(bytes) + "-byte staging arena");
    staging.bytes = bytes;
    staging.release = detail::device_visible_free;
    pol.allow_region((std::uintptr_t)staging.base, bytes);
  }

  // Staging chunks held, in a snapshot of the device part (device_snapshot()).
  std::uint32_t staging_busy(const std::vector<unsigned char>& img) const
  {
    const auto* bits = reinterpret_cast<const gsys_u32*>(img.data() + gsys_dev_staging_offset(geo.nslots));
    const std::uint32_t n = staging_chunks;
    std::uint32_t busy = 0;
    for (std::uint32_t w = 0; w < (n + 31) / 32; ++w) {
      gsys_u32 b = bits[w];
      if (w == n / 32) b &= (1u << (n % 32)) - 1u;
      busy += (std::uint32_t)std::popcount(b);
    }
    return busy;
  }

  void start_executor()
  {
    if (opt.executor != executor_kind::automatic) return start(opt.executor);
    // Automatic: kmod where the module is loaded, else io_uring where
    // io_uring_setup works (gVisor and many containers' seccomp profiles
    // refuse it), else sync, chosen without a word (`genesys info` shows
    // it: a line on stderr from every program broke gsys-grep's and
    // gsys-wc's parity with grep and wc there). One that is there but does
    // not start is said, and the next is tried: kmod, uring, sync.
    executor_kind k = kmod_available() ? executor_kind::kmod
                      : io_uring_available() ? executor_kind::uring
                                             : executor_kind::sync;
    for (;;) {
      try {
        return start(k);
      } catch (const setup_error& e) {
        if (k == executor_kind::sync) throw;
        const executor_kind next =
            k == executor_kind::kmod && io_uring_available() ? executor_kind::uring : executor_kind::sync;
        std::fprintf(stderr, "genesys: %s executor unavailable (%s); using %s\n", to_string(k), e.what(),
                     to_string(next));
        k = next;
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
    if (link_model) {
      sim::link_unregister(mem.header());
      sim::link_unregister(staging.base);
      sim::link_unregister(device_part.base);
      for (auto& [p, n] : allocations) sim::link_unregister(p);
    }
    detail::unmap_for_device(mem.header());
    for (auto& [p, n] : allocations) detail::device_visible_free(p, n);
  }
};

runtime::runtime(runtime_options options)
{
  validate(options);
  impl_ = std::make_unique<impl>(options);
}

runtime::~runtime()
{
  // A forked child holds a copy of the runtime but none of its threads, and
  // shares a published ring with the parent: stopping it (the ring's stop
  // word), waiting for its threads or removing its name would hang the
  // child or break the parent's ring. The child leaves it all to the
  // parent, and its own memory to its exit.
  if (impl_ && impl_->owner != getpid()) (void)impl_.release();
}

gsys::ring runtime::ring() const { return impl_->handle; }
executor_kind runtime::executor() const { return impl_->kind; }
const runtime_options& runtime::options() const { return impl_->opt; }
std::string runtime::shm_name() const { return impl_->mem.shm_name(); }

stats_snapshot runtime::stats() const
{
  stats_snapshot s = detail::summarize(*impl_->stats, impl_->mem.header(), impl_->geo.nslots, impl_->geo.sq_entries);
  if (impl_->exec) impl_->exec->add_stats(s);
  const std::vector<unsigned char> d = impl_->device_snapshot();
  s.timeouts = reinterpret_cast<const gsys_ring_device*>(d.data())->timeouts;
  return s;
}

void* runtime::alloc(std::size_t bytes)
{
  void* p = detail::device_visible_alloc(bytes);
  if (!p) throw setup_error("genesys: out of memory allocating " + std::to_string(bytes) + " device-visible bytes");
  std::lock_guard lk(impl_->mu);
  try {
    impl_->pol.allow_region((std::uintptr_t)p, bytes);  // may throw: genesys.ko refused the region
  } catch (...) {
    detail::device_visible_free(p, bytes);
    throw;
  }
  impl_->allocations[p] = bytes;
  if (impl_->link_model) sim::link_register(p, bytes, sim::link_memory::host);
  return p;
}

void runtime::free(void* p)
{
  if (!p) return;
  std::lock_guard lk(impl_->mu);
  auto it = impl_->allocations.find(p);
  if (it == impl_->allocations.end()) {
    // A double free or a wrong pointer: ignoring it hid the mistake.
    char addr[32];
    std::snprintf(addr, sizeof addr, "%p", p);
    throw std::invalid_argument(std::string("genesys: runtime::free(") + addr +
                                "): not a pointer this runtime's alloc() returned, or already freed");
  }
  impl_->pol.forget_region((std::uintptr_t)p);
  if (impl_->link_model) sim::link_unregister(p);
  detail::device_visible_free(p, it->second);
  impl_->allocations.erase(it);
}

void runtime::allow_region(const void* p, std::size_t bytes)
{
  impl_->pol.allow_region((std::uintptr_t)p, bytes);
}

std::uint32_t runtime::staging_chunks() const { return impl_->staging_chunks; }

ring_usage runtime::usage() const
{
  const std::vector<unsigned char> d = impl_->device_snapshot();
  const gsys_u32 n = impl_->geo.nslots;
  const auto* dev = reinterpret_cast<const gsys_ring_device*>(d.data());
  const auto* claim = reinterpret_cast<const gsys_u32*>(d.data() + gsys_dev_claim_offset());
  const auto* pending = reinterpret_cast<const gsys_u32*>(d.data() + gsys_dev_pending_offset(n));
  const gsys_ring_header* h = impl_->mem.header();
  const auto* slots = reinterpret_cast<const gsys_slot*>(reinterpret_cast<const char*>(h) + gsys_ring_slots_offset());
  ring_usage u;
  for (gsys_u32 w = 0; w < n / 32; ++w) {
    u.claimed += (std::uint32_t)std::popcount(claim[w]);
    u.parked += (std::uint32_t)std::popcount(pending[w] & claim[w]);
    for (gsys_u32 b = pending[w] & claim[w]; b; b &= b - 1) {
      const gsys_u32 i = w * 32 + (gsys_u32)std::countr_zero(b);
      if (GSYS_SLOT_FINISHED(__atomic_load_n(&slots[i].state, __ATOMIC_ACQUIRE)))
        ++u.parked_done;
    }
  }
  u.reserved = dev->sq_tail;
  u.consumed = __atomic_load_n(&h->sq_head, __ATOMIC_ACQUIRE);
  u.staging_busy = impl_->staging_busy(d);
  u.timeouts = dev->timeouts;
  return u;
}
std::uint32_t runtime::staging_chunks_busy() const
{
  return impl_->staging_chunks ? impl_->staging_busy(impl_->device_snapshot()) : 0;
}

void runtime::register_files(std::span<const int> fds)
{
  // Checked and duplicated first, then given to genesys.ko: a refusal by
  // either leaves the table as it was.
  std::shared_ptr<const detail::fixed_files> table = fds.empty() ? nullptr : detail::fixed_files::open(fds);
  if (impl_->exec) impl_->exec->set_files(std::vector<int>(fds.begin(), fds.end()));
  impl_->pol.set_files(std::move(table));
}

}  // namespace gsys
