// gsys-soak: many blocks x warps issue a mix of calls at every granularity
// for a given time against each executor, and the run is checked by
// counting: every request the kernel issued got exactly one completion (the
// executors' completion count equals the issued count: none lost, none
// doubled), every result is the right one, and every byte written reads
// back. One JSON line per executor; exit status 1 on any discrepancy.
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <genesys.cuh>
#include <genesys/runtime.h>

#include "../../bench/bench_common.h"  // drop_unavailable

namespace {

constexpr int kRecord = 16;  // bytes each thread owns in the data file

struct counters {
  unsigned long long issued;      // requests the kernel made (each must complete once)
  unsigned long long bad_result;  // a call returned something other than expected
  unsigned long long mismatched;  // bytes read back differ from bytes written
  unsigned long long iterations;
};

struct soak_args {
  int data_fd;
  int* socks;  // one UDP socket per block, bound to loopback
  const sockaddr_in* addrs;
  long ppid;
  unsigned long long duration_ns;  // from the block's first clock reading (the GPU's clock is its own)
  char* bufs;            // per thread: kRecord out + kRecord in
  char* net;             // per block: 64 bytes out + 64 in
  sockaddr_in* from;     // per block
  socklen_t* from_len;   // per block
  unsigned* last_iter;   // per thread: the last record it wrote
  counters* c;
};

__device__ void fill_record(char* p, unsigned tid, unsigned iter)
{
  for (int k = 0; k < kRecord; ++k) p[k] = (char)((tid * 31u + iter * 7u + (unsigned)k) & 0x7f);
}

__global__ void soak(gsys::ring r, soak_args a)
{
  __shared__ int go;
  __shared__ unsigned long long deadline;
  if (threadIdx.x == 0) deadline = gsys::detail::now_ns() + a.duration_ns;
  const unsigned tid = blockIdx.x * blockDim.x + threadIdx.x;
  char* out = a.bufs + 2 * kRecord * tid;
  char* in = out + kRecord;
  unsigned long long issued = 0, bad = 0, mism = 0;
  unsigned iter = 0;
  for (;; ++iter) {
    if (threadIdx.x == 0) go = gsys::detail::now_ns() < deadline;
    __syncthreads();
    if (!go) break;
    // Thread granularity: write this thread's record, read it back.
    fill_record(out, tid, iter);
    if (gsys::pwrite(r, a.data_fd, out, kRecord, (off_t)tid * kRecord) != kRecord) ++bad;
    if (gsys::pread(r, a.data_fd, in, kRecord, (off_t)tid * kRecord) != kRecord) ++bad;
    for (int k = 0; k < kRecord; ++k) mism += in[k] != out[k];
    issued += 2;
    // Fire-and-forget every 4th round: completes once, nobody waits.
    if (iter % 4 == 0) {
      if (gsys::post(r, GSYS_NR_NOP) != 0) ++bad;
      ++issued;
    }
    // Warp granularity: one request per warp.
    if (gsys::nop<gsys::warp>(r) != 0) ++bad;
    if (threadIdx.x % 32 == 0) ++issued;
    // Block granularity, and a datagram to the block's own socket.
    if (gsys::getppid<gsys::block>(r) != a.ppid) ++bad;
    if (threadIdx.x == 0) {
      ++issued;
      char* msg = a.net + 128 * blockIdx.x;
      char* got = msg + 64;
      const int n = 8 + (int)(iter % 48);
      for (int k = 0; k < n; ++k) msg[k] = (char)(blockIdx.x + iter + (unsigned)k);
      const int s = a.socks[blockIdx.x];
      if (gsys::sendto(r, s, msg, n, 0, (const sockaddr*)&a.addrs[blockIdx.x], sizeof(sockaddr_in)) != n) ++bad;
      a.from_len[blockIdx.x] = sizeof(sockaddr_in);
      if (gsys::recvfrom(r, s, got, 64, 0, (sockaddr*)&a.from[blockIdx.x], &a.from_len[blockIdx.x]) != n) ++bad;
      for (int k = 0; k < n; ++k) mism += got[k] != msg[k];
      issued += 2;
    }
    __syncthreads();
  }
  if (iter) a.last_iter[tid] = iter - 1;
  atomicAdd(&a.c->issued, issued);
  atomicAdd(&a.c->bad_result, bad);
  atomicAdd(&a.c->mismatched, mism);
  if (tid == 0) a.c->iterations = iter;
}

struct options {
  double seconds = 10;
  std::vector<gsys::executor_kind> executors;
  int blocks = 4, threads = 64;
  std::string out;
};

void usage(const char* argv0)
{
  std::printf("usage: %s [--seconds S] [--executor sync|uring|kmod|all] [--grid BxT] [--out FILE]\n"
              "Soaks the ring: BxT threads (default 4x64) issue pwrite/pread (thread), nop (warp),\n"
              "getppid and a UDP round trip (block) and fire-and-forget nops for S seconds (default 10)\n"
              "per executor, then checks that every request completed exactly once, every result was\n"
              "right and every byte written reads back. One JSON line per executor (also appended\n"
              "to FILE); exit status 1 on any discrepancy.\n",
              argv0);
}

// One executor: runs the soak and prints its line; true when clean.
bool run_one(const options& o, gsys::executor_kind k)
{
  gsys::runtime_options ro;
  ro.executor = k;
  ro.slots = 1024;
  gsys::runtime rt(ro);
  const int nthreads = o.blocks * o.threads;
  char path[] = "/tmp/gsys-soak-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) {
    std::perror("gsys-soak: mkstemp");
    return false;
  }
  unlink(path);
  soak_args a{};
  a.data_fd = fd;
  a.socks = static_cast<int*>(rt.alloc(sizeof(int) * o.blocks));
  auto* addrs = static_cast<sockaddr_in*>(rt.alloc(sizeof(sockaddr_in) * o.blocks));
  for (int b = 0; b < o.blocks; ++b) {
    const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in& sa = addrs[b];
    sa = {};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (s < 0 || ::bind(s, (sockaddr*)&sa, sizeof sa) != 0 || ::getsockname(s, (sockaddr*)&sa, &len) != 0) {
      std::perror("gsys-soak: UDP socket");
      return false;
    }
    a.socks[b] = s;
  }
  a.addrs = addrs;
  a.ppid = getppid();
  a.bufs = static_cast<char*>(rt.alloc((std::size_t)2 * kRecord * nthreads));
  a.net = static_cast<char*>(rt.alloc((std::size_t)128 * o.blocks));
  a.from = static_cast<sockaddr_in*>(rt.alloc(sizeof(sockaddr_in) * o.blocks));
  a.from_len = static_cast<socklen_t*>(rt.alloc(sizeof(socklen_t) * o.blocks));
  a.last_iter = static_cast<unsigned*>(rt.alloc(sizeof(unsigned) * nthreads));
  a.c = static_cast<counters*>(rt.alloc(sizeof(counters)));
  const auto t0 = std::chrono::steady_clock::now();
  a.duration_ns = (unsigned long long)(o.seconds * 1e9);
  // Co-resident: every block issues at once for the whole duration.
  gsys::launch(soak, dim3(o.blocks), dim3(o.threads), gsys::cooperative{}, rt.ring(), a);
  gsys::synchronize();
  // Fire-and-forget calls may still be in flight: wait (bounded) until the
  // ring is quiescent, then count.
  for (int i = 0; i < 10000 && !rt.usage().quiescent(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const gsys::stats_snapshot st = rt.stats();
  const unsigned long long issued = a.c->issued, done = st.calls;
  const unsigned long long lost = done < issued ? issued - done : 0, doubled = done > issued ? done - issued : 0;
  // Every thread's record in the file is the last one it wrote.
  unsigned long long file_bad = 0;
  std::vector<char> rec(kRecord), want(kRecord);
  for (int t = 0; t < nthreads; ++t) {
    if (pread(fd, rec.data(), kRecord, (off_t)t * kRecord) != kRecord) {
      ++file_bad;
      continue;
    }
    for (int k = 0; k < kRecord; ++k) want[k] = (char)((t * 31u + a.last_iter[t] * 7u + (unsigned)k) & 0x7f);
    file_bad += rec != want;
  }
  const bool ok = lost == 0 && doubled == 0 && a.c->bad_result == 0 && a.c->mismatched == 0 && file_bad == 0 &&
                  st.errors == 0 && a.c->iterations > 0;
  char line[768];
  std::snprintf(line, sizeof line,
                "{\"bench\":\"soak\",\"device\":\"%s\",\"executor\":\"%s\",\"grid\":\"%dx%d\",\"seconds\":%.1f,"
                "\"iterations\":%llu,\"issued\":%llu,\"completed\":%llu,\"lost\":%llu,\"duplicated\":%llu,"
                "\"bad_results\":%llu,\"mismatched_bytes\":%llu,\"bad_file_records\":%llu,\"errors\":%llu,"
                "\"calls_per_s\":%.0f,\"pass\":%s}\n",
                gsys::device_name().c_str(), gsys::to_string(rt.executor()), o.blocks, o.threads, secs,
                (unsigned long long)a.c->iterations, issued, done, lost, doubled, (unsigned long long)a.c->bad_result,
                (unsigned long long)a.c->mismatched, file_bad, (unsigned long long)st.errors, done / secs,
                ok ? "true" : "false");
  std::fputs(line, stdout);
  std::fflush(stdout);
  if (!o.out.empty())
    if (FILE* f = std::fopen(o.out.c_str(), "a")) {
      std::fputs(line, f);
      std::fclose(f);
    }
  for (int b = 0; b < o.blocks; ++b) ::close(a.socks[b]);
  ::close(fd);
  return ok;
}

}  // namespace

int main(int argc, char** argv)
{
  options o;
  static option opts[] = {{"seconds", required_argument, nullptr, 's'}, {"executor", required_argument, nullptr, 'e'},
                          {"grid", required_argument, nullptr, 'g'},    {"out", required_argument, nullptr, 'o'},
                          {"help", no_argument, nullptr, 'h'},          {nullptr, 0, nullptr, 0}};
  std::string exec = "all";
  for (int ch; (ch = getopt_long(argc, argv, "s:e:g:o:h", opts, nullptr)) != -1;) {
    switch (ch) {
      case 's': o.seconds = std::atof(optarg); break;
      case 'e': exec = optarg; break;
      case 'g':
        if (std::sscanf(optarg, "%dx%d", &o.blocks, &o.threads) != 2 || o.blocks <= 0 || o.threads <= 0 ||
            o.threads % 32) {
          std::fprintf(stderr, "gsys-soak: --grid wants BxT with T a multiple of 32, e.g. 4x64\n");
          return 2;
        }
        break;
      case 'o': o.out = optarg; break;
      case 'h': usage(argv[0]); return 0;
      default: usage(argv[0]); return 2;
    }
  }
  if (!(o.seconds > 0)) {
    std::fprintf(stderr, "gsys-soak: --seconds must be positive\n");
    return 2;
  }
  if (exec == "all") {
    o.executors = {gsys::executor_kind::sync, gsys::executor_kind::uring, gsys::executor_kind::kmod};
    bench::drop_unavailable(o.executors, "gsys-soak");
  } else if (auto k = gsys::parse_executor(exec); k && *k != gsys::executor_kind::automatic) {
    o.executors = {*k};
  } else {
    std::fprintf(stderr, "gsys-soak: unknown executor '%s' (sync, uring, kmod, all)\n", exec.c_str());
    return 2;
  }
  if (!gsys::device_present()) {
    std::fprintf(stderr, "gsys-soak: no CUDA device\n");
    return 1;
  }
  bool ok = true;
  for (auto k : o.executors) {
    std::fprintf(stderr, "gsys-soak: %s executor, %.0f s, %dx%d threads\n", gsys::to_string(k), o.seconds, o.blocks,
                 o.threads);
    try {
      ok = run_one(o, k) && ok;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gsys-soak: %s: %s\n", gsys::to_string(k), e.what());
      ok = false;
    }
  }
  return ok ? 0 : 1;
}
