// libFuzzer harness: gsys-kv's request parser (examples/net/kv_parse.h),
// memcached's text protocol as it arrives in one UDP datagram from anyone.
// The first input byte picks the server's max_value; the rest is the
// datagram's payload, walked command by command the way kv_serve
// (kv_protocol.cuh) walks it. The payload is copied into an allocation of
// exactly its size, so ASan catches a read one byte past the datagram.
//
// Oracle (what kv_parse.h documents, nothing more):
//  - next stays inside the datagram and moves forward; kv_op_none (and only
//    it) means no complete line was left, and then next is the end;
//  - op and text are values of their enums;
//  - a command's key lies inside its own line and holds no space; for the
//    commands that check it (storage, delete, incr/decr, touch) it is at
//    most kKvMaxKey bytes; a get's key list (kv_next_key from key.off to
//    keys_end) stays inside the line and yields space-free words;
//  - a storage command accepted with its data: the data starts right after
//    the line, bytes <= max_value, and data + bytes is followed by "\r\n"
//    with next just past it; refused for size (kv_text_too_large): bytes >
//    max_value and next = min(data + bytes + 2, end);
//  - noreply only where the line's last word is "noreply";
//  - kv_safe_strtoull / strtoul / strtol on every word of every line agree
//    with memcached's safe_strtoull / safe_strtoul / safe_strtol (util.c:
//    libc strtoull/strtoul/strtol on the NUL-terminated token, ERANGE or no
//    digits refused, the byte after the digits white space or the end, a
//    '-' anywhere in the token refusing values >= 2^63), with strtoul and
//    strtol cut to 32 bits.
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "net/kv_parse.h"
#include "report.h"

namespace {

const char* g_req;
ex::u32 g_n;

[[noreturn]] void fail(const char* what, ex::u32 pos)
{
  std::fprintf(report(), "kv_fuzz: %s (command at byte %u of a %u-byte datagram)\n", what, pos, g_n);
  std::abort();
}

bool has_space(ex::u32 off, ex::u32 len)
{
  for (ex::u32 i = 0; i < len; ++i)
    if (g_req[off + i] == ' ') return true;
  return false;
}

// memcached's util.c, on a NUL-terminated token.
bool ref_strtoull(const char* str, std::uint64_t& out)
{
  errno = 0;
  char* end;
  const unsigned long long v = std::strtoull(str, &end, 10);
  if (errno == ERANGE || end == str) return false;
  if (!(std::isspace((unsigned char)*end) || (*end == '\0' && end != str))) return false;
  if ((long long)v < 0 && std::strchr(str, '-')) return false;
  out = v;
  return true;
}

bool ref_strtoul(const char* str, std::uint32_t& out)
{
  errno = 0;
  char* end;
  const unsigned long v = std::strtoul(str, &end, 10);
  if (errno == ERANGE || end == str) return false;
  if (!(std::isspace((unsigned char)*end) || (*end == '\0' && end != str))) return false;
  if ((long)v < 0 && std::strchr(str, '-')) return false;
  out = (std::uint32_t)v;
  return true;
}

bool ref_strtol(const char* str, int& out)
{
  errno = 0;
  char* end;
  const long v = std::strtol(str, &end, 10);
  if (errno == ERANGE || end == str) return false;
  if (!(std::isspace((unsigned char)*end) || (*end == '\0' && end != str))) return false;
  out = (int)(std::uint32_t)(unsigned long)v;
  return true;
}

void check_numbers(ex::u32 off, ex::u32 len, ex::u32 pos)
{
  const std::string tok(g_req + off, len);  // words never hold a NUL (the line is cut at one)
  const char* s = g_req + off;
  ex::u64 a = 0;
  std::uint64_t b = 0;
  const bool ka = ex::kv_safe_strtoull(s, len, a), ra = ref_strtoull(tok.c_str(), b);
  if (ka != ra || (ka && a != b)) fail("kv_safe_strtoull disagrees with memcached's safe_strtoull", pos);
  std::uint32_t c = 0, d = 0;
  const bool kc = ex::kv_safe_strtoul(s, len, c), rc = ref_strtoul(tok.c_str(), d);
  if (kc != rc || (kc && c != d)) fail("kv_safe_strtoul disagrees with memcached's safe_strtoul", pos);
  int e = 0, f = 0;
  const bool ke = ex::kv_safe_strtol(s, len, e), re = ref_strtol(tok.c_str(), f);
  if (ke != re || (ke && e != f)) fail("kv_safe_strtol disagrees with memcached's safe_strtol", pos);
}

void check_command(ex::u32 pos, ex::u32 max_value)
{
  const ex::kv_command c = ex::kv_parse(g_req, g_n, pos, max_value);
  ex::u32 eol = pos;
  while (eol < g_n && g_req[eol] != '\n') ++eol;
  if (c.next > g_n) fail("next past the datagram", pos);
  if (eol == g_n) {
    if (c.op != ex::kv_op_none || c.next != g_n) fail("an unfinished line not reported as kv_op_none at the end", pos);
    return;
  }
  if (c.op == ex::kv_op_none) fail("kv_op_none for a complete line", pos);
  if (c.next <= pos) fail("no progress", pos);
  if (c.op > ex::kv_op_shutdown || c.text >= ex::kv_text_count) fail("op or text outside its enum", pos);
  ex::u32 tlen;
  (void)ex::kv_text_of(c.text, tlen);

  // The line as memcached reads it: "\r" dropped, cut at a NUL.
  ex::u32 end = eol > pos + 1 && g_req[eol - 1] == '\r' ? eol - 1 : eol;
  for (ex::u32 i = pos; i < end; ++i)
    if (g_req[i] == '\0') {
      end = i;
      break;
    }
  ex::u32 last_off = end, last_len = 0;
  for (ex::u32 p = pos; p < end;) {
    while (p < end && g_req[p] == ' ') ++p;
    if (p == end) break;
    const ex::u32 w = p;
    while (p < end && g_req[p] != ' ') ++p;
    last_off = w, last_len = p - w;
    check_numbers(w, p - w, pos);
  }
  if (c.noreply && !(last_len == 7 && std::memcmp(g_req + last_off, "noreply", 7) == 0))
    fail("noreply without \"noreply\" as the line's last word", pos);

  const bool keyed = c.op >= ex::kv_op_get && c.op <= ex::kv_op_touch;
  if (keyed) {
    if (c.key.len == 0 || c.key.off < pos || (std::uint64_t)c.key.off + c.key.len > end) fail("key outside its line", pos);
    if (has_space(c.key.off, c.key.len)) fail("key holds a space", pos);
  }
  if (keyed && c.op != ex::kv_op_get && c.op != ex::kv_op_gets && c.key.len > ex::kKvMaxKey)
    fail("key longer than kKvMaxKey accepted", pos);
  if (c.op == ex::kv_op_get || c.op == ex::kv_op_gets) {
    if (c.keys_end > end || c.key.off >= c.keys_end) fail("get's key list outside its line", pos);
    ex::kv_span k;
    unsigned keys = 0;
    for (ex::u32 p = c.key.off, before = p; ex::kv_next_key(g_req, p, c.keys_end, k); before = p) {
      if (p <= before) fail("kv_next_key made no progress", pos);
      if (k.len == 0 || k.off < c.key.off || (std::uint64_t)k.off + k.len > c.keys_end) fail("get key outside the list", pos);
      if (has_space(k.off, k.len)) fail("get key holds a space", pos);
      if (keys++ == 0 && (k.off != c.key.off || k.len != c.key.len)) fail("get's first key is not key", pos);
    }
    if (keys == 0) fail("get with no key", pos);
  }
  if (c.op >= ex::kv_op_set && c.op <= ex::kv_op_cas) {
    const std::uint64_t after = (std::uint64_t)c.data + c.bytes + 2;
    if (c.data != eol + 1) fail("storage data does not start after the line", pos);
    if (c.text == ex::kv_text_too_large) {
      if (c.bytes <= max_value) fail("refused for size within max_value", pos);
      if (c.next != (after < g_n ? after : g_n)) fail("a refused value's data not skipped exactly", pos);
    } else {
      if (c.text != ex::kv_text_none) fail("storage op with an error text", pos);
      if (c.bytes > max_value) fail("value larger than max_value accepted", pos);
      if (after > g_n || c.next != after) fail("accepted data not inside the datagram", pos);
      if (g_req[c.data + c.bytes] != '\r' || g_req[c.data + c.bytes + 1] != '\n') fail("accepted data without CRLF", pos);
    }
  }
  if (c.op == ex::kv_op_reply && c.text == ex::kv_text_none) fail("a reply with no text", pos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
  if (size == 0 || size > (1u << 20)) return 0;
  static const ex::u32 kMaxValues[8] = {0, 1, 64, 1000, 1u << 20, 0x7ffffffd, 0x7ffffffe, 0xffffffffu};
  const ex::u32 max_value = kMaxValues[data[0] & 7];
  const ex::u32 n = (ex::u32)(size - 1);
  char* req = static_cast<char*>(std::malloc(n ? n : 1));
  if (n) std::memcpy(req, data + 1, n);
  g_req = req;
  g_n = n;
  for (ex::u32 pos = 0; pos < n;) {
    check_command(pos, max_value);
    const ex::kv_command c = ex::kv_parse(req, n, pos, max_value);
    if (c.op == ex::kv_op_none || c.op == ex::kv_op_stop || c.op == ex::kv_op_close) break;
    pos = c.next;
  }
  std::free(req);
  return 0;
}
