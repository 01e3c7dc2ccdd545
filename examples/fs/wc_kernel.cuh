// The gsys-wc kernel: lines, words and bytes of files the GPU opens and
// reads itself.
//
// As in gsys-grep, block b takes chunks b, b+G, ... of the inputs and reads
// each with one gsys::pread at block granularity. Each thread counts a
// contiguous share of the chunk; a word that crosses a share or a chunk
// border is counted once by folding the shares in order (a share reports its
// words as if it began outside a word, and what its first and last
// significant bytes were). Chunks then fold into the file's counts through a
// relay in order, and the block holding a file's last chunk writes its line
// with gsys::write, GNU wc's format and column width.
#pragma once

#include <genesys.cuh>

#include "common/block_ops.cuh"
#include "common/format.cuh"
#include "fs/file_io.cuh"

namespace ex {

// wc in the C locale: white space ends a word, a printable byte starts one,
// anything else (control bytes, bytes >= 0x80) does neither.
enum : unsigned char { kOther = 0, kSpace = 1, kPrintable = 2 };

__device__ inline unsigned char byte_class(unsigned char c)
{
  if (c == ' ' || (c >= '\t' && c <= '\r')) return kSpace;
  return c > ' ' && c < 0x7f ? kPrintable : kOther;
}

// Words in a run of bytes as if it began outside a word, and the classes of
// its first and last bytes that are not kOther (kOther if none).
struct word_run {
  u64 words = 0;
  unsigned char first = kOther, last = kOther;
};

// a followed by b.
__device__ inline word_run fold(word_run a, const word_run& b)
{
  a.words += b.words - (a.last == kPrintable && b.first == kPrintable ? 1 : 0);
  if (a.first == kOther) a.first = b.first;
  if (b.last != kOther) a.last = b.last;
  return a;
}

struct wc_counts {
  u64 lines, words, bytes;
};

// Ordered state passed from chunk to chunk (only the holder touches it).
struct wc_relay {
  relay turn;
  wc_counts file;       // the holder's file so far
  u32 in_word;          // its last significant byte was printable
  u32 failed;           // an error was reported for it
  u32 open_failed;      // it could not be opened: no counts line, as wc
  wc_counts total;
  u32 any_error;        // exit status 1
  u32 write_errno;
  u64 unsized_bytes;    // the bytes of the files of unknown size, as read (for --stats)
};

struct wc_job {
  fs_inputs in;
  bool lines, words, bytes;  // the columns
  u32 width;                 // column width (the host computes it as wc does)
  bool print_total;
  u32 chunk;
  u32 out_cap;
  char* buf;                 // [blocks][chunk]   runtime memory: pread target
  char* out;                 // [blocks][out_cap] runtime memory: write source
  wc_relay* relay;
};

// Counts one chunk's bytes with the whole block.
__device__ inline void count_chunk(const char* buf, u32 n, u64& lines, word_run& run)
{
  __shared__ u64 words[1024];
  __shared__ unsigned char first[1024], last[1024];
  const u32 per = (n + blockDim.x - 1) / blockDim.x;
  const u32 a = threadIdx.x * per < n ? threadIdx.x * per : n;
  const u32 e = a + per < n ? a + per : n;
  u64 nl = 0;
  word_run mine;
  bool in = false;
  for (u32 p = a; p < e; ++p) {
    const unsigned char c = (unsigned char)buf[p];
    nl += c == '\n';
    const unsigned char k = byte_class(c);
    if (k == kOther) continue;
    if (mine.first == kOther) mine.first = k;
    mine.last = k;
    if (k == kPrintable && !in) ++mine.words;
    in = k == kPrintable;
  }
  words[threadIdx.x] = mine.words;
  first[threadIdx.x] = mine.first;
  last[threadIdx.x] = mine.last;
  lines = block_sum(nl);  // its barriers also publish the arrays
  word_run all;
  for (u32 t = 0; t < blockDim.x; ++t) {
    word_run w;
    w.words = words[t];
    w.first = first[t];
    w.last = last[t];
    all = fold(all, w);
  }
  run = all;
  __syncthreads();  // the arrays are read before the next chunk refills them
}

// "  12   34  567 name\n" into out; returns the length.
__device__ inline u32 format_counts(char* out, const wc_job& j, const wc_counts& c, const char* name, u32 name_len)
{
  u32 n = 0;
  const u64 v[3] = {c.lines, c.words, c.bytes};
  const bool on[3] = {j.lines, j.words, j.bytes};
  for (int i = 0; i < 3; ++i) {
    if (!on[i]) continue;
    if (n) out[n++] = ' ';
    n += put_decimal(out + n, v[i], j.width);
  }
  out[n++] = ' ';
  n += put_bytes(out + n, name, name_len);
  out[n++] = '\n';
  return n;
}

__device__ inline void write_counts(const gsys::ring& r, const wc_job& j, const wc_counts& c, const char* name,
                                    u32 name_len, char* out)
{
  __shared__ u32 len;
  if (threadIdx.x == 0) len = format_counts(out, j, c, name, name_len);
  __syncthreads();
  const long err = j.relay->write_errno ? 0 : write_all(r, 1, out, len);
  if (threadIdx.x == 0 && err) {
    j.relay->write_errno = (u32)-err;
    j.relay->any_error = 1;
  }
  __syncthreads();
}

__global__ void wc_kernel(gsys::ring r, wc_job j)
{
  const u64 b = blockIdx.x;
  char* buf = j.buf + b * j.chunk;
  char* out = j.out + b * j.out_cap;
  wc_relay* rel = j.relay;
  block_file file;
  for (u64 g = b; g < j.in.total_chunks; g += gridDim.x) {
    const u32 fi = file_of_chunk(j.in, g);
    const fs_file& f = j.in.files[fi];
    const u64 k = g - f.first_chunk, off = k * j.chunk;
    file.use(r, j.in, fi);
    // One read for a chunk; a file of unknown size (one chunk) reads on until
    // a read comes back short: pread_full stops short only at end of file.
    long err = file.fd < 0 ? file.fd : 0;
    u64 lines = 0, bytes = 0;
    word_run run;
    for (u64 pos = off; !err;) {
      const u64 want = f.size > pos ? (f.size - pos < j.chunk ? f.size - pos : j.chunk) : 0;
      const long n = want ? pread_full(r, (int)file.fd, buf, want, pos) : 0;
      if (n < 0) {
        err = n;  // after what was counted, as wc
        break;
      }
      if (n > 0) {
        u64 l;
        word_run w;
        count_chunk(buf, (u32)n, l, w);
        lines += l;
        run = fold(run, w);
      }
      bytes += (u64)n;
      pos += (u64)n;
      if (f.size != kSizeUnknown || (u64)n < want) break;
    }

    relay_wait(&rel->turn, g);
    if (k == 0 && threadIdx.x == 0) {
      rel->file = wc_counts{0, 0, 0};
      rel->in_word = rel->failed = rel->open_failed = 0;
    }
    __syncthreads();
    const bool failed = rel->failed;
    __syncthreads();
    if (!failed && err) report_error(r, j.in, f, -err, out);
    if (threadIdx.x == 0 && !failed) {
      if (err) {
        rel->failed = rel->any_error = 1;
        rel->open_failed = file.fd < 0;
      }
      rel->file.lines += lines;
      rel->file.words += run.words - (rel->in_word && run.first == kPrintable ? 1 : 0);
      rel->file.bytes += bytes;
      if (f.size == kSizeUnknown) rel->unsized_bytes += bytes;
      if (run.last != kOther) rel->in_word = run.last == kPrintable;
    }
    __syncthreads();
    if (k + 1 == f.chunks) {
      if (!rel->open_failed) {
        write_counts(r, j, rel->file, j.in.strings + f.name, f.name_len, out);
        if (threadIdx.x == 0) {
          rel->total.lines += rel->file.lines;
          rel->total.words += rel->file.words;
          rel->total.bytes += rel->file.bytes;
        }
      }
      __syncthreads();
      if (fi + 1 == j.in.nfiles && j.print_total) write_counts(r, j, rel->total, "total", 5, out);
    }
    relay_pass(&rel->turn, g);
  }
  file.close(r);
}

}  // namespace ex
