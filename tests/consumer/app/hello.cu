// A program from outside genesys, built by ../run.sh against an installed
// prefix: one block asks the host for its parent's pid and writes a line to
// standard output, both through the ring.
#include <genesys.cuh>
#include <genesys/runtime.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>

__global__ void hello(gsys::ring r, int fd, const char* msg, long n, long* ppid)
{
  const long p = gsys::getppid<gsys::block>(r);
  if (threadIdx.x == 0) *ppid = p;
  gsys::write<gsys::block>(r, fd, msg, n);
}

int main()
{
  try {
    gsys::runtime rt;
    const char text[] = "hello from a GPU thread\n";
    char* msg = static_cast<char*>(rt.alloc(sizeof text));
    std::memcpy(msg, text, sizeof text);
    long* ppid = static_cast<long*>(rt.alloc(sizeof(long)));
    std::fflush(stdout);
    gsys::launch(hello, dim3(1), dim3(64), rt.ring(), 1, msg, long(sizeof text - 1), ppid);
    gsys::synchronize();
    const bool ok = *ppid == getppid();
    std::printf("getppid from the kernel: %s, on %s\n", ok ? "match" : "MISMATCH", gsys::device_name().c_str());
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hello: %s\n", e.what());
    return 2;
  }
}
