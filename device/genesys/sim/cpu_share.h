// Which CPUs the simulator's block threads are on, for the executor threads
// of the same process (libgenesys/executor.cpp, idle_waiter).
//
// A simulated device is host threads. An executor thread that spins for
// work on the CPU a block thread needs takes the time in which the device
// would have queued that work: whenever the scheduler put the two on one
// CPU (a loaded machine), a round trip grew to the executor's whole spin
// (the simulator's "slow mode": 68-81 µs per nop instead of under one).
// Block threads note their CPU here when their threads wait or yield; an
// executor that finds one on its own CPU moves to another CPU, or sleeps on
// the doorbell where it cannot (idle_waiter::idle).
//
// Header-only, like link_model.h: libgenesys reads it without depending on
// genesys_sim. With a GPU nothing is noted and the check is one load.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>

namespace gsys::sim {

namespace cpu_share_detail {
constexpr unsigned kCpuSlots = 256;  // CPU numbers are taken modulo this
inline std::atomic<std::uint32_t> g_block_threads_on_cpu[kCpuSlots];

inline int my_cpu()
{
  const int c = sched_getcpu();
  return c < 0 ? -1 : c % (int)kCpuSlots;
}
}  // namespace cpu_share_detail

// A block thread's presence on the CPU it last noted. note() costs a few
// nanoseconds when the thread has not moved; leave() withdraws it.
class cpu_presence {
 public:
  cpu_presence() = default;
  ~cpu_presence() { leave(); }
  cpu_presence(const cpu_presence&) = delete;
  cpu_presence& operator=(const cpu_presence&) = delete;

  void note()
  {
    const int c = cpu_share_detail::my_cpu();
    if (c < 0 || c == cpu_) return;
    cpu_share_detail::g_block_threads_on_cpu[c].fetch_add(1, std::memory_order_relaxed);
    leave();
    cpu_ = c;
  }
  void leave()
  {
    if (cpu_ >= 0) cpu_share_detail::g_block_threads_on_cpu[cpu_].fetch_sub(1, std::memory_order_relaxed);
    cpu_ = -1;
  }

 private:
  int cpu_ = -1;
};

// Whether a block thread last noted the calling thread's CPU.
inline bool block_thread_on_my_cpu()
{
  const int c = cpu_share_detail::my_cpu();
  return c >= 0 && cpu_share_detail::g_block_threads_on_cpu[c].load(std::memory_order_relaxed) != 0;
}

}  // namespace gsys::sim
