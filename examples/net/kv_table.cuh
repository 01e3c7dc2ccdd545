// The key-value server's hash table, in memory from runtime::alloc().
//
// Buckets of 32 entries, one per lane: a warp looks a key up by having each
// lane compare one entry and voting (__ballot_sync), so a lookup costs one
// parallel compare instead of a chain walk. A full bucket evicts its least
// recently used entry. Each bucket has a lock word; a warp holds it for the
// whole operation, so readers never see half-written values.
//
// Every entry has room for the largest value (--max-value), so the table
// takes capacity x kv_entry_stride(max_value) bytes.
//
// Every function here is called by the 32 lanes of one warp together.
#pragma once

#include <genesys.cuh>

#include "common/block_ops.cuh"
#include "net/kv_parse.h"

namespace ex {

constexpr u32 kKvKeyArea = 256;
constexpr u32 kKvBucket = 32;        // entries per bucket: one per lane

struct kv_entry {
  u32 key_len;     // 0: empty
  u32 value_len;
  u32 flags;
  u32 expires;     // server clock second when it expires; 0: never
  u64 last_use;    // for eviction
  u64 cas;         // unique per store (gets/cas)
  u32 time;        // clock second of the last store (flush_all with a delay)
  u32 pad;
  char key[kKvKeyArea];
  // value bytes follow
};

struct kv_table {
  char* entries;   // nbuckets * kKvBucket entries of `stride` bytes
  u32* locks;      // one per bucket
  u64* use_clock;  // ticks on every hit and store (LRU order)
  u32 nbuckets;
  u32 stride;      // sizeof(kv_entry) + max_value, rounded up to 8
  u32 max_value;
};

// What decides whether an entry is still there: the clock and the last
// flush_all (memcached's current_time, oldest_live and oldest_cas).
struct kv_clock {
  u32 now;
  u32 oldest_live;  // entries stored at or before this second are flushed once now reaches it; 0: none
  u64 oldest_cas;   // entries with a smaller cas are flushed; 0: none
};

__host__ __device__ inline u32 kv_entry_stride(u32 max_value) { return (u32)((sizeof(kv_entry) + max_value + 7) / 8 * 8); }

__device__ inline kv_entry* kv_at(const kv_table& t, u32 bucket, u32 slot)
{
  return reinterpret_cast<kv_entry*>(t.entries + ((u64)bucket * kKvBucket + slot) * t.stride);
}

__device__ inline char* kv_value(kv_entry* e) { return reinterpret_cast<char*>(e + 1); }

// FNV-1a: cheap and good enough to spread memcached-style keys.
__device__ inline u32 kv_bucket_of(const kv_table& t, const char* key, u32 len)
{
  u64 h = 1469598103934665603ull;
  for (u32 i = 0; i < len; ++i) h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
  return (u32)(h % t.nbuckets);
}

__device__ inline void kv_lock(const kv_table& t, u32 bucket)
{
  if ((threadIdx.x & 31) == 0) {
    spin_pause p;
    for (;;) {
      u32 expected = 0;
      if (gsys::detail::cas_acq_rel<gsys::detail::host>(&t.locks[bucket], expected, 1u)) break;
      p.pause();
    }
  }
  __syncwarp();  // the lanes read the bucket only after lane 0 owns it
}

__device__ inline void kv_unlock(const kv_table& t, u32 bucket)
{
  __syncwarp();  // every lane's writes to the bucket come before the release
  if ((threadIdx.x & 31) == 0) gsys::detail::store_release<gsys::detail::host>(&t.locks[bucket], 0u);
}

__device__ inline bool kv_live(const kv_entry* e, const kv_clock& c)
{
  if (!e->key_len || (e->expires && e->expires <= c.now)) return false;
  if (c.oldest_live && c.oldest_live <= c.now && e->time <= c.oldest_live) return false;
  return !(c.oldest_cas && e->cas < c.oldest_cas);
}

// The slot holding `key` in a locked bucket, or -1.
__device__ inline int kv_find(const kv_table& t, u32 bucket, const char* key, u32 len, const kv_clock& c)
{
  const kv_entry* e = kv_at(t, bucket, threadIdx.x & 31);
  bool same = kv_live(e, c) && e->key_len == len;
  for (u32 i = 0; same && i < len; ++i) same = e->key[i] == key[i];
  const u32 votes = __ballot_sync(kFullWarp, same);
  return votes ? __ffs(votes) - 1 : -1;
}

// A slot to store a new key in a locked bucket: a free or expired one, else
// the least recently used (evicted: *evicted set).
__device__ inline u32 kv_victim(const kv_table& t, u32 bucket, const kv_clock& c, bool* evicted)
{
  const u32 lane = threadIdx.x & 31;
  const kv_entry* e = kv_at(t, bucket, lane);
  const u32 free_slots = __ballot_sync(kFullWarp, !kv_live(e, c));
  *evicted = false;
  if (free_slots) return __ffs(free_slots) - 1;
  u64 best = e->last_use;
  u32 at = lane;
  for (u32 d = 16; d; d >>= 1) {
    const u64 other = __shfl_xor_sync(kFullWarp, best, d);
    const u32 other_at = __shfl_xor_sync(kFullWarp, at, d);
    if (other < best || (other == best && other_at < at)) {
      best = other;
      at = other_at;
    }
  }
  *evicted = true;
  return at;
}

// Lanes copy n bytes together.
__device__ inline void warp_copy(char* to, const char* from, u32 n)
{
  for (u32 i = threadIdx.x & 31; i < n; i += 32) to[i] = from[i];
  __syncwarp();
}

// Moves n bytes at p up by `by` bytes (overlapping): 32 at a time from the end.
__device__ inline void warp_shift_up(char* p, u32 n, u32 by)
{
  for (u32 done = 0; done < n; done += 32) {
    const u32 chunk = n - done < 32 ? n - done : 32;
    const u32 lane = threadIdx.x & 31;
    char c = 0;
    const u32 at = n - done - chunk + lane;
    if (lane < chunk) c = p[at];
    __syncwarp();
    if (lane < chunk) p[at + by] = c;
    __syncwarp();
  }
}

// Writes a whole entry (lane 0 the header, all lanes the bytes).
__device__ inline void kv_fill(kv_entry* e, const kv_table& t, const char* key, u32 klen, const char* value, u32 vlen,
                               u32 flags, u32 expires, u64 cas, u32 now)
{
  warp_copy(e->key, key, klen);
  warp_copy(kv_value(e), value, vlen);
  if ((threadIdx.x & 31) == 0) {
    e->key_len = klen;
    e->value_len = vlen;
    e->flags = flags;
    e->expires = expires;
    e->cas = cas;
    e->time = now;
    e->last_use = atomicAdd(t.use_clock, 1ull);
  }
  __syncwarp();
}

}  // namespace ex
