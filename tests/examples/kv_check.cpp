// kv-check: protocol checks for a memcached-style UDP server (gsys-kv, and
// memcached itself for the portable subset). Expected replies come from a
// reference model on the CPU (a std::map) and memcached's protocol texts;
// every mismatch is printed and makes the exit status 1.
//
//   kv-check --server 127.0.0.1:PORT [--max-value N] [--portable] [--shutdown]
#include <getopt.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
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

  // Sends `request`; the reply must be `want` exactly.
  void expect(const std::string& what, const std::string& request, const std::string& want)
  {
    ++checks_;
    std::string got;
    if (!c_.request(request, got, timeout_)) {
      fail(what, want, "<no reply>");
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
  const std::string most = filler(max_value, 9);
  k.expect("value of the largest size", set_cmd("max", 0, most), k.set("max", 0, most));
  k.expect("get the largest value", "get max\r\n", k.get({"max"}));
  k.expect("value one byte too large", set_cmd("toolarge", 0, filler(max_value + 1, 1)),
           "SERVER_ERROR object too large for cache\r\n");
  k.expect("the too-large value was not stored", "get toolarge\r\n", k.get({"toolarge"}));
  k.expect("bad length field", "set k 0 0 abc\r\nv\r\n", "CLIENT_ERROR bad command line format\r\n");
  k.expect("negative length", "set k 0 0 -1\r\n\r\n", "CLIENT_ERROR bad command line format\r\n");
  k.expect("flags out of range", "set k 4294967296 0 1\r\nv\r\n", "CLIENT_ERROR bad command line format\r\n");
  k.expect("data shorter than announced", "set k 0 0 5\r\nab\r\n", "CLIENT_ERROR bad data chunk\r\n");
  k.expect("data without its CRLF", "set k 0 0 1\r\nvv\r\n", "CLIENT_ERROR bad data chunk\r\n");
  k.expect("too many set arguments", "set k 0 0 1 2 3\r\nv\r\n", "CLIENT_ERROR bad command line format\r\n");
  k.expect("key longer than 250 in set", set_cmd(std::string(251, 'k'), 0, "v"), "CLIENT_ERROR bad command line format\r\n");
  k.expect("bad delete", "delete a b c\r\n", "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
  k.expect("empty line", "\r\n", "ERROR\r\n");
  k.expect("commands are case sensitive", "GET alpha\r\n", "ERROR\r\n");
  k.expect("bare newlines", "get alpha\n", k.get({"alpha"}));
  k.expect("expired at once (negative exptime)", "set gone 0 -1 1\r\nv\r\nget gone\r\n", "STORED\r\nEND\r\n");
  k.expect("version", "version\r\n", "VERSION gsys-kv 0.1\r\n");
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

}  // namespace

int main(int argc, char** argv)
{
  std::string server;
  std::size_t max_value = 2048;
  bool portable = false, shutdown = false;
  static const option longopts[] = {{"server", required_argument, nullptr, 's'}, {"max-value", required_argument, nullptr, 'm'},
                                    {"portable", no_argument, nullptr, 'p'},     {"shutdown", no_argument, nullptr, 'x'},
                                    {nullptr, 0, nullptr, 0}};
  for (int ch; (ch = getopt_long(argc, argv, "", longopts, nullptr)) != -1;) {
    switch (ch) {
      case 's': server = optarg; break;
      case 'm': max_value = std::strtoul(optarg, nullptr, 10); break;
      case 'p': portable = true; break;
      case 'x': shutdown = true; break;
      default: std::fprintf(stderr, "usage: kv-check --server HOST:PORT [--max-value N] [--portable] [--shutdown]\n"); return 2;
    }
  }
  checker k(server, 5s);  // the simulator can be slow under a loaded machine
  if (server.empty() || !k.ok()) {
    std::fprintf(stderr, "kv-check: cannot use server '%s'\n", server.c_str());
    return 2;
  }
  portable_checks(k, 3000);
  if (!portable) server_checks(k, max_value);
  if (shutdown) k.expect("shutdown", "shutdown\r\n", "OK\r\n");
  std::printf("kv-check: %d of %d checks passed\n", k.checks() - k.failures(), k.checks());
  return k.failures() ? 1 : 0;
}
