// Host-side launch helpers with one spelling for both worlds:
//   gsys::launch(kernel, grid, block, args...)  asynchronous, like <<<>>>
//   gsys::synchronize()                         waits for launched kernels
//   gsys::device_name()                          what runs the kernels
// Under nvcc they wrap the CUDA runtime and throw std::runtime_error on a
// CUDA error; on the simulator they start and join simulated grids.
#pragma once

#include <string>

#include "config.h"

#if GSYS_CUDA
#include <cuda_runtime.h>

#include <stdexcept>
#include <utility>

namespace gsys {

inline void check_cuda(cudaError_t e, const char* what)
{
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

template <class... P, class... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, A&&... args)
{
  kernel<<<grid, block>>>(std::forward<A>(args)...);
  check_cuda(cudaGetLastError(), "kernel launch");
}

inline void synchronize() { check_cuda(cudaDeviceSynchronize(), "kernel execution"); }

inline bool device_present()
{
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

inline std::string device_name()
{
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "no CUDA device";
  return p.name;
}

}  // namespace gsys

#else

namespace gsys {

using sim::launch;
using sim::synchronize;

inline bool device_present() { return true; }
inline std::string device_name() { return sim::device_name(); }

}  // namespace gsys

#endif
