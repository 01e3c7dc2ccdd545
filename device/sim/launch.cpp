// Launching grids: validation, stream order, the OS threads that run blocks,
// and synchronize().
//
// Grids of one stream run in launch order, as on CUDA: launch() returns at
// once, and a grid that finds another grid of its stream running or queued
// waits in the stream's queue; the last block of a grid to end starts the
// next grid of its stream.
//
// An ordinary grid gets resident_blocks() workers, which take its blocks in
// order (x fastest) and run each to completion, as a GPU's SMs do. A
// co-resident grid (gsys::cooperative, gsys::sim::coresident: its blocks
// wait for each other) never queues a block behind another: it hands every
// block to an idle worker thread or a new one. Workers are kept for a while
// after their job ends, so launching many small grids does not pay for a
// thread each time. A watch thread reports an ordinary grid whose blocks
// wait to start while none of its running blocks has ended for a while: the
// hang of a kernel that needs co-residency and did not say so.
#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
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
  std::condition_variable idle;  // busy became false (synchronize(stream))
  bool busy = false;             // a grid of the stream runs
  std::deque<std::shared_ptr<running_grid>> waiting;
};

namespace {
std::int64_t now_ns()
{
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

struct running_grid {
  running_grid(grid_launch l, std::shared_ptr<stream_state> s, u64 blocks)
      : launch(std::move(l)), stream(std::move(s)), total(blocks), blocks_left(blocks)
  {
  }
  const grid_launch launch;
  const std::shared_ptr<stream_state> stream;
  const u64 total;
  std::atomic<u64> blocks_left;
  std::atomic<u64> next_block{0};             // ordinary grids: the next block a worker takes
  std::atomic<std::int64_t> last_end_ns{0};   // when a block last ended, or the grid started
  bool stall_reported = false;                // (the watch thread's)
};

u64 env_number(const char* name, u64 fallback, u64 min, u64 max, const char* expected)
{
  const char* s = std::getenv(name);
  if (!s || !*s) return fallback;
  // from_chars takes digits only: strtoull read "-1" as 2^64-1 (a sign
  // negates modulo 2^64) and skipped blanks.
  const char* end = s + std::strlen(s);
  u64 n = 0;
  const auto [stop, error] = std::from_chars(s, end, n);
  if (error != std::errc{} || stop != end || n < min || n > max)
    throw std::runtime_error(std::string(name) + "=" + s + ": " + expected);
  return n;
}

namespace {

constexpr auto kWorkerIdleExit = std::chrono::seconds(2);

// A block of a co-resident grid, or (runner) a worker's turn at an
// ordinary grid: blocks taken in order until none is left.
struct block_job {
  std::shared_ptr<running_grid> grid;
  uint3 index{};
  bool runner = false;
};

uint3 block_index(const dim3& g, u64 i) { return {u32(i % g.x), u32(i / g.x % g.y), u32(i / g.x / g.y)}; }

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
      grid->stream->idle.notify_all();
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
void run_one_block(const std::shared_ptr<running_grid>& grid, uint3 index, std::unique_ptr<stack_arena>& stacks)
{
  const dim3 d = grid->launch.block;
  if (!stacks || stacks->slots() < d.x * d.y * d.z) {
    stacks.reset();  // its guard pages go back to the budget first
    stacks = std::make_unique<stack_arena>(d.x * d.y * d.z);
  }
  {
    block b(grid->launch, index, *stacks);
    b.run();
  }
  grid->last_end_ns.store(now_ns(), std::memory_order_relaxed);
  if (grid->blocks_left.fetch_sub(1, std::memory_order_acq_rel) == 1) grid_finished(grid);
}

void run_block(block_job job, std::unique_ptr<stack_arena>& stacks)
{
  if (!job.runner) return run_one_block(job.grid, job.index, stacks);
  for (;;) {
    const u64 i = job.grid->next_block.fetch_add(1, std::memory_order_relaxed);
    if (i >= job.grid->total) return;
    run_one_block(job.grid, block_index(job.grid->launch.grid, i), stacks);
  }
}

// The stall report's threshold (set_stall_report_after) and count.
std::atomic<std::int64_t> stall_after_ns{std::int64_t(10) * 1000000000};
std::atomic<u64> stall_count{0};

// Watches the ordinary grids that run; see the top of the file. Its thread
// runs only while there is a grid to watch (no wake-ups in an idle process).
class stall_watch {
 public:
  void add(const std::shared_ptr<running_grid>& g)
  {
    std::lock_guard lock(m_);
    grids_.push_back(g);
    if (!running_) {
      running_ = true;
      std::thread(&stall_watch::run, this).detach();
    }
  }

 private:
  void run()
  {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::lock_guard lock(m_);
      if (grids_.empty()) {
        running_ = false;
        return;
      }
      const std::int64_t now = now_ns();
      std::erase_if(grids_, [&](const std::weak_ptr<running_grid>& w) {
        const std::shared_ptr<running_grid> g = w.lock();
        if (!g || g->blocks_left.load() == 0) return true;
        const u64 started = std::min(g->next_block.load(), g->total);
        if (g->stall_reported || started >= g->total ||
            now - g->last_end_ns.load(std::memory_order_relaxed) < stall_after_ns.load())
          return false;
        g->stall_reported = true;
        stall_count.fetch_add(1);
        const u64 ended = g->total - g->blocks_left.load();
        const dim3 gd = g->launch.grid, bd = g->launch.block;
        std::fprintf(stderr,
                     "genesys sim: a grid of (%u,%u,%u) blocks of (%u,%u,%u) threads is stuck: none of its %llu "
                     "running blocks has ended for %.1f s while %llu wait to start (%u resident at a time, "
                     "GSYS_SIM_RESIDENT_BLOCKS). If its blocks wait for each other, launch it with "
                     "gsys::cooperative (gsys::sim::coresident): a GPU may hang on it the same way.\n",
                     gd.x, gd.y, gd.z, bd.x, bd.y, bd.z,
                     (unsigned long long)(started > ended ? started - ended : 0),
                     double(now - g->last_end_ns.load()) / 1e9, (unsigned long long)(g->total - started),
                     resident_blocks());
        return false;
      });
    }
  }

  std::mutex m_;
  std::vector<std::weak_ptr<running_grid>> grids_;
  bool running_ = false;  // a watch thread exists
};

stall_watch& stalls()
{
  static stall_watch* w = new stall_watch;  // never destroyed: its thread runs until exit
  return *w;
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
    report_stack_overflows_on_this_thread();
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

// A positive number from the environment, or `fallback`.
u64 env_count(const char* name, u64 fallback)
{
  return env_number(name, fallback, 1, std::numeric_limits<u64>::max(), "expected a positive number");
}

// Co-resident grids: every block is an OS thread.
u64 max_blocks()
{
  static const u64 limit = env_count("GSYS_SIM_MAX_BLOCKS", 4096);
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
  if (l.grid.x > 0x7fffffffu) reject("grid", l.grid, "is larger than CUDA allows: x < 2^31");
  const u64 blocks = (u64)l.grid.x * l.grid.y * l.grid.z;
  if (l.coresident && blocks > max_blocks())
    reject("grid", l.grid,
           "has " + std::to_string(blocks) + " blocks; the simulator runs every block of a co-resident launch on "
           "its own OS thread and takes at most " + std::to_string(max_blocks()) + " (GSYS_SIM_MAX_BLOCKS)");
  resident_blocks();  // a malformed GSYS_SIM_RESIDENT_BLOCKS is reported here, not by a worker
  fiber_stack_bytes();  // a malformed GSYS_SIM_STACK_KB is reported here, not in a block
}

void start_blocks(const std::shared_ptr<running_grid>& grid)
{
  std::vector<block_job> jobs;
  grid->last_end_ns.store(now_ns());
  if (grid->launch.coresident) {
    jobs.reserve(grid->total);
    for (u64 i = 0; i < grid->total; ++i) jobs.push_back({grid, block_index(grid->launch.grid, i)});
  } else {
    const u64 workers = std::min<u64>(grid->total, resident_blocks());
    for (u64 i = 0; i < workers; ++i) jobs.push_back({grid, {}, true});
    if (workers < grid->total) stalls().add(grid);
  }
  pool().submit(std::move(jobs));
}

void enqueue(grid_launch launch, std::shared_ptr<stream_state> stream)
{
  validate(launch);
  const dim3 g = launch.grid;
  auto grid = std::make_shared<running_grid>(std::move(launch), std::move(stream), (u64)g.x * g.y * g.z);
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

unsigned resident_blocks()
{
  static const unsigned n = unsigned(std::min<detail::u64>(
      detail::env_count("GSYS_SIM_RESIDENT_BLOCKS", std::max(2u, std::thread::hardware_concurrency())), 4096));
  return n;
}

unsigned long long stall_reports() { return detail::stall_count.load(); }

void detail::set_stall_report_after(std::chrono::milliseconds ms) { stall_after_ns.store(std::int64_t(ms.count()) * 1000000); }

void synchronize()
{
  detail::grid_counter& g = detail::grids();
  std::unique_lock lock(g.m);
  g.all_done.wait(lock, [&] { return g.running == 0; });
}

namespace {
void wait_idle(detail::stream_state& s)
{
  std::unique_lock lock(s.m);
  s.idle.wait(lock, [&] { return !s.busy; });  // busy stays true while grids wait
}
}  // namespace

void synchronize(const stream& s) { wait_idle(*s.state()); }

void synchronize_default_stream() { wait_idle(*detail::default_stream()); }

std::string device_name()
{
  return "SIMT simulator (" + std::to_string(std::thread::hardware_concurrency()) + " host cores)";
}

}  // namespace gsys::sim
