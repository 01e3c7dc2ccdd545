// A thread asleep on a ring's doorbell futex, as an idle executor sleeps, to
// see whether an action wakes it:
//
//   int e = gsys_test::doorbell_sleeper_sees(hdr, [&] { /* the action */ });
//   // 0: woken; ETIMEDOUT: not woken within 400 ms
//
// The sleeper counts itself in hdr.sleepers while it sleeps. A sleeper that
// reached the futex only after the action changed the doorbell learns
// nothing (EAGAIN): that try is repeated, up to 20 times.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <thread>

#include <genesys/abi.h>

namespace gsys_test {

inline int doorbell_sleeper_sees(gsys_ring_header& h, const std::function<void()>& action)
{
  int seen_errno = EAGAIN;
  for (int attempt = 0; attempt < 20 && seen_errno == EAGAIN; ++attempt) {
    std::atomic<bool> ready{false};
    std::atomic_ref<gsys_u32>(h.sleepers).fetch_add(1);
    std::thread sleeper([&] {
      const gsys_u32 seen = std::atomic_ref<gsys_u32>(h.doorbell).load();
      ready = true;
      timespec ts{0, 400'000'000};
      const long r = ::syscall(SYS_futex, &h.doorbell, FUTEX_WAIT, seen, &ts, nullptr, 0);
      seen_errno = r == 0 ? 0 : errno;
    });
    while (!ready) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // in the futex by now, almost always
    action();
    sleeper.join();
    std::atomic_ref<gsys_u32>(h.sleepers).fetch_sub(1);
  }
  return seen_errno;
}

}  // namespace gsys_test
