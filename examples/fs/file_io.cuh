// Block-granularity file I/O for the file-system kernels: which file a chunk
// belongs to, opening it once per block, reading a whole range, writing a
// whole buffer, and grep/wc-style error messages. Every function here is
// called by all threads of a block (thread 0 makes the system call; the
// result reaches every thread).
#pragma once

#include <fcntl.h>

#include <genesys.cuh>

#include "common/block_ops.cuh"
#include "common/format.cuh"
#include "fs/fs_inputs.h"

namespace ex {

// The file that global chunk g belongs to (binary search on first_chunk).
__device__ inline u32 file_of_chunk(const fs_inputs& in, u64 g)
{
  u32 lo = 0, hi = in.nfiles;  // invariant: files[lo].first_chunk <= g < files[hi].first_chunk
  while (hi - lo > 1) {
    const u32 mid = (lo + hi) / 2;
    if (in.files[mid].first_chunk <= g) lo = mid;
    else hi = mid;
  }
  return lo;
}

// The file a block has open: opened when the block reaches its first chunk
// and kept while its chunks follow in the same file. `fd` < 0 is -errno.
struct block_file {
  u32 index = 0xffffffffu;
  long fd = -EBADF;

  __device__ void use(const gsys::ring& r, const fs_inputs& in, u32 f)
  {
    if (f == index) return;
    close(r);
    index = f;
    const fs_file& file = in.files[f];
    // A FIFO or device (`special`) is opened without blocking: a FIFO without
    // a writer would hold the open for good, and such inputs are read only as
    // far as their size says, which is nothing.
    fd = file.list_errno ? -(long)file.list_errno
                         : gsys::openat<gsys::block>(r, AT_FDCWD, in.strings + file.name,
                                                     O_RDONLY | O_NOCTTY | O_CLOEXEC | (file.special ? O_NONBLOCK : 0));
  }
  __device__ void close(const gsys::ring& r)
  {
    if (fd >= 0) gsys::close<gsys::block>(r, (int)fd);
    fd = -EBADF;
    index = 0xffffffffu;
  }
};

// Reads [off, off+len) into buf, looping over short reads. Returns the bytes
// read (fewer at end of file) or -errno if the first read failed.
__device__ inline long pread_full(const gsys::ring& r, int fd, char* buf, u64 len, u64 off)
{
  u64 got = 0;
  while (got < len) {
    // relaxed: the barrier after the call gives every thread the data.
    const long n = gsys::pread<gsys::block>(r, fd, buf + got, len - got, (off_t)(off + got));
    if (n < 0) return got ? (long)got : n;
    if (n == 0) break;
    got += (u64)n;
  }
  return (long)got;
}

// Writes all of buf. strong: no thread refills the buffer while the write
// is in flight. Returns 0 or -errno.
__device__ inline long write_all(const gsys::ring& r, int fd, const char* buf, u64 len)
{
  u64 done = 0;
  while (done < len) {
    const long n = gsys::write<gsys::block, gsys::strong>(r, fd, buf + done, len - done);
    if (n < 0) return n;
    if (n == 0) return -EIO;
    done += (u64)n;
  }
  return 0;
}

// "prog: name: text\n" into out (at least name_len + 256 bytes); returns its length.
__device__ inline u32 format_message(char* out, const fs_inputs& in, const fs_file& f, const char* text, u32 text_len)
{
  u32 n = put_bytes(out, in.strings + in.prog, in.prog_len);
  out[n++] = ':';
  out[n++] = ' ';
  n += put_bytes(out + n, in.strings + f.name, f.name_len);
  out[n++] = ':';
  out[n++] = ' ';
  n += put_bytes(out + n, text, text_len);
  out[n++] = '\n';
  return n;
}

__device__ inline u32 text_length(const char* s)
{
  u32 n = 0;
  while (s[n]) ++n;
  return n;
}

// Writes "prog: name: strerror(err)\n" to standard error (err > 0).
__device__ inline void report_error(const gsys::ring& r, const fs_inputs& in, const fs_file& f, long err, char* out)
{
  __shared__ u32 len;
  if (threadIdx.x == 0) {
    const char* text = err > 0 && err < kMaxErrno ? in.strings + in.errtext[err] : "Unknown error";
    len = format_message(out, in, f, text, text_length(text));
  }
  __syncthreads();
  write_all(r, 2, out, len);
}

}  // namespace ex
