// CUDA builds: the devices the CUDA runtime sees and the attributes that
// decide how the ring may use the link.
#include <cuda_runtime.h>

#include "link_info.h"

namespace gsys::detail {

namespace {

bool attribute(cudaDeviceAttr a, int dev)
{
  int v = 0;
  return cudaDeviceGetAttribute(&v, a, dev) == cudaSuccess && v != 0;
}

}  // namespace

void query_gpus(link_info& info)
{
  info.cuda_build = true;
  cudaDriverGetVersion(&info.driver_version);  // 0 when no driver is installed
  cudaRuntimeGetVersion(&info.runtime_version);
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    // Without libcuda the runtime says "driver version is insufficient".
    info.no_device = !info.driver_version ? "no NVIDIA driver (libcuda) on this machine"
                     : e != cudaSuccess   ? cudaGetErrorString(e)
                                          : "the CUDA runtime sees no device";
    return;
  }
  for (int d = 0; d < n; ++d) {
    gpu_info g;
    g.index = d;
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, d) == cudaSuccess) {
      g.name = p.name;
      g.cc_major = p.major;
      g.cc_minor = p.minor;
      g.sms = p.multiProcessorCount;
    }
    char bus[32] = {};
    if (cudaDeviceGetPCIBusId(bus, sizeof bus, d) == cudaSuccess) g.pci_bus_id = bus;
    g.host_native_atomics = attribute(cudaDevAttrHostNativeAtomicSupported, d);
    g.pageable_memory_access = attribute(cudaDevAttrPageableMemoryAccess, d);
    g.concurrent_managed_access = attribute(cudaDevAttrConcurrentManagedAccess, d);
    info.gpus.push_back(g);
  }
}

}  // namespace gsys::detail
