// The link between the host and the GPU, as `genesys info` reports it: what
// runs kernels, whether GPU atomics on host memory are atomic against the
// CPU (protocol v2 keeps device read-modify-writes off the link where they
// are not), the PCIe link, the CUDA versions, and the executor the runtime
// would choose. Two implementations of query_gpus(): link_info_cuda.cpp
// (CUDA runtime) and link_info_host.cpp (simulator builds); link_info.cpp
// holds the rest, the same for both.
#pragma once

#include <string>
#include <vector>

namespace gsys::detail {

struct gpu_info {
  int index = 0;
  std::string name;
  std::string pci_bus_id;  // as in /sys/bus/pci/devices: "0000:19:00.0"
  int cc_major = 0, cc_minor = 0, sms = 0;
  bool host_native_atomics = false;        // cudaDevAttrHostNativeAtomicSupported
  bool pageable_memory_access = false;     // cudaDevAttrPageableMemoryAccess
  bool concurrent_managed_access = false;  // cudaDevAttrConcurrentManagedAccess
  // From sysfs; empty / 0 / -1 where the machine does not say.
  std::string link_speed, max_link_speed;  // "32.0 GT/s PCIe"
  int link_width = 0, max_link_width = 0;  // lanes
  int numa_node = -1;
};

struct link_info {
  bool cuda_build = false;  // this binary uses the CUDA runtime
  int driver_version = 0;   // CUDA's encoding, 12080 = 12.8; 0: none
  int runtime_version = 0;
  std::string no_device;    // why there is no GPU to use (empty when there is)
  std::vector<gpu_info> gpus;
  bool kmod = false;        // /dev/genesys opens
  bool io_uring = false;    // io_uring_setup works (not disabled by sysctl/seccomp)
  std::string executor;     // what runtime_options::executor = automatic picks
};

// Everything above; never throws for a missing GPU, driver or module.
link_info query_link_info();

// The back end's part: cuda_build, versions, no_device and the GPUs'
// CUDA attributes (the sysfs fields are filled in by query_link_info()).
void query_gpus(link_info& info);

// "12.8" for 12080; "none" for 0.
std::string cuda_version_string(int v);

}  // namespace gsys::detail
