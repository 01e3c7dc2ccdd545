// Launching grids: validation, stream order, the OS threads that run blocks,
// and synchronize().
//
// Grids of one stream run in launch order, as on CUDA: launch() returns at
// once, and a grid that finds another grid of its stream running or queued
// waits in the stream's queue; the last block of a grid to end starts the
// next grid of its stream. Every block of a grid must run at once (a
// persistent kernel's blocks wait for each other), so a starting grid never
// queues a block behind another: it hands blocks to idle worker threads and
// starts new workers for the rest. Workers are kept for a while after their
// block ends, so launching many small grids does not pay for a thread per
// block each time.
#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "genesys/sim/block.h"

namespace gsys::sim {

namespace detail {

struct running_grid;

// A stream's grids: at most one runs; the others wait in launch order.
struct stream_state {
  std::mutex m;
  bool busy = false;  // a grid of the stream runs
  std::deque<std::shared_ptr<running_grid>> waiting;
};

struct running_grid {
  running_grid(grid_launch l, std::shared_ptr<stream_state> s, u32 blocks)
      : launch(std::move(l)), stream(std::move(s)), blocks_left(blocks)
  {
  }
  const grid_launch launch;
  const std::shared_ptr<stream_state> stream;
  std::atomic<u32> blocks_left;
};

namespace {

constexpr auto kWorkerIdleExit = std::chrono::seconds(2);

struct block_job {
  std::shared_ptr<running_grid> grid;
  uint3 index{};
};

// Grids launched and not finished, for synchronize(). Never destroyed: a
// grid may still be finishing while static destructors run.
struct grid_counter {
  std::mutex m;
  std::condition_variable all_done;
  u64 running = 0;
};

grid_counter& grids()
{
  static grid_counter* g = new grid_counter;
  return *g;
}

const std::shared_ptr<stream_state>& default_stream()
{
  // Never destroyed: a grid may still be finishing while static destructors run.
  static auto* s = new std::shared_ptr<stream_state>(std::make_shared<stream_state>());
  return *s;
}

void start_blocks(const std::shared_ptr<running_grid>& grid);

// The last block of `grid` has ended: start the next grid of its stream,
// then count the grid done for synchronize().
void grid_finished(const std::shared_ptr<running_grid>& grid)
{
  std::shared_ptr<running_grid> next;
  {
    std::lock_guard lock(grid->stream->m);
    if (grid->stream->waiting.empty()) {
      grid->stream->busy = false;
    } else {
      next = std::move(grid->stream->waiting.front());
      grid->stream->waiting.pop_front();
    }
  }
  if (next) start_blocks(next);
  grid_counter& g = grids();
  std::lock_guard lock(g.m);
  if (--g.running == 0) g.all_done.notify_all();
}

// `stacks` is the worker's arena, replaced when this block needs more slots.
void run_block(block_job job, std::unique_ptr<stack_arena>& stacks)
{
  const dim3 d = job.grid->launch.block;
  if (!stacks || stacks->slots() < d.x * d.y * d.z) {
    stacks.reset();  // its guard pages go back to the budget first
    stacks = std::make_unique<stack_arena>(d.x * d.y * d.z);
  }
  {
    block b(job.grid->launch, job.index, *stacks);
    b.run();
  }
  if (job.grid->blocks_left.fetch_sub(1, std::memory_order_acq_rel) == 1) grid_finished(job.grid);
}

class block_pool {
 public:
  void submit(std::vector<block_job> jobs)
  {
    std::size_t queued = 0;
    {
      std::lock_guard lock(m_);
      // Invariant: queue_.size() <= idle_, so every queued block has a
      // worker that is waiting and will take it.
      queued = std::min(jobs.size(), idle_ - queue_.size());
      for (std::size_t i = 0; i < queued; ++i) queue_.push_back(std::move(jobs[i]));
    }
    if (queued > 0) queued_.notify_all();
    for (std::size_t i = queued; i < jobs.size(); ++i) {
      try {
        std::thread(&block_pool::work, this, std::move(jobs[i])).detach();
      } catch (const std::system_error& e) {
        // Part of the grid runs already; it cannot be taken back.
        fatal("cannot start an OS thread for block (%u,%u,%u): %s", jobs[i].index.x, jobs[i].index.y,
              jobs[i].index.z, e.what());
      }
    }
  }

 private:
  void work(block_job job)
  {
    // __nanosleep deadlines are kept to the microsecond, not to Linux's
    // default 50 µs timer slack.
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    std::unique_ptr<stack_arena> stacks;
    for (;;) {
      run_block(std::move(job), stacks);
      std::unique_lock lock(m_);
      ++idle_;
      while (queue_.empty()) {
        if (queued_.wait_for(lock, kWorkerIdleExit) == std::cv_status::timeout && queue_.empty()) {
          --idle_;
          return;
        }
      }
      job = std::move(queue_.front());
      queue_.pop_front();
      --idle_;
    }
  }

  std::mutex m_;
  std::condition_variable queued_;
  std::deque<block_job> queue_;
  std::size_t idle_ = 0;
};

block_pool& pool()
{
  static block_pool* p = new block_pool;  // never destroyed: detached workers use it until exit
  return *p;
}

u64 max_blocks()
{
  static const u64 limit = [] {
    u64 n = 4096;
    if (const char* s = std::getenv("GSYS_SIM_MAX_BLOCKS"); s && *s) {
      char* end = nullptr;
      errno = 0;
      n = std::strtoull(s, &end, 10);
      if (*end != '\0' || errno != 0 || n == 0)
        throw std::runtime_error(std::string("GSYS_SIM_MAX_BLOCKS=") + s + ": expected a positive number");
    }
    return n;
  }();
  return limit;
}

[[noreturn]] void reject(const char* what, dim3 d, const std::string& why)
{
  throw std::runtime_error("gsys::sim::launch: " + std::string(what) + " (" + std::to_string(d.x) + "," +
                           std::to_string(d.y) + "," + std::to_string(d.z) + ") " + why);
}

void validate(const grid_launch& l)
{
  if (l.grid.x == 0 || l.grid.y == 0 || l.grid.z == 0) reject("grid", l.grid, "has a zero dimension");
  if (l.block.x == 0 || l.block.y == 0 || l.block.z == 0) reject("block", l.block, "has a zero dimension");
  if (l.block.x > 1024 || l.block.y > 1024 || l.block.z > 64 || (u64)l.block.x * l.block.y * l.block.z > 1024)
    reject("block", l.block, "is larger than CUDA allows: at most 1024 threads, x and y <= 1024, z <= 64");
  if (l.grid.y > 65535 || l.grid.z > 65535) reject("grid", l.grid, "is larger than CUDA allows: y and z <= 65535");
  const u64 blocks = (u64)l.grid.x * l.grid.y * l.grid.z;
  if (blocks > max_blocks())
    reject("grid", l.grid,
           "has " + std::to_string(blocks) + " blocks; the simulator runs every block on its own OS thread and "
           "takes at most " + std::to_string(max_blocks()) + " (GSYS_SIM_MAX_BLOCKS)");
  fiber_stack_bytes();  // a malformed GSYS_SIM_STACK_KB is reported here, not in a block
}

void start_blocks(const std::shared_ptr<running_grid>& grid)
{
  const dim3 g = grid->launch.grid;
  std::vector<block_job> jobs;
  jobs.reserve(g.x * g.y * g.z);
  for (u32 z = 0; z < g.z; ++z)
    for (u32 y = 0; y < g.y; ++y)
      for (u32 x = 0; x < g.x; ++x) jobs.push_back({grid, {x, y, z}});
  pool().submit(std::move(jobs));
}

void enqueue(grid_launch launch, std::shared_ptr<stream_state> stream)
{
  validate(launch);
  const dim3 g = launch.grid;
  auto grid = std::make_shared<running_grid>(std::move(launch), std::move(stream), g.x * g.y * g.z);
  {
    std::lock_guard lock(grids().m);
    ++grids().running;
  }
  {
    std::lock_guard lock(grid->stream->m);
    if (grid->stream->busy) {
      grid->stream->waiting.push_back(grid);
      return;
    }
    grid->stream->busy = true;
  }
  start_blocks(grid);
}

}  // namespace

void start_grid(grid_launch launch) { enqueue(std::move(launch), default_stream()); }

void start_grid(grid_launch launch, const stream& s) { enqueue(std::move(launch), s.state()); }

}  // namespace detail

stream::stream() : state_(std::make_shared<detail::stream_state>()) {}

void synchronize()
{
  detail::grid_counter& g = detail::grids();
  std::unique_lock lock(g.m);
  g.all_done.wait(lock, [&] { return g.running == 0; });
}

std::string device_name()
{
  return "SIMT simulator (" + std::to_string(std::thread::hardware_concurrency()) + " host cores)";
}

}  // namespace gsys::sim
