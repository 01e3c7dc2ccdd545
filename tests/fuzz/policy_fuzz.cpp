// libFuzzer harness: the host policy (libgenesys/policy.cpp) against an
// oracle written here from the op table's argument kinds and what the
// kernel then does with each argument.
//
// The input picks the policy's options (confine_memory on or off, kernel
// mappings trusted or not, allow-list, max_io_bytes), registers regions in a
// real arena (so a path or a socklen the oracle reads is real memory),
// protects fds, registers fixed files, and then sends request copies whose
// arguments point into, around and far from the regions and the mappings
// earlier mmap results made. For every request check() accepts, the oracle
// asserts:
//  - the opcode is in the allow-list; the flags are known; a fixed file is
//    the first argument of an op that takes a file there (not close), and
//    its index was translated to the table's copy of the registered file;
//  - no fd argument is one the executor protects or a copy the fixed-file
//    table holds (but through its index); no mmap asks for MAP_FIXED;
//  - munmap and madvise ranges lie in mappings the GPU made (unless the
//    kernel module vouches for them), accounting every earlier mmap and
//    munmap result;
//  - byte counts are within max_io_bytes and buffers below the user top;
//  - with confine_memory on, every byte the kernel would read or write lies
//    in the registered regions: buffers (length from the next argument),
//    the whole path up to its NUL, a sockaddr up to the length *addrlen
//    says (at most sizeof(sockaddr_storage)), socklen, stat and rusage;
//    and a path argument is replaced by the policy's copy of the string it
//    checked (request_copy::paths), every other argument left as it was.
// And for every request: the result is 0 or one of the documented errnos,
// and `denied` is set exactly for -EPERM.
#include "policy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "op_table.h"

#include "input_reader.h"
#include "report.h"

using gsys::detail::policy;
using gsys::detail::request_copy;

namespace {

constexpr std::uint64_t kPage = 4096;
// No user address reaches this, whatever the paging mode (5-level: 2^56).
constexpr std::uint64_t kUserTop = 1ull << 57;
constexpr std::size_t kArenaBytes = 64 * 1024;
constexpr std::size_t kMapPages = 256;  // where the GPU's mmap results land


// The arenas: real memory with an inaccessible page on each side, so that
// the policy reading past what it was given is a crash, not a silent pass.
// Regions are carved from `base`; the GPU's mappings from `maps`, whose
// pages are accessible only while mapped.
struct arena {
  char* base = nullptr;
  char* maps = nullptr;
  arena()
  {
    void* p = mmap(nullptr, kArenaBytes + 2 * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    base = static_cast<char*>(p) + kPage;
    if (mprotect(base, kArenaBytes, PROT_READ | PROT_WRITE)) std::abort();
    p = mmap(nullptr, (kMapPages + 2) * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    maps = static_cast<char*>(p) + kPage;
  }
  void set_mapped(std::uint64_t lo, std::uint64_t hi, bool on)
  {
    if (mprotect(reinterpret_cast<void*>(lo), hi - lo, on ? PROT_READ | PROT_WRITE : PROT_NONE)) std::abort();
    if (on) std::memset(reinterpret_cast<void*>(lo), 0, hi - lo);  // fresh anonymous pages
  }
  void unmap_all() { mprotect(maps, kMapPages * kPage, PROT_NONE); }
};

arena& the_arena()
{
  static arena a;
  return a;
}

// A set of byte intervals [lo, hi), kept disjoint and merged.
struct interval_set {
  std::map<std::uint64_t, std::uint64_t> iv;  // lo -> hi

  void add(std::uint64_t lo, std::uint64_t hi)
  {
    if (lo >= hi) return;
    auto it = iv.upper_bound(lo);
    if (it != iv.begin() && std::prev(it)->second >= lo) --it;
    while (it != iv.end() && it->first <= hi) {
      lo = std::min(lo, it->first);
      hi = std::max(hi, it->second);
      it = iv.erase(it);
    }
    iv[lo] = hi;
  }
  void remove(std::uint64_t lo, std::uint64_t hi)
  {
    if (lo >= hi) return;
    auto it = iv.upper_bound(lo);
    if (it != iv.begin()) --it;
    while (it != iv.end() && it->first < hi) {
      const std::uint64_t s = it->first, e = it->second;
      if (e <= lo) {
        ++it;
        continue;
      }
      it = iv.erase(it);
      if (s < lo) iv[s] = lo;
      if (e > hi) {
        iv[hi] = e;
        break;
      }
    }
  }
  // Whether [lo, lo + n) lies inside the set (n may be 0: true).
  bool covers(std::uint64_t lo, std::uint64_t n) const
  {
    if (n == 0) return true;
    const unsigned __int128 hi = (unsigned __int128)lo + n;
    auto it = iv.upper_bound(lo);
    if (it == iv.begin()) return false;
    --it;
    return it->first <= lo && (unsigned __int128)it->second >= hi;
  }
  bool overlaps(std::uint64_t lo, std::uint64_t hi) const
  {
    auto it = iv.lower_bound(hi);
    if (it == iv.begin()) return false;
    --it;
    return it->second > lo;
  }
};

[[noreturn]] void oracle_fail(const request_copy& q, const char* what)
{
  const gsys::detail::op_info* op = gsys::detail::find_op(q.nr);
  std::fprintf(report(), "policy_fuzz: accepted %s (nr %u, flags %#x) args %#llx %#llx %#llx %#llx %#llx %#llx: %s\n",
               op ? op->name : "raw", q.nr, q.flags, (unsigned long long)q.arg[0], (unsigned long long)q.arg[1],
               (unsigned long long)q.arg[2], (unsigned long long)q.arg[3], (unsigned long long)q.arg[4],
               (unsigned long long)q.arg[5], what);
  std::abort();
}

struct world {
  bool confine = false;
  bool kernel_mappings = false;
  std::uint64_t max_io = 0;
  std::set<long> allowed;               // empty: the op table
  std::map<std::uint64_t, std::uint64_t> regions;  // start -> length, as registered
  std::set<int> protected_fds;
  std::vector<int> files;  // as registered (-1: a hole)
  std::shared_ptr<const gsys::detail::fixed_files> table;
  std::set<int> table_copies;  // the table's descriptors: genesys's own, like protected_fds
  interval_set mapped;                  // what the GPU's mmaps made and munmaps left

  // Memory the GPU was given: the registered regions and its own mappings.
  interval_set given_set() const
  {
    interval_set s = mapped;
    for (auto [p, n] : regions) s.add(p, p + n);
    return s;
  }
  bool is_allowed(unsigned nr) const
  {
    if (allowed.empty()) return gsys::detail::find_op(nr) != nullptr;
    return allowed.count((long)nr) != 0;
  }
};

// A region given again at the same start keeps the larger length (runtime.h
// allow_region; it once replaced it, shrinking what an allocation had given).
void give(world& w, std::uint64_t p, std::uint64_t n)
{
  std::uint64_t& len = w.regions[p];
  len = std::max(len, n);
}

// Every byte the kernel may touch through argument i of an accepted call.
void check_memory(const world& w, const interval_set& given, const request_copy& q, int i, unsigned kind)
{
  const std::uint64_t v = q.arg[i];
  const std::uint64_t next = i + 1 < GSYS_SLOT_ARGS ? q.arg[i + 1] : 0;
  auto need = [&](std::uint64_t p, std::uint64_t n, const char* what) {
    if (n == 0) return;
    if ((unsigned __int128)p + n > kUserTop) oracle_fail(q, "a buffer reaches past the user address space");
    if (w.confine && !given.covers(p, n)) oracle_fail(q, what);
  };
  switch (kind) {
    case GSYS_A_BUF_IN:
    case GSYS_A_BUF_OUT:
      if (next > w.max_io) oracle_fail(q, "a buffer longer than max_io_bytes");
      if (v == 0 && next) oracle_fail(q, "a NULL buffer with a length");
      need(v, next, "buffer outside the memory given");
      break;
    case GSYS_A_PATH: {
      if (v == 0) oracle_fail(q, "a NULL path");
      need(v, 1, "path outside the memory given");
      if (!w.confine) break;
      // The kernel reads up to the NUL (PATH_MAX at most): all of it must be in the regions.
      for (std::uint64_t k = 0;; ++k) {
        if (k == PATH_MAX) break;
        if (!given.covers(v + k, 1)) oracle_fail(q, "the path runs past the memory given before its NUL");
        if (*reinterpret_cast<const char*>(v + k) == '\0') break;
      }
      break;
    }
    case GSYS_A_SOCKADDR_IN:
      if (v) need(v, next, "sockaddr outside the memory given");
      break;
    case GSYS_A_SOCKADDR_OUT: {
      if (!v) break;
      if (!next) oracle_fail(q, "a sockaddr to fill without its length");
      need(next, sizeof(socklen_t), "addrlen outside the memory given");
      if (!w.confine) break;
      // The kernel writes min(*addrlen, the address's size) bytes.
      socklen_t len;
      std::memcpy(&len, reinterpret_cast<const void*>(next), sizeof len);
      if ((int)len < 0) break;  // the kernel refuses it (-EINVAL)
      need(v, std::min<std::uint64_t>(len, sizeof(sockaddr_storage)), "the sockaddr *addrlen allows reaches past the memory given");
      break;
    }
    case GSYS_A_SOCKLEN_PTR:
      if (v) need(v, sizeof(socklen_t), "socklen outside the memory given");
      break;
    case GSYS_A_STAT_OUT: need(v, sizeof(struct stat), "stat buffer outside the memory given"); break;
    case GSYS_A_RUSAGE_OUT: need(v, sizeof(struct rusage), "rusage buffer outside the memory given"); break;
    default: break;
  }
}

void check_accepted(const world& w, const request_copy& before, const request_copy& q)
{
  if (!w.is_allowed(q.nr)) oracle_fail(q, "opcode not in the allow-list");
  if (q.flags & ~GSYS_SLOT_F_KNOWN) oracle_fail(q, "unknown slot flags");
  const bool fixed = q.flags & GSYS_SLOT_F_FIXED_FILE;
  const gsys::detail::op_info* op = gsys::detail::find_op(q.nr);
  if (fixed) {
    if (!op || op->arg[0] != GSYS_A_FD || q.nr == __NR_close) oracle_fail(q, "a fixed file on an op that takes no file first");
    if (before.arg[0] >= w.files.size() || w.files[before.arg[0]] < 0)
      oracle_fail(q, "a fixed-file index that is not registered");
    // The table's own copy of the registered file, held by the call.
    if (q.arg[0] != (std::uint64_t)w.table->at(before.arg[0]) || q.files != w.table)
      oracle_fail(q, "fixed-file index not translated to the table's file");
  }
  for (int i = fixed ? 1 : 0; i < GSYS_SLOT_ARGS; ++i) {
    if (op && op->arg[i] == GSYS_A_PATH && w.confine) {
      // Confined, the call gets the path as checked: a copy in q, equal to
      // the GPU's string up to its NUL, never the GPU's memory again.
      const auto* copy = reinterpret_cast<const char*>(q.arg[i]);
      if (copy != q.paths[0].data() && copy != q.paths[1].data())
        oracle_fail(q, "a confined path argument that is not the checked copy");
      if (std::strcmp(copy, reinterpret_cast<const char*>(before.arg[i])) != 0)
        oracle_fail(q, "the checked copy of a path differs from the GPU's string");
      continue;
    }
    if (q.arg[i] != before.arg[i]) oracle_fail(q, "check() changed an argument");
  }

  if (!op) return;  // a raw syscall the host allowed by number: its arguments are the host's business
  const interval_set regions = w.given_set();
  for (int i = 0; i < GSYS_SLOT_ARGS; ++i) {
    // A path is judged where the GPU had it, not where its copy is.
    const std::uint64_t v = op->arg[i] == GSYS_A_PATH ? before.arg[i] : q.arg[i];
    const std::uint64_t next = i + 1 < GSYS_SLOT_ARGS ? q.arg[i + 1] : 0;
    const int fd = (int)(std::int64_t)v;
    switch (op->arg[i]) {
      case GSYS_A_FD:
      case GSYS_A_FD_OPT:
      case GSYS_A_DIRFD:
        if (i == 0 && fixed) break;  // the table's copy, checked above (a number the fuzzer's fake protection may share)
        if (fd >= 0 && w.protected_fds.count(fd)) oracle_fail(q, "an fd the executor protects");
        if (w.table_copies.count(fd)) oracle_fail(q, "the fixed-file table's copy used by number");
        if (fd < 0 && !(op->arg[i] == GSYS_A_FD_OPT && fd == -1) && !(op->arg[i] == GSYS_A_DIRFD && fd == AT_FDCWD))
          oracle_fail(q, "a negative fd");
        break;
      case GSYS_A_LEN:
        if (v > w.max_io) oracle_fail(q, "a length over max_io_bytes");
        break;
      case GSYS_A_MAP_HINT:
        if (q.arg[3] & MAP_FIXED) oracle_fail(q, "MAP_FIXED");
        break;
      case GSYS_A_MAPPING: {
        if (v % kPage) oracle_fail(q, "an unaligned mapping address");
        const std::uint64_t n = (next + kPage - 1) / kPage * kPage;  // the kernel rounds the length up
        if (!w.kernel_mappings && (next + kPage - 1 < next || !w.mapped.covers(v, n)))
          oracle_fail(q, "a range that is not (all) a mapping the GPU made");
        break;
      }
      default: check_memory(w, regions, op->arg[i] == GSYS_A_PATH ? before : q, i, op->arg[i]); break;
    }
  }
}

// An address near something the input cares about.
std::uint64_t pick_value(reader& in, const world& w, const std::vector<std::uint64_t>& prev)
{
  const std::uint8_t sel = in.u8();
  const std::int64_t delta = (std::int8_t)in.u8();
  const char* base = the_arena().base;
  auto nth_region = [&](unsigned k) -> std::pair<std::uint64_t, std::uint64_t> {
    if (w.regions.empty()) return {(std::uint64_t)base, kArenaBytes};
    auto it = w.regions.begin();
    std::advance(it, k % w.regions.size());
    return *it;
  };
  switch (sel % 12) {
    case 0: return nth_region(sel >> 4).first + delta;                             // region start
    case 1: { auto [p, n] = nth_region(sel >> 4); return p + n + delta; }          // region end
    case 2: return (std::uint64_t)base + in.u16() % (kArenaBytes + 2 * kPage) - kPage;  // in or near the arena
    case 3: {                                                                       // a mapping's start or end
      if (w.mapped.iv.empty()) return (std::uint64_t)the_arena().maps + (std::uint64_t)(delta & 15) * kPage;
      auto it = w.mapped.iv.begin();
      std::advance(it, (sel >> 4) % w.mapped.iv.size());
      return ((sel & 0x80) ? it->second : it->first) + (std::uint64_t)(std::int64_t)(delta / 16) * kPage;
    }
    case 4: return in.u64();
    case 5: {
      static const std::uint64_t special[] = {0, 1, kUserTop - 1, kUserTop, 1ull << 56, ~0ull, ~0ull - kPage + 1,
                                              (std::uint64_t)(std::int64_t)AT_FDCWD, (std::uint64_t)-1ll,
                                              kPage, 1ull << 30, (1ull << 30) + 1, ~0ull / 2};
      return special[(std::uint8_t)delta % (sizeof special / sizeof special[0])];
    }
    case 6: return (std::uint64_t)(sel >> 4);  // a small int: fds, flags, file indices
    case 7: {                                   // a length: to the end of a region from the previous argument
      auto [p, n] = nth_region(sel >> 4);
      const std::uint64_t from = prev.empty() ? p : prev.back();
      return p + n - from + delta;
    }
    case 8: return (std::uint64_t)delta & 0xff;  // a small length
    case 9: return (std::uint64_t)in.u16();      // a medium length
    case 10: {                                   // a length relative to a mapping
      if (w.mapped.iv.empty()) return kPage * (std::uint64_t)(delta & 7);
      auto it = w.mapped.iv.begin();
      std::advance(it, (sel >> 4) % w.mapped.iv.size());
      const std::uint64_t from = prev.empty() ? it->first : prev.back();
      return it->second - from + (std::uint64_t)(delta / 16) * kPage + (std::uint64_t)(delta & 1);
    }
    default: return prev.empty() ? 0 : prev.back() + delta;
  }
}

// The call ran: hands its result back (policy::finish, or note_result in
// the older interface), as an executor does.
template <class P>
void call_ran(P& pol, const request_copy& q, long ret)
{
  if constexpr (requires(P& p, bool& d) { p.finish(q, ret, d); }) {
    bool denied = false;
    (void)pol.finish(q, ret, denied);
  } else {
    pol.note_result(q, ret);
  }
}

unsigned pick_nr(reader& in)
{
  const std::uint8_t sel = in.u8();
  if (sel < 0xe0) return (unsigned)gsys::detail::kOps[sel % gsys::detail::kOps.size()].nr;
  static const unsigned other[] = {GSYS_NR_NOP, GSYS_NR_MAX, __NR_getppid, __NR_kill, __NR_mprotect, __NR_mremap};
  if (sel < 0xf0) return other[sel % (sizeof other / sizeof other[0])];
  return in.u16();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
  reader in{data, size};
  char* const base = the_arena().base;
  the_arena().unmap_all();
  world w;

  const std::uint8_t cfg = in.u8();
  w.confine = cfg & 1;
  w.kernel_mappings = cfg & 2;
  static const std::uint64_t max_io[] = {std::size_t(1) << 30, 4096, 0, ~std::size_t(0)};
  w.max_io = max_io[(cfg >> 2) & 3];
  gsys::policy_options o;
  o.confine_memory = w.confine;
  o.max_io_bytes = w.max_io;
  if (cfg & 0x10) {  // an explicit allow-list: some table ops, maybe raw syscalls and the private NOP
    const std::uint16_t bits = in.u16();
    for (std::size_t i = 0; i < gsys::detail::kOps.size() && i < 16; ++i)
      if (bits >> i & 1) o.allow.push_back(gsys::detail::kOps[i].nr);
    if (cfg & 0x20) o.allow.push_back(__NR_getppid);
    if (cfg & 0x40) o.allow.push_back(GSYS_NR_NOP);
    if (o.allow.empty()) o.allow.push_back(__NR_getpid);
    w.allowed.insert(o.allow.begin(), o.allow.end());
  }
  policy pol(o);
  if (w.kernel_mappings) pol.trust_kernel_mappings();

  // The arena's bytes: a fill, then NULs (path ends) and small words (socklens) here and there.
  std::memset(base, 'a' + (cfg >> 4), kArenaBytes);
  for (unsigned i = 0, n = in.u8() % 16; i < n; ++i) {
    const std::uint16_t at = in.u16() % (kArenaBytes - 4);
    const std::uint32_t v = in.u8();
    std::memcpy(base + at, &v, 4);
  }

  for (unsigned i = 0, n = in.u8() % 5; i < n; ++i) {
    const std::uint64_t off = in.u16() % kArenaBytes;
    const std::uint64_t len = 1 + in.u16() % (kArenaBytes - off);
    pol.allow_region((std::uintptr_t)(base + off), len);
    give(w, (std::uint64_t)(base + off), len);
  }
  for (unsigned i = 0, n = in.u8() % 3; i < n; ++i) {
    const int fd = 3 + in.u8() % 13;
    pol.protect_fd(fd);
    w.protected_fds.insert(fd);
  }
  // Fixed files must be open: a few descriptors of /dev/null, or holes.
  static const int open_files[4] = {::open("/dev/null", O_RDONLY), ::open("/dev/null", O_RDONLY),
                                    ::open("/dev/null", O_RDONLY), ::open("/dev/null", O_RDONLY)};
  for (unsigned i = 0, n = in.u8() % 5; i < n; ++i) {
    const unsigned pick = in.u8() % 5;
    int fd = pick ? open_files[pick - 1] : -1;
    if (w.protected_fds.count(fd)) fd = -1;  // the host never registers the executor's own fds
    w.files.push_back(fd);
  }
  if (!w.files.empty()) w.table = gsys::detail::fixed_files::open(w.files);
  for (std::size_t i = 0; i < w.files.size(); ++i)
    if (w.table->at(i) >= 0) w.table_copies.insert(w.table->at(i));
  pol.set_files(w.table);

  for (unsigned ops = 0; ops < 512 && !in.empty(); ++ops) {
    const std::uint8_t op = in.u8();
    if (op >= 0xf8) {  // the host changes its regions
      const std::uint64_t off = in.u16() % kArenaBytes;
      if (op & 1) {
        const std::uint64_t len = 1 + in.u16() % (kArenaBytes - off);
        pol.allow_region((std::uintptr_t)(base + off), len);
        give(w, (std::uint64_t)(base + off), len);
      } else if (!w.regions.empty()) {
        auto it = w.regions.begin();
        std::advance(it, off % w.regions.size());
        pol.forget_region((std::uintptr_t)it->first);
        w.regions.erase(it);
      }
      continue;
    }
    if (op >= 0xf0) {  // the GPU rewrites arena bytes between calls
      const std::uint16_t at = in.u16() % (kArenaBytes - 4);
      const std::uint32_t v = in.u8();
      std::memcpy(base + at, &v, 4);
      continue;
    }
    request_copy q{};
    q.slot = op;
    q.nr = (std::uint16_t)pick_nr(in);
    static const std::uint16_t flags[] = {0, GSYS_SLOT_F_NONBLOCK, GSYS_SLOT_F_FIXED_FILE,
                                          GSYS_SLOT_F_FIXED_FILE | (GSYS_GRAN_WARP << GSYS_SLOT_F_GRAN_SHIFT),
                                          GSYS_GRAN_GRID << GSYS_SLOT_F_GRAN_SHIFT, 0x8000};
    const std::uint8_t fsel = in.u8();
    q.flags = fsel < 0xf0 ? flags[fsel % (sizeof flags / sizeof flags[0])] : in.u16();
    std::vector<std::uint64_t> prev;
    for (int i = 0; i < GSYS_SLOT_ARGS; ++i) {
      q.arg[i] = pick_value(in, w, prev);
      prev.push_back(q.arg[i]);
    }
    const request_copy before = q;
    bool denied = true;
    const long r = pol.check(q, denied);
    if (r != 0 && r != -EPERM && r != -EFAULT && r != -EINVAL && r != -EBADF && r != -ENAMETOOLONG) {
      std::fprintf(report(), "policy_fuzz: check returned %ld\n", r);
      std::abort();
    }
    if (denied != (r == -EPERM)) {
      std::fprintf(report(), "policy_fuzz: denied=%d with result %ld\n", (int)denied, r);
      std::abort();
    }
    if (r != 0) continue;
    check_accepted(w, before, q);

    // The call ran; results that change what later calls may touch.
    if (q.nr == __NR_mmap) {
      // Where the kernel would put it: free address space the input picks.
      const std::uint64_t len = (q.arg[1] + kPage - 1) / kPage * kPage;
      if (len == 0 || len < q.arg[1]) continue;  // the kernel refuses it
      if (len > kMapPages * kPage) continue;     // (here: no room; -ENOMEM)
      const std::uint64_t at = (std::uint64_t)the_arena().maps + in.u8() % (kMapPages - len / kPage + 1) * kPage;
      if (w.mapped.overlaps(at, at + len)) continue;  // not free: the kernel would pick elsewhere
      call_ran(pol, q, (long)at);
      w.mapped.add(at, at + len);
      the_arena().set_mapped(at, at + len, true);
    } else if (q.nr == __NR_munmap) {
      const std::uint64_t len = (q.arg[1] + kPage - 1) / kPage * kPage;
      if (q.arg[1] == 0 || len < q.arg[1] || q.arg[0] + len < q.arg[0] || q.arg[0] + len > kUserTop)
        continue;  // -EINVAL from the kernel
      call_ran(pol, q, 0);
      w.mapped.remove(q.arg[0], q.arg[0] + len);
      const std::uint64_t lo = std::max(q.arg[0], (std::uint64_t)the_arena().maps);
      const std::uint64_t hi = std::min(q.arg[0] + len, (std::uint64_t)the_arena().maps + kMapPages * kPage);
      if (lo < hi) the_arena().set_mapped(lo, hi, false);
    } else if (q.nr == __NR_openat) {
      call_ran(pol, q, -ENOENT);  // a real fd could be closed by the policy: not this harness's business
    } else {
      call_ran(pol, q, (long)(std::int64_t)in.u64());
    }
  }
  return 0;
}
