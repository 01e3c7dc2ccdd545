// CUDA builds: buffers are pinned and mapped (cudaHostAlloc), the ring is
// page-locked in place (cudaHostRegister) so the GPU and the host, and
// genesys.ko, all work on the same pages. On a machine without a CUDA
// device the runtime still comes up, on ordinary memory (kernels cannot be
// launched there, and gsys::launch says so), so host-side code and the
// tests' skip logic work the same everywhere.
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <genesys/runtime.h>

#include "memory.h"

namespace gsys::detail {

namespace {

bool have_device()
{
  static const bool yes = [] {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
  }();
  return yes;
}

}  // namespace

void* device_visible_alloc(std::size_t bytes)
{
  void* p = nullptr;
  if (!have_device()) return std::calloc(1, bytes ? bytes : 1);
  if (cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocMapped | cudaHostAllocPortable) != cudaSuccess) return nullptr;
  std::memset(p, 0, bytes);
  return p;
}

void device_visible_free(void* p, std::size_t)
{
  if (!have_device()) return std::free(p);
  if (p) cudaFreeHost(p);
}

void* device_only_alloc(std::size_t bytes)
{
  void* p = nullptr;
  if (!have_device()) return std::calloc(1, bytes ? bytes : 1);
  if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) return nullptr;
  if (cudaMemset(p, 0, bytes) != cudaSuccess) {
    cudaFree(p);
    return nullptr;
  }
  return p;
}

void device_only_free(void* p, std::size_t)
{
  if (!have_device()) return std::free(p);
  if (p) cudaFree(p);
}

void device_upload(void* dst, const void* src, std::size_t bytes)
{
  if (!have_device()) {
    std::memcpy(dst, src, bytes);
    return;
  }
  const cudaError_t e = cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice);
  if (e != cudaSuccess) throw setup_error(std::string("genesys: cudaMemcpy to the ring's device part: ") + cudaGetErrorString(e));
}

void device_download(void* dst, const void* src, std::size_t bytes)
{
  if (!have_device()) {
    std::memcpy(dst, src, bytes);
    return;
  }
  // On a stream of its own that does not wait for the legacy stream, so a
  // persistent kernel still running does not block a statistics read.
  static cudaStream_t side = [] {
    cudaStream_t s = nullptr;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    return s;
  }();
  // Statistics only: a failure (a kernel fault poisoned the context) reads as zeros.
  if (cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, side) != cudaSuccess ||
      cudaStreamSynchronize(side) != cudaSuccess)
    std::memset(dst, 0, bytes);
}

void* map_for_device(void* p, std::size_t bytes)
{
  if (!have_device()) return p;
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
  if (p && have_device()) cudaHostUnregister(p);
}

std::string memory_backend_name() { return "cuda"; }

}  // namespace gsys::detail
