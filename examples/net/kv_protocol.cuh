// memcached's text protocol for the key-value server kernel, the serving
// half: each command kv_parse() (kv_parse.h) reads from a datagram is run
// against the table, and its reply is appended to the datagram's reply,
// framed the way memcached 1.6.18 frames it over UDP (see kv_reply).
//
// Served: get, gets, set, add, replace, append, prepend, cas, delete, incr,
// decr, touch, flush_all, version, verbosity, stats, stats reset, mn,
// quit, shutdown. As in memcached over UDP, quit ends the datagram (what
// follows it is not served) and mn answers MN and the datagram goes on.
// Replies and errors are memcached 1.6's texts; noreply silences every
// reply of its command, errors included.
//
// Called by the 32 lanes of one warp together. Every lane parses the same
// bytes (so all lanes agree on every length and branch without
// broadcasting); lane 0 writes the short texts and the lanes copy values
// together.
#pragma once

#include <genesys.cuh>

#include "common/block_ops.cuh"
#include "common/format.cuh"
#include "net/kv_parse.h"
#include "net/kv_table.cuh"

namespace ex {

constexpr u32 kKvClockStart = 2;              // the server clock's first second (1 is "already expired")
constexpr u32 kKvMaxMessages = 65536;         // a reply's messages: a datagram holds fewer lines and get keys
constexpr int kKvReqsPerEvent = 20;           // memcached's -R default: it sends what it has every 20 commands
constexpr long long kKvRelativeLimit = 2592000;  // 30 days: larger expiry times are absolute

// Counters, named as memcached's "stats" names them.
struct kv_stats {
  u64 requests, cmd_get, get_hits, get_misses, cmd_set, cmd_flush, cmd_touch, touch_hits, touch_misses;
  u64 delete_hits, delete_misses, incr_hits, incr_misses, decr_hits, decr_misses, cas_hits, cas_misses, cas_badval;
  u64 total_items, evictions, error_replies, dropped;
};

// Shared by the host and the server kernel (runtime memory).
struct kv_shared {
  u32 stop;            // 1: "shutdown" or a signal; 2: the socket failed. Groups leave their loop
  u32 alive;           // groups still serving
  u32 now;             // server clock in seconds (the host ticks it, like memcached's current_time)
  u32 allow_shutdown;  // the "shutdown" command is honoured
  u64 start_unix;      // wall-clock second when the clock read kKvClockStart
  u64 cas;             // the last cas unique handed out
  u32 oldest_live;     // flush_all (kv_clock)
  u32 pid;             // for stats
  u64 oldest_cas;
  u64 limit_maxbytes;  // the table's bytes, for stats
  u32 threads;         // receiving groups, for stats
  u32 pad;
  kv_stats stats;
};

// The reply being built; every lane holds the same copy. memcached 1.6
// sends every response as a UDP message of its own (a command's reply; a
// get's, one per key, with END in the last), datagrams 0..total-1 of at
// most 1400 bytes. It sends only at a flush (after a get or mn, every 20
// commands, at the datagram's end) and there, following transmit_udp:
// noreply responses go nowhere, and an empty one (a get's missing key) goes
// out as a lone header (total 0) only when nothing of the flush went before
// it, as the responses after a sent one are finished without a look. So the
// reply is kept as what memcached sends: the bytes, and where each message
// ends.
struct kv_reply {
  char* buf;
  u32 len, cap;
  u32* ends;                // ends[i]: where message i ends (lane 0 writes it)
  u32 messages, max_messages;
  u32 response;             // where the response being built starts
  // memcached has sent the replies up to here: an error that drops what is
  // not sent yet (a get naming a key over 250 bytes) takes back only what follows.
  u32 sent, sent_messages;
  bool first;            // no response of this flush goes out yet: an empty one would
  bool full;             // a reply did not fit: the rest of the datagram is not served
  bool quiet;            // the command being served said noreply
  u64* error_counter;    // counts ERROR / CLIENT_ERROR / SERVER_ERROR replies

  __device__ bool fits(u32 n) const { return len + n <= cap; }
  // Appends text that lane 0 writes.
  __device__ void text(const char* s, u32 n)
  {
    if (quiet) return;
    if (!fits(n)) {
      full = true;
      return;
    }
    if ((threadIdx.x & 31) == 0) put_bytes(buf + len, s, n);
    __syncwarp();
    len += n;
  }
  // A response starts here (memcached's resp_start).
  __device__ void begin() { response = len; }
  // The response is complete: a message, unless memcached would not send it.
  __device__ void finish()
  {
    if (quiet || (len == response && !first)) return;
    first = false;
    if (messages == max_messages) {
      full = true;
      len = response;
      return;
    }
    message();
  }
  // Records a message ending at len.
  __device__ void message()
  {
    if ((threadIdx.x & 31) == 0) ends[messages] = len;
    __syncwarp();
    ++messages;
  }
  // memcached sends what it has.
  __device__ void flush()
  {
    sent = len;
    sent_messages = messages;
    first = true;
  }
  // memcached drops what it has not sent (conn_release_items).
  __device__ void drop_unsent()
  {
    len = sent;
    messages = sent_messages;
    first = true;
  }
};

__device__ inline void count(u64* counter)
{
  if ((threadIdx.x & 31) == 0) atomicAdd(counter, 1ull);
}

__device__ inline void say(kv_reply& out, kv_text t)
{
  u32 n;
  const char* s = kv_text_of(t, n);
  if (kv_text_is_error(t) && !out.quiet) count(out.error_counter);
  out.text(s, n);
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

// A fresh cas unique, the same in every lane.
__device__ inline u64 kv_next_cas(kv_shared& s)
{
  u64 v = 0;
  if ((threadIdx.x & 31) == 0) v = atomicAdd(&s.cas, 1ull) + 1;
  return __shfl_sync(kFullWarp, v, 0);
}

// get/gets <key>...: VALUE blocks for the keys present, then END, a
// response per key as memcached makes them (END goes in the last). The keys
// are walked in the line itself: a get may name any number of them. Returns
// false where memcached stops with an error (and sends nothing then).
__device__ inline bool serve_get(const kv_table& t, kv_shared& s, const char* req, const kv_command& c,
                                 const kv_clock& clk, kv_reply& out)
{
  const bool with_cas = c.op == kv_op_gets;
  kv_span k{0, 0};
  u32 keys = 0, p = c.key.off;
  while (kv_next_key(req, p, c.keys_end, k)) {
    if (keys++) {
      out.finish();
      out.begin();
    }
    const char* key = req + k.off;
    if (k.len > kKvMaxKey) {
      // memcached 1.6.18 drops every reply it has not sent yet: this get's
      // VALUE lines and those of the commands since the last flush.
      out.drop_unsent();
      out.begin();
      say(out, kv_text_bad_format);
      return false;
    }
    count(&s.stats.cmd_get);
    const u32 b = kv_bucket_of(t, key, k.len);
    kv_lock(t, b);
    const int slot = kv_find(t, b, key, k.len, clk);
    bool room = true;
    if (slot >= 0) {
      kv_entry* e = kv_at(t, b, (u32)slot);
      const u32 vlen = e->value_len, flags = e->flags;
      const u64 cas = e->cas;
      const u32 head = 6 + k.len + 1 + decimal_digits(flags) + 1 + decimal_digits(vlen) +
                       (with_cas ? 1 + decimal_digits(cas) : 0) + 2;
      room = out.fits(head + vlen + 2 + 5);  // and END later
      if (room) {
        if ((threadIdx.x & 31) == 0) {
          char* o = out.buf + out.len;
          u32 n = put_bytes(o, "VALUE ", 6);
          n += put_bytes(o + n, key, k.len);
          o[n++] = ' ';
          n += put_decimal(o + n, flags);
          o[n++] = ' ';
          n += put_decimal(o + n, vlen);
          if (with_cas) {
            o[n++] = ' ';
            n += put_decimal(o + n, cas);
          }
          o[n++] = '\r';
          o[n++] = '\n';
          o[head + vlen] = '\r';
          o[head + vlen + 1] = '\n';
          e->last_use = atomicAdd(t.use_clock, 1ull);
        }
        warp_copy(out.buf + out.len + head, kv_value(e), vlen);
        out.len += head + vlen + 2;
        count(&s.stats.get_hits);
      }
    } else {
      count(&s.stats.get_misses);
    }
    kv_unlock(t, b);
    if (!room) {  // memcached's way out of a get that cannot go on, as for a long key
      out.drop_unsent();
      out.begin();
      say(out, kv_text_get_oom);
      return false;
    }
  }
  if (kv_get_end_alone(keys, c.keys_end - (k.off + k.len))) {
    out.finish();
    out.begin();
  }
  say(out, kv_text_end);
  return true;
}

// set, add, replace, append, prepend, cas: the outcome's text.
__device__ inline kv_text serve_store(const kv_table& t, kv_shared& s, const char* req, const kv_command& c,
                                      const kv_clock& clk)
{
  const char* key = req + c.key.off;
  const u32 klen = c.key.len;
  const char* value = req + c.data;
  const u32 b = kv_bucket_of(t, key, klen);
  count(&s.stats.cmd_set);
  kv_lock(t, b);
  const int slot = kv_find(t, b, key, klen, clk);
  kv_text r = kv_text_stored;
  if (c.text == kv_text_too_large) {
    // Refused; a set also drops the old value (memcached: no stale data).
    if (c.op == kv_op_set && slot >= 0 && (threadIdx.x & 31) == 0) kv_at(t, b, (u32)slot)->key_len = 0;
    r = kv_text_too_large;
  } else if (c.op == kv_op_append || c.op == kv_op_prepend) {
    if (slot < 0) {
      r = kv_text_not_stored;
    } else {
      kv_entry* e = kv_at(t, b, (u32)slot);
      const u32 old = e->value_len;
      if ((u64)old + c.bytes > t.max_value) {
        r = kv_text_not_stored;  // memcached: the item for both does not fit
      } else {
        if (c.op == kv_op_append) {
          warp_copy(kv_value(e) + old, value, c.bytes);
        } else {
          warp_shift_up(kv_value(e), old, c.bytes);
          warp_copy(kv_value(e), value, c.bytes);
        }
        const u64 cas = kv_next_cas(s);
        if ((threadIdx.x & 31) == 0) {
          e->value_len = old + c.bytes;
          e->cas = cas;
          e->time = clk.now;
          e->last_use = atomicAdd(t.use_clock, 1ull);
        }
      }
    }
  } else {
    bool store = true;
    if (c.op == kv_op_add && slot >= 0) store = false, r = kv_text_not_stored;
    if (c.op == kv_op_replace && slot < 0) store = false, r = kv_text_not_stored;
    if (c.op == kv_op_cas) {
      if (slot < 0) {
        store = false, r = kv_text_not_found;
        count(&s.stats.cas_misses);
      } else if (c.cas == 0 || kv_at(t, b, (u32)slot)->cas != c.cas) {
        store = false, r = kv_text_exists;
        count(&s.stats.cas_badval);
      } else {
        count(&s.stats.cas_hits);
      }
    }
    if (store) {
      bool evicted = false;
      const u32 at = slot >= 0 ? (u32)slot : kv_victim(t, b, clk, &evicted);
      if (evicted) count(&s.stats.evictions);
      count(&s.stats.total_items);
      kv_fill(kv_at(t, b, at), t, key, klen, value, c.bytes, c.flags, kv_expiry(c.exptime, s, clk.now), kv_next_cas(s),
              clk.now);
    }
  }
  kv_unlock(t, b);
  return r;
}

// incr/decr: the new value's digits go to `digits` (lanes all hold them),
// its length is returned; 0 with `text` set otherwise.
__device__ inline u32 serve_arith(const kv_table& t, kv_shared& s, const char* req, const kv_command& c,
                                  const kv_clock& clk, char* digits, kv_text& text)
{
  const bool incr = c.op == kv_op_incr;
  const char* key = req + c.key.off;
  const u32 b = kv_bucket_of(t, key, c.key.len);
  kv_lock(t, b);
  const int slot = kv_find(t, b, key, c.key.len, clk);
  u32 n = 0;
  text = kv_text_none;
  if (slot < 0) {
    text = kv_text_not_found;
    count(incr ? &s.stats.incr_misses : &s.stats.decr_misses);
  } else {
    kv_entry* e = kv_at(t, b, (u32)slot);
    const u32 vlen = e->value_len;
    // memcached reads the value with its "\r\n" after it: the end is white space.
    u64 v = 0;
    if (vlen == 0 || !kv_safe_strtoull(kv_value(e), vlen, v)) {
      text = kv_text_non_numeric;
    } else {
      count(incr ? &s.stats.incr_hits : &s.stats.decr_hits);
      if (incr) v += c.delta;
      else v = c.delta > v ? 0 : v - c.delta;
      n = put_decimal(digits, v);
      const u64 cas = kv_next_cas(s);
      // In place, padded with spaces to the old length, when the digits fit
      // (memcached's behaviour); else the value becomes just the digits.
      const u32 len = n <= vlen ? vlen : n;
      if ((threadIdx.x & 31) == 0) {
        char* to = kv_value(e);
        for (u32 i = 0; i < len; ++i) to[i] = i < n ? digits[i] : ' ';
        e->value_len = len;
        e->cas = cas;
        e->time = clk.now;
        e->last_use = atomicAdd(t.use_clock, 1ull);
      }
    }
  }
  kv_unlock(t, b);
  return n;
}

__device__ inline kv_text serve_touch(const kv_table& t, kv_shared& s, const char* req, const kv_command& c,
                                      const kv_clock& clk)
{
  const char* key = req + c.key.off;
  const u32 b = kv_bucket_of(t, key, c.key.len);
  count(&s.stats.cmd_touch);
  kv_lock(t, b);
  const int slot = kv_find(t, b, key, c.key.len, clk);
  if (slot >= 0 && (threadIdx.x & 31) == 0) {
    kv_entry* e = kv_at(t, b, (u32)slot);
    e->expires = kv_expiry(c.exptime, s, clk.now);
    e->last_use = atomicAdd(t.use_clock, 1ull);
  }
  kv_unlock(t, b);
  count(slot >= 0 ? &s.stats.touch_hits : &s.stats.touch_misses);
  return slot >= 0 ? kv_text_touched : kv_text_not_found;
}

__device__ inline kv_text serve_delete(const kv_table& t, kv_shared& s, const char* req, const kv_command& c,
                                       const kv_clock& clk)
{
  const char* key = req + c.key.off;
  const u32 b = kv_bucket_of(t, key, c.key.len);
  kv_lock(t, b);
  const int slot = kv_find(t, b, key, c.key.len, clk);
  if (slot >= 0 && (threadIdx.x & 31) == 0) kv_at(t, b, (u32)slot)->key_len = 0;
  kv_unlock(t, b);
  count(slot >= 0 ? &s.stats.delete_hits : &s.stats.delete_misses);
  return slot >= 0 ? kv_text_deleted : kv_text_not_found;
}

// flush_all [delay]: memcached's oldest_live / oldest_cas.
__device__ inline void serve_flush(kv_shared& s, const kv_command& c, kv_clock& clk)
{
  count(&s.stats.cmd_flush);
  const u32 at = c.exptime > 0 ? kv_expiry(c.exptime, s, clk.now) : clk.now;
  clk.oldest_live = at - 1;
  if (clk.oldest_live <= clk.now) clk.oldest_cas = kv_next_cas(s);
  if ((threadIdx.x & 31) == 0) {
    gsys::detail::store_relaxed<gsys::detail::host>(&s.oldest_live, clk.oldest_live);
    if (clk.oldest_live <= clk.now) gsys::detail::store_relaxed<gsys::detail::host>(&s.oldest_cas, clk.oldest_cas);
  }
  __syncwarp();
}

// "STAT <name> <value>\r\n" for the counters that mean here what they mean in memcached.
__device__ inline void serve_stats(kv_shared& s, const kv_clock& clk, kv_reply& out)
{
  struct field {
    const char* name;
    u64 value;
  };
  const kv_stats& st = s.stats;
  const u64 uptime = clk.now;
  const field f[] = {
      {"pid", s.pid},
      {"uptime", uptime},
      {"time", s.start_unix + clk.now - kKvClockStart},
      {"version", 0},
      {"pointer_size", sizeof(void*) * 8},
      {"cmd_get", st.cmd_get},
      {"cmd_set", st.cmd_set},
      {"cmd_flush", st.cmd_flush},
      {"cmd_touch", st.cmd_touch},
      {"get_hits", st.get_hits},
      {"get_misses", st.get_misses},
      {"delete_misses", st.delete_misses},
      {"delete_hits", st.delete_hits},
      {"incr_misses", st.incr_misses},
      {"incr_hits", st.incr_hits},
      {"decr_misses", st.decr_misses},
      {"decr_hits", st.decr_hits},
      {"cas_misses", st.cas_misses},
      {"cas_hits", st.cas_hits},
      {"cas_badval", st.cas_badval},
      {"touch_hits", st.touch_hits},
      {"touch_misses", st.touch_misses},
      {"threads", s.threads},
      {"limit_maxbytes", s.limit_maxbytes},
      {"total_items", st.total_items},
      {"evictions", st.evictions},
  };
  for (const field& x : f) {
    u32 nlen = 0;
    while (x.name[nlen]) ++nlen;
    const bool version = nlen == 7 && x.name[0] == 'v';
    const char kVersion[] = "1.6.18-gsys-kv";
    const u32 need = 5 + nlen + 1 + (version ? sizeof kVersion - 1 : decimal_digits(x.value)) + 2;
    if (!out.fits(need)) {
      out.full = true;
      return;
    }
    if ((threadIdx.x & 31) == 0) {
      char* o = out.buf + out.len;
      u32 n = put_bytes(o, "STAT ", 5);
      n += put_bytes(o + n, x.name, nlen);
      o[n++] = ' ';
      n += version ? put_bytes(o + n, kVersion, sizeof kVersion - 1) : put_decimal(o + n, x.value);
      o[n++] = '\r';
      o[n++] = '\n';
    }
    __syncwarp();
    out.len += need;
  }
  say(out, kv_text_end);
}

// Serves every command of one request datagram's payload into `reply`;
// returns the number of messages, message i ending at ends[i] (kv_reply).
__device__ inline u32 kv_serve(const kv_table& t, kv_shared& s, const char* req, u32 n, char* reply, u32 cap, u32* ends)
{
  // The last bytes and message stay free for the message that says the reply was cut.
  const char cut[] = "SERVER_ERROR out of memory writing response\r\n";
  kv_reply out{reply, 0, cap - (u32)sizeof cut, ends, 0, kKvMaxMessages - 1, 0, 0, 0, true, false, false,
               &s.stats.error_replies};
  kv_clock clk{};
  if ((threadIdx.x & 31) == 0) {
    clk.now = gsys::detail::load_relaxed<gsys::detail::host>(&s.now);
    clk.oldest_live = gsys::detail::load_relaxed<gsys::detail::host>(&s.oldest_live);
    clk.oldest_cas = gsys::detail::load_relaxed<gsys::detail::host>(&s.oldest_cas);
  }
  clk.now = __shfl_sync(kFullWarp, clk.now, 0);
  clk.oldest_live = __shfl_sync(kFullWarp, clk.oldest_live, 0);
  clk.oldest_cas = __shfl_sync(kFullWarp, clk.oldest_cas, 0);

  int budget = kKvReqsPerEvent;  // commands until memcached sends what it has (drive_machine's nreqs)
  for (u32 pos = 0; pos < n && !out.full;) {
    const kv_command c = kv_parse(req, n, pos, t.max_value);
    if (c.op == kv_op_none) {  // an unfinished last line
      if (kv_unfinished_line_closes(req, pos, n)) out.drop_unsent();
      break;
    }
    pos = c.next;
    if (c.op == kv_op_close) {
      out.drop_unsent();
      break;
    }
    out.quiet = c.noreply;
    out.begin();
    if (c.op == kv_op_stop) {  // quit: its response is empty, then memcached sends and stops
      out.finish();
      break;
    }
    count(&s.stats.requests);
    bool flush = false;  // memcached sends what it has after this command
    switch (c.op) {
      case kv_op_reply:
        say(out, c.text);
        flush = c.text == kv_text_mn;
        break;
      case kv_op_get:
      case kv_op_gets: flush = serve_get(t, s, req, c, clk, out); break;
      case kv_op_set:
      case kv_op_add:
      case kv_op_replace:
      case kv_op_append:
      case kv_op_prepend:
      case kv_op_cas: say(out, serve_store(t, s, req, c, clk)); break;
      case kv_op_delete: say(out, serve_delete(t, s, req, c, clk)); break;
      case kv_op_incr:
      case kv_op_decr: {
        char digits[24];
        kv_text text;
        const u32 len = serve_arith(t, s, req, c, clk, digits, text);
        if (len) {
          digits[len] = '\r';
          digits[len + 1] = '\n';
          out.text(digits, len + 2);
        } else {
          say(out, text);
        }
        break;
      }
      case kv_op_touch: say(out, serve_touch(t, s, req, c, clk)); break;
      case kv_op_flush_all:
        serve_flush(s, c, clk);
        say(out, kv_text_ok);
        break;
      case kv_op_version: {
        const char v[] = "VERSION 1.6.18-gsys-kv\r\n";
        out.text(v, sizeof v - 1);
        break;
      }
      case kv_op_verbosity: say(out, kv_text_ok); break;
      case kv_op_stats: serve_stats(s, clk, out); break;
      case kv_op_stats_reset:
        if ((threadIdx.x & 31) == 0) {
          const u64 keep_errors = s.stats.error_replies, keep_dropped = s.stats.dropped;
          s.stats = kv_stats{};
          s.stats.error_replies = keep_errors;
          s.stats.dropped = keep_dropped;
        }
        __syncwarp();
        say(out, kv_text_reset);
        break;
      case kv_op_shutdown:
        if (s.allow_shutdown) {
          say(out, kv_text_ok);
          if ((threadIdx.x & 31) == 0) gsys::detail::store_release<gsys::detail::host>(&s.stop, 1u);
        } else {
          say(out, kv_text_shutdown_disabled);
        }
        break;
      default: break;
    }
    out.finish();
    out.quiet = false;
    if (--budget < 0) {  // memcached sends what it has (or, with nothing, yields) and counts again
      flush = true;
      budget = kKvReqsPerEvent - 1;
    }
    if (flush) out.flush();
  }
  if (out.full) {  // gsys-kv's own limit: said in a message of its own
    out.begin();
    if ((threadIdx.x & 31) == 0) put_bytes(reply + out.len, cut, sizeof cut - 1);
    __syncwarp();
    out.len += sizeof cut - 1;
    out.message();
  }
  return out.messages;
}

}  // namespace ex
