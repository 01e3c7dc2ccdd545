// Staged calls (device/genesys/staging.h): buffers the host cannot reach,
// bounced through the runtime's staging arena. On the simulator "device
// memory" is ordinary memory that did not come from the runtime, and
// policy.confine_memory makes the executor refuse it (-EFAULT), so a test
// passes only if the host never touched the buffer itself. Under CUDA the
// buffers are real cudaMalloc memory.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdlib>
#include <optional>

#include <genesys.cuh>

#include "support/test_env.h"

using gsys_test::scratch_dir;

namespace {

constexpr std::size_t kChunk = 4096;

// Memory kernels can use but the host executor cannot (under the policy).
class device_buffer {
 public:
  explicit device_buffer(std::size_t n) : n_(n)
  {
#if GSYS_CUDA
    gsys::check_cuda(cudaMalloc(&p_, n), "cudaMalloc");
    gsys::check_cuda(cudaMemset(p_, 0, n), "cudaMemset");
#else
    p_ = static_cast<char*>(std::calloc(1, n));
#endif
  }
  ~device_buffer()
  {
#if GSYS_CUDA
    cudaFree(p_);
#else
    std::free(p_);
#endif
  }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  char* data() const { return p_; }
  std::string to_host(std::size_t n) const
  {
    std::string s(n, '\0');
#if GSYS_CUDA
    gsys::check_cuda(cudaMemcpy(s.data(), p_, n, cudaMemcpyDeviceToHost), "cudaMemcpy");
#else
    std::memcpy(s.data(), p_, n);
#endif
    return s;
  }
  void from_host(const std::string& s)
  {
#if GSYS_CUDA
    gsys::check_cuda(cudaMemcpy(p_, s.data(), s.size(), cudaMemcpyHostToDevice), "cudaMemcpy");
#else
    std::memcpy(p_, s.data(), s.size());
#endif
  }

 private:
  char* p_ = nullptr;
  std::size_t n_;
};

std::string pattern(std::size_t n, unsigned seed = 1)
{
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = (char)((i * 131 + seed * 17 + i / 4093) & 0xff);
  return s;
}

__device__ long gtid() { return (long)blockIdx.x * blockDim.x + threadIdx.x; }

__global__ void direct_then_staged_pread(gsys::ring r, int fd, char* dev, long n, long* out)
{
  out[0] = gsys::pread(r, fd, dev, n, 0);
  out[1] = gsys::staged::pread(r, fd, dev, n, 0);
}

__global__ void staged_pread(gsys::ring r, int fd, char* dev, long n, long off, long* out)
{
  out[0] = gsys::staged::pread(r, fd, dev, n, off);
}

__global__ void staged_recv(gsys::ring r, int sock, char* dev, long n, long* out)
{
  out[0] = gsys::staged::recvfrom(r, sock, dev, n, 0);
}

__global__ void staged_pwrite(gsys::ring r, int fd, const char* dev, long n, long off, long* out)
{
  out[0] = gsys::staged::pwrite(r, fd, dev, n, off);
}

__global__ void staged_write(gsys::ring r, int fd, const char* dev, long n, long* out)
{
  out[0] = gsys::staged::write(r, fd, dev, n);
}

// read(2) until end of file, in pieces of `step` bytes at the file position.
__global__ void staged_read_all(gsys::ring r, int fd, char* dev, long cap, long step, long* out)
{
  long total = 0, k = 0;
  while (total < cap) {
    k = gsys::staged::read(r, fd, dev + total, step < cap - total ? step : cap - total);
    if (k <= 0) break;
    total += k;
  }
  out[0] = total;
  out[1] = k;
}

// Every thread writes its record and reads it back into a second buffer.
__global__ void per_thread_records(gsys::ring r, int fd, const char* src, char* dst, long rec, long* out)
{
  const long t = gtid();
  out[2 * t] = gsys::staged::pwrite(r, fd, src + t * rec, rec, t * rec);
  out[2 * t + 1] = gsys::staged::pread(r, fd, dst + t * rec, rec, t * rec);
}

// The group's region of a buffer: a warp's, a block's or the whole grid's.
template <class G>
__device__ long region_index()
{
  if constexpr (G::code == GSYS_GRAN_WARP) return gtid() / 32;
  else if constexpr (G::code == GSYS_GRAN_BLOCK) return blockIdx.x;
  else return 0;
}

template <class G, class O>
__global__ void group_pread(gsys::ring r, int fd, char* dev, long n, long* out)
{
  const long g = region_index<G>();
  out[gtid()] = gsys::staged::pread<G, O>(r, fd, dev + g * n, n, g * n);
}

// Each thread fills its bytes of the group's region (in blocks and grids
// all but the group's first thread late; a warp's lanes must stay
// converged), then the group writes the region: the barrier before must
// wait for everyone's bytes.
template <class G, class O>
__global__ void fill_then_group_pwrite(gsys::ring r, int fd, char* dev, long n, int group_threads, long* out)
{
  const long g = region_index<G>();
  const long me = gtid() - g * group_threads;
  if (G::code != GSYS_GRAN_WARP && me != 0)
    for (int i = 0; i < 5; ++i) __nanosleep(1000000);
  for (long i = me; i < n; i += group_threads) dev[g * n + i] = (char)('a' + (g * n + i) % 26);
  out[gtid()] = gsys::staged::pwrite<G, O>(r, fd, dev + g * n, n, g * n);
}

__global__ void udp_exchange(gsys::ring r, int sock, const sockaddr* peer, unsigned peer_len, const char* msg, long len,
                             long big, char* in, long* out)
{
  out[0] = gsys::staged::sendto(r, sock, msg, len, 0, peer, peer_len);
  out[1] = gsys::staged::sendto(r, sock, msg, big, 0, peer, peer_len);
  out[2] = gsys::staged::recvfrom(r, sock, in, 64, 0);
}

// Sets or clears staging claim bits of word 0 from device code (they live in device memory).
__global__ void chunk_bits(gsys::ring r, gsys_u32 bits, bool set)
{
  if (set) gsys::detail::fetch_or_release<gsys::detail::device>(&r.staging_bitmap[0], bits);
  else gsys::detail::fetch_and_release<gsys::detail::device>(&r.staging_bitmap[0], ~bits);
}

class Staging : public testing::TestWithParam<gsys::executor_kind> {
 protected:
  void SetUp() override { GSYS_REQUIRE_DEVICE(); }

  // Small chunks, so that modest buffers split. The executor may touch only
  // runtime memory: every executor, genesys.ko included, refuses the rest.
  gsys::runtime_options options(std::size_t chunks = 16) const
  {
    gsys::runtime_options o = gsys_test::options_for(GetParam());
    o.staging_chunk_bytes = kChunk;
    o.staging_bytes = chunks * kChunk;
    return o;
  }

  gsys::runtime& start(const gsys::runtime_options& o)
  {
    rt.emplace(o);
    out = static_cast<long*>(rt->alloc(4096 * sizeof(long)));
    return *rt;
  }

  int open_file(const std::string& name, const std::string& data)
  {
    gsys_test::write_file(dir.file(name), data);
    return ::open(dir.file(name).c_str(), O_RDWR);
  }

  std::optional<gsys::runtime> rt;
  long* out = nullptr;
  scratch_dir dir;
};

TEST_P(Staging, DirectCallIntoDeviceMemoryIsEfaultStagedOneDelivers)
{
  start(options());
  EXPECT_EQ(rt->staging_chunks(), 16u);
  const std::string data = pattern(3000);
  int fd = open_file("f", data);
  device_buffer dev(data.size());
  gsys::launch(direct_then_staged_pread, dim3(1), dim3(1), rt->ring(), fd, dev.data(), (long)data.size(), out);
  gsys::synchronize();
  EXPECT_EQ(out[0], -EFAULT) << "the executor reached memory outside the runtime's";
  EXPECT_EQ(out[1], (long)data.size());
  EXPECT_EQ(dev.to_host(data.size()), data);
  EXPECT_EQ(rt->staging_chunks_busy(), 0u);
  ::close(fd);
}

TEST_P(Staging, PreadLargerThanAChunkSplits)
{
  start(options());
  const std::string data = pattern(5 * kChunk + 123, 2);
  int fd = open_file("f", data);
  device_buffer dev(data.size());
  gsys::launch(staged_pread, dim3(1), dim3(1), rt->ring(), fd, dev.data(), (long)data.size() - 7, 7L, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], (long)data.size() - 7);
  EXPECT_EQ(dev.to_host(data.size() - 7), data.substr(7));
  std::uint64_t preads = 0;
  for (auto& op : rt->stats().ops)
    if (op.name == "pread64") preads = op.calls;
  EXPECT_EQ(preads, 6u) << "one call per chunk";
  ::close(fd);
}

TEST_P(Staging, PwriteLargerThanAChunkSplits)
{
  start(options());
  const std::string data = pattern(3 * kChunk + 1, 3);
  int fd = open_file("f", std::string(10, '-'));
  device_buffer dev(data.size());
  dev.from_host(data);
  gsys::launch(staged_pwrite, dim3(1), dim3(1), rt->ring(), fd, (const char*)dev.data(), (long)data.size(), 10L, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], (long)data.size());
  EXPECT_EQ(gsys_test::read_file(dir.file("f")), std::string(10, '-') + data);
  ::close(fd);
}

TEST_P(Staging, WriteAtTheFilePositionSplits)
{
  start(options());
  const std::string data = pattern(2 * kChunk + 500, 4);
  int fd = open_file("f", "");
  device_buffer dev(data.size());
  dev.from_host(data);
  gsys::launch(staged_write, dim3(1), dim3(1), rt->ring(), fd, (const char*)dev.data(), (long)data.size(), out);
  gsys::synchronize();
  EXPECT_EQ(out[0], (long)data.size());
  EXPECT_EQ(gsys_test::read_file(dir.file("f")), data);
  ::close(fd);
}

TEST_P(Staging, ShortReadAtEndOfFile)
{
  start(options());
  const std::string data = pattern(kChunk + 904, 5);
  int fd = open_file("f", data);
  device_buffer dev(4 * kChunk);
  // Asks for four chunks; the second call comes back short and ends it.
  gsys::launch(staged_pread, dim3(1), dim3(1), rt->ring(), fd, dev.data(), 4L * kChunk, 0L, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], (long)data.size());
  EXPECT_EQ(dev.to_host(data.size()), data);
  gsys::launch(staged_pread, dim3(1), dim3(1), rt->ring(), fd, dev.data(), 100L, (long)data.size(), out);
  gsys::synchronize();
  EXPECT_EQ(out[0], 0) << "at end of file";
  ::close(fd);
}

TEST_P(Staging, ReadLoopAtTheFilePositionSeesEveryByte)
{
  start(options());
  const std::string data = pattern(3 * kChunk + 77, 6);
  int fd = open_file("f", data);
  device_buffer dev(4 * kChunk);
  gsys::launch(staged_read_all, dim3(1), dim3(1), rt->ring(), fd, dev.data(), 4L * kChunk, 2L * kChunk + 5, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], (long)data.size());
  EXPECT_EQ(out[1], 0) << "the loop ends on end of file";
  EXPECT_EQ(dev.to_host(data.size()), data);
  ::close(fd);
}

TEST_P(Staging, ErrorBeforeAnyByteIsTheError)
{
  start(options());
  device_buffer dev(kChunk);
  gsys::launch(staged_pread, dim3(1), dim3(1), rt->ring(), 12345, dev.data(), 10L, 0L, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], -EBADF);
  EXPECT_EQ(rt->staging_chunks_busy(), 0u);
}

// 256 threads, records of 1.5 chunks, 8 chunks: most threads wait for a
// chunk, every record still arrives intact, and every chunk comes back.
TEST_P(Staging, ManyThreadsShareAFewChunks)
{
  start(options(8));
  const int blocks = 4, threads = 64, n = blocks * threads;
  const long rec = kChunk + kChunk / 2;
  const std::string data = pattern(n * rec, 7);
  int fd = open_file("f", "");
  device_buffer src(data.size()), dst(data.size());
  src.from_host(data);
  gsys::launch(per_thread_records, dim3(blocks), dim3(threads), rt->ring(), fd, (const char*)src.data(), dst.data(),
               rec, out);
  gsys::synchronize();
  for (int t = 0; t < n; ++t) {
    EXPECT_EQ(out[2 * t], rec) << "pwrite, thread " << t;
    EXPECT_EQ(out[2 * t + 1], rec) << "pread, thread " << t;
  }
  EXPECT_TRUE(dst.to_host(data.size()) == data) << "records differ";
  EXPECT_TRUE(gsys_test::read_file(dir.file("f")) == data) << "file differs";
  EXPECT_EQ(rt->staging_chunks_busy(), 0u);
  ::close(fd);
}

template <class G, class O>
void check_group_pread(Staging& t, gsys::runtime& rt, long* out, int fd, const std::string& data, int blocks,
                       int threads, long n)
{
  device_buffer dev(data.size());
  gsys::launch(group_pread<G, O>, dim3(blocks), dim3(threads), gsys::cooperative{}, rt.ring(), fd, dev.data(), n, out);
  gsys::synchronize();
  for (int i = 0; i < blocks * threads; ++i) EXPECT_EQ(out[i], n) << "thread " << i;
  EXPECT_TRUE(dev.to_host(data.size()) == data);
  EXPECT_EQ(rt.staging_chunks_busy(), 0u);
  (void)t;
}

TEST_P(Staging, GroupPreadsDeliverToEveryMember)
{
  start(options(4));
  const long n = 2 * kChunk + 100;  // per group
  const std::string data = pattern(8 * n, 8);
  int fd = open_file("f", data);
  check_group_pread<gsys::warp, gsys::relaxed>(*this, *rt, out, fd, data.substr(0, 4 * n), 2, 64, n);
  check_group_pread<gsys::warp, gsys::strong>(*this, *rt, out, fd, data.substr(0, 4 * n), 1, 128, n);
  check_group_pread<gsys::block, gsys::relaxed>(*this, *rt, out, fd, data.substr(0, 3 * n), 3, 96, n);
  check_group_pread<gsys::block, gsys::strong>(*this, *rt, out, fd, data.substr(0, 2 * n), 2, 50, n);
  check_group_pread<gsys::grid, gsys::relaxed>(*this, *rt, out, fd, data.substr(0, n), 3, 32, n);
  check_group_pread<gsys::grid, gsys::strong>(*this, *rt, out, fd, data.substr(0, n), 2, 40, n);
  ::close(fd);
}

template <class G, class O>
void check_group_pwrite(gsys::runtime& rt, long* out, const std::string& path, int blocks, int threads, long n,
                        int group_threads)
{
  const int ngroups = blocks * threads / group_threads;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  device_buffer dev(ngroups * n);
  gsys::launch(fill_then_group_pwrite<G, O>, dim3(blocks), dim3(threads), gsys::cooperative{}, rt.ring(), fd, dev.data(), n, group_threads,
               out);
  gsys::synchronize();
  for (int i = 0; i < blocks * threads; ++i) {
    if (O::is_strong || (i % group_threads == 0 && G::code != GSYS_GRAN_GRID))
      EXPECT_EQ(out[i], n) << "thread " << i;
    else if (G::code != GSYS_GRAN_GRID)
      EXPECT_EQ(out[i], gsys::not_waited) << "thread " << i;
    else
      EXPECT_TRUE(out[i] == n || out[i] == gsys::not_waited) << "thread " << i << ": " << out[i];
  }
  std::string want(ngroups * n, '\0');
  for (long i = 0; i < (long)want.size(); ++i) want[i] = (char)('a' + i % 26);
  EXPECT_TRUE(gsys_test::read_file(path) == want) << "a member's bytes were not staged";
  EXPECT_EQ(rt.staging_chunks_busy(), 0u);
  ::close(fd);
}

TEST_P(Staging, GroupPwritesWaitForTheGroupsBytes)
{
  start(options(4));
  const long n = 2 * kChunk + 300;
  const std::string path = dir.file("w");
  check_group_pwrite<gsys::warp, gsys::relaxed>(*rt, out, path, 1, 64, n, 32);
  check_group_pwrite<gsys::warp, gsys::strong>(*rt, out, path, 1, 64, n, 32);
  check_group_pwrite<gsys::block, gsys::relaxed>(*rt, out, path, 2, 96, n, 96);
  check_group_pwrite<gsys::block, gsys::strong>(*rt, out, path, 2, 40, n, 40);
  check_group_pwrite<gsys::grid, gsys::relaxed>(*rt, out, path, 2, 32, n, 64);
  check_group_pwrite<gsys::grid, gsys::strong>(*rt, out, path, 2, 32, n, 64);
}

TEST_P(Staging, SendtoAndRecvfromOverUdp)
{
  start(options());
  int host = ::socket(AF_INET, SOCK_DGRAM, 0), gpu = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(host, (sockaddr*)&a, sizeof a), 0);
  ASSERT_EQ(::bind(gpu, (sockaddr*)&a, sizeof a), 0);
  sockaddr_in host_addr{}, gpu_addr{};
  socklen_t alen = sizeof host_addr;
  ::getsockname(host, (sockaddr*)&host_addr, &alen);
  alen = sizeof gpu_addr;
  ::getsockname(gpu, (sockaddr*)&gpu_addr, &alen);
  auto* peer = static_cast<sockaddr_in*>(rt->alloc(sizeof(sockaddr_in)));  // sockaddrs are not staged
  *peer = host_addr;
  const std::string msg = pattern(1500, 9);
  device_buffer dmsg(2 * kChunk), din(64);
  dmsg.from_host(msg);
  gsys::launch(udp_exchange, dim3(1), dim3(1), rt->ring(), gpu, (const sockaddr*)peer, (unsigned)sizeof(sockaddr_in),
               (const char*)dmsg.data(), (long)msg.size(), 2L * kChunk, din.data(), out);
  std::string got(2000, '\0');
  ASSERT_EQ(::recv(host, got.data(), got.size(), 0), (ssize_t)msg.size());
  EXPECT_TRUE(got.substr(0, msg.size()) == msg);
  ASSERT_EQ(::sendto(host, "pong!", 5, 0, (sockaddr*)&gpu_addr, sizeof gpu_addr), 5);
  gsys::synchronize();
  EXPECT_EQ(out[0], (long)msg.size());
  EXPECT_EQ(out[1], -EMSGSIZE) << "a datagram larger than a chunk is not split";
  EXPECT_EQ(out[2], 5);
  EXPECT_EQ(din.to_host(5), "pong!");
  ::close(host);
  ::close(gpu);
}

TEST_P(Staging, NoArenaIsEnobufs)
{
  gsys::runtime_options o = options();
  o.staging_bytes = 0;
  start(o);
  EXPECT_EQ(rt->staging_chunks(), 0u);
  device_buffer dev(16);
  gsys::launch(staged_pread, dim3(1), dim3(1), rt->ring(), 0, dev.data(), 16L, 0L, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], -ENOBUFS);
}

TEST_P(Staging, ArenaTooSmallForAChunkIsASetupError)
{
  gsys::runtime_options o = options();
  o.staging_bytes = kChunk - 1;  // not one whole chunk
  EXPECT_THROW(gsys::runtime{o}, gsys::setup_error);
  o = options();
  o.staging_chunk_bytes = 3000;  // not a power of two
  EXPECT_THROW(gsys::runtime{o}, gsys::setup_error);
}

// Every chunk taken (by the test, through the claim bits in device memory):
// a staged call waits out the ring's timeout and says -ETIMEDOUT; once one
// is free it works.
TEST_P(Staging, AllChunksBusyTimesOut)
{
  gsys::runtime_options o = options(2);
  o.timeout = std::chrono::milliseconds(300);
  start(o);
  const gsys::ring h = rt->ring();
  ASSERT_EQ(h.staging_chunks, 2u);
  gsys::launch(chunk_bits, dim3(1), dim3(1), h, 3u, true);
  gsys::synchronize();
  EXPECT_EQ(rt->staging_chunks_busy(), 2u);
  const std::string data = pattern(100, 10);
  int fd = open_file("f", data);
  device_buffer dev(100);
  gsys::launch(staged_pread, dim3(1), dim3(1), h, fd, dev.data(), 100L, 0L, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], -ETIMEDOUT);
  EXPECT_EQ(rt->stats().timeouts, 1u) << "a call that gave up claiming a chunk counts";
  gsys::launch(chunk_bits, dim3(1), dim3(1), h, 2u, false);
  gsys::synchronize();
  gsys::launch(staged_pread, dim3(1), dim3(1), h, fd, dev.data(), 100L, 0L, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], 100);
  EXPECT_EQ(dev.to_host(100), data);
  EXPECT_EQ(rt->staging_chunks_busy(), 1u) << "only the test's chunk is still taken";
  ::close(fd);
}

// Finding (v1): a staged call that timed out released its chunk while the
// system call could still write into it, so the next owner's data could be
// overwritten. v2 quarantines the chunk with the slot until the host
// reports the call finished.
TEST_P(Staging, ATimedOutCallKeepsItsChunkUntilTheHostIsDone)
{
  gsys::runtime_options o = options(1);  // one chunk: any reuse would show
  o.timeout = std::chrono::milliseconds(200);
  start(o);
  sockaddr_in a{};
  const int sock = gsys_test::bound_udp_socket(a);
  ASSERT_GE(sock, 0);
  device_buffer dev(128);
  gsys::launch(staged_recv, dim3(1), dim3(1), rt->ring(), sock, dev.data(), 64L, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], -ETIMEDOUT);
  EXPECT_EQ(rt->staging_chunks_busy(), 1u) << "the recv may still land in the chunk";

  // While the recv is outstanding the chunk is not anyone else's.
  const std::string data = pattern(100, 3);
  int fd = open_file("f", data);
  gsys::launch(staged_pread, dim3(1), dim3(1), rt->ring(), fd, dev.data(), 100L, 0L, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], -ETIMEDOUT) << "the quarantined chunk was handed out";

  // The datagram arrives: the host finishes the call into the chunk, and
  // the next staged call gets the chunk back, with its own data intact.
  int s2 = ::socket(AF_INET, SOCK_DGRAM, 0);
  ::sendto(s2, "late", 4, 0, (sockaddr*)&a, sizeof a);
  ASSERT_TRUE(gsys_test::eventually([&] { return rt->usage().parked_done == 1; }));
  gsys::launch(staged_pread, dim3(1), dim3(1), rt->ring(), fd, dev.data(), 100L, 0L, out);
  gsys::synchronize();
  EXPECT_EQ(out[0], 100);
  EXPECT_EQ(dev.to_host(100), data);
  EXPECT_EQ(rt->staging_chunks_busy(), 0u);
  ::close(s2);
  ::close(sock);
  ::close(fd);
}

INSTANTIATE_TEST_SUITE_P(Executors, Staging, testing::ValuesIn(gsys_test::executors()), gsys_test::executor_name);

}  // namespace
