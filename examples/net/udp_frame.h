// memcached's UDP frame header, shared by the server kernel, the load
// generator and the tests. Every datagram starts with 8 bytes, big endian:
//
//   request id (echoed in the reply) | sequence number | datagrams in the
//   message | reserved (0)
//
// A request must fit in one datagram; a reply is cut into datagrams of at
// most kUdpDatagram bytes (header included), as memcached does.
#pragma once

// Callable from kernels under nvcc, plain inline elsewhere (this header is
// also part of host-only programs).
#ifdef __CUDACC__
#define EX_HOST_DEVICE __host__ __device__
#else
#define EX_HOST_DEVICE
#endif

namespace ex {

constexpr unsigned kUdpHeader = 8;
constexpr unsigned kUdpDatagram = 1400;                    // memcached's UDP_MAX_PAYLOAD_SIZE
constexpr unsigned kUdpPayload = kUdpDatagram - kUdpHeader;
constexpr unsigned kUdpMaxRequest = 65507;                 // the largest UDP datagram over IPv4

struct udp_frame {
  unsigned short request_id, seq, total, reserved;
};

EX_HOST_DEVICE inline udp_frame read_frame(const unsigned char* p)
{
  udp_frame f;
  f.request_id = (unsigned short)(p[0] << 8 | p[1]);
  f.seq = (unsigned short)(p[2] << 8 | p[3]);
  f.total = (unsigned short)(p[4] << 8 | p[5]);
  f.reserved = (unsigned short)(p[6] << 8 | p[7]);
  return f;
}

EX_HOST_DEVICE inline void write_frame(unsigned char* p, const udp_frame& f)
{
  const unsigned short v[4] = {f.request_id, f.seq, f.total, f.reserved};
  for (int i = 0; i < 4; ++i) {
    p[2 * i] = (unsigned char)(v[i] >> 8);
    p[2 * i + 1] = (unsigned char)v[i];
  }
}

}  // namespace ex
