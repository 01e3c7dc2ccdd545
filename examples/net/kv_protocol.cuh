// memcached's text protocol for the key-value server kernel: one datagram's
// commands in, the reply bytes out. Supported: get (one or more keys), set,
// delete (with noreply), version, and shutdown (stops the server when the
// host allows it). Errors use memcached's replies: ERROR, CLIENT_ERROR ...,
// SERVER_ERROR object too large for cache.
//
// Called by the 32 lanes of one warp together. Every lane parses the same
// bytes (so all lanes agree on every length and branch without
// broadcasting); lane 0 writes the short texts and the lanes copy values
// together.
#pragma once

#include <genesys.cuh>

#include "common/block_ops.cuh"
#include "common/format.cuh"
#include "net/kv_table.cuh"

namespace ex {

constexpr u32 kKvMaxTokens = 24;              // memcached's MAX_TOKENS
constexpr u32 kKvClockStart = 2;              // the server clock's first second (1 is "already expired")
constexpr long long kKvRelativeLimit = 2592000;  // 30 days: larger expiry times are absolute

struct kv_stats {
  u64 requests, gets, hits, sets, deletes, error_replies, dropped;
};

// Shared by the host and the server kernel (runtime memory).
struct kv_shared {
  u32 stop;            // 1: "shutdown" or a signal; 2: the socket failed. Groups leave their loop
  u32 alive;           // groups still serving
  u32 now;             // server clock in seconds (the host ticks it, like memcached's current_time)
  u32 allow_shutdown;  // the "shutdown" command is honoured
  u64 start_unix;      // wall-clock second when the clock read kKvClockStart
  kv_stats stats;
};

struct kv_token {
  u32 off, len;
};

// The reply being built; every lane holds the same copy.
struct kv_reply {
  char* buf;
  u32 len, cap;
  bool full;             // a reply did not fit: the rest of the datagram is not served
  u64* error_counter;    // counts ERROR / CLIENT_ERROR / SERVER_ERROR replies

  __device__ bool fits(u32 n) const { return len + n <= cap; }
  // Appends text that lane 0 writes.
  __device__ void text(const char* s, u32 n)
  {
    if (!fits(n)) {
      full = true;
      return;
    }
    if ((threadIdx.x & 31) == 0) put_bytes(buf + len, s, n);
    __syncwarp();
    len += n;
  }
};

template <unsigned N>
__device__ inline void say(kv_reply& out, const char (&s)[N])
{
  out.text(s, N - 1);
}

__device__ inline void count(u64* counter)
{
  if ((threadIdx.x & 31) == 0) atomicAdd(counter, 1ull);
}

template <unsigned N>
__device__ inline void say_error(kv_reply& out, const char (&s)[N])
{
  count(out.error_counter);
  out.text(s, N - 1);
}

__device__ inline bool token_is(const char* req, const kv_token& t, const char* word)
{
  u32 i = 0;
  for (; i < t.len; ++i)
    if (!word[i] || req[t.off + i] != word[i]) return false;
  return word[i] == '\0';
}

// memcached's safe_strtoul/strtol for the forms it accepts: digits, at most
// `limit`; `negative_ok` allows a leading '-'.
__device__ inline bool parse_number(const char* req, const kv_token& t, unsigned long long limit, bool negative_ok,
                                    long long& out)
{
  u32 i = 0;
  bool neg = false;
  if (negative_ok && t.len > 1 && req[t.off] == '-') {
    neg = true;
    i = 1;
  }
  if (i == t.len || t.len - i > 19) return false;
  unsigned long long v = 0;
  for (; i < t.len; ++i) {
    const char c = req[t.off + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (unsigned long long)(c - '0');
  }
  if (v > limit) return false;
  out = neg ? -(long long)v : (long long)v;
  return true;
}

// Splits line [from, to) on spaces (runs of spaces make no empty tokens).
__device__ inline u32 tokenize(const char* req, u32 from, u32 to, kv_token* tok)
{
  u32 n = 0;
  for (u32 p = from; p < to && n < kKvMaxTokens;) {
    while (p < to && req[p] == ' ') ++p;
    if (p == to) break;
    const u32 start = p;
    while (p < to && req[p] != ' ') ++p;
    tok[n++] = kv_token{start, p - start};
  }
  return n;
}

// The clock second at which an item stored with memcached `exptime` expires.
__device__ inline u32 kv_expiry(long long exptime, const kv_shared& s, u32 now)
{
  if (exptime < 0) return 1;  // in the past: gone at once
  if (exptime == 0) return 0;
  unsigned long long at;
  if (exptime <= kKvRelativeLimit) at = (unsigned long long)now + (unsigned long long)exptime;
  else if ((unsigned long long)exptime <= s.start_unix) return 1;
  else at = (unsigned long long)exptime - s.start_unix + kKvClockStart;
  return at > 0xffffffffull ? 0xffffffffu : (u32)at;
}

// get <key>...: VALUE blocks for the keys present, then END. The keys are
// walked in the line itself: a get may name any number of them.
__device__ inline void serve_get(const kv_table& t, kv_shared& s, const char* req, u32 from, u32 to, u32 now,
                                 kv_reply& out)
{
  const u32 start = out.len;
  for (u32 p = from;;) {
    while (p < to && req[p] == ' ') ++p;
    if (p == to) break;
    const char* key = req + p;
    u32 klen = 0;
    while (p < to && req[p] != ' ') ++p, ++klen;
    if (klen > kKvMaxKey) {
      out.len = start;
      say_error(out, "CLIENT_ERROR bad command line format\r\n");
      return;
    }
    count(&s.stats.gets);
    const u32 b = kv_bucket_of(t, key, klen);
    kv_lock(t, b);
    const int slot = kv_find(t, b, key, klen, now);
    bool room = true;
    if (slot >= 0) {
      kv_entry* e = kv_at(t, b, (u32)slot);
      const u32 vlen = e->value_len, flags = e->flags;
      const u32 head = 6 + klen + 1 + decimal_digits(flags) + 1 + decimal_digits(vlen) + 2;
      room = out.fits(head + vlen + 2 + 5);  // and END later
      if (room) {
        if ((threadIdx.x & 31) == 0) {
          char* o = out.buf + out.len;
          u32 n = put_bytes(o, "VALUE ", 6);
          n += put_bytes(o + n, key, klen);
          o[n++] = ' ';
          n += put_decimal(o + n, flags);
          o[n++] = ' ';
          n += put_decimal(o + n, vlen);
          o[n++] = '\r';
          o[n++] = '\n';
          o[head + vlen] = '\r';
          o[head + vlen + 1] = '\n';
          e->last_use = atomicAdd(t.use_clock, 1ull);
        }
        warp_copy(out.buf + out.len + head, kv_value(e), vlen);
        out.len += head + vlen + 2;
        count(&s.stats.hits);
      }
    }
    kv_unlock(t, b);
    if (!room) {
      out.len = start;
      say_error(out, "SERVER_ERROR out of memory writing get response\r\n");
      return;
    }
  }
  say(out, "END\r\n");
}

// set <key> <flags> <exptime> <bytes> [noreply]\r\n<data>\r\n. Returns where
// the next command starts, or `end` when the rest cannot be parsed.
__device__ inline u32 serve_set(const kv_table& t, kv_shared& s, const char* req, u32 data, u32 end,
                                const kv_token* tok, u32 ntok, u32 now, kv_reply& out)
{
  long long flags, exptime, bytes;
  const bool noreply = ntok == 6 && token_is(req, tok[5], "noreply");
  if ((ntok != 5 && !noreply) || tok[1].len > kKvMaxKey || !parse_number(req, tok[2], 0xffffffffull, false, flags) ||
      !parse_number(req, tok[3], 0x7fffffffull, true, exptime) || !parse_number(req, tok[4], 0x7ffffffeull, false, bytes)) {
    say_error(out, "CLIENT_ERROR bad command line format\r\n");
    return end;  // where its data ends is unknown
  }
  count(&s.stats.sets);
  const u32 n = (u32)bytes;
  if (data + (u64)n + 2 > end || req[data + n] != '\r' || req[data + n + 1] != '\n') {
    if (n > t.max_value) say_error(out, "SERVER_ERROR object too large for cache\r\n");
    else say_error(out, "CLIENT_ERROR bad data chunk\r\n");
    return end;
  }
  if (n > t.max_value) {
    say_error(out, "SERVER_ERROR object too large for cache\r\n");  // errors are sent even with noreply, as memcached
    return data + n + 2;
  }
  kv_store(t, req + tok[1].off, tok[1].len, req + data, n, (u32)flags, kv_expiry(exptime, s, now), now);
  if (!noreply) say(out, "STORED\r\n");
  return data + n + 2;
}

__device__ inline void serve_delete(const kv_table& t, kv_shared& s, const char* req, const kv_token* tok, u32 ntok,
                                    u32 now, kv_reply& out)
{
  // memcached accepts "delete <key> 0" from old clients, and noreply.
  const bool noreply = ntok == 3 && token_is(req, tok[2], "noreply");
  if (ntok > 3 || (ntok == 3 && !noreply && !token_is(req, tok[2], "0")) || tok[1].len > kKvMaxKey) {
    say_error(out, "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
    return;
  }
  count(&s.stats.deletes);
  const bool found = kv_remove(t, req + tok[1].off, tok[1].len, now);
  if (noreply) return;
  if (found) say(out, "DELETED\r\n");
  else say(out, "NOT_FOUND\r\n");
}

// Serves every command of one request datagram's payload; returns the reply length.
__device__ inline u32 kv_serve(const kv_table& t, kv_shared& s, const char* req, u32 n, char* reply, u32 cap)
{
  // The last bytes stay free for the message that says the reply was cut.
  const char cut[] = "SERVER_ERROR out of memory writing response\r\n";
  kv_reply out{reply, 0, cap - (u32)sizeof cut, false, &s.stats.error_replies};
  u32 now = 0;
  if ((threadIdx.x & 31) == 0) now = gsys::detail::load_relaxed(&s.now);
  now = __shfl_sync(kFullWarp, now, 0);

  kv_token tok[kKvMaxTokens];
  for (u32 pos = 0; pos < n && !out.full;) {
    u32 eol = pos;
    while (eol < n && req[eol] != '\n') ++eol;
    const u32 next = eol < n ? eol + 1 : n;
    const u32 line_end = eol > pos && req[eol - 1] == '\r' ? eol - 1 : eol;
    const u32 ntok = tokenize(req, pos, line_end, tok);
    count(&s.stats.requests);
    if (ntok >= 2 && token_is(req, tok[0], "get")) {
      serve_get(t, s, req, tok[1].off, line_end, now, out);
      pos = next;
    } else if (ntok >= 2 && token_is(req, tok[0], "set")) {
      pos = serve_set(t, s, req, next, n, tok, ntok, now, out);
    } else if (ntok >= 2 && token_is(req, tok[0], "delete")) {
      serve_delete(t, s, req, tok, ntok, now, out);
      pos = next;
    } else if (ntok == 1 && token_is(req, tok[0], "version")) {
      say(out, "VERSION gsys-kv 0.1\r\n");
      pos = next;
    } else if (ntok == 1 && token_is(req, tok[0], "shutdown")) {
      if (s.allow_shutdown) {
        say(out, "OK\r\n");
        if ((threadIdx.x & 31) == 0) gsys::detail::store_release(&s.stop, 1u);
      } else {
        say_error(out, "ERROR: shutdown not enabled\r\n");
      }
      pos = next;
    } else {
      say_error(out, "ERROR\r\n");
      pos = next;
    }
  }
  if (out.full) {
    if ((threadIdx.x & 31) == 0) put_bytes(reply + out.len, cut, sizeof cut - 1);
    __syncwarp();
    out.len += sizeof cut - 1;
  }
  return out.len;
}

}  // namespace ex
