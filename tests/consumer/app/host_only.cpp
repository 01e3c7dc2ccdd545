// The runtime API without kernels: a ring and an executor come up and go.
#include <genesys/runtime.h>

#include <cstdio>

int main()
{
  gsys::runtime rt;
  std::printf("executor: %s\n", gsys::to_string(rt.executor()));
}
