#include "sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "op_table.h"
#include "policy.h"

namespace gsys::detail {

namespace {

// Landlock's filesystem rights by ABI version (numbers, so that older
// kernel headers than the running kernel's do not hide newer rights).
constexpr std::uint64_t kFsV1 = (1ull << 13) - 1;  // EXECUTE .. MAKE_SYM
constexpr std::uint64_t kRefer = 1ull << 13;       // ABI 2
constexpr std::uint64_t kTruncate = 1ull << 14;    // ABI 3
constexpr std::uint64_t kIoctlDev = 1ull << 15;    // ABI 5
constexpr std::uint64_t kExecute = 1ull << 0, kWriteFile = 1ull << 1, kReadFile = 1ull << 2, kReadDir = 1ull << 3;

std::uint64_t handled_rights(int abi)
{
  std::uint64_t r = kFsV1;
  if (abi >= 2) r |= kRefer;
  if (abi >= 3) r |= kTruncate;
  if (abi >= 5) r |= kIoctlDev;
  return r;
}

// Rights that Landlock accepts on a rule for a file that is not a directory.
constexpr std::uint64_t kFileRights = kExecute | kWriteFile | kReadFile | kTruncate | kIoctlDev;

bool sanitized_build()
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

// What an executor thread needs for itself, beyond the GPU's calls.
constexpr int kExecutorCalls[] = {
    SCMP_SYS(futex),          SCMP_SYS(io_uring_enter),    SCMP_SYS(clock_gettime),     SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),      SCMP_SYS(sched_yield),       SCMP_SYS(gettid),            SCMP_SYS(getpid),
    SCMP_SYS(munmap),         SCMP_SYS(mprotect),          SCMP_SYS(madvise),           SCMP_SYS(brk),
    SCMP_SYS(mremap),         SCMP_SYS(rt_sigreturn),      SCMP_SYS(rt_sigprocmask),    SCMP_SYS(restart_syscall),
    SCMP_SYS(exit),           SCMP_SYS(close),             SCMP_SYS(fstat),             SCMP_SYS(newfstatat),
    SCMP_SYS(fstatfs),        SCMP_SYS(readlink),          SCMP_SYS(readlinkat),        SCMP_SYS(process_vm_readv),
    SCMP_SYS(process_vm_writev), SCMP_SYS(write),          SCMP_SYS(getrandom),         SCMP_SYS(rseq),
    SCMP_SYS(set_robust_list), SCMP_SYS(sched_getaffinity),
};

// A confine path that cannot be opened is a mistake in the options (a
// typo gave a sandbox short of the rule asked for, in silence): refused
// whether or not this kernel has Landlock or confinement is on.
void check_confine_paths(const policy_options& o)
{
  for (const std::string& p : o.confine_paths) {
    const int fd = ::open(p.c_str(), O_PATH | O_CLOEXEC);
    if (fd < 0)
      throw setup_error("genesys: bad runtime option: policy.confine_paths: '" + p + "': " + std::strerror(errno));
    ::close(fd);
  }
}

}  // namespace

sandbox::sandbox(const policy& pol, const runtime_options& o)
{
  check_confine_paths(o.policy);
  if (!o.policy.kernel_confinement) {
    summary_ = "kernel confinement off (policy.kernel_confinement = false)";
    return;
  }
  build_filter(pol);
  build_ruleset(o);
  summary_ = std::string("seccomp ") + (filter_.empty() ? "off" : "on") + ", landlock " +
             (ruleset_fd_ >= 0 ? "ABI " + std::to_string(landlock_abi_) : std::string("off"));
  if (!problems_.empty()) summary_ += " (" + problems_ + ")";
}

sandbox::~sandbox()
{
  if (ruleset_fd_ >= 0) ::close(ruleset_fd_);
}

void sandbox::build_filter(const policy& pol)
{
  if (sanitized_build()) {
    // Sanitizer runtimes map their shadow memory with MAP_FIXED and make
    // calls no list can foresee: their builds test the rest.
    problems_ += "seccomp skipped in sanitizer builds; ";
    return;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!ctx) {
    problems_ += "seccomp_init failed; ";
    return;
  }
  bool ok = true;
  auto allow = [&](int nr) {
    if (nr == __NR_mmap) return;  // below, with MAP_FIXED refused
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0) ok = false;
  };
  for (int nr : kExecutorCalls) allow(nr);
  const auto& bits = pol.allow_bits();
  for (unsigned nr = 0; nr < bits.size() && nr < GSYS_NR_PRIVATE_BASE; ++nr)
    if (bits[nr]) allow((int)nr);
  // mmap for the GPU and for the executor's own allocations, never MAP_FIXED
  // (or MAP_FIXED_NOREPLACE): it could replace the proxy's memory.
  const std::uint64_t fixed = MAP_FIXED | MAP_FIXED_NOREPLACE;
  if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A3(SCMP_CMP_MASKED_EQ, fixed, 0)) != 0) ok = false;
  // sched_setaffinity for the calling thread only: an executor thread moves
  // off a CPU the simulator's device needs (executor.cpp, idle_waiter).
  if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sched_setaffinity), 1, SCMP_A0(SCMP_CMP_EQ, 0)) != 0)
    ok = false;
  // ioctl only to serve a genesys.ko ring (the kmod executor's threads).
  if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffull, (scmp_datum_t)GSYS_IOC_SERVE)) != 0)
    ok = false;
  // The filter as BPF, so that each executor thread installs it for itself
  // (seccomp_load would need TSYNC to reach threads other than the caller).
  int mfd = ok ? memfd_create("genesys-seccomp", MFD_CLOEXEC) : -1;
  if (mfd >= 0 && seccomp_export_bpf(ctx, mfd) == 0) {
    const off_t n = lseek(mfd, 0, SEEK_END);
    if (n > 0 && n % (off_t)sizeof(sock_filter) == 0) {
      filter_.resize((std::size_t)n / sizeof(sock_filter));
      if (pread(mfd, filter_.data(), (std::size_t)n, 0) != n) filter_.clear();
    }
  }
  if (filter_.empty()) problems_ += "could not build the seccomp filter; ";
  if (mfd >= 0) ::close(mfd);
  seccomp_release(ctx);
}

void sandbox::build_ruleset(const runtime_options& o)
{
  const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 1) {
    problems_ += "this kernel has no Landlock: paths are checked in userspace only; ";
    return;
  }
  landlock_abi_ = (int)abi;
  const std::uint64_t handled = handled_rights(landlock_abi_);
  struct {
    std::uint64_t handled_access_fs;
  } attr{handled};
  const int rfd = (int)::syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
  if (rfd < 0) {
    problems_ += std::string("landlock_create_ruleset: ") + std::strerror(errno) + "; ";
    landlock_abi_ = 0;
    return;
  }
  bool ok = true;
  // Allows `rights` beneath path (or on it, for a file). The walks below
  // skip what is gone and links (/dev/fd leads to /proc/self); a confine
  // path is followed, as its user meant it, and exists (check_confine_paths).
  auto beneath = [&](const std::string& path, std::uint64_t rights, bool follow = false) {
    struct stat st;
    if ((follow ? stat(path.c_str(), &st) : lstat(path.c_str(), &st)) != 0 || S_ISLNK(st.st_mode)) return;
    const int pfd = ::open(path.c_str(), O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
    if (pfd < 0) return;
    struct {
      std::uint64_t allowed_access;
      std::int32_t parent_fd;
    } __attribute__((packed)) rule{(rights & handled) & (S_ISDIR(st.st_mode) ? ~0ull : kFileRights), pfd};
    if (rule.allowed_access && ::syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0)
      ok = false;
    ::close(pfd);
  };
  auto each_entry = [](const char* dir, auto&& fn) {
    if (DIR* d = opendir(dir)) {
      while (dirent* e = readdir(d))
        if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) fn(std::string(e->d_name));
      closedir(d);
    }
  };
  const std::uint64_t all = handled, read_only = kReadFile | kReadDir;
  const std::uint64_t device = kReadFile | kWriteFile | kTruncate;
  if (!o.policy.confine_paths.empty()) {
    for (const std::string& p : o.policy.confine_paths) beneath(p, all, true);
    for (const char* p : {"/dev/null", "/dev/zero", "/dev/urandom"}) beneath(p, device);
  } else {
    each_entry("/", [&](const std::string& name) {
      if (name != "proc" && name != "sys" && name != "dev") beneath("/" + name, all);
    });
    each_entry("/dev", [&](const std::string& name) {
      const std::string path = "/dev/" + name;
      struct stat st;
      if (lstat(path.c_str(), &st) != 0) return;
      if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
          (minor(st.st_rdev) == 1 || minor(st.st_rdev) == 2 || minor(st.st_rdev) == 4))
        return;  // mem, kmem, port
      beneath(path, S_ISBLK(st.st_mode) ? kReadFile : S_ISDIR(st.st_mode) ? all : device);
    });
    each_entry("/proc", [&](const std::string& name) {
      // Not the process directories (numbers; self and thread-self are links to them).
      if (name.find_first_not_of("0123456789") == std::string::npos) return;
      beneath("/proc/" + name, read_only);
    });
    beneath("/sys", read_only);
  }
  if (!ok) problems_ += "some Landlock rules were refused; ";
  ruleset_fd_ = rfd;
}

std::string sandbox::enter() const
{
  if (filter_.empty() && ruleset_fd_ < 0) return problems_;
  std::string failed;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return std::string("no_new_privs: ") + std::strerror(errno);
  if (ruleset_fd_ >= 0 && ::syscall(SYS_landlock_restrict_self, ruleset_fd_, 0) != 0)
    failed += std::string("landlock_restrict_self: ") + std::strerror(errno) + "; ";
  if (!filter_.empty()) {
    sock_fprog prog{(unsigned short)filter_.size(), const_cast<sock_filter*>(filter_.data())};
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
      failed += std::string("seccomp: ") + std::strerror(errno) + "; ";
  }
  return failed;
}

}  // namespace gsys::detail
