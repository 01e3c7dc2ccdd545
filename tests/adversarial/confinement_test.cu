// A hostile kernel against the default runtime, on every executor: each test
// is one of the v1 findings of the confinement issue (#10), sent the way a
// kernel sends it (through the ring), while legitimate calls run beside it
// where that matters. Each failed on v1: the call reached memory or files
// the GPU was never given. Now it is refused and the host is untouched.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <genesys.cuh>

#include "support/test_env.h"

using gsys_test::device_string;

namespace {

__global__ void read_zero_into(gsys::ring r, const char* dev_zero, void* dst, long n, long* out)
{
  const long fd = gsys::open(r, dev_zero, O_RDONLY);
  out[0] = fd;
  out[1] = fd < 0 ? fd : gsys::read(r, (int)fd, dst, n);
  if (fd >= 0) gsys::close(r, (int)fd);
}

__global__ void write_through_path(gsys::ring r, const char* path, const void* src, long n, long off, long* out)
{
  const long fd = gsys::open(r, path, O_RDWR);
  out[0] = fd;
  out[1] = fd < 0 ? fd : gsys::pwrite(r, (int)fd, src, n, off);
  if (fd >= 0) gsys::close(r, (int)fd);
}

__global__ void open_path(gsys::ring r, const char* path, long* out)
{
  out[0] = gsys::open(r, path, O_RDONLY);
  if (out[0] >= 0) gsys::close(r, (int)out[0]);
}

__global__ void close_fd(gsys::ring r, int fd, long* out) { out[0] = gsys::close(r, fd); }

__global__ void recv_from(gsys::ring r, int sock, char* buf, sockaddr* from, socklen_t* len, long* out)
{
  out[0] = gsys::recvfrom(r, sock, buf, 64, 0, from, len);
}

__global__ void one_nop(gsys::ring r, long* out) { out[0] = gsys::nop(r); }

// Block 0 is hostile: wild pointers into the host's heap and code, a path
// to the process's memory, munmap of host memory. Every other block does
// honest preads and checks what it read.
__global__ void hostile_beside_honest(gsys::ring r, int fd, char* bufs, const char* mem_path, char* host_heap,
                                      int* hostile_ok, int* honest_bad, int rounds)
{
  const int t = threadIdx.x;
  if (blockIdx.x == 0) {
    for (int i = 0; i < rounds; ++i) {
      long a = gsys::pread(r, fd, host_heap + 64 * t, 64, 0);
      long b = gsys::munmap(r, host_heap, 4096);
      long c = gsys::madvise(r, host_heap, 4096, MADV_DONTNEED);
      long d = gsys::open(r, mem_path, O_RDWR);
      if (d >= 0) gsys::close(r, (int)d);
      if (a >= 0 || b >= 0 || c >= 0 || d >= 0) atomicAdd(hostile_ok, 1);
    }
    return;
  }
  char* mine = bufs + 64 * (blockIdx.x * blockDim.x + t);
  for (int i = 0; i < rounds; ++i) {
    const long off = (t * 7 + i) % 64;
    long n = gsys::pread(r, fd, mine, 16, off);
    bool good = n == 16;
    for (int k = 0; good && k < 16; ++k) good = mine[k] == (char)('A' + (off + k) % 26);
    if (!good) atomicAdd(honest_bad, 1);
  }
}

// Opens until the process runs out of descriptors, then closes them all.
__global__ void open_many(gsys::ring r, const char* path, int n, long* fds, long* out)
{
  long opened = 0, first_error = 0;
  for (int i = 0; i < n; ++i) {
    fds[i] = gsys::open(r, path, O_RDONLY);
    if (fds[i] >= 0) ++opened;
    else if (!first_error) first_error = fds[i];
  }
  for (int i = 0; i < n; ++i)
    if (fds[i] >= 0) gsys::close(r, (int)fds[i]);
  out[0] = opened;
  out[1] = first_error;
  out[2] = gsys::nop(r);
}

// Maps a 1-page file as 2 pages (the second lies past the file's end, so
// touching it raises SIGBUS), then hands the host addresses in it: a path
// running into the second page, one starting there, and recvfrom's
// *addrlen there.
__global__ void sigbus_bait(gsys::ring r, int fd, int sock, char* buf, long* out)
{
  const long m = gsys::mmap(r, nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  out[0] = m;
  if (m < 0) return;
  char* p = reinterpret_cast<char*>(m);
  out[1] = gsys::open(r, p + 4000, O_RDONLY);
  out[2] = gsys::open(r, p, O_RDONLY);
  out[3] = gsys::open(r, p + 5000, O_RDONLY);
  out[4] = gsys::recvfrom(r, sock, buf, 16, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(buf),
                          reinterpret_cast<unsigned*>(p + 4096 + 16));
  out[5] = gsys::munmap(r, p, 8192);
  out[6] = gsys::nop(r);
}

class Confinement : public testing::TestWithParam<gsys::executor_kind> {
 protected:
  void SetUp() override { GSYS_REQUIRE_DEVICE(); }
  gsys::runtime_options options() { return gsys_test::options_for(GetParam()); }
  gsys_test::scratch_dir dir;
};

// v1: one read(/dev/zero, <proxy heap>) segfaulted sync and kmod and zeroed
// 48 KiB of heap on uring. The default options now refuse it.
TEST_P(Confinement, ReadIntoHostHeapIsRefusedByDefault)
{
  gsys::runtime rt(options());
  std::vector<char> heap(48 << 10, 'x');
  long* out = static_cast<long*>(rt.alloc(4 * sizeof(long)));
  gsys::launch(read_zero_into, dim3(1), dim3(1), rt.ring(), device_string(rt, "/dev/zero"), (void*)heap.data(),
               (long)heap.size(), out);
  gsys::synchronize();
  ASSERT_GE(out[0], 0) << "open /dev/zero: " << out[0];
  EXPECT_EQ(out[1], -EFAULT);
  EXPECT_EQ(std::string(heap.begin(), heap.end()), std::string(heap.size(), 'x')) << "host heap was written";
}

// v1: openat("/proc/self/mem") + pwrite overwrote a host variable on every
// executor. However the path is spelled, the opened file is refused.
TEST_P(Confinement, ProcessMemoryCannotBeOpened)
{
  gsys::runtime rt(options());
  static volatile long secret = 42;
  long* src = static_cast<long*>(rt.alloc(sizeof(long)));
  *src = 666;
  long* out = static_cast<long*>(rt.alloc(2 * sizeof(long)));
  const std::string pid = std::to_string(getpid());
  for (const std::string& path : std::vector<std::string>{"/proc/self/mem", "/proc/" + pid + "/mem", "/proc/thread-self/mem",
                                 "/proc/self/task/" + pid + "/mem", "/proc//self/./mem"}) {
    out[0] = out[1] = 1;
    gsys::launch(write_through_path, dim3(1), dim3(1), rt.ring(), device_string(rt, path), (const void*)src,
                 (long)sizeof(long), (long)(uintptr_t)&secret, out);
    gsys::synchronize();
    EXPECT_EQ(out[0], -EACCES) << path;
    EXPECT_EQ(secret, 42) << path << ": host memory overwritten";
  }
  if (access("/dev/mem", F_OK) == 0) {
    gsys::launch(open_path, dim3(1), dim3(1), rt.ring(), device_string(rt, "/dev/mem"), out);
    gsys::synchronize();
    EXPECT_LT(out[0], 0) << "/dev/mem";
  }
  gsys::launch(open_path, dim3(1), dim3(1), rt.ring(), device_string(rt, "/proc/meminfo"), out);
  gsys::synchronize();
  EXPECT_GE(out[0], 0) << "reading ordinary procfs files still works";
}

// v1: the path check covered one byte, so a path running off the end of the
// given memory reached the kernel.
TEST_P(Confinement, PathRunningPastGivenMemoryIsRefused)
{
  gsys::runtime rt(options());
  char* path = static_cast<char*>(rt.alloc(16));
  std::memset(path, 'a', 16);
  long* out = static_cast<long*>(rt.alloc(sizeof(long)));
  gsys::launch(open_path, dim3(1), dim3(1), rt.ring(), (const char*)path, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], -EFAULT);
  static const char host_path[] = "/etc/hostname";
  gsys::launch(open_path, dim3(1), dim3(1), rt.ring(), host_path, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], -EFAULT) << "a path in memory the GPU was not given";
}

// Issue #10 finding: the userspace policy read paths and *addrlen straight
// from memory the GPU had mapped; a file mapping past the file's end raised
// SIGBUS there and killed the host process. Now each is -EFAULT and the
// runtime goes on serving.
TEST_P(Confinement, FileMappingPastItsEndCannotCrashTheHost)
{
  gsys::runtime rt(options());
  const std::string file = dir.file("bait");
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  const std::string page(4096, 'a');  // no NUL
  ASSERT_EQ(::write(fd, page.data(), page.size()), 4096);
  const int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(sock, 0);
  char* buf = static_cast<char*>(rt.alloc(64));
  long* out = static_cast<long*>(rt.alloc(8 * sizeof(long)));
  gsys::launch(sigbus_bait, dim3(1), dim3(1), rt.ring(), fd, sock, buf, out);
  gsys::synchronize();
  ASSERT_GT(out[0], 0) << "mmap: " << out[0];
  EXPECT_EQ(out[1], -EFAULT) << "a path running past the file's end";
  EXPECT_EQ(out[2], -ENAMETOOLONG) << "a readable page of PATH_MAX bytes without a NUL";
  EXPECT_EQ(out[3], -EFAULT) << "a path past the file's end";
  EXPECT_EQ(out[4], -EFAULT) << "recvfrom's addrlen there";
  EXPECT_EQ(out[5], 0) << "munmap";
  EXPECT_EQ(out[6], 0) << "still serving";
  ::close(sock);
  ::close(fd);
}

// v1: recvfrom checked 16 bytes of the address buffer while the kernel
// writes up to *addrlen: an IPv6 source (28 bytes) landed 12 bytes past the
// allowed region. Now *addrlen bytes are checked, and the call gets the
// length that was checked.
TEST_P(Confinement, RecvfromWritesNoMoreThanTheCheckedAddrlen)
{
  const int rx = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (rx < 0) GTEST_SKIP() << "no IPv6 here";
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  socklen_t alen = sizeof a;
  if (::bind(rx, (sockaddr*)&a, sizeof a) != 0 || ::getsockname(rx, (sockaddr*)&a, &alen) != 0) {
    ::close(rx);
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  const int tx = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(tx, 0);
  gsys::runtime rt(options());
  char* region = static_cast<char*>(rt.alloc(4096));
  auto* len = reinterpret_cast<socklen_t*>(region + 64);
  long* out = static_cast<long*>(rt.alloc(sizeof(long)));
  sockaddr* tail16 = reinterpret_cast<sockaddr*>(region + 4096 - sizeof(sockaddr_in));

  // 16 bytes left but *addrlen says 28: refused before anything is received.
  *len = sizeof(sockaddr_in6);
  gsys::launch(recv_from, dim3(1), dim3(1), rt.ring(), rx, region, tail16, len, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], -EFAULT);

  // *addrlen 16 for a 28-byte source: the address is truncated to 16 bytes,
  // as recvfrom(2) does, and *addrlen reports the real size.
  ASSERT_EQ(::sendto(tx, "ping", 4, 0, (sockaddr*)&a, sizeof a), 4);
  *len = sizeof(sockaddr_in);
  gsys::launch(recv_from, dim3(1), dim3(1), rt.ring(), rx, region, tail16, len, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], 4);
  EXPECT_EQ(tail16->sa_family, AF_INET6);
  EXPECT_EQ(*len, sizeof(sockaddr_in6));

  // Room for the whole address.
  ASSERT_EQ(::sendto(tx, "pong", 4, 0, (sockaddr*)&a, sizeof a), 4);
  auto* whole = reinterpret_cast<sockaddr_in6*>(region + 128);
  *len = sizeof(sockaddr_in6);
  gsys::launch(recv_from, dim3(1), dim3(1), rt.ring(), rx, region, (sockaddr*)whole, len, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], 4);
  EXPECT_EQ(whole->sin6_family, AF_INET6);
  EXPECT_EQ(*len, sizeof(sockaddr_in6));
  EXPECT_EQ(std::memcmp(&whole->sin6_addr, &in6addr_loopback, sizeof in6addr_loopback), 0);
  ::close(tx);
  ::close(rx);
}

// v1: runtime A's kernel closed runtime B's io_uring fd; B then hung at
// destruction. Executor descriptors are protected process-wide.
TEST_P(Confinement, AnotherRuntimesExecutorFdCannotBeClosed)
{
  GSYS_REQUIRE_IO_URING();  // B is a uring runtime, whatever the parameter
  auto ob = gsys_test::options_for(gsys::executor_kind::uring);
  gsys::runtime b(ob);
  // B's io_uring descriptor, found the way a hostile kernel could guess it.
  int uring_fd = -1;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      char target[64] = {};
      const std::string link = std::string("/proc/self/fd/") + e->d_name;
      if (readlink(link.c_str(), target, sizeof target - 1) > 0 && std::strstr(target, "io_uring"))
        uring_fd = std::atoi(e->d_name);
    }
    closedir(d);
  }
  ASSERT_GE(uring_fd, 0);
  gsys::runtime a(options());
  long* out = static_cast<long*>(a.alloc(sizeof(long)));
  gsys::launch(close_fd, dim3(1), dim3(1), a.ring(), uring_fd, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], -EPERM);
  long* bout = static_cast<long*>(b.alloc(sizeof(long)));
  bout[0] = 1;
  gsys::launch(one_nop, dim3(1), dim3(1), b.ring(), bout);
  gsys::synchronize();
  EXPECT_EQ(bout[0], 0) << "runtime B still serves";
}

// Hostile requests beside honest ones: every hostile call is refused, every
// honest call returns the right bytes, and the host heap is untouched.
TEST_P(Confinement, HostileBlockBesideHonestBlocks)
{
  const std::string file = dir.file("letters");
  std::string letters;
  for (int i = 0; i < 128; ++i) letters += (char)('A' + i % 26);
  gsys_test::write_file(file, letters);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  gsys::runtime rt(options());
  constexpr int blocks = 4, threads = 32, rounds = 20;
  char* bufs = static_cast<char*>(rt.alloc(64 * blocks * threads));
  int* hostile_ok = static_cast<int*>(rt.alloc(sizeof(int)));
  int* honest_bad = static_cast<int*>(rt.alloc(sizeof(int)));
  std::vector<char> heap(2 * 4096 * threads, 'h');
  char* page = reinterpret_cast<char*>(((uintptr_t)heap.data() + 4095) & ~(uintptr_t)4095);
  gsys::launch(hostile_beside_honest, dim3(blocks), dim3(threads), rt.ring(), fd, bufs,
               (const char*)device_string(rt, "/proc/self/mem"), page, hostile_ok, honest_bad, rounds);
  gsys::synchronize();
  EXPECT_EQ(*hostile_ok, 0) << "hostile calls that ran";
  EXPECT_EQ(*honest_bad, 0) << "honest calls that failed";
  EXPECT_EQ(std::string(heap.begin(), heap.end()), std::string(heap.size(), 'h'));
  ::close(fd);
}

// A kernel that exhausts the process's descriptors gets -EMFILE; the
// executor keeps serving, and everything it opened can be closed.
TEST_P(Confinement, ExhaustingDescriptorsIsAnErrorNotAHang)
{
  gsys::runtime rt(options());
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
  int in_use = 0;
  for (int fd = 0; fd < 4096; ++fd) in_use += fcntl(fd, F_GETFD) != -1;
  rlimit low = old;
  low.rlim_cur = (rlim_t)in_use + 40;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  constexpr int n = 100;
  long* fds = static_cast<long*>(rt.alloc(n * sizeof(long)));
  long* out = static_cast<long*>(rt.alloc(3 * sizeof(long)));
  gsys::launch(open_many, dim3(1), dim3(1), rt.ring(), device_string(rt, "/dev/null"), n, fds, out);
  gsys::synchronize();
  setrlimit(RLIMIT_NOFILE, &old);
  EXPECT_GT(out[0], 0);
  EXPECT_LT(out[0], n);
  EXPECT_EQ(out[1], -EMFILE);
  EXPECT_EQ(out[2], 0) << "the executor still serves";
  int after = 0;
  for (int fd = 0; fd < 4096; ++fd) after += fcntl(fd, F_GETFD) != -1;
  EXPECT_EQ(after, in_use) << "every descriptor the kernel opened was closed";
}

// Every executor: kmod where genesys.ko is loaded (the QEMU guest runs
// these with --gtest_filter=*/kmod), where the module checks the regions.
INSTANTIATE_TEST_SUITE_P(Executors, Confinement, testing::ValuesIn(gsys_test::executors()), gsys_test::executor_name);

}  // namespace
