// Staged calls: buffers in device memory (cudaMalloc), which the host cannot
// reach, bounced through the runtime's staging arena (pinned and mapped).
//
//   long n = gsys::staged::pread<gsys::block>(ring, fd, dev_buf, len, off);
//
// The arena (host memory) is cut into fixed chunks; their claim bits are in
// the ring's device memory.
// A call claims one chunk for its caller (a thread, or the group's leader),
// and moves the buffer through it a chunk at a time: for a call that fills
// memory (read, pread, recvfrom) the host writes the chunk and the device
// copies the returned bytes out; for one that sends memory (write, pwrite,
// sendto) the device copies into the chunk first. A buffer larger than a
// chunk takes several calls, stopping at the first short transfer or error,
// and the result is what a read(2)/write(2) loop would report: the bytes
// moved, or the error when nothing moved. A datagram must not be split, so
// recvfrom receives at most one chunk and sendto of more is -EMSGSIZE.
//
// Claiming waits (with the ring's backoff) while every chunk is taken and
// gives up after the ring's timeout with -ETIMEDOUT; a runtime without an
// arena (staging_bytes = 0) gives -ENOBUFS. A call that times out leaves
// its chunk quarantined with its slot: the host may still write into it, so
// it is freed only once the host reports the call finished. A caller holds one chunk at a
// time and needs no other to finish, so waiting callers cannot deadlock.
//
// Ordering follows group.h. At warp and block granularity the group copies
// cooperatively, so every member must pass the same buffer, length and
// offset; at grid granularity the elected leader runs the staged sequence
// alone. For a relaxed send the group stages the first chunk together and
// then moves on (gsys::not_waited); the leader does the rest. A send shares
// the claimed chunk before copying, which is its barrier before.
#pragma once

#include <cstring>

#include "calls.h"

namespace gsys {
namespace detail {

// One staged operation: the request minus the buffer and its length.
struct staged_op {
  u32 nr;
  u32 dir;         // GSYS_DIR_IN or GSYS_DIR_OUT
  u64 fd;
  u64 arg3;        // the file offset (advanced per chunk) or socket flags
  u64 arg4, arg5;  // sockaddr and its length (sockets), else 0
  bool at_offset;  // arg3 is an offset to advance
  bool split;      // may be cut into several calls
  u16 flags = 0;   // GSYS_SLOT_F_FIXED_FILE when fd is a fixed file's index
};

constexpr long kUnclaimed = -1;  // no chunk yet (never a claim's error)
// The chunk went into quarantine with a timed-out call's slot: the device
// frees it once the host is done with the call (ring_client.h).
constexpr long kHandedOff = -(1l << 40);

// Claims a chunk for the calling thread: its index, -ENOBUFS without an
// arena, or -ETIMEDOUT after the ring's timeout with every chunk taken.
GSYS_DEVICE long claim_chunk(const ring& r)
{
  if (r.staging_chunks == 0) {
    if (r.nslots == 0) empty_ring();  // no arena because no ring: say that
    return -ENOBUFS;
  }
  const u32 nwords = (r.staging_chunks + 31) / 32;
  u32 word = (global_warp_id() * 32 + lane_id()) % nwords;  // callers start apart
  backoff wait(r);
  for (;;) {
    for (u32 i = 0; i < nwords; ++i) {
      u32* w = &r.staging_bitmap[word];
      u32 cur = load_relaxed<device>(w);
      while (~cur != 0u) {
        const u32 bit = ~cur & (cur + 1u);  // lowest clear bit
        // acquire: the chunk's previous owner finished with it before its release
        if (cas_acq_rel<device>(w, cur, cur | bit)) return (long)(word * 32 + __ffs(bit) - 1);
      }
      word = word + 1 == nwords ? 0 : word + 1;
    }
    // Every chunk taken: some may be quarantined with parked slots the host
    // has finished since; reclaiming those frees their chunks.
    if (reclaim_parked(r)) continue;
    if (!wait.pause()) {
      count_timeouts(r, 1);  // one claimer per chunk: a thread, or a group's leader
      return -ETIMEDOUT;
    }
  }
}

GSYS_DEVICE char* chunk_device(const ring& r, long c) { return r.staging + (u64)c * r.staging_chunk_bytes; }
GSYS_DEVICE u64 chunk_host(const ring& r, long c) { return r.staging_host + (u64)c * r.staging_chunk_bytes; }

// Who takes part in a staged call. The leader claims and calls; every member
// copies its share; sync() is the group's barrier; share() hands the
// leader's values to all members (and is a barrier too). call() needs no
// fence: the request's release store (system scope) publishes the members'
// copies, which sync() ordered before the leader's.
struct solo_team {
  u32 code;        // granularity stamped on the requests
  bool aggregate;  // thread granularity: converged lanes share ring work
  GSYS_DEVICE bool leader() const { return true; }
  GSYS_DEVICE u32 rank() const { return 0; }
  GSYS_DEVICE u32 size() const { return 1; }
  GSYS_DEVICE void sync() const {}
  GSYS_DEVICE void share(long&, long&) const {}
  GSYS_DEVICE solo_team alone() const { return *this; }
  GSYS_DEVICE long call(const ring& r, const request& q, bool* abandoned) const
  {
    const request g = with_granularity(q, code);
    if (aggregate) return call_lanes(r, __activemask(), g, abandoned);
    return call_one(r, g, abandoned);
  }
};

struct warp_team {
  u32 mask;   // the lanes that call together (warp_lanes)
  u32 first;  // the lowest of them, the leader
  GSYS_DEVICE bool leader() const { return lane_id() == first; }
  GSYS_DEVICE u32 rank() const { return __popc(mask & lanemask_lt()); }
  GSYS_DEVICE u32 size() const { return __popc(mask); }
  GSYS_DEVICE void sync() const { __syncwarp(mask); }
  GSYS_DEVICE void share(long& a, long& b) const
  {
    a = (long)__shfl_sync(mask, (long long)a, first);
    b = (long)__shfl_sync(mask, (long long)b, first);
  }
  GSYS_DEVICE solo_team alone() const { return {GSYS_GRAN_WARP, false}; }
  GSYS_DEVICE long call(const ring& r, const request& q, bool* abandoned) const
  {
    return call_one(r, with_granularity(q, GSYS_GRAN_WARP), abandoned);
  }
};

struct block_team {
  GSYS_DEVICE bool leader() const { return thread_rank_in_block() == 0; }
  GSYS_DEVICE u32 rank() const { return thread_rank_in_block(); }
  GSYS_DEVICE u32 size() const { return block_size(); }
  GSYS_DEVICE void sync() const { __syncthreads(); }
  GSYS_DEVICE void share(long& a, long& b) const
  {
    __shared__ long long v[2];
    if (leader()) {
      v[0] = a;
      v[1] = b;
    }
    __syncthreads();
    a = (long)v[0];
    b = (long)v[1];
    __syncthreads();  // nobody overwrites v before everyone has read it
  }
  GSYS_DEVICE solo_team alone() const { return {GSYS_GRAN_BLOCK, false}; }
  GSYS_DEVICE long call(const ring& r, const request& q, bool* abandoned) const
  {
    return call_one(r, with_granularity(q, GSYS_GRAN_BLOCK), abandoned);
  }
};

// The team's share of a copy: 16-byte words when both sides allow, strided
// over the members so neighbours touch neighbouring words.
template <class T>
GSYS_DEVICE void team_copy(const T& t, char* dst, const char* src, u64 n)
{
  struct alignas(16) word16 {
    u64 a, b;
  };
  const u32 k = t.rank(), step = t.size();
  u64 tail = 0;
  if ((((uintptr_t)dst | (uintptr_t)src) & 15u) == 0) {
    word16* d = reinterpret_cast<word16*>(dst);
    const word16* s = reinterpret_cast<const word16*>(src);
    for (u64 i = k; i < n / 16; i += step) {
#if GSYS_CUDA
      d[i] = s[i];  // one 16-byte load and store: nvcc lowered the memcpy to 16 byte copies
#else
      memcpy(&d[i], &s[i], sizeof(word16));  // no type punning of the caller's bytes on the host
#endif
    }
    tail = n / 16 * 16;
  }
  for (u64 i = tail + k; i < n; i += step) dst[i] = src[i];
}

GSYS_DEVICE request piece_request(const staged_op& op, u64 buf, u64 len, u64 done)
{
  request q;
  q.nr = op.nr;  // a fixed opcode: never kNoOpcode
  q.flags = op.flags;
  q.arg[0] = op.fd;
  q.arg[1] = buf;
  q.arg[2] = len;
  q.arg[3] = op.at_offset ? op.arg3 + done : op.arg3;
  q.arg[4] = op.arg4;
  q.arg[5] = op.arg5;
  return q;
}

// Moves [dev, dev + n) through chunk c a chunk at a time. c may be
// kUnclaimed (a fill): the leader then claims it with the first call, so
// the group meets only after it. `staged`: the first chunk's bytes are
// already in the chunk (a send). Returns, in every member, the bytes moved
// or the error; the chunk is still held.
template <class T>
GSYS_DEVICE long stage_pieces(const ring& r, const T& t, const staged_op& op, long& c, char* dev, u64 n, bool staged)
{
  const u64 cap = r.staging_chunk_bytes;
  u64 done = 0;
  for (;;) {
    const u64 len = n - done < cap ? n - done : cap;
    if (op.dir == GSYS_DIR_OUT && !(staged && done == 0)) {
      team_copy(t, chunk_device(r, c), dev + done, len);
      t.sync();
    }
    long ret = 0;
    if (t.leader()) {
      if (c == kUnclaimed) c = claim_chunk(r);
      if (c < 0) {
        ret = c;
      } else {
        request q = piece_request(op, chunk_host(r, c), len, done);
        q.chunk = (u32)c;
        bool abandoned = false;
        ret = t.call(r, q, &abandoned);
        if (abandoned) c = kHandedOff;  // the host may still write the chunk: not ours to reuse
      }
    }
    t.share(c, ret);  // also the barrier between the call and the copies
    if (c == kHandedOff) return done ? (long)done : ret;
    if (c < 0) return c;
    if (ret < 0) return done ? (long)done : ret;
    const u64 got = (u64)ret < len ? (u64)ret : len;
    if (op.dir == GSYS_DIR_IN && got) {
      team_copy(t, dev + done, chunk_device(r, c), got);
      t.sync();  // the chunk is read before the next call or the release
    }
    done += got;
    if (got < len || done >= n || !op.split) return (long)done;
  }
}

// A staged call for a team: barriers per ordering O (group.h), one chunk.
template <class O, class T>
GSYS_DEVICE long staged_call(const ring& r, const T& t, const staged_op& op, char* dev, u64 n)
{
  if (!op.split && op.dir == GSYS_DIR_OUT && n > r.staging_chunk_bytes && r.staging_chunks) return -EMSGSIZE;
  const bool out = op.dir == GSYS_DIR_OUT;
  if (O::is_strong && !out) t.sync();  // barrier before a strong fill
  long c = kUnclaimed, ret = 0;
  if (out) {
    // A send copies before it calls, so the chunk must be known first;
    // sharing it is also the send's barrier before.
    if (t.leader()) c = claim_chunk(r);
    t.share(c, ret);
    if (c < 0) return c;
  }
  if (out && !O::is_strong) {
    // Relaxed send: the group stages the first chunk, then moves on.
    const u64 len = n < r.staging_chunk_bytes ? n : r.staging_chunk_bytes;
    team_copy(t, chunk_device(r, c), dev, len);
    t.sync();
    if (!t.leader()) return not_waited;
    ret = stage_pieces(r, t.alone(), op, c, dev, n, true);
  } else {
    ret = stage_pieces(r, t, op, c, dev, n, false);
  }
  // Every member is past its last access to the chunk (stage_pieces ends
  // on a barrier), so the leader can hand it back.
  if (t.leader() && c >= 0) release_chunk(r, c);
  return ret;
}

template <class G, class O>
GSYS_DEVICE long staged_invoke(const ring& r, const staged_op& op, void* dev, u64 n)
{
  char* d = static_cast<char*>(dev);
  if constexpr (G::code == GSYS_GRAN_THREAD) {
    return staged_call<O>(r, solo_team{GSYS_GRAN_THREAD, true}, op, d, n);
  } else if constexpr (G::code == GSYS_GRAN_WARP) {
    const u32 mask = warp_lanes(r);
    if (!(mask & (1u << lane_id()))) return -EINVAL;  // a lane outside the lanes it names
    return staged_call<O>(r, warp_team{mask, (u32)__ffs(mask) - 1}, op, d, n);
  } else if constexpr (G::code == GSYS_GRAN_BLOCK) {
    return staged_call<O>(r, block_team{}, op, d, n);
  } else {
    const call_plan p = plan<O>(op.dir, false);
    return grid_run(r, p, false,
                    [&]() -> long { return staged_call<O>(r, solo_team{GSYS_GRAN_GRID, false}, op, d, n); });
  }
}

GSYS_DEVICE staged_op file_op(u32 nr, file_arg fd, u64 off, bool at_offset)
{
  return staged_op{nr, op_dir(nr), fd.word, off, 0, 0, at_offset, true, fd.flag};
}

}  // namespace detail

// Staged forms of the buffer-moving calls: same arguments and results as the
// plain wrappers, but `buf` may be device memory. Other pointers (sockaddr,
// its length) must still be host-accessible.
namespace staged {

template <class G = thread, class O = relaxed>
GSYS_DEVICE long read(const ring& r, detail::file_arg fd, void* buf, size_t n)
{ return detail::staged_invoke<G, O>(r, detail::file_op(__NR_read, fd, 0, false), buf, n); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long write(const ring& r, detail::file_arg fd, const void* buf, size_t n)
{ return detail::staged_invoke<G, O>(r, detail::file_op(__NR_write, fd, 0, false), const_cast<void*>(buf), n); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long pread(const ring& r, detail::file_arg fd, void* buf, size_t n, off_t off)
{ return detail::staged_invoke<G, O>(r, detail::file_op(__NR_pread64, fd, (u64)off, true), buf, n); }

template <class G = thread, class O = relaxed>
GSYS_DEVICE long pwrite(const ring& r, detail::file_arg fd, const void* buf, size_t n, off_t off)
{ return detail::staged_invoke<G, O>(r, detail::file_op(__NR_pwrite64, fd, (u64)off, true), const_cast<void*>(buf), n); }

// Receives one datagram (or stream bytes) of at most one chunk.
template <class G = thread, class O = relaxed>
GSYS_DEVICE long recvfrom(const ring& r, detail::file_arg fd, void* buf, size_t n, int flags, sockaddr* src = nullptr,
                          unsigned* addrlen = nullptr)
{
  const detail::staged_op op{__NR_recvfrom, GSYS_DIR_IN, fd.word, (u64)(long)flags, detail::ptr(src),
                             detail::ptr(addrlen), false, false, fd.flag};
  return detail::staged_invoke<G, O>(r, op, buf, n);
}

// Sends one datagram; more than one chunk is -EMSGSIZE.
template <class G = thread, class O = relaxed>
GSYS_DEVICE long sendto(const ring& r, detail::file_arg fd, const void* buf, size_t n, int flags, const sockaddr* dst = nullptr,
                        unsigned addrlen = 0)
{
  const detail::staged_op op{__NR_sendto, GSYS_DIR_OUT, fd.word, (u64)(long)flags, detail::ptr(dst),
                             (u64)addrlen, false, false, fd.flag};
  return detail::staged_invoke<G, O>(r, op, const_cast<void*>(buf), n);
}

}  // namespace staged
}  // namespace gsys
