// Internal to genesys_sim (device/sim/*.cpp); sim.h does not include it.
//
// One `block` runs one CUDA block on one OS thread. Its simulated threads are
// fibers, run round-robin in thread order; a thread gives control away only
// at a scheduling point, where it parks with a wait_kind saying what it waits
// for. A parking thread switches straight to the next runnable one, which
// halves the context switches of a barrier or collective; the block's own
// context (the scheduler) only starts threads, takes them back when they
// exit, and waits when no thread can run. Only the block's OS thread touches
// a block, so nothing here is locked or atomic.
#pragma once

#include <boost/context/fiber.hpp>
#include <boost/context/stack_context.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cpu_share.h"
#include "launch.h"
#include "link_model.h"
#include "sync.h"

// GSYS_SIM_ASAN, GSYS_SIM_TSAN: built with that sanitizer (GCC or Clang).
#if defined(__SANITIZE_ADDRESS__)
#define GSYS_SIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GSYS_SIM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define GSYS_SIM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GSYS_SIM_TSAN 1
#endif
#endif

namespace gsys::sim::detail {

using u32 = std::uint32_t;
using u64 = std::uint64_t;

// Prints "gsys sim: <message>" to stderr and aborts.
[[noreturn]] void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

u64 now_ns();

// The value of environment variable `name`, a decimal number in [min, max],
// or `fallback` when it is unset or empty. Anything else (a sign, blanks,
// other characters, too many digits) throws std::runtime_error
// "<name>=<value>: <expected>". Every GSYS_SIM_* number is read this way.
u64 env_number(const char* name, u64 fallback, u64 min, u64 max, const char* expected);

// Bytes of one fiber stack: GSYS_SIM_STACK_KB (default 256) rounded up to
// whole pages. Throws std::runtime_error for a malformed value.
std::size_t fiber_stack_bytes();

// Makes a stack overflow of a simulated thread on the calling OS thread end
// the process with a report naming the thread, not a bare SIGSEGV (see
// stack.cpp). Called once by each OS thread that runs blocks.
void report_stack_overflows_on_this_thread();

// Fiber stacks for one block at a time: one reservation of address space,
// one slot per thread, committed by the kernel only where touched. Slots are
// reused LIFO, so a block whose threads finish without ever parking runs on
// one stack, and a worker thread keeps its arena for the next block, whose
// fibers then start on pages that are already committed. A slot gets a PROT_NONE guard page below it when first used, while a
// process-wide budget of memory mappings lasts (each guard splits a mapping,
// and Linux caps mappings at vm.max_map_count).
class stack_arena {
 public:
  explicit stack_arena(u32 slots);
  ~stack_arena();
  stack_arena(const stack_arena&) = delete;
  stack_arena& operator=(const stack_arena&) = delete;

  u32 slots() const { return slots_; }
  boost::context::stack_context take();
  void give_back(const boost::context::stack_context& s);

 private:
  std::size_t slot_bytes_;  // guard page + stack
  u32 slots_;
  char* base_;
  u32 fresh_ = 0;  // slots [fresh_, slots_) were never handed out
  std::vector<u32> free_;
  u32 guards_ = 0;
};

// How a fiber's context is saved and switched. On x86-64 block.cpp does it
// itself (callee-saved registers and FP control words pushed on the fiber's
// stack, then one stack-pointer swap): about 4x cheaper than Boost.Context's
// jump, which leaves the CPU's return-address predictor unbalanced.
// Elsewhere, or with GSYS_SIM_BOOST_SWITCH defined, Boost.Context does it.
#if defined(__x86_64__) && !defined(GSYS_SIM_BOOST_SWITCH)
#define GSYS_SIM_OWN_SWITCH 1
#else
#define GSYS_SIM_OWN_SWITCH 0
#endif

// A suspended execution context: a simulated thread's or the scheduler's.
struct fiber_context {
#if GSYS_SIM_OWN_SWITCH
  void* sp = nullptr;  // the saved registers are on top of this stack
#else
  boost::context::fiber fiber;
#endif
};

enum class wait_kind : std::uint8_t {
  running,     // runnable or executing: not parked
  barrier,     // in __syncthreads*
  warp,        // in a warp collective
  activemask,  // in __activemask
  sleep,       // in __nanosleep
  exited,
};

struct sim_thread {
  fiber_context context;  // while suspended
  bool started = false;   // it has a stack and a context (until it exits)
  boost::context::stack_context stack{};
  void* asan_fake_stack = nullptr;
  uint3 idx{};
  wait_kind wait = wait_kind::running;
  // The warp collective it is parked in (wait == warp).
  warp_op op = warp_op::sync;
  u32 mask = 0;
  u32 param = 0;
  u32 width = 32;
  u64 value = 0;  // operand in, result out (also __activemask's result)
  u64 value2 = 0;  // a pair shuffle's second word, in and out
  const void* site = nullptr;  // __activemask call site
  u64 wake_ns = 0;             // __nanosleep deadline
  link_counters link{};        // what it crossed the link for (link_model.h)
};

struct warp_state {
  // A collective some lanes have reached: identified by its mask, since lanes
  // of one warp may run disjoint collectives after diverging.
  struct group {
    u32 mask;
    u32 arrived;
    warp_op op;
  };
  u32 lanes = 0;          // lanes that exist (a partial last warp has fewer)
  u32 live = 0;           // lanes that have not exited
  u32 running = 0;        // live lanes that are not parked
  u32 in_activemask = 0;  // lanes parked in __activemask
  std::array<group, 32> pending{};
  u32 npending = 0;
};

class block {
 public:
  block(const grid_launch& launch, uint3 index, stack_arena& stacks);  // stacks: at least one slot per thread
  block(const block&) = delete;
  block& operator=(const block&) = delete;

  // Runs every thread of the block to completion on the calling OS thread.
  void run();

  // Scheduling points, called by the running simulated thread.
  barrier_result barrier(int predicate);
  u64 collective(warp_op op, u32 mask, u64 value, u32 param, u32 width, u64 value2 = 0);
  u32 activemask(const void* site);
  void sleep(u64 ns);
  void yield();

  // The simulated thread running now (or last resumed).
  sim_thread& running_thread() { return threads_[current_]; }
  uint3 index() const { return index_; }

 private:
  // The scheduler (block.cpp).
  int next_runnable();
  void resume(u32 t);
  static void thread_start(void* thread);
  void thread_main(u32 t);
  void exit_thread(u32 t);
  void park(u32 t, wait_kind why);
  void make_runnable(u32 t);
  void switch_away();
  void switch_to_thread(u32 next);
  void switch_to_scheduler();
  void release_barrier();
  void wake_due_sleepers();
  void wait_for_sleeper();
  [[noreturn]] void report_deadlock();
  std::string describe(u32 t) const;

  // Warps (warp.cpp).
  void settle(u32 w);
  void complete(const warp_state::group& g, u32 w);
  std::string describe_collective(u32 t) const;

  const grid_launch& launch_;
  const uint3 index_;
  const u32 nthreads_;
  std::vector<sim_thread> threads_;
  std::vector<warp_state> warps_;
  std::vector<u64> runnable_;  // one bit per thread
  std::vector<u64> sleeping_;  // one bit per thread
  stack_arena& stacks_;
  std::vector<std::max_align_t> dynamic_shared_;

  fiber_context scheduler_;  // the block's own context while a thread runs
  const void* scheduler_stack_ = nullptr;  // its bounds and fake stack, for ASan
  std::size_t scheduler_stack_size_ = 0;
  void* scheduler_fake_stack_ = nullptr;

  u32 current_ = 0;  // the thread last resumed
  int handoff_ = -1;  // a thread a parking one chose for the scheduler to start
  u32 live_ = 0;     // threads that have not exited
  u32 arrived_ = 0;  // at the barrier now filling
  u32 arrived_with_predicate_ = 0;
  barrier_result last_barrier_{};  // what the last completed barrier returns
  u32 sleepers_ = 0;
  u64 next_wake_ = 0;  // earliest deadline among the sleepers
  cpu_presence cpu_;  // noted where threads wait, for executors (cpu_share.h)
};

// The block running on this OS thread, or null outside a kernel.
extern thread_local block* current_block;

// The running block, or a fatal error naming `what` when called outside a kernel.
block& running_block(const char* what);

}  // namespace gsys::sim::detail
