// Ring memory: allocation (shared memory so `genesys` tools can inspect it,
// NUMA-placed), initialisation and validation of a ring header.
#pragma once

#include <genesys/abi.h>

#include <cstddef>
#include <string>
#include <vector>

namespace gsys::detail {

struct ring_geometry {
  gsys_u32 nslots = 0;
  gsys_u32 sq_entries = 0;
  std::size_t ring_bytes = 0;
};

// Geometry for `slots`, or throws setup_error if it is not a power of two in
// [GSYS_MIN_SLOTS, GSYS_MAX_SLOTS].
ring_geometry geometry_for(gsys_u32 slots);

// Writes a fresh header and zeroes slots and queue (host memory; the device
// part is the runtime's). `mem` must be ring_bytes long and page aligned.
void init_ring(void* mem, const ring_geometry& g, gsys_u64 timeout_ns, gsys_u64 device_bytes = 0);

// Checks a header found in memory of `bytes` bytes. Empty string: good;
// otherwise what is wrong, for an error message.
std::string check_ring(const gsys_ring_header* h, std::size_t bytes);

// The rings published in /dev/shm ("genesys.<pidns>.<pid>.<n>"); stale: the
// process that published it is gone (killed before it could clean up). Only
// a ring of this process's pid namespace can be judged stale: elsewhere the
// pid names another process, or none, while its publisher lives.
struct published_ring {
  std::string name;  // as in /dev/shm
  int pid = 0;       // in the publisher's pid namespace
  bool stale = false;
  unsigned long pid_ns = 0;  // inode of /proc/<pid>/ns/pid; 0: unknown (old name)
};
std::vector<published_ring> published_rings();

// The inode of this process's pid namespace (/proc/self/ns/pid), 0 if /proc
// cannot say. A published name carries it: /dev/shm may be shared with
// processes of other pid namespaces (containers sharing IPC), where our pid
// numbers name other processes or none.
unsigned long pid_namespace();

// A mapping that holds the ring and, after it, `extra` bytes (the stats page).
class ring_memory {
 public:
  ring_memory(const ring_geometry& g, std::size_t extra, int numa_node, bool publish);
  ~ring_memory();
  ring_memory(const ring_memory&) = delete;
  ring_memory& operator=(const ring_memory&) = delete;

  gsys_ring_header* header() const { return static_cast<gsys_ring_header*>(base_); }
  void* extra() const { return static_cast<char*>(base_) + ring_bytes_; }
  std::size_t ring_bytes() const { return ring_bytes_; }
  const std::string& shm_name() const { return name_; }

 private:
  void* base_ = nullptr;
  std::size_t ring_bytes_ = 0;
  std::size_t total_ = 0;
  std::string name_;
};

}  // namespace gsys::detail
