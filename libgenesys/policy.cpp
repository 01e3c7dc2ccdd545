#include "policy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <linux/magic.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "op_table.h"
// The default allow-list, generated from docs/syscalls.md's table
// (tools/syscalls). The runtime libraries must have it (GSYS_SYSCALL_TABLE);
// tests/fuzz compiles this file alone, where every supported operation is
// allowed: the same set, as the generator refuses a supported operation
// the table judges unsuitable.
#if defined(GSYS_SYSCALL_TABLE) || __has_include("syscall_allow.h")
#include "syscall_allow.h"
#else
namespace gsys::detail {
constexpr bool default_allowed(std::string_view) { return true; }
}  // namespace gsys::detail
#endif

namespace gsys {

// The op table's calls that docs/syscalls.md judges a GPU may make:
// syscall_allow.h is generated from the same table as that file.
std::vector<long> default_allow()
{
  std::vector<long> v;
  for (const detail::op_info& op : detail::kOps)
    if (detail::default_allowed(op.name)) v.push_back((long)op.nr);
  return v;
}

}  // namespace gsys

namespace gsys::detail {

namespace {

constexpr std::uint64_t kPage = 4096;

// The end of [p, p + n), clamped where it would wrap.
std::uint64_t end_of(std::uint64_t p, std::uint64_t n) { return n > UINT64_MAX - p ? UINT64_MAX : p + n; }

}  // namespace

bool copy_from_process(void* dst, std::uint64_t src, std::size_t n)
{
  iovec local{dst, n}, remote{(void*)src, n};
  return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n;
}

// Reads up to n bytes at src, stopping at the first page that cannot be
// read (unmapped, or a file mapping past the file's end, where a plain read
// would raise SIGBUS in this process); returns the bytes read. One remote
// iovec per page: process_vm_readv never splits an element.
std::size_t read_readable_prefix(void* dst, std::uint64_t src, std::size_t n)
{
  iovec local{dst, n};
  iovec remote[8];
  int count = 0;
  for (std::uint64_t p = src, end = src + n; p < end && count < 8; ++count) {
    const std::uint64_t next = std::min<std::uint64_t>((p & ~(kPage - 1)) + kPage, end);
    remote[count] = {(void*)p, std::size_t(next - p)};
    p = next;
  }
  const ssize_t got = process_vm_readv(getpid(), &local, 1, remote, (unsigned long)count, 0);
  return got < 0 ? 0 : std::size_t(got);
}

bool copy_to_process(std::uint64_t dst, const void* src, std::size_t n)
{
  iovec local{const_cast<void*>(src), n}, remote{(void*)dst, n};
  return process_vm_writev(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n;
}

std::uint64_t user_address_top()
{
  // With 4-level paging user addresses end at 2^47; with 5-level (x86 LA57)
  // or 52-bit VAs (arm64) the kernel honours a hint above that, so ask it.
  static const std::uint64_t top = [] {
    void* p = mmap((void*)(1ull << 50), kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return 1ull << 47;
    munmap(p, kPage);
    if ((std::uint64_t)p < (1ull << 47)) return 1ull << 47;
#if defined(__aarch64__)
    return 1ull << 52;
#else
    return 1ull << 56;
#endif
  }();
  return top;
}

policy::policy(const policy_options& o, std::uint64_t user_top) : opt_(o), user_top_(user_top)
{
  for (long nr : o.allow.empty() ? default_allow() : o.allow) {
    if (nr < 0 || nr > (long)GSYS_NR_MAX) throw setup_error("genesys: policy allows opcode out of range: " + std::to_string(nr));
    allow_.set((std::size_t)nr);
  }
}

namespace {

// Whose fd is, if genesys's: an executor's, or a fixed-file table's copy.
enum class fd_owner { none, executor, table_copy };

// Executor descriptors of every runtime in the process: runtime A's kernel
// must not close runtime B's io_uring fd either (v1 did, and B hung). A
// multiset: each protection is withdrawn by its owner alone. The fixed-file
// tables' copies are kept apart, so that a refusal names what it refused.
struct protected_fds {
  std::mutex mu;
  std::multiset<int> fds;
  std::multiset<int> table_copies;
  std::multiset<int>& of(fd_owner o) { return o == fd_owner::table_copy ? table_copies : fds; }
};
protected_fds& process_fds()
{
  static protected_fds* p = new protected_fds;  // never destroyed: runtimes may outlive statics
  return *p;
}

void protect_in_process(int fd, fd_owner owner = fd_owner::executor)
{
  protected_fds& g = process_fds();
  std::lock_guard lk(g.mu);
  g.of(owner).insert(fd);
}

void unprotect_in_process(int fd, fd_owner owner = fd_owner::executor)
{
  protected_fds& g = process_fds();
  std::lock_guard lk(g.mu);
  std::multiset<int>& set = g.of(owner);
  if (auto it = set.find(fd); it != set.end()) set.erase(it);
}

fd_owner protected_in_process(int fd)
{
  protected_fds& g = process_fds();
  std::lock_guard lk(g.mu);
  if (g.fds.count(fd)) return fd_owner::executor;
  return g.table_copies.count(fd) ? fd_owner::table_copy : fd_owner::none;
}

// Why the GPU may not use protected fd by its number (the log's words).
const char* fd_refusal(int fd)
{
  return protected_in_process(fd) == fd_owner::table_copy
             ? "file descriptor is a fixed-file table's copy (runtime::register_files): name it with gsys::fixed(i)"
             : "file descriptor belongs to the executor";
}

}  // namespace

policy::~policy()
{
  for (int fd : protected_) unprotect_in_process(fd);
}

void policy::protect_fd(int fd)
{
  {
    std::lock_guard lk(mu_);
    if (!protected_.insert(fd).second) return;
  }
  protect_in_process(fd);
}

std::shared_ptr<const fixed_files> fixed_files::open(std::span<const int> fds)
{
  if (fds.size() > GSYS_MAX_FIXED_FILES)
    throw setup_error("genesys: register_files: " + std::to_string(fds.size()) + " files, at most " +
                      std::to_string(GSYS_MAX_FIXED_FILES));
  std::shared_ptr<fixed_files> t(new fixed_files);
  t->fds_.reserve(fds.size());
  for (std::size_t i = 0; i < fds.size(); ++i) {
    const int fd = fds[i];
    int copy = -1;
    if (fd != -1) {
      const std::string which = "genesys: register_files: descriptor " + std::to_string(fd) + " (index " +
                                std::to_string(i) + ")";
      if (fd < 0) throw setup_error(which + ": not a descriptor");
      if (const fd_owner o = protected_in_process(fd); o != fd_owner::none)
        throw setup_error(which + (o == fd_owner::table_copy ? " is a fixed-file table's copy" : " is genesys's own"));
      copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (copy < 0) throw setup_error(which + ": " + std::strerror(errno));
    }
    t->fds_.push_back(copy);  // before it is protected: the destructor closes and unprotects what is here
    if (copy >= 0) protect_in_process(copy, fd_owner::table_copy);
  }
  return t;
}

fixed_files::~fixed_files()
{
  for (int fd : fds_) {
    if (fd < 0) continue;
    unprotect_in_process(fd, fd_owner::table_copy);
    ::close(fd);
  }
}

void policy::set_files(std::shared_ptr<const fixed_files> files)
{
  std::lock_guard lk(mu_);
  files_ = std::move(files);
}

// Adds [lo, hi) to spans_, merged with the spans it overlaps or touches, so
// one lookup finds all the region memory around a byte. Called with mu_ held.
void policy::add_span(std::uint64_t lo, std::uint64_t hi)
{
  if (lo >= hi) return;
  auto it = spans_.upper_bound(lo);
  if (it != spans_.begin() && std::prev(it)->second >= lo) --it;
  while (it != spans_.end() && it->first <= hi) {
    lo = std::min(lo, it->first);
    hi = std::max(hi, it->second);
    it = spans_.erase(it);
  }
  spans_.emplace(lo, hi);
}

void policy::allow_region(std::uintptr_t p, std::size_t n)
{
  // A range past the address space (allow_region(p, SIZE_MAX)) would give
  // the GPU everything above p: confinement quietly off.
  if (n > user_top_ || p > user_top_ - n)
    throw setup_error("genesys: allow_region: [" + std::to_string(p) + ", +" + std::to_string(n) +
                      ") reaches past the process's address space");
  std::lock_guard lk(mu_);
  if (watcher_) watcher_(p, n, true);
  // A smaller region at a start already given (a header declared inside an
  // alloc) must not shrink it; genesys.ko keeps the larger length too.
  std::size_t& len = regions_[p];
  len = std::max(len, n);
  add_span(p, end_of(p, n));
}

void policy::forget_region(std::uintptr_t p)
{
  std::lock_guard lk(mu_);
  if (!regions_.erase(p)) return;
  // Rebuild the span that held it from the regions left inside it: bytes
  // another region covers stay given. (A region starting below the span
  // cannot reach into it, or the span would start there.)
  auto s = spans_.upper_bound(p);
  if (s != spans_.begin() && std::prev(s)->second > p) {
    --s;
    const std::uint64_t lo = s->first, hi = s->second;
    spans_.erase(s);
    for (auto r = regions_.lower_bound(lo); r != regions_.end() && r->first < hi; ++r)
      add_span(r->first, end_of(r->first, r->second));
  }
  if (watcher_) watcher_(p, 0, false);
}

void policy::watch_regions(region_watcher fn)
{
  std::lock_guard lk(mu_);
  if (fn)
    for (const auto& [p, n] : regions_) fn(p, n, true);
  watcher_ = std::move(fn);
}

void policy::log_once(unsigned nr, const char* why)
{
  // called with mu_ held
  if (nr > GSYS_NR_MAX || logged_[nr]) return;
  logged_.set(nr);
  const op_info* op = find_op(nr);
  std::fprintf(stderr, "genesys: refused %s (opcode %u) from the GPU: %s; further refusals are counted, not logged\n",
               op ? op->name : "syscall", nr, why);
}

// Given memory is the union of the regions (spans_, merged) and the GPU's
// mappings: step from span to touching mapping and on while they hold the
// next byte. One lookup for a buffer inside the regions. Called with mu_ held.
std::uint64_t policy::given_end(std::uint64_t p, std::uint64_t want, bool* plain) const
{
  if (plain) *plain = true;
  std::uint64_t at = p;
  while (at < want) {
    auto s = spans_.upper_bound(at);
    if (s != spans_.begin() && std::prev(s)->second > at) {
      at = std::prev(s)->second;
      continue;
    }
    auto m = mappings_.upper_bound((std::uintptr_t)at);
    if (m == mappings_.begin()) break;
    --m;
    if (at - m->first >= m->second) break;
    at = end_of(m->first, m->second);
    if (plain) *plain = false;
  }
  return at;
}

long policy::check_range(std::uint64_t p, std::uint64_t n, bool optional, bool confine)
{
  if (p == 0) return optional || n == 0 ? 0 : -EFAULT;
  if (n > opt_.max_io_bytes) return -EINVAL;
  if (p >= user_top_ || n > user_top_ - p) return -EFAULT;
  if (!confine) return 0;
  std::lock_guard lk(mu_);
  const std::uint64_t want = p + (n ? n : 1);  // <= user_top_: no wrap
  return given_end(p, want) >= want ? 0 : -EFAULT;
}

bool policy::read_user(std::uint64_t p, void* dst, std::size_t n, bool confine)
{
  // Confined, p was checked to lie in given memory. The runtime's regions
  // are plain memory: read them. Anything else, a mapping the GPU made
  // included (its file may have been truncated: SIGBUS), is read through
  // the kernel, which fails rather than faulting this process.
  bool plain = false;
  if (confine) {
    std::lock_guard lk(mu_);
    const bool whole = given_end(p, p + n, &plain) >= p + n;
    plain = plain && whole;
  }
  if (plain) {
    std::memcpy(dst, (const void*)p, n);
    return true;
  }
  return copy_from_process((void*)dst, p, n);
}

long policy::check_path(std::uint64_t p, bool confine, bool kernel_checked, std::string* copy)
{
  if (p == 0 || p >= user_top_) return -EFAULT;
  if (!confine && !kernel_checked) return 0;
  // The whole string, NUL included, must lie in given memory: the kernel
  // reads up to PATH_MAX bytes from p. A runtime region is plain memory and
  // read here; a mapping the GPU made may fault (a file mapping past a
  // truncated file's end raises SIGBUS), so it is read through the kernel
  // up to its first unreadable page (issue #10 finding). A genesys.ko
  // fall-back was checked by the module, possibly in a mapping of its own
  // that this policy never saw: it is copied the same way, bounded by the
  // given memory when the policy knows it, else by PATH_MAX.
  std::lock_guard lk(mu_);
  bool plain = false;
  const std::uint64_t end = given_end(p, p + PATH_MAX, &plain);  // p < user_top_: no wrap
  if (end == p && !kernel_checked) return -EFAULT;
  const std::uint64_t n = end > p ? std::min<std::uint64_t>(end - p, PATH_MAX) : PATH_MAX;
  char buf[PATH_MAX];
  const char* s = buf;
  std::size_t got = std::size_t(n);
  if (end == p || !plain) got = read_readable_prefix(buf, p, got);
  else s = (const char*)p;
  const void* nul = std::memchr(s, 0, got);
  if (!nul) return got == PATH_MAX ? -ENAMETOOLONG : -EFAULT;
  // The call gets this copy (request_copy::paths), not the GPU's string.
  copy->assign(s, std::size_t((const char*)nul - s) + 1);
  return 0;
}

long policy::check_fd(std::uint64_t v, bool maybe_cwd, bool maybe_none)
{
  const int fd = (int)(std::int64_t)v;
  if (maybe_cwd && fd == AT_FDCWD) return 0;
  if (maybe_none && fd == -1) return 0;
  if (fd < 0) return -EBADF;
  return protected_in_process(fd) != fd_owner::none ? -EPERM : 0;
}

bool policy::in_mapping(std::uint64_t p, std::uint64_t n)
{
  std::lock_guard lk(mu_);
  auto it = mappings_.upper_bound((std::uintptr_t)p);
  if (it == mappings_.begin()) return false;
  --it;
  const std::uint64_t off = p - it->first;  // p >= it->first here
  return off < it->second && n <= it->second - off;  // no p + n: it could wrap
}

long policy::check(request_copy& q, bool& denied)
{
  denied = false;
#ifdef GSYS_TEST_BROKEN_POLICY
  // tests/adversarial/broken_policy_test.cu only: a userspace layer that
  // accepts everything, to show the kernel-enforced layer still refusing.
  return 0;
#endif
  auto refuse = [&](long err, const char* why) {
    denied = err == -EPERM;
    std::lock_guard lk(mu_);
    log_once(q.nr, why);
    return err;
  };
  if (!allowed(q.nr)) return refuse(-EPERM, "not in the allow-list");
  if (q.flags & ~GSYS_SLOT_F_KNOWN) return refuse(-EINVAL, "unknown slot flags");

  const op_info* op = find_op(q.nr);
  if (q.flags & GSYS_SLOT_F_FIXED_FILE) {
    // As genesys.ko: an index names the file of an op that takes one first,
    // never one to close (the table holds it) nor a raw call's argument.
    if (!op || op->arg[0] != GSYS_A_FD || q.nr == __NR_close)
      return refuse(-EINVAL, "a fixed file on an op that takes no file first");
    std::lock_guard lk(mu_);
    const int fd = files_ ? files_->at(q.arg[0]) : -1;
    if (fd < 0) {
      log_once(q.nr, "fixed-file index not registered");
      return -EBADF;
    }
    q.arg[0] = (std::uint64_t)fd;
    q.files = files_;
  }

  if (!op) return 0;  // explicitly allowed raw syscall: the host opted in
  const bool confine = opt_.confine_memory && !q.kernel_checked;
  int paths = 0;
  for (int i = 0; i < GSYS_SLOT_ARGS; ++i) {
    const std::uint64_t v = q.arg[i];
    const std::uint64_t next = i + 1 < GSYS_SLOT_ARGS ? q.arg[i + 1] : 0;
    long err = 0;
    switch (op->arg[i]) {
      case GSYS_A_FD:
        if (!(i == 0 && (q.flags & GSYS_SLOT_F_FIXED_FILE))) err = check_fd(v, false, false);
        break;
      case GSYS_A_FD_OPT: err = check_fd(v, false, true); break;
      case GSYS_A_DIRFD: err = check_fd(v, true, false); break;
      case GSYS_A_BUF_IN:
      case GSYS_A_BUF_OUT: err = check_range(v, next, false, confine); break;
      case GSYS_A_LEN:
        if (v > opt_.max_io_bytes) err = -EINVAL;
        break;
      case GSYS_A_PATH:
        if (paths == 2) return refuse(-EINVAL, "more than two path arguments");
        err = check_path(v, confine, q.kernel_checked, &q.paths[paths]);
        if (!err && !q.paths[paths].empty()) q.arg[i] = (std::uint64_t)(std::uintptr_t)q.paths[paths++].data();
        break;
      case GSYS_A_MAP_HINT:
        if (q.arg[3] & MAP_FIXED) return refuse(-EPERM, "MAP_FIXED could replace the proxy's own memory");
        break;
      case GSYS_A_MAPPING:
        if (v % kPage) err = -EINVAL;
        else if (!kernel_mappings_ && !in_mapping(v, next)) return refuse(-EPERM, "range is not a mapping the GPU made with gsys::mmap");
        // Forgotten before the call runs, not after (issue #14 finding): in
        // between, another worker's mmap could get the same address and
        // record it, and the late erase dropped that new mapping. If the
        // munmap then fails, the range stays mapped but unrecorded: later
        // calls on it are refused, never allowed wrongly.
        else if (q.nr == __NR_munmap) forget_mapping(v, next);
        break;
      case GSYS_A_SOCKADDR_IN:
        if (v && next > sizeof(sockaddr_storage)) err = -EINVAL;
        else err = check_range(v, next, true, confine);
        break;
      case GSYS_A_SOCKADDR_OUT:
        // The kernel writes up to *addrlen bytes. *addrlen is GPU memory that
        // can change after this check, so the value checked here is the one
        // the call gets (request_copy::addrlen; run_syscall, the uring
        // executor).
        if (!v) break;
        if (!next) { err = -EFAULT; break; }
        err = check_range(next, sizeof(socklen_t), false, confine);
        if (!err) err = read_user(next, &q.addrlen, sizeof q.addrlen, confine) ? 0 : -EFAULT;
        if (!err) {
          q.addrlen = std::min<std::uint32_t>(q.addrlen, sizeof(sockaddr_storage));
          err = check_range(v, q.addrlen, true, confine);
        }
        break;
      case GSYS_A_SOCKLEN_PTR: err = check_range(v, sizeof(socklen_t), true, confine); break;
      case GSYS_A_STAT_OUT: err = check_range(v, sizeof(struct stat), false, confine); break;
      case GSYS_A_RUSAGE_OUT: err = check_range(v, sizeof(struct rusage), false, confine); break;
      default: break;
    }
    if (err == -EPERM) return refuse(err, fd_refusal((int)(std::int64_t)v));
    if (err) return err;
  }
  return 0;
}

namespace {

// Files a GPU kernel must not open however it names them (checked on the
// opened file, so no spelling of the path gets around it): a process's
// memory (/proc/<pid>/mem, pagemap); physical memory and I/O ports
// (/dev/mem, /dev/kmem, /dev/port); and, for writing, any procfs or sysfs
// file (a root process could write /proc/sysrq-trigger) and any block
// device. nullptr: fine. (/proc/<pid>/fd/<n> re-opens the file behind the
// descriptor, which is then inspected as itself.)
const char* forbidden_file(int fd, std::uint64_t open_flags)
{
  struct stat st;
  struct statfs sf;
  if (fstat(fd, &st) != 0 || fstatfs(fd, &sf) != 0) return "cannot inspect the opened file";
  const bool writes = (open_flags & O_ACCMODE) != O_RDONLY || (open_flags & O_TRUNC);
  if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
      (minor(st.st_rdev) == 1 || minor(st.st_rdev) == 2 || minor(st.st_rdev) == 4))
    return "physical memory and I/O port devices are off limits";
  if (S_ISBLK(st.st_mode) && writes) return "block devices are read-only to the GPU";
  if (sf.f_type == SYSFS_MAGIC && writes) return "sysfs is read-only to the GPU";
  if (sf.f_type != PROC_SUPER_MAGIC) return nullptr;
  if (writes) return "procfs is read-only to the GPU";
  char link[64], target[PATH_MAX];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0) return "cannot inspect the opened file";
  target[n] = '\0';
  // <procfs mount>/<pid>/[task/<tid>/](mem|pagemap): matched from the end,
  // so procfs mounted anywhere (not only at /proc) is recognised. On procfs
  // only per-process directories are numbers, so "<digits>/mem" suffices.
  const std::string_view t(target, (std::size_t)n);
  const std::size_t slash = t.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return nullptr;
  const std::string_view name = t.substr(slash + 1);
  if (name != "mem" && name != "pagemap") return nullptr;
  const std::size_t up = t.rfind('/', slash - 1);
  const std::size_t from = up == std::string_view::npos ? 0 : up + 1;
  const std::string_view dir = t.substr(from, slash - from);
  if (dir.empty() || dir.find_first_not_of("0123456789") != std::string_view::npos) return nullptr;
  return "a process's memory is off limits";
}

}  // namespace

long policy::finish(const request_copy& q, long ret, bool& denied)
{
#ifdef GSYS_TEST_BROKEN_POLICY
  return ret;
#endif
  if (q.nr == __NR_openat && ret >= 0) {
    if (const char* why = forbidden_file((int)ret, q.arg[2])) {
      ::close((int)ret);
      denied = true;
      std::lock_guard lk(mu_);
      log_once(q.nr, why);
      return -EACCES;
    }
    return ret;
  }
  note_result(q, ret);
  return ret;
}

void policy::note_result(const request_copy& q, long ret)
{
  if (ret >= 0 && q.nr == __NR_mmap) {
    std::lock_guard lk(mu_);
    mappings_[(std::uintptr_t)ret] = (q.arg[1] + kPage - 1) & ~(kPage - 1);
  }
}

// Drops [p, p + n) (n rounded up to pages) from the GPU's mappings, keeping
// the parts of mappings around it.
void policy::forget_mapping(std::uint64_t p, std::uint64_t n)
{
  const std::uintptr_t lo = p, hi = p + ((n + kPage - 1) & ~(kPage - 1));
  std::lock_guard lk(mu_);
  auto it = mappings_.upper_bound(lo);
  if (it != mappings_.begin()) --it;
  while (it != mappings_.end() && it->first < hi) {
    const std::uintptr_t s = it->first, e = s + it->second;
    if (e <= lo) { ++it; continue; }
    it = mappings_.erase(it);
    if (s < lo) mappings_[s] = lo - s;
    if (e > hi) {
      it = mappings_.emplace(hi, e - hi).first;
      ++it;
    }
  }
}

}  // namespace gsys::detail
