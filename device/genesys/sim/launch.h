// Host side of the simulator: launching grids and waiting for them.
//
//   gsys::sim::launch(kernel, grid, block, args...);            like kernel<<<grid, block>>>(args...)
//   gsys::sim::launch(kernel, grid, block, gsys::sim::dynamic_shared_bytes{n}, args...);
//   gsys::sim::stream s;  gsys::sim::launch(kernel, grid, block, s, [dynamic_shared_bytes{n},] args...);
//   gsys::sim::synchronize();                                    like cudaDeviceSynchronize()
//
//   gsys::sim::launch(kernel, grid, block, gsys::sim::coresident{}, args...);  every block at once
//
// A launch is asynchronous: launch() returns at once, and the grid starts
// when the grid launched before it on the same stream has finished (CUDA's
// stream order; without a stream argument, on the default stream). Then, as
// on a GPU, a fixed number of its blocks are resident at a time (one per
// host core; GSYS_SIM_RESIDENT_BLOCKS): workers take the blocks in order and
// run each to completion, so a grid of thousands of blocks costs a few OS
// threads. A kernel whose blocks wait for each other (a persistent server,
// a grid-wide barrier) must say so: with coresident{} (or gsys::launch's
// gsys::cooperative) every block starts at once on its own OS thread.
// Undeclared, it hangs as it may on a GPU, and the simulator reports it.
// Grids of different streams may run at the same time. The arguments are
// copied into the launch.
// launch() throws std::runtime_error for a configuration CUDA or the
// simulator rejects (see docs/simulator.md for the limits).
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "builtins.h"

namespace gsys::sim {

// Dynamic shared memory for a launch, in bytes (CUDA's third <<<>>> argument).
struct dynamic_shared_bytes {
  std::size_t bytes;
};

// Tag: every block of the grid runs at once (see above).
struct coresident {};

namespace detail {

struct grid_launch {
  dim3 grid;
  dim3 block;
  std::size_t shared_bytes;
  std::function<void()> body;  // runs the kernel with the launch's copy of the arguments
  bool coresident = false;     // every block at once (else a few resident blocks at a time)
  grid_launch&& make_coresident() &&
  {
    coresident = true;
    return std::move(*this);
  }
};

struct stream_state;

// Validates a grid and queues it on the default stream: it starts once the
// grids launched on that stream before it have finished. Throws
// std::runtime_error when it is invalid.
void start_grid(grid_launch launch);

// The running block's dynamic shared memory (set by the block's scheduler).
inline thread_local void* dynamic_shared_base = nullptr;

}  // namespace detail

// A stream of its own (as cudaStreamCreateWithFlags(cudaStreamNonBlocking)
// makes): grids launched on it run in launch order, independently of the
// default stream and of other streams. Copies name the same stream; grids
// still queued keep it alive after the last copy goes.
class stream {
 public:
  stream();
  stream(const stream&) = default;  // no moves: a moved-from stream would name none
  stream& operator=(const stream&) = default;
  const std::shared_ptr<detail::stream_state>& state() const { return state_; }

 private:
  std::shared_ptr<detail::stream_state> state_;
};

namespace detail {
// As start_grid(launch), on stream `s`.
void start_grid(grid_launch launch, const stream& s);

template <class... P, class... A>
grid_launch make_launch(void (*kernel)(P...), dim3 grid, dim3 block, std::size_t shared_bytes, A&&... args)
{
  return {grid, block, shared_bytes,
          [kernel, params = std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)] { std::apply(kernel, params); }};
}
}  // namespace detail

template <class... P, class... A>
  requires(sizeof...(P) == sizeof...(A))
void launch(void (*kernel)(P...), dim3 grid, dim3 block, dynamic_shared_bytes shared, A&&... args)
{
  detail::start_grid(detail::make_launch(kernel, grid, block, shared.bytes, std::forward<A>(args)...));
}

template <class... P, class... A>
  requires(sizeof...(P) == sizeof...(A))
void launch(void (*kernel)(P...), dim3 grid, dim3 block, const stream& s, dynamic_shared_bytes shared, A&&... args)
{
  detail::start_grid(detail::make_launch(kernel, grid, block, shared.bytes, std::forward<A>(args)...), s);
}

template <class... P, class... A>
  requires(sizeof...(P) == sizeof...(A))
void launch(void (*kernel)(P...), dim3 grid, dim3 block, const stream& s, A&&... args)
{
  launch(kernel, grid, block, s, dynamic_shared_bytes{0}, std::forward<A>(args)...);
}

template <class... P, class... A>
  requires(sizeof...(P) == sizeof...(A))
void launch(void (*kernel)(P...), dim3 grid, dim3 block, A&&... args)
{
  launch(kernel, grid, block, dynamic_shared_bytes{0}, std::forward<A>(args)...);
}

template <class... P, class... A>
  requires(sizeof...(P) == sizeof...(A))
void launch(void (*kernel)(P...), dim3 grid, dim3 block, coresident, A&&... args)
{
  detail::start_grid(detail::make_launch(kernel, grid, block, 0, std::forward<A>(args)...).make_coresident());
}

template <class... P, class... A>
  requires(sizeof...(P) == sizeof...(A))
void launch(void (*kernel)(P...), dim3 grid, dim3 block, const stream& s, coresident, A&&... args)
{
  detail::start_grid(detail::make_launch(kernel, grid, block, 0, std::forward<A>(args)...).make_coresident(), s);
}

// Blocks of an ordinary launch resident at once: GSYS_SIM_RESIDENT_BLOCKS,
// else one per host core (at least 2).
unsigned resident_blocks();

// How many ordinary grids have been reported stuck: blocks waiting to start
// while none of the running ones ended for 10 s (a kernel that needed
// coresident and was not launched so). The report goes to stderr.
unsigned long long stall_reports();

namespace detail {
// The report's threshold (tests shorten it).
void set_stall_report_after(std::chrono::milliseconds after);
}  // namespace detail

// Waits until every grid launched so far (from any host thread, on any
// stream) has finished.
void synchronize();

// Waits until the grids launched so far on `s` (cudaStreamSynchronize(s)),
// or on the default stream, have finished; other streams' grids may go on.
void synchronize(const stream& s);
void synchronize_default_stream();

// "SIMT simulator (N host cores)".
std::string device_name();

// The block's dynamic shared memory, as CUDA's `extern __shared__ T buf[]`
// would give it: dynamic_shared_bytes of the launch, 16-byte aligned,
// shared by the threads of one block.
template <class T>
inline T* dynamic_shared()
{
  return static_cast<T*>(detail::dynamic_shared_base);
}

}  // namespace gsys::sim
