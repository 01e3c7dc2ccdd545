// Host-side launch helpers with one spelling for both worlds:
//   gsys::launch(kernel, grid, block, args...)  asynchronous, like <<<>>>
//   gsys::launch(kernel, grid, block, gsys::cooperative{}, args...)
//                                               every block resident at once
//                                               (cudaLaunchCooperativeKernel),
//                                               and fresh grid-call state for
//                                               the gsys::ring arguments: what
//                                               grid-granularity calls need
//   gsys::synchronize()                         waits for launched kernels
//   gsys::stream s;                             a stream of its own (non-blocking:
//   gsys::launch(kernel, grid, block, s, args...)  independent of the default
//   gsys::synchronize(s)                        stream); waits for s alone
//   gsys::synchronize(gsys::default_stream)     waits for the default stream alone
//                                               (cudaDeviceSynchronize would also
//                                               wait for a kernel that never ends,
//                                               such as a server's receiver)
//   gsys::device_present()                       whether kernels can run here: always
//                                               on the simulator; under nvcc, when the
//                                               CUDA runtime sees a GPU
//   gsys::device_name()                          what runs the kernels
// Under nvcc they wrap the CUDA runtime and throw std::runtime_error on a
// CUDA error; on the simulator they start and join simulated grids.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "config.h"
#include "ring_handle.h"

namespace gsys {

// Tag: launch the grid co-resident, with grid-call state (see above).
struct cooperative {};

// Tag: the default stream, for synchronize().
struct default_stream_t {};
inline constexpr default_stream_t default_stream{};

namespace detail {

template <class T>
void attach_grid(T&, grid_state*) {}
inline void attach_grid(ring& r, grid_state* g) { r.grid = g; }

inline std::size_t grid_state_bytes(dim3 grid)
{
  return sizeof(grid_state) + std::size_t(grid.x) * grid.y * grid.z * sizeof(gsys_u64);
}

}  // namespace detail
}  // namespace gsys

#if GSYS_CUDA
#include <cuda_runtime.h>

#include <stdexcept>
#include <utility>

namespace gsys {

inline void check_cuda(cudaError_t e, const char* what)
{
  if (e == cudaSuccess) return;
  // Without a GPU the runtime says "no CUDA-capable device", and without
  // the driver (libcuda) "CUDA driver version is insufficient": both mean
  // there is nothing here to run kernels on.
  int driver = 0;
  if (e == cudaErrorNoDevice || (e == cudaErrorInsufficientDriver && (cudaDriverGetVersion(&driver), driver == 0)))
    throw std::runtime_error(std::string(what) +
                             ": no CUDA device on this machine (gsys::device_present() is false; "
                             "the same source built with g++ runs on the simulator)");
  throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

template <class... P, class... A>
  requires(sizeof...(P) == sizeof...(A))
void launch(void (*kernel)(P...), dim3 grid, dim3 block, A&&... args)
{
  kernel<<<grid, block>>>(std::forward<A>(args)...);
  check_cuda(cudaGetLastError(), "kernel launch");
}

// The grid state lives exactly as long as the launch: allocated, zeroed and
// freed in stream order around it.
template <class... P, class... A>
  requires(sizeof...(P) == sizeof...(A))
void launch(void (*kernel)(P...), dim3 grid, dim3 block, cooperative, A&&... args)
{
  std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  const std::size_t bytes = detail::grid_state_bytes(grid);
  void* g = nullptr;
  check_cuda(cudaMallocAsync(&g, bytes, 0), "grid state allocation");
  check_cuda(cudaMemsetAsync(g, 0, bytes, 0), "grid state reset");
  std::apply([&](auto&... p) { (detail::attach_grid(p, static_cast<grid_state*>(g)), ...); }, params);
  std::apply(
      [&](auto&... p) {
        void* argv[] = {static_cast<void*>(&p)..., nullptr};
        check_cuda(cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(kernel), grid, block, argv, 0, 0),
                   "cooperative kernel launch (every block must fit on the GPU at once)");
      },
      params);
  check_cuda(cudaFreeAsync(g, 0), "grid state release");
}

inline void synchronize() { check_cuda(cudaDeviceSynchronize(), "kernel execution"); }

// A non-blocking stream: its kernels neither wait for the default stream's
// nor make them wait. Copies name the same stream; the last one destroys it.
class stream {
 public:
  stream()
  {
    cudaStream_t s = nullptr;
    check_cuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "stream creation");
    s_ = std::shared_ptr<CUstream_st>(s, [](cudaStream_t p) { cudaStreamDestroy(p); });
  }
  cudaStream_t get() const { return s_.get(); }

 private:
  std::shared_ptr<CUstream_st> s_;
};

template <class... P, class... A>
  requires(sizeof...(P) == sizeof...(A))
void launch(void (*kernel)(P...), dim3 grid, dim3 block, const stream& s, A&&... args)
{
  kernel<<<grid, block, 0, s.get()>>>(std::forward<A>(args)...);
  check_cuda(cudaGetLastError(), "kernel launch");
}

inline void synchronize(const stream& s) { check_cuda(cudaStreamSynchronize(s.get()), "kernel execution"); }
inline void synchronize(default_stream_t) { check_cuda(cudaStreamSynchronize(0), "kernel execution"); }

inline bool device_present()
{
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

inline std::string device_name()
{
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "no CUDA device";
  return p.name;
}

}  // namespace gsys

#else

namespace gsys {

using sim::launch;
using sim::stream;
using sim::synchronize;
inline void synchronize(default_stream_t) { sim::synchronize_default_stream(); }

// The tag makes every block resident at once (an ordinary simulated launch
// runs a few at a time) and adds the grid-call state, owned by the launch
// until its last block ends.
template <class... P, class... A>
  requires(sizeof...(P) == sizeof...(A))
void launch(void (*kernel)(P...), dim3 grid, dim3 block, cooperative, A&&... args)
{
  auto state = std::make_shared<std::vector<gsys_u64>>(detail::grid_state_bytes(grid) / sizeof(gsys_u64), 0);
  auto* g = reinterpret_cast<grid_state*>(state->data());
  std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
  std::apply([&](auto&... p) { (detail::attach_grid(p, g), ...); }, params);
  sim::detail::start_grid({grid, block, 0, [kernel, params, state] { std::apply(kernel, params); }, true});
}

inline bool device_present() { return true; }
inline std::string device_name() { return sim::device_name(); }

}  // namespace gsys

#endif
