// memcached's text protocol, the parsing half: one command of a request
// datagram in, what to do out. A pure function of the bytes (no table, no
// clock, no genesys), compiled for kernels under nvcc and as plain C++
// elsewhere, so host programs (tests, a fuzzer) can call it directly.
//
// It follows memcached 1.6's proto_text.c step by step, because clients see
// its quirks: lines end at "\n" (a "\r" before it is dropped when the line
// has at least two bytes), at most 24 tokens split on spaces only, numbers
// read the way safe_strtoul/safe_strtol read them (leading white space, a
// sign, then truncated to 32 bits: "4294967297" bytes is 1 byte), and
// "noreply" is whatever the last token of a storage, touch, incr/decr,
// delete, flush_all or verbosity line says, so it silences that command's
// errors too. Where memcached would keep a half-received command waiting for
// the next datagram, a datagram here stands alone (see kv_parse).
#pragma once

#include "net/udp_frame.h"  // EX_HOST_DEVICE

namespace ex {

using u32 = unsigned int;
using u64 = unsigned long long;

constexpr u32 kKvMaxKey = 250;         // memcached's KEY_MAX_LENGTH
constexpr u32 kKvMaxTokens = 24;       // memcached's MAX_TOKENS (the last is the rest of the line)

enum kv_op : unsigned char {
  kv_op_none,     // nothing to do or answer: an unfinished last line (memcached waits for more, here it is dropped)
  kv_op_reply,    // answer `text` (an error, or MN) and go on
  kv_op_stop,     // quit: send the replies so far, drop the rest of the datagram
  kv_op_close,    // an HTTP request line: drop the replies not sent yet and the rest of the datagram
  kv_op_get,
  kv_op_gets,
  kv_op_set,
  kv_op_add,
  kv_op_replace,
  kv_op_append,
  kv_op_prepend,
  kv_op_cas,
  kv_op_delete,
  kv_op_incr,
  kv_op_decr,
  kv_op_touch,
  kv_op_flush_all,
  kv_op_version,
  kv_op_stats,
  kv_op_stats_reset,
  kv_op_verbosity,
  kv_op_shutdown,
};

// Fixed reply texts, memcached's words exactly.
enum kv_text : unsigned char {
  kv_text_none,
  kv_text_error,
  kv_text_bad_format,
  kv_text_bad_chunk,
  kv_text_too_large,
  kv_text_bad_exptime,
  kv_text_bad_delta,
  kv_text_delete_usage,
  kv_text_non_numeric,
  kv_text_shutdown_disabled,
  kv_text_get_oom,
  kv_text_mn,
  kv_text_stored,
  kv_text_not_stored,
  kv_text_exists,
  kv_text_not_found,
  kv_text_deleted,
  kv_text_touched,
  kv_text_ok,
  kv_text_end,
  kv_text_reset,
  kv_text_count
};

// The text of t with its CRLF; its length in len.
EX_HOST_DEVICE inline const char* kv_text_of(kv_text t, u32& len)
{
  const char* s = "";
  switch (t) {
    case kv_text_none: s = ""; break;
    case kv_text_error: s = "ERROR\r\n"; break;
    case kv_text_bad_format: s = "CLIENT_ERROR bad command line format\r\n"; break;
    case kv_text_bad_chunk: s = "CLIENT_ERROR bad data chunk\r\n"; break;
    case kv_text_too_large: s = "SERVER_ERROR object too large for cache\r\n"; break;
    case kv_text_bad_exptime: s = "CLIENT_ERROR invalid exptime argument\r\n"; break;
    case kv_text_bad_delta: s = "CLIENT_ERROR invalid numeric delta argument\r\n"; break;
    case kv_text_delete_usage: s = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"; break;
    case kv_text_non_numeric: s = "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"; break;
    case kv_text_shutdown_disabled: s = "ERROR: shutdown not enabled\r\n"; break;
    case kv_text_get_oom: s = "SERVER_ERROR out of memory writing get response\r\n"; break;
    case kv_text_mn: s = "MN\r\n"; break;
    case kv_text_stored: s = "STORED\r\n"; break;
    case kv_text_not_stored: s = "NOT_STORED\r\n"; break;
    case kv_text_exists: s = "EXISTS\r\n"; break;
    case kv_text_not_found: s = "NOT_FOUND\r\n"; break;
    case kv_text_deleted: s = "DELETED\r\n"; break;
    case kv_text_touched: s = "TOUCHED\r\n"; break;
    case kv_text_ok: s = "OK\r\n"; break;
    case kv_text_end: s = "END\r\n"; break;
    case kv_text_reset: s = "RESET\r\n"; break;
    default: s = ""; break;
  }
  len = 0;
  while (s[len]) ++len;
  return s;
}

// Whether a reply text counts as an error reply (for the server's counters).
EX_HOST_DEVICE inline bool kv_text_is_error(kv_text t)
{
  return t >= kv_text_error && t <= kv_text_get_oom;
}

struct kv_span {
  u32 off, len;
};

// One parsed command. Offsets are into the datagram's payload.
struct kv_command {
  kv_op op;
  kv_text text;       // kv_op_reply: what to answer; storage ops: kv_text_too_large when refused for size
  bool noreply;       // answer nothing for this command, errors included
  kv_span key;        // the first key
  u32 keys_end;       // get/gets: the keys are the words of [key.off, keys_end)
  u32 flags;
  int exptime;        // as memcached keeps it (negative: already expired)
  u32 bytes;          // storage: value length
  u32 data;           // storage: where the value starts
  u64 cas;            // cas: the unique value given
  u64 delta;          // incr/decr
  u32 next;           // where the next command starts
};

EX_HOST_DEVICE inline bool kv_is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

EX_HOST_DEVICE inline bool kv_token_is(const char* req, const kv_span& t, const char* word)
{
  u32 i = 0;
  for (; i < t.len; ++i)
    if (!word[i] || req[t.off + i] != word[i]) return false;
  return word[i] == '\0';
}

// strtoull/strtoul (64-bit unsigned long) on [s, s+len): white space, a
// sign, digits. ok is false where they set ERANGE or read no digit, and
// where the byte after the digits inside the range is not white space
// (memcached's safe_* accept trailing white space or the end only).
struct kv_number {
  bool ok, neg, has_minus;
  u64 value;  // as strtoull returns it: negated modulo 2^64 after a '-'
  u64 magnitude;
};

EX_HOST_DEVICE inline kv_number kv_read_number(const char* s, u32 len)
{
  kv_number r{false, false, false, 0, 0};
  for (u32 i = 0; i < len; ++i)
    if (s[i] == '-') r.has_minus = true;
  u32 i = 0;
  while (i < len && kv_is_space(s[i])) ++i;
  if (i < len && (s[i] == '+' || s[i] == '-')) r.neg = s[i++] == '-';
  const u32 first = i;
  bool overflow = false;
  u64 v = 0;
  for (; i < len && s[i] >= '0' && s[i] <= '9'; ++i) {
    const u64 d = (u64)(s[i] - '0');
    if (v > (~0ull - d) / 10) overflow = true;
    else v = v * 10 + d;
  }
  if (i == first || overflow) return r;
  if (i < len && !kv_is_space(s[i])) return r;
  r.ok = true;
  r.magnitude = v;
  r.value = r.neg ? 0 - v : v;
  return r;
}

// safe_strtoull: negative values refused only when they wrap to >= 2^63.
EX_HOST_DEVICE inline bool kv_safe_strtoull(const char* s, u32 len, u64& out)
{
  const kv_number n = kv_read_number(s, len);
  if (!n.ok || ((long long)n.value < 0 && n.has_minus)) return false;
  out = n.value;
  return true;
}

// safe_strtoul: the same on a 64-bit long, then cut to 32 bits.
EX_HOST_DEVICE inline bool kv_safe_strtoul(const char* s, u32 len, u32& out)
{
  u64 v;
  if (!kv_safe_strtoull(s, len, v)) return false;
  out = (u32)v;
  return true;
}

// safe_strtol: strtol on a 64-bit long (ERANGE outside it), cut to 32 bits.
EX_HOST_DEVICE inline bool kv_safe_strtol(const char* s, u32 len, int& out)
{
  const kv_number n = kv_read_number(s, len);
  if (!n.ok) return false;
  if (!n.neg && n.magnitude > 0x7fffffffffffffffull) return false;
  if (n.neg && n.magnitude > 0x8000000000000000ull) return false;
  out = (int)(u32)n.value;
  return true;
}

// memcached's tokenize_command on line [from, to): up to 23 words split on
// single spaces; `more` when the line goes on after the 23rd.
EX_HOST_DEVICE inline u32 kv_tokenize(const char* req, u32 from, u32 to, kv_span* tok, bool& more)
{
  u32 n = 0;
  more = false;
  u32 p = from;
  while (p < to) {
    while (p < to && req[p] == ' ') ++p;
    if (p == to) break;
    if (n == kKvMaxTokens - 1) {
      more = true;
      break;
    }
    const u32 start = p;
    while (p < to && req[p] != ' ') ++p;
    tok[n++] = kv_span{start, p - start};
  }
  return n;
}

// Parses the command at `pos` of the n payload bytes `req`. max_value: the
// largest value the server stores (bigger ones are refused with their data
// skipped, as memcached swallows them).
EX_HOST_DEVICE inline kv_command kv_parse(const char* req, u32 n, u32 pos, u32 max_value)
{
  kv_command c{};
  c.op = kv_op_none;
  c.text = kv_text_none;
  c.next = n;
  u32 eol = pos;
  while (eol < n && req[eol] != '\n') ++eol;
  if (eol == n) return c;  // no complete line left
  c.next = eol + 1;
  u32 end = eol > pos + 1 && req[eol - 1] == '\r' ? eol - 1 : eol;
  for (u32 i = pos; i < end; ++i)  // memcached reads the line as a C string
    if (req[i] == '\0') {
      end = i;
      break;
    }

  kv_span tok[kKvMaxTokens];
  bool more;
  const u32 ntok = kv_tokenize(req, pos, end, tok, more);
  c.op = kv_op_reply;
  c.text = kv_text_error;
  if (ntok == 0 || tok[0].len < 2) return c;
  const kv_span& cmd = tok[0];
  const bool noreply = kv_token_is(req, tok[ntok - 1], "noreply");
  const bool key_too_long = ntok >= 2 && tok[1].len > kKvMaxKey;
  if (ntok >= 2) c.key = tok[1];

  if (cmd.len == 2 && req[cmd.off] == 'm') {
    if (req[cmd.off + 1] == 'n') c.text = kv_text_mn;
    return c;  // the other meta commands are not served: ERROR
  }

  if (kv_token_is(req, cmd, "get") || kv_token_is(req, cmd, "gets")) {
    if (ntok < 2) return c;
    c.op = cmd.len == 3 ? kv_op_get : kv_op_gets;
    c.keys_end = end;
    return c;
  }

  kv_op storage = kv_op_none;
  if (kv_token_is(req, cmd, "set")) storage = kv_op_set;
  else if (kv_token_is(req, cmd, "add")) storage = kv_op_add;
  else if (kv_token_is(req, cmd, "replace")) storage = kv_op_replace;
  else if (kv_token_is(req, cmd, "append")) storage = kv_op_append;
  else if (kv_token_is(req, cmd, "prepend")) storage = kv_op_prepend;
  else if (kv_token_is(req, cmd, "cas")) storage = kv_op_cas;
  if (storage != kv_op_none) {
    const bool is_cas = storage == kv_op_cas;
    if (more || (ntok != (is_cas ? 6u : 5u) && ntok != (is_cas ? 7u : 6u))) return c;  // ERROR, whatever noreply says
    c.noreply = noreply;
    c.text = kv_text_bad_format;
    if (key_too_long) return c;
    int bytes = 0;
    if (!kv_safe_strtoul(req + tok[2].off, tok[2].len, c.flags) ||
        !kv_safe_strtol(req + tok[3].off, tok[3].len, c.exptime) ||
        !kv_safe_strtol(req + tok[4].off, tok[4].len, bytes))
      return c;
    if (is_cas && !kv_safe_strtoull(req + tok[5].off, tok[5].len, c.cas)) return c;
    if (bytes < 0 || bytes > 0x7fffffff - 2) return c;
    c.bytes = (u32)bytes;
    c.data = c.next;
    const u64 after = (u64)c.data + c.bytes + 2;
    if (c.bytes > max_value) {  // refused before the data is read; the data is skipped
      c.op = storage;
      c.text = kv_text_too_large;
      c.next = after < n ? (u32)after : n;
      return c;
    }
    if (after > n) {  // the data is not all here: memcached would wait for it
      c.text = kv_text_bad_chunk;
      c.next = n;
      return c;
    }
    c.next = (u32)after;
    if (req[c.data + c.bytes] != '\r' || req[c.data + c.bytes + 1] != '\n') {
      c.text = kv_text_bad_chunk;
      return c;
    }
    c.op = storage;
    c.text = kv_text_none;
    return c;
  }

  if (kv_token_is(req, cmd, "delete")) {
    if (more || ntok < 2 || ntok > 4) return c;
    if (ntok > 2) {
      const bool hold_is_zero = kv_token_is(req, tok[2], "0");
      c.noreply = noreply;
      if (!((ntok == 3 && (hold_is_zero || noreply)) || (ntok == 4 && hold_is_zero && noreply))) {
        c.text = kv_text_delete_usage;
        return c;
      }
    }
    c.text = kv_text_bad_format;
    if (key_too_long) return c;
    c.op = kv_op_delete;
    c.text = kv_text_none;
    return c;
  }

  const bool incr = kv_token_is(req, cmd, "incr");
  if (incr || kv_token_is(req, cmd, "decr")) {
    if (more || (ntok != 3 && ntok != 4)) return c;
    c.noreply = noreply;
    c.text = kv_text_bad_format;
    if (key_too_long) return c;
    c.text = kv_text_bad_delta;
    if (!kv_safe_strtoull(req + tok[2].off, tok[2].len, c.delta)) return c;
    c.op = incr ? kv_op_incr : kv_op_decr;
    c.text = kv_text_none;
    return c;
  }

  if (kv_token_is(req, cmd, "touch")) {
    if (more || (ntok != 3 && ntok != 4)) return c;
    c.noreply = noreply;
    c.text = kv_text_bad_format;
    if (key_too_long) return c;
    c.text = kv_text_bad_exptime;
    if (!kv_safe_strtol(req + tok[2].off, tok[2].len, c.exptime)) return c;
    c.op = kv_op_touch;
    c.text = kv_text_none;
    return c;
  }

  if (kv_token_is(req, cmd, "flush_all")) {
    if (more || ntok > 3) return c;
    c.noreply = noreply;
    c.exptime = 0;
    if (ntok != (noreply ? 2u : 1u) && !kv_safe_strtol(req + tok[1].off, tok[1].len, c.exptime)) {
      c.text = kv_text_bad_exptime;
      return c;
    }
    c.op = kv_op_flush_all;
    c.text = kv_text_none;
    return c;
  }

  if (kv_token_is(req, cmd, "verbosity")) {
    if (more || (ntok != 2 && ntok != 3)) return c;
    c.noreply = noreply;
    u32 level;
    c.text = kv_text_bad_format;
    if (!kv_safe_strtoul(req + tok[1].off, tok[1].len, level)) return c;
    c.op = kv_op_verbosity;
    c.text = kv_text_none;
    return c;
  }

  c.text = kv_text_none;
  if (kv_token_is(req, cmd, "version")) c.op = kv_op_version;
  else if (kv_token_is(req, cmd, "stats")) {
    if (ntok == 1) c.op = kv_op_stats;
    else if (kv_token_is(req, tok[1], "reset")) c.op = kv_op_stats_reset;
    else c.text = kv_text_error;  // stats settings, items, slabs...: not served
  } else if (kv_token_is(req, cmd, "shutdown")) c.op = kv_op_shutdown;
  else if (kv_token_is(req, cmd, "quit")) c.op = kv_op_stop;
  else {
    const kv_span& last = tok[ntok - 1];
    const bool http = last.len >= 5 && req[last.off] == 'H' && req[last.off + 1] == 'T' && req[last.off + 2] == 'T' &&
                      req[last.off + 3] == 'P' && req[last.off + 4] == '/';
    c.op = http ? kv_op_close : kv_op_reply;  // memcached closes on an HTTP request line
    c.text = kv_text_error;
  }
  return c;
}

// The next key of a get's key list from `p`; false when none is left.
EX_HOST_DEVICE inline bool kv_next_key(const char* req, u32& p, u32 end, kv_span& key)
{
  while (p < end && req[p] == ' ') ++p;
  if (p >= end) return false;
  key.off = p;
  while (p < end && req[p] != ' ') ++p;
  key.len = p - key.off;
  return true;
}

// Whether a get's END goes out as a response of its own. memcached reads a
// get's keys 23 words at a time (tokenize_command: the line's first batch
// is "get" and 22 keys); a batch that ends at a key followed by a space and
// more bytes makes it read on and start a response for the next key. When
// those bytes are only spaces there is no next key, and that response holds
// just END: `keys` keys, the last followed by `trailing` spaces.
EX_HOST_DEVICE inline bool kv_get_end_alone(u32 keys, u32 trailing)
{
  return keys % (kKvMaxTokens - 1) == kKvMaxTokens - 2 && trailing >= 2;
}

// Whether memcached gives up on an unfinished last line (the n - pos bytes
// from pos hold no "\n"): past 2048 bytes it does, unless the line is a get
// or gets after at most 100 spaces (a long key list, try_read_command_ascii),
// and it drops the replies it has not sent with the rest of the datagram.
// Otherwise it sends what it has and waits for the line's end.
EX_HOST_DEVICE inline bool kv_unfinished_line_closes(const char* req, u32 pos, u32 n)
{
  if (n - pos <= 2048) return false;
  u32 p = pos;
  while (p < n && req[p] == ' ') ++p;
  if (p - pos > 100) return true;
  const bool get = n - p >= 4 && kv_token_is(req, kv_span{p, 4}, "get ");
  const bool gets = n - p >= 5 && kv_token_is(req, kv_span{p, 5}, "gets ");
  return !get && !gets;
}

}  // namespace ex
