// kv-parse-check: gsys-kv's request parser (examples/net/kv_parse.h) called
// from plain host C++, as a fuzzer would call it: a few exact parses, then
// a million commands cut from random mutations of valid ones, where every
// result must stay inside the datagram and make progress.
//
// Exit status 0 when every check holds, 1 otherwise.
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "net/kv_parse.h"

namespace {

int failures = 0;

void check(bool ok, const char* what, const std::string& req)
{
  if (ok) return;
  if (++failures <= 20) std::fprintf(stderr, "FAIL %s: %.120s\n", what, req.c_str());
}

ex::kv_command parse(const std::string& req, ex::u32 pos = 0, ex::u32 max_value = 1000)
{
  return ex::kv_parse(req.data(), (ex::u32)req.size(), pos, max_value);
}

void exact()
{
  std::string r = "set k 0 0 1\r\nv\r\n";
  ex::kv_command c = parse(r);
  check(c.op == ex::kv_op_set && c.bytes == 1 && c.data == 13 && c.next == 16 && !c.noreply, "set", r);
  r = "cas k 5 -1 2 77 noreply\r\nab\r\n";
  c = parse(r);
  check(c.op == ex::kv_op_cas && c.flags == 5 && c.exptime == -1 && c.cas == 77 && c.noreply, "cas noreply", r);
  r = "set k 4294967296 0 4294967297\r\nv\r\n";  // both cut to 32 bits, as memcached's safe_strto* do
  c = parse(r);
  check(c.op == ex::kv_op_set && c.flags == 0 && c.bytes == 1, "32-bit cut", r);
  r = "set k 0 0 abc noreply\r\n";
  c = parse(r);
  check(c.op == ex::kv_op_reply && c.text == ex::kv_text_bad_format && c.noreply, "noreply silences errors", r);
  r = "set k 0 0 2000\r\n" + std::string(2000, 'x') + "\r\nget k\r\n";
  c = parse(r);
  check(c.op == ex::kv_op_set && c.text == ex::kv_text_too_large && c.next == r.size() - 7, "too large: data skipped", r);
  r = "get a bb  c\r\n";
  c = parse(r);
  ex::kv_span k;
  ex::u32 p = c.key.off, keys = 0;
  while (ex::kv_next_key(r.data(), p, c.keys_end, k)) ++keys;
  check(c.op == ex::kv_op_get && keys == 3, "get keys", r);
  r = "delete k 1\r\n";
  check(parse(r).text == ex::kv_text_delete_usage, "delete usage", r);
  r = "incr k -1\r\n";
  check(parse(r).text == ex::kv_text_bad_delta, "negative delta", r);
  r = "get k";  // no newline yet: nothing to do
  check(parse(r).op == ex::kv_op_none, "unfinished line", r);
  r = "\r\n";
  check(parse(r).op == ex::kv_op_reply && parse(r).text == ex::kv_text_error, "empty line", r);
  // What ends a datagram: quit sends the replies so far, an HTTP request
  // line drops them (memcached's process_quit_command and conn_closing).
  r = "quit\r\n";
  check(parse(r).op == ex::kv_op_stop, "quit", r);
  r = "GET / HTTP/1.1\r\n";
  check(parse(r).op == ex::kv_op_close, "HTTP request line", r);
  r = "get a HTTP/1.0\r\n";
  check(parse(r).op == ex::kv_op_get, "a get naming a key HTTP/1.0", r);
  // An unfinished line: memcached gives up past 2048 bytes unless it is a get.
  auto closes = [](const std::string& req) {
    return ex::kv_unfinished_line_closes(req.data(), 0, (ex::u32)req.size());
  };
  check(!closes(std::string(2048, 'x')), "2048 unfinished bytes wait", "x...");
  check(closes(std::string(2049, 'x')), "2049 unfinished bytes close", "x...");
  check(!closes("get " + std::string(2045, 'x')), "an unfinished get waits", "get x...");
  check(!closes(std::string(100, ' ') + "gets " + std::string(2045, 'x')), "a gets after 100 spaces waits", "gets");
  check(closes(std::string(101, ' ') + "get " + std::string(2045, 'x')), "101 spaces before get close", "get");
  check(closes(std::string(2049, ' ')), "spaces only close", "");
  check(closes("getx " + std::string(2045, 'x')), "getx closes", "getx");
  // END alone: 22 keys in the line's first batch of words, 23 in the next.
  check(ex::kv_get_end_alone(22, 2) && ex::kv_get_end_alone(45, 3) && ex::kv_get_end_alone(68, 2), "END alone", "");
  check(!ex::kv_get_end_alone(22, 1) && !ex::kv_get_end_alone(23, 2) && !ex::kv_get_end_alone(21, 5),
        "END with its key", "");
}

// Random mutations of valid commands: every parse stays in bounds.
void fuzz()
{
  static const char* const seeds[] = {
      "set k 0 0 5\r\nhello\r\n", "get a b c\r\n", "gets k\r\n", "cas k 0 0 1 9\r\nv\r\n", "append k 0 0 2 noreply\r\nab\r\n",
      "incr n 5\r\n", "decr n 18446744073709551615\r\n", "touch k -1\r\n", "delete k 0 noreply\r\n", "flush_all 10\r\n",
      "stats\r\n", "verbosity 1\r\n", "mn\r\n", "quit\r\n", "version\r\n", "bogus HTTP/1.1\r\n"};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    std::string r;
    for (int n = 1 + (int)(rng() % 4); n > 0; --n) r += seeds[rng() % (sizeof seeds / sizeof seeds[0])];
    for (int m = (int)(rng() % 6); m > 0 && !r.empty(); --m) {
      const std::size_t at = rng() % r.size();
      switch (rng() % 4) {
        case 0: r[at] = (char)(rng() % 256); break;
        case 1: r.erase(at, 1 + rng() % 4); break;
        case 2: r.insert(at, 1, " \r\n0-9\t"[rng() % 8]); break;
        default: r.insert(at, std::to_string(rng())); break;
      }
    }
    const ex::u32 n = (ex::u32)r.size();
    for (ex::u32 pos = 0; pos < n;) {
      const ex::kv_command c = parse(r, pos, 64);
      check(c.next <= n, "next within the datagram", r);
      check(c.next > pos || c.op == ex::kv_op_none, "progress", r);
      if (c.op >= ex::kv_op_get) check(c.key.off + c.key.len <= n, "key within the datagram", r);
      if ((c.op == ex::kv_op_get || c.op == ex::kv_op_gets)) check(c.keys_end <= n && c.key.off < c.keys_end, "keys", r);
      if (c.op >= ex::kv_op_set && c.op <= ex::kv_op_cas && c.text == ex::kv_text_none)
        check((unsigned long long)c.data + c.bytes + 2 <= n && c.bytes <= 64 && c.key.len <= ex::kKvMaxKey, "data", r);
      if (c.op == ex::kv_op_none || c.op == ex::kv_op_stop || c.op == ex::kv_op_close || c.next <= pos) break;
      pos = c.next;
    }
  }
}

}  // namespace

int main()
{
  exact();
  fuzz();
  std::printf("kv-parse-check: %d failures\n", failures);
  return failures ? 1 : 0;
}
