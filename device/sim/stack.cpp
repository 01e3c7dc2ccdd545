// Fiber stacks: address space reserved per block with one mmap, committed by
// the kernel page by page as fibers touch it, guarded while the mapping
// budget lasts. See stack_arena in block.h.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

#include "genesys/sim/block.h"

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
    unsigned long kb = 256;
    if (const char* s = std::getenv("GSYS_SIM_STACK_KB"); s && *s) {
      char* end = nullptr;
      errno = 0;
      kb = std::strtoul(s, &end, 10);
      if (*end != '\0' || errno != 0 || kb < 16 || kb > 1024 * 1024)
        throw std::runtime_error(std::string("GSYS_SIM_STACK_KB=") + s +
                                 ": expected a stack size in KiB between 16 and 1048576");
    }
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

stack_arena::~stack_arena()
{
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
  free_.push_back((u32)((static_cast<char*>(s.sp) - base_) / slot_bytes_ - 1));
}

}  // namespace gsys::sim::detail
