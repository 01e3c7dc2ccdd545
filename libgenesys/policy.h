// The host's say over what GPU threads may do: an allow-list of opcodes and
// argument checks derived from the op table (pointer ranges, lengths, fds,
// mappings). A refused call gets -EPERM/-EFAULT/-EINVAL/-EBADF in its slot,
// is counted, and is logged once per opcode; the proxy never crashes on it.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include <genesys/runtime.h>

#include "ring_access.h"

namespace gsys::detail {

// Copies between this process's memory and a GPU-given address that may be
// unmapped: the kernel faults it (false), never this process.
bool copy_from_process(void* dst, std::uint64_t src, std::size_t n);
bool copy_to_process(std::uint64_t dst, const void* src, std::size_t n);

// One past the highest user-space address of this process's address space
// (2^47 with 4-level paging; more with 5-level paging or 52-bit VAs).
std::uint64_t user_address_top();

// The runtime's fixed-file table (runtime::register_files), kept as
// genesys.ko keeps its own: duplicates of the registered descriptors, so an
// index names the file that was registered even after the host closes or
// reuses its descriptor. The duplicates are protected like an executor's
// descriptors (a GPU cannot close or use them by number) and closed with
// the table, which the calls in flight through it keep alive.
class fixed_files {
 public:
  // -1 leaves a hole; anything else must be an open descriptor and not
  // genesys's own (setup_error naming it otherwise).
  static std::shared_ptr<const fixed_files> open(std::span<const int> fds);
  fixed_files(const fixed_files&) = delete;
  fixed_files& operator=(const fixed_files&) = delete;
  ~fixed_files();
  // The duplicate at `index`, or -1 (a hole or past the end).
  int at(std::uint64_t index) const { return index < fds_.size() ? fds_[index] : -1; }

 private:
  fixed_files() = default;
  std::vector<int> fds_;
};

class policy {
 public:
  explicit policy(const policy_options& o, std::uint64_t user_top = user_address_top());
  ~policy();
  policy(const policy&) = delete;
  policy& operator=(const policy&) = delete;

  // 0 if the request may run (fixed-file indices are translated in place:
  // only for an op whose first argument is a file, close excepted, as in
  // genesys.ko; -EINVAL otherwise, -EBADF for an index with no file),
  // otherwise -errno. `denied` tells a refusal by rule (-EPERM) from bad args.
  long check(request_copy& q, bool& denied);

  // After the call ran: the result to report. Records results that change
  // what later calls may touch (mmap, munmap), and closes a file the GPU must
  // not hold however it named it (/proc/<pid>/mem, /dev/mem, ...: -EACCES,
  // `denied` set). Must run before any other request can use the result.
  long finish(const request_copy& q, long ret, bool& denied);

  bool allowed(unsigned nr) const { return nr <= GSYS_NR_MAX && allow_[nr]; }
  const std::bitset<GSYS_NR_MAX + 1>& allow_bits() const { return allow_; }

  // fds an executor itself uses (io_uring, /dev/genesys): never the GPU's,
  // in this runtime or any other of the process.
  void protect_fd(int fd);
  // Replaces the fixed-file table (nullptr: none).
  void set_files(std::shared_ptr<const fixed_files> files);
  // Given memory is the union of every region and GPU mapping: a buffer may
  // span several. A region at a start already given keeps the larger length.
  // One reaching past the address space throws setup_error.
  void allow_region(std::uintptr_t p, std::size_t n);
  // Withdraws the region starting at p (runtime::free); bytes that other
  // regions cover stay given.
  void forget_region(std::uintptr_t p);
  // Calls fn(start, length, true) for every region now, then on every change
  // (length 0, false: removed), in order, under the policy's lock: how the
  // kmod executor keeps genesys.ko's copy of the regions exact. fn may throw
  // from an addition (allow_region then fails with it). nullptr: stop.
  using region_watcher = std::function<void(std::uintptr_t, std::size_t, bool)>;
  void watch_regions(region_watcher fn);
  // The kmod executor: genesys.ko makes the GPU's mappings and checks
  // munmap/madvise ranges against them before it hands a call to userspace,
  // so the userspace mapping table (which never saw those mmaps) is skipped.
  void trust_kernel_mappings() { kernel_mappings_ = true; }

 private:
  void note_result(const request_copy& q, long ret);
  void forget_mapping(std::uint64_t p, std::uint64_t n);
  long check_range(std::uint64_t p, std::uint64_t n, bool optional, bool confine);
  long check_path(std::uint64_t p, bool confine, bool kernel_checked, std::string* copy);
  bool read_user(std::uint64_t p, void* dst, std::size_t n, bool confine);
  // The end of the given memory that runs on from p without a gap, looked
  // for up to `want` (p: p is not given); *plain: none of [p, end) is a GPU
  // mapping (plain memory the proxy may read directly).
  std::uint64_t given_end(std::uint64_t p, std::uint64_t want, bool* plain = nullptr) const;
  void add_span(std::uint64_t lo, std::uint64_t hi);
  long check_fd(std::uint64_t v, bool maybe_cwd, bool maybe_none);
  bool in_mapping(std::uint64_t p, std::uint64_t n);
  void log_once(unsigned nr, const char* why);

  policy_options opt_;
  std::uint64_t user_top_;
  std::bitset<GSYS_NR_MAX + 1> allow_;
  std::mutex mu_;  // guards everything below (rarely contended: setup, mmap)
  std::set<int> protected_;
  std::shared_ptr<const fixed_files> files_;
  std::map<std::uintptr_t, std::size_t> regions_;   // start -> length (the largest given there)
  std::map<std::uint64_t, std::uint64_t> spans_;    // union of regions_: start -> end, disjoint, not touching
  std::map<std::uintptr_t, std::size_t> mappings_;  // genesys mmaps, start -> length
  region_watcher watcher_;
  std::bitset<GSYS_NR_MAX + 1> logged_;
  bool kernel_mappings_ = false;
};

}  // namespace gsys::detail
