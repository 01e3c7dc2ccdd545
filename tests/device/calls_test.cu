// Every typed wrapper, end to end: a kernel makes the call through the ring,
// an executor runs it against real files and sockets, and the result must
// equal what the system call gives the host. Runs once per executor, so the
// executors are held to identical results.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <genesys.cuh>

#include "support/test_env.h"

using gsys_test::device_string;
using gsys_test::scratch_dir;

namespace {

__global__ void file_roundtrip(gsys::ring r, const char* path, char* msg, int len, char* back, long* out)
{
  long fd = gsys::open(r, path, O_CREAT | O_RDWR | O_TRUNC, 0644);
  out[0] = fd;
  out[1] = gsys::write(r, (int)fd, msg, len);
  out[2] = gsys::lseek(r, (int)fd, 0, SEEK_SET);
  out[3] = gsys::read(r, (int)fd, back, len);
  out[4] = gsys::fsync(r, (int)fd);
  out[5] = gsys::close(r, (int)fd);
  out[6] = gsys::close(r, (int)fd);  // closed twice: EBADF
}

__global__ void per_thread_records(gsys::ring r, int fd, char* recs, char* back, long* out)
{
  const int t = threadIdx.x;
  long w = gsys::pwrite(r, fd, recs + 16 * t, 16, 16L * t);
  long rd = gsys::pread(r, fd, back + 16 * t, 16, 16L * t);
  out[t] = w == 16 && rd == 16 ? 0 : (w < 0 ? w : rd < 0 ? rd : -1000);
}

__global__ void stat_and_ids(gsys::ring r, int fd, struct stat* st, struct rusage* ru, long* out)
{
  out[0] = gsys::fstat(r, fd, st);
  out[1] = gsys::getpid(r);
  out[2] = gsys::getppid(r);
  out[3] = gsys::getrusage(r, RUSAGE_SELF, ru);
  out[4] = gsys::nop(r);
}

__global__ void map_file(gsys::ring r, int fd, long len, long* out)
{
  long addr = gsys::mmap(r, nullptr, len, PROT_READ, MAP_PRIVATE, fd, 0);
  out[0] = addr;
  if (addr < 0) return;
  const char* p = (const char*)addr;
  long sum = 0;
  for (long i = 0; i < len; ++i) sum += p[i];
  out[1] = sum;
  out[2] = gsys::madvise(r, (void*)addr, len, MADV_DONTNEED);
  out[3] = gsys::munmap(r, (void*)addr, len);
  out[4] = gsys::munmap(r, (void*)addr, len);  // no longer a genesys mapping
}

__global__ void udp_exchange(gsys::ring r, int sock, const sockaddr* peer, unsigned peer_len, char* msg, int len,
                             char* in, sockaddr* from, unsigned* from_len, long* out)
{
  out[0] = gsys::sendto(r, sock, msg, len, 0, peer, peer_len);
  out[1] = gsys::recvfrom(r, sock, in, 64, 0, from, from_len);
}

__global__ void raw_syscall(gsys::ring r, long nr, long a0, long a1, long* out)
{
  out[0] = gsys::syscall(r, nr, a0, a1);
}

__global__ void bad_pointer_read(gsys::ring r, int fd, long* out)
{
  out[0] = gsys::read(r, fd, (void*)0x10, 16);
  out[1] = gsys::read(r, fd, nullptr, 16);
  out[2] = gsys::write(r, 1, (const void*)0xffff800000001000ul, 8);
}

// Opcodes that do not fit the ABI's 16-bit nr field, each made at every
// granularity and through post and submit: all are refused with -ENOSYS
// before anything is queued (v1 truncated them: 0x10027 ran getpid). At
// thread granularity the odd lanes pass the wide opcode and the even lanes
// getpid, so a refused lane must not hold up or join its warp's call.
constexpr int kWideOpcodes = 6;
constexpr int kWideKinds = 8;

__global__ void wide_opcodes(gsys::ring r, int fd, char* buf, long* first, int* wrong)
{
  const long wide[kWideOpcodes] = {0x10000 + __NR_getpid, 0x10000 + __NR_read, (1L << 32) + __NR_getpid,
                                   0x40000000L | __NR_getpid, -1L, -0x10000L + __NR_getpid};
  const bool odd = threadIdx.x % 2 != 0;
  for (long nr : wide) {
    const long mixed = gsys::syscall(r, odd ? nr : (long)__NR_getpid, fd, buf, 16);
    const long got[kWideKinds] = {
        odd ? mixed : -ENOSYS,
        gsys::syscall<gsys::warp>(r, nr, fd, buf, 16),
        gsys::syscall<gsys::block, gsys::strong>(r, nr, fd, buf, 16),
        gsys::syscall<gsys::grid>(r, nr, fd, buf, 16),
        gsys::post(r, nr, fd, buf, 16),
        gsys::post<gsys::warp>(r, nr, fd, buf, 16),
        gsys::submit(r, nr, fd, buf, 16).wait(),
        odd ? 0 : mixed - (long)first[kWideKinds],  // the even lanes' getpid ran: pid - pid
    };
    for (int k = 0; k < kWideKinds; ++k) {
      const long want = k == kWideKinds - 1 ? 0 : -ENOSYS;
      if (got[k] != want) {
        atomicAdd(wrong, 1);
        first[k] = got[k];
      }
    }
  }
}

// A fixed file named every way a kernel can (runtime::register_files; the
// host has closed its own descriptors by now): 32 threads, each reading its
// 8 bytes of file 0 per way, into its own row of `rows` (one row per way).
// out[way] counts the threads whose result was wrong; out[kFixedWays + i]
// holds thread 0's result of the i-th refusal.
constexpr int kFixedWays = 6, kFixedRefusals = 5, kFixedThreads = 32;

__global__ void use_fixed_files(gsys::ring r, char* rows, struct stat* st, const char* note, long* out)
{
  const unsigned t = threadIdx.x;
  const long off = 8L * t;
  auto row = [&](int way) { return rows + way * 8 * kFixedThreads + off; };
  const long got[kFixedWays] = {
      gsys::pread(r, gsys::fixed(0), row(0), 8, off),
      gsys::pread<gsys::warp>(r, gsys::fixed(0), row(1) - off, 8 * kFixedThreads, 0) == 8 * kFixedThreads ? 8 : -1,
      gsys::staged::pread<gsys::block, gsys::strong>(r, gsys::fixed(0), row(2) - off, 8 * kFixedThreads, 0) ==
              8 * kFixedThreads
          ? 8
          : -1,
      gsys::staged::pread(r, gsys::fixed(0), row(3), 8, off),
      gsys::syscall(r, __NR_pread64, gsys::fixed(0), row(4), 8, off),
      gsys::submit(r, __NR_pread64, gsys::fixed(0), row(5), 8, off).wait(),
  };
  for (int w = 0; w < kFixedWays; ++w)
    if (got[w] != 8) atomicAdd((unsigned long long*)&out[w], 1ull);
  const long fst = gsys::fstat<gsys::block>(r, gsys::fixed(0), st);
  if (t != 0) return;
  out[kFixedWays + 0] = fst;
  out[kFixedWays + 1] = gsys::pread(r, gsys::fixed(1), row(0), 8, 0);   // a hole
  out[kFixedWays + 2] = gsys::pread(r, gsys::fixed(9), row(0), 8, 0);   // past the end
  out[kFixedWays + 3] = gsys::syscall(r, __NR_close, gsys::fixed(0));   // the table holds it
  out[kFixedWays + 4] = gsys::syscall(r, __NR_getpid, gsys::fixed(0));  // takes no file
  gsys::post(r, __NR_pwrite64, gsys::fixed(2), note, 5, 0);
}

__global__ void read_fixed_zero(gsys::ring r, char* buf, long* out)
{
  out[0] = gsys::pread(r, gsys::fixed(0), buf, 16, 0);
}

// Reads and writes as the system calls take them, with every executor: a
// length past 4 GiB (the uring executor cut it to 32 bits: 4 GiB read 0
// bytes) and a negative pread/pwrite offset (io_uring took -1 for the file
// position: it read, wrote and moved the offset).
__global__ void lengths_and_offsets(gsys::ring r, int fd, char* buf, unsigned long long big, long* out)
{
  out[0] = gsys::pread(r, fd, buf, big, 0);
  out[1] = gsys::read(r, fd, buf, big);
  out[2] = gsys::pread(r, fd, buf, 10, -1);
  out[3] = gsys::pwrite(r, fd, buf, 5, -1);
  out[4] = gsys::lseek(r, fd, 0, SEEK_CUR);
}

class Calls : public testing::TestWithParam<gsys::executor_kind> {
 protected:
  void SetUp() override { GSYS_REQUIRE_DEVICE(); }
  gsys::runtime rt{gsys_test::options_for(GetParam())};
  scratch_dir dir;
  long* out = static_cast<long*>(rt.alloc(64 * sizeof(long)));
};

TEST_P(Calls, OpenWriteSeekReadFsyncClose)
{
  const std::string msg = "hello from a GPU thread\n";
  char* path = device_string(rt, dir.file("a.txt"));
  char* m = device_string(rt, msg);
  char* back = static_cast<char*>(rt.alloc(64));
  gsys::launch(file_roundtrip, dim3(1), dim3(1), rt.ring(), (const char*)path, m, (int)msg.size(), back, out);
  gsys::synchronize();
  EXPECT_GE(out[0], 0);
  EXPECT_EQ(out[1], (long)msg.size());
  EXPECT_EQ(out[2], 0);
  EXPECT_EQ(out[3], (long)msg.size());
  EXPECT_EQ(std::string(back, msg.size()), msg);
  EXPECT_EQ(out[4], 0);
  EXPECT_EQ(out[5], 0);
  EXPECT_EQ(out[6], -EBADF);
  EXPECT_EQ(gsys_test::read_file(dir.file("a.txt")), msg);
}

TEST_P(Calls, MissingFileIsEnoent)
{
  char* path = device_string(rt, dir.file("does/not/exist"));
  char* back = static_cast<char*>(rt.alloc(64));
  gsys::launch(file_roundtrip, dim3(1), dim3(1), rt.ring(), (const char*)path, back, 0, back, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], -ENOENT);
  EXPECT_EQ(out[1], -EBADF);
}

TEST_P(Calls, EveryThreadPwritesAndPreadsItsRecord)
{
  const int n = 128;
  int fd = ::open(dir.file("recs").c_str(), O_CREAT | O_RDWR, 0644);
  ASSERT_GE(fd, 0);
  char* recs = static_cast<char*>(rt.alloc(16 * n));
  char* back = static_cast<char*>(rt.alloc(16 * n));
  long* res = static_cast<long*>(rt.alloc(n * sizeof(long)));
  for (int i = 0; i < 16 * n; ++i) recs[i] = (char)('A' + (i / 16) % 26);
  gsys::launch(per_thread_records, dim3(1), dim3(n), rt.ring(), fd, recs, back, res);
  gsys::synchronize();
  for (int t = 0; t < n; ++t) EXPECT_EQ(res[t], 0) << "thread " << t;
  EXPECT_EQ(std::string(back, 16 * n), std::string(recs, 16 * n));
  EXPECT_EQ(gsys_test::read_file(dir.file("recs")), std::string(recs, 16 * n));
  ::close(fd);
}

TEST_P(Calls, FstatGetpidGetppidGetrusageNop)
{
  gsys_test::write_file(dir.file("s"), std::string(12345, 'x'));
  int fd = ::open(dir.file("s").c_str(), O_RDONLY);
  auto* st = static_cast<struct stat*>(rt.alloc(sizeof(struct stat)));
  auto* ru = static_cast<struct rusage*>(rt.alloc(sizeof(struct rusage)));
  gsys::launch(stat_and_ids, dim3(1), dim3(1), rt.ring(), fd, st, ru, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(st->st_size, 12345);
  EXPECT_EQ(out[1], (long)::getpid());
  EXPECT_EQ(out[2], (long)::getppid());
  EXPECT_EQ(out[3], 0);
  EXPECT_GT(ru->ru_maxrss, 0);
  EXPECT_EQ(out[4], 0);
  ::close(fd);
}

TEST_P(Calls, MmapMadviseMunmapAFile)
{
  std::string data(3 * 4096 + 100, '\0');
  long sum = 0;
  for (size_t i = 0; i < data.size(); ++i) sum += (data[i] = (char)(i % 100));
  gsys_test::write_file(dir.file("m"), data);
  int fd = ::open(dir.file("m").c_str(), O_RDONLY);
  gsys::launch(map_file, dim3(1), dim3(1), rt.ring(), fd, (long)data.size(), out);
  gsys::synchronize();
  ASSERT_GT(out[0], 0) << "mmap failed: " << out[0];
  EXPECT_EQ(out[1], sum);
  EXPECT_EQ(out[2], 0);
  EXPECT_EQ(out[3], 0);
  EXPECT_EQ(out[4], -EPERM);
  ::close(fd);
}

TEST_P(Calls, SendtoAndRecvfromOverUdp)
{
  int host = ::socket(AF_INET, SOCK_DGRAM, 0), gpu = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  ASSERT_EQ(::bind(host, (sockaddr*)&a, sizeof a), 0);
  ASSERT_EQ(::bind(gpu, (sockaddr*)&a, sizeof a), 0);
  sockaddr_in host_addr{}, gpu_addr{};
  ::getsockname(host, (sockaddr*)&host_addr, &alen);
  alen = sizeof gpu_addr;
  ::getsockname(gpu, (sockaddr*)&gpu_addr, &alen);

  auto* peer = static_cast<sockaddr_in*>(rt.alloc(sizeof(sockaddr_in)));
  *peer = host_addr;
  char* msg = device_string(rt, "ping");
  char* in = static_cast<char*>(rt.alloc(64));
  auto* from = static_cast<sockaddr_in*>(rt.alloc(sizeof(sockaddr_in)));
  auto* from_len = static_cast<unsigned*>(rt.alloc(sizeof(unsigned)));
  *from_len = sizeof(sockaddr_in);

  gsys::launch(udp_exchange, dim3(1), dim3(1), rt.ring(), gpu, (const sockaddr*)peer, (unsigned)sizeof(sockaddr_in),
               msg, 4, in, (sockaddr*)from, from_len, out);
  char got[16] = {};
  sockaddr_in src{};
  socklen_t slen = sizeof src;
  ASSERT_EQ(::recvfrom(host, got, sizeof got, 0, (sockaddr*)&src, &slen), 4);
  EXPECT_STREQ(got, "ping");
  EXPECT_EQ(src.sin_port, gpu_addr.sin_port);
  ASSERT_EQ(::sendto(host, "pong!", 5, 0, (sockaddr*)&gpu_addr, sizeof gpu_addr), 5);
  gsys::synchronize();
  EXPECT_EQ(out[0], 4);
  EXPECT_EQ(out[1], 5);
  EXPECT_EQ(std::string(in, 5), "pong!");
  EXPECT_EQ(*from_len, sizeof(sockaddr_in));
  EXPECT_EQ(from->sin_port, host_addr.sin_port);
  ::close(host);
  ::close(gpu);
}

TEST_P(Calls, DeniedSyscallIsEpermAndCounted)
{
  gsys::launch(raw_syscall, dim3(1), dim3(1), rt.ring(), (long)__NR_kill, (long)::getpid(), 9L, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], -EPERM);
  auto s = rt.stats();
  EXPECT_EQ(s.denied, 1u);
}

TEST_P(Calls, AllowedRawSyscallRuns)
{
  gsys::runtime_options o = gsys_test::options_for(GetParam());
  o.policy.allow = {__NR_getuid, __NR_getpid};
  gsys::runtime rt2(o);
  long* o2 = static_cast<long*>(rt2.alloc(8 * sizeof(long)));
  gsys::launch(raw_syscall, dim3(1), dim3(1), rt2.ring(), (long)__NR_getuid, 0L, 0L, o2);
  gsys::synchronize();
  EXPECT_EQ(o2[0], (long)::getuid());
}

TEST_P(Calls, WildPointersAreEfaultNotACrash)
{
  int fd = ::open("/dev/zero", O_RDONLY);
  gsys::launch(bad_pointer_read, dim3(1), dim3(1), rt.ring(), fd, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], -EFAULT);
  EXPECT_EQ(out[1], -EFAULT);
  EXPECT_EQ(out[2], -EFAULT);
  ::close(fd);
}

TEST_P(Calls, StatsCountCallsPerOperation)
{
  gsys::launch(stat_and_ids, dim3(1), dim3(1), rt.ring(), -1, (struct stat*)out, (struct rusage*)out, out + 32);
  gsys::synchronize();
  auto s = rt.stats();
  EXPECT_EQ(s.calls, 5u);
  EXPECT_EQ(s.errors, 1u) << "fstat(-1)";
  bool saw_nop = false;
  for (auto& op : s.ops)
    if (op.name == "nop") saw_nop = op.calls == 1;
  EXPECT_TRUE(saw_nop) << s.to_text();
  EXPECT_NE(s.to_json().find("\"op\":\"getpid\""), std::string::npos);
}

TEST_P(Calls, AnOpcodeTooWideForTheAbiIsEnosysAndNeverQueued)
{
  const int fd = ::open("/dev/zero", O_RDONLY);
  ASSERT_GE(fd, 0);
  char* buf = static_cast<char*>(rt.alloc(16));
  int* wrong = static_cast<int*>(rt.alloc(sizeof(int)));
  for (int k = 0; k < kWideKinds; ++k) out[k] = -ENOSYS;
  out[kWideKinds] = ::getpid();
  constexpr int kBlocks = 2, kThreads = 64;
  gsys::launch(wide_opcodes, dim3(kBlocks), dim3(kThreads), gsys::cooperative{}, rt.ring(), fd, buf, out, wrong);
  gsys::synchronize();
  EXPECT_EQ(*wrong, 0) << "thread, warp, block, grid, post, post<warp>, submit; the even lanes' getpid: " << out[0]
                       << " " << out[1] << " " << out[2] << " " << out[3] << " " << out[4] << " " << out[5] << " "
                       << out[6] << " " << out[7];
  const std::size_t getpids = std::size_t(kWideOpcodes) * kBlocks * kThreads / 2;
  EXPECT_EQ(rt.usage().reserved, getpids) << "only the even lanes' getpid calls were queued";
  ::close(fd);
}

// register_files had no device half: no call could set the fixed-file flag.
// Now gsys::fixed(i) names entry i of the table at every granularity, staged
// or not, through syscall, submit and post, with every executor; the table
// holds its files (the host's descriptors are closed before the launch),
// and a hole, an index past the end, close and an op without a file are
// refused as genesys.ko refuses them.
TEST_P(Calls, FixedFilesAreNamedByIndexEveryWay)
{
  std::string data(8 * kFixedThreads, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = (char)('a' + i % 23);
  gsys_test::write_file(dir.file("fixed"), data);
  const int in = ::open(dir.file("fixed").c_str(), O_RDONLY);
  const int log = ::open(dir.file("log").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(in, 0);
  ASSERT_GE(log, 0);
  const int table[] = {in, -1, log};
  rt.register_files(table);
  ::close(in);
  ::close(log);
  const int reused = ::open("/dev/null", O_RDONLY);  // most likely the number `in` had

  char* rows = static_cast<char*>(rt.alloc(kFixedWays * data.size()));
  auto* st = static_cast<struct stat*>(rt.alloc(sizeof(struct stat)));
  char* note = device_string(rt, "fixed");
  for (int i = 0; i < kFixedWays + kFixedRefusals; ++i) out[i] = 0;
  gsys::launch(use_fixed_files, dim3(1), dim3(kFixedThreads), rt.ring(), rows, st, (const char*)note, out);
  gsys::synchronize();
  const char* way[kFixedWays] = {"thread", "warp", "staged block", "staged thread", "syscall", "submit"};
  for (int w = 0; w < kFixedWays; ++w) {
    EXPECT_EQ(out[w], 0) << way[w] << ": threads with a wrong result";
    EXPECT_EQ(std::string(rows + w * data.size(), data.size()), data) << way[w];
  }
  EXPECT_EQ(out[kFixedWays + 0], 0) << "fstat";
  EXPECT_EQ(st->st_size, (off_t)data.size());
  EXPECT_EQ(out[kFixedWays + 1], -EBADF) << "a hole";
  EXPECT_EQ(out[kFixedWays + 2], -EBADF) << "past the end";
  EXPECT_EQ(out[kFixedWays + 3], -EINVAL) << "close of a fixed file";
  EXPECT_EQ(out[kFixedWays + 4], -EINVAL) << "getpid given a fixed file";
  EXPECT_TRUE(gsys_test::eventually([&] { return gsys_test::read_file(dir.file("log")) == "fixed"; }))
      << "the posted pwrite: '" << gsys_test::read_file(dir.file("log")) << "'";
  ::close(reused);
}

// A table with a descriptor that is not open, or past the limit, is refused
// and the earlier table stays (it was taken as given: a kernel's call then
// failed, or reached whatever file later got that number).
TEST_P(Calls, AFixedFileTableWithABadDescriptorIsRefusedAndTheOldOneStays)
{
  gsys_test::write_file(dir.file("fixed"), "12345678");
  const int in = ::open(dir.file("fixed").c_str(), O_RDONLY);
  ASSERT_GE(in, 0);
  const int good[] = {in};
  rt.register_files(good);
  const int closed = ::dup(in);
  ::close(closed);
  const int bad[] = {in, closed};
  EXPECT_THROW(rt.register_files(bad), gsys::setup_error);
  const int negative[] = {-7};
  EXPECT_THROW(rt.register_files(negative), gsys::setup_error);
  std::vector<int> many(GSYS_MAX_FIXED_FILES + 1, in);
  EXPECT_THROW(rt.register_files(many), gsys::setup_error);
  ::close(in);

  char* buf = static_cast<char*>(rt.alloc(16));
  gsys::launch(read_fixed_zero, dim3(1), dim3(1), rt.ring(), buf, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], 8) << "the first table's file";
  EXPECT_EQ(std::string(buf, 8), "12345678");
}

TEST_P(Calls, LengthsPast4GiBAndNegativeOffsetsAreTheSystemCallsOwn)
{
  gsys::runtime_options o = gsys_test::options_for(GetParam());
  o.policy.confine_memory = false;  // a 4 GiB length over a small buffer: the file is what limits the read
  o.policy.max_io_bytes = std::size_t(8) << 30;
  gsys::runtime rt2(o);
  gsys_test::write_file(dir.file("small"), std::string(1000, 'x'));
  const int fd = ::open(dir.file("small").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char* buf = static_cast<char*>(rt2.alloc(4096));
  long* o2 = static_cast<long*>(rt2.alloc(8 * sizeof(long)));
  gsys::launch(lengths_and_offsets, dim3(1), dim3(1), rt2.ring(), fd, buf, 1ull << 32, o2);
  gsys::synchronize();
  // Under a sanitizer the allocation may sit within 4 GiB of the address
  // space's top, where the policy refuses the range (-EFAULT) before any
  // executor sees it: then only the offsets are checked here.
  if ((std::uintptr_t)buf + (1ull << 32) <= (1ull << 47)) {
    EXPECT_EQ(o2[0], 1000) << "pread of 4 GiB";
    EXPECT_EQ(o2[1], 1000) << "read of 4 GiB";
    EXPECT_EQ(o2[4], 1000) << "the file position: the read's only";
  } else {
    EXPECT_EQ(o2[4], 0) << "the file position: nothing read";
  }
  EXPECT_EQ(o2[2], -EINVAL) << "pread at -1";
  EXPECT_EQ(o2[3], -EINVAL) << "pwrite at -1";
  EXPECT_EQ(gsys_test::read_file(dir.file("small")), std::string(1000, 'x'));
  ::close(fd);
}

// A forked child that destroys its copy of the runtime (or exits with a
// static one) waited forever for executor threads it does not have (sync),
// stopped the parent's executor through the shared ring's stop word, and
// removed the parent's published name.
TEST_P(Calls, AForkedChildLeavesTheParentsRuntimeAlone)
{
  gsys::runtime_options o = gsys_test::options_for(GetParam());
  o.publish = true;
  auto rt2 = std::make_unique<gsys::runtime>(o);
  const std::string shm = "/dev/shm" + rt2->shm_name();
  long* o2 = static_cast<long*>(rt2->alloc(8 * sizeof(long)));
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    rt2.reset();
    ::_exit(0);
  }
  int status = -1;
  const bool exited = gsys_test::eventually([&] { return ::waitpid(child, &status, WNOHANG) == child; });
  if (!exited) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
  }
  ASSERT_TRUE(exited) << "the child hung destroying its copy of the runtime";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(::access(shm.c_str(), F_OK), 0) << shm << ": the parent's ring name";
  gsys::launch(raw_syscall, dim3(1), dim3(1), rt2->ring(), (long)__NR_getpid, 0L, 0L, o2);
  gsys::synchronize();
  EXPECT_EQ(o2[0], (long)::getpid()) << "the parent's ring after the child";
}

// The Landlock ruleset's descriptor is genesys's own: a kernel could close
// it, and the runtime's destructor then closed the application's file that
// reused the number.
TEST_P(Calls, TheLandlockRulesetDescriptorIsOffLimits)
{
  int ruleset = -1;
  for (int fd = 0; fd < 1024 && ruleset < 0; ++fd) {
    char link[64], target[128] = {};
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    if (::readlink(link, target, sizeof target - 1) > 0 && std::string(target) == "anon_inode:[landlock-ruleset]")
      ruleset = fd;
  }
  if (ruleset < 0) GTEST_SKIP() << "no Landlock ruleset (kernel without Landlock, or a sanitizer build)";
  gsys::launch(raw_syscall, dim3(1), dim3(1), rt.ring(), (long)__NR_close, (long)ruleset, 0L, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], -EPERM);
  EXPECT_NE(::fcntl(ruleset, F_GETFD), -1) << "closed by the kernel";
}

INSTANTIATE_TEST_SUITE_P(Executors, Calls, testing::ValuesIn(gsys_test::executors()), gsys_test::executor_name);

// The runtime's host API, as a user trying it meets it: mistakes are said
// at once, naming what was wrong, not skipped in silence.

// free() of a pointer alloc() did not return (or returned and free() took
// back) was ignored: a double free, or a free of the wrong pointer, went
// unnoticed.
TEST(Runtime, FreeOfAPointerAllocDidNotReturnThrows)
{
  GSYS_REQUIRE_DEVICE();
  gsys::runtime rt;
  void* p = rt.alloc(64);
  int local = 0;
  try {
    rt.free(&local);
    ADD_FAILURE() << "free of a stack address was accepted";
  } catch (const std::invalid_argument& e) {
    char addr[32];
    std::snprintf(addr, sizeof addr, "%p", static_cast<void*>(&local));
    EXPECT_NE(std::string(e.what()).find(addr), std::string::npos) << e.what();
  }
  EXPECT_THROW(rt.free(static_cast<char*>(p) + 8), std::invalid_argument) << "inside an allocation";
  EXPECT_NO_THROW(rt.free(p));
  EXPECT_THROW(rt.free(p), std::invalid_argument) << "freed twice";
  EXPECT_NO_THROW(rt.free(nullptr));
}

// numa_node was passed to mbind unchecked: -7 or a node that is not there
// gave a runtime without a word (and memory from wherever).
TEST(Runtime, ANumaNodeThatIsNotOnlineIsASetupError)
{
  GSYS_REQUIRE_DEVICE();
  for (int bad : {-2, -1000, 64, 4095, 1 << 30}) {
    gsys::runtime_options o;
    o.numa_node = bad;
    try {
      gsys::runtime rt(o);
      ADD_FAILURE() << "numa_node " << bad << " was accepted";
    } catch (const gsys::setup_error& e) {
      EXPECT_NE(std::string(e.what()).find("genesys: bad runtime option: numa_node " + std::to_string(bad)),
                std::string::npos)
          << e.what();
    }
  }
  gsys::runtime_options o;
  o.numa_node = -1;
  EXPECT_NO_THROW(gsys::runtime{o});
  o.numa_node = 0;  // node 0 is online on every Linux machine (or the only one without sysfs)
  EXPECT_NO_THROW(gsys::runtime{o});
}

// A confine path that does not exist was skipped: a mistyped directory
// gave a sandbox without the rule the user asked for, and no word. It is a
// mistake in the options, so it is refused whether or not the kernel has
// Landlock, or kernel confinement is on.
TEST(Runtime, AConfinePathThatDoesNotExistIsASetupError)
{
  GSYS_REQUIRE_DEVICE();
  scratch_dir dir;
  const std::string missing = dir.file("no-such-dir");
  for (bool kernel : {true, false}) {
    gsys::runtime_options o;
    o.policy.kernel_confinement = kernel;
    o.policy.confine_paths = {dir.path(), missing};
    try {
      gsys::runtime rt(o);
      ADD_FAILURE() << "confine path " << missing << " was accepted (kernel_confinement " << kernel << ")";
    } catch (const gsys::setup_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(missing), std::string::npos) << what;
      EXPECT_NE(what.find(std::strerror(ENOENT)), std::string::npos) << what;
    }
    o.policy.confine_paths = {dir.path()};
    EXPECT_NO_THROW(gsys::runtime{o});
  }
}

// A confine path that is a link was skipped too (the rule was made only
// for what is not a link): confined to a link to a directory, a kernel
// could open nothing beneath it. The link is followed, as its user meant.
__global__ void open_then_close(gsys::ring r, const char* inside, const char* outside, long* out)
{
  out[0] = gsys::open(r, inside, O_RDONLY);
  if (out[0] >= 0) gsys::close(r, (int)out[0]);
  out[1] = gsys::open(r, outside, O_RDONLY);
  if (out[1] >= 0) gsys::close(r, (int)out[1]);
}

bool landlock_ruleset_open()
{
  for (int fd = 0; fd < 1024; ++fd) {
    char link[64], target[128] = {};
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    if (::readlink(link, target, sizeof target - 1) > 0 && std::string(target) == "anon_inode:[landlock-ruleset]")
      return true;
  }
  return false;
}

TEST(Runtime, AConfinePathThatIsALinkConfinesToWhatItNames)
{
  GSYS_REQUIRE_DEVICE();
  scratch_dir dir;
  ASSERT_EQ(::mkdir(dir.file("real").c_str(), 0755), 0);
  gsys_test::write_file(dir.file("real/f"), "in");
  gsys_test::write_file(dir.file("g"), "out");
  ASSERT_EQ(::symlink(dir.file("real").c_str(), dir.file("link").c_str()), 0);
  gsys::runtime_options o = gsys_test::options_for(gsys::executor_kind::sync);
  o.policy.confine_paths = {dir.file("link")};
  gsys::runtime rt(o);
  if (!landlock_ruleset_open()) GTEST_SKIP() << "no Landlock ruleset (kernel without Landlock)";
  long* out = static_cast<long*>(rt.alloc(2 * sizeof(long)));
  gsys::launch(open_then_close, dim3(1), dim3(1), rt.ring(), device_string(rt, dir.file("link/f")),
               device_string(rt, dir.file("g")), out);
  gsys::synchronize();
  EXPECT_GE(out[0], 0) << "beneath the link: " << std::strerror((int)-out[0]);
  EXPECT_EQ(out[1], -EACCES) << "outside it";
}

#if !GSYS_CUDA
// A kernel given a handle no runtime made (gsys::ring{}) divided by zero in
// its claim (SIGFPE, no message). Now it stops, saying why. A GPU traps
// after printing the same line; that leaves the CUDA context unusable, so
// only the simulator runs this.
__global__ void call_on(gsys::ring r, long* out) { out[0] = gsys::nop(r); }
__global__ void staged_call_on(gsys::ring r, char* buf, long* out) { out[0] = gsys::staged::pread(r, 0, buf, 8, 0); }

TEST(Runtime, ACallOnAnEmptyRingStopsTheKernelWithAMessage)
{
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  long out[1] = {0};
  EXPECT_DEATH(
      {
        gsys::launch(call_on, dim3(1), dim3(1), gsys::ring{}, out);
        gsys::synchronize();
      },
      "genesys: call on an empty gsys::ring \\(not obtained from a runtime\\)");
  EXPECT_DEATH(
      {
        gsys::launch(call_on, dim3(2), dim3(64), gsys::ring{}, out);
        gsys::synchronize();
      },
      "empty gsys::ring");
  char buf[8];
  EXPECT_DEATH(
      {
        gsys::launch(staged_call_on, dim3(1), dim3(1), gsys::ring{}, buf, out);
        gsys::synchronize();
      },
      "empty gsys::ring") << "a staged call (no arena: it said -ENOBUFS)";
}
#endif

}  // namespace
