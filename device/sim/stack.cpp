// Fiber stacks: address space reserved per block with one mmap, committed by
// the kernel page by page as fibers touch it, guarded while the mapping
// budget lasts. See stack_arena in block.h. Also the report of a thread that
// overflows its stack.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "genesys/sim/block.h"

#if GSYS_SIM_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace gsys::sim::detail {

namespace {

std::size_t page_bytes()
{
  static const std::size_t bytes = (std::size_t)sysconf(_SC_PAGESIZE);
  return bytes;
}

// Guard pages the process may still create. Each one splits a mapping in
// two; allow a quarter of vm.max_map_count (16k guarded stacks by default)
// and leave the rest to malloc, thread stacks and the sanitizers.
std::atomic<long>& guard_budget()
{
  static std::atomic<long> budget{[] {
    long max_maps = 65530;
    std::ifstream("/proc/sys/vm/max_map_count") >> max_maps;
    return max_maps / 4;
  }()};
  return budget;
}

}  // namespace

std::size_t fiber_stack_bytes()
{
  static const std::size_t bytes = [] {
    const u64 kb = env_number("GSYS_SIM_STACK_KB", 256, 16, 1024 * 1024,
                              "expected a stack size in KiB between 16 and 1048576");
    const std::size_t page = page_bytes();
    return (kb * 1024 + page - 1) / page * page;
  }();
  return bytes;
}

stack_arena::stack_arena(u32 slots) : slot_bytes_(fiber_stack_bytes() + page_bytes()), slots_(slots)
{
  // MAP_NORESERVE: 1024 threads x 256 KiB is reserved, not committed, so
  // strict overcommit settings do not refuse a large block.
  void* p = mmap(nullptr, slot_bytes_ * slots_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED)
    fatal("cannot reserve %zu MiB of address space for %u fiber stacks: %s", slot_bytes_ * slots_ >> 20, slots_,
          std::strerror(errno));
  base_ = static_cast<char*>(p);
  free_.reserve(slots_);
}

// A fiber that ends mid-frame (its block abandoned, a thread that never
// returned) leaves its frames' ASan redzones poisoned, and munmap does not
// clear shadow memory: the next mapping at those addresses (a ring, a
// buffer) was reported as a stack-buffer-underflow. No-op without ASan.
namespace {
void unpoison(void* p, std::size_t bytes)
{
#if GSYS_SIM_ASAN
  __asan_unpoison_memory_region(p, bytes);
#else
  (void)p, (void)bytes;
#endif
}
}  // namespace

stack_arena::~stack_arena()
{
  unpoison(base_, slot_bytes_ * slots_);
  munmap(base_, slot_bytes_ * slots_);
  guard_budget().fetch_add(guards_, std::memory_order_relaxed);
}

boost::context::stack_context stack_arena::take()
{
  u32 i;
  if (!free_.empty()) {
    i = free_.back();
    free_.pop_back();
  } else {
    i = fresh_++;  // a block starts at most one fiber per thread, so this stays below slots_
    char* guard = base_ + (std::size_t)i * slot_bytes_;
    if (guard_budget().fetch_sub(1, std::memory_order_relaxed) > 0 && mprotect(guard, page_bytes(), PROT_NONE) == 0)
      ++guards_;
    else
      guard_budget().fetch_add(1, std::memory_order_relaxed);
    // Commit the top page, which every fiber touches, in one system call:
    // a page fault costs several times more, and in virtual machines tens
    // of microseconds. Older kernels refuse the advice; then the fault does it.
    madvise(guard + slot_bytes_ - page_bytes(), page_bytes(), MADV_POPULATE_WRITE);
  }
  boost::context::stack_context s;
  s.size = slot_bytes_ - page_bytes();
  s.sp = base_ + (std::size_t)(i + 1) * slot_bytes_;  // stacks grow down from the slot's end
  return s;
}

void stack_arena::give_back(const boost::context::stack_context& s)
{
  unpoison(static_cast<char*>(s.sp) - s.size, s.size);  // the next fiber starts clean
  free_.push_back((u32)((static_cast<char*>(s.sp) - base_) / slot_bytes_ - 1));
}

// Stack overflow reports. switch_away's check runs only at scheduling
// points, so a thread that overruns its stack in between faults: on its
// guard page, or further down when one frame is larger than the guard (GCC
// probes each page of a large frame only with -fstack-clash-protection).
// A SIGSEGV handler recognises such a fault and names the thread. It runs
// on an alternate signal stack, since the fiber's own is used up, and calls
// only async-signal-safe functions. Any other fault goes to the handler
// that was there before, or ends the process as if none were installed.
// Not under TSan, which wraps every handler and keeps its own SEGV report.
#if !GSYS_SIM_TSAN
namespace {

struct sigaction previous_segv;  // for the faults that are not overflows
std::uintptr_t guard_bytes;      // page_bytes(), for the handler

// Appends to a message without snprintf, which is not async-signal-safe.
char* put(char* p, const char* s)
{
  while (*s) *p++ = *s++;
  return p;
}

char* put(char* p, u64 n)
{
  char digits[20];
  int k = 0;
  do digits[k++] = char('0' + n % 10);
  while (n /= 10);
  while (k > 0) *p++ = digits[--k];
  return p;
}

char* put(char* p, uint3 v)
{
  p = put(put(put(p, "("), (u64)v.x), ",");
  p = put(put(p, (u64)v.y), ",");
  return put(put(p, (u64)v.z), ")");
}

// The stack pointer when the fault happened; 0 where unknown.
std::uintptr_t fault_sp(const void* context)
{
  const auto* uc = static_cast<const ucontext_t*>(context);
#if defined(__x86_64__)
  return (std::uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
  return (std::uintptr_t)uc->uc_mcontext.sp;
#else
  (void)uc;
  return 0;
#endif
}

// A fault below the thread's stack: on its guard page, or, once the stack
// pointer has left the stack, in the frame that took it there. A frame's
// accesses lie above the stack pointer, or a little below: x86-64's 128-byte
// red zone, a push.
bool overflowed(const sim_thread& th, std::uintptr_t addr, std::uintptr_t sp)
{
  constexpr std::uintptr_t kBelowSp = 256;
  const std::uintptr_t bottom = (std::uintptr_t)th.stack.sp - th.stack.size;
  if (addr >= bottom) return false;
  return addr >= bottom - guard_bytes || (sp != 0 && sp < bottom && addr + kBelowSp >= sp);
}

void on_segv(int sig, siginfo_t* info, void* context)
{
  if (block* b = current_block) {
    const sim_thread& th = b->running_thread();
    if (th.started && overflowed(th, (std::uintptr_t)info->si_addr, fault_sp(context))) {
      char msg[256];
      char* p = put(msg, "gsys sim: thread ");
      p = put(put(put(p, th.idx), " of block "), b->index());
      p = put(put(put(p, " overflowed its "), (u64)th.stack.size / 1024), " KiB stack; set GSYS_SIM_STACK_KB ");
      p = put(p, "(KiB, 16..1048576) to give each thread more\n");
      (void)!write(STDERR_FILENO, msg, p - msg);
      abort();  // as fatal() ends the process
    }
  }
  if (previous_segv.sa_flags & SA_SIGINFO) return previous_segv.sa_sigaction(sig, info, context);
  if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) return previous_segv.sa_handler(sig);
  // The previous action (default or ignore) restored: a fault happens again
  // on return and ends the process as usual; a signal that was sent is sent
  // again.
  sigaction(sig, &previous_segv, nullptr);
  if (info->si_code <= 0) raise(sig);
}

// This OS thread's alternate signal stack, unless it has one already (ASan
// gives one to each thread).
class alternate_stack {
 public:
  alternate_stack()
  {
    stack_t old{};
    if (sigaltstack(nullptr, &old) != 0 || !(old.ss_flags & SS_DISABLE)) return;
    void* p = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return;
    stack_t ss{};
    ss.ss_sp = p;
    ss.ss_size = kBytes;
    if (sigaltstack(&ss, nullptr) == 0)
      base_ = p;
    else
      munmap(p, kBytes);
  }
  ~alternate_stack()
  {
    if (!base_) return;
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    sigaltstack(&off, nullptr);
    munmap(base_, kBytes);
  }
  alternate_stack(const alternate_stack&) = delete;
  alternate_stack& operator=(const alternate_stack&) = delete;

 private:
  // Ample for the kernel's signal frame (a few KiB, more with AVX-512) and a
  // handler chained to.
  static constexpr std::size_t kBytes = 64 * 1024;
  void* base_ = nullptr;
};

}  // namespace
#endif

void report_stack_overflows_on_this_thread()
{
#if !GSYS_SIM_TSAN
  static const bool installed = [] {
    guard_bytes = page_bytes();
    struct sigaction sa {};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGSEGV, &sa, &previous_segv) == 0;
  }();
  if (installed) {
    static thread_local const alternate_stack stack;
  }
#endif
}

}  // namespace gsys::sim::detail
