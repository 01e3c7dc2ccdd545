// genesys: inspect running genesys rings and the kernel module.
//
//   genesys list                      rings published by live processes
//   genesys stat [PID] [--json]       per-operation calls, errors, latency
//   genesys ring PID [--slots]        ring header (and non-free slots, waiting requests)
//   genesys kmod [--json]             genesys.ko status and counters
//   genesys info [--json]             the GPU, its link to the host, the executor
//
// stat and ring exit 0 when they showed every ring asked about, 1 when there
// was none or one could not be read (named on stderr; the others are still
// shown), 2 on a usage error.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <genesys/ops.h>

#include "link_info.h"
#include "ring_memory.h"
#include "stats.h"

namespace {

using namespace gsys::detail;

using gsys::detail::published_ring;

// The live rings (stale ones: their process is gone), of one pid or all.
// A pid given is one of this pid namespace: another namespace's rings
// (a container sharing /dev/shm) number their pids their own way.
std::vector<published_ring> list_rings(int only_pid)
{
  const unsigned long ns = gsys::detail::pid_namespace();
  std::vector<published_ring> out;
  for (published_ring& r : gsys::detail::published_rings())
    if (!r.stale && (!only_pid || (r.pid == only_pid && r.pid_ns == ns))) out.push_back(std::move(r));
  return out;
}

// A ring removed between the listing and shm_open: its process ended or
// closed its runtime meanwhile (normal churn), nothing to report.
struct ring_vanished : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A read-only view of a published ring and its stats page.
class ring_view {
 public:
  explicit ring_view(const std::string& name)
  {
    int fd = shm_open(("/" + name).c_str(), O_RDONLY, 0);
    if (fd < 0 && errno == ENOENT) throw ring_vanished(name);
    if (fd < 0) throw std::runtime_error(name + ": " + std::strerror(errno));
    struct stat st;
    size_ = fstat(fd, &st) == 0 ? (size_t)st.st_size : 0;
    // Not even a header (mmap would refuse an empty file): not mapped.
    base_ = size_ >= GSYS_HEADER_BYTES ? mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0) : nullptr;
    const int err = errno;
    ::close(fd);
    if (!base_) throw std::runtime_error(name + ": not a usable ring: " + std::to_string(size_) +
                                                 " bytes, smaller than a ring header");
    if (base_ == MAP_FAILED) throw std::runtime_error(name + ": mmap: " + std::strerror(err));
    const std::string bad = check();
    if (!bad.empty()) {
      munmap(base_, size_);  // no destructor runs for a constructor that throws
      throw std::runtime_error(name + ": " + bad);
    }
  }
  ring_view(const ring_view&) = delete;
  ring_view& operator=(const ring_view&) = delete;
  gsys::stats_snapshot summary() const { return summarize(*stats(), header(), nslots_, sq_entries_); }
  gsys_u32 nslots() const { return nslots_; }
  ~ring_view() { munmap(base_, size_); }
  const gsys_ring_header* header() const { return static_cast<const gsys_ring_header*>(base_); }
  const stats_page* stats() const
  {
    return reinterpret_cast<const stats_page*>(static_cast<const char*>(base_) + ring_bytes_);
  }
  const gsys_slot* slots() const
  {
    return reinterpret_cast<const gsys_slot*>(static_cast<const char*>(base_) + gsys_ring_slots_offset());
  }
  // The queue entry of position pos (the checked geometry, not the live header's).
  const gsys_sq_entry& entry(gsys_u64 pos) const
  {
    const auto* sq = reinterpret_cast<const gsys_sq_entry*>(static_cast<const char*>(base_) +
                                                            gsys_ring_sq_offset(nslots_));
    return sq[pos & (sq_entries_ - 1)];
  }

 private:
  // What makes the mapping no ring with a stats page, or empty. Keeps the
  // geometry as checked: the live header stays writable by a GPU.
  std::string check()
  {
    std::string bad = check_ring(header(), size_);
    if (!bad.empty()) return "not a usable ring: " + bad;
    nslots_ = header()->nslots;
    sq_entries_ = header()->sq_entries;
    ring_bytes_ = header()->ring_bytes;
    if (ring_bytes_ + sizeof(stats_page) > size_ || stats()->magic != kStatsMagic) return "no stats page";
    return {};
  }

  void* base_ = nullptr;
  size_t size_ = 0;
  gsys_u32 nslots_ = 0;
  gsys_u32 sq_entries_ = 0;
  gsys_u64 ring_bytes_ = 0;
};

// The rings of one pid or all, opened. One that cannot be read is reported
// on stderr, named, and the others are still opened, as `list` does; one
// removed since the listing is left out. `failed`: some ring was unreadable.
struct open_ring {
  published_ring ring;
  std::unique_ptr<ring_view> view;
};
std::vector<open_ring> open_rings(int only_pid, bool& failed)
{
  std::vector<open_ring> out;
  failed = false;
  for (published_ring& r : list_rings(only_pid)) {
    try {
      auto v = std::make_unique<ring_view>(r.name);
      out.push_back({std::move(r), std::move(v)});
    } catch (const ring_vanished&) {
    } catch (const std::exception& e) {
      std::fprintf(stderr, "genesys: %s\n", e.what());
      failed = true;
    }
  }
  return out;
}

// A slot's state as abi.h defines them, or GARBAGE; the order `ring` counts them in.
enum slot_state { kFree, kReady, kDone, kDoneWide, kGarbage, kSlotStates };
const char* const kStateNames[kSlotStates] = {"FREE", "READY", "DONE", "DONE_WIDE", "GARBAGE"};

// What a slot's 64-bit state word says: its tag (GSYS_SLOT_TAG) names the
// state, and only DONE carries more, the call's result; any other word with
// bits above its tag, or a tag v2 does not define (1 and 3 were v1's CLAIMED
// and BUSY), is garbage.
slot_state state_of(gsys_u64 word)
{
  const gsys_u32 tag = GSYS_SLOT_TAG(word);
  if (tag == GSYS_SLOT_DONE) return kDone;
  if (word != tag) return kGarbage;
  switch (tag) {
    case GSYS_SLOT_FREE: return kFree;
    case GSYS_SLOT_READY: return kReady;
    case GSYS_SLOT_DONE_WIDE: return kDoneWide;
    default: return kGarbage;
  }
}

// A slot's state word, read once. acquire: pairs with the executor's release
// of DONE_WIDE, which it stores after the result in slot.ret.
gsys_u64 state_word(const gsys_slot& s) { return __atomic_load_n(&s.state, __ATOMIC_ACQUIRE); }

// The result of a finished call (GSYS_SLOT_FINISHED(word)): in the state word
// in DONE, in slot.ret in DONE_WIDE (a result too wide for the word).
gsys_s64 slot_result(const gsys_slot& s, gsys_u64 word)
{
  return GSYS_SLOT_TAG(word) == GSYS_SLOT_DONE ? GSYS_SLOT_INLINE_RET(word) : s.ret;
}

int cmd_list()
{
  auto rings = list_rings(0);
  if (rings.empty())
    std::printf("no genesys rings published by live processes (a process publishes with "
                "runtime_options::publish or GENESYS_PUBLISH=1)\n");
  for (auto& r : rings) {
    try {
      ring_view v(r.name);
      std::printf("%-28s pid %-8d executor %-6s slots %u\n", r.name.c_str(), r.pid, v.stats()->executor,
                  v.header()->nslots);
    } catch (const ring_vanished&) {
      // gone since the listing: not live any more
    } catch (const std::exception& e) {
      std::printf("%-28s pid %-8d (%s)\n", r.name.c_str(), r.pid, e.what());
    }
  }
  return 0;
}

// Exit status of stat and ring: 0 if every ring was shown, 1 if one could
// not be read (reported by open_rings) or there was none.
int cmd_stat(int pid, bool json)
{
  bool failed = false;
  auto rings = open_rings(pid, failed);
  if (rings.empty() && !failed) {
    std::fprintf(stderr, "genesys: no rings%s (is the process running with options.publish on?)\n",
                 pid ? (" for pid " + std::to_string(pid)).c_str() : "");
    return 1;
  }
  if (json) std::printf("[");
  bool first = true;
  for (auto& [r, v] : rings) {
    auto s = v->summary();
    if (json) {
      std::printf("%s{\"ring\":\"%s\",\"pid\":%d,\"stats\":%s}", first ? "" : ",", r.name.c_str(), r.pid,
                  s.to_json().c_str());
    } else {
      std::printf("%s (pid %d)\n%s", r.name.c_str(), r.pid, s.to_text().c_str());
    }
    first = false;
  }
  if (json) std::printf("]\n");
  return failed ? 1 : 0;
}

int cmd_ring(int pid, bool slots)
{
  bool failed = false;
  auto rings = open_rings(pid, failed);
  if (rings.empty() && !failed) {
    std::fprintf(stderr, "genesys: no rings for pid %d\n", pid);
    return 1;
  }
  for (auto& [r, view] : rings) {
    const ring_view& v = *view;
    const gsys_ring_header* h = v.header();
    std::printf("%s: abi %u, %u slots, queue %u entries, %llu bytes, timeout %.3f s\n", r.name.c_str(), h->abi_version,
                h->nslots, h->sq_entries, (unsigned long long)h->ring_bytes, h->timeout_ns / 1e9);
    const auto s = v.summary();
    std::printf("  queue: head %llu (published and waiting %llu), doorbell %u, sleepers %u, executor %s\n",
                (unsigned long long)h->sq_head, (unsigned long long)s.queue_depth, h->doorbell, h->sleepers,
                v.stats()->executor);
    std::printf("  totals: completed %llu failed %llu denied %llu garbage %llu skipped %llu\n",
                (unsigned long long)h->completed, (unsigned long long)h->failed, (unsigned long long)h->denied,
                (unsigned long long)h->garbage, (unsigned long long)h->skipped);
    unsigned counts[kSlotStates] = {};
    for (gsys_u32 i = 0; i < v.nslots(); ++i) counts[state_of(state_word(v.slots()[i]))]++;
    std::printf("  slots:");
    for (int st = 0; st < kSlotStates; ++st)
      if (counts[st]) std::printf(" %s %u", kStateNames[st], counts[st]);
    std::printf("\n");
    if (!slots) continue;
    for (gsys_u32 i = 0; i < v.nslots(); ++i) {
      const gsys_slot& sl = v.slots()[i];
      const gsys_u64 word = state_word(sl);
      const slot_state st = state_of(word);
      if (st == kFree) continue;
      if (st == kGarbage)
        std::printf("  slot [%5u] %-9s word %#llx\n", i, kStateNames[st], (unsigned long long)word);
      else if (GSYS_SLOT_FINISHED(word))
        std::printf("  slot [%5u] %-9s ret %lld\n", i, kStateNames[st], (long long)slot_result(sl, word));
      else
        std::printf("  slot [%5u] %s\n", i, kStateNames[st]);  // queued: no result yet
    }
    // The requests travel in the queue: the ones published and not yet taken.
    for (gsys_u64 n = 0; n < s.queue_depth; ++n) {
      const gsys_sq_entry& e = v.entry(h->sq_head + n);
      const op_info* op = find_op(e.nr);
      std::printf("  queued [pos %llu] slot %u %-9s flags %#06x args %#llx %#llx %#llx\n",
                  (unsigned long long)(h->sq_head + n), e.slot, op ? op->name : "?", e.flags,
                  (unsigned long long)e.arg[0], (unsigned long long)e.arg[1], (unsigned long long)e.arg[2]);
    }
  }
  return failed ? 1 : 0;
}

std::optional<std::string> read_text(const char* path)
{
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int cmd_kmod(bool json)
{
  const bool dev = access("/dev/genesys", F_OK) == 0;
  std::optional<std::string> text;
  const char* where = nullptr;
  for (const char* p : {"/proc/genesys", "/sys/kernel/debug/genesys/stats"}) {
    if ((text = read_text(p))) {
      where = p;
      break;
    }
  }
  if (json) {
    std::printf("{\"loaded\":%s,\"device\":%s", text || dev ? "true" : "false", dev ? "true" : "false");
    if (text) {
      std::printf(",\"counters\":{");
      std::istringstream in(*text);
      std::string key;
      long long val;
      bool first = true;
      while (in >> key >> val) {
        if (!key.empty() && key.back() == ':') key.pop_back();
        std::printf("%s\"%s\":%lld", first ? "" : ",", key.c_str(), val);
        first = false;
      }
      std::printf("}");
    }
    std::printf("}\n");
    return 0;
  }
  if (!dev && !text) {
    std::printf("genesys.ko is not loaded (no /dev/genesys); see kmod/README.md to build and load it\n");
    return 1;
  }
  std::printf("genesys.ko loaded: /dev/genesys %s\n", dev ? "present" : "missing");
  if (text) std::printf("counters (%s):\n%s", where, text->c_str());
  return 0;
}

// A JSON string, or null for an empty one.
std::string json_str(const std::string& s)
{
  if (s.empty()) return "null";
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if ((unsigned char)c >= 0x20) o += c;
  }
  return o + "\"";
}

std::string json_int(long v, long unknown) { return v == unknown ? "null" : std::to_string(v); }

const char* yes_no(bool b) { return b ? "yes" : "no"; }

int cmd_info(bool json)
{
  const link_info info = query_link_info();
  const bool gpu = !info.gpus.empty();
  const std::string sim = "SIMT simulator (" + std::to_string(std::thread::hardware_concurrency()) + " host cores)";
  const std::string device = gpu ? info.gpus[0].name : sim;
  if (json) {
    std::printf("{\"device\":%s,\"backend\":\"%s\",\"cuda_build\":%s,\"cuda_driver\":%s,\"cuda_runtime\":%s,"
                "\"no_device\":%s,\"gpus\":[",
                json_str(device).c_str(), gpu ? "cuda" : "simulator", info.cuda_build ? "true" : "false",
                json_str(info.driver_version ? cuda_version_string(info.driver_version) : "").c_str(),
                json_str(info.runtime_version ? cuda_version_string(info.runtime_version) : "").c_str(),
                json_str(info.no_device).c_str());
    for (const gpu_info& g : info.gpus)
      std::printf("%s{\"index\":%d,\"name\":%s,\"pci_bus_id\":%s,\"compute_capability\":\"%d.%d\",\"sms\":%d,"
                  "\"host_native_atomics\":%s,\"pageable_memory_access\":%s,\"concurrent_managed_access\":%s,"
                  "\"link_speed\":%s,\"link_width\":%s,\"max_link_speed\":%s,\"max_link_width\":%s,\"numa_node\":%s}",
                  g.index ? "," : "", g.index, json_str(g.name).c_str(), json_str(g.pci_bus_id).c_str(), g.cc_major,
                  g.cc_minor, g.sms, g.host_native_atomics ? "true" : "false",
                  g.pageable_memory_access ? "true" : "false", g.concurrent_managed_access ? "true" : "false",
                  json_str(g.link_speed).c_str(), json_int(g.link_width, 0).c_str(),
                  json_str(g.max_link_speed).c_str(), json_int(g.max_link_width, 0).c_str(),
                  json_int(g.numa_node, -1).c_str());
    std::printf("],\"kmod\":%s,\"io_uring\":%s,\"executor\":\"%s\"}\n", info.kmod ? "true" : "false",
                info.io_uring ? "true" : "false", info.executor.c_str());
    return 0;
  }
  if (!gpu) {
    std::printf("no CUDA device: kernels run on the SIMT simulator (%s)\n", info.no_device.c_str());
    std::printf("device     %s\n", sim.c_str());
  }
  for (const gpu_info& g : info.gpus) {
    std::printf("GPU %-6d %s, sm_%d%d, %d SMs\n", g.index, g.name.c_str(), g.cc_major, g.cc_minor, g.sms);
    std::printf("  pci      %s", g.pci_bus_id.empty() ? "?" : g.pci_bus_id.c_str());
    if (!g.link_speed.empty() || g.link_width)
      std::printf(", link %s x%d (max %s x%d)", g.link_speed.c_str(), g.link_width, g.max_link_speed.c_str(),
                  g.max_link_width);
    if (g.numa_node >= 0) std::printf(", NUMA node %d", g.numa_node);
    std::printf("\n  atomics  host-native: %s (%s)\n", yes_no(g.host_native_atomics),
                g.host_native_atomics ? "GPU atomics on host memory are atomic against the CPU"
                                      : "GPU atomics on host memory are not atomic against the CPU");
    std::printf("  memory   pageable access: %s, concurrent managed access: %s\n", yes_no(g.pageable_memory_access),
                yes_no(g.concurrent_managed_access));
  }
  if (info.cuda_build)
    std::printf("cuda       driver %s, runtime %s\n", cuda_version_string(info.driver_version).c_str(),
                cuda_version_string(info.runtime_version).c_str());
  std::printf("executor   %s (genesys.ko: %s; io_uring: %s)\n", info.executor.c_str(),
              info.kmod ? "loaded" : "not loaded", info.io_uring ? "works" : "unavailable");
  return 0;
}

void usage()
{
  std::printf(
      "usage: genesys <command> [args]\n"
      "  list                  rings published by live processes\n"
      "  stat [PID] [--json]   per-operation calls, errors, denials and latency\n"
      "  ring PID [--slots]    ring header, queue and slot states (--slots: each slot in use,\n"
      "                        a finished call's result, each request waiting in the queue)\n"
      "  kmod [--json]         genesys.ko status and counters\n"
      "  info [--json]         the GPU and its link to the host (atomics, PCIe), CUDA\n"
      "                        versions, the executor the runtime would choose\n"
      "  help                  this text\n"
      "list, stat and ring see only rings a process chose to publish\n"
      "(runtime_options::publish = true, or GENESYS_PUBLISH=1 in its environment).\n"
      "stat and ring name a ring they cannot read on stderr and still show the others;\n"
      "they exit 1 then, as when there is no ring. Usage errors exit 2.\n");
}

// Linux's PID_MAX_LIMIT: no process has a larger pid (/proc/sys/kernel/pid_max
// is at most this).
constexpr long kPidMax = 4194304;

// A usage error: the message, a pointer to the usage, exit status 2.
int usage_error(const std::string& msg)
{
  std::fprintf(stderr, "genesys: %s (see genesys --help)\n", msg.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv)
{
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const std::string& a : args)
    if (a == "--help" || a == "-h") {
      usage();
      return 0;
    }
  if (args.empty()) {
    usage();
    return 2;  // no command at all
  }
  // Each command's options and how many operands it takes (a PID: stat
  // optionally, ring always). Anything else is a usage error, not ignored.
  struct command {
    const char* name;
    const char* option;  // its one option, or nullptr
    size_t min_operands, max_operands;
  };
  static const command commands[] = {{"list", nullptr, 0, 0}, {"stat", "--json", 0, 1}, {"ring", "--slots", 1, 1},
                                     {"kmod", "--json", 0, 0}, {"info", "--json", 0, 0}, {"help", nullptr, 0, 0}};
  const std::string& name = args[0];
  const command* cmd = nullptr;
  for (const command& c : commands)
    if (name == c.name) cmd = &c;
  if (!cmd) {
    std::fprintf(stderr, "genesys: unknown command '%s'\n", name.c_str());
    usage();
    return 2;
  }
  bool option = false;
  std::vector<std::string> operands;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() > 1 && a[0] == '-') {
      if (!cmd->option || a != cmd->option) return usage_error("unknown option '" + a + "' for " + name);
      option = true;
    } else if (operands.size() == cmd->max_operands) {
      return usage_error("unexpected argument '" + a + "' for " + name);
    } else {
      operands.push_back(a);
    }
  }
  if (operands.size() < cmd->min_operands) return usage_error("missing PID for " + name);
  int pid = 0;
  if (!operands.empty()) {
    // Digits only, in range: strtol alone took "99999999999999999999" as
    // LONG_MAX, which became pid -1.
    const std::string& p = operands[0];
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(p.c_str(), &end, 10);
    if (p.empty() || !std::isdigit((unsigned char)p[0]) || *end || errno == ERANGE || v < 1 || v > kPidMax)
      return usage_error("not a PID (1 to " + std::to_string(kPidMax) + "): '" + p + "'");
    pid = (int)v;
  }
  try {
    if (name == "help") return usage(), 0;
    if (name == "list") return cmd_list();
    if (name == "stat") return cmd_stat(pid, option);
    if (name == "ring") return cmd_ring(pid, option);
    if (name == "kmod") return cmd_kmod(option);
    return cmd_info(option);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "genesys: %s\n", e.what());
    return 1;
  }
}
