// The simulator's link-cost model (docs/simulator.md, "Link-cost model").
//
// On a GPU, ring memory is host memory reached over PCIe: a device load or
// atomic there is a round trip (non-posted, ~1 µs), a device store is
// posted (the GPU does not wait for it). The simulator's device threads
// reach every address at the cost of a cache miss, so this model counts
// what a GPU would pay:
//
//  - a registry of host-memory ranges (the ring, runtime::alloc blocks, the
//    staging arena) and device-memory ranges (the ring's device part),
//    filled by libgenesys (runtime.cpp); any other address is device/local
//    memory and costs nothing here;
//  - per simulated device thread, the device library's accesses to host
//    memory (the gsys::detail helpers of atomic.h): non-posted loads,
//    non-posted atomics, posted stores and completion polls (poll_acquire),
//    and the non-posted operations made before the first completion poll
//    since the thread's last link_reset();
//  - protocol errors: a host word read-modify-written by the device (an
//    atomic through the helpers) and by the host executor (GSYS_X_CAS in
//    libgenesys/ring_access.h), over PCIe not atomic between the two sides
//    (abi.h); and a host word the device accessed with device scope (a
//    helper told home::device), whose order the executors would not see.
//    The model prints the first one to stderr, counts every such word once,
//    and aborts with GSYS_SIM_LINK_ABORT=1.
//
// Header-only registry: libgenesys (which must not depend on genesys_sim)
// and the simulator share it through inline variables. Counting per device
// thread needs the simulator's scheduler and lives in genesys_sim
// (device/sim/link_model.cpp). Lookups are lock-free (a seqlock over a
// sorted array of ranges, and a per-OS-thread cache of the last answer);
// registration takes a mutex.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace gsys::sim {

// What a GPU would pay, counted per simulated device thread.
struct link_counters {
  std::uint64_t nonposted_loads = 0;    // loads of host memory (completion polls apart)
  std::uint64_t nonposted_atomics = 0;  // atomics on host memory
  std::uint64_t posted_stores = 0;      // stores to host memory
  std::uint64_t completion_polls = 0;   // poll_acquire loads of host memory
  // Non-posted loads and atomics made before the first completion poll
  // since the last link_reset(): the round trips a call pays on its way in.
  std::uint64_t nonposted_before_poll = 0;

  // Every round trip: loads, atomics and polls.
  constexpr std::uint64_t nonposted() const { return nonposted_loads + nonposted_atomics + completion_polls; }
};

// Device side (genesys_sim, device/sim/link_model.cpp). Outside a kernel:
// zeros and no-ops.
link_counters link_now();  // the calling simulated thread's counters
void link_reset();         // zeroes them

enum class link_memory : std::uint8_t { local = 0, host = 1, device = 2 };
// device_scope: any access the device library makes to a word it says lives
// in device memory (atomic.h); only checked, never counted.
enum class link_access : std::uint8_t { load, poll, store, rmw, device_scope };

namespace link_detail {

// Called by the gsys::detail helpers (atomic.h, GSYS_LINK) for every access
// they make while the model is on (link_enabled(), tested there).
void note_device(const void* p, std::size_t size, link_access a);

constexpr unsigned kMaxRanges = 256;
constexpr std::uintptr_t kGranule = 4;  // shadow resolution: an 8-byte word is two granules
constexpr std::uint8_t kDeviceRmw = 1, kHostRmw = 2, kReported = 4, kScopeReported = 8;

struct range {
  std::atomic<std::uintptr_t> begin{0};
  std::atomic<std::uintptr_t> end{0};
  std::atomic<std::uint8_t*> shadow{nullptr};  // one byte per granule, allocated at the first RMW
  std::atomic<std::uint8_t> kind{0};
};

struct found {
  std::uintptr_t begin = 0, end = 0;
  std::uint8_t* shadow = nullptr;
  link_memory kind = link_memory::local;
};

struct registry {
  std::atomic<std::uint32_t> seq{0};    // odd while a writer changes the table
  std::atomic<std::uint32_t> count{0};  // ranges [0, count) in use, sorted by begin
  range ranges[kMaxRanges];
  std::mutex mu;  // writers
  std::atomic<std::uint64_t> errors{0};
  std::atomic<bool> error_reported{false};
  std::atomic<bool> overflow_reported{false};
};

inline registry g_registry;
inline std::atomic<bool> g_enabled{true};  // link_enable()

// Each OS thread's last answer: the range (or the gap between ranges) that
// held the address, valid while the table's sequence number is unchanged.
// Most accesses hit it (a call touches the ring, then the device part).
struct lookup_cache {
  std::uint32_t seq = 1;  // odd: never equal to a stable sequence number
  std::uintptr_t lo = 0, hi = 0;
  found f;
};
inline thread_local lookup_cache t_lookup_cache;

inline found lookup(std::uintptr_t a)
{
  registry& g = g_registry;
  lookup_cache& c = t_lookup_cache;
  if (g.seq.load(std::memory_order_acquire) == c.seq && a - c.lo < c.hi - c.lo) return c.f;
  for (;;) {
    const std::uint32_t s = g.seq.load(std::memory_order_acquire);
    if (s & 1u) continue;  // a writer is moving entries (a few stores)
    std::uint32_t lo = 0, hi = g.count.load(std::memory_order_relaxed);
    if (hi > kMaxRanges) hi = kMaxRanges;
    const std::uint32_t n = hi;
    while (lo < hi) {  // the first range that begins after a
      const std::uint32_t mid = (lo + hi) / 2;
      if (g.ranges[mid].begin.load(std::memory_order_relaxed) <= a) lo = mid + 1;
      else hi = mid;
    }
    found f;
    std::uintptr_t from = 0, to = UINTPTR_MAX;  // the gap around a, if no range holds it
    if (lo > 0) {
      const range& r = g.ranges[lo - 1];
      const std::uintptr_t end = r.end.load(std::memory_order_relaxed);
      if (a < end) {
        f.begin = r.begin.load(std::memory_order_relaxed);
        f.end = end;
        f.shadow = r.shadow.load(std::memory_order_acquire);
        f.kind = (link_memory)r.kind.load(std::memory_order_relaxed);
        from = f.begin;
        to = end;
      } else {
        from = end;
      }
    }
    if (f.kind == link_memory::local && lo < n) to = g.ranges[lo].begin.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (g.seq.load(std::memory_order_relaxed) != s) continue;
    c = {s, from, to, f};
    return f;
  }
}

// Seqlock writer side; the caller holds g.mu.
inline void write_begin(registry& g)
{
  g.seq.store(g.seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
}
inline void write_end(registry& g) { g.seq.store(g.seq.load(std::memory_order_relaxed) + 1, std::memory_order_release); }

inline std::size_t shadow_bytes(std::uintptr_t begin, std::uintptr_t end) { return (end - begin) / kGranule + 1; }

inline void copy_range(range& to, const range& from)
{
  to.begin.store(from.begin.load(std::memory_order_relaxed), std::memory_order_relaxed);
  to.end.store(from.end.load(std::memory_order_relaxed), std::memory_order_relaxed);
  to.shadow.store(from.shadow.load(std::memory_order_relaxed), std::memory_order_relaxed);
  to.kind.store(from.kind.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

// Removes entry i (caller: g.mu held, inside write_begin/write_end) and
// returns its shadow, to unmap after write_end.
inline std::uint8_t* remove_at(registry& g, std::uint32_t i, std::uintptr_t& shadow_len)
{
  range& r = g.ranges[i];
  std::uint8_t* sh = r.shadow.load(std::memory_order_relaxed);
  shadow_len = shadow_bytes(r.begin.load(std::memory_order_relaxed), r.end.load(std::memory_order_relaxed));
  const std::uint32_t n = g.count.load(std::memory_order_relaxed);
  for (std::uint32_t j = i; j + 1 < n; ++j) copy_range(g.ranges[j], g.ranges[j + 1]);
  g.count.store(n - 1, std::memory_order_relaxed);
  return sh;
}

// The first protocol error is printed; each offending word is counted once.
inline void report_error(std::uintptr_t word, const char* what)
{
  registry& g = g_registry;
  g.errors.fetch_add(1, std::memory_order_relaxed);
  if (!g.error_reported.exchange(true))
    std::fprintf(stderr, "genesys sim: protocol error: host word 0x%lx %s\n", (unsigned long)word, what);
  const char* a = std::getenv("GSYS_SIM_LINK_ABORT");
  if (a && *a && *a != '0') std::abort();
}

// The shadow of the range holding a (allocated on first use); null when
// the range went away or memory ran out.
inline std::uint8_t* shadow_of(std::uintptr_t a)
{
  registry& g = g_registry;
  std::lock_guard lk(g.mu);
  const std::uint32_t n = g.count.load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < n; ++i) {
    range& r = g.ranges[i];
    const std::uintptr_t b = r.begin.load(std::memory_order_relaxed), e = r.end.load(std::memory_order_relaxed);
    if (a < b || a >= e) continue;
    std::uint8_t* sh = r.shadow.load(std::memory_order_relaxed);
    if (!sh) {
      // Zero pages, committed only where an RMW lands.
      void* m = mmap(nullptr, shadow_bytes(b, e), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
      if (m == MAP_FAILED) return nullptr;
      sh = static_cast<std::uint8_t*>(m);
      r.shadow.store(sh, std::memory_order_release);
      // Nothing moved, but lookups cached without the shadow must look again.
      g.seq.store(g.seq.load(std::memory_order_relaxed) + 2, std::memory_order_release);
    }
    return sh;
  }
  return nullptr;
}

// Marks the words of [a, a + size) in host range f as read-modify-written
// by `side`; a word marked by both sides is a protocol error.
inline void note_rmw(const found& f, std::uintptr_t a, std::size_t size, std::uint8_t side)
{
  std::uint8_t* sh = f.shadow ? f.shadow : shadow_of(a);
  if (!sh) return;
  std::uintptr_t last = a + (size ? size : 1) - 1;
  if (last >= f.end) last = f.end - 1;
  bool both = false;
  const std::uintptr_t first = (a - f.begin) / kGranule;
  for (std::uintptr_t w = first; w <= (last - f.begin) / kGranule; ++w) {
    std::atomic_ref<std::uint8_t> m(sh[w]);
    std::uint8_t cur = m.load(std::memory_order_relaxed);
    if (!(cur & side)) cur = (std::uint8_t)(m.fetch_or(side, std::memory_order_relaxed) | side);
    both |= (cur & (kDeviceRmw | kHostRmw)) == (kDeviceRmw | kHostRmw);
  }
  // One error per word: the claim is made on the access's first granule
  // only. (Claiming each granule let two racing accesses to an 8-byte word
  // each win one of its two granules, and the word was counted twice.)
  if (both && !(std::atomic_ref<std::uint8_t>(sh[first]).fetch_or(kReported, std::memory_order_relaxed) & kReported))
    report_error(a, "read-modify-written by both the device and the host");
}

// A device-scope access to host memory (a) is an error once per word.
inline void note_device_scope(const found& f, std::uintptr_t a)
{
  std::uint8_t* sh = f.shadow ? f.shadow : shadow_of(a);
  if (!sh) return;
  std::atomic_ref<std::uint8_t> m(sh[(a - f.begin) / kGranule]);
  if (!(m.fetch_or(kScopeReported, std::memory_order_relaxed) & kScopeReported))
    report_error(a, "accessed by the device with device scope (a word the device library says is in device memory)");
}

}  // namespace link_detail

// Registers [base, base + bytes) as host or device memory (libgenesys does,
// for the simulator's runtimes). A range overlapping registered ones
// replaces them. Past link_detail::kMaxRanges ranges, further ones are not
// modeled (said once on stderr).
inline void link_register(const void* base, std::size_t bytes, link_memory kind)
{
  using namespace link_detail;
  if (!base || !bytes || kind == link_memory::local) return;
  registry& g = g_registry;
  const std::uintptr_t b = (std::uintptr_t)base, e = b + bytes;
  std::uint8_t* drop[kMaxRanges];
  std::uintptr_t drop_len[kMaxRanges];
  unsigned ndrop = 0;
  {
    std::lock_guard lk(g.mu);
    write_begin(g);
    for (std::uint32_t i = 0; i < g.count.load(std::memory_order_relaxed);) {
      const range& r = g.ranges[i];
      if (r.begin.load(std::memory_order_relaxed) < e && b < r.end.load(std::memory_order_relaxed)) {
        std::uintptr_t len = 0;
        if (std::uint8_t* sh = remove_at(g, i, len)) {
          drop[ndrop] = sh;
          drop_len[ndrop++] = len;
        }
      } else {
        ++i;
      }
    }
    const std::uint32_t n = g.count.load(std::memory_order_relaxed);
    if (n == kMaxRanges) {
      write_end(g);
      if (!g.overflow_reported.exchange(true))
        std::fprintf(stderr, "genesys sim: link model: more than %u memory ranges registered; the rest are not modeled\n",
                     kMaxRanges);
    } else {
      std::uint32_t i = n;
      while (i > 0 && g.ranges[i - 1].begin.load(std::memory_order_relaxed) > b) {
        copy_range(g.ranges[i], g.ranges[i - 1]);
        --i;
      }
      range& r = g.ranges[i];
      r.begin.store(b, std::memory_order_relaxed);
      r.end.store(e, std::memory_order_relaxed);
      r.shadow.store(nullptr, std::memory_order_relaxed);
      r.kind.store((std::uint8_t)kind, std::memory_order_relaxed);
      g.count.store(n + 1, std::memory_order_relaxed);
      write_end(g);
    }
  }
  for (unsigned i = 0; i < ndrop; ++i) munmap(drop[i], drop_len[i]);
}

// Forgets the range registered at base (before its memory is freed).
inline void link_unregister(const void* base)
{
  using namespace link_detail;
  registry& g = g_registry;
  std::uint8_t* sh = nullptr;
  std::uintptr_t len = 0;
  {
    std::lock_guard lk(g.mu);
    const std::uint32_t n = g.count.load(std::memory_order_relaxed);
    for (std::uint32_t i = 0; i < n; ++i) {
      if (g.ranges[i].begin.load(std::memory_order_relaxed) != (std::uintptr_t)base) continue;
      write_begin(g);
      sh = remove_at(g, i, len);
      write_end(g);
      break;
    }
  }
  if (sh) munmap(sh, len);
}

// Turns the whole model on or off, process-wide; it is on by default. Off,
// nothing is counted or checked. gsys-ring-bench times its loops with it off
// and counts in a pass of its own: the model's bookkeeping (~30 ns per
// thread-level call on the build VM) is the simulator's cost, not the
// ring's. Set it while no kernel runs.
inline void link_enable(bool on) { link_detail::g_enabled.store(on, std::memory_order_relaxed); }
inline bool link_enabled() { return link_detail::g_enabled.load(std::memory_order_relaxed); }

// What the model takes the memory at p for.
inline link_memory link_classify(const void* p) { return link_detail::lookup((std::uintptr_t)p).kind; }

// Host side: the executor read-modify-writes the word at p (GSYS_X_CAS).
inline void link_note_host_rmw(const volatile void* p, std::size_t size)
{
  using namespace link_detail;
  if (g_registry.count.load(std::memory_order_relaxed) == 0) return;  // a GPU runtime registers nothing
  if (!link_enabled()) return;
  const std::uintptr_t a = (std::uintptr_t)p;
  const found f = lookup(a);
  if (f.kind == link_memory::host) note_rmw(f, a, size, kHostRmw);
}

// Host words read-modify-written by both sides so far, each counted once.
inline std::uint64_t link_protocol_errors() { return link_detail::g_registry.errors.load(std::memory_order_relaxed); }

}  // namespace gsys::sim
