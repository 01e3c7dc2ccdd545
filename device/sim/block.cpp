// The block scheduler: fibers for the simulated threads, round-robin in
// thread order, block barriers, sleeping, yielding, thread exit and deadlock
// reports. Warp collectives and __activemask are in warp.cpp.
//
// Determinism: a thread runs until it parks; then the next runnable thread
// after it in thread order, wrapping around, runs. Nothing depends on time
// except __nanosleep deadlines.
//
// Switching: a parking thread switches straight to the next one when that
// one has started (one context switch per scheduling point, not two); it
// goes through the scheduler only to start a thread or when no thread can
// run, and an exiting thread always returns there (its stack is freed on
// the way, so the next thread started reuses it).
#include "genesys/sim/block.h"

#include <cxxabi.h>
#include <sched.h>
#include <time.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <typeinfo>

#if GSYS_SIM_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if GSYS_SIM_TSAN
#include <sanitizer/tsan_interface.h>

#include <vector>
#endif

namespace gsys::sim::detail {

thread_local block* current_block = nullptr;

namespace {

// ASan keeps one stack per OS thread; each fiber switch must say which stack
// execution moves to, or ASan misreads the fiber stacks (false reports when
// an exception unwinds, missed ones elsewhere). No-ops without ASan.
void asan_start_switch(void** fake_stack_save, const void* bottom, std::size_t size)
{
#if GSYS_SIM_ASAN
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#else
  (void)fake_stack_save, (void)bottom, (void)size;
#endif
}

void asan_finish_switch(void* fake_stack_save, const void** bottom_old, std::size_t* size_old)
{
#if GSYS_SIM_ASAN
  __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, size_old);
#else
  (void)fake_stack_save, (void)bottom_old, (void)size_old;
#endif
}

// ThreadSanitizer keeps a shadow stack and a vector clock per OS thread; a
// fiber switch it is not told about corrupts both (garbage reports, crashes).
// So each simulated thread is a TSan fiber, created when the thread starts
// and destroyed when it has exited, and every switch names the fiber that
// runs next, just before it happens. The switches synchronize (flags 0): the
// threads of a block take turns on one OS thread, so what one did before it
// parked happens before what the next one does, as a barrier orders it.
// Block-local (one block runs on one OS thread from start to end); no-ops
// without TSan. Always inlined: TSan's function entry/exit records go to
// whichever fiber is current, so a helper's own frame would be entered on
// one fiber and left on the other, and the shadow stacks would drift.
#if GSYS_SIM_TSAN
thread_local void* tsan_scheduler_fiber = nullptr;
thread_local std::vector<void*> tsan_thread_fibers;
#endif

[[gnu::always_inline]] inline void tsan_enter_block(u32 nthreads)
{
#if GSYS_SIM_TSAN
  tsan_scheduler_fiber = __tsan_get_current_fiber();
  tsan_thread_fibers.assign(nthreads, nullptr);
#else
  (void)nthreads;
#endif
}

[[gnu::always_inline]] inline void tsan_switch_to_thread(u32 t)
{
#if GSYS_SIM_TSAN
  if (!tsan_thread_fibers[t]) tsan_thread_fibers[t] = __tsan_create_fiber(0);
  __tsan_switch_to_fiber(tsan_thread_fibers[t], 0);
#else
  (void)t;
#endif
}

[[gnu::always_inline]] inline void tsan_switch_to_scheduler()
{
#if GSYS_SIM_TSAN
  __tsan_switch_to_fiber(tsan_scheduler_fiber, 0);
#endif
}

// Called on the scheduler, after thread t's last switch away.
[[gnu::always_inline]] inline void tsan_thread_exited(u32 t)
{
#if GSYS_SIM_TSAN
  __tsan_destroy_fiber(tsan_thread_fibers[t]);
  tsan_thread_fibers[t] = nullptr;
#else
  (void)t;
#endif
}

#if GSYS_SIM_OWN_SWITCH
// swap_context(save, load): pushes the callee-saved registers and the SSE and
// x87 control words (what the SysV ABI says a call preserves), stores the
// stack pointer in *save, and pops the same from the stack at `load`. The
// `ret` pairs with the caller's `call`, so return prediction stays right.
// start_context: where a new context's first swap returns; it calls
// entry(arg) with r12 = entry, r13 = arg. The entry never returns (the
// thread's last swap goes to the scheduler); undefined rip ends unwinding.
extern "C" void gsys_sim_swap_context(void** save, void* load);
extern "C" void gsys_sim_start_context();
asm(R"(
  .text
  .p2align 4
  .globl gsys_sim_swap_context
  .hidden gsys_sim_swap_context
  .type gsys_sim_swap_context, @function
gsys_sim_swap_context:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size gsys_sim_swap_context, .-gsys_sim_swap_context

  .p2align 4
  .globl gsys_sim_start_context
  .hidden gsys_sim_start_context
  .type gsys_sim_start_context, @function
gsys_sim_start_context:
  .cfi_startproc
  .cfi_undefined rip
  movq %r13, %rdi
  callq *%r12
  ud2
  .cfi_endproc
  .size gsys_sim_start_context, .-gsys_sim_start_context
)");

// A context whose first switch-in calls entry(arg) on `stack`.
void make_context(fiber_context& c, const boost::context::stack_context& stack, void (*entry)(void*), void* arg)
{
  // From the top: two pad slots (so the call in start_context sees a 16-byte
  // aligned stack), the return address, rbp (0: frame-pointer walks stop
  // here), rbx, r12, r13, r14, r15, then the control words of this thread.
  void** frame = static_cast<void**>(stack.sp) - 10;
  frame[9] = frame[8] = nullptr;
  frame[7] = reinterpret_cast<void*>(&gsys_sim_start_context);
  frame[6] = frame[5] = nullptr;                  // rbp, rbx
  frame[4] = reinterpret_cast<void*>(entry);       // r12
  frame[3] = arg;                                  // r13
  frame[2] = frame[1] = nullptr;                   // r14, r15
  std::uint32_t mxcsr = 0;
  std::uint16_t x87 = 0;
  asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(x87));
  frame[0] = nullptr;
  std::memcpy(&frame[0], &mxcsr, sizeof mxcsr);
  std::memcpy(reinterpret_cast<char*>(&frame[0]) + 4, &x87, sizeof x87);
  c.sp = frame;
}

void switch_context(fiber_context& save, fiber_context& load) { gsys_sim_swap_context(&save.sp, load.sp); }

// The last switch of a thread: to `load`, never to come back.
[[noreturn]] void exit_context(fiber_context& load)
{
  fiber_context gone;
  gsys_sim_swap_context(&gone.sp, load.sp);
  __builtin_trap();
}
#else
// Boost.Context hands the context that switched away to the one resumed, as
// the value of resume(); this says where the switching side keeps it.
thread_local fiber_context* switched_from = nullptr;

void switch_context(fiber_context& save, fiber_context& load)
{
  switched_from = &save;
  boost::context::fiber resumer = std::move(load.fiber).resume();
  if (switched_from) switched_from->fiber = std::move(resumer);
}

// The stack is the arena's: the block gives it back after the thread exits.
struct arena_stack {
  boost::context::stack_context allocate() { std::abort(); }  // preallocated: never called
  void deallocate(boost::context::stack_context&) noexcept {}
};

// entry(arg) returns when the thread has exited; the context then switches
// to *exit_to for good.
void make_context(fiber_context& c, const boost::context::stack_context& stack, void (*entry)(void*), void* arg,
                  fiber_context* exit_to)
{
  c.fiber = boost::context::fiber(std::allocator_arg, boost::context::preallocated(stack.sp, stack.size, stack),
                                  arena_stack{}, [entry, arg, exit_to](boost::context::fiber&& resumer) {
                                    if (switched_from) switched_from->fiber = std::move(resumer);
                                    entry(arg);
                                    switched_from = nullptr;
                                    return std::move(exit_to->fiber);
                                  });
}
#endif

// Below this, waiting for a sleeper spins on sched_yield instead of sleeping
// in the kernel, whose wake-up latency would dominate short round trips with
// other OS threads (executors, other blocks).
constexpr u64 kSpinBelowNs = 20000;
// Within a spin, waits longer than this still give the core away between
// checks, and a spin gives it away at least this often.
constexpr u64 kYieldAboveNs = 5000;
constexpr u64 kYieldEveryNs = 2000;

inline void cpu_relax()
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// A thread parked with less stack than this left is about to overflow it.
constexpr std::size_t kStackMarginBytes = 4096;

// The first set bit at or after `from`, or -1.
int find_next(const std::vector<u64>& bits, u32 from)
{
  for (u32 word = from / 64; word < bits.size(); ++word) {
    u64 b = bits[word];
    if (word == from / 64) b &= ~0ull << (from % 64);
    if (b) return (int)(word * 64 + __builtin_ctzll(b));
  }
  return -1;
}

void set_bit(std::vector<u64>& bits, u32 i) { bits[i / 64] |= 1ull << (i % 64); }
void clear_bit(std::vector<u64>& bits, u32 i) { bits[i / 64] &= ~(1ull << (i % 64)); }

std::string current_exception_type()
{
  const std::type_info* type = abi::__cxa_current_exception_type();
  if (!type) return "unknown";
  int status = 0;
  char* name = abi::__cxa_demangle(type->name(), nullptr, nullptr, &status);
  std::string out = status == 0 ? name : type->name();
  std::free(name);
  return out;
}

}  // namespace

void fatal(const char* fmt, ...)
{
  std::fputs("gsys sim: ", stderr);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::fflush(stderr);
  std::abort();
}

u64 now_ns()
{
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
}

block& running_block(const char* what)
{
  if (!current_block) fatal("%s called outside a simulated kernel", what);
  return *current_block;
}

block::block(const grid_launch& launch, uint3 index, stack_arena& stacks)
    : launch_(launch),
      index_(index),
      nthreads_(launch.block.x * launch.block.y * launch.block.z),
      threads_(nthreads_),
      warps_((nthreads_ + 31) / 32),
      runnable_((nthreads_ + 63) / 64),
      sleeping_((nthreads_ + 63) / 64),
      stacks_(stacks),
      dynamic_shared_((launch.shared_bytes + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t)),
      live_(nthreads_)
{
  const u32 dx = launch.block.x, dy = launch.block.y;
  for (u32 t = 0; t < nthreads_; ++t) threads_[t].idx = {t % dx, t / dx % dy, t / (dx * dy)};
  for (u32 w = 0; w < warps_.size(); ++w) {
    const u32 n = nthreads_ - w * 32;
    warps_[w].lanes = warps_[w].live = n >= 32 ? ~0u : (1u << n) - 1;
  }
}

void block::run()
{
  current_block = this;
  blockIdx = index_;
  blockDim = launch_.block;
  gridDim = launch_.grid;
  dynamic_shared_base = dynamic_shared_.empty() ? nullptr : dynamic_shared_.data();
  for (u32 t = 0; t < nthreads_; ++t) make_runnable(t);
  tsan_enter_block(nthreads_);
  current_ = nthreads_ - 1;  // the first round starts at thread 0
  while (live_ > 0) {
    int t = handoff_;
    handoff_ = -1;
    if (t < 0) t = next_runnable();
    if (t >= 0)
      resume((u32)t);
    else
      wait_for_sleeper();
  }
  current_block = nullptr;
  dynamic_shared_base = nullptr;
}

int block::next_runnable()
{
  const int t = find_next(runnable_, current_ + 1);
  if (t >= 0) return t;
  wake_due_sleepers();  // once per round, so sleepers rejoin in thread order
  return find_next(runnable_, 0);
}

void block::resume(u32 t)
{
  sim_thread& th = threads_[t];
  current_ = t;
  clear_bit(runnable_, t);
  threadIdx = th.idx;
  if (!th.started) {  // only the scheduler starts threads
    th.stack = stacks_.take();
    th.started = true;
#if GSYS_SIM_OWN_SWITCH
    make_context(th.context, th.stack, &block::thread_start, &th);
#else
    make_context(th.context, th.stack, &block::thread_start, &th, &scheduler_);
#endif
  }
  asan_start_switch(&scheduler_fake_stack_, static_cast<char*>(th.stack.sp) - th.stack.size, th.stack.size);
  tsan_switch_to_thread(t);
  switch_context(scheduler_, th.context);
  asan_finish_switch(scheduler_fake_stack_, nullptr, nullptr);
  // Whichever thread switched here is current_; if it exited, its stack is
  // free now, for the next thread started to reuse.
  sim_thread& last = threads_[current_];
  if (last.wait == wait_kind::exited && last.started) {
    tsan_thread_exited(current_);
    last.started = false;
    stacks_.give_back(last.stack);
  }
}

void block::thread_start(void* thread)
{
  block& b = *current_block;
  const u32 t = (u32)(static_cast<sim_thread*>(thread) - b.threads_.data());
  asan_finish_switch(nullptr, &b.scheduler_stack_, &b.scheduler_stack_size_);
  b.thread_main(t);
  // This stack is about to be freed: ASan drops its fake stack.
  asan_start_switch(nullptr, b.scheduler_stack_, b.scheduler_stack_size_);
  tsan_switch_to_scheduler();
#if GSYS_SIM_OWN_SWITCH
  exit_context(b.scheduler_);
#endif
}

void block::thread_main(u32 t)
{
  try {
    launch_.body();
  } catch (const std::exception& e) {
    fatal("thread (%u,%u,%u) of block (%u,%u,%u) let an exception escape the kernel: %s: %s", threads_[t].idx.x,
          threads_[t].idx.y, threads_[t].idx.z, index_.x, index_.y, index_.z, current_exception_type().c_str(),
          e.what());
  } catch (...) {
    fatal("thread (%u,%u,%u) of block (%u,%u,%u) let an exception escape the kernel: %s", threads_[t].idx.x,
          threads_[t].idx.y, threads_[t].idx.z, index_.x, index_.y, index_.z, current_exception_type().c_str());
  }
  exit_thread(t);
}

// An exited thread counts as arrived at every barrier after it, as on GPUs
// since Volta, so the barrier may complete now.
void block::exit_thread(u32 t)
{
  threads_[t].wait = wait_kind::exited;
  --live_;
  warp_state& ws = warps_[t / 32];
  const u32 bit = 1u << (t % 32);
  ws.live &= ~bit;
  ws.running &= ~bit;
  if (arrived_ > 0 && arrived_ == live_) release_barrier();
  settle(t / 32);
}

void block::park(u32 t, wait_kind why)
{
  threads_[t].wait = why;
  warps_[t / 32].running &= ~(1u << (t % 32));
}

void block::make_runnable(u32 t)
{
  threads_[t].wait = wait_kind::running;
  set_bit(runnable_, t);
  warps_[t / 32].running |= 1u << (t % 32);
}

// The running thread has parked (or yields): run the next runnable thread,
// as the scheduler would, and return when this one is resumed.
void block::switch_away()
{
  const u32 t = current_;
  sim_thread& th = threads_[t];
  const char* bottom = static_cast<char*>(th.stack.sp) - th.stack.size;
  if (static_cast<char*>(__builtin_frame_address(0)) - bottom < (std::ptrdiff_t)kStackMarginBytes)
    fatal("thread (%u,%u,%u) of block (%u,%u,%u) has nearly used up its %zu KiB stack; set GSYS_SIM_STACK_KB",
          th.idx.x, th.idx.y, th.idx.z, index_.x, index_.y, index_.z, th.stack.size / 1024);
  const int next = next_runnable();
  if (next == (int)t) {  // the only runnable thread: it goes on
    clear_bit(runnable_, t);
  } else if (next >= 0 && threads_[next].started) {
    switch_to_thread((u32)next);
  } else {  // the scheduler starts `next`, or waits when it is -1
    handoff_ = next;
    switch_to_scheduler();
  }
}

void block::switch_to_thread(u32 next)
{
  sim_thread& from = threads_[current_];
  sim_thread& to = threads_[next];
  current_ = next;
  clear_bit(runnable_, next);
  threadIdx = to.idx;
  asan_start_switch(&from.asan_fake_stack, static_cast<char*>(to.stack.sp) - to.stack.size, to.stack.size);
  tsan_switch_to_thread(next);
  switch_context(from.context, to.context);
  asan_finish_switch(from.asan_fake_stack, nullptr, nullptr);
}

void block::switch_to_scheduler()
{
  sim_thread& th = threads_[current_];
  asan_start_switch(&th.asan_fake_stack, scheduler_stack_, scheduler_stack_size_);
  tsan_switch_to_scheduler();
  switch_context(th.context, scheduler_);
  asan_finish_switch(th.asan_fake_stack, nullptr, nullptr);
}

barrier_result block::barrier(int predicate)
{
  const u32 t = current_;
  ++arrived_;
  if (predicate) ++arrived_with_predicate_;
  park(t, wait_kind::barrier);
  if (arrived_ == live_)
    release_barrier();
  else
    settle(t / 32);
  switch_away();
  // No later barrier can complete before this thread reads the result: it
  // needs this thread to arrive.
  return last_barrier_;
}

void block::release_barrier()
{
  last_barrier_ = {(int)arrived_, (int)arrived_with_predicate_};
  arrived_ = arrived_with_predicate_ = 0;
  for (u32 t = 0; t < nthreads_; ++t)
    if (threads_[t].wait == wait_kind::barrier) make_runnable(t);
}

void block::sleep(u64 ns)
{
  cpu_.note();
  const u32 t = current_;
  const u64 wake = now_ns() + ns;
  threads_[t].wake_ns = wake;
  if (sleepers_++ == 0 || wake < next_wake_) next_wake_ = wake;
  set_bit(sleeping_, t);
  park(t, wait_kind::sleep);
  settle(t / 32);
  switch_away();
}

void block::yield()
{
  cpu_.note();
  set_bit(runnable_, current_);  // still running as far as its warp is concerned
  switch_away();
}

void block::wake_due_sleepers()
{
  if (sleepers_ == 0) return;
  const u64 now = now_ns();
  if (now < next_wake_) return;
  u64 next = std::numeric_limits<u64>::max();
  for (int t = find_next(sleeping_, 0); t >= 0; t = find_next(sleeping_, (u32)t + 1)) {
    if (threads_[t].wake_ns <= now) {
      clear_bit(sleeping_, (u32)t);
      --sleepers_;
      make_runnable((u32)t);
    } else if (threads_[t].wake_ns < next) {
      next = threads_[t].wake_ns;
    }
  }
  next_wake_ = next;
}

// Nothing is runnable. With sleepers, the OS thread waits for the first
// deadline; without, no thread can ever proceed.
void block::wait_for_sleeper()
{
  if (sleepers_ == 0) report_deadlock();
  if (next_wake_ > now_ns() + kSpinBelowNs) {
    const timespec ts{(time_t)(next_wake_ / 1000000000ull), (long)(next_wake_ % 1000000000ull)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);  // EINTR: the caller loops
  } else {
    // Short waits spin: a sched_yield is a system call, itself longer than
    // the sub-microsecond polls the device library makes while a call is in
    // flight; longer ones give the core away between checks.
    // Every kYieldEveryNs the core is offered anyway: an executor thread
    // that must run for this wait to end (io_uring's completion reaper) may
    // be queued behind this one.
    u64 yielded = now_ns();
    for (u64 now = yielded; now < next_wake_; now = now_ns()) {
      if (next_wake_ - now > kYieldAboveNs || now - yielded > kYieldEveryNs) {
        sched_yield();
        cpu_.note();
        yielded = now;
      } else {
        cpu_relax();
      }
    }
  }
  wake_due_sleepers();
}

std::string block::describe(u32 t) const
{
  switch (threads_[t].wait) {
    case wait_kind::running:
      return "runnable";
    case wait_kind::barrier:
      return "__syncthreads, " + std::to_string(arrived_) + " of " + std::to_string(live_) +
             " live threads arrived";
    case wait_kind::warp:
      return describe_collective(t);
    case wait_kind::activemask:
      return "__activemask";
    case wait_kind::sleep:
      return "__nanosleep";
    case wait_kind::exited:
      return "exited";
  }
  return "?";
}

void block::report_deadlock()
{
  std::string threads;
  for (u32 t = 0; t < nthreads_;) {
    const std::string what = describe(t);
    u32 end = t + 1;
    while (end < nthreads_ && describe(end) == what) ++end;
    char line[96];
    if (end - t == 1)
      std::snprintf(line, sizeof line, "  thread %u (warp %u, lane %u): ", t, t / 32, t % 32);
    else if (t / 32 == (end - 1) / 32)
      std::snprintf(line, sizeof line, "  threads %u-%u (warp %u, lanes %u-%u): ", t, end - 1, t / 32, t % 32,
                    (end - 1) % 32);
    else
      std::snprintf(line, sizeof line, "  threads %u-%u (warps %u-%u): ", t, end - 1, t / 32, (end - 1) / 32);
    threads += line + what + "\n";
    t = end;
  }
  fatal("deadlock in block (%u,%u,%u) of a (%u,%u,%u) grid of (%u,%u,%u) threads: no thread can proceed.\n"
        "Threads are numbered x + y*blockDim.x + z*blockDim.x*blockDim.y; lane = number %% 32.\n%s",
        index_.x, index_.y, index_.z, launch_.grid.x, launch_.grid.y, launch_.grid.z, launch_.block.x,
        launch_.block.y, launch_.block.z, threads.c_str());
}

barrier_result block_barrier(int predicate) { return running_block("__syncthreads").barrier(predicate); }

}  // namespace gsys::sim::detail

void gsys::sim::yield()
{
  if (detail::block* b = detail::current_block)
    b->yield();
  else
    sched_yield();
}

void __nanosleep(unsigned ns)
{
  if (gsys::sim::detail::block* b = gsys::sim::detail::current_block) {
    b->sleep(ns);
  } else {
    const timespec ts{(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    nanosleep(&ts, nullptr);
  }
}
