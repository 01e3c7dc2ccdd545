#include "ring_memory.h"

#include <dirent.h>
#include <fcntl.h>
#include <numaif.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <genesys/runtime.h>

namespace gsys::detail {

namespace {

bool is_pow2(gsys_u64 x) { return x && !(x & (x - 1)); }

std::string errno_text(const char* what)
{
  return std::string(what) + ": " + std::strerror(errno);
}

// Removes the rings of processes that died without cleaning up (SIGKILL).
// Removing the name frees the memory once nothing maps it. Another user's
// objects cannot be removed (/dev/shm is sticky) and are left alone.
void prune_stale_rings()
{
  for (const published_ring& r : published_rings())
    if (r.stale) shm_unlink(("/" + r.name).c_str());
}

}  // namespace

unsigned long pid_namespace()
{
  struct stat st;
  return stat("/proc/self/ns/pid", &st) == 0 ? (unsigned long)st.st_ino : 0;
}

std::vector<published_ring> published_rings()
{
  std::vector<published_ring> out;
  const unsigned long ours = pid_namespace();
  DIR* d = opendir("/dev/shm");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    unsigned long ns = 0;
    int pid = 0, n = 0, end = 0;
    // "genesys.<pidns>.<pid>.<n>"; "genesys.<pid>.<n>" from before v2.1 (namespace unknown)
    if (std::sscanf(e->d_name, "genesys.%lu.%d.%d%n", &ns, &pid, &n, &end) != 3 || e->d_name[end]) {
      ns = 0;
      end = 0;
      if (std::sscanf(e->d_name, "genesys.%d.%d%n", &pid, &n, &end) != 2 || e->d_name[end]) continue;
    }
    if (pid <= 0) continue;
    const bool judged = ns != 0 && ns == ours;
    out.push_back({e->d_name, pid, judged && kill(pid, 0) != 0 && errno == ESRCH, ns});
  }
  closedir(d);
  return out;
}

ring_geometry geometry_for(gsys_u32 slots)
{
  if (!is_pow2(slots) || slots < GSYS_MIN_SLOTS || slots > GSYS_MAX_SLOTS)
    throw setup_error("genesys: slots must be a power of two in [" + std::to_string(GSYS_MIN_SLOTS) +
                      ", " + std::to_string(GSYS_MAX_SLOTS) + "], got " + std::to_string(slots));
  ring_geometry g;
  g.nslots = slots;
  g.sq_entries = slots;  // each slot is queued at most once per claim, so no entry is overwritten early
  g.ring_bytes = gsys_ring_bytes(g.nslots, g.sq_entries);
  return g;
}

void init_ring(void* mem, const ring_geometry& g, gsys_u64 timeout_ns, gsys_u64 device_bytes)
{
  std::memset(mem, 0, g.ring_bytes);
  auto* h = static_cast<gsys_ring_header*>(mem);
  h->abi_version = GSYS_ABI_VERSION;
  h->header_bytes = GSYS_HEADER_BYTES;
  h->nslots = g.nslots;
  h->sq_entries = g.sq_entries;
  h->ring_bytes = g.ring_bytes;
  h->slots_offset = gsys_ring_slots_offset();
  h->sq_offset = gsys_ring_sq_offset(g.nslots);
  h->device_bytes = device_bytes;
  h->timeout_ns = timeout_ns;
  // Zeroed entries are unpublished for every position of the first lap (seq 0 != pos + 1).
  // release: whoever sees the magic sees a complete ring
  std::atomic_ref<gsys_u32>(h->magic).store(GSYS_RING_MAGIC, std::memory_order_release);
}

std::string check_ring(const gsys_ring_header* h, std::size_t bytes)
{
  if (bytes < GSYS_HEADER_BYTES) return "region smaller than a ring header";
  if (h->magic != GSYS_RING_MAGIC) return "bad magic";
  if (h->abi_version != GSYS_ABI_VERSION)
    return "ABI version " + std::to_string(h->abi_version) + ", expected " + std::to_string(GSYS_ABI_VERSION);
  if (h->header_bytes != GSYS_HEADER_BYTES) return "bad header size";
  if (!is_pow2(h->nslots) || h->nslots < GSYS_MIN_SLOTS || h->nslots > GSYS_MAX_SLOTS)
    return "bad slot count " + std::to_string(h->nslots);
  if (!is_pow2(h->sq_entries) || h->sq_entries < h->nslots) return "bad queue size";
  if (h->ring_bytes != gsys_ring_bytes(h->nslots, h->sq_entries) || h->ring_bytes > bytes)
    return "ring size does not match its geometry";
  if (h->slots_offset != gsys_ring_slots_offset() || h->sq_offset != gsys_ring_sq_offset(h->nslots))
    return "bad part offsets";
  if (h->timeout_ns == 0) return "zero timeout";
  return {};
}

ring_memory::ring_memory(const ring_geometry& g, std::size_t extra, int numa_node, bool publish)
    : ring_bytes_(g.ring_bytes), total_(g.ring_bytes + ((extra + 4095) & ~std::size_t(4095)))
{
  int fd = -1;
  if (publish) {
    prune_stale_rings();
    static std::atomic<unsigned> counter{0};
    const unsigned long ns = pid_namespace();
    name_ = "/genesys." + std::to_string(ns) + "." + std::to_string(getpid()) + "." + std::to_string(counter++);
    fd = shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST && ns != 0) {
      // The name carries our pid and namespace, so it was left by an earlier
      // process with the same pid that was killed before it could clean up:
      // reclaim it. (Namespace unknown: it may be another's, so fail.)
      shm_unlink(name_.c_str());
      fd = shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (fd < 0) throw setup_error("genesys: " + errno_text(("shm_open " + name_).c_str()));
    if (ftruncate(fd, (off_t)total_) != 0) {
      std::string e = errno_text("ftruncate ring");
      ::close(fd);
      shm_unlink(name_.c_str());
      throw setup_error("genesys: " + e);
    }
  }
  int flags = publish ? MAP_SHARED : (MAP_PRIVATE | MAP_ANONYMOUS);
  base_ = mmap(nullptr, total_, PROT_READ | PROT_WRITE, flags, fd, 0);
  int saved = errno;
  if (fd >= 0) ::close(fd);
  if (base_ == MAP_FAILED) {
    base_ = nullptr;
    if (publish) shm_unlink(name_.c_str());
    errno = saved;
    throw setup_error("genesys: " + errno_text("mmap ring"));
  }
  if (numa_node >= 0 && numa_node < 64) {
    // Before first touch, so the pages come from the node (best effort).
    unsigned long mask = 1ul << numa_node;
    mbind(base_, total_, MPOL_PREFERRED, &mask, 64, 0);
  }
  std::memset(base_, 0, total_);  // fault everything in now, not on the GPU's first call
}

ring_memory::~ring_memory()
{
  if (base_) munmap(base_, total_);
  if (!name_.empty()) shm_unlink(name_.c_str());
}

}  // namespace gsys::detail
