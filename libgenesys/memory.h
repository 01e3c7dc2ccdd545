// Memory the GPU can reach. Two implementations: memory_host.cpp (the
// simulator: ordinary memory) and memory_cuda.cpp (pinned, mapped, and the
// ring registered with the CUDA driver). A library target links one.
#pragma once

#include <cstddef>
#include <string>

namespace gsys::detail {

// Zeroed memory for kernel buffers; nullptr on failure.
void* device_visible_alloc(std::size_t bytes);
void device_visible_free(void* p, std::size_t bytes);

// Device memory (cudaMalloc): only kernels touch it while they run; the
// host copies in and out. On the simulator it is ordinary memory kept apart
// from the ring. Zeroed; nullptr on failure.
void* device_only_alloc(std::size_t bytes);
void device_only_free(void* p, std::size_t bytes);
void device_upload(void* dst, const void* src, std::size_t bytes);
void device_download(void* dst, const void* src, std::size_t bytes);

// Makes an existing mapping (the ring) reachable by the device and returns
// the address kernels must use for it. Throws setup_error on failure.
void* map_for_device(void* p, std::size_t bytes);
void unmap_for_device(void* p);

// What executes kernels, for messages and stats.
std::string memory_backend_name();

}  // namespace gsys::detail
