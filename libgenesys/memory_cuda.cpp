// CUDA builds: buffers are pinned and mapped (cudaHostAlloc), the ring is
// page-locked in place (cudaHostRegister) so the GPU and the host, and
// genesys.ko, all work on the same pages.
#include <cuda_runtime.h>

#include <cstring>
#include <string>

#include <genesys/runtime.h>

#include "memory.h"

namespace gsys::detail {

void* device_visible_alloc(std::size_t bytes)
{
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocMapped | cudaHostAllocPortable) != cudaSuccess) return nullptr;
  std::memset(p, 0, bytes);
  return p;
}

void device_visible_free(void* p, std::size_t)
{
  if (p) cudaFreeHost(p);
}

void* map_for_device(void* p, std::size_t bytes)
{
  cudaError_t e = cudaHostRegister(p, bytes, cudaHostRegisterMapped | cudaHostRegisterPortable);
  if (e != cudaSuccess) throw setup_error(std::string("genesys: cudaHostRegister(ring): ") + cudaGetErrorString(e));
  void* dev = nullptr;
  e = cudaHostGetDevicePointer(&dev, p, 0);
  if (e != cudaSuccess) {
    cudaHostUnregister(p);
    throw setup_error(std::string("genesys: cudaHostGetDevicePointer(ring): ") + cudaGetErrorString(e));
  }
  return dev;
}

void unmap_for_device(void* p)
{
  if (p) cudaHostUnregister(p);
}

std::string memory_backend_name() { return "cuda"; }

}  // namespace gsys::detail
