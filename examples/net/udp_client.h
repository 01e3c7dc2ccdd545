// A small memcached UDP client for host programs (the load generator and
// the tests): sends one request datagram, gathers the reply datagrams of
// that request id and puts them back together in sequence order.
//
// memcached 1.6 (and gsys-kv, which frames its replies the same way) sends
// one message per response (every key of a multi-key get, every command of
// the datagram), datagrams numbered 0..total-1, all with the request's id.
// With a terminator ("END\r\n" for a get) the client keeps gathering
// messages until all are whole and the reply ends with it.
#pragma once

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "net/udp_frame.h"

namespace ex {

// Reads "HOST:PORT" (HOST an IPv4 address or a name with one, PORT 1 to
// 65535) into `out`. When it cannot, `what` and `arg` say why, for a usage
// error: "WHAT 'ARG'".
inline bool resolve_server(const std::string& server, sockaddr_in& out, std::string& what, std::string& arg)
{
  const auto colon = server.rfind(':');
  if (colon == std::string::npos) {
    what = "--server wants HOST:PORT, no port in", arg = server;
    return false;
  }
  const std::string host = server.substr(0, colon), port = server.substr(colon + 1);
  if (host.empty()) {
    what = "--server wants HOST:PORT, no host in", arg = server;
    return false;
  }
  unsigned long p = 0;  // digits only (no sign, no space), at most 5 of them: no overflow
  bool digits = !port.empty() && port.size() <= 5;
  for (char ch : port) {
    digits = digits && ch >= '0' && ch <= '9';
    p = p * 10 + (unsigned long)(ch - '0');
  }
  if (!digits || p < 1 || p > 65535) {
    what = "--server wants a port from 1 to 65535, got", arg = port;
    return false;
  }
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || !found) {
    what = "--server: cannot resolve host", arg = host;
    return false;
  }
  out = *reinterpret_cast<const sockaddr_in*>(found->ai_addr);
  out.sin_port = htons((unsigned short)p);
  freeaddrinfo(found);
  return true;
}

// What a request saw besides its reply, for tests that hold a server to the
// frame format (tests/examples/kv_diff.cpp).
struct reply_check {
  bool any = false;         // a datagram with the request's id arrived
  std::string frame_error;  // the last malformed datagram, described
  std::vector<std::string> datagrams;  // every datagram with the request's id, header included, as they came
};

class udp_client {
 public:
  // "host:port" (resolve_server()). Check ok() afterwards.
  explicit udp_client(const std::string& server, int rcvbuf_bytes = 1 << 20)
  {
    sockaddr_in a{};
    std::string what, arg;
    if (resolve_server(server, a, what, arg)) open(a, rcvbuf_bytes);
  }
  explicit udp_client(const sockaddr_in& server, int rcvbuf_bytes = 1 << 20) { open(server, rcvbuf_bytes); }
  ~udp_client()
  {
    if (fd_ >= 0) ::close(fd_);
  }
  udp_client(const udp_client&) = delete;
  udp_client& operator=(const udp_client&) = delete;

  bool ok() const { return fd_ >= 0; }

  // Sends `payload` with a fresh request id and waits up to `timeout` for
  // every datagram of the reply. Returns false on timeout (replies to
  // earlier, abandoned requests are skipped by their id). Malformed
  // datagrams are skipped, and described in `check` when given.
  bool request(std::string_view payload, std::string& reply, std::chrono::milliseconds timeout,
               std::string_view terminator = {}, reply_check* check = nullptr)
  {
    const unsigned short id = ++next_id_;
    std::string dgram(kUdpHeader, '\0');
    write_frame(reinterpret_cast<unsigned char*>(dgram.data()), udp_frame{id, 0, 1, 0});
    dgram.append(payload);
    if (::send(fd_, dgram.data(), dgram.size(), 0) != (ssize_t)dgram.size()) return false;
    return receive(id, reply, timeout, terminator, check);
  }

  // Sends raw bytes (no header added): for malformed-frame tests.
  bool send_raw(std::string_view bytes) { return ::send(fd_, bytes.data(), bytes.size(), 0) == (ssize_t)bytes.size(); }

  // Waits for the reply to request `id`: one message, or with a terminator
  // as many messages as it takes to end with it.
  bool receive(unsigned short id, std::string& reply, std::chrono::milliseconds timeout, std::string_view terminator = {},
               reply_check* check = nullptr)
  {
    auto bad = [check](std::string what) {
      if (check) check->frame_error = std::move(what);
    };
    struct message {
      unsigned total, have;
      std::vector<std::string> parts;
      std::vector<bool> seen;
    };
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<message> msgs;
    std::vector<char> buf(65536);
    for (;;) {
      bool whole = !msgs.empty();
      for (auto& m : msgs) whole = whole && m.have == m.total;
      if (whole) {
        reply.clear();
        for (auto& m : msgs)
          for (auto& p : m.parts) reply += p;
        if (terminator.empty() ||
            (reply.size() >= terminator.size() && reply.compare(reply.size() - terminator.size(), terminator.size(), terminator) == 0))
          return true;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, (int)left.count()) <= 0) continue;
      const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n < 0) continue;
      if (n < (ssize_t)kUdpHeader) {
        bad("a datagram shorter than the frame header");
        continue;
      }
      const udp_frame f = read_frame(reinterpret_cast<const unsigned char*>(buf.data()));
      if (f.request_id != id) continue;  // a late reply to an abandoned request
      if (check) {
        check->any = true;
        check->datagrams.emplace_back(buf.data(), (std::size_t)n);
      }
      const std::size_t body = (std::size_t)n - kUdpHeader;
      if (n > (ssize_t)kUdpDatagram) bad("a datagram of " + std::to_string(n) + " bytes (most: 1400)");
      if (f.total == 0) {  // memcached 1.6 sends these for empty responses
        if (body) bad("a datagram with total 0 and a payload");
        continue;
      }
      if (f.seq >= f.total) {
        bad("sequence number " + std::to_string(f.seq) + " of " + std::to_string(f.total));
        continue;
      }
      if (f.seq == 0) msgs.push_back(message{f.total, 0, std::vector<std::string>(f.total), std::vector<bool>(f.total)});
      message* m = nullptr;  // the latest message still missing this datagram
      for (auto it = msgs.rbegin(); it != msgs.rend() && !m; ++it)
        if (it->total == f.total && !it->seen[f.seq]) m = &*it;
      if (!m) {
        bad("a datagram outside any message (seq " + std::to_string(f.seq) + ")");
        continue;
      }
      m->seen[f.seq] = true;
      m->parts[f.seq].assign(buf.data() + kUdpHeader, body);
      ++m->have;
    }
  }

  unsigned short last_id() const { return next_id_; }

 private:
  void open(sockaddr_in a, int rcvbuf_bytes)
  {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (fd_ >= 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf_bytes, sizeof rcvbuf_bytes);
  }

  int fd_ = -1;
  unsigned short next_id_ = 0;
};

}  // namespace ex
