// gsys-vlm serve's kernels on the simulator: the reply kernel's top-k
// against vlm::top_k and its JSON against parse_reply, over a real UDP
// socket; the resident receiver answering an oversized datagram itself,
// queueing the next ones in turn, waiting for the host's slots, and
// stopping when told; the fixed-point formatter the kernels use.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "vlm/engine.cuh"
#include "vlm/request.h"
#include "vlm/serve_kernels.cuh"

namespace {

using namespace vlm;

std::string fixed(double v, unsigned decimals)
{
  char b[40] = {};
  const unsigned n = ex::put_fixed(b, v, decimals);
  return std::string(b, n);
}

TEST(Format, PutFixed)
{
  EXPECT_EQ(fixed(0, 4), "0.0000");
  EXPECT_EQ(fixed(3.14159, 4), "3.1416");
  EXPECT_EQ(fixed(-3.14159, 2), "-3.14");
  EXPECT_EQ(fixed(9.99996, 4), "10.0000");  // the rounding carries
  EXPECT_EQ(fixed(-0.00001, 4), "0.0000");  // no "-0.0000"
  EXPECT_EQ(fixed(-2.5, 0), "-3");
  EXPECT_EQ(fixed(123456789.25, 2), "123456789.25");
  EXPECT_EQ(fixed(0.05, 1), "0.1");
  EXPECT_EQ(fixed(1.5, 12), "1.500000000");  // at most 9 decimals
  EXPECT_EQ(fixed(std::nan(""), 3), "null");
  EXPECT_EQ(fixed(std::numeric_limits<double>::infinity(), 3), "null");
  EXPECT_EQ(fixed(-1e18, 3), "null");
}

// Two UDP sockets on the loopback: the server's and the client's.
struct udp_pair {
  int server = -1, client = -1;
  sockaddr_in server_addr{}, client_addr{};
  udp_pair()
  {
    for (auto [fd, addr] : {std::pair{&server, &server_addr}, std::pair{&client, &client_addr}}) {
      *fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      addr->sin_family = AF_INET;
      addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      EXPECT_EQ(bind(*fd, reinterpret_cast<sockaddr*>(addr), sizeof *addr), 0);
      socklen_t len = sizeof *addr;
      getsockname(*fd, reinterpret_cast<sockaddr*>(addr), &len);
    }
  }
  ~udp_pair()
  {
    close(server);
    close(client);
  }
  void send_to_server(const std::string& s) const
  {
    ASSERT_EQ(sendto(client, s.data(), s.size(), 0, reinterpret_cast<const sockaddr*>(&server_addr), sizeof server_addr),
              ssize_t(s.size()));
  }
  std::string client_receive() const
  {
    pollfd p{client, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) return "(nothing within 10 s)";
    char buf[65536];
    const ssize_t n = recv(client, buf, sizeof buf, 0);
    return n < 0 ? "(recv failed)" : std::string(buf, std::size_t(n));
  }
};

// The serve_io of a test: runtime memory, the peer set to the client.
serve_io make_io(gsys::runtime& rt, const udp_pair& u, int log_fd)
{
  serve_io io{};
  io.ring = rt.ring();
  io.fd = u.server;
  io.log_fd = log_fd;
  io.rx_cap = 65536;
  io.rx = static_cast<char*>(rt.alloc(io.rx_cap));  // (the reply kernels' tests' peer is set here)
  io.max_request = 1024;
  io.tx_cap = 8192;
  io.tx = static_cast<char*>(rt.alloc(io.tx_cap));
  io.peer = static_cast<sockaddr_storage*>(rt.alloc(sizeof(sockaddr_storage)));
  std::memcpy(io.peer, &u.client_addr, sizeof u.client_addr);
  io.peer_len = static_cast<unsigned*>(rt.alloc(sizeof(unsigned)));
  *io.peer_len = sizeof u.client_addr;
  io.stop = static_cast<unsigned*>(rt.alloc(sizeof(unsigned)));
  io.refused = static_cast<unsigned long long*>(rt.alloc(sizeof(unsigned long long)));
  return io;
}

TEST(Serve, ReplyKernelRanksLikeTopKAndSendsParsableJson)
{
  gsys::runtime rt;
  udp_pair u;
  int log[2];
  ASSERT_EQ(pipe2(log, O_CLOEXEC), 0);
  serve_io io = make_io(rt, u, log[1]);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-40.f, 40.f);
  std::vector<float> logits(5000);
  for (auto& x : logits) x = d(rng);
  // Ties: the lower id ranks first; and a maximum near the end.
  logits[4000] = logits[17] = logits[2500] = 45.f;
  logits[4999] = 50.f;
  device_array<float> dl(logits.size());
  dl.upload(logits);
  reply_args a{};
  a.io = io;
  a.logits = dl.p;
  a.vocab = int(logits.size());
  a.top_k = 12;
  a.id = -5;
  a.tokens = 123;
  a.images = 3;
  a.load_ms = 1.25;
  a.prefill_ms = 2345.5;
  a.sent = static_cast<long long*>(rt.alloc(sizeof(long long)));
  gsys::launch(reply_kernel, dim3(1), dim3(kReplyThreads), a);
  gsys::synchronize();
  const std::string text = u.client_receive();
  EXPECT_EQ(*a.sent, (long long)text.size());
  const reply_result r = parse_reply(text);
  ASSERT_TRUE(r.ok()) << r.error << ": " << text;
  EXPECT_TRUE(r.r.ok);
  EXPECT_EQ(r.r.id, -5);
  EXPECT_EQ(r.r.tokens, 123);
  EXPECT_EQ(r.r.images, 3);
  EXPECT_DOUBLE_EQ(r.r.load_ms, 1.25);
  EXPECT_DOUBLE_EQ(r.r.prefill_ms, 2345.5);
  const auto want = top_k(logits, 12);
  ASSERT_EQ(r.r.top.size(), want.size()) << text;
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(r.r.top[i].first, want[i].first) << "rank " << i;
    EXPECT_NEAR(r.r.top[i].second, want[i].second, 5e-5) << "rank " << i;
  }
  EXPECT_EQ(r.r.top[1].first, 17);
  EXPECT_EQ(r.r.top[2].first, 2500);
  // The log holds the same line.
  char buf[8192];
  const ssize_t n = read(log[0], buf, sizeof buf);
  EXPECT_EQ(std::string(buf, std::size_t(std::max<ssize_t>(n, 0))), text + "\n");
  close(log[0]);
  close(log[1]);
}

TEST(Serve, ReplyKernelAsksNoMoreThanTheVocabulary)
{
  gsys::runtime rt;
  udp_pair u;
  serve_io io = make_io(rt, u, -1);
  device_array<float> dl(3);
  dl.upload({1.f, 3.f, 2.f});
  reply_args a{};
  a.io = io;
  a.logits = dl.p;
  a.vocab = 3;
  a.top_k = 10;
  a.sent = static_cast<long long*>(rt.alloc(sizeof(long long)));
  gsys::launch(reply_kernel, dim3(1), dim3(kReplyThreads), a);
  gsys::synchronize();
  const reply_result r = parse_reply(u.client_receive());
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.r.top.size(), 3u);
  EXPECT_EQ(r.r.top[0].first, 1);
  EXPECT_EQ(r.r.top[1].first, 2);
  EXPECT_EQ(r.r.top[2].first, 0);
}

request_queue make_queue(gsys::runtime& rt, unsigned slots, unsigned rx_cap)
{
  request_queue q{};
  q.slots = slots;
  q.state = static_cast<unsigned*>(rt.alloc(slots * sizeof(unsigned)));
  q.len = static_cast<long long*>(rt.alloc(slots * sizeof(long long)));
  q.rx = static_cast<char*>(rt.alloc(std::size_t(slots) * rx_cap));
  q.peer = static_cast<sockaddr_storage*>(rt.alloc(slots * sizeof(sockaddr_storage)));
  q.peer_len = static_cast<unsigned*>(rt.alloc(slots * sizeof(unsigned)));
  return q;
}

unsigned slot_state(const request_queue& q, unsigned i) { return std::atomic_ref<unsigned>(q.state[i]).load(); }

// Waits (10 s at most) until slot i holds a request.
bool filled(const request_queue& q, unsigned i)
{
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (slot_state(q, i) != 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return slot_state(q, i) == 1;
}

std::string slot_text(const serve_io& io, const request_queue& q, unsigned i)
{
  return std::string(slot_io(io, q, i).rx, std::size_t(q.len[i]));
}

// One receiver for the server's life: it answers an oversized datagram
// itself, queues the next requests in the free slots in turn (while the host
// is still busy with the first), waits when every slot is the host's, and
// ends when told to stop, without a kernel launch per request.
TEST(Serve, ResidentReceiverQueuesRequestsInTurnAndStopsWhenTold)
{
  gsys::runtime_options ro;
  ro.timeout = std::chrono::seconds(60);
  gsys::runtime rt(ro);
  udp_pair u;
  serve_io io = make_io(rt, u, -1);
  const request_queue q = make_queue(rt, 2, io.rx_cap);
  u.send_to_server(std::string(2000, 'x'));
  u.send_to_server("{\"id\": 1}");
  u.send_to_server("{\"id\": 22}");
  u.send_to_server("{\"id\": 333}");
  gsys::stream receiver;
  gsys::launch(receiver_kernel, dim3(1), dim3(1), receiver, io, q);
  ASSERT_TRUE(filled(q, 0));
  ASSERT_TRUE(filled(q, 1));
  EXPECT_EQ(slot_text(io, q, 0), "{\"id\": 1}");
  EXPECT_EQ(slot_text(io, q, 1), "{\"id\": 22}");
  EXPECT_EQ(std::atomic_ref<unsigned long long>(*io.refused).load(), 1u);
  const sockaddr_in* from = reinterpret_cast<const sockaddr_in*>(slot_io(io, q, 1).peer);
  EXPECT_EQ(from->sin_port, u.client_addr.sin_port);
  const reply_result r = parse_reply(u.client_receive());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_FALSE(r.r.ok);
  EXPECT_EQ(r.r.error, "request of 2000 bytes: the server takes at most 1024");
  // Both slots are the host's: the third request waits, received or not,
  // until slot 0 is handed back.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(slot_text(io, q, 0), "{\"id\": 1}");
  std::atomic_ref<unsigned>(q.state[0]).store(0);
  ASSERT_TRUE(filled(q, 0));
  EXPECT_EQ(slot_text(io, q, 0), "{\"id\": 333}");
  // Meanwhile the host's own kernels run and finish on the default stream.
  unsigned long long* flag = static_cast<unsigned long long*>(rt.alloc(8));
  gsys::launch(send_kernel, dim3(1), dim3(1), slot_io(io, q, 1), 0u, reinterpret_cast<long long*>(flag));
  gsys::synchronize(gsys::default_stream);
  // Stop: the flag, then a datagram to wake its recvfrom. Slot 1 is handed
  // back first so the receiver is in recvfrom, not waiting for a slot.
  std::atomic_ref<unsigned>(q.state[1]).store(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  *const_cast<unsigned*>(io.stop) = 1;
  u.send_to_server("");
  gsys::synchronize(receiver);
  EXPECT_EQ(slot_state(q, 1), 0u) << "the wake-up datagram is not a request";
}

}  // namespace
