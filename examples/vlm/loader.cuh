// The loader kernel: the GPU reads the checkpoint's tensors and the images'
// embeddings itself. The host parsed only the safetensors headers and opened
// the files; here blocks take chunks of the tensors' byte ranges in turn,
// read each with one gsys::pread at block granularity into the block's own
// window of host-reachable memory (runtime::alloc: pinned and mapped on a
// GPU, so the executor can write it), convert it to fp32 into the tensor's
// place in device memory, and add the chunk's checksum (numeric.h) to the
// tensor's, which the tests compare with a host read.
#pragma once

#include <errno.h>

#include <genesys.cuh>

#include "vlm/numeric.h"

namespace vlm {

struct load_job {
  int fd;
  int dt;                  // vlm::dtype
  unsigned long long offset;  // in the file
  unsigned long long bytes;
  float* dest;             // numel floats in device memory
  unsigned long long first_chunk;  // global index of the job's first chunk
};

struct load_args {
  gsys::ring ring;
  const load_job* jobs;  // kernel-readable
  int njobs;
  unsigned long long chunks;       // total
  unsigned long long chunk_bytes;  // a multiple of 4
  char* windows;                   // gridDim.x x chunk_bytes, host-reachable
  unsigned long long* checksums;   // per job, zeroed
  unsigned long long* bytes_read;  // one counter
  long long* error;                // first failure: -errno, or -EIO for a short read
  int* failed_job;
};

// Reads [off, off + len) completely (looping over short reads); the bytes
// read, or -errno when the first read fails.
__device__ inline long long pread_all(const gsys::ring& r, int fd, char* buf, unsigned long long len,
                                      unsigned long long off)
{
  unsigned long long got = 0;
  while (got < len) {
    // relaxed: the barrier after the call gives every thread the data.
    const long n = gsys::pread<gsys::block>(r, fd, buf + got, len - got, (off_t)(off + got));
    if (n < 0) return got ? (long long)got : n;
    if (n == 0) break;
    got += (unsigned long long)n;
  }
  return (long long)got;
}

__global__ void load_kernel(load_args a)
{
  char* win = a.windows + (unsigned long long)blockIdx.x * a.chunk_bytes;
  for (unsigned long long g = blockIdx.x; g < a.chunks; g += gridDim.x) {
    int lo = 0, hi = a.njobs;  // jobs[lo].first_chunk <= g < jobs[hi].first_chunk
    while (hi - lo > 1) {
      const int mid = (lo + hi) / 2;
      if (a.jobs[mid].first_chunk <= g) lo = mid;
      else hi = mid;
    }
    const load_job job = a.jobs[lo];
    const unsigned long long off = (g - job.first_chunk) * a.chunk_bytes;
    const unsigned long long len = job.bytes - off < a.chunk_bytes ? job.bytes - off : a.chunk_bytes;
    const long long n = pread_all(a.ring, job.fd, win, len, job.offset + off);
    if (n != (long long)len) {
      if (threadIdx.x == 0 && atomicCAS((unsigned long long*)a.error, 0ull, (unsigned long long)(n < 0 ? n : -EIO)) == 0)
        *a.failed_job = lo;
      __syncthreads();
      continue;
    }
    // Convert: chunk offsets are multiples of 4, so elements never straddle chunks.
    const unsigned esize = job.dt == 0 ? 4 : 2;
    float* dst = job.dest + off / esize;
    const unsigned long long count = len / esize;
    for (unsigned long long i = threadIdx.x; i < count; i += blockDim.x) {
      float v;
      if (job.dt == 0) {
        v = bits_to_float(*(const unsigned*)(win + 4 * i));
      } else {
        const unsigned short h = *(const unsigned short*)(win + 2 * i);
        v = job.dt == 2 ? bf16_to_float(h) : f16_to_float(h);
      }
      dst[i] = v;
    }
    unsigned long long sum = 0;
    for (unsigned long long w = threadIdx.x; 4 * w < len; w += blockDim.x) {
      unsigned word = 0;
      for (unsigned b = 0; b < 4 && 4 * w + b < len; ++b) word |= (unsigned)(unsigned char)win[4 * w + b] << (8 * b);
      sum += checksum_term((off / 4) + w, word);
    }
    atomicAdd(&a.checksums[lo], sum);
    if (threadIdx.x == 0) atomicAdd(a.bytes_read, len);
    __syncthreads();  // the window is refilled next
  }
}

}  // namespace vlm
