// The policy decides before anything runs: each refusal here must come back
// as the documented errno, and nothing the GPU sends may crash the proxy.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sched.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <vector>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "executor.h"
#include "op_table.h"
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

// For tests of other rules: buffers anywhere in the address space are
// accepted (confine_memory off), so only the rule under test refuses.
gsys::policy_options unconfined()
{
  gsys::policy_options o;
  o.confine_memory = false;
  return o;
}

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

// Adding one call to the default, as runtime.h shows: default_allow() is
// what an empty list means (every op of ops.h, nop included), so starting
// from it keeps every operation and allows the extra one.
TEST(Policy, DefaultAllowIsWhatAnEmptyListMeans)
{
  const std::vector<long> d = gsys::default_allow();
  EXPECT_EQ(d.size(), (std::size_t)GSYS_OP_COUNT);
  gsys::policy_options o = unconfined();
  policy empty{o};
  o.allow = d;
  o.allow.push_back(__NR_getuid);
  policy more{o};
  for (const op_info& op : kOps) {
    EXPECT_TRUE(empty.allowed(op.nr)) << op.name;
    EXPECT_TRUE(more.allowed(op.nr)) << op.name;
  }
  EXPECT_TRUE(more.allowed(__NR_getuid));
  EXPECT_FALSE(empty.allowed(__NR_getuid));
}

TEST(Policy, BufferPointersAreChecked)
{
  policy p{unconfined()};
  EXPECT_EQ(check(p, req(__NR_read, {0, addr(buf), sizeof buf})), 0);
  EXPECT_EQ(check(p, req(__NR_read, {0, 0, 16})), -EFAULT) << "NULL with a length";
  EXPECT_EQ(check(p, req(__NR_read, {0, 0, 0})), 0) << "NULL with no length is what read(2) accepts";
  EXPECT_EQ(check(p, req(__NR_read, {0, ~0ull - 8, 64})), -EFAULT) << "wraps around";
  EXPECT_EQ(check(p, req(__NR_write, {1, 0xffff800000000000ull, 8})), -EFAULT) << "kernel half";
  EXPECT_EQ(check(p, req(__NR_pread64, {0, addr(buf), 2ull << 30, 0})), -EINVAL) << "over max_io_bytes";
}

TEST(Policy, FileDescriptorsAreChecked)
{
  policy p{unconfined()};
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
  policy p{unconfined()};
  const int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  const int table[] = {fd, -1};
  p.set_files(fixed_files::open(table));
  ::close(fd);  // the table holds its own copy
  request_copy q = req(__NR_read, {0, addr(buf), 1}, GSYS_SLOT_F_FIXED_FILE);
  bool denied;
  EXPECT_EQ(p.check(q, denied), 0);
  struct stat st{};
  ASSERT_EQ(::fstat((int)q.arg[0], &st), 0) << "the index names an open file after the host closed its fd";
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(check(p, req(__NR_read, {1, addr(buf), 1}, GSYS_SLOT_F_FIXED_FILE)), -EBADF) << "hole";
  EXPECT_EQ(check(p, req(__NR_read, {2, addr(buf), 1}, GSYS_SLOT_F_FIXED_FILE)), -EBADF) << "past the end";
  EXPECT_EQ(check(p, req(__NR_read, {q.arg[0], addr(buf), 1})), -EPERM) << "the table's copy, used by number";
}

// As genesys.ko: a fixed file names the file of an op whose first argument
// is one (not close: the table holds it). The userspace executors used to
// translate arg[0] of any op, so close(fixed 0) closed the table's file.
TEST(Policy, AFixedFileOnlyNamesAFileArgument)
{
  gsys::policy_options o = unconfined();
  o.allow = {__NR_read, __NR_close, __NR_getpid, __NR_mmap, __NR_getuid};
  policy p{o};
  const int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  const int table[] = {fd};
  p.set_files(fixed_files::open(table));
  ::close(fd);
  EXPECT_EQ(check(p, req(__NR_read, {0, addr(buf), 1}, GSYS_SLOT_F_FIXED_FILE)), 0);
  for (long nr : {__NR_close, __NR_getpid, __NR_mmap, __NR_getuid}) {
    bool denied = true;
    EXPECT_EQ(check(p, req(nr, {0, 0, 0, 0, 0, 0}, GSYS_SLOT_F_FIXED_FILE), &denied), -EINVAL) << "nr " << nr;
    EXPECT_FALSE(denied) << "bad arguments, not a denial";
  }
}

// A call holds the table it was translated with: a new table does not
// close the file under it, and the old table closes once the call is done.
TEST(Policy, AReplacedFixedFileTableStaysOpenWhileACallUsesIt)
{
  policy p{unconfined()};
  const int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  const int table[] = {fd};
  p.set_files(fixed_files::open(table));
  ::close(fd);
  request_copy q = req(__NR_read, {0, addr(buf), 1}, GSYS_SLOT_F_FIXED_FILE);
  bool denied;
  ASSERT_EQ(p.check(q, denied), 0);
  const int copy = (int)q.arg[0];
  p.set_files(nullptr);
  EXPECT_NE(::fcntl(copy, F_GETFD), -1) << "closed under a call in flight";
  EXPECT_EQ(check(p, req(__NR_read, {0, addr(buf), 1}, GSYS_SLOT_F_FIXED_FILE)), -EBADF) << "no table now";
  q.files.reset();  // the call has run
  EXPECT_EQ(::fcntl(copy, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

// A table is checked whole before it replaces anything.
TEST(Policy, AFixedFileTableOfBadDescriptorsIsRefused)
{
  const int closed = ::dup(0);
  ASSERT_GE(closed, 0);
  ::close(closed);
  for (int bad : {closed, -2, INT_MIN}) {
    const int table[] = {bad};
    EXPECT_THROW(fixed_files::open(table), gsys::setup_error) << bad;
  }
  std::vector<int> many(GSYS_MAX_FIXED_FILES + 1, -1);
  EXPECT_THROW(fixed_files::open(many), gsys::setup_error);
  const int holes[] = {-1, -1};
  EXPECT_NO_THROW(fixed_files::open(holes));
}

// A GPU that closes a fixed-file table's copy by its number is refused, and
// the log says what the number is: it was logged as an executor's
// descriptor, sending the user looking at the wrong thing. Registering the
// copy itself is refused with the same words.
TEST(Policy, ARefusedFixedFileCopyIsNamedAsOne)
{
  policy p{unconfined()};
  const int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  const int table[] = {fd};
  std::shared_ptr<const fixed_files> files = fixed_files::open(table);
  p.set_files(files);
  ::close(fd);
  const int copy = files->at(0);
  ASSERT_GE(copy, 0);
  testing::internal::CaptureStderr();
  EXPECT_EQ(check(p, req(__NR_close, {(gsys_u64)copy})), -EPERM);
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("fixed-file table"), std::string::npos) << log;
  EXPECT_EQ(log.find("belongs to the executor"), std::string::npos) << log;
  const int again[] = {copy};
  try {
    fixed_files::open(again);
    ADD_FAILURE() << "registered a table's own copy";
  } catch (const gsys::setup_error& e) {
    EXPECT_NE(std::string(e.what()).find("fixed-file table"), std::string::npos) << e.what();
  }

  policy q{unconfined()};  // logs once per opcode: a fresh policy
  q.protect_fd(4243);
  testing::internal::CaptureStderr();
  EXPECT_EQ(check(q, req(__NR_close, {4243})), -EPERM);
  const std::string exec_log = testing::internal::GetCapturedStderr();
  EXPECT_NE(exec_log.find("belongs to the executor"), std::string::npos) << exec_log;
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
  bool denied = false;
  p.finish(req(__NR_mmap, {0, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, (gsys_u64)-1, 0}), (long)base, denied);
  EXPECT_EQ(check(p, req(__NR_madvise, {base + 4096, 4096, MADV_DONTNEED})), 0);
  EXPECT_EQ(check(p, req(__NR_madvise, {base + 1, 4096, MADV_DONTNEED})), -EINVAL) << "unaligned";
  EXPECT_EQ(check(p, req(__NR_munmap, {base, 4 * 4096})), -EPERM) << "runs past the mapping";
  // Unmapping the middle page keeps the two ends usable.
  EXPECT_EQ(check(p, req(__NR_munmap, {base + 4096, 4096})), 0);
  p.finish(req(__NR_munmap, {base + 4096, 4096}), 0, denied);
  EXPECT_EQ(check(p, req(__NR_munmap, {base, 4096})), 0);
  EXPECT_EQ(check(p, req(__NR_munmap, {base + 2 * 4096, 4096})), 0);
  EXPECT_EQ(check(p, req(__NR_munmap, {base + 4096, 4096})), -EPERM);
}

// Finding (issue #14, gsys-io-bench mmap_munmap on the sync executor): the
// munmap's range left the table only after the call ran; another worker's
// mmap that got the same address in between was recorded, then erased by
// the late munmap bookkeeping, and its own munmap was refused.
TEST(Policy, MmapRecordedDuringAnotherWorkersMunmapSurvivesIt)
{
  policy p{gsys::policy_options{}};
  const gsys_u64 base = 0x7f0000000000ull;
  bool denied = false;
  p.finish(req(__NR_mmap, {0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, (gsys_u64)-1, 0}), (long)base, denied);
  request_copy unmap = req(__NR_munmap, {base, 4096});
  ASSERT_EQ(check(p, unmap), 0);  // worker A checks, then the kernel unmaps
  // worker B's mmap gets the address just freed and is recorded
  p.finish(req(__NR_mmap, {0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, (gsys_u64)-1, 0}), (long)base, denied);
  p.finish(unmap, 0, denied);     // worker A finishes its munmap
  EXPECT_EQ(check(p, req(__NR_munmap, {base, 4096})), 0) << "worker B's mapping was forgotten";
}

TEST(Policy, ConfinedMemoryOnlyInRegions)
{
  policy p{gsys::policy_options{}};  // confined by default
  static char region[256];
  p.allow_region((uintptr_t)region, sizeof region);
  EXPECT_EQ(check(p, req(__NR_read, {0, addr(region), sizeof region})), 0);
  EXPECT_EQ(check(p, req(__NR_read, {0, addr(region + 1), sizeof region})), -EFAULT) << "one byte past";
  EXPECT_EQ(check(p, req(__NR_read, {0, addr(buf), 8})), -EFAULT);
  p.forget_region((uintptr_t)region);
  EXPECT_EQ(check(p, req(__NR_read, {0, addr(region), 8})), -EFAULT);
}

// Finding: the regions were looked up by the nearest start at or below the
// pointer, so a small region declared inside a big one hid the big one's
// bytes after it, a second region at the same start shrank the first, and a
// buffer across two touching regions was refused. Every byte given is given.
// allow_region(p, SIZE_MAX) wrapped, and the GPU was given everything above
// p (a read into an undeclared buffer went through): now refused.
TEST(Policy, ARegionPastTheAddressSpaceIsRefused)
{
  policy p{gsys::policy_options{}, 1ull << 47};
  EXPECT_THROW(p.allow_region(0x10000, SIZE_MAX), gsys::setup_error);
  EXPECT_THROW(p.allow_region((1ull << 47) - 4096, 4097), gsys::setup_error);
  EXPECT_NO_THROW(p.allow_region((1ull << 47) - 4096, 4096));
  EXPECT_EQ(check(p, req(__NR_pread64, {3, 0x20000, 16, 0})), -EFAULT) << "nothing above 0x10000 was given";
}

TEST(Policy, GivenMemoryIsTheUnionOfRegions)
{
  policy p{gsys::policy_options{}};
  const auto read = [&](gsys_u64 at, gsys_u64 n) { return check(p, req(__NR_pread64, {3, at, n, 0})); };
  const gsys_u64 big = 0x100000000ull;
  p.allow_region(big, 1 << 20);
  p.allow_region(big + 4096, 64);
  EXPECT_EQ(read(big + 8192, 4096), 0) << "past a small region inside the big one";
  EXPECT_EQ(read(big + 4096, 4096), 0) << "from the small region on into the big one";
  EXPECT_EQ(read(big + (1 << 20) - 8, 9), -EFAULT) << "one byte past the big one";

  const gsys_u64 a = 0x200000000ull;
  p.allow_region(a, 65536);
  p.allow_region(a, 16);
  EXPECT_EQ(read(a, 65536), 0) << "a smaller region at the same start does not shrink it";
  EXPECT_EQ(read(a, 65537), -EFAULT);

  const gsys_u64 t = 0x300000000ull;
  p.allow_region(t, 4096);
  p.allow_region(t + 4096, 4096);
  EXPECT_EQ(read(t, 8192), 0) << "across two touching regions";
  EXPECT_EQ(read(t + 100, 8193 - 100), -EFAULT);

  const gsys_u64 o = 0x400000000ull;
  p.allow_region(o + 50, 100);
  p.allow_region(o, 100);
  EXPECT_EQ(read(o, 150), 0) << "across two overlapping regions";
  EXPECT_EQ(read(o, 151), -EFAULT);

  const gsys_u64 g = 0x500000000ull;
  p.allow_region(g, 4096);
  p.allow_region(g + 4097, 4096);
  EXPECT_EQ(read(g, 8193), -EFAULT) << "a one-byte gap between regions";
  EXPECT_EQ(read(g + 4096, 1), -EFAULT);
}

// Removing a region (runtime::free) withdraws what was given at its start,
// and only that: bytes another region covers stay given. Two regions at the
// same start are one (the larger); removing it withdraws both, so memory
// freed and reused cannot stay reachable through a second declaration.
TEST(Policy, ForgettingARegionKeepsWhatOthersCover)
{
  policy p{gsys::policy_options{}};
  const auto read = [&](gsys_u64 at, gsys_u64 n) { return check(p, req(__NR_pread64, {3, at, n, 0})); };
  const gsys_u64 big = 0x100000000ull;
  p.allow_region(big, 1 << 20);
  p.allow_region(big + 4096, 64);
  p.forget_region(big + 4096);
  EXPECT_EQ(read(big + 4096, 64), 0) << "the big region still covers it";
  EXPECT_EQ(read(big, 1 << 20), 0);
  p.forget_region(big);
  EXPECT_EQ(read(big + 4096, 1), -EFAULT);
  EXPECT_EQ(read(big + 8192, 1), -EFAULT);

  const gsys_u64 x = 0x200000000ull;
  p.allow_region(x, 8192);
  p.allow_region(x + 4096, 8192);
  p.allow_region(x + 12288, 4096);
  p.forget_region(x);
  EXPECT_EQ(read(x + 4096, 12288), 0) << "the overlapping and the touching regions stay";
  EXPECT_EQ(read(x + 4095, 2), -EFAULT);
  EXPECT_EQ(read(x, 1), -EFAULT);
  p.forget_region(x + 4096);
  EXPECT_EQ(read(x + 12288, 4096), 0);
  EXPECT_EQ(read(x + 12287, 2), -EFAULT);

  const gsys_u64 a = 0x300000000ull;
  p.allow_region(a, 65536);
  p.allow_region(a, 16);
  p.forget_region(a);
  EXPECT_EQ(read(a, 1), -EFAULT) << "both declarations at the start are withdrawn";
  p.allow_region(a, 16);
  EXPECT_EQ(read(a, 16), 0);
  EXPECT_EQ(read(a, 17), -EFAULT) << "a fresh region at the start is its own length";
}

// A region and a mapping the GPU made that touch are given memory together;
// a path may start in one and end in the other (the mapping's part is read
// through the kernel).
TEST(Policy, RegionsAndMappingsJoin)
{
  policy p{gsys::policy_options{}};
  char* mem = (char*)mmap(nullptr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  p.allow_region((uintptr_t)mem, 4096);
  bool denied = false;
  p.finish(req(__NR_mmap, {0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, (gsys_u64)-1, 0}),
           (long)(mem + 4096), denied);
  EXPECT_EQ(check(p, req(__NR_pread64, {3, addr(mem), 8192, 0})), 0);
  EXPECT_EQ(check(p, req(__NR_pread64, {3, addr(mem), 8193, 0})), -EFAULT);
  std::memset(mem, 'a', 8192);
  mem[4096 + 10] = '\0';
  request_copy q = req(__NR_openat, {(gsys_u64)AT_FDCWD, addr(mem + 4090), O_RDONLY, 0});
  ASSERT_EQ(p.check(q, denied), 0);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(q.arg[1])), std::string(16, 'a'));
  munmap(mem, 3 * 4096);
}

TEST(Policy, SocketAddressesAreChecked)
{
  policy p{unconfined()};
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  EXPECT_EQ(check(p, req(__NR_sendto, {3, addr(buf), 8, 0, addr(&ss), 1000})), -EINVAL) << "address too long";
  EXPECT_EQ(check(p, req(__NR_sendto, {3, addr(buf), 8, 0, 0, 0})), 0) << "connected socket, no address";
  EXPECT_EQ(check(p, req(__NR_recvfrom, {3, addr(buf), 8, 0, addr(&ss), 0})), -EFAULT) << "address without length";
  EXPECT_EQ(check(p, req(__NR_recvfrom, {3, addr(buf), 8, 0, addr(&ss), addr(&len)})), 0);
}

// v1 finding: with the default options a kernel's read(/dev/zero, <proxy
// heap>) zeroed the heap. Confinement is on unless turned off.
TEST(Policy, MemoryIsConfinedByDefault)
{
  EXPECT_TRUE(gsys::policy_options{}.confine_memory);
  policy p{gsys::policy_options{}};
  EXPECT_EQ(check(p, req(__NR_read, {0, addr(buf), 8})), -EFAULT) << "memory the GPU was not given";
}

// Memory the GPU mapped with gsys::mmap is memory it was given.
TEST(Policy, GenesysMappingsAreGivenMemory)
{
  policy p{gsys::policy_options{}};
  const gsys_u64 base = 0x7f0000000000ull;
  EXPECT_EQ(check(p, req(__NR_read, {0, base, 4096})), -EFAULT);
  bool denied = false;
  p.finish(req(__NR_mmap, {0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, (gsys_u64)-1, 0}), (long)base,
           denied);
  EXPECT_EQ(check(p, req(__NR_read, {0, base + 4096, 4096})), 0);
  EXPECT_EQ(check(p, req(__NR_read, {0, base + 4096, 4097})), -EFAULT) << "runs past the mapping";
}

// v1 finding: in_mapping computed p + n, which wraps: munmap(start, 2^64 -
// start + 4096) passed as "inside" a one-page mapping.
TEST(Policy, MappingRangeThatWrapsIsRefused)
{
  policy p{unconfined()};
  const gsys_u64 base = 0x7f0000000000ull;
  bool denied = false;
  p.finish(req(__NR_mmap, {0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, (gsys_u64)-1, 0}), (long)base, denied);
  EXPECT_EQ(check(p, req(__NR_munmap, {base, 4096})), 0);
  EXPECT_EQ(check(p, req(__NR_munmap, {base, 0ull - base + 4096})), -EPERM);
  EXPECT_EQ(check(p, req(__NR_madvise, {base, ~0ull & ~4095ull, MADV_DONTNEED})), -EPERM);
}

// v1 finding: the path check covered one byte, so a path running off the end
// of the given memory reached the kernel.
TEST(Policy, PathMustEndInsideGivenMemory)
{
  policy p{gsys::policy_options{}};
  static char region[32];
  std::memset(region, 'a', sizeof region);
  p.allow_region((uintptr_t)region, sizeof region);
  const auto open_at = [&](const char* path) {
    return check(p, req(__NR_openat, {(gsys_u64)AT_FDCWD, addr(path), O_RDONLY, 0}));
  };
  EXPECT_EQ(open_at(region), -EFAULT) << "no NUL inside the region";
  region[sizeof region - 1] = '\0';
  EXPECT_EQ(open_at(region), 0);
  EXPECT_EQ(open_at(region + 30), 0);
  EXPECT_EQ(open_at("/etc/passwd"), -EFAULT) << "a path in memory the GPU was not given";
  static char longpath[PATH_MAX + 64];
  std::memset(longpath, 'b', sizeof longpath);
  longpath[sizeof longpath - 1] = '\0';
  p.allow_region((uintptr_t)longpath, sizeof longpath);
  EXPECT_EQ(open_at(longpath), -ENAMETOOLONG);
}

// Issue #10 finding: the path was checked in the GPU's memory and the call
// then read it there again, so a kernel rewriting it in between (dropping
// the NUL) made the kernel read a name past the memory it was given: host
// bytes in a file name the GPU could list. The call now gets the checked copy.
TEST(Policy, TheCallGetsThePathAsChecked)
{
  policy p{gsys::policy_options{}};
  static char region[64];
  std::memset(region, 0, sizeof region);
  std::strcpy(region, "/tmp/checked");
  p.allow_region((uintptr_t)region, sizeof region);
  request_copy q = req(__NR_openat, {(gsys_u64)AT_FDCWD, addr(region), O_RDONLY, 0});
  bool denied = false;
  ASSERT_EQ(p.check(q, denied), 0);
  EXPECT_NE(q.arg[1], addr(region)) << "the call would read the GPU's string again";
  std::memset(region, 'x', sizeof region);  // the GPU rewrites it, NUL gone
  EXPECT_STREQ(reinterpret_cast<const char*>(q.arg[1]), "/tmp/checked");
  // A genesys.ko fall-back (the module checked it, maybe in a mapping of its
  // own) gets a copy too: in a region, bounded by it; elsewhere by PATH_MAX.
  std::strcpy(region, "/tmp/fallback");
  request_copy f = req(__NR_openat, {(gsys_u64)AT_FDCWD, addr(region), O_RDONLY, 0});
  f.kernel_checked = true;
  ASSERT_EQ(p.check(f, denied), 0);
  EXPECT_NE(f.arg[1], addr(region));
  EXPECT_STREQ(reinterpret_cast<const char*>(f.arg[1]), "/tmp/fallback");
  static char module_mapping[32] = "/tmp/elsewhere";
  request_copy g = req(__NR_openat, {(gsys_u64)AT_FDCWD, addr(module_mapping), O_RDONLY, 0});
  g.kernel_checked = true;
  ASSERT_EQ(p.check(g, denied), 0);
  EXPECT_NE(g.arg[1], addr(module_mapping));
  EXPECT_STREQ(reinterpret_cast<const char*>(g.arg[1]), "/tmp/elsewhere");
  // Unconfined there is nothing to hold the path to: it is passed as is.
  policy open{unconfined()};
  region[10] = '\0';
  request_copy u = req(__NR_openat, {(gsys_u64)AT_FDCWD, addr(region), O_RDONLY, 0});
  ASSERT_EQ(open.check(u, denied), 0);
  EXPECT_EQ(u.arg[1], addr(region));
}

// Issue #10 finding: the policy read paths (memchr) and *addrlen (memcpy)
// straight from memory the GPU mapped with gsys::mmap. A file mapping past
// the file's end (the GPU can ftruncate it) raises SIGBUS on access, which
// killed the host process. Now such memory is read through the kernel, and
// an unreadable byte is -EFAULT.
TEST(Policy, UnreadableGpuMappingsAreRefusedNotFaulted)
{
  char path[] = "/tmp/genesys-policy-sigbus-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  std::vector<char> page(4096, 'a');  // no NUL anywhere
  ASSERT_EQ(write(fd, page.data(), page.size()), 4096);
  void* m = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);  // page 2 lies past the end
  ASSERT_NE(m, MAP_FAILED);
  const gsys_u64 base = addr(m);
  policy p{gsys::policy_options{}};
  bool denied = false;
  p.finish(req(__NR_mmap, {0, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, (gsys_u64)fd, 0}), (long)base, denied);
  const auto open_at = [&](gsys_u64 path_addr) {
    return check(p, req(__NR_openat, {(gsys_u64)AT_FDCWD, path_addr, O_RDONLY, 0}));
  };
  EXPECT_EQ(open_at(base + 4000), -EFAULT) << "the string runs into the page past the file's end";
  EXPECT_EQ(open_at(base + 5000), -EFAULT) << "the string starts there";
  static_cast<char*>(m)[4095] = '\0';
  EXPECT_EQ(open_at(base + 4000), 0) << "ends inside the readable page";
  ASSERT_EQ(ftruncate(fd, 0), 0);  // now no page of the mapping is readable
  EXPECT_EQ(open_at(base + 4000), -EFAULT);
  // recvfrom's *addrlen in the same memory.
  static char name[128];
  p.allow_region((uintptr_t)name, sizeof name);
  EXPECT_EQ(check(p, req(__NR_recvfrom, {3, addr(name), 16, 0, addr(name), base + 16})), -EFAULT);
  munmap(m, 8192);
  close(fd);
}

// v1 finding: recvfrom checked 16 bytes of the address buffer while the
// kernel writes up to *addrlen (an IPv6 source is 28 bytes). The policy reads
// *addrlen, checks that many bytes, and keeps the value it checked for the
// call (the GPU may change its copy afterwards).
TEST(Policy, RecvfromAddressIsCheckedForAddrlenBytes)
{
  policy p{gsys::policy_options{}};
  static char region[256];
  p.allow_region((uintptr_t)region, sizeof region);
  auto* len = reinterpret_cast<socklen_t*>(region);
  char* end = region + sizeof region;
  request_copy q;
  const auto recv_into = [&](char* name, socklen_t n) {
    *len = n;
    q = req(__NR_recvfrom, {3, addr(region + 8), 8, 0, addr(name), addr(len)});
    bool denied = false;
    return p.check(q, denied);
  };
  EXPECT_EQ(recv_into(end - sizeof(sockaddr_in), sizeof(sockaddr_in)), 0);
  EXPECT_EQ(q.addrlen, sizeof(sockaddr_in));
  EXPECT_EQ(recv_into(end - sizeof(sockaddr_in), sizeof(sockaddr_in6)), -EFAULT) << "28 bytes from 16 before the end";
  EXPECT_EQ(recv_into(end - 200, 100000), 0) << "clamped to a sockaddr_storage";
  EXPECT_EQ(q.addrlen, sizeof(sockaddr_storage));
  EXPECT_EQ(recv_into(end - 100, 100000), -EFAULT);
  EXPECT_EQ(check(p, req(__NR_recvfrom, {3, addr(region + 8), 8, 0, addr(end - 16), addr(buf)})), -EFAULT)
      << "addrlen outside given memory";
}

// v1 finding: kUserTop was 2^47, wrong where 5-level paging gives user
// addresses up to 2^56.
TEST(Policy, AddressSpaceTopComesFromTheMachine)
{
  const gsys_u64 top = user_address_top();
  EXPECT_TRUE(top == 1ull << 47 || top == 1ull << 52 || top == 1ull << 56) << std::hex << top;
  policy la57{unconfined(), 1ull << 56};
  EXPECT_EQ(check(la57, req(__NR_read, {0, 1ull << 50, 64})), 0) << "a high address on a 57-bit machine";
  EXPECT_EQ(check(la57, req(__NR_read, {0, (1ull << 56) - 32, 64})), -EFAULT);
  policy la48{unconfined(), 1ull << 47};
  EXPECT_EQ(check(la48, req(__NR_read, {0, 1ull << 50, 64})), -EFAULT);
}

// v1 finding: protected descriptors were per runtime, so runtime A's kernel
// closed runtime B's io_uring fd.
TEST(Policy, ExecutorDescriptorsAreProtectedProcessWide)
{
  policy a{unconfined()};
  {
    policy b{unconfined()};
    b.protect_fd(4242);
    EXPECT_EQ(check(a, req(__NR_close, {4242})), -EPERM) << "another runtime's executor fd";
  }
  EXPECT_EQ(check(a, req(__NR_close, {4242})), 0) << "released with the runtime that protected it";
}

// v1 finding: openat("/proc/self/mem") + pwrite overwrote host memory. The
// opened file is inspected, so no spelling of the path gets around it.
TEST(Policy, ProcessMemoryFilesAreClosedAndRefused)
{
  policy p{unconfined()};
  const std::string pid = std::to_string(getpid());
  for (const std::string& path : std::vector<std::string>{"/proc/self/mem", "/proc/" + pid + "/mem", "/proc/thread-self/mem",
                                 "/proc/self/../self/pagemap"}) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // e.g. pagemap without permission
    bool denied = false;
    EXPECT_EQ(p.finish(req(__NR_openat, {(gsys_u64)AT_FDCWD, addr(path.c_str()), O_RDONLY, 0}), fd, denied), -EACCES)
        << path;
    EXPECT_TRUE(denied);
    EXPECT_EQ(fcntl(fd, F_GETFD), -1) << path << ": the descriptor was closed";
  }
  const int proc_ok = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(proc_ok, 0);
  bool denied = false;
  EXPECT_EQ(p.finish(req(__NR_openat, {(gsys_u64)AT_FDCWD, 0, O_RDONLY, 0}), proc_ok, denied), proc_ok)
      << "reading other procfs files is fine";
  ::close(proc_ok);
  const int w = ::open("/proc/self/comm", O_WRONLY | O_CLOEXEC);
  if (w >= 0) {
    EXPECT_EQ(p.finish(req(__NR_openat, {(gsys_u64)AT_FDCWD, 0, O_WRONLY, 0}), w, denied), -EACCES)
        << "procfs is read-only to the GPU";
  }
}

// Finding (issue #10): the check matched only paths under /proc/, so procfs
// mounted anywhere else (a container's /host/proc) handed out process
// memory. Run in a child with its own mount namespace: it mounts procfs in a
// temporary directory and opens <there>/self/mem.
TEST(Policy, ProcessMemoryIsRefusedWhereverProcfsIsMounted)
{
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char dir[] = "/tmp/gsys-proc-XXXXXX";
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        !mkdtemp(dir))
      _exit(77);
    const bool mounted = mount("proc", dir, "proc", 0, nullptr) == 0;
    int code = 77;
    if (mounted) {
      const std::string path = std::string(dir) + "/self/mem";
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      policy p{unconfined()};
      bool denied = false;
      code = fd < 0 ? 3 : p.finish(req(__NR_openat, {(gsys_u64)AT_FDCWD, 0, O_RDONLY, 0}), fd, denied) == -EACCES && denied ? 0 : 1;
      umount(dir);
    }
    rmdir(dir);
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "cannot mount procfs here (needs root and mount namespaces)";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "<procfs elsewhere>/self/mem was not refused (3: could not open it)";
}

// genesys.ko keeps its own copy of the regions: the watcher sees every
// region there is, then every change, and nothing after it is removed.
TEST(Policy, RegionWatcherSeesEveryRegionAndChange)
{
  policy p{gsys::policy_options{}};
  p.allow_region(0x10000, 100);
  std::vector<std::string> seen;
  auto note = [&](std::uintptr_t a, std::size_t n, bool added) {
    seen.push_back((added ? "+" : "-") + std::to_string(a) + ":" + std::to_string(n));
  };
  p.watch_regions(note);
  p.allow_region(0x20000, 200);
  p.forget_region(0x10000);
  p.forget_region(0x30000);  // never given: nothing to report
  p.watch_regions(nullptr);
  p.allow_region(0x40000, 400);
  EXPECT_EQ(seen, (std::vector<std::string>{"+65536:100", "+131072:200", "-65536:0"}));
  // genesys.ko keeps the larger length at a start as the policy does, and
  // a watcher that comes later is told the larger one.
  p.allow_region(0x20000, 50);
  seen.clear();
  p.watch_regions(note);
  p.watch_regions(nullptr);
  EXPECT_EQ(seen, (std::vector<std::string>{"+131072:200", "+262144:400"}));
  // A watcher that refuses an addition makes allow_region fail without the region.
  policy q{gsys::policy_options{}};
  q.watch_regions([](std::uintptr_t, std::size_t, bool added) {
    if (added) throw gsys::setup_error("refused");
  });
  static char mem[64];
  EXPECT_THROW(q.allow_region((std::uintptr_t)mem, sizeof mem), gsys::setup_error);
  q.watch_regions(nullptr);
  EXPECT_EQ(check(q, req(__NR_pread64, {3, addr(mem), 16, 0})), -EFAULT) << "the refused region was not given";
}

// A genesys.ko fall-back was checked against the regions and the module's
// own mappings (which this policy never saw): confinement skips it, the
// address-space bound and descriptor rules still apply.
TEST(Policy, KernelCheckedFallbacksSkipOnlyTheRegionCheck)
{
  policy p{gsys::policy_options{}, 1ull << 47};
  static char outside[64];
  request_copy q = req(__NR_pread64, {3, addr(outside), 16, 0});
  EXPECT_EQ(check(p, q), -EFAULT) << "confined: not given memory";
  q.kernel_checked = true;
  bool denied = false;
  EXPECT_EQ(p.check(q, denied), 0) << "the module checked it";
  request_copy wild = req(__NR_pread64, {3, 1ull << 48, 16, 0});
  wild.kernel_checked = true;
  EXPECT_EQ(p.check(wild, denied), -EFAULT) << "still bounded by the address space";
  p.protect_fd(4343);
  request_copy own = req(__NR_pread64, {4343, addr(outside), 16, 0});
  own.kernel_checked = true;
  EXPECT_EQ(p.check(own, denied), -EPERM) << "still not the executor's descriptors";
}

// The recvfrom call gets the *addrlen the policy checked, even when the GPU
// raises its copy between the check and the call.
TEST(Policy, RecvfromRunsWithTheCheckedAddrlen)
{
  const int rx = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), tx = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(rx, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  ASSERT_EQ(::bind(rx, (sockaddr*)&a, sizeof a), 0);
  ASSERT_EQ(::getsockname(rx, (sockaddr*)&a, &alen), 0);
  ASSERT_EQ(::sendto(tx, "x", 1, 0, (sockaddr*)&a, sizeof a), 1);
  policy p{gsys::policy_options{}};
  static char region[64];
  std::memset(region, 0x5a, sizeof region);
  p.allow_region((uintptr_t)region, sizeof region);
  auto* len = reinterpret_cast<socklen_t*>(region);
  char* name = region + 16;
  *len = 4;  // checked: 4 bytes of address
  request_copy q = req(__NR_recvfrom, {(gsys_u64)rx, addr(region + 8), 1, 0, addr(name), addr(len)});
  bool denied = false;
  ASSERT_EQ(p.check(q, denied), 0);
  *len = sizeof(sockaddr_in);  // raised after the check
  EXPECT_EQ(run_syscall(q), 1);
  EXPECT_EQ((unsigned char)name[4], 0x5a) << "the kernel wrote past the 4 checked bytes";
  EXPECT_EQ(*len, sizeof(sockaddr_in)) << "the real length comes back";
  ::close(rx);
  ::close(tx);
}
