// The policy decides before anything runs: each refusal here must come back
// as the documented errno, and nothing the GPU sends may crash the proxy.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cerrno>

#include <gtest/gtest.h>

#include "policy.h"

using namespace gsys::detail;

namespace {

request_copy req(long nr, std::initializer_list<gsys_u64> args, gsys_u16 flags = 0)
{
  request_copy q;
  q.nr = (gsys_u16)nr;
  q.flags = flags;
  int i = 0;
  for (auto a : args) q.arg[i++] = a;
  return q;
}

long check(policy& p, request_copy q, bool* denied_out = nullptr)
{
  bool denied = false;
  long r = p.check(q, denied);
  if (denied_out) *denied_out = denied;
  return r;
}

char buf[64];
gsys_u64 addr(const void* p) { return (gsys_u64)(uintptr_t)p; }

}  // namespace

TEST(Policy, DefaultAllowsTheOpTableOnly)
{
  policy p{gsys::policy_options{}};
  EXPECT_TRUE(p.allowed(__NR_pread64));
  EXPECT_TRUE(p.allowed(GSYS_NR_NOP));
  EXPECT_FALSE(p.allowed(__NR_execve));
  EXPECT_FALSE(p.allowed(__NR_kill));
  EXPECT_FALSE(p.allowed(__NR_fork));
  EXPECT_FALSE(p.allowed(__NR_ptrace));
}

TEST(Policy, NotAllowedIsEpermAndMarkedDenied)
{
  policy p{gsys::policy_options{}};
  bool denied = false;
  EXPECT_EQ(check(p, req(__NR_kill, {1, 9}), &denied), -EPERM);
  EXPECT_TRUE(denied);
}

TEST(Policy, ExplicitAllowListReplacesDefault)
{
  gsys::policy_options o;
  o.allow = {__NR_getpid};
  policy p{o};
  EXPECT_EQ(check(p, req(__NR_getpid, {})), 0);
  EXPECT_EQ(check(p, req(__NR_read, {0, addr(buf), 1})), -EPERM);
  o.allow = {70000};
  EXPECT_THROW(policy{o}, gsys::setup_error);
}

TEST(Policy, BufferPointersAreChecked)
{
  policy p{gsys::policy_options{}};
  EXPECT_EQ(check(p, req(__NR_read, {0, addr(buf), sizeof buf})), 0);
  EXPECT_EQ(check(p, req(__NR_read, {0, 0, 16})), -EFAULT) << "NULL with a length";
  EXPECT_EQ(check(p, req(__NR_read, {0, 0, 0})), 0) << "NULL with no length is what read(2) accepts";
  EXPECT_EQ(check(p, req(__NR_read, {0, ~0ull - 8, 64})), -EFAULT) << "wraps around";
  EXPECT_EQ(check(p, req(__NR_write, {1, 0xffff800000000000ull, 8})), -EFAULT) << "kernel half";
  EXPECT_EQ(check(p, req(__NR_pread64, {0, addr(buf), 2ull << 30, 0})), -EINVAL) << "over max_io_bytes";
}

TEST(Policy, FileDescriptorsAreChecked)
{
  policy p{gsys::policy_options{}};
  EXPECT_EQ(check(p, req(__NR_close, {(gsys_u64)-5})), -EBADF);
  p.protect_fd(42);
  bool denied = false;
  EXPECT_EQ(check(p, req(__NR_close, {42}), &denied), -EPERM);
  EXPECT_TRUE(denied);
  EXPECT_EQ(check(p, req(__NR_read, {42, addr(buf), 1})), -EPERM);
  EXPECT_EQ(check(p, req(__NR_openat, {(gsys_u64)AT_FDCWD, addr("x"), O_RDONLY, 0})), 0);
  EXPECT_EQ(check(p, req(__NR_openat, {42, addr("x"), O_RDONLY, 0})), -EPERM);
}

TEST(Policy, FixedFilesAreTranslated)
{
  policy p{gsys::policy_options{}};
  p.set_files({7, -1});
  request_copy q = req(__NR_read, {0, addr(buf), 1}, GSYS_SLOT_F_FIXED_FILE);
  bool denied;
  EXPECT_EQ(p.check(q, denied), 0);
  EXPECT_EQ(q.arg[0], 7u);
  EXPECT_EQ(check(p, req(__NR_read, {1, addr(buf), 1}, GSYS_SLOT_F_FIXED_FILE)), -EBADF) << "hole";
  EXPECT_EQ(check(p, req(__NR_read, {2, addr(buf), 1}, GSYS_SLOT_F_FIXED_FILE)), -EBADF) << "past the end";
}

TEST(Policy, UnknownSlotFlagsAreEinval)
{
  policy p{gsys::policy_options{}};
  EXPECT_EQ(check(p, req(GSYS_NR_NOP, {}, 0x8000)), -EINVAL);
}

TEST(Policy, MapFixedIsRefused)
{
  policy p{gsys::policy_options{}};
  EXPECT_EQ(check(p, req(__NR_mmap, {0x10000, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (gsys_u64)-1, 0})),
            -EPERM);
  EXPECT_EQ(check(p, req(__NR_mmap, {0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, (gsys_u64)-1, 0})), 0);
}

TEST(Policy, UnmapAndMadviseOnlyOnGenesysMappings)
{
  policy p{gsys::policy_options{}};
  const gsys_u64 base = 0x7f0000000000ull;
  EXPECT_EQ(check(p, req(__NR_munmap, {base, 8192})), -EPERM) << "not mapped through genesys";
  p.note_result(req(__NR_mmap, {0, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, (gsys_u64)-1, 0}), (long)base);
  EXPECT_EQ(check(p, req(__NR_madvise, {base + 4096, 4096, MADV_DONTNEED})), 0);
  EXPECT_EQ(check(p, req(__NR_madvise, {base + 1, 4096, MADV_DONTNEED})), -EINVAL) << "unaligned";
  EXPECT_EQ(check(p, req(__NR_munmap, {base, 4 * 4096})), -EPERM) << "runs past the mapping";
  // Unmapping the middle page keeps the two ends usable.
  p.note_result(req(__NR_munmap, {base + 4096, 4096}), 0);
  EXPECT_EQ(check(p, req(__NR_munmap, {base, 4096})), 0);
  EXPECT_EQ(check(p, req(__NR_munmap, {base + 2 * 4096, 4096})), 0);
  EXPECT_EQ(check(p, req(__NR_munmap, {base + 4096, 4096})), -EPERM);
}

TEST(Policy, ConfinedMemoryOnlyInRegions)
{
  gsys::policy_options o;
  o.confine_memory = true;
  policy p{o};
  static char region[256];
  p.allow_region((uintptr_t)region, sizeof region);
  EXPECT_EQ(check(p, req(__NR_read, {0, addr(region), sizeof region})), 0);
  EXPECT_EQ(check(p, req(__NR_read, {0, addr(region + 1), sizeof region})), -EFAULT) << "one byte past";
  EXPECT_EQ(check(p, req(__NR_read, {0, addr(buf), 8})), -EFAULT);
  p.forget_region((uintptr_t)region);
  EXPECT_EQ(check(p, req(__NR_read, {0, addr(region), 8})), -EFAULT);
}

TEST(Policy, SocketAddressesAreChecked)
{
  policy p{gsys::policy_options{}};
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  EXPECT_EQ(check(p, req(__NR_sendto, {3, addr(buf), 8, 0, addr(&ss), 1000})), -EINVAL) << "address too long";
  EXPECT_EQ(check(p, req(__NR_sendto, {3, addr(buf), 8, 0, 0, 0})), 0) << "connected socket, no address";
  EXPECT_EQ(check(p, req(__NR_recvfrom, {3, addr(buf), 8, 0, addr(&ss), 0})), -EFAULT) << "address without length";
  EXPECT_EQ(check(p, req(__NR_recvfrom, {3, addr(buf), 8, 0, addr(&ss), addr(&len)})), 0);
}
