// gsys-kv-bench: a load generator for memcached-style UDP servers (gsys-kv,
// or memcached -U). Client threads each keep one request in flight (closed
// loop): GETs and SETs over a key space, mixed at a given ratio, for a given
// time. Every GET reply is checked against what was stored for that key, so
// the run also tells whether the server answered correctly.
//
// Mixes: --multiget=N makes every GET ask for N keys at once (memcached's
// "get k1 k2 ..."); --value-size=memcslap draws each SET's value size
// uniformly from 1 to 4999 bytes, as libmemcached's memcslap does (its
// values go up to 4989 bytes), instead of one fixed size.
//
// A plain host program: no genesys, so no --executor (the server's own
// --executor decides how gsys-kv runs its calls).
//
// Prints one JSON line and one line for people on stdout.
#include <getopt.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#define EX_CLI_NO_RUNTIME  // a plain host program: no genesys
#include "common/cli.h"
#include "common/percentile.h"
#include "net/udp_client.h"

namespace {

const char* const kProg = "gsys-kv-bench";
// Unanswered preload requests in a row (in any one thread) after which the
// server is taken as not answering: a lost datagram is no reason to stop,
// several in a row are (each costs --timeout-ms).
constexpr unsigned kGiveUp = 3;
using clock_type = std::chrono::steady_clock;

struct options {
  std::string server;
  sockaddr_in addr{};  // the server, resolved once before the threads start
  std::uint64_t threads = 4, keys = 1000, value_size = 100, multiget = 1;
  bool memcslap_sizes = false;  // value sizes drawn from 1..4999
  double get_ratio = 0.9;
  double duration = 3;
  std::uint64_t timeout_ms = 1000;
  std::string label = "server", json;
  bool preload = true, shutdown = false;
};

struct tally {
  std::uint64_t gets = 0, keys = 0, hits = 0, misses = 0, sets = 0, timeouts = 0, errors = 0;
  std::vector<std::uint64_t> latency_ns;
  std::string first_error;
};

void usage(FILE* to)
{
  std::fprintf(to,
               "usage: %s --server HOST:PORT [OPTION]...\n"
               "Drives a memcached UDP server (gsys-kv, memcached -U) with GET/SET traffic from client\n"
               "threads, one request in flight each, and checks every reply. Reports throughput and\n"
               "p50/p99 latency as a JSON line and a human line.\n\n"
               "  -s, --server=HOST:PORT  the server: an IPv4 address or a host name, and a port\n"
               "  -t, --threads=N         client threads (default 4)\n"
               "  -k, --keys=N            distinct keys (default 1000)\n"
               "  -v, --value-size=N      value bytes (default 100), or \"memcslap\": each SET's size\n"
               "                          drawn from 1 to 4999 bytes, as memcslap's values\n"
               "  -m, --multiget=N        keys per GET (default 1: \"get KEY\"; N: \"get K1 ... KN\")\n"
               "  -r, --get-ratio=R       fraction of GETs, 0..1 (default 0.9)\n"
               "  -d, --duration=SECONDS  how long to measure (default 3)\n"
               "      --timeout-ms=N      give up on a reply after N ms (default 1000)\n"
               "      --label=NAME        name of the server in the output (default \"server\")\n"
               "      --json=FILE         also append the JSON line to FILE\n"
               "      --no-preload        do not SET every key before measuring\n"
               "      --shutdown          send \"shutdown\" at the end and expect OK\n"
               "      --help              this text\n\n"
               "A server that does not answer ends the run early: after %u preload requests in a row\n"
               "without a reply (%u x --timeout-ms when nobody listens).\n\n"
               "Exit status: 0 if every reply was right (and at most 1%% of requests timed out),\n"
               "1 otherwise (also when the server did not answer or --json could not be written),\n"
               "2 on bad usage.\n",
               kProg, kGiveUp, kGiveUp);
}

[[noreturn]] void bad_usage(const char* what, const char* arg = nullptr)
{
  ex::usage_error(kProg, 2, what, arg);
}

bool parse_fraction(const char* s, double lo, double hi, double& out)
{
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end || !(v >= lo && v <= hi)) return false;
  out = v;
  return true;
}

void parse(int argc, char** argv, options& o)
{
  enum { kTimeout = 256, kLabel, kJson, kNoPreload, kShutdown, kHelp };
  static const option longopts[] = {
      {"server", required_argument, nullptr, 's'},      {"threads", required_argument, nullptr, 't'},
      {"keys", required_argument, nullptr, 'k'},        {"value-size", required_argument, nullptr, 'v'},
      {"get-ratio", required_argument, nullptr, 'r'},   {"duration", required_argument, nullptr, 'd'},
      {"timeout-ms", required_argument, nullptr, kTimeout}, {"label", required_argument, nullptr, kLabel},
      {"json", required_argument, nullptr, kJson},      {"no-preload", no_argument, nullptr, kNoPreload},
      {"multiget", required_argument, nullptr, 'm'},
      {"shutdown", no_argument, nullptr, kShutdown},    {"help", no_argument, nullptr, kHelp},
      {nullptr, 0, nullptr, 0}};
  for (int ch; (ch = getopt_long(argc, argv, "s:t:k:v:r:d:m:", longopts, nullptr)) != -1;) {
    switch (ch) {
      case 's': o.server = optarg; break;
      case 't':
        if (!ex::parse_count(optarg, 1, 256, o.threads)) bad_usage("--threads wants 1 to 256, got", optarg);
        break;
      case 'k':
        if (!ex::parse_count(optarg, 1, 100000000, o.keys)) bad_usage("--keys wants 1 to 1e8, got", optarg);
        break;
      case 'v':
        if (!std::strcmp(optarg, "memcslap")) o.memcslap_sizes = true, o.value_size = 0;
        else if (!ex::parse_count(optarg, 16, 60000, o.value_size)) bad_usage("--value-size wants 16 to 60000 or memcslap, got", optarg);
        break;
      case 'm':
        if (!ex::parse_count(optarg, 1, 100, o.multiget)) bad_usage("--multiget wants 1 to 100, got", optarg);
        break;
      case 'r':
        if (!parse_fraction(optarg, 0, 1, o.get_ratio)) bad_usage("--get-ratio wants a number from 0 to 1, got", optarg);
        break;
      case 'd':
        if (!parse_fraction(optarg, 0.01, 3600, o.duration)) bad_usage("--duration wants 0.01 to 3600 seconds, got", optarg);
        break;
      case kTimeout:
        if (!ex::parse_count(optarg, 1, 60000, o.timeout_ms)) bad_usage("--timeout-ms wants 1 to 60000, got", optarg);
        break;
      case kLabel: o.label = optarg; break;
      case kJson: o.json = optarg; break;
      case kNoPreload: o.preload = false; break;
      case kShutdown: o.shutdown = true; break;
      case kHelp: usage(stdout); std::exit(0);
      default: ex::try_help(kProg, 2);
    }
  }
  if (optind < argc) bad_usage("unexpected argument", argv[optind]);
  if (o.server.empty()) bad_usage("--server HOST:PORT is required");
  std::string what, arg;
  if (!ex::resolve_server(o.server, o.addr, what, arg)) bad_usage(what.c_str(), arg.c_str());
  if (o.multiget > o.keys) bad_usage("--multiget wants at most --keys keys");
}

std::string key_name(std::uint64_t k) { return "key:" + std::to_string(k); }

// "<key>:<version>:" then filler that depends on both, `size` bytes in all:
// a GET can tell a stale, foreign or damaged value from a right one.
std::string make_value(std::uint64_t key, std::uint64_t version, std::size_t size)
{
  std::string v = std::to_string(key) + ":" + std::to_string(version) + ":";
  for (std::size_t i = v.size(); i < size; ++i) v.push_back((char)('a' + (key * 7 + version * 13 + i) % 26));
  v.resize(size);
  return v;
}

// Whether `value` is one that make_value wrote for `key`.
bool valid_value(std::uint64_t key, const std::string& value, std::size_t size)
{
  if (value.size() != size) return false;
  const std::string prefix = std::to_string(key) + ":";
  if (size <= prefix.size()) return value == prefix.substr(0, size);  // too short to carry a version
  if (value.compare(0, prefix.size(), prefix) != 0) return false;
  const std::uint64_t version = std::strtoull(value.c_str() + prefix.size(), nullptr, 10);
  return value == make_value(key, version, size);
}

std::string set_request(const std::string& key, const std::string& value)
{
  return "set " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
}

void note_error(tally& t, const std::string& what)
{
  if (t.first_error.empty()) t.first_error = what.substr(0, 200);
  ++t.errors;
}

// Checks a GET reply for keys ks (in order; a missing key has no VALUE
// block); counts hits, misses or an error. size 0: any size.
void check_get(tally& t, const std::vector<std::uint64_t>& ks, const std::string& reply, std::size_t size)
{
  std::size_t p = 0;
  for (std::uint64_t k : ks) {
    ++t.keys;
    const std::string head = "VALUE " + key_name(k) + " 0 ";
    if (reply.compare(p, head.size(), head) != 0) {
      ++t.misses;
      continue;
    }
    const std::size_t eol = reply.find("\r\n", p);
    const std::size_t n = std::strtoull(reply.c_str() + p + head.size(), nullptr, 10);
    if (eol == std::string::npos || (size && n != size) || reply.size() < eol + 2 + n + 2 ||
        reply.compare(eol + 2 + n, 2, "\r\n") != 0 || !valid_value(k, reply.substr(eol + 2, n), n)) {
      note_error(t, "GET " + key_name(k) + " -> " + reply.substr(p, 200));
      return;
    }
    p = eol + 2 + n + 2;
    ++t.hits;
  }
  if (reply.compare(p, std::string::npos, "END\r\n") != 0) note_error(t, "GET -> " + reply.substr(p, 200));
}

struct xorshift {
  std::uint64_t s;
  std::uint64_t next()
  {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

// What the client threads share with main.
struct run_state {
  std::atomic<unsigned> ready{0};           // threads done preloading
  std::atomic<bool> go{false}, stop{false};
  std::atomic<bool> no_reply{false};        // the server did not answer the preload: stop
  std::atomic<std::uint64_t> preloaded{0};  // keys stored so far (progress)
};

void client(const options& o, unsigned id, run_state& st, tally& t)
{
  ex::udp_client c(o.addr);
  if (!c.ok()) {
    note_error(t, "cannot reach " + o.server);
    st.ready.fetch_add(1);
    return;
  }
  const auto timeout = std::chrono::milliseconds(o.timeout_ms);
  std::string reply;
  xorshift rng{0x9e3779b97f4a7c15ull * (id + 1)};
  auto value_size = [&] { return o.memcslap_sizes ? (std::size_t)(1 + rng.next() % 4999) : (std::size_t)o.value_size; };
  if (o.preload) {
    unsigned unanswered = 0;  // in a row
    for (std::uint64_t k = id; k < o.keys && !st.no_reply.load(); k += o.threads) {
      if (!c.request(set_request(key_name(k), make_value(k, 0, value_size())), reply, timeout)) {
        ++t.timeouts;
        if (++unanswered >= kGiveUp) st.no_reply.store(true);
        continue;
      }
      unanswered = 0;
      if (reply != "STORED\r\n") note_error(t, "preload SET -> " + reply);
      st.preloaded.fetch_add(1);
    }
  }
  st.ready.fetch_add(1);
  while (!st.go.load()) std::this_thread::sleep_for(std::chrono::microseconds(100));
  std::uint64_t version = (std::uint64_t)id << 40;  // versions differ between threads
  t.latency_ns.reserve(1 << 16);
  while (!st.stop.load(std::memory_order_relaxed)) {
    const std::uint64_t k = rng.next() % o.keys;
    const bool get = (double)(rng.next() % 1000000) < o.get_ratio * 1000000;
    std::vector<std::uint64_t> ks{k};
    std::string req;
    if (get) {
      // Distinct keys: memcached and gsys-kv both answer duplicates twice, but
      // the check is simpler without them.
      for (std::uint64_t step = 1 + rng.next() % 7; ks.size() < o.multiget;) ks.push_back((ks.back() + step) % o.keys);
      req = "get";
      for (auto x : ks) req += " " + key_name(x);
      req += "\r\n";
    } else {
      req = set_request(key_name(k), make_value(k, ++version, value_size()));
    }
    const auto t0 = clock_type::now();
    if (!c.request(req, reply, timeout, get ? "END\r\n" : "")) {
      ++t.timeouts;
      continue;
    }
    t.latency_ns.push_back((std::uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0).count());
    if (get) {
      ++t.gets;
      check_get(t, ks, reply, o.value_size);
    } else {
      ++t.sets;
      if (reply != "STORED\r\n") note_error(t, "SET -> " + reply);
    }
  }
}

}  // namespace

int main(int argc, char** argv)
{
  options o;
  parse(argc, argv, o);

  std::vector<tally> tallies(o.threads);
  std::vector<std::thread> threads;
  run_state st;
  char no_reply[320];
  std::snprintf(no_reply, sizeof no_reply, "%s: no reply from %s within %g s\n", kProg, o.server.c_str(),
                (double)o.timeout_ms / 1000);
  for (unsigned i = 0; i < o.threads; ++i)
    threads.emplace_back(client, std::cref(o), i, std::ref(st), std::ref(tallies[i]));
  // The clients preload first; the measurement starts when all are done. A
  // long preload says how far it got every 10 s.
  auto progress = clock_type::now() + std::chrono::seconds(10);
  while (st.ready.load() < o.threads) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (clock_type::now() < progress || st.no_reply.load()) continue;
    progress += std::chrono::seconds(10);
    std::fprintf(stderr, "%s: preloading: %llu of %llu keys stored\n", kProg, (unsigned long long)st.preloaded.load(),
                 (unsigned long long)o.keys);
  }
  if (st.no_reply.load()) {  // nothing to measure
    st.go.store(true);
    st.stop.store(true);
    for (auto& th : threads) th.join();
    std::fputs(no_reply, stderr);
    return 1;
  }
  const auto t0 = clock_type::now();
  st.go.store(true);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.duration));
  st.stop.store(true);
  for (auto& th : threads) th.join();
  const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();

  tally all;
  for (auto& t : tallies) {
    all.gets += t.gets;
    all.keys += t.keys;
    all.hits += t.hits;
    all.misses += t.misses;
    all.sets += t.sets;
    all.timeouts += t.timeouts;
    all.errors += t.errors;
    if (all.first_error.empty()) all.first_error = t.first_error;
    all.latency_ns.insert(all.latency_ns.end(), t.latency_ns.begin(), t.latency_ns.end());
  }
  const std::uint64_t ops = all.gets + all.sets;
  const double p50 = ex::percentile(all.latency_ns, 50) / 1000.0, p99 = ex::percentile(all.latency_ns, 99) / 1000.0;

  bool shutdown_ok = true;
  if (o.shutdown) {
    ex::udp_client c(o.addr);
    std::string reply;
    shutdown_ok = c.ok() && c.request("shutdown\r\n", reply, std::chrono::milliseconds(o.timeout_ms)) && reply == "OK\r\n";
    if (!shutdown_ok) note_error(all, "shutdown -> " + (reply.empty() ? std::string("no reply") : reply));
  }

  char line[1024];
  std::snprintf(line, sizeof line,
                "{\"bench\":\"kv\",\"label\":\"%s\",\"server\":\"%s\",\"threads\":%llu,\"keys\":%llu,\"value_size\":%llu,"
                "\"value_sizes\":\"%s\",\"multiget\":%llu,"
                "\"get_ratio\":%.3f,\"seconds\":%.3f,\"ops\":%llu,\"ops_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
                "\"gets\":%llu,\"get_keys\":%llu,\"keys_per_s\":%.1f,\"hits\":%llu,\"misses\":%llu,\"sets\":%llu,\"timeouts\":%llu,\"errors\":%llu}",
                ex::json_escape(o.label).c_str(), ex::json_escape(o.server).c_str(), (unsigned long long)o.threads,
                (unsigned long long)o.keys, (unsigned long long)o.value_size, o.memcslap_sizes ? "memcslap" : "fixed",
                (unsigned long long)o.multiget, o.get_ratio, secs,
                (unsigned long long)ops, ops / secs, p50, p99, (unsigned long long)all.gets, (unsigned long long)all.keys,
                all.keys / secs, (unsigned long long)all.hits, (unsigned long long)all.misses, (unsigned long long)all.sets,
                (unsigned long long)all.timeouts, (unsigned long long)all.errors);
  std::printf("%s\n", line);
  std::printf("%s [%s]: %.0f ops/s, %.0f keys/s, p50 %.1f us, p99 %.1f us (%llu gets of %llu keys, %llu misses; %llu sets; %llu timeouts; %llu wrong replies)\n",
              kProg, o.label.c_str(), ops / secs, all.keys / secs, p50, p99, (unsigned long long)all.gets, (unsigned long long)all.keys,
              (unsigned long long)all.misses, (unsigned long long)all.sets, (unsigned long long)all.timeouts,
              (unsigned long long)all.errors);
  if (!all.first_error.empty()) std::fprintf(stderr, "%s: first wrong reply: %s\n", kProg, all.first_error.c_str());
  // The line asked for is lost: that fails the run too.
  const bool json_lost = !o.json.empty() && !ex::append_line(o.json, line);
  if (json_lost) std::fprintf(stderr, "%s: cannot write %s\n", kProg, o.json.c_str());
  const bool too_many_timeouts = all.timeouts * 100 > ops + all.timeouts;
  if (too_many_timeouts) std::fprintf(stderr, "%s: %llu of %llu requests timed out\n", kProg,
                                      (unsigned long long)all.timeouts, (unsigned long long)(ops + all.timeouts));
  if (ops == 0 && all.timeouts) std::fputs(no_reply, stderr);
  return all.errors || ops == 0 || too_many_timeouts || json_lost ? 1 : 0;
}
