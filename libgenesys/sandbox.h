// The kernel-enforced second line behind the policy: each executor thread
// restricts itself, so the application's own threads are untouched.
//
//  - seccomp-bpf (built with libseccomp from the policy's allow-list): the
//    thread can make only the calls the GPU may ask for, plus what an
//    executor needs itself (futex, io_uring_enter, its SERVE ioctl, ...);
//    mmap with MAP_FIXED is refused in the filter too. Anything else is
//    -EPERM. It covers calls an executor thread makes; io_uring requests and
//    genesys.ko's in-kernel calls make no system call, so seccomp does not
//    see them (the policy and the module's own table do).
//  - Landlock: what the thread may open, by path hierarchy. Default: every
//    top-level directory but /proc, /sys and /dev; /dev's nodes except
//    /dev/mem, /dev/kmem and /dev/port (block devices read-only); /sys and
//    the non-process files of /proc read-only. So /proc/<pid>/mem cannot be
//    opened under any spelling. With runtime_options::confine_paths, only
//    those directories (plus /dev/null, /dev/zero, /dev/urandom); each must
//    open (setup_error otherwise, Landlock or not), links followed. Landlock
//    follows the thread's credentials, so it also covers the module's
//    in-kernel opens (run by the SERVE threads) and io_uring's workers.
//
// Where the running kernel lacks Landlock or seccomp, the runtime says so
// once and the userspace checks remain.
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

#include <genesys/runtime.h>

namespace gsys::detail {

class policy;

class sandbox {
 public:
  // Builds the filter and the ruleset once per runtime; the threads apply them.
  sandbox(const policy& pol, const runtime_options& o);
  ~sandbox();
  sandbox(const sandbox&) = delete;
  sandbox& operator=(const sandbox&) = delete;

  // Restricts the calling thread. Safe to call from several threads.
  // Returns what could not be applied ("" when everything was).
  std::string enter() const;

  bool seccomp_ready() const { return !filter_.empty(); }
  int landlock_abi() const { return landlock_abi_; }  // 0: not available
  // The Landlock ruleset's descriptor (-1: none): genesys's own, which the
  // runtime protects from the GPU like an executor's (a kernel closed it,
  // and the destructor then closed whatever file reused the number).
  int ruleset_fd() const { return ruleset_fd_; }
  // One line for logs and `genesys info`: what enter() applies.
  const std::string& summary() const { return summary_; }

 private:
  void build_filter(const policy& pol);
  void build_ruleset(const runtime_options& o);

  std::vector<sock_filter> filter_;
  int ruleset_fd_ = -1;
  int landlock_abi_ = 0;
  std::string summary_;
  std::string problems_;
};

}  // namespace gsys::detail
