// kv-check: protocol checks for a memcached-style UDP server (gsys-kv, and
// memcached itself for the portable subset). Expected replies come from a
// reference model on the CPU (a std::map) and memcached's protocol texts;
// every mismatch is printed and makes the exit status 1.
//
//   kv-check --server 127.0.0.1:PORT [--max-value N] [--portable] [--shutdown]
//   kv-check --server 127.0.0.1:PORT --fetch KEY --out FILE [--flags N]
//            (writes KEY's value to FILE; exit 1 when missing or flags differ)
//   kv-check --server 127.0.0.1:PORT --stat NAME      (prints a "stats" value)
//   kv-check --server 127.0.0.1:PORT --shutdown-only
#include <getopt.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "net/udp_client.h"

namespace {

using namespace std::chrono_literals;

struct item {
  unsigned flags;
  std::string value;
};

class checker {
 public:
  checker(const std::string& server, std::chrono::milliseconds timeout) : c_(server), timeout_(timeout) {}
  bool ok() const { return c_.ok(); }
  int failures() const { return failures_; }
  int checks() const { return checks_; }

  // Sends `request`; the reply must be `want` exactly. A reply of several
  // responses comes as several messages (one per response, as memcached
  // sends them): they are gathered until the reply ends as `want` does.
  void expect(const std::string& what, const std::string& request, const std::string& want)
  {
    ++checks_;
    std::string got;
    if (!c_.request(request, got, timeout_, want)) {
      fail(what, want, got.empty() ? "<no reply>" : got);
      return;
    }
    if (got != want) fail(what, want, got);
  }

  // Sends raw bytes and expects no reply at all.
  void expect_silence(const std::string& what, const std::string& bytes)
  {
    ++checks_;
    c_.send_raw(bytes);
    std::string got;
    if (c_.receive(c_.last_id(), got, 300ms)) fail(what, "<no reply>", got);
  }

  // The model's replies.
  std::string set(const std::string& key, unsigned flags, const std::string& value, bool noreply = false)
  {
    model_[key] = item{flags, value};
    return noreply ? "" : "STORED\r\n";
  }
  // The raw reply to `request` ("" when none came).
  std::string ask(const std::string& request)
  {
    std::string got;
    return c_.request(request, got, timeout_) ? got : std::string();
  }

  // Expects no reply at all to a framed request (noreply).
  void expect_nothing(const std::string& what, const std::string& request)
  {
    ++checks_;
    std::string got;
    if (c_.request(request, got, 500ms)) fail(what, "<no reply>", got);
  }

  std::string get(const std::vector<std::string>& keys) const
  {
    std::string r;
    for (const auto& k : keys) {
      auto it = model_.find(k);
      if (it == model_.end()) continue;
      r += "VALUE " + k + " " + std::to_string(it->second.flags) + " " + std::to_string(it->second.value.size()) +
           "\r\n" + it->second.value + "\r\n";
    }
    return r + "END\r\n";
  }
  std::string del(const std::string& key) { return model_.erase(key) ? "DELETED\r\n" : "NOT_FOUND\r\n"; }

 private:
  void fail(const std::string& what, const std::string& want, const std::string& got)
  {
    ++failures_;
    std::fprintf(stderr, "FAIL %s\n  want: %s\n  got:  %s\n", what.c_str(), printable(want).c_str(), printable(got).c_str());
  }
  static std::string printable(const std::string& s)
  {
    std::string o;
    for (unsigned char ch : s.substr(0, 300)) {
      if (ch == '\r') o += "\\r";
      else if (ch == '\n') o += "\\n";
      else if (ch < 32 || ch > 126) o += "\\x" + std::string(1, "0123456789abcdef"[ch >> 4]) + "0123456789abcdef"[ch & 15];
      else o += (char)ch;
    }
    return s.size() > 300 ? o + "... (" + std::to_string(s.size()) + " bytes)" : o;
  }

  ex::udp_client c_;
  std::chrono::milliseconds timeout_;
  std::map<std::string, item> model_;
  int failures_ = 0, checks_ = 0;
};

std::string set_cmd(const std::string& key, unsigned flags, const std::string& value, const char* extra = "")
{
  return "set " + key + " " + std::to_string(flags) + " 0 " + std::to_string(value.size()) + extra + "\r\n" + value + "\r\n";
}

std::string filler(std::size_t n, unsigned seed)
{
  std::string s(n, 'a');
  for (std::size_t i = 0; i < n; ++i) s[i] = (char)('a' + (i * 31 + seed) % 26);
  return s;
}

// What memcached answers the same way.
void portable_checks(checker& k, std::size_t big)
{
  k.expect("get of a missing key", "get nothing-here\r\n", k.get({"nothing-here"}));
  k.expect("set", set_cmd("alpha", 0, "one"), k.set("alpha", 0, "one"));
  k.expect("get after set", "get alpha\r\n", k.get({"alpha"}));
  k.expect("set with flags", set_cmd("beta", 42, "two two"), k.set("beta", 42, "two two"));
  k.expect("get keeps flags", "get beta\r\n", k.get({"beta"}));
  k.expect("overwrite", set_cmd("alpha", 7, "uno"), k.set("alpha", 7, "uno"));
  k.expect("get after overwrite", "get alpha\r\n", k.get({"alpha"}));
  k.expect("empty value", set_cmd("empty", 0, ""), k.set("empty", 0, ""));
  k.expect("get empty value", "get empty\r\n", k.get({"empty"}));
  const std::string large = filler(big, 3);
  k.expect("set a value longer than one datagram", set_cmd("large", 1, large), k.set("large", 1, large));
  k.expect("get a reply of several datagrams", "get large\r\n", k.get({"large"}));
  k.expect("delete", "delete beta\r\n", k.del("beta"));
  k.expect("get after delete", "get beta\r\n", k.get({"beta"}));
  k.expect("delete a missing key", "delete beta\r\n", k.del("beta"));
  k.expect("unknown command", "bogus\r\n", "ERROR\r\n");
  k.expect("get without a key", "get\r\n", "ERROR\r\n");
  k.expect("get of a key longer than 250", "get " + std::string(251, 'x') + "\r\n", "CLIENT_ERROR bad command line format\r\n");
  k.expect("still serving after errors", "get alpha\r\n", k.get({"alpha"}));
}

// gsys-kv's own behaviour where memcached's UDP handling keeps state
// between datagrams or is configured differently.
void server_checks(checker& k, std::size_t max_value)
{
  k.expect("several keys in one get", "get alpha missing large alpha\r\n", k.get({"alpha", "missing", "large", "alpha"}));
  // (The model is updated in statement order: operands of + are unsequenced.)
  std::string want = k.set("c1", 1, "x");
  want += k.set("c2", 2, "yy");
  want += k.get({"c1", "c2"});
  k.expect("several commands in one datagram", set_cmd("c1", 1, "x") + set_cmd("c2", 2, "yy") + "get c1 c2\r\n", want);
  want = k.set("quiet", 5, "hush", true);
  want += k.get({"quiet"});
  k.expect("noreply", set_cmd("quiet", 5, "hush", " noreply") + "get quiet\r\n", want);
  k.del("quiet");
  k.expect("delete noreply", "delete quiet noreply\r\nget quiet\r\n", k.get({"quiet"}));
  // The largest value: with a 1-byte key it fills a datagram of 65507 bytes
  // when max_value is the default.
  const std::string most = filler(max_value, 9);
  k.expect("value of the largest size", set_cmd("M", 0, most), k.set("M", 0, most));
  k.expect("get the largest value", "get M\r\n", k.get({"M"}));
  if (max_value >= 4989) {  // memcslap's largest value (issue #15: refused with a 2048-byte limit)
    const std::string slap = filler(4989, 5);
    k.expect("a 4989-byte value", set_cmd("slap", 0, slap), k.set("slap", 0, slap));
    k.expect("get the 4989-byte value", "get slap\r\n", k.get({"slap"}));
  }
  if (max_value + 40 < 65507) {
    k.expect("value one byte too large", set_cmd("toolarge", 0, filler(max_value + 1, 1)),
             "SERVER_ERROR object too large for cache\r\n");
    k.expect("the too-large value was not stored", "get toolarge\r\n", k.get({"toolarge"}));
    k.expect_nothing("too large with noreply: no error either", set_cmd("toolarge", 0, filler(max_value + 1, 1), " noreply"));
  }
  // After a bad command line memcached reads the data line as a command (ERROR).
  k.expect("bad length field", "set k 0 0 abc\r\nv\r\n", "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  k.expect("negative length", "set k 0 0 -1\r\n\r\n", "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  k.expect("flags cut to 32 bits, as memcached does", "set k 4294967296 0 1\r\nv\r\n", k.set("k", 0, "v"));
  k.expect("data shorter than announced", "set k 0 0 5\r\nab\r\n", "CLIENT_ERROR bad data chunk\r\n");
  k.expect("data without its CRLF", "set k 0 0 1\r\nvv\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
  k.expect("too many set arguments", "set k 0 0 1 2 3\r\nv\r\n", "ERROR\r\nERROR\r\n");
  k.expect("key longer than 250 in set", set_cmd(std::string(251, 'k'), 0, "v"),
           "CLIENT_ERROR bad command line format\r\nERROR\r\n");
  // noreply silences errors too (memcached's behaviour; issue #15).
  k.expect_nothing("bad length with noreply", "set k 0 0 abc noreply\r\n");
  k.expect_nothing("bad data chunk with noreply", "set k 0 0 1 noreply\r\nvv");
  k.expect_nothing("bad delete with noreply", "delete k x noreply\r\n");
  k.expect_nothing("bad incr with noreply", "incr k x noreply\r\n");
  k.expect_nothing("add of an existing key with noreply", "add alpha 0 0 1 noreply\r\nv\r\n");
  k.expect("bad delete", "delete a b c\r\n", "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
  k.expect("empty line", "\r\n", "ERROR\r\n");
  k.expect("commands are case sensitive", "GET alpha\r\n", "ERROR\r\n");
  k.expect("bare newlines", "get alpha\n", k.get({"alpha"}));
  k.expect("expired at once (negative exptime)", "set gone 0 -1 1\r\nv\r\nget gone\r\n", "STORED\r\nEND\r\n");
  k.expect("version", "version\r\n", "VERSION 1.6.18-gsys-kv\r\n");
  k.expect_silence("datagram shorter than the frame header", std::string("\x00\x01\x00", 3));
  k.expect_silence("request spread over two datagrams", std::string("\x7f\x01\x00\x00\x00\x02\x00\x00get alpha\r\n", 19));
  k.expect("still serving after dropped frames", "get alpha\r\n", k.get({"alpha"}));

  // Random traffic over a few keys against the model.
  std::mt19937 rng(12345);
  for (int i = 0; i < 300; ++i) {
    const std::string key = "r" + std::to_string(rng() % 20);
    switch (rng() % 3) {
      case 0: {
        const std::string v = filler(rng() % 300, (unsigned)i);
        const unsigned flags = rng() % 1000;
        k.expect("random set " + key, set_cmd(key, flags, v), k.set(key, flags, v));
        break;
      }
      case 1: k.expect("random get " + key, "get " + key + "\r\n", k.get({key})); break;
      default: k.expect("random delete " + key, "delete " + key + "\r\n", k.del(key)); break;
    }
  }
}


// --fetch: the value of `key` into `out`.
int fetch(checker& k, const std::string& key, const std::string& out, long flags)
{
  const std::string r = k.ask("get " + key + "\r\n");
  const std::string head = "VALUE " + key + " ";
  const std::size_t eol = r.find("\r\n");
  if (r.compare(0, head.size(), head) != 0 || eol == std::string::npos) {
    std::fprintf(stderr, "kv-check: %s: no value (reply: %.80s)\n", key.c_str(), r.c_str());
    return 1;
  }
  unsigned long f = 0, bytes = 0;
  if (std::sscanf(r.c_str() + head.size(), "%lu %lu", &f, &bytes) != 2 || r.size() != eol + 2 + bytes + 2 + 5) {
    std::fprintf(stderr, "kv-check: %s: malformed reply\n", key.c_str());
    return 1;
  }
  std::ofstream(out, std::ios::binary).write(r.data() + eol + 2, (std::streamsize)bytes);
  if (flags >= 0 && (long)f != flags) {
    std::fprintf(stderr, "kv-check: %s: flags %lu, expected %ld\n", key.c_str(), f, flags);
    return 1;
  }
  return 0;
}

// --stat: one value of "stats".
int print_stat(checker& k, const std::string& name)
{
  const std::string r = k.ask("stats\r\n");
  const std::string want = "STAT " + name + " ";
  const std::size_t at = r.find(want);
  if (at == std::string::npos) {
    std::fprintf(stderr, "kv-check: no stat %s\n", name.c_str());
    return 1;
  }
  std::printf("%s\n", r.substr(at + want.size(), r.find("\r\n", at) - at - want.size()).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv)
{
  std::string server, fetch_key, out, stat_name;
  std::size_t max_value = 2048;
  long flags = -1;
  bool portable = false, shutdown = false, shutdown_only = false;
  static const option longopts[] = {{"server", required_argument, nullptr, 's'}, {"max-value", required_argument, nullptr, 'm'},
                                    {"portable", no_argument, nullptr, 'p'},     {"shutdown", no_argument, nullptr, 'x'},
                                    {"fetch", required_argument, nullptr, 'f'},  {"out", required_argument, nullptr, 'o'},
                                    {"flags", required_argument, nullptr, 'F'},  {"stat", required_argument, nullptr, 'S'},
                                    {"shutdown-only", no_argument, nullptr, 'X'}, {nullptr, 0, nullptr, 0}};
  for (int ch; (ch = getopt_long(argc, argv, "", longopts, nullptr)) != -1;) {
    switch (ch) {
      case 's': server = optarg; break;
      case 'm': max_value = std::strtoul(optarg, nullptr, 10); break;
      case 'p': portable = true; break;
      case 'x': shutdown = true; break;
      case 'f': fetch_key = optarg; break;
      case 'o': out = optarg; break;
      case 'F': flags = std::strtol(optarg, nullptr, 10); break;
      case 'S': stat_name = optarg; break;
      case 'X': shutdown_only = true; break;
      default: std::fprintf(stderr, "usage: kv-check --server HOST:PORT [--max-value N] [--portable] [--shutdown]\n"); return 2;
    }
  }
  checker k(server, 5s);  // the simulator can be slow under a loaded machine
  if (server.empty() || !k.ok()) {
    std::fprintf(stderr, "kv-check: cannot use server '%s'\n", server.c_str());
    return 2;
  }
  if (!fetch_key.empty()) return fetch(k, fetch_key, out, flags);
  if (!stat_name.empty()) return print_stat(k, stat_name);
  if (shutdown_only) {
    k.expect("shutdown", "shutdown\r\n", "OK\r\n");
    return k.failures() ? 1 : 0;
  }
  portable_checks(k, 3000);
  if (!portable) server_checks(k, max_value);
  if (shutdown) k.expect("shutdown", "shutdown\r\n", "OK\r\n");
  std::printf("kv-check: %d of %d checks passed\n", k.checks() - k.failures(), k.checks());
  return k.failures() ? 1 : 0;
}
