#include "policy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

#include "op_table.h"

namespace gsys::detail {

namespace {

// Highest user-space address on x86-64 and arm64 with 48-bit VAs (plus one).
constexpr std::uint64_t kUserTop = 1ull << 47;
constexpr std::uint64_t kPage = 4096;

}  // namespace

policy::policy(const policy_options& o) : opt_(o)
{
  if (o.allow.empty()) {
    for (const op_info& op : kOps) allow_.set((std::size_t)op.nr);
  } else {
    for (long nr : o.allow) {
      if (nr < 0 || nr > (long)GSYS_NR_MAX) throw setup_error("genesys: policy allows opcode out of range: " + std::to_string(nr));
      allow_.set((std::size_t)nr);
    }
  }
}

void policy::protect_fd(int fd)
{
  std::lock_guard lk(mu_);
  protected_.insert(fd);
}

void policy::set_files(std::vector<int> fds)
{
  std::lock_guard lk(mu_);
  files_ = std::move(fds);
}

void policy::allow_region(std::uintptr_t p, std::size_t n)
{
  std::lock_guard lk(mu_);
  regions_[p] = n;
}

void policy::forget_region(std::uintptr_t p)
{
  std::lock_guard lk(mu_);
  regions_.erase(p);
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

long policy::check_range(std::uint64_t p, std::uint64_t n, bool optional)
{
  if (p == 0) return optional || n == 0 ? 0 : -EFAULT;
  if (n > opt_.max_io_bytes) return -EINVAL;
  if (p >= kUserTop || n > kUserTop - p) return -EFAULT;
  if (!opt_.confine_memory) return 0;
  std::lock_guard lk(mu_);
  auto it = regions_.upper_bound((std::uintptr_t)p);
  if (it == regions_.begin()) return -EFAULT;
  --it;
  return p + (n ? n : 1) <= it->first + it->second ? 0 : -EFAULT;
}

long policy::check_fd(std::uint64_t v, bool maybe_cwd, bool maybe_none)
{
  const int fd = (int)(std::int64_t)v;
  if (maybe_cwd && fd == AT_FDCWD) return 0;
  if (maybe_none && fd == -1) return 0;
  if (fd < 0) return -EBADF;
  std::lock_guard lk(mu_);
  return protected_.count(fd) ? -EPERM : 0;
}

bool policy::in_mapping(std::uint64_t p, std::uint64_t n)
{
  std::lock_guard lk(mu_);
  auto it = mappings_.upper_bound((std::uintptr_t)p);
  if (it == mappings_.begin()) return false;
  --it;
  return p >= it->first && p + n <= it->first + it->second;
}

long policy::check(request_copy& q, bool& denied)
{
  denied = false;
  auto refuse = [&](long err, const char* why) {
    denied = err == -EPERM;
    std::lock_guard lk(mu_);
    log_once(q.nr, why);
    return err;
  };
  if (!allowed(q.nr)) return refuse(-EPERM, "not in the allow-list");
  if (q.flags & ~GSYS_SLOT_F_KNOWN) return refuse(-EINVAL, "unknown slot flags");

  if (q.flags & GSYS_SLOT_F_FIXED_FILE) {
    std::lock_guard lk(mu_);
    if (q.arg[0] >= files_.size() || files_[q.arg[0]] < 0) {
      log_once(q.nr, "fixed-file index not registered");
      return -EBADF;
    }
    q.arg[0] = (std::uint64_t)files_[q.arg[0]];
  }

  const op_info* op = find_op(q.nr);
  if (!op) return 0;  // explicitly allowed raw syscall: the host opted in
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
      case GSYS_A_BUF_OUT: err = check_range(v, next, false); break;
      case GSYS_A_LEN:
        if (v > opt_.max_io_bytes) err = -EINVAL;
        break;
      case GSYS_A_PATH: err = check_range(v, 1, false); break;
      case GSYS_A_MAP_HINT:
        if (q.arg[3] & MAP_FIXED) return refuse(-EPERM, "MAP_FIXED could replace the proxy's own memory");
        break;
      case GSYS_A_MAPPING:
        if (v % kPage) err = -EINVAL;
        else if (!kernel_mappings_ && !in_mapping(v, next)) return refuse(-EPERM, "range is not a mapping the GPU made with gsys::mmap");
        break;
      case GSYS_A_SOCKADDR_IN:
        if (v && next > sizeof(sockaddr_storage)) err = -EINVAL;
        else err = check_range(v, next, true);
        break;
      case GSYS_A_SOCKADDR_OUT:
        if (v && !next) err = -EFAULT;
        else err = check_range(v, sizeof(sockaddr), true);
        break;
      case GSYS_A_SOCKLEN_PTR: err = check_range(v, sizeof(socklen_t), true); break;
      case GSYS_A_STAT_OUT: err = check_range(v, sizeof(struct stat), false); break;
      case GSYS_A_RUSAGE_OUT: err = check_range(v, sizeof(struct rusage), false); break;
      default: break;
    }
    if (err == -EPERM) return refuse(err, "file descriptor belongs to the executor");
    if (err) return err;
  }
  return 0;
}

void policy::note_result(const request_copy& q, long ret)
{
  if (ret < 0) return;
  if (q.nr == __NR_mmap) {
    std::lock_guard lk(mu_);
    mappings_[(std::uintptr_t)ret] = (q.arg[1] + kPage - 1) & ~(kPage - 1);
  } else if (q.nr == __NR_munmap) {
    // Drop what was unmapped, keeping the parts of mappings around it.
    const std::uintptr_t lo = q.arg[0], hi = q.arg[0] + ((q.arg[1] + kPage - 1) & ~(kPage - 1));
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
}

}  // namespace gsys::detail
