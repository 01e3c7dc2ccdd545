// Host code that differs between the GPU and the simulator, for the .cu
// mains: what runs the kernels, how many blocks fit at once, and scratch
// memory that only kernels touch (device memory on a GPU, so the kernels'
// working arrays do not cross PCIe; ordinary memory on the simulator).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>

#include <genesys.cuh>

namespace ex {

// "NVIDIA H200" or "SIMT simulator (N host cores)".
inline std::string device_label() { return gsys::device_name(); }

// Blocks that are resident at once with room to spare: the examples' grids
// are persistent (blocks wait for each other), so they must all fit.
inline unsigned default_blocks()
{
#if GSYS_CUDA
  int sms = 0;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess || sms <= 0) return 16;
  return (unsigned)sms;
#else
  unsigned n = std::thread::hardware_concurrency();
  return n < 2 ? 2 : (n > 8 ? 8 : n);
#endif
}

// Zeroed memory for kernels only. Throws std::runtime_error when there is none.
//
// On a GPU it comes from the stream-ordered allocator on the default stream
// (cudaMallocAsync / cudaFreeAsync), not cudaMalloc / cudaFree: cudaFree
// waits for every kernel on the device, so a server whose receiver kernel
// never ends could not free a request's activations. The default pool keeps
// what is freed (release threshold: all), so a server's steady state
// allocates nothing from the driver.
inline void* scratch_alloc(std::size_t bytes)
{
#if GSYS_CUDA
  static const bool pool_kept = [] {
    cudaMemPool_t pool = nullptr;
    std::uint64_t keep = ~0ull;
    return cudaDeviceGetDefaultMemPool(&pool, 0) == cudaSuccess &&
           cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep) == cudaSuccess;
  }();
  (void)pool_kept;
  void* p = nullptr;
  cudaError_t e = cudaMallocAsync(&p, bytes ? bytes : 1, 0);
  if (e == cudaSuccess) e = cudaMemsetAsync(p, 0, bytes, 0);
  if (e == cudaSuccess) e = cudaStreamSynchronize(0);  // zeroed before any stream uses it
  if (e != cudaSuccess) throw std::runtime_error(std::string("device memory: ") + cudaGetErrorString(e));
  return p;
#else
  void* p = std::calloc(1, bytes ? bytes : 1);
  if (!p) throw std::runtime_error("device memory: cannot allocate " + std::to_string(bytes) + " bytes");
  return p;
#endif
}

inline void scratch_free(void* p)
{
#if GSYS_CUDA
  cudaFreeAsync(p, 0);  // after the default stream's work: a free in use elsewhere is the caller's bug
#else
  std::free(p);
#endif
}

// False (after saying so on stderr) when there is no device to run kernels.
inline bool require_device(const char* prog)
{
  if (gsys::device_present()) return true;
  std::fprintf(stderr, "%s: no CUDA device\n", prog);
  return false;
}

// Whether kernels may dereference ordinary (pageable, mmap'd) host memory:
// always on the simulator; on a GPU only with HMM or ATS.
inline bool pageable_memory_access()
{
#if GSYS_CUDA
  int v = 0;
  return cudaDeviceGetAttribute(&v, cudaDevAttrPageableMemoryAccess, 0) == cudaSuccess && v != 0;
#else
  return true;
#endif
}

}  // namespace ex
