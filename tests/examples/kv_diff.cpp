// kv-diff: the same generated request stream to two memcached UDP servers
// (gsys-kv and memcached -U), the replies compared byte for byte.
//
//   kv-diff --server A_HOST:PORT --reference B_HOST:PORT [--seed N] [--steps N]
//           [--max-value N] [--big N]
//
// The stream is deterministic for a seed: hand-written edge cases first
// (every command's errors, noreply on each, numbers memcached reads oddly,
// long keys, oversized values), then random steps over a small key space
// (several commands per datagram, gets of up to 40 keys, values from 0 bytes
// to --big, binary bytes, noreply, expiry times in the past and future),
// and an expiry check after a 2.2 s pause. Every step's datagram ends with
// "mn\r\n", so each server's reply to it ends with "MN\r\n": that is how the
// end of a reply is known without waiting (memcached 1.6 sends each
// response as its own UDP message). A step with an mn of its own (mn does
// not end the datagram) says how many MN replies to wait for. A step whose
// end memcached drops (an HTTP request line, a long unfinished line) is sent
// without the mn and names the reply line it ends with; then 300 ms more
// show that nothing follows.
//
// What legitimately differs and is normalised before comparing, by name:
//   cas-unique  the 4th number of a gets VALUE line (each server's own; a
//               "cas" command is sent with the unique that server gave)
//   version     the text after "VERSION "
//   stats       a STAT ... END block: the reference must have every field
//               name the server gives, values are not compared
// The datagrams are compared too: both servers' replies must be the same
// messages (memcached sends a message per response, and only some of the
// empty ones: see kv_reply in examples/net/kv_protocol.cuh), each framed as
// memcached frames it: datagrams 0..total-1 echoing the request id, all but
// the last of 1400 bytes, an empty message a lone 8-byte header with total
// 0. So a reply matches byte for byte, headers included, where the named
// differences above leave the bytes alone.
//
// Exit status: 0 when every step's replies agree, 1 otherwise (a step
// without a complete reply after a resend counts; three of them end the run),
// 2 on bad usage.
#include <getopt.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/udp_client.h"
#include "net/udp_frame.h"

namespace {

using namespace std::chrono_literals;

std::string printable(const std::string& s, std::size_t limit = 400)
{
  std::string o;
  for (unsigned char ch : s.substr(0, limit)) {
    if (ch == '\r') o += "\\r";
    else if (ch == '\n') o += "\\n";
    else if (ch < 32 || ch > 126) o += "\\x" + std::string(1, "0123456789abcdef"[ch >> 4]) + "0123456789abcdef"[ch & 15];
    else o += (char)ch;
  }
  return s.size() > limit ? o + "... (" + std::to_string(s.size()) + " bytes)" : o;
}

// One server: sends a step, gathers the datagrams of its reply.
class endpoint {
 public:
  endpoint(const std::string& name, const std::string& server) : name_(name), client_(server, 8 << 20) {}
  bool ok() const { return client_.ok(); }
  const std::string& name() const { return name_; }
  std::map<std::string, std::string> cas;  // the last cas unique this server gave per key

  // Sends payload and returns the reply stream up to its `count`th `last`
  // line ("MN\r\n" where the payload ends with "mn\r\n"), false when nothing
  // complete came back (resent once when nothing at all did); `check` gets
  // the datagrams. With `drain`, what comes in the next 300 ms belongs to
  // the reply too.
  bool exchange(const std::string& payload, std::string& reply, ex::reply_check& check, const std::string& last,
                int count, bool drain)
  {
    for (int attempt = 0; attempt < 2; ++attempt) {
      check = ex::reply_check{};
      bool whole = client_.request(payload, reply, 8s, last, &check);
      // The replies up to an mn inside the step are whole messages already:
      // gather the messages after it too.
      for (std::string more; whole && count_lines(reply, last) < count; reply += more)
        whole = client_.receive(client_.last_id(), more, 8s, last, &check);
      if (whole && drain) {
        std::string late;
        client_.receive(client_.last_id(), late, 300ms, "\r\n<never>\r\n", &check);
        reply += late;
      }
      if (whole) return true;
      if (check.any) return false;  // a partial reply: resending could run the commands twice
    }
    return false;
  }

  // `line` lines in a reply (the steps with several MNs keep values free of them).
  static int count_lines(const std::string& r, const std::string& line)
  {
    int n = 0;
    for (std::size_t p = 0; (p = r.find(line, p)) != std::string::npos; p += line.size())
      if (p == 0 || r[p - 1] == '\n') ++n;
    return n;
  }

 private:
  std::string name_;
  ex::udp_client client_;
};

// Replaces "{cas:KEY}" with the unique this server last gave for KEY.
std::string fill_cas(const std::string& step, const endpoint& e)
{
  std::string out;
  for (std::size_t i = 0; i < step.size();) {
    if (step.compare(i, 5, "{cas:") == 0) {
      const std::size_t close = step.find('}', i);
      const std::string key = step.substr(i + 5, close - i - 5);
      auto it = e.cas.find(key);
      out += it == e.cas.end() ? "1" : it->second;
      i = close + 1;
    } else {
      out += step[i++];
    }
  }
  return out;
}

std::vector<std::string> words(const std::string& line)
{
  std::vector<std::string> w;
  std::size_t p = 0;
  while (p < line.size()) {
    while (p < line.size() && line[p] == ' ') ++p;
    const std::size_t s = p;
    while (p < line.size() && line[p] != ' ') ++p;
    if (p > s) w.push_back(line.substr(s, p - s));
  }
  return w;
}

// The reply stream with the named differences taken out; records cas
// uniques and stat names on the way (into cas and stat_names, where given).
std::string normalise(const std::string& r, std::map<std::string, std::string>* cas, std::set<std::string>* stat_names)
{
  std::string out;
  std::size_t p = 0;
  while (p < r.size()) {
    std::size_t eol = r.find("\r\n", p);
    if (eol == std::string::npos) {
      out += r.substr(p);
      break;
    }
    const std::string line = r.substr(p, eol - p);
    p = eol + 2;
    if (line.compare(0, 6, "VALUE ") == 0) {
      const auto w = words(line);
      if (w.size() >= 4) {
        const std::size_t bytes = std::strtoul(w[3].c_str(), nullptr, 10);
        if (w.size() == 5) {
          if (cas) (*cas)[w[1]] = w[4];
          out += "VALUE " + w[1] + " " + w[2] + " " + w[3] + " <cas-unique>\r\n";
        } else {
          out += line + "\r\n";
        }
        out += r.substr(p, bytes + 2);
        p += bytes + 2;
        continue;
      }
    }
    if (line.compare(0, 8, "VERSION ") == 0) {
      out += "VERSION <version>\r\n";
      continue;
    }
    if (line.compare(0, 5, "STAT ") == 0) {
      // The whole block up to END.
      std::size_t q = eol - line.size();
      std::string l = line;
      for (;;) {
        if (l.compare(0, 5, "STAT ") == 0) {
          const auto w = words(l);
          if (stat_names && w.size() >= 2) stat_names->insert(w[1]);
        } else {
          break;
        }
        const std::size_t next = r.find("\r\n", q);
        if (next == std::string::npos) break;
        q = next + 2;
        const std::size_t e2 = r.find("\r\n", q);
        if (e2 == std::string::npos) break;
        l = r.substr(q, e2 - q);
        if (l == "END") {
          q = e2 + 2;
          break;
        }
      }
      p = q;
      out += "<stats>END\r\n";
      continue;
    }
    out += line + "\r\n";
  }
  return out;
}

// A reply's datagrams taken apart into messages, as memcached frames them:
// datagrams 0..total-1 of one response in order, all but the last of
// kUdpDatagram bytes, an empty response a lone header with total 0.
struct framing {
  std::vector<std::string> messages;  // their payloads
  std::string layout;                 // "seq/total:bytes" per datagram, "|" between messages
  std::string error;                  // the first datagram that breaks the rule, described
};

framing frame_messages(const std::vector<std::string>& datagrams)
{
  framing f;
  unsigned next = 0, total = 0;  // the message being read: the sequence number due, of how many
  for (std::size_t i = 0; i < datagrams.size(); ++i) {
    const std::string& d = datagrams[i];
    const ex::udp_frame h = ex::read_frame(reinterpret_cast<const unsigned char*>(d.data()));
    const std::size_t body = d.size() - ex::kUdpHeader;
    const std::string at = std::to_string(h.seq) + "/" + std::to_string(h.total) + ":" + std::to_string(d.size());
    auto bad = [&](const std::string& what) {
      if (f.error.empty()) f.error = "datagram " + std::to_string(i) + " (" + at + "): " + what;
    };
    if (h.reserved) bad("reserved field not 0");
    if (next == total) {  // a new message
      f.layout += (f.layout.empty() ? "" : " | ") + at;
      f.messages.emplace_back();
      next = 0;
      total = h.total;
      if (h.seq != 0) bad("a message that does not start at sequence number 0");
      if (total == 0 && body) bad("total 0 with a payload");
    } else {
      f.layout += " " + at;
      if (h.seq != next || h.total != total)
        bad("sequence number " + std::to_string(next) + " of " + std::to_string(total) + " was due");
    }
    if (total == 0) continue;
    ++next;
    if (next < total && d.size() != ex::kUdpDatagram) bad("not the last of its message, but shorter than 1400 bytes");
    if (body == 0) bad("an empty datagram in a message with a total");
    f.messages.back() += d.substr(ex::kUdpHeader);
  }
  if (next != total) f.error += (f.error.empty() ? "" : "; ") + std::string("the last message is missing datagrams");
  return f;
}

// Both replies are the same messages, but for the named differences.
bool same_messages(const framing& a, const framing& b)
{
  if (a.messages.size() != b.messages.size()) return false;
  for (std::size_t i = 0; i < a.messages.size(); ++i)
    if (normalise(a.messages[i], nullptr, nullptr) != normalise(b.messages[i], nullptr, nullptr)) return false;
  return true;
}

// The generated stream.
struct generator {
  std::mt19937_64 rng;
  std::size_t max_value, big;
  std::vector<std::string> steps;
  std::vector<int> mns;            // per step: the MN replies that end its reply (its own mn commands + 1)
  std::vector<std::string> until;  // per step sent without mn: the line its reply ends with ("" for the others)

  explicit generator(unsigned long long seed, std::size_t max_value_, std::size_t big_)
      : rng(seed), max_value(max_value_), big(big_)
  {
  }

  std::size_t pick(std::size_t n) { return (std::size_t)(rng() % n); }
  bool chance(double p) { return (double)(rng() % 1000000) < p * 1000000; }

  std::string value(std::size_t n, bool binary)
  {
    std::string v(n, 'x');
    for (auto& ch : v) ch = binary ? (char)pick(256) : (char)('a' + pick(26));
    return v;
  }
  std::string key()
  {
    if (chance(0.02)) return std::string(250, 'L');  // the longest key
    return "k" + std::to_string(pick(40));
  }
  std::string storage(const std::string& cmd, const std::string& k, const std::string& v, unsigned long long flags,
                      long long exptime, bool noreply, const std::string& cas = "")
  {
    return cmd + " " + k + " " + std::to_string(flags) + " " + std::to_string(exptime) + " " + std::to_string(v.size()) +
           (cas.empty() ? "" : " " + cas) + (noreply ? " noreply" : "") + "\r\n" + v + "\r\n";
  }

  void add(const std::string& s, int own_mns = 0)
  {
    steps.push_back(s);
    mns.push_back(own_mns + 1);
    until.push_back("");
  }
  // A step sent as it is (memcached drops its end): its reply ends with the
  // line `last`, and nothing may come after that.
  void add_raw(const std::string& s, const std::string& last)
  {
    steps.push_back(s);
    mns.push_back(1);
    until.push_back(last);
  }

  void edge_cases()
  {
    const std::string mv = std::to_string(max_value);
    // Storage commands, their answers and errors.
    add(storage("set", "a", "one", 0, 0, false));
    add("get a\r\n");
    add("gets a\r\n");
    add(storage("add", "a", "two", 0, 0, false));
    add(storage("add", "b", "two", 5, 0, false) + "get b\r\n");
    add(storage("replace", "nope", "x", 0, 0, false));
    add(storage("replace", "a", "uno", 3, 0, false) + "get a\r\n");
    add(storage("append", "a", "+tail", 9, 0, false) + storage("prepend", "a", "head+", 9, 0, false) + "get a\r\n");
    add(storage("append", "nope", "x", 0, 0, false) + storage("prepend", "nope", "x", 0, 0, false));
    add("gets a\r\n");
    add(storage("cas", "a", "swapped", 1, 0, false, "{cas:a}") + "get a\r\n");
    add(storage("cas", "a", "again", 1, 0, false, "{cas:a}"));  // the unique is stale now: EXISTS
    add(storage("cas", "nope", "x", 1, 0, false, "1"));
    add(storage("cas", "a", "zero", 1, 0, false, "0"));
    add("cas a 0 0 1 abc\r\nv\r\n");
    add("cas a 0 0 1\r\nv\r\n");
    add(storage("set", "empty", "", 0, 0, false) + "get empty\r\n" + storage("append", "empty", "", 0, 0, false));
    add(storage("set", "bin", std::string("a\0b\r\nc\n\r", 8), 7, 0, false) + "get bin\r\n");
    add(storage("set", "f", "v", 4294967295ull, 0, false) + "get f\r\n");
    add("set f 4294967296 0 1\r\nv\r\nget f\r\n");     // flags cut to 32 bits
    add("set f 1 0 4294967297\r\nv\r\nget f\r\n");     // length cut to 32 bits
    add("set f -1 0 1\r\nv\r\n");
    add("set f -0 0 1\r\nv\r\nget f\r\n");
    add("set f +5 0 1\r\nv\r\nget f\r\n");
    add("set f 5x 0 1\r\nv\r\n");
    add("set f\t 0 0 1\r\nv\r\n");
    add("set f 0 abc 1\r\nv\r\n");
    add("set f 0 0 -1\r\nv\r\n");
    add("set f 0 0 abc\r\nv\r\n");
    add("set f 0 0 99999999999999999999\r\nv\r\n");
    add("set f 0 0 2147483647\r\nv\r\n");
    add("set f 0 0\r\nv\r\n");
    add("set f 0 0 1 noreply extra\r\nv\r\n");
    add("set f 0 0 1 extra\r\nv\r\nget f\r\n");          // a 6th token that is not noreply is ignored
    add("set f 0 0 1\r\nvv\r\n");                         // bad data chunk, then "\r\n" is an empty command
    add("set f 0 0 1 noreply\r\nvv\r\n");
    add("set f 0 0 3\r\nabcde\r\nget f\r\n");
    add("set " + std::string(251, 'k') + " 0 0 1\r\nv\r\n");
    add("set " + std::string(251, 'k') + " 0 0 1 noreply\r\nv\r\n");
    add("set f 0 0 abc noreply\r\nv\r\n");
    add(storage("set", "big", value(big, false), 0, 0, false) + "get big\r\n");
    // Too large for both (--max-value and memcached -I): refused, the data
    // skipped, and a set drops the old value.
    add(storage("set", "big", value(max_value + 10000, false), 0, 0, false) + "get big\r\n");
    add(storage("set", "big", value(big, false), 0, 0, false) +
        storage("set", "big", value(max_value + 10000, false), 0, 0, true) + "get big\r\n");
    add(storage("add", "big2", value(max_value + 10000, false), 0, 0, false));
    add(storage("set", "app", value(big, false), 0, 0, false) +
        storage("append", "app", value(max_value / 2, false), 0, 0, false) + "get app\r\n");
    add(storage("set", "b1", value(big, true), 2, 0, false) + storage("set", "b2", value(2000, true), 3, 0, false) +
        "get b1 b2 missing b1\r\n");
    // Keys.
    add("get " + std::string(250, 'k') + "\r\n");
    add("get " + std::string(251, 'k') + "\r\n");
    add("get a " + std::string(251, 'k') + "\r\n");
    add("get\r\n");
    add("gets\r\n");
    add("get  a   b  \r\n");
    std::string many = "get";
    for (int i = 0; i < 60; ++i) many += " m" + std::to_string(i % 30);
    add(many + "\r\n");
    // delete.
    add("delete a\r\ndelete a\r\n");
    add(storage("set", "d", "v", 0, 0, false) + "delete d 0\r\n");
    add(storage("set", "d", "v", 0, 0, false) + "delete d noreply\r\nget d\r\n");
    add(storage("set", "d", "v", 0, 0, false) + "delete d 0 noreply\r\nget d\r\n");
    add("delete d 1\r\ndelete d 1 noreply\r\ndelete d 0 0\r\ndelete\r\ndelete a b c d\r\n");
    add("delete " + std::string(251, 'k') + "\r\n");
    add("delete noreply\r\n");
    // incr/decr.
    add(storage("set", "n", "100", 0, 0, false) + "incr n 1\r\ndecr n 2\r\nget n\r\nincr n 18446744073709551615\r\n");
    add(storage("set", "n", "18446744073709551615", 0, 0, false) + "incr n 1\r\nget n\r\n");
    add(storage("set", "n", "5", 0, 0, false) + "decr n 10\r\nincr n 100\r\nget n\r\n");
    add("incr nope 1\r\ndecr nope 1\r\n");
    add(storage("set", "n", "abc", 0, 0, false) + "incr n 1\r\n");
    add(storage("set", "n", "", 0, 0, false) + "incr n 1\r\n");
    add(storage("set", "n", " 12", 0, 0, false) + "incr n 1\r\nget n\r\n");
    add(storage("set", "n", "12 ", 0, 0, false) + "incr n 1\r\nget n\r\n");
    add(storage("set", "n", "-1", 0, 0, false) + "incr n 1\r\n");
    add(storage("set", "n", "7", 0, 0, false) + "incr n -1\r\nincr n abc\r\nincr n 1 noreply\r\nincr n abc noreply\r\nget n\r\n");
    add("incr n\r\nincr\r\nincr n 1 2 3\r\n");
    add("gets n\r\n");
    add("incr n 5\r\n" + storage("cas", "n", "1", 0, 0, false, "{cas:n}"));  // incr changed the unique
    // touch.
    add(storage("set", "t", "v", 0, 0, false) + "touch t 100\r\ntouch nope 1\r\ntouch t abc\r\ntouch t\r\n");
    add("touch t -1\r\nget t\r\n");
    add(storage("set", "t", "v", 0, 0, false) + "touch t 0 noreply\r\ntouch t abc noreply\r\nget t\r\n");
    // Expiry times.
    add(storage("set", "x", "v", 0, -1, false) + "get x\r\n");
    add(storage("set", "x", "v", 0, 1000000000, false) + "get x\r\n");  // an absolute time in 2001
    add(storage("set", "x", "v", 0, (long long)std::time(nullptr) + 1000, false) + "get x\r\n");
    add(storage("set", "x", "v", 0, 2592000, false) + "get x\r\n");
    add("set x 0 4294967295 1\r\nv\r\nget x\r\n");
    // flush_all, version, verbosity, stats, mn, unknown commands.
    add(storage("set", "fl", "v", 0, 0, false) + "flush_all\r\nget fl a b\r\n" + storage("set", "fl", "w", 0, 0, false) +
        "get fl\r\n");
    add("flush_all 0\r\nflush_all noreply\r\nflush_all 0 noreply\r\nflush_all abc\r\nflush_all abc noreply\r\nflush_all -1\r\n");
    add("flush_all 1 2 3\r\n");
    add("version\r\nversion extra words\r\n");
    add("verbosity 1\r\nverbosity\r\nverbosity abc\r\nverbosity 1 noreply\r\nverbosity abc noreply\r\nverbosity 1 2 3\r\n");
    add("stats\r\n");
    // mn answers MN and the datagram goes on (memcached 1.6.18 over UDP).
    add("mn\r\nmn extra\r\n", 2);
    add(storage("set", "m", "v", 0, 0, false) + "mn\r\nget m\r\n", 1);
    add("mn\r\n" + storage("set", "m", "w", 1, 0, false) + "bogus\r\nget m\r\ndelete m\r\n", 1);
    add(storage("set", "m", "v", 0, 0, false) + "get m\r\nmn\r\nget m " + std::string(251, 'k') + "\r\n", 1);
    // A key over 250 bytes drops every reply memcached has not sent yet:
    // its own get's VALUE lines and the replies since the last get or mn.
    const std::string long_key(251, 'k');
    add("get m\r\nget m " + long_key + "\r\n");
    add("version\r\nget m " + long_key + "\r\n");
    add(storage("set", "a", "x", 0, 0, false) + "get a " + long_key + "\r\n");
    add("get m\r\nversion\r\nget " + long_key + "\r\n");
    add("version\r\nget nosuch\r\nversion\r\ndelete nosuch\r\ngets " + long_key + "\r\n");
    add("version\r\nmn\r\nversion\r\nget m " + long_key + " m\r\n", 1);
    framing_cases();
    add("bogus\r\nGET a\r\n\r\nx\r\nbogus noreply\r\n \r\n");
    add("get a\n");
    add("set a 0 0 1\nv\r\nget a\n");
    add(std::string("get a\0b\r\n", 9));
    std::string tokens = "set";
    for (int i = 0; i < 30; ++i) tokens += " t";
    add(tokens + "\r\n");
    add(storage("set", "z", "v", 0, 0, false) + "get z\r\n");
  }

  // How memcached 1.6.18 frames its replies over UDP (kv_reply in
  // kv_protocol.cuh): a message per response, sent at a get, mn, every 20
  // commands and the datagram's end; an empty one (a missing key of a get)
  // only as the first of what is sent together. Not here: quit, after which
  // memcached's UDP worker stops every later datagram at its first flush
  // (close_after_write is never cleared).
  void framing_cases()
  {
    add(storage("set", "fr", "v", 0, 0, false) + "get nosuch1 fr nosuch2\r\nget nosuch1 nosuch2\r\nget nosuch1 fr\r\n");
    add("version\r\nget nosuch1 nosuch2\r\n");
    add("set fq 0 0 1 noreply\r\nv\r\nget nosuch1 fr\r\ndelete nosuch noreply\r\nget nosuch1 nosuch2 fr nosuch3\r\n");
    add("get nosuch1\r\nget fr\r\nget nosuch1 nosuch2\r\nmn\r\nget nosuch1 nosuch2\r\n", 1);
    // Values over one datagram, and replies of exactly 1392 and 1393 bytes.
    add(storage("set", "f3000", value(3000, false), 0, 0, false) + "get f3000 nosuch f3000\r\nget nosuch f3000\r\n");
    for (std::size_t n : {1368, 1369, 1373, 1374})
      add(storage("set", "fe", value(n, false), 0, 0, false) + "get fe\r\nget fe fe\r\n");
    // A get's keys are read 23 words at a time: after a full batch and two
    // spaces, END goes out alone.
    std::string misses21, misses44;
    for (int i = 0; i < 44; ++i) (i < 21 ? misses21 : misses44) += "nosuch" + std::to_string(i) + " ";
    misses44 = misses21 + misses44;
    add("get " + misses21 + "fr  \r\n");
    add("get " + misses21 + "fr \r\n");
    add("get " + misses21 + "fr nosuch  \r\n");
    add("gets " + misses44 + "fr   \r\n");
    // Every 20 commands memcached sends what it has, so a long key drops less.
    std::string versions21, versions25;
    for (int i = 0; i < 25; ++i) (i < 21 ? versions21 : versions25) += "version\r\n";
    versions25 = versions21 + versions25;
    add(versions25 + "get fr " + std::string(251, 'k') + "\r\n");
    add(versions25 + versions25 + "get fr " + std::string(251, 'k') + "\r\n");
    add(versions21 + "get nosuch1 nosuch2\r\n");
    add(versions21.substr(9) + "get nosuch1 nosuch2\r\n");
    // An HTTP request line, or an unfinished line of over 2048 bytes that is
    // not a get: the replies not sent yet and the rest of the datagram are
    // dropped. A shorter one, or a get, waits for its end: the replies go out.
    add_raw("get nosuch1 nosuch2\r\nmn\r\ndelete nosuch\r\nGET / HTTP/1.1\r\nversion\r\nmn\r\n", "MN\r\n");
    add_raw("mn\r\ndelete nosuch\r\n" + std::string(2049, 'x'), "MN\r\n");
    add_raw("mn\r\ndelete nosuch\r\n" + std::string(2048, 'x'), "NOT_FOUND\r\n");
    add_raw("mn\r\ndelete nosuch\r\nget " + std::string(2049, 'x'), "NOT_FOUND\r\n");
    add_raw("mn\r\ndelete nosuch\r\n" + std::string(101, ' ') + "get " + std::string(2049, 'x'), "MN\r\n");
  }

  void random_steps(std::size_t n)
  {
    for (std::size_t i = 0; i < n; ++i) {
      std::string step;
      const std::size_t cmds = 1 + pick(4);
      for (std::size_t j = 0; j < cmds; ++j) step += random_command();
      if (step.size() > 60000) step = random_command();  // one datagram
      add(step);
    }
  }

  std::string random_command()
  {
    const std::string k = key();
    const bool noreply = chance(0.2);
    long long exptime = 0;
    if (chance(0.1)) exptime = chance(0.5) ? -1 : 1000000000;  // expired at once
    else if (chance(0.1)) exptime = 3600;
    std::size_t len = pick(100);
    if (chance(0.1)) len = pick(3000);
    if (chance(0.03)) len = pick(big + 1);
    const bool binary = chance(0.3);
    const unsigned long long flags = chance(0.5) ? 0 : rng() % 100000;
    switch (pick(16)) {
      case 0:
      case 1: return storage("set", k, value(len, binary), flags, exptime, noreply);
      case 2: return storage("add", k, value(len, binary), flags, exptime, noreply);
      case 3: return storage("replace", k, value(len, binary), flags, exptime, noreply);
      case 4: return storage(chance(0.5) ? "append" : "prepend", k, value(pick(50), binary), flags, exptime, noreply);
      case 5: return "gets " + k + "\r\n";
      case 6: return storage("cas", k, value(len, binary), flags, exptime, noreply, chance(0.8) ? "{cas:" + k + "}" : "1");
      case 7:
      case 8: {
        std::string g = chance(0.3) ? "gets" : "get";
        const std::size_t keys = 1 + pick(40);
        for (std::size_t q = 0; q < keys; ++q) g += " " + key();
        return g + "\r\n";
      }
      case 9: return "delete " + k + (noreply ? " noreply" : "") + "\r\n";
      case 10: return storage("set", k, std::to_string(rng() % 1000), 0, 0, false);
      case 11:
        return std::string(chance(0.5) ? "incr " : "decr ") + k + " " + std::to_string(rng() % 1000) +
               (noreply ? " noreply" : "") + "\r\n";
      case 12: return "touch " + k + " " + std::to_string(chance(0.5) ? 3600 : -1) + (noreply ? " noreply" : "") + "\r\n";
      case 13: return "get " + k + "\r\n";
      case 14: {  // a malformed line
        static const char* const bad[] = {"set k", "set k 0 0", "get", "delete", "incr k", "touch k", "cas k 0 0 1",
                                          "add k x 0 1", "replace k 0 x 1", "prepend k 0 0 x", "frobnicate",
                                          "incr k x", "decr k -5", "touch k x", "verbosity x", "flush_all x"};
        return std::string(bad[pick(sizeof bad / sizeof bad[0])]) + (noreply ? " noreply" : "") + "\r\n";
      }
      default: return "get " + k + " " + key() + "\r\n";
    }
  }
};

struct outcome {
  int steps = 0, mismatches = 0, lost = 0;
  bool trace = false;  // print every step
};

// Runs one step against both servers and compares.
void run_step(const std::string& step, endpoint& a, endpoint& b, std::set<std::string>& a_stats,
              std::set<std::string>& b_stats, outcome& o, int mns = 1, const std::string& until = "")
{
  ++o.steps;
  std::string ra, rb;
  ex::reply_check ca, cb;
  const bool raw = !until.empty();
  const std::string tail = raw ? "" : "mn\r\n", last = raw ? until : "MN\r\n";
  const std::string qa = fill_cas(step, a) + tail, qb = fill_cas(step, b) + tail;
  const bool got_a = a.exchange(qa, ra, ca, last, mns, raw), got_b = b.exchange(qb, rb, cb, last, mns, raw);
  if (!got_a || !got_b) {
    ++o.lost;
    std::fprintf(stderr, "NO REPLY from %s to step %d: %s\n", !got_a ? a.name().c_str() : b.name().c_str(), o.steps,
                 printable(step).c_str());
    return;
  }
  const std::string na = normalise(ra, &a.cas, &a_stats), nb = normalise(rb, &b.cas, &b_stats);
  const framing xa = frame_messages(ca.datagrams), xb = frame_messages(cb.datagrams);
  const std::string fa = ca.frame_error.empty() ? xa.error : ca.frame_error;
  const std::string fb = cb.frame_error.empty() ? xb.error : cb.frame_error;
  if (o.trace)
    std::printf("step %d\n  request:   %s\n  %-9s  %s\n  %-9s  %s\n  %-9s  %s\n  %-9s  %s\n", o.steps,
                printable(step, 2000).c_str(), a.name().c_str(), printable(na, 2000).c_str(), b.name().c_str(),
                printable(nb, 2000).c_str(), a.name().c_str(), xa.layout.c_str(), b.name().c_str(), xb.layout.c_str());
  const bool frames = fa.empty() && fb.empty() && same_messages(xa, xb);
  if (na == nb && frames) return;
  if (++o.mismatches > 25) return;
  std::size_t at = 0;
  while (at < na.size() && at < nb.size() && na[at] == nb[at]) ++at;
  if (na == nb) std::fprintf(stderr, "MISMATCH at step %d, in the datagrams\n", o.steps);
  else std::fprintf(stderr, "MISMATCH at step %d, reply byte %zu\n", o.steps, at);
  std::fprintf(stderr, "  request:  %s\n", printable(step).c_str());
  if (!fa.empty()) std::fprintf(stderr, "  %s frames: %s\n", a.name().c_str(), fa.c_str());
  if (!fb.empty()) std::fprintf(stderr, "  %s frames: %s\n", b.name().c_str(), fb.c_str());
  if (na == nb || !same_messages(xa, xb))
    std::fprintf(stderr, "  messages (seq/total:bytes)\n  %-9s %.300s\n  %-9s %.300s\n", a.name().c_str(),
                 xa.layout.c_str(), b.name().c_str(), xb.layout.c_str());
  if (na == nb) return;
  const std::size_t from = at > 60 ? at - 60 : 0;
  std::fprintf(stderr, "  %-9s ...%s\n  %-9s ...%s\n", a.name().c_str(), printable(na.substr(from), 300).c_str(),
               b.name().c_str(), printable(nb.substr(from), 300).c_str());
}

}  // namespace

int main(int argc, char** argv)
{
  std::string server, reference;
  unsigned long long seed = 1;
  std::size_t steps = 400, max_value = 30000, big = 20000;
  bool trace = false;
  static const option longopts[] = {{"server", required_argument, nullptr, 's'},
                                    {"reference", required_argument, nullptr, 'r'},
                                    {"seed", required_argument, nullptr, 'e'},
                                    {"steps", required_argument, nullptr, 'n'},
                                    {"max-value", required_argument, nullptr, 'm'},
                                    {"big", required_argument, nullptr, 'b'},
                                    {"trace", no_argument, nullptr, 't'},
                                    {nullptr, 0, nullptr, 0}};
  for (int ch; (ch = getopt_long(argc, argv, "", longopts, nullptr)) != -1;) {
    switch (ch) {
      case 's': server = optarg; break;
      case 'r': reference = optarg; break;
      case 'e': seed = std::strtoull(optarg, nullptr, 10); break;
      case 'n': steps = std::strtoul(optarg, nullptr, 10); break;
      case 'm': max_value = std::strtoul(optarg, nullptr, 10); break;
      case 'b': big = std::strtoul(optarg, nullptr, 10); break;
      case 't': trace = true; break;
      default:
        std::fprintf(stderr, "usage: kv-diff --server HOST:PORT --reference HOST:PORT [--seed N] [--steps N] "
                             "[--max-value N] [--big N] [--trace]\n");
        return 2;
    }
  }
  endpoint a("gsys-kv", server), b("memcached", reference);
  if (server.empty() || reference.empty() || !a.ok() || !b.ok()) {
    std::fprintf(stderr, "kv-diff: --server and --reference want reachable HOST:PORT\n");
    return 2;
  }
  if (big > max_value) big = max_value;
  generator g(seed, max_value, big);
  g.edge_cases();
  g.random_steps(steps);

  outcome o;
  o.trace = trace;
  std::set<std::string> a_stats, b_stats;
  for (std::size_t i = 0; i < g.steps.size(); ++i) {
    run_step(g.steps[i], a, b, a_stats, b_stats, o, g.mns[i], g.until[i]);
    if (o.lost >= 3) {
      std::fprintf(stderr, "kv-diff: giving up after %d steps without a reply\n", o.lost);
      return 1;
    }
  }
  // Expiry by the clock: 1 s is gone after 2.2 s, 5 s is not.
  run_step("set e1 0 1 1\r\nv\r\nset e5 0 5 1\r\nw\r\ntouch a 1\r\n", a, b, a_stats, b_stats, o);
  std::this_thread::sleep_for(2200ms);
  run_step("get e1 e5 a\r\n", a, b, a_stats, b_stats, o);

  for (const auto& name : a_stats)
    if (!b_stats.count(name)) {
      ++o.mismatches;
      std::fprintf(stderr, "MISMATCH: stats field '%s' is not one of memcached's\n", name.c_str());
    }
  if (a_stats.empty()) {
    ++o.mismatches;
    std::fprintf(stderr, "MISMATCH: no stats from %s\n", a.name().c_str());
  }
  std::printf("kv-diff: %d steps, %d mismatches, %d without a reply (seed %llu)\n", o.steps, o.mismatches, o.lost, seed);
  return o.mismatches || o.lost ? 1 : 0;
}
