// Simulator builds: no CUDA runtime in this binary, kernels run on the SIMT
// simulator.
#include "link_info.h"

namespace gsys::detail {

void query_gpus(link_info& info)
{
  info.cuda_build = false;
  info.no_device = "built without CUDA";
}

}  // namespace gsys::detail
