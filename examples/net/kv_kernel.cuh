// The key-value server kernel: a persistent grid whose groups (warps or
// blocks, chosen by a template parameter) each loop on
//
//   gsys::recvfrom  ->  serve the datagram's commands  ->  gsys::sendto
//
// at that granularity: one elected thread makes the call and the group gets
// the result. The commands are served by one warp (the group itself, or the
// block's first warp) against the shared hash table. The reply goes out as
// memcached frames it: a message per response, each cut into datagrams with
// memcached's UDP frame on each (kv_reply in kv_protocol.cuh).
//
// The loop ends when kv_shared::stop is set (the "shutdown" command, or the
// host on SIGINT/SIGTERM). Groups blocked in recvfrom are woken by datagrams
// the host sends to the server's own port once stop is set.
#pragma once

#include <sys/socket.h>

#include <genesys.cuh>

#include "common/block_ops.cuh"
#include "net/kv_protocol.cuh"
#include "net/udp_frame.h"

namespace ex {

struct kv_server {
  kv_table table;
  kv_shared* shared;
  int fd;                  // the bound UDP socket
  u32 rx_cap, tx_cap;      // per group
  char* rx;                // [groups][rx_cap]  runtime memory: recvfrom target
  char* tx;                // [groups][tx_cap]  runtime memory: sendto source
  u32* ends;               // [groups][kKvMaxMessages] where each message of the reply in tx ends
  sockaddr_storage* peer;  // [groups] the client of the current request
  unsigned* peer_len;      // [groups]
};

// What differs between warp and block groups.
template <class G>
struct group;

template <>
struct group<gsys::warp> {
  __device__ static u32 id() { return (blockIdx.x * blockDim.x + threadIdx.x) / 32; }
  __device__ static bool leader() { return (threadIdx.x & 31) == 0; }
  __device__ static bool serves() { return true; }  // the whole warp serves
  // Lane 0's value, everywhere in the warp.
  __device__ static u32 from_leader(u32 v) { return __shfl_sync(kFullWarp, v, 0); }
};

template <>
struct group<gsys::block> {
  __device__ static u32 id() { return blockIdx.x; }
  __device__ static bool leader() { return threadIdx.x == 0; }
  __device__ static bool serves() { return threadIdx.x < 32; }  // the block's first warp serves
  __device__ static u32 from_leader(u32 v)
  {
    __shared__ u32 value;
    if (threadIdx.x == 0) value = v;
    __syncthreads();
    const u32 r = value;
    __syncthreads();
    return r;
  }
};

template <class G>
__device__ inline bool stop_requested(const kv_server& s)
{
  u32 stop = 0;
  if (group<G>::leader()) stop = gsys::detail::load_acquire<gsys::detail::host>(&s.shared->stop);
  return group<G>::from_leader(stop) != 0;
}

// Sends one datagram: `part` payload bytes at dgram + kUdpHeader, its
// header written right before them.
template <class G>
__device__ inline void send_datagram(const gsys::ring& r, const kv_server& s, char* dgram, u32 part, const udp_frame& f,
                                     const sockaddr_storage* peer, unsigned peer_len)
{
  if (group<G>::leader()) write_frame(reinterpret_cast<unsigned char*>(dgram), f);
  // strong: the header is written before the call, and the group does not
  // move on (and overwrite the next header) until the datagram is out.
  const long sent = gsys::sendto<G, gsys::strong>(r, s.fd, dgram, kUdpHeader + part, 0,
                                                   reinterpret_cast<const sockaddr*>(peer), peer_len);
  if (sent < 0 && group<G>::leader()) atomicAdd(&s.shared->stats.dropped, 1ull);
}

// Sends the reply at tx + kUdpHeader: message m is the bytes from ends[m-1]
// to ends[m], cut into datagrams of at most kUdpPayload bytes numbered
// 0..total-1; an empty message is a lone header with total 0, as memcached
// sends one. A datagram's header goes right before its payload; except for
// the first, that is the tail of what was already sent.
template <class G>
__device__ inline void send_reply(const gsys::ring& r, const kv_server& s, char* tx, const u32* ends, u32 messages,
                                  unsigned short request_id, const sockaddr_storage* peer, unsigned peer_len)
{
  for (u32 m = 0, from = 0; m < messages; from = ends[m++]) {
    const u32 len = ends[m] - from;
    const u32 total = (len + kUdpPayload - 1) / kUdpPayload;
    for (u32 seq = 0; seq < total || (seq == 0 && len == 0); ++seq) {
      const u32 at = from + seq * kUdpPayload;
      const u32 part = len - seq * kUdpPayload < kUdpPayload ? len - seq * kUdpPayload : kUdpPayload;
      send_datagram<G>(r, s, tx + at, part, udp_frame{request_id, (unsigned short)seq, (unsigned short)total, 0}, peer,
                       peer_len);
    }
  }
}

template <class G>
__global__ void kv_kernel(gsys::ring r, kv_server s)
{
  const u32 gid = group<G>::id();
  char* rx = s.rx + (u64)gid * s.rx_cap;
  char* tx = s.tx + (u64)gid * s.tx_cap;
  u32* ends = s.ends + (u64)gid * kKvMaxMessages;
  sockaddr_storage* peer = s.peer + gid;
  unsigned* peer_len = s.peer_len + gid;
  u32 failures = 0;  // consecutive failed receives

  while (!stop_requested<G>(s)) {
    if (group<G>::leader()) *peer_len = sizeof(sockaddr_storage);
    const long n = gsys::recvfrom<G>(r, s.fd, rx, s.rx_cap, 0, reinterpret_cast<sockaddr*>(peer), peer_len);
    if (stop_requested<G>(s)) break;  // the wake-up datagram, or a request that came too late
    if (n < 0) {
      // -ETIMEDOUT: nobody sent anything for the ring's timeout; anything
      // else repeating means the socket is gone: stop rather than spin.
      if (n != -ETIMEDOUT && n != -EINTR && n != -EAGAIN && ++failures > 100) {
        if (group<G>::leader()) gsys::detail::store_release<gsys::detail::host>(&s.shared->stop, 2u);  // 2: failed
        break;
      }
      continue;
    }
    failures = 0;
    const udp_frame f = n >= (long)kUdpHeader ? read_frame(reinterpret_cast<const unsigned char*>(rx)) : udp_frame{};
    if (n < (long)kUdpHeader || f.total != 1) {  // too short, or several datagrams: memcached drops these too
      if (group<G>::leader()) atomicAdd(&s.shared->stats.dropped, 1ull);
      continue;
    }
    u32 messages = 0;
    if (group<G>::serves())
      messages = kv_serve(s.table, *s.shared, rx + kUdpHeader, (u32)n - kUdpHeader, tx + kUdpHeader,
                          s.tx_cap - kUdpHeader, ends);
    messages = group<G>::from_leader(messages);
    send_reply<G>(r, s, tx, ends, messages, f.request_id, peer, *peer_len);
  }
  if (group<G>::leader()) atomicSub(&s.shared->alive, 1u);
}

}  // namespace ex
