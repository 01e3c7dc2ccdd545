// For tools/cli_ring_test.sh: publishes a ring whose slots hold finished
// calls, one result of each kind (a pid and an errno in the state word, a
// 63-bit offset in slot.ret: DONE_WIDE), and prints "ready PID RING"; then
// publishes one more ring (idle) for each line it reads, printing the same,
// and exits at the end of its input (so it dies with the test that feeds it).
// usage: gsys-cli-ring-helper
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <genesys.cuh>
#include <genesys/runtime.h>

// One call per lane, all from the same call site so the warp claims four
// slots at once (lanes calling one after another could reuse one slot).
__global__ void finished_calls(gsys::ring r, int memfd, long wide)
{
  const long nr[4] = {__NR_getpid, __NR_lseek, __NR_lseek, GSYS_NR_NOP};
  const long fd[4] = {0, -1, memfd, 0};
  const long off[4] = {0, 0, wide, 0};
  const int t = threadIdx.x;
  gsys::syscall(r, nr[t], fd[t], off[t], (long)SEEK_SET);
}

void print_ready(const gsys::runtime& rt)
{
  const std::string name = rt.shm_name();  // "/genesys.PIDNS.PID.N"
  if (name.size() < 2) throw std::runtime_error("the ring was not published");
  std::printf("ready %d %s\n", (int)getpid(), name.c_str() + 1);
  std::fflush(stdout);
}

int main()
{
  try {
    gsys::runtime_options o;
    o.publish = true;
    o.executor = gsys::executor_kind::sync;
    o.workers = 1;
    gsys::runtime rt(o);
    const int memfd = ::memfd_create("gsys-cli-ring-helper", MFD_CLOEXEC);
    if (memfd < 0) throw std::runtime_error("memfd_create failed");
    gsys::launch(finished_calls, dim3(1), dim3(4), rt.ring(), memfd, 1L << 62);
    gsys::synchronize();
    print_ready(rt);
    std::vector<std::unique_ptr<gsys::runtime>> more;
    char line[64];
    while (std::fgets(line, sizeof line, stdin)) {
      more.push_back(std::make_unique<gsys::runtime>(o));
      print_ready(*more.back());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gsys-cli-ring-helper: %s\n", e.what());
    return 2;
  }
}
