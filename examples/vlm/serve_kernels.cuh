// The server's kernels (gsys-vlm serve): the GPU receives each request and
// sends each reply itself.
//
//   receiver_kernel  resident for the server's whole life, on a stream of its
//                    own: gsys::recvfrom of each datagram into the next free
//                    slot of a request queue the host serves in order; a
//                    datagram over the size limit is answered (gsys::sendto)
//                    and dropped right there, so the host only sees requests
//                    it can parse. Requests that arrive while one is served
//                    wait in the queue, received.
//   reply_kernel     the top-k of the logits (a block-wide argmax per rank),
//                    the reply JSON (request.h), gsys::sendto to the client
//                    and gsys::write of the same line to the server's log
//   send_kernel      an error reply the host formatted, sent and logged
//
// Each is one block; the host launches the last two on the default stream
// after the prefill (engine.cuh). Everything the calls touch (buffers, the
// peers' addresses and their lengths) is runtime::alloc memory, as the
// ring's confinement asks.
#pragma once

#include <errno.h>
#include <sys/socket.h>

#include <genesys.cuh>

#include "common/format.cuh"

namespace vlm {

constexpr unsigned kReplyThreads = 256;
constexpr int kReplyMaxTopK = 64;  // request.h's kMaxTopK

struct serve_io {
  gsys::ring ring;
  int fd;                  // the bound UDP socket
  int log_fd;              // where replies are logged, one JSON line each; -1: nowhere
  char* rx;                // rx_cap bytes: the request
  unsigned rx_cap;
  unsigned max_request;    // <= rx_cap
  char* tx;                // tx_cap bytes: the reply
  unsigned tx_cap;
  sockaddr_storage* peer;  // the request's sender
  unsigned* peer_len;
  const volatile unsigned* stop;  // set by the host: the receiver returns at its next datagram
  unsigned long long* refused;  // out: datagrams the receiver answered for being too long
};

// Requests taken off the socket and not yet answered: `slots` datagram
// buffers of io.rx_cap bytes, used in turn. Slot i's state is 0 while the
// host has it (answered, free to fill) and 1 once the receiver filled it:
// len[i] bytes from peer[i], or len[i] < 0, the socket's -errno.
struct request_queue {
  unsigned slots;
  unsigned* state;
  long long* len;
  char* rx;                 // slots x io.rx_cap
  sockaddr_storage* peer;   // per slot
  unsigned* peer_len;       // per slot
};

// The serve_io of slot i: its datagram and its sender (the reply's peer).
__host__ __device__ inline serve_io slot_io(serve_io io, const request_queue& q, unsigned i)
{
  io.rx = q.rx + (unsigned long long)i * io.rx_cap;
  io.peer = q.peer + i;
  io.peer_len = q.peer_len + i;
  return io;
}

// Sends tx[0, len) to the peer and logs it (a newline is added in tx).
__device__ inline long send_and_log(const serve_io& io, unsigned len)
{
  const long sent = gsys::sendto<gsys::thread, gsys::strong>(io.ring, io.fd, io.tx, len, 0,
                                                              reinterpret_cast<const sockaddr*>(io.peer), *io.peer_len);
  if (io.log_fd >= 0 && len < io.tx_cap) {
    io.tx[len] = '\n';
    gsys::write<gsys::thread, gsys::strong>(io.ring, io.log_fd, io.tx, len + 1);
  }
  return sent;
}

// One datagram into io.rx: its length, or the socket's -errno. False when
// the host has asked the receiver to stop (its wake-up datagram).
__device__ inline bool receive_one(const serve_io& io, long long& got)
{
  for (;;) {
    *io.peer_len = sizeof(sockaddr_storage);
    // MSG_TRUNC: a UDP socket then returns the datagram's real length.
    const long n = gsys::recvfrom<gsys::thread, gsys::strong>(io.ring, io.fd, io.rx, io.rx_cap, MSG_TRUNC,
                                                              reinterpret_cast<sockaddr*>(io.peer), io.peer_len);
    if (*io.stop) return false;
    if (n == -EINTR || n == -EAGAIN) continue;
    if (n < 0) {
      got = n;
      return true;
    }
    if ((unsigned long)n > io.max_request) {
      // {"id":null,"ok":false,"error":"request of N bytes: the server takes at most M"}
      char* o = io.tx;
      unsigned k = 0;
      const char head[] = "{\"id\":null,\"ok\":false,\"error\":\"request of ";
      k += ex::put_bytes(o + k, head, sizeof head - 1);
      k += ex::put_decimal(o + k, (unsigned long long)n);
      const char mid[] = " bytes: the server takes at most ";
      k += ex::put_bytes(o + k, mid, sizeof mid - 1);
      k += ex::put_decimal(o + k, io.max_request);
      const char tail[] = "\"}";
      k += ex::put_bytes(o + k, tail, sizeof tail - 1);
      send_and_log(io, k);
      atomicAdd(io.refused, 1ull);
      continue;
    }
    got = n;
    return true;
  }
}

// Resident: one thread takes datagrams into the queue's slots in turn,
// waiting while the next slot is still the host's, until the host sets
// io.stop (and wakes it with a datagram) or the socket fails. io.tx is the
// receiver's own, for the oversized-request answers.
__global__ void receiver_kernel(serve_io io, request_queue q)
{
  if (threadIdx.x != 0) return;
  for (unsigned long long n = 0;; ++n) {
    const unsigned i = unsigned(n % q.slots);
    while (gsys::detail::load_acquire<gsys::detail::host>(&q.state[i]) != 0) {
      if (*io.stop) return;
      __nanosleep(20000);
    }
    long long got = 0;
    if (!receive_one(slot_io(io, q, i), got)) return;
    q.len[i] = got;
    gsys::detail::store_release<gsys::detail::host>(&q.state[i], 1u);
    if (got < 0) return;  // the host reports it and stops
  }
}

struct reply_args {
  serve_io io;
  const float* logits;  // device memory, vocab floats
  int vocab;
  int top_k;            // <= kReplyMaxTopK
  long long id;
  long long tokens;
  int images;
  double load_ms, prefill_ms;
  long long* sent;      // out: sendto's result
};

// One block of kReplyThreads. Rank r is the largest logit not yet taken
// (ties: the lower id), as vlm::top_k orders them.
__global__ void reply_kernel(reply_args a)
{
  __shared__ float best[kReplyThreads];
  __shared__ int best_id[kReplyThreads];
  __shared__ int taken[kReplyMaxTopK];
  __shared__ float taken_logit[kReplyMaxTopK];
  const unsigned t = threadIdx.x;
  const int k = a.top_k < a.vocab ? a.top_k : a.vocab;
  for (int r = 0; r < k; ++r) {
    float v = 0;
    int id = -1;
    for (int i = int(t); i < a.vocab; i += int(blockDim.x)) {
      bool skip = false;
      for (int j = 0; j < r; ++j) skip |= taken[j] == i;
      if (skip) continue;
      const float x = a.logits[i];
      if (id < 0 || x > v) v = x, id = i;  // i grows: a tie keeps the lower id
    }
    best[t] = v, best_id[t] = id;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s; s /= 2) {
      if (t < s) {
        const int oi = best_id[t + s];
        const float ov = best[t + s];
        if (oi >= 0 && (best_id[t] < 0 || ov > best[t] || (ov == best[t] && oi < best_id[t])))
          best[t] = ov, best_id[t] = oi;
      }
      __syncthreads();
    }
    if (t == 0) taken[r] = best_id[0], taken_logit[r] = best[0];
    __syncthreads();
  }
  if (t != 0) return;
  // Each rank needs at most 2 + 11 + 1 + 30 + 1 bytes; the rest under 200.
  char* o = a.io.tx;
  unsigned n = 0;
  auto put = [&](const char* s) {
    while (*s) o[n++] = *s++;
  };
  auto put_signed = [&](long long v) {
    if (v < 0) o[n++] = '-', v = -v;
    n += ex::put_decimal(o + n, (unsigned long long)v);
  };
  put("{\"id\":");
  put_signed(a.id);
  put(",\"ok\":true,\"tokens\":");
  put_signed(a.tokens);
  put(",\"images\":");
  put_signed(a.images);
  put(",\"top\":[");
  for (int r = 0; r < k; ++r) {
    put(r ? ",[" : "[");
    put_signed(taken[r]);
    put(",");
    n += ex::put_fixed(o + n, taken_logit[r], 4);
    put("]");
  }
  put("],\"load_ms\":");
  n += ex::put_fixed(o + n, a.load_ms, 3);
  put(",\"prefill_ms\":");
  n += ex::put_fixed(o + n, a.prefill_ms, 3);
  put("}");
  *a.sent = send_and_log(a.io, n);
}

__global__ void send_kernel(serve_io io, unsigned len, long long* sent)
{
  if (threadIdx.x == 0) *sent = send_and_log(io, len);
}

}  // namespace vlm
