// Helpers the runtime and device tests share: a scratch directory
// (scratch_dir.h), the list
// of executors this machine can run, and a runtime per executor.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <genesys/runtime.h>
#include <gtest/gtest.h>

#include "scratch_dir.h"

namespace gsys_test {

inline std::string read_file(const std::string& path)
{
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& data)
{
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

// A UDP socket bound to a free loopback port; `addr` gets its address.
// -1 on failure.
inline int bound_udp_socket(sockaddr_in& addr)
{
  const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return -1;
  addr = sockaddr_in{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(sock);
    return -1;
  }
  return sock;
}

// The executors that can run here: sync, uring where io_uring_setup works
// (gVisor and containers' seccomp profiles refuse it; GPU machines run in
// both: every uring instance then failed), kmod where the module is loaded.
inline std::vector<gsys::executor_kind> executors()
{
  std::vector<gsys::executor_kind> v = {gsys::executor_kind::sync};
  if (gsys::io_uring_available())
    v.push_back(gsys::executor_kind::uring);
  else
    std::fprintf(stderr, "io_uring_setup is refused here: the tests' uring instances are left out\n");
  if (gsys::kmod_available()) v.push_back(gsys::executor_kind::kmod);
  return v;
}

inline std::string executor_name(const testing::TestParamInfo<gsys::executor_kind>& info)
{
  return gsys::to_string(info.param);
}

inline gsys::runtime_options options_for(gsys::executor_kind k)
{
  gsys::runtime_options o;
  o.executor = k;
  o.slots = 256;
  o.timeout = std::chrono::seconds(20);
  return o;
}

// Copies a string into device-visible memory from the runtime.
inline char* device_string(gsys::runtime& rt, const std::string& s)
{
  char* p = static_cast<char*>(rt.alloc(s.size() + 1));
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

// Waits (bounded) until pred() holds; for effects of fire-and-forget calls.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10))
{
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

// Without a GPU the CUDA variants of the device tests have nothing to run on.
#define GSYS_REQUIRE_DEVICE()                                                  \
  do {                                                                         \
    if (!gsys::device_present()) GTEST_SKIP() << "no CUDA device on this machine"; \
  } while (0)

// For a test that needs the uring executor whatever its parameter.
#define GSYS_REQUIRE_IO_URING()                                                \
  do {                                                                         \
    if (!gsys::io_uring_available()) GTEST_SKIP() << "io_uring_setup is refused here"; \
  } while (0)

}  // namespace gsys_test
