// Simulator builds: kernels are host threads, so any memory is reachable.
#include <sys/mman.h>

#include <cstdint>
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
// Word by word, with relaxed atomic loads: a statistics read (runtime::usage)
// may copy the device part while kernels CAS its words, which a plain memcpy
// would race with (ThreadSanitizer reported it). Every device word is 4-byte
// aligned; a ragged tail, if any, is copied plainly.
void device_download(void* dst, const void* src, std::size_t bytes)
{
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  std::size_t i = 0;
  if ((reinterpret_cast<std::uintptr_t>(s) & 3) == 0) {
    for (; i + 4 <= bytes; i += 4) {
      const std::uint32_t w = __atomic_load_n(reinterpret_cast<const std::uint32_t*>(s + i), __ATOMIC_RELAXED);
      std::memcpy(d + i, &w, 4);
    }
  }
  std::memcpy(d + i, s + i, bytes - i);
}

void* map_for_device(void* p, std::size_t) { return p; }
void unmap_for_device(void*) {}

std::string memory_backend_name() { return "host"; }

}  // namespace gsys::detail
