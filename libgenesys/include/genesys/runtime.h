// The host runtime: allocates a ring, starts an executor that runs the GPU's
// requests, enforces the policy and keeps statistics.
//
//   gsys::runtime rt;                        // defaults: kmod, else uring, else sync; memory confined
//   char* buf = static_cast<char*>(rt.alloc(1 << 20));
//   gsys::launch(kernel, grid, block, rt.ring(), fd, buf);
//   gsys::synchronize();
//   std::cout << rt.stats().to_text();
//
// Setup errors (bad options, no memory, a forced executor that is missing)
// throw gsys::setup_error; everything after that reports -errno in the slot.
// Misusing the host API (free() of a pointer alloc() did not return, a
// percentile outside [0, 100]) throws std::invalid_argument.
// The runtime must outlive every kernel that uses its ring: synchronize
// (gsys::synchronize(), or the kernel's stream) before destroying it.
// Nothing checks this: a kernel still running then uses freed memory and
// crashes or hangs without a message, on the simulator too.
// A runtime belongs to the process that made it: a forked child must not
// use it (its calls would reach the parent's executor, or time out);
// destroying the child's copy leaves the parent's ring and threads alone.
// Executor threads block the application's asynchronous signals and
// interrupt their own blocked calls with a real-time signal the application
// leaves at its default (SIGRTMIN+7 or the next one free).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <genesys/ring_handle.h>

namespace gsys {

class setup_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class executor_kind { automatic, sync, uring, kmod };
const char* to_string(executor_kind k);
std::optional<executor_kind> parse_executor(std::string_view name);

// The allow-list an empty policy_options::allow stands for: every
// operation of include/genesys/ops.h (docs/operations.md), nop included.
std::vector<long> default_allow();

struct policy_options {
  // Opcodes the GPU may call: the whole list, replacing the default. Empty:
  // default_allow(), every operation in include/genesys/ops.h. To add a
  // call, start from the default:
  //   o.policy.allow = gsys::default_allow();
  //   o.policy.allow.push_back(__NR_getuid);
  // An opcode outside ops.h (a raw system call for gsys::syscall) runs with
  // its arguments unchecked, confine_memory or not: genesys does not know
  // which of them are pointers. Allow only calls whose arguments you trust.
  std::vector<long> allow;
  // Every buffer, path and address argument of an ops.h operation must lie
  // in memory the GPU was given: runtime::alloc(), runtime::allow_region(), the staging arena, or a
  // mapping it made with gsys::mmap; anything else is -EFAULT. Turning this
  // off leaves only the address-space bound, so a buggy kernel can make the
  // executor write anywhere in the process: an explicit choice (README
  // "Safety"). Every executor enforces it; genesys.ko gets the regions with
  // GSYS_IOC_REGION.
  bool confine_memory = true;
  // The kernel-enforced second line (README "Safety"): every executor thread
  // restricts itself with a seccomp-bpf filter built from `allow` and a
  // Landlock ruleset, so a request that got past the checks above still
  // cannot make other calls or open process memory. The application's own
  // threads are untouched. Where the kernel lacks either, the runtime says
  // so once and the userspace checks remain.
  bool kernel_confinement = true;
  // Landlock: files the GPU may open. Empty: anything but /proc/<pid>/...,
  // /dev/mem, /dev/kmem and /dev/port, with procfs, sysfs and block devices
  // read-only. Otherwise only beneath these paths (plus /dev/null,
  // /dev/zero and /dev/urandom). Each must exist (a link is followed): one
  // that cannot be opened throws setup_error naming it, whether or not the
  // kernel has Landlock or kernel_confinement is on.
  std::vector<std::string> confine_paths;
  // Largest byte count one call may move (-EINVAL above it).
  std::size_t max_io_bytes = std::size_t(1) << 30;
};

struct runtime_options {
  std::uint32_t slots = 4096;                        // power of two, >= 32
  executor_kind executor = executor_kind::automatic; // kmod when /dev/genesys exists, else uring, else sync
  unsigned workers = 2;                              // sync: worker threads; kmod: SERVE threads
  unsigned uring_entries = 256;                      // io_uring submission queue size
  std::chrono::nanoseconds timeout = std::chrono::seconds(30);  // device gives up: -ETIMEDOUT
  std::chrono::nanoseconds spin = std::chrono::microseconds(50); // executor polls before sleeping
  // An idle executor then naps between looks at the ring (a GPU cannot wake
  // the host), 20 us doubling to 1 ms; after a second without a request the
  // naps grow to idle_nap_max, so an idle runtime costs ~0.2% of a core
  // instead of ~3%, and the first call after a quiet spell waits at most
  // this long. <= 1 ms keeps the 1 ms cap throughout.
  std::chrono::microseconds idle_nap_max = std::chrono::milliseconds(10);
  std::uint32_t device_backoff_min_ns = 0;          // 0: pick for the platform
  std::uint32_t device_backoff_max_ns = 0;
  std::uint32_t device_spin_ns = 0;  // device polls at the minimum this long before backing off; 0: platform default
  // -1: local node. Else a node listed in /sys/devices/system/node/online
  // (0..63; 0 alone where that directory is missing): any other value
  // throws setup_error.
  int numa_node = -1;
  // Publish the ring as /dev/shm/genesys.<pidns>.<pid>.<n> (mode 0600) so
  // that `genesys list/stat` can read it. Off by default: a published ring
  // can be written by any process of the same user, which could then inject
  // requests. GENESYS_PUBLISH=1 (or true, yes, on) in the environment turns
  // it on for every runtime of the process, and options() then says true;
  // any value but those and 0/false/no/off is a setup_error.
  bool publish = false;
  // Staging arena for gsys::staged:: calls on device memory (docs/device.md):
  // total bytes (0: none) cut into chunks of staging_chunk_bytes (a power of
  // two, 64 B .. 1 GiB); at least one chunk. The chunks' claim bits are
  // in the ring's device memory.
  std::size_t staging_bytes = std::size_t(8) << 20;
  std::size_t staging_chunk_bytes = std::size_t(64) << 10;
  policy_options policy;
};

// Per-operation counters and a log2 latency histogram (executor service time).
struct op_stats {
  std::string name;
  long nr = 0;
  std::uint64_t calls = 0, errors = 0, denied = 0, nonblocking = 0;
  std::vector<std::uint64_t> latency_hist;  // bucket b: [2^b, 2^(b+1)) ns
  // The latency p percent of the calls stayed within, p a percent in
  // [0, 100]: 99 for p99 (0.99 is p0.99, near the fastest call). Reported
  // as its bucket's geometric middle (1.41 * 2^b ns); 0 without calls.
  // Any other p (NaN included) throws std::invalid_argument.
  std::uint64_t percentile_ns(double p) const;
};

struct stats_snapshot {
  std::string executor;
  std::vector<op_stats> ops;  // only operations that were called
  std::uint64_t calls = 0, errors = 0, denied = 0;
  std::uint64_t garbage = 0;  // invalid slot indices or states an executor saw
  std::uint64_t skipped = 0;  // queue entries lost (overwritten, or never filled by a dead kernel)
  std::uint64_t timeouts = 0; // device calls that gave up waiting (-ETIMEDOUT)
  std::uint64_t queue_depth = 0;
  std::string to_text() const;
  std::string to_json() const;
};

// Who holds the ring's slots and queue right now (runtime::usage()): read
// from the ring's device part and host part, for tests and tools.
struct ring_usage {
  std::uint32_t claimed = 0;      // slots the device side holds
  std::uint32_t parked = 0;       // of those, left for a later reclaim (fire-and-forget, timed out)
  std::uint32_t parked_done = 0;  // of those, finished by the host: freed by the next claim that needs them
  std::uint64_t reserved = 0;     // queue positions the device reserved
  std::uint64_t consumed = 0;     // queue positions executors consumed (or skipped)
  std::uint32_t staging_busy = 0; // staging chunks held (quarantined ones included)
  std::uint64_t timeouts = 0;     // device calls that gave up waiting
  // Nothing in flight: every held slot is parked and finished, the queue is drained.
  bool quiescent() const { return claimed == parked && parked == parked_done && reserved == consumed; }
};

class runtime {
 public:
  explicit runtime(runtime_options options = {});
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // The handle kernels take. Valid for the runtime's lifetime (see the top
  // of this file). A default-constructed gsys::ring{} is empty: a call on
  // it stops the kernel with a message (simulator: abort; GPU: trap).
  gsys::ring ring() const;
  executor_kind executor() const;
  const runtime_options& options() const;
  stats_snapshot stats() const;

  // Memory GPU threads may pass to calls: pinned and mapped under CUDA,
  // ordinary memory on the simulator. Zeroed. Freed by free() or at the end.
  void* alloc(std::size_t bytes);
  // free(nullptr) does nothing; a pointer alloc() did not return, or one
  // already freed, throws std::invalid_argument naming it.
  void free(void* p);
  // Declares memory the GPU may pass when policy.confine_memory is set.
  // What was given joins up: a buffer may span several regions and
  // allocations. Declaring again at the same start keeps the larger length;
  // free() of an allocation withdraws what was given at its start. A range
  // reaching past the process's address space throws setup_error.
  void allow_region(const void* p, std::size_t bytes);

  // A snapshot of the ring's slots and queue (a device-to-host copy on a GPU).
  ring_usage usage() const;

  // The staging arena's chunk count, and how many kernels hold right now.
  std::uint32_t staging_chunks() const;
  std::uint32_t staging_chunks_busy() const;

  // Fixed files: a device call given gsys::fixed(i) for its file (calls.h)
  // names entry i of this table, with any executor. The table holds the
  // files it was given (duplicates; in genesys.ko, references), so the
  // host may close its own descriptors afterwards. -1 leaves a hole (a call
  // naming it gets -EBADF); a descriptor that is not open, or genesys's
  // own, throws setup_error and keeps the earlier table, as does a table
  // past GSYS_MAX_FIXED_FILES. Replaces any earlier table (an empty span
  // removes it); calls in flight finish on the table they started with.
  void register_files(std::span<const int> fds);

  // Where the ring is published (empty when options.publish is false).
  std::string shm_name() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

// True when /dev/genesys exists and can be opened.
bool kmod_available();

// True when io_uring_setup works here, which the uring executor needs: a
// seccomp filter (containers, gVisor) or the kernel.io_uring_disabled
// sysctl may refuse it.
bool io_uring_available();

}  // namespace gsys
