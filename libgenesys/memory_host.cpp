// Simulator builds: kernels are host threads, so any memory is reachable.
#include <sys/mman.h>

#include <cstring>

#include "memory.h"

namespace gsys::detail {

void* device_visible_alloc(std::size_t bytes)
{
  void* p = mmap(nullptr, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void device_visible_free(void* p, std::size_t bytes)
{
  if (p) munmap(p, bytes ? bytes : 1);
}

void* device_only_alloc(std::size_t bytes) { return device_visible_alloc(bytes); }
void device_only_free(void* p, std::size_t bytes) { device_visible_free(p, bytes); }
void device_upload(void* dst, const void* src, std::size_t bytes) { std::memcpy(dst, src, bytes); }
void device_download(void* dst, const void* src, std::size_t bytes) { std::memcpy(dst, src, bytes); }

void* map_for_device(void* p, std::size_t) { return p; }
void unmap_for_device(void*) {}

std::string memory_backend_name() { return "host"; }

}  // namespace gsys::detail
