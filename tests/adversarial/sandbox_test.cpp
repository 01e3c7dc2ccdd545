// The kernel-enforced layer on its own: a thread that entered the sandbox
// cannot make calls outside the allow-list, map over memory with MAP_FIXED,
// or open process memory, while ordinary files still work and the other
// threads of the process are untouched.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "policy.h"
#include "sandbox.h"
#include "support/test_env.h"

using namespace gsys::detail;

namespace {

struct outcome {
  std::string enter;
  int kill_errno = 0, fixed_errno = 0, mem_errno = 0, status_errno = 0;
  bool meminfo = false, devnull = false, scratch = false;
};

int open_errno(const std::string& path, int flags)
{
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    return 0;
  }
  return errno;
}

outcome probe_in_thread(const sandbox& box, const std::string& scratch_file)
{
  outcome o;
  std::thread t([&] {
    o.enter = box.enter();
    o.kill_errno = ::syscall(SYS_kill, getpid(), 0) == 0 ? 0 : errno;
    void* page = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void* over = mmap(page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    o.fixed_errno = over == MAP_FAILED ? errno : 0;
    munmap(page, 4096);
    o.mem_errno = open_errno("/proc/self/mem", O_RDWR);
    o.status_errno = open_errno("/proc/self/status", O_RDONLY);
    o.meminfo = open_errno("/proc/meminfo", O_RDONLY) == 0;
    o.devnull = open_errno("/dev/null", O_WRONLY) == 0;
    o.scratch = open_errno(scratch_file, O_CREAT | O_WRONLY) == 0;
  });
  t.join();
  return o;
}

}  // namespace

TEST(Sandbox, ExecutorThreadIsRestrictedAndOthersAreNot)
{
  gsys::runtime_options opt;
  policy pol{opt.policy};
  sandbox box(pol, opt);
  if (box.landlock_abi() == 0) GTEST_SKIP() << "no Landlock on this kernel: " << box.summary();
  gsys_test::scratch_dir dir;
  const outcome o = probe_in_thread(box, dir.file("f"));
  EXPECT_EQ(o.enter, "");
  if (box.seccomp_ready()) {
    EXPECT_EQ(o.kill_errno, EPERM) << "kill is not in the allow-list";
    EXPECT_EQ(o.fixed_errno, EPERM) << "MAP_FIXED";
  }
  EXPECT_EQ(o.mem_errno, EACCES) << "/proc/self/mem";
  EXPECT_EQ(o.status_errno, EACCES) << "process directories are outside the ruleset";
  EXPECT_TRUE(o.meminfo);
  EXPECT_TRUE(o.devnull);
  EXPECT_TRUE(o.scratch);
  // This thread never entered it.
  EXPECT_EQ(::syscall(SYS_kill, getpid(), 0), 0);
  EXPECT_EQ(open_errno("/proc/self/status", O_RDONLY), 0);
}

TEST(Sandbox, ConfinePathsAllowsOnlyThoseDirectories)
{
  gsys_test::scratch_dir dir, other;
  gsys::runtime_options opt;
  opt.policy.confine_paths = {dir.path()};
  policy pol{opt.policy};
  sandbox box(pol, opt);
  if (box.landlock_abi() == 0) GTEST_SKIP() << "no Landlock on this kernel";
  std::string inside, outside;
  int in_errno = -1, out_errno = -1;
  std::thread t([&] {
    box.enter();
    in_errno = open_errno(dir.file("ok"), O_CREAT | O_WRONLY);
    out_errno = open_errno(other.file("no"), O_CREAT | O_WRONLY);
  });
  t.join();
  EXPECT_EQ(in_errno, 0);
  EXPECT_EQ(out_errno, EACCES);
}

TEST(Sandbox, OffWhenAskedAndSaysSo)
{
  gsys::runtime_options opt;
  opt.policy.kernel_confinement = false;
  policy pol{opt.policy};
  sandbox box(pol, opt);
  EXPECT_FALSE(box.seccomp_ready());
  EXPECT_EQ(box.landlock_abi(), 0);
  EXPECT_NE(box.summary().find("off"), std::string::npos);
  const outcome o = probe_in_thread(box, "/dev/null");
  EXPECT_EQ(o.kill_errno, 0);
  EXPECT_EQ(o.status_errno, 0);
}
