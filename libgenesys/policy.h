// The host's say over what GPU threads may do: an allow-list of opcodes and
// argument checks derived from the op table (pointer ranges, lengths, fds,
// mappings). A refused call gets -EPERM/-EFAULT/-EINVAL/-EBADF in its slot,
// is counted, and is logged once per opcode; the proxy never crashes on it.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include <genesys/runtime.h>

#include "ring_access.h"

namespace gsys::detail {

class policy {
 public:
  explicit policy(const policy_options& o);

  // 0 if the request may run (fixed-file indices are translated in place),
  // otherwise -errno. `denied` tells a refusal by rule (-EPERM) from bad args.
  long check(request_copy& q, bool& denied);

  // Results that change what later calls may touch.
  void note_result(const request_copy& q, long ret);

  bool allowed(unsigned nr) const { return nr <= GSYS_NR_MAX && allow_[nr]; }
  const std::bitset<GSYS_NR_MAX + 1>& allow_bits() const { return allow_; }

  // fds the executor itself uses (io_uring, /dev/genesys): never the GPU's.
  void protect_fd(int fd);
  void set_files(std::vector<int> fds);
  void allow_region(std::uintptr_t p, std::size_t n);
  void forget_region(std::uintptr_t p);
  // The kmod executor: genesys.ko makes the GPU's mappings and checks
  // munmap/madvise ranges against them before it hands a call to userspace,
  // so the userspace mapping table (which never saw those mmaps) is skipped.
  void trust_kernel_mappings() { kernel_mappings_ = true; }

 private:
  long check_range(std::uint64_t p, std::uint64_t n, bool optional);
  long check_fd(std::uint64_t v, bool maybe_cwd, bool maybe_none);
  bool in_mapping(std::uint64_t p, std::uint64_t n);
  void log_once(unsigned nr, const char* why);

  policy_options opt_;
  std::bitset<GSYS_NR_MAX + 1> allow_;
  std::mutex mu_;  // guards everything below (rarely contended: setup, mmap)
  std::set<int> protected_;
  std::vector<int> files_;
  std::map<std::uintptr_t, std::size_t> regions_;   // start -> length
  std::map<std::uintptr_t, std::size_t> mappings_;  // genesys mmaps, start -> length
  std::bitset<GSYS_NR_MAX + 1> logged_;
  bool kernel_mappings_ = false;
};

}  // namespace gsys::detail
