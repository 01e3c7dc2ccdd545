// The gsys-mmap kernel: an out-of-core reduction over a file larger than the
// working set, in the spirit of GENESYS's AMR example.
//
// Block b takes windows b, b+G, ... of the file. For each it maps the window
// with gsys::mmap (block granularity), reduces it in place (a sum and a
// position-weighted sum of its 64-bit words and a histogram of their low
// bytes, which a CPU can check), and then, as asked:
//   none     keeps the pages: the resident set grows to the whole file;
//   madvise  gives the pages back with gsys::madvise(MADV_DONTNEED) and
//            keeps the (now empty) mapping until the end;
//   munmap   unmaps the window with gsys::munmap at once.
// At the end every block unmaps what it kept, and the grid reads the
// process's peak resident set with gsys::getrusage (grid granularity,
// strong: the last block to finish makes the call).
#pragma once

#include <sys/mman.h>
#include <sys/resource.h>

#include <genesys.cuh>

#include "common/block_ops.cuh"

namespace ex {

enum class release_mode : u32 { none, madvise, munmap };

struct mmap_result {
  u64 sum;           // sum of the words, mod 2^64
  u64 weighted;      // sum of word[i] * (i + 1), mod 2^64: catches misplaced windows
  u64 hist[256];     // low byte of each word
  u32 errors;        // failed calls
  u32 first_errno;
  long rusage_ret;   // gsys::getrusage's result
};

struct mmap_job {
  int fd;
  u64 size;            // file bytes
  u64 window;          // bytes per window (a multiple of the page size)
  release_mode release;
  u64* kept;           // [windows] address of a mapping still to unmap, or 0
  mmap_result* result; // runtime memory
  struct rusage* usage;  // runtime memory, for getrusage
};

__device__ inline void note_failure(mmap_result* res, long err)
{
  if (atomicAdd(&res->errors, 1u) == 0) res->first_errno = (u32)-err;
}

// The little-endian 64-bit word at p (8 bytes, or fewer zero-padded).
__device__ inline u64 load_word(const unsigned char* p, u32 n)
{
  if (n == 8) return *reinterpret_cast<const u64*>(p);  // aligned: windows start on pages
  u64 v = 0;
  for (u32 i = 0; i < n; ++i) v |= (u64)p[i] << (8 * i);
  return v;
}

__global__ void mmap_kernel(gsys::ring r, mmap_job j)
{
  __shared__ u64 hist[256];
  for (u32 i = threadIdx.x; i < 256; i += blockDim.x) hist[i] = 0;
  __syncthreads();
  const u64 windows = (j.size + j.window - 1) / j.window;
  u64 sum = 0, weighted = 0;

  for (u64 w = blockIdx.x; w < windows; w += gridDim.x) {
    const u64 off = w * j.window;
    const u64 len = j.size - off < j.window ? j.size - off : j.window;
    const long addr = gsys::mmap<gsys::block>(r, nullptr, len, PROT_READ, MAP_PRIVATE, j.fd, (off_t)off);
    if (addr < 0 && addr > -4096) {
      if (threadIdx.x == 0) note_failure(j.result, addr);
      continue;
    }
    const unsigned char* p = reinterpret_cast<const unsigned char*>(addr);
    const u64 words = (len + 7) / 8, first = off / 8;
    for (u64 i = threadIdx.x; i < words; i += blockDim.x) {
      const u64 v = load_word(p + 8 * i, len - 8 * i < 8 ? (u32)(len - 8 * i) : 8);
      sum += v;
      weighted += v * (first + i + 1);
      atomicAdd(&hist[v & 255], 1ull);
    }
    __syncthreads();  // the whole block is done with the window before it goes
    long rel = 0;
    if (j.release == release_mode::madvise) rel = gsys::madvise<gsys::block>(r, (void*)p, len, MADV_DONTNEED);
    else if (j.release == release_mode::munmap) rel = gsys::munmap<gsys::block>(r, (void*)p, len);
    if (rel < 0 && threadIdx.x == 0) note_failure(j.result, rel);
    if (threadIdx.x == 0) j.kept[w] = j.release == release_mode::munmap ? 0 : (u64)addr;
  }

  sum = block_sum(sum);
  weighted = block_sum(weighted);
  if (threadIdx.x == 0) {
    atomicAdd(&j.result->sum, sum);
    atomicAdd(&j.result->weighted, weighted);
  }
  for (u32 i = threadIdx.x; i < 256; i += blockDim.x)
    if (hist[i]) atomicAdd(&j.result->hist[i], hist[i]);

  // The peak is taken before anything is unmapped (ru_maxrss is a high-water
  // mark, so the order matters only for the reading, not the peak).
  const long ret = gsys::getrusage<gsys::grid, gsys::strong>(r, RUSAGE_SELF, j.usage);
  if (blockIdx.x == 0 && threadIdx.x == 0) j.result->rusage_ret = ret;

  for (u64 w = blockIdx.x; w < windows; w += gridDim.x) {
    const u64 addr = j.kept[w];  // uniform: written by thread 0 before the barriers above
    if (!addr) continue;
    const u64 len = j.size - w * j.window < j.window ? j.size - w * j.window : j.window;
    const long rel = gsys::munmap<gsys::block>(r, (void*)addr, len);
    if (rel < 0 && threadIdx.x == 0) note_failure(j.result, rel);
  }
}

}  // namespace ex
