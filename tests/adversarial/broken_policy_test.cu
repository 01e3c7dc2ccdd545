// Built with GSYS_TEST_BROKEN_POLICY: the userspace policy accepts every
// request. The kernel-enforced layer (seccomp-bpf and Landlock on the
// executor threads) must still refuse what the policy would have: a call
// outside the allow-list, MAP_FIXED over host memory, opening the process's
// memory. With kernel_confinement off, the same requests succeed, which is
// what shows this test can fail.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <genesys.cuh>

#include "policy.h"
#include "sandbox.h"
#include "support/test_env.h"

using gsys_test::device_string;

namespace {

__global__ void hostile(gsys::ring r, int pid, void* host_page, const char* mem_path, long* out)
{
  out[0] = gsys::syscall(r, __NR_kill, pid, 0);
  out[1] = gsys::mmap(r, host_page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  out[2] = gsys::open(r, mem_path, O_RDWR);
  if (out[2] >= 0) gsys::close(r, (int)out[2]);
}

class BrokenPolicy : public testing::TestWithParam<gsys::executor_kind> {};

long* run_hostile(gsys::runtime& rt, void* page)
{
  long* out = static_cast<long*>(rt.alloc(3 * sizeof(long)));
  gsys::launch(hostile, dim3(1), dim3(1), rt.ring(), (int)getpid(), page, device_string(rt, "/proc/self/mem"), out);
  gsys::synchronize();
  return out;
}

TEST_P(BrokenPolicy, KernelLayerStillRefuses)
{
  auto o = gsys_test::options_for(GetParam());
  gsys::runtime rt(o);
  {
    gsys::detail::policy pol{o.policy};
    gsys::detail::sandbox box(pol, o);
    if (box.landlock_abi() == 0 || !box.seccomp_ready()) GTEST_SKIP() << box.summary();
  }
  char* page = static_cast<char*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(page, MAP_FAILED);
  std::memset(page, 'h', 4096);
  long* out = run_hostile(rt, page);
  EXPECT_EQ(out[0], -EPERM) << "kill: seccomp";
  EXPECT_EQ(out[1], -EPERM) << "MAP_FIXED over a host page: seccomp";
  EXPECT_EQ(page[0], 'h') << "the host page was replaced";
  EXPECT_EQ(out[2], -EACCES) << "/proc/self/mem: Landlock";
  munmap(page, 4096);
}

TEST_P(BrokenPolicy, WithoutTheKernelLayerTheSameRequestsGetThrough)
{
  auto o = gsys_test::options_for(GetParam());
  o.policy.kernel_confinement = false;
  gsys::runtime rt(o);
  char* page = static_cast<char*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(page, MAP_FAILED);
  long* out = run_hostile(rt, page);
  EXPECT_EQ(out[0], 0) << "kill(pid, 0) ran";
  EXPECT_EQ(out[1], (long)(uintptr_t)page) << "MAP_FIXED ran";
  EXPECT_GE(out[2], 0) << "/proc/self/mem opened";
  munmap(page, 4096);
}

INSTANTIATE_TEST_SUITE_P(Executors, BrokenPolicy,
                         testing::Values(gsys::executor_kind::sync, gsys::executor_kind::uring),
                         gsys_test::executor_name);

}  // namespace
