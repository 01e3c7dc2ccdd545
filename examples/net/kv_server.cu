// gsys-kv: a memcached-compatible UDP key-value server whose receive loop,
// hash table and replies live in a persistent GPU kernel (kv_kernel.cuh).
// The host binds the socket, allocates the table with runtime::alloc(),
// launches the kernel, ticks the expiry clock, and stops the kernel on
// SIGINT/SIGTERM or when a client sends "shutdown".
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>

#include <genesys.cuh>
#include <genesys/runtime.h>

#include "common/cli.h"
#include "common/device_info.cuh"
#include "net/kv_kernel.cuh"

namespace {

const char* const kProg = "gsys-kv";
// The largest value one request datagram can carry: 65507 bytes less the
// frame header, "set k 0 0 65480\r\n" and the data's "\r\n".
constexpr std::uint64_t kDatagramValue = ex::kUdpMaxRequest - ex::kUdpHeader - 19;
constexpr std::uint64_t kDefaultCapacity = 1024;

double table_mib(std::uint64_t capacity, std::uint64_t max_value)
{
  const std::uint64_t buckets = (capacity + ex::kKvBucket - 1) / ex::kKvBucket;
  return (double)(buckets * ex::kKvBucket * ex::kv_entry_stride((ex::u32)max_value)) / (1024.0 * 1024.0);
}

struct options {
  std::string bind = "127.0.0.1";
  std::uint64_t port = 11311;
  bool block_granularity = false;
  std::uint64_t blocks = 0, threads = 0;
  std::uint64_t capacity = kDefaultCapacity, max_value = kDatagramValue;
  bool allow_shutdown = true;
  gsys::executor_kind executor = gsys::executor_kind::automatic;
  std::string port_file, stats;
};

void usage(FILE* to)
{
  std::fprintf(to,
               "usage: %s [OPTION]...\n"
               "A memcached-compatible key-value server over UDP (memcached's 8-byte frame header,\n"
               "text protocol: get, gets, set, add, replace, append, prepend, cas, delete, incr,\n"
               "decr, touch, flush_all, version, verbosity, stats, mn, quit, shutdown). A persistent\n"
               "GPU kernel receives requests (gsys::recvfrom), serves them from a hash table in\n"
               "GPU-reachable memory and answers (gsys::sendto).\n\n"
               "  -l, --bind=ADDR        IPv4 address to listen on (default 127.0.0.1)\n"
               "  -p, --port=PORT        UDP port (default 11311; 0: any free port)\n"
               "      --granularity=G    who receives: warp (each warp serves its own requests,\n"
               "                         default) or block (one request per block)\n"
               "      --blocks=N         blocks in the grid (default 2 on the simulator, 8 on a GPU)\n"
               "      --threads=N        threads per block, a multiple of 32 (default 64 / 128)\n"
               "      --capacity=N       items the table holds (default %llu; LRU eviction per bucket)\n"
               "      --max-value=N      largest value in bytes (default and most: %llu, what one\n"
               "                         request datagram carries)\n"
               "      --no-shutdown      refuse the \"shutdown\" command (stop with SIGINT/SIGTERM)\n"
               "      --port-file=FILE   write the port number to FILE once listening\n"
               "      --executor=KIND    sync, uring, kmod or auto (default: the first of kmod, uring, sync that works here)\n"
               "      --stats=FILE       append one JSON line with the counters at exit (\"-\": stderr)\n"
               "      --help             this text\n\n"
               "Every item has room for --max-value bytes: the table takes capacity x (max-value + %u)\n"
               "bytes of memory the GPU reaches, %.1f MiB with the defaults (--capacity=16384\n"
               "--max-value=4096: 68.6 MiB).\n\n"
               "Stop it with SIGINT/SIGTERM or the datagram \"shutdown\\r\\n\" (reply: OK). Exit status:\n"
               "0 after a clean stop, 1 when it cannot start (a --port-file it cannot write stops it\n"
               "before it serves), the socket fails or the --stats line cannot be written.\n",
               kProg, (unsigned long long)kDefaultCapacity, (unsigned long long)kDatagramValue,
               (unsigned)sizeof(ex::kv_entry), table_mib(kDefaultCapacity, kDatagramValue));
}

[[noreturn]] void bad_usage(const char* what, const char* arg = nullptr)
{
  ex::usage_error(kProg, 1, what, arg);
}

void parse(int argc, char** argv, options& o)
{
  enum { kGran = 256, kBlocks, kThreads, kCapacity, kMaxValue, kNoShutdown, kPortFile, kExecutor, kStats, kHelp };
  static const option longopts[] = {
      {"bind", required_argument, nullptr, 'l'},          {"port", required_argument, nullptr, 'p'},
      {"granularity", required_argument, nullptr, kGran}, {"blocks", required_argument, nullptr, kBlocks},
      {"threads", required_argument, nullptr, kThreads},  {"capacity", required_argument, nullptr, kCapacity},
      {"max-value", required_argument, nullptr, kMaxValue}, {"no-shutdown", no_argument, nullptr, kNoShutdown},
      {"port-file", required_argument, nullptr, kPortFile}, {"executor", required_argument, nullptr, kExecutor},
      {"stats", required_argument, nullptr, kStats},       {"help", no_argument, nullptr, kHelp},
      {nullptr, 0, nullptr, 0}};
  for (int ch; (ch = getopt_long(argc, argv, "l:p:", longopts, nullptr)) != -1;) {
    switch (ch) {
      case 'l': o.bind = optarg; break;
      case 'p':
        if (!ex::parse_count(optarg, 0, 65535, o.port)) bad_usage("--port wants 0 to 65535, got", optarg);
        break;
      case kGran:
        if (!std::strcmp(optarg, "warp")) o.block_granularity = false;
        else if (!std::strcmp(optarg, "block")) o.block_granularity = true;
        else bad_usage("--granularity wants warp or block, got", optarg);
        break;
      case kBlocks:
        if (!ex::parse_count(optarg, 1, 1024, o.blocks)) bad_usage("--blocks wants 1 to 1024, got", optarg);
        break;
      case kThreads:
        if (!ex::parse_count(optarg, 32, 1024, o.threads) || !ex::valid_block_threads(o.threads))
          bad_usage("--threads wants a multiple of 32 from 32 to 1024, got", optarg);
        break;
      case kCapacity:
        if (!ex::parse_count(optarg, 32, 1u << 24, o.capacity)) bad_usage("--capacity wants 32 to 16777216, got", optarg);
        break;
      case kMaxValue:
        if (!ex::parse_size(optarg, o.max_value) || o.max_value < 32 || o.max_value > kDatagramValue)
          bad_usage("--max-value wants 32 to 65480 bytes, got", optarg);
        break;
      case kNoShutdown: o.allow_shutdown = false; break;
      case kPortFile: o.port_file = optarg; break;
      case kExecutor:
        if (!ex::parse_executor_arg(optarg, o.executor)) bad_usage("--executor wants sync, uring, kmod or auto, got", optarg);
        break;
      case kStats: o.stats = optarg; break;
      case kHelp: usage(stdout); std::exit(0);
      default: ex::try_help(kProg, 1);
    }
  }
  if (optind < argc) bad_usage("unexpected argument", argv[optind]);
}

// A bound UDP socket; exits with a message when it cannot be had.
int open_socket(const options& o, sockaddr_in& addr)
{
  std::memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)o.port);
  if (inet_pton(AF_INET, o.bind.c_str(), &addr.sin_addr) != 1) bad_usage("--bind wants an IPv4 address, got", o.bind.c_str());
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::fprintf(stderr, "%s: socket: %s\n", kProg, std::strerror(errno));
    std::exit(1);
  }
  // Bursts from many clients (memcslap's noreply sets arrive all at once)
  // queue here instead of being dropped: 4 MiB, past net.core.rmem_max
  // where the process may (SO_RCVBUFFORCE needs CAP_NET_ADMIN).
  const int buf = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::fprintf(stderr, "%s: cannot bind %s:%llu: %s\n", kProg, o.bind.c_str(), (unsigned long long)o.port,
                 std::strerror(errno));
    std::exit(1);
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (addr.sin_addr.s_addr == htonl(INADDR_ANY)) addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // for the wake-ups
  return fd;
}

template <class T>
T* alloc_array(gsys::runtime& rt, std::uint64_t n)
{
  return static_cast<T*>(rt.alloc(sizeof(T) * n));
}

// Writes the port to `path` through a temporary file renamed over it, so
// that readers never see it half written. False, with a message and no
// temporary file left, when it cannot.
bool write_port_file(const std::string& path, unsigned port)
{
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  bool ok = f && std::fprintf(f, "%u\n", port) > 0;
  int err = errno;
  if (f && std::fclose(f) != 0 && ok) ok = false, err = errno;
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) ok = false, err = errno;
  if (ok) return true;
  if (f) std::remove(tmp.c_str());
  std::fprintf(stderr, "%s: cannot write port file %s: %s\n", kProg, path.c_str(), std::strerror(err));
  return false;
}

// Wakes the groups blocked in recvfrom once stop is set: one datagram per
// group still alive, repeated until all have left. False after 10 s.
bool wake_receivers(ex::kv_shared& shared, const sockaddr_in& to)
{
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const unsigned char wake[8] = {0xff, 0xff, 0, 0, 0, 1, 0, 0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool done = false;
  while (!(done = std::atomic_ref<ex::u32>(shared.alive).load() == 0) && std::chrono::steady_clock::now() < deadline) {
    for (unsigned i = std::atomic_ref<ex::u32>(shared.alive).load(); i > 0; --i)
      sendto(fd, wake, sizeof wake, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (fd >= 0) close(fd);
  return done;
}

}  // namespace

int main(int argc, char** argv)
{
  options o;
  parse(argc, argv, o);
  if (!o.blocks) o.blocks = GSYS_CUDA ? 8 : 2;
  if (!o.threads) o.threads = GSYS_CUDA ? 128 : 64;
  const std::uint64_t groups = o.block_granularity ? o.blocks : o.blocks * (o.threads / 32);
  if (groups > 4096) bad_usage("at most 4096 receiving groups (blocks x warps per block)");

  // Signals are taken by sigtimedwait below; every thread (the executors
  // too) inherits the mask set here, before the runtime starts them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  if (!ex::require_device(kProg)) return 1;
  sockaddr_in addr;
  const int fd = open_socket(o, addr);
  try {
    gsys::runtime_options ro;
    ro.executor = o.executor;
    // A blocking recvfrom holds a sync worker (or a kmod SERVE thread) while
    // it waits: leave two free for the replies.
    ro.workers = (unsigned)std::min<std::uint64_t>(groups + 2, 64);
    if (groups + 2 > 64 && o.executor == gsys::executor_kind::sync)
      bad_usage("the sync executor serves at most 62 receiving groups; use fewer --blocks");
    ro.timeout = std::chrono::hours(24);  // a receive may wait that long for a client
    // Every receiver holds a ring slot and an io_uring request while it
    // waits; leave as many again for the replies.
    while (ro.slots < 2 * groups) ro.slots *= 2;
    while (ro.uring_entries < 2 * groups) ro.uring_entries *= 2;
    gsys::runtime rt(ro);

    ex::kv_server s{};
    const std::uint64_t buckets = (o.capacity + ex::kKvBucket - 1) / ex::kKvBucket;
    s.table.nbuckets = (ex::u32)buckets;
    s.table.max_value = (ex::u32)o.max_value;
    s.table.stride = ex::kv_entry_stride(s.table.max_value);
    s.table.entries = alloc_array<char>(rt, buckets * ex::kKvBucket * s.table.stride);
    s.table.locks = alloc_array<ex::u32>(rt, buckets);
    s.table.use_clock = alloc_array<ex::u64>(rt, 1);
    s.shared = alloc_array<ex::kv_shared>(rt, 1);
    s.shared->alive = (ex::u32)groups;
    s.shared->now = ex::kKvClockStart;
    s.shared->allow_shutdown = o.allow_shutdown;
    s.shared->start_unix = (ex::u64)std::time(nullptr);
    s.shared->pid = (ex::u32)getpid();
    s.shared->threads = (ex::u32)groups;
    s.shared->limit_maxbytes = buckets * ex::kKvBucket * s.table.stride;
    s.fd = fd;
    s.rx_cap = 65536;
    // A get may name many keys: its reply is up to 1 MiB (or four of the
    // largest values), in as many messages as memcached would send.
    s.tx_cap = ex::kUdpHeader + std::max<ex::u32>(1 << 20, 4 * (s.table.max_value + 320));
    s.rx = alloc_array<char>(rt, groups * s.rx_cap);
    s.tx = alloc_array<char>(rt, groups * s.tx_cap);
    s.ends = alloc_array<ex::u32>(rt, groups * ex::kKvMaxMessages);
    s.peer = alloc_array<sockaddr_storage>(rt, groups);
    s.peer_len = alloc_array<unsigned>(rt, groups);

    if (o.block_granularity)
      gsys::launch(ex::kv_kernel<gsys::block>, dim3((unsigned)o.blocks), dim3((unsigned)o.threads), gsys::cooperative{},
                   rt.ring(), s);
    else
      gsys::launch(ex::kv_kernel<gsys::warp>, dim3((unsigned)o.blocks), dim3((unsigned)o.threads), gsys::cooperative{},
                   rt.ring(), s);

    char where[64];
    inet_ntop(AF_INET, &addr.sin_addr, where, sizeof where);
    const unsigned port = ntohs(addr.sin_port);
    std::fprintf(stderr, "%s: listening on udp %s:%u (%llu %s receivers, %s, executor %s; table %llu items of up to %llu bytes, %.1f MiB)\n",
                 kProg, where, port, (unsigned long long)groups, o.block_granularity ? "block" : "warp",
                 ex::device_label().c_str(), gsys::to_string(rt.executor()),
                 (unsigned long long)(buckets * ex::kKvBucket), (unsigned long long)o.max_value,
                 table_mib(o.capacity, o.max_value));
    // Without its port file a script waiting for it would wait forever:
    // stop the kernel again (the usual way, below) and exit 1.
    const bool port_file_failed = !o.port_file.empty() && !write_port_file(o.port_file, port);
    if (port_file_failed) std::atomic_ref<ex::u32>(s.shared->stop).store(1);

    // Tick the clock; wait for a signal or for the kernel to stop itself.
    const auto started = std::chrono::steady_clock::now();
    const char* why = port_file_failed ? "no port file" : "shutdown command";
    while (!port_file_failed) {
      timespec tick{0, 100 * 1000 * 1000};
      const int sig = sigtimedwait(&sigs, nullptr, &tick);
      const auto up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started);
      std::atomic_ref<ex::u32>(s.shared->now).store(ex::kKvClockStart + (ex::u32)up.count());
      if (sig == SIGINT || sig == SIGTERM) {
        why = sig == SIGINT ? "SIGINT" : "SIGTERM";
        std::atomic_ref<ex::u32>(s.shared->stop).store(1);
      }
      if (std::atomic_ref<ex::u32>(s.shared->stop).load() != 0) break;
    }
    const bool socket_failed = std::atomic_ref<ex::u32>(s.shared->stop).load() == 2;
    if (!wake_receivers(*s.shared, addr)) {
      std::fprintf(stderr, "%s: receivers did not stop within 10 s\n", kProg);
      std::_Exit(1);  // the kernel still runs: the runtime cannot be torn down under it
    }
    gsys::synchronize();
    close(fd);

    const ex::kv_stats& st = s.shared->stats;
    std::fprintf(stderr,
                 "%s: stopped (%s): %llu commands (get %llu keys, %llu hits; set %llu; delete %llu), "
                 "%llu error replies, %llu datagrams dropped\n",
                 kProg, socket_failed ? "socket failed" : why, st.requests, st.cmd_get, st.get_hits, st.cmd_set,
                 st.delete_hits + st.delete_misses, st.error_replies, st.dropped);
    if (!o.stats.empty()) {
      char line[640];
      std::snprintf(line, sizeof line,
                    "{\"example\":\"kv\",\"device\":\"%s\",\"executor\":\"%s\",\"granularity\":\"%s\",\"receivers\":%llu,"
                    "\"commands\":%llu,\"gets\":%llu,\"hits\":%llu,\"sets\":%llu,\"deletes\":%llu,"
                    "\"error_replies\":%llu,\"dropped\":%llu}",
                    ex::json_escape(ex::device_label()).c_str(), gsys::to_string(rt.executor()),
                    o.block_granularity ? "block" : "warp", (unsigned long long)groups, st.requests, st.cmd_get,
                    st.get_hits, st.cmd_set, st.delete_hits + st.delete_misses, st.error_replies, st.dropped);
      // The line asked for is lost: the exit status says so.
      if (!ex::append_line(o.stats, line)) {
        std::fprintf(stderr, "%s: cannot write %s\n", kProg, o.stats.c_str());
        return 1;
      }
    }
    return socket_failed || port_file_failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kProg, e.what());
    return 1;
  }
}
