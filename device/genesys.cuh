// genesys: system calls from GPU threads. The only include a kernel needs.
//
//   __global__ void k(gsys::ring r, int fd, char* buf) {
//     long n = gsys::pread<gsys::block>(r, fd, buf, 4096, blockIdx.x * 4096L);
//   }
//
// Under nvcc this is the GPU library; under g++ it runs the same source on
// the SIMT simulator. See docs/device.md for granularity and ordering.
#pragma once

#include "genesys/config.h"
#include "genesys/calls.h"
#include "genesys/staging.h"
#include "genesys/launch.h"
