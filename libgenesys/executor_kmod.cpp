// The `kmod` executor (genesys.ko). Placeholder until the module lands in
// this tree: it reports the module as missing, so `automatic` falls back.
#include "executor.h"

namespace gsys::detail {

std::unique_ptr<executor> make_kmod_executor(executor_context&)
{
  throw setup_error("the kmod executor is not available in this build");
}

}  // namespace gsys::detail
