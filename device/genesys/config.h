// Execution-space macros and the platform switch, defined once.
//
// Under nvcc the device library compiles for the GPU; under plain g++ it
// compiles against the SIMT simulator (device/genesys/sim/sim.h), which
// provides the CUDA built-ins (threadIdx, __syncthreads, __shfl_sync, ...)
// so the library itself uses one spelling for both worlds.
#pragma once

// The device library and the runtime are C++20; say so before anything else
// fails (the include stops the compiler: #error alone lets it go on).
#if !defined(__cplusplus) || __cplusplus < 202002L
#error "genesys needs C++20 (-std=c++20)"
#include <genesys-needs-c++20>
#endif

#if defined(__CUDACC__)
#define GSYS_CUDA 1
#define GSYS_DEVICE __device__ __forceinline__
#define GSYS_DEVICE_NOINLINE __device__ __noinline__
#else
#define GSYS_CUDA 0
#include "sim/sim.h"
#define GSYS_DEVICE inline
#define GSYS_DEVICE_NOINLINE
#endif

#include <genesys/abi.h>
#include <genesys/ops.h>

namespace gsys {
using u16 = gsys_u16;
using u32 = gsys_u32;
using u64 = gsys_u64;
using s64 = gsys_s64;
}  // namespace gsys
