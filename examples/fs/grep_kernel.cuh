// The gsys-grep kernel: fixed-string search over files the GPU opens and
// reads itself.
//
// The inputs are cut into chunks (fs_inputs); block b takes chunks b, b+G,
// b+2G, ... (G blocks), opening each file with gsys::openat at block
// granularity and reading a chunk with one gsys::pread into its window:
//
//     [1 byte before | the chunk ............ | tail: up to one chunk more]
//
// A chunk owns the lines that start inside it; the byte before tells whether
// its first byte starts a line, and the tail holds the end of its last line.
// A line longer than the tail is streamed with more preads. The search runs
// in parallel over byte positions; the matching lines are then formatted
// into an output buffer and written with gsys::write, in file order: chunk g
// writes only after chunk g-1 has (a relay through memory, which also
// carries the line count before each chunk).
#pragma once

#include <genesys.cuh>

#include "common/block_ops.cuh"
#include "common/format.cuh"
#include "fs/file_io.cuh"

namespace ex {

constexpr u32 kMaxPatterns = 64;

// Ordered state passed from chunk to chunk (runtime memory; only the block
// holding the relay touches it).
struct grep_relay {
  relay turn;
  u64 lines;           // newlines before the holder's chunk, in its file
  u32 binary;          // the holder's file has a NUL byte in its first window
  u32 matched;         // ... has a matching line so far
  u32 failed;          // ... had an error (reported once)
  u32 any_selected;    // the whole run: exit status 0
  u32 any_error;       // exit status 2
  u32 write_errno;     // writing the output failed (EPIPE, ENOSPC...)
  u64 unsized_bytes;   // the bytes of the files of unknown size, as read (for --stats)
};

struct grep_job {
  fs_inputs in;
  const char* patterns;           // concatenated, pattern_off[i]..pattern_off[i+1]
  u32 pattern_off[kMaxPatterns + 1];
  u32 npatterns;
  u32 longest;                    // longest pattern (<= chunk)
  bool match_all;                 // an empty pattern matches every line
  bool line_numbers;
  bool with_filename;
  u32 chunk;                      // bytes a chunk owns
  u32 window;                     // bytes read per chunk: 1 + chunk + tail
  u32 out_cap;                    // per block; fits a full round of lines (host computes)
  char* buf;                      // [blocks][window]   runtime memory: pread target
  char* out;                      // [blocks][out_cap]  runtime memory: write source
  u32* starts;                    // [blocks][chunk+1]  scratch: line starts (window offsets)
  u32* sel;                       // [blocks][chunk+1]  scratch: matching lines, compacted
  unsigned char* hit;             // [blocks][chunk+1]  scratch: per-line match flag
  grep_relay* relay;
};

// This block's share [a, e) of the range [lo, hi), contiguous.
struct thread_range {
  u32 a, e;
  __device__ thread_range(u32 lo, u32 hi)
  {
    const u32 span = hi > lo ? hi - lo : 0, per = (span + blockDim.x - 1) / blockDim.x;
    const u32 x = threadIdx.x * per;
    a = lo + (x < span ? x : span);
    e = lo + (x + per < span ? x + per : span);
  }
};

// Does any pattern occur at s[q], ending at or before `limit`?
__device__ inline bool match_at(const grep_job& j, const char* s, u32 q, u32 limit)
{
  for (u32 p = 0; p < j.npatterns; ++p) {
    const char* pat = j.patterns + j.pattern_off[p];
    const u32 len = j.pattern_off[p + 1] - j.pattern_off[p];
    if (q + len > limit || s[q] != pat[0]) continue;
    u32 i = 1;
    while (i < len && s[q + i] == pat[i]) ++i;
    if (i == len) return true;
  }
  return false;
}

// The line containing window offset q: the last start <= q.
__device__ inline u32 line_of(const u32* starts, u32 lines, u32 q)
{
  u32 lo = 0, hi = lines;
  while (hi - lo > 1) {
    const u32 mid = (lo + hi) / 2;
    if (starts[mid] <= q) lo = mid;
    else hi = mid;
  }
  return lo;
}

// The first '\n' in buf[from, to), or `to`.
__device__ inline u32 first_newline(const char* buf, u32 from, u32 to)
{
  thread_range t(from, to);
  u32 at = 0xffffffffu;
  for (u32 p = t.a; p < t.e; ++p)
    if (buf[p] == '\n') {
      at = p;
      break;
    }
  const u32 m = block_min(at);
  return m == 0xffffffffu ? to : m;
}

// Does a pattern occur inside buf[from, to)?
__device__ inline bool any_match(const grep_job& j, const char* buf, u32 from, u32 to)
{
  if (j.match_all) return true;
  thread_range t(from, to);
  bool found = false;
  for (u32 q = t.a; q < t.e && !found; ++q) found = match_at(j, buf, q, to);
  return __syncthreads_or(found);
}

// What the parallel pass learned about one chunk.
struct chunk_scan {
  long err = 0;             // -errno from open or read
  u64 base = 0;             // file offset of window[0]
  u32 n = 0;                // bytes in the window
  u32 lines = 0;            // lines that start in the chunk: starts[0..lines)
  u32 newlines = 0;         // '\n' bytes in the chunk itself
  u32 last_end = 0;         // end of the last line's content (its '\n', or n)
  bool last_open = false;   // the last line goes on past the window
  bool continued = false;   // the chunk begins inside a line that started before it
  bool has_nul = false;     // (first chunk only) a NUL byte: a binary file
};

// Reads chunk k of file f and finds its lines and which of them match.
__device__ inline chunk_scan scan_chunk(const gsys::ring& r, const grep_job& j, const fs_file& f, u64 k, long fd,
                                        char* buf, u32* starts, unsigned char* hit)
{
  chunk_scan c;
  const u64 s = k * j.chunk;
  c.base = s ? s - 1 : 0;
  const u64 want64 = f.size > c.base ? f.size - c.base : 0;
  const u32 want = (u32)(want64 < j.window - (s ? 0 : 1) ? want64 : j.window - (s ? 0 : 1));
  long n = 0;
  if (fd < 0) n = fd;
  else if (want) n = pread_full(r, (int)fd, buf, want, c.base);
  if (n < 0) {
    c.err = n;
    return c;
  }
  c.n = (u32)n;
  const u32 lo = s ? 1 : 0;
  const u32 hi = c.n < lo + j.chunk ? (c.n > lo ? c.n : lo) : lo + j.chunk;

  // Line starts and newlines in the chunk, then the starts compacted in order.
  thread_range t(lo, hi);
  u32 cnt = 0, nl = 0;
  for (u32 p = t.a; p < t.e; ++p) {
    cnt += (c.base + p == 0 || buf[p - 1] == '\n');
    nl += buf[p] == '\n';
  }
  u32 lines;
  u32 i = block_exclusive_sum(cnt, lines);
  c.newlines = block_sum(nl);
  for (u32 p = t.a; p < t.e; ++p)
    if (c.base + p == 0 || buf[p - 1] == '\n') starts[i++] = p;
  __syncthreads();
  c.lines = lines;
  if (k == 0) {
    bool nul = false;
    for (u32 p = threadIdx.x; p < c.n && !nul; p += blockDim.x) nul = buf[p] == '\0';
    c.has_nul = __syncthreads_or(nul);
  }
  if (lines == 0) return c;
  c.continued = starts[0] != lo;

  // Where the last line ends: in the window, at end of file, or beyond.
  const u32 last = starts[lines - 1];
  c.last_end = first_newline(buf, last, c.n);
  const bool at_eof = c.base + c.n >= f.size || c.n < want;
  c.last_open = c.last_end == c.n && !at_eof;

  for (u32 l = threadIdx.x; l < lines; l += blockDim.x) hit[l] = j.match_all;
  __syncthreads();
  if (!j.match_all) {
    // Each thread tries the start positions of its share; a pattern holds no
    // '\n', so a match lies inside one line. After a hit, skip to the next line.
    thread_range m(starts[0], c.last_end);
    for (u32 q = m.a; q < m.e; ++q) {
      if (!match_at(j, buf, q, c.last_end)) continue;
      const u32 l = line_of(starts, lines, q);
      hit[l] = 1;
      if (l + 1 == lines) break;
      q = starts[l + 1] - 1;
    }
  }
  __syncthreads();
  return c;
}

// "name:" and "123:" as the options ask; returns the length.
__device__ inline u32 put_prefix(char* o, const grep_job& j, const fs_file& f, u64 lineno)
{
  u32 n = 0;
  if (j.with_filename) {
    n += put_bytes(o, j.in.strings + f.name, f.name_len);
    o[n++] = ':';
  }
  if (j.line_numbers) {
    n += put_decimal(o + n, lineno);
    o[n++] = ':';
  }
  return n;
}

__device__ inline u32 prefix_length(const grep_job& j, const fs_file& f, u64 lineno)
{
  return (j.with_filename ? f.name_len + 1 : 0) + (j.line_numbers ? decimal_digits(lineno) + 1 : 0);
}

// Writes the matching lines that lie wholly in the window, in order, in
// rounds of one line per thread. Returns 0 or -errno from the write.
__device__ inline long print_lines(const gsys::ring& r, const grep_job& j, const fs_file& f, const chunk_scan& c,
                                   u64 first_lineno, const char* buf, const u32* starts, const unsigned char* hit,
                                   u32* sel, char* out, bool& printed)
{
  const u32 lines = c.last_open ? c.lines - 1 : c.lines;
  thread_range t(0, lines);
  u32 cnt = 0;
  for (u32 l = t.a; l < t.e; ++l) cnt += hit[l];
  u32 matched;
  u32 i = block_exclusive_sum(cnt, matched);
  for (u32 l = t.a; l < t.e; ++l)
    if (hit[l]) sel[i++] = l;
  __syncthreads();
  printed = matched > 0;

  u32 pending = 0;
  long err = 0;
  for (u32 r0 = 0; r0 < matched; r0 += blockDim.x) {
    const u32 k = r0 + threadIdx.x;
    const bool have = k < matched;
    const u32 l = have ? sel[k] : 0;
    const u32 ls = starts[l], le = l + 1 < c.lines ? starts[l + 1] - 1 : c.last_end;
    const u64 lineno = first_lineno + l;
    const u32 size = have ? prefix_length(j, f, lineno) + (le - ls) + 1 : 0;
    u32 total;
    const u32 off = block_exclusive_sum(size, total);
    if (pending + total > j.out_cap) {  // the host sized out_cap so that one round always fits
      if (!err) err = write_all(r, 1, out, pending);
      pending = 0;
    }
    if (have) {
      char* o = out + pending + off;
      u32 n = put_prefix(o, j, f, lineno);
      n += put_bytes(o + n, buf + ls, le - ls);
      o[n] = '\n';
    }
    pending += total;
  }
  if (pending && !err) err = write_all(r, 1, out, pending);
  return err;
}

// The last line of a chunk ran past the window: reads on from `pos` until
// its '\n' (or the end of the file), searching as it goes unless `matched`.
// Sets `end` to the file offset where its content ends. Returns 0 or -errno.
__device__ inline long follow_long_line(const gsys::ring& r, const grep_job& j, const fs_file& f, int fd, char* buf,
                                        u64 start, u64 pos, bool& matched, u64& end)
{
  for (;;) {
    if (pos >= f.size) break;
    // Keep the last longest-1 bytes so a match across two reads is seen.
    const u64 keep = matched || j.longest == 0 ? 0 : (pos - start < j.longest - 1 ? pos - start : j.longest - 1);
    const u64 from = pos - keep;
    const u64 want = f.size - from < j.window ? f.size - from : j.window;
    const long got = pread_full(r, fd, buf, want, from);
    if (got < 0) return got;
    if ((u64)got <= keep) break;  // the file shrank
    const u32 nl = first_newline(buf, (u32)keep, (u32)got);
    if (!matched) matched = any_match(j, buf, 0, nl);
    if (nl < (u32)got) {
      end = from + nl;
      return 0;
    }
    pos = from + (u64)got;
    if ((u64)got < want) break;
  }
  end = pos;
  return 0;
}

// Copies file bytes [from, to) to standard output through the window.
__device__ inline long copy_to_output(const gsys::ring& r, const grep_job& j, int fd, char* buf, u64 from, u64 to)
{
  for (u64 p = from; p < to;) {
    const u64 want = to - p < j.window ? to - p : j.window;
    const long got = pread_full(r, fd, buf, want, p);
    if (got < 0) return got;
    if (got == 0) break;
    if (long err = write_all(r, 1, buf, (u64)got)) return err;
    p += (u64)got;
  }
  return 0;
}

// The ordered part of chunk k (global index g): runs while the block holds
// the relay. Reports errors, prints, and moves the line count on; `last`:
// the file's last chunk.
__device__ inline void finish_chunk(const gsys::ring& r, const grep_job& j, const fs_file& f, u64 k, const chunk_scan& c,
                                    long fd, char* buf, const u32* starts, const unsigned char* hit, u32* sel,
                                    char* out, bool last)
{
  grep_relay* rel = j.relay;
  if (k == 0 && threadIdx.x == 0) {
    rel->lines = 0;
    rel->binary = c.has_nul;
    rel->matched = 0;
    rel->failed = 0;
  }
  __syncthreads();
  const u64 lines_before = rel->lines;
  const bool binary = rel->binary, failed = rel->failed, quiet = rel->write_errno != 0;
  __syncthreads();  // everyone has read the relay before thread 0 updates it

  long err = c.err, werr = 0;
  bool any = false;
  if (!failed && !err && c.lines > 0) {
    const u64 first_lineno = lines_before + 1 + (c.continued ? 1 : 0);
    bool open_hit = c.last_open && hit[c.lines - 1];
    if (binary || quiet) {
      any = __syncthreads_or(threadIdx.x < c.lines && hit[threadIdx.x]) || open_hit;
      for (u32 base = blockDim.x; base < c.lines && !any; base += blockDim.x)
        any = __syncthreads_or(base + threadIdx.x < c.lines && hit[base + threadIdx.x]);
      if (!any && c.last_open) {
        u64 end;
        err = follow_long_line(r, j, f, (int)fd, buf, c.base + starts[c.lines - 1], c.base + c.n, any, end);
      }
    } else {
      werr = print_lines(r, j, f, c, first_lineno, buf, starts, hit, sel, out, any);
      if (!werr && c.last_open) {
        u64 start = c.base + starts[c.lines - 1], end = 0;
        err = follow_long_line(r, j, f, (int)fd, buf, start, c.base + c.n, open_hit, end);
        if (!err && open_hit) {
          any = true;
          __shared__ u32 len;
          if (threadIdx.x == 0) len = put_prefix(out, j, f, first_lineno + c.lines - 1);
          __syncthreads();
          werr = write_all(r, 1, out, len);
          if (!werr) {
            err = copy_to_output(r, j, (int)fd, buf, start, end);
            if (threadIdx.x == 0) out[0] = '\n';  // from runtime memory: the host reads it
            __syncthreads();
            if (!err) werr = write_all(r, 1, out, 1);
          }
        }
      }
    }
  }
  if (!failed && err) report_error(r, j.in, f, -err, out);
  if (threadIdx.x == 0) {
    rel->lines += c.newlines;
    if (!failed && err) {
      rel->failed = 1;
      rel->any_error = 1;
    }
    if (any) {
      rel->matched = 1;
      rel->any_selected = 1;
    }
    if (werr && !rel->write_errno) {
      rel->write_errno = (u32)-werr;
      rel->any_error = 1;
    }
  }
  __syncthreads();
  if (last && binary && rel->matched && !rel->failed) {
    __shared__ u32 len;
    const char text[] = "binary file matches";
    if (threadIdx.x == 0) len = format_message(out, j.in, f, text, sizeof text - 1);
    __syncthreads();
    write_all(r, 2, out, len);
  }
}

// A file of unknown size (kSizeUnknown: one chunk, global index g): the block
// takes its turn, then goes through it as chunks 0, 1, 2... would, scanning
// each while it holds the relay, until the chunk where the reads end.
__device__ inline void grep_to_end(const gsys::ring& r, const grep_job& j, const fs_file& f, u64 g, long fd, char* buf,
                                   u32* starts, unsigned char* hit, u32* sel, char* out)
{
  relay_wait(&j.relay->turn, g);
  for (u64 k = 0;; ++k) {
    const chunk_scan c = scan_chunk(r, j, f, k, fd, buf, starts, hit);
    // Bytes past the chunk in its window: the next chunk has lines to own.
    const bool more = !c.err && c.n > (k ? 1u : 0u) + j.chunk;
    finish_chunk(r, j, f, k, c, fd, buf, starts, hit, sel, out, !more);
    if (!more) {
      if (threadIdx.x == 0 && !c.err) j.relay->unsized_bytes += c.base + c.n;  // where the reads ended
      break;
    }
  }
  relay_pass(&j.relay->turn, g);
}

__global__ void grep_kernel(gsys::ring r, grep_job j)
{
  const u64 b = blockIdx.x;
  char* buf = j.buf + b * j.window;
  char* out = j.out + b * j.out_cap;
  u32* starts = j.starts + b * (j.chunk + 1);
  u32* sel = j.sel + b * (j.chunk + 1);
  unsigned char* hit = j.hit + b * (j.chunk + 1);
  block_file file;
  for (u64 g = b; g < j.in.total_chunks; g += gridDim.x) {
    const u32 fi = file_of_chunk(j.in, g);
    const fs_file& f = j.in.files[fi];
    const u64 k = g - f.first_chunk;
    file.use(r, j.in, fi);
    if (f.size == kSizeUnknown) {
      grep_to_end(r, j, f, g, file.fd, buf, starts, hit, sel, out);
      continue;
    }
    const chunk_scan c = scan_chunk(r, j, f, k, file.fd, buf, starts, hit);
    relay_wait(&j.relay->turn, g);
    finish_chunk(r, j, f, k, c, file.fd, buf, starts, hit, sel, out, k + 1 == f.chunks);
    relay_pass(&j.relay->turn, g);
  }
  file.close(r);
}

}  // namespace ex
