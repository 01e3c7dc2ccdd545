// libFuzzer harness: the executor's half of the ring protocol
// (include/genesys/ring_exec.h) against ring memory a buggy or hostile GPU
// kernel filled. The input becomes the ring's geometry, its head, the bytes
// of its slots and queue entries, and a sequence of executor calls (pop,
// complete, depth), device-side writes between them, clock steps,
// and writes made *during* a call (another executor or the device racing
// it, injected at the N-th ring access of that call).
//
// The access macros ring_exec.h asks for are defined here, so that every
// ring access is checked as it happens:
//  - it lies inside the ring's host memory, aligned (ASan also guards the
//    allocation, which is exactly the ring's size);
//  - loads touch only sq_head and queue entries (never the header's
//    geometry: the executor keeps its own validated copy; never a slot);
//  - stores touch only ret and state of a slot whose call this executor
//    popped and has not completed, and a CAS only sq_head (the host never
//    writes a word the device owns, nor reads a slot);
//  - one call makes a bounded number of accesses (no hang, whatever the
//    memory holds).
// And against a model of the protocol, for calls nothing raced:
//  - pop returns POPPED only for the entry published at the head (seq =
//    head + 1), with its slot index in range and its request as the entry
//    held, moving the head by one; GARBAGE for such an entry whose index is
//    past the ring (head moved, nothing else touched); SKIPPED only
//    for an entry of a later lap, or a hole older than the timeout with a
//    published entry behind it; EMPTY only when the head entry is unfilled,
//    leaving the head alone;
//  - complete publishes the result with DONE; depth and nonempty agree with the queue.
#include <genesys/abi.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "input_reader.h"
#include "report.h"

namespace {

enum access_kind { kLoad, kStore, kCas };

struct ring_bounds {
  const char* base = nullptr;
  std::size_t bytes = 0;
  std::uint32_t nslots = 0;
  std::uint32_t sq_entries = 0;
};

ring_bounds g_ring;
std::vector<std::uint8_t> g_busy;  // slots whose call this executor popped and has not completed
std::uint64_t g_now_ns = 0;        // the fake CLOCK_MONOTONIC the executor reads

// A write injected during the next call, before its `at`-th ring access.
struct tamper {
  bool armed = false;
  unsigned at = 0;
  std::uint32_t word = 0;  // which word of the ring (see poke())
  std::uint64_t value = 0;
  bool fired = false;
};
tamper g_tamper;
unsigned g_accesses = 0;  // in the current call

// Accesses one call may make: a pop looks at most GSYS_X_POP_TRIES times,
// each time at the head entry and its request, the head, and up to
// GSYS_X_HOLE_PEEK entries.
constexpr unsigned kMaxAccesses = 64 * (8 + 8 + 64) + 64;

[[noreturn]] void fail(const char* what, const void* p)
{
  std::fprintf(report(), "ring_fuzz: %s (offset %td of a %zu-byte ring)\n", what,
               static_cast<const char*>(p) - g_ring.base, g_ring.bytes);
  std::abort();
}

void poke(std::uint32_t word, std::uint64_t value);

void check_access(const void* p, std::size_t size, access_kind kind)
{
  if (++g_accesses > kMaxAccesses) fail("a call made more ring accesses than its loops allow", p);
  if (g_tamper.armed && !g_tamper.fired && g_accesses == g_tamper.at) {
    g_tamper.fired = true;
    poke(g_tamper.word, g_tamper.value);
  }
  const char* c = static_cast<const char*>(p);
  if (c < g_ring.base || c + size > g_ring.base + g_ring.bytes) fail("access outside the ring", p);
  if ((std::uintptr_t)c % size) fail("misaligned ring access", p);
  const std::size_t off = (std::size_t)(c - g_ring.base);
  const std::size_t slots = gsys_ring_slots_offset(), sq = gsys_ring_sq_offset(g_ring.nslots);
  if (off < slots) {
    if (off != GSYS_OFFSETOF(struct gsys_ring_header, sq_head) || size != 8)
      fail("header access other than sq_head", p);
    if (kind == kStore) fail("plain store to sq_head (consumers move it by CAS)", p);
    return;
  }
  if (off < sq) {
    // v2: the host only answers in a slot (its state, and ret if wide); the request
    // came in the queue entry, and a read or CAS here would move the
    // slot's line across the link on every call.
    const std::size_t slot = (off - slots) / GSYS_SLOT_BYTES, in = (off - slots) % GSYS_SLOT_BYTES;
    if (kind != kStore) fail("the executor read or CASed a slot", p);
    if (in != GSYS_OFFSETOF(struct gsys_slot, state) && in != GSYS_OFFSETOF(struct gsys_slot, ret))
      fail("store to a slot word other than state and ret", p);
    if (!g_busy[slot]) fail("store to a slot this executor does not hold", p);
    return;
  }
  if (kind != kLoad) fail("write to a queue entry (the device's)", p);
}

}  // namespace

#define GSYS_X_LOAD(p) (check_access((p), sizeof(*(p)), kLoad), __atomic_load_n((p), __ATOMIC_RELAXED))
#define GSYS_X_LOAD_ACQUIRE(p) (check_access((p), sizeof(*(p)), kLoad), __atomic_load_n((p), __ATOMIC_ACQUIRE))
#define GSYS_X_STORE(p, v) (check_access((p), sizeof(*(p)), kStore), __atomic_store_n((p), (v), __ATOMIC_RELAXED))
#define GSYS_X_STORE_RELEASE(p, v) \
  (check_access((p), sizeof(*(p)), kStore), __atomic_store_n((p), (v), __ATOMIC_RELEASE))
#define GSYS_X_CAS(p, expp, v)                \
  (check_access((p), sizeof(*(p)), kCas),    \
   __atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
#define GSYS_X_NOW() (g_now_ns)
#include <genesys/ring_exec.h>

namespace {


gsys_x_ring g_r;

gsys_slot& slot_at(std::uint32_t i) { return g_r.slots[i]; }
std::uint64_t head() { return __atomic_load_n(&g_r.hdr->sq_head, __ATOMIC_RELAXED); }
std::uint64_t entry_at(std::uint64_t pos)
{
  return __atomic_load_n((std::uint64_t*)&g_r.sq[pos & (g_r.sq_entries - 1)], __ATOMIC_RELAXED);
}

// A write by someone else: the device (slots, entries) or another executor
// (the head). word: 0 = sq_head, then per slot 8 words (state, ret, pad),
// then per queue entry 8 words (seq|slot, nr|flags, arg0..5).
void poke(std::uint32_t word, std::uint64_t value)
{
  const std::uint32_t nslot_words = g_r.nslots * 8;
  word %= 1 + nslot_words + g_r.sq_entries * 8;
  if (word == 0) {
    __atomic_store_n(&g_r.hdr->sq_head, value, __ATOMIC_RELAXED);
  } else if (word <= nslot_words) {
    const std::uint32_t s = (word - 1) / 8, w = (word - 1) % 8;
    std::uint64_t* p = reinterpret_cast<std::uint64_t*>(&slot_at(s));
    // A popped call stays this executor's to complete, whatever the device
    // writes over its slot meanwhile (a protocol error on its side).
    __atomic_store_n(&p[w], value, __ATOMIC_RELAXED);
  } else {
    __atomic_store_n(reinterpret_cast<std::uint64_t*>(g_r.sq) + (word - 1 - nslot_words), value, __ATOMIC_RELAXED);
  }
}

// What a well-behaved device does: mark slot s READY, write the request
// into the entry at pos, publish it.
void publish(std::uint64_t pos, std::uint32_t s, std::uint16_t nr)
{
  __atomic_store_n(&slot_at(s).state, GSYS_SLOT_READY, __ATOMIC_RELAXED);
  gsys_sq_entry& e = g_r.sq[pos & (g_r.sq_entries - 1)];
  e.nr = nr;
  e.flags = 0;
  for (int i = 0; i < GSYS_SLOT_ARGS; ++i) e.arg[i] = pos * 7 + (std::uint64_t)i;
  __atomic_store_n((std::uint64_t*)&e, GSYS_SQ_WORD(pos, s), __ATOMIC_RELEASE);
}

bool end_call()
{
  const bool raced = g_tamper.armed && g_tamper.fired;
  if (g_tamper.fired) g_tamper.armed = false;
  return raced;
}

void model_fail(const char* what)
{
  std::fprintf(report(), "ring_fuzz: protocol model: %s\n", what);
  std::abort();
}

// Pops; a popped request's slot is then this executor's to complete.
// Returns the slot index, or nslots when nothing was popped.
std::uint32_t do_pop(gsys_x_cursor& cur)
{
  const std::uint64_t pos = head();
  const std::uint64_t word = entry_at(pos);
  gsys_sq_entry entry;
  std::memcpy(&entry, &g_r.sq[pos & (g_r.sq_entries - 1)], sizeof entry);
  const gsys_x_cursor before = cur;
  const std::int32_t dif = (std::int32_t)(GSYS_SQ_SEQ(word) - (std::uint32_t)(pos + 1));
  gsys_request q;
  std::memset(&q, 0xa5, sizeof q);
  g_accesses = 0;
  g_tamper.fired = false;
  const int r = gsys_x_pop(&g_r, &cur, &q);
  const bool raced = end_call();
  if (r != GSYS_X_POPPED && r != GSYS_X_EMPTY && r != GSYS_X_SKIPPED && r != GSYS_X_GARBAGE)
    model_fail("pop returned an unknown value");
  if (r == GSYS_X_POPPED && q.slot >= g_r.nslots) model_fail("popped a slot index out of range");
  const std::uint32_t got = r == GSYS_X_POPPED ? q.slot : g_r.nslots;
  if (r == GSYS_X_POPPED) g_busy[q.slot] = 1;
  if (raced) return got;  // someone else moved things mid-call: only the access checks apply
  const std::uint64_t now_head = head();
  switch (r) {
    case GSYS_X_POPPED:
    case GSYS_X_GARBAGE:
      if (dif != 0) model_fail("popped an entry not published for the head's position");
      if (q.slot != GSYS_SQ_SLOT(word)) model_fail("popped slot index is not the entry's");
      if (r == GSYS_X_GARBAGE && q.slot < g_r.nslots) model_fail("refused an index in range");
      if (now_head != pos + 1) model_fail("pop did not move the head by one");
      if (q.nr != entry.nr || q.flags != entry.flags || std::memcmp(q.arg, entry.arg, sizeof q.arg))
        model_fail("the request copy differs from the entry");
      break;
    case GSYS_X_SKIPPED: {
      if (now_head != pos + 1) model_fail("skip did not move the head by one");
      if (dif > 0) break;  // a later lap over an unconsumed entry: lost
      if (dif == 0) model_fail("skipped a published entry");
      // A hole: only after the timeout, with a later entry published.
      if (!before.hole_seen || before.hole_pos != pos || g_now_ns - before.hole_since_ns < g_r.timeout_ns)
        model_fail("skipped a hole before the timeout");
      bool later = false;
      for (std::uint64_t i = 1; i <= GSYS_X_HOLE_PEEK && i < g_r.sq_entries; ++i)
        if (GSYS_SQ_SEQ(entry_at(pos + i)) == (std::uint32_t)(pos + i + 1)) later = true;
      if (!later) model_fail("skipped a hole with nothing published behind it");
      break;
    }
    case GSYS_X_EMPTY:
      if (now_head != pos) model_fail("an empty pop moved the head");
      if (dif >= 0) model_fail("reported empty with an entry at the head to pop or skip");
      break;
  }
  return got;
}

void do_complete(std::uint32_t pick, std::int64_t ret)
{
  std::uint32_t idx = g_r.nslots;
  for (std::uint32_t i = 0; i < g_r.nslots; ++i) {
    const std::uint32_t s = (pick + i) % g_r.nslots;
    if (g_busy[s]) {
      idx = s;
      break;
    }
  }
  if (idx == g_r.nslots) return;  // nothing held
  gsys_request q{};
  q.slot = idx;
  g_accesses = 0;
  g_tamper.fired = false;
  gsys_x_complete(&g_r, &q, ret);
  g_busy[idx] = 0;
  const bool raced = end_call();
  if (raced) return;
  // The result in the state word, or, too wide for it, in ret with DONE_WIDE.
  const gsys_u64 st = slot_at(idx).state;
  const bool published = GSYS_SLOT_RET_FITS(ret) ? st == GSYS_SLOT_DONE_WORD(ret) && GSYS_SLOT_INLINE_RET(st) == ret
                                                 : st == GSYS_SLOT_DONE_WIDE && slot_at(idx).ret == ret;
  if (!published) model_fail("complete did not publish the result with DONE");
}

void do_depth(std::uint64_t max)
{
  g_accesses = 0;
  g_tamper.fired = false;
  const std::uint64_t d = gsys_x_depth(&g_r, max);
  const int ne = gsys_x_nonempty(&g_r);
  const bool raced = end_call();
  if (d > max || d > g_r.sq_entries) model_fail("depth beyond its bound");
  if (raced) return;
  const std::uint64_t pos = head();
  if (ne != (GSYS_SQ_SEQ(entry_at(pos)) == (std::uint32_t)(pos + 1))) model_fail("nonempty disagrees with the head entry");
  for (std::uint64_t i = 0; i < d; ++i)
    if (GSYS_SQ_SEQ(entry_at(pos + i)) != (std::uint32_t)(pos + i + 1)) model_fail("depth counted an unpublished entry");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
  reader in{data, size};
  const std::uint8_t geo = in.u8();
  const std::uint32_t nslots = GSYS_MIN_SLOTS << (geo & 1);
  const std::uint32_t sq_entries = nslots << ((geo >> 1) & 3);
  const std::size_t bytes = gsys_ring_sq_offset(nslots) + (std::size_t)sq_entries * sizeof(gsys_sq_entry);

  // Exactly the ring's size, so ASan's redzone starts where the ring ends.
  char* mem = static_cast<char*>(std::malloc(bytes));
  std::memset(mem, 0, bytes);
  g_ring = {mem, bytes, nslots, sq_entries};
  g_busy.assign(nslots, 0);
  g_now_ns = 1;
  g_tamper = {};

  auto* hdr = reinterpret_cast<gsys_ring_header*>(mem);
  g_r.hdr = hdr;
  g_r.slots = reinterpret_cast<gsys_slot*>(mem + gsys_ring_slots_offset());
  g_r.sq = reinterpret_cast<gsys_sq_entry*>(mem + gsys_ring_sq_offset(nslots));
  g_r.nslots = nslots;
  g_r.sq_entries = sq_entries;
  g_r.timeout_ns = ((std::uint64_t)in.u8() + 1) * 1000;
  // The header's own geometry is garbage on purpose: the executor must not read it.
  hdr->nslots = 0xffffffffu;
  hdr->sq_entries = 0xffffffffu;
  hdr->sq_head = in.u64();

  gsys_x_cursor cursors[2] = {};
  for (unsigned ops = 0; ops < 4096 && !in.empty(); ++ops) {
    const std::uint8_t op = in.u8();
    const unsigned reps = 1 + (op >> 4);
    switch (op & 15) {
      case 0:
      case 1:
        for (unsigned i = 0; i < reps; ++i) do_pop(cursors[op & 1]);
        break;
      case 2:
      case 3: {  // a slot index near the bound, or anything, at the head
        const std::uint64_t h = head();
        const std::uint32_t s = (op & 1) ? in.u32() : in.u8() % (nslots + 2);
        __atomic_store_n((std::uint64_t*)&g_r.sq[h & (sq_entries - 1)], GSYS_SQ_WORD(h, s), __ATOMIC_RELEASE);
        do_pop(cursors[0]);
        break;
      }
      case 4: do_complete(in.u8(), (std::int64_t)in.u64()); break;
      case 5: {  // raw device write between calls
        const std::uint32_t w = in.u32();
        poke(w, in.u64());
        break;
      }
      case 6:
      case 7: {  // well-formed publications from the head on, some positions left as holes
        const std::uint8_t mask = in.u8();
        const std::uint64_t h = head();
        for (unsigned i = 0; i < reps && i < 8; ++i)
          if (!(mask >> i & 1)) publish(h + i + (op & 1) * sq_entries, (std::uint32_t)(h + i) % nslots, (std::uint16_t)i);
        break;
      }
      case 8: g_now_ns += ((std::uint64_t)in.u16() + 1) * 100; break;
      case 9: do_depth(in.u16()); break;
      case 10: {  // a write during the next call, before its N-th ring access
        g_tamper.armed = true;
        g_tamper.at = 1 + in.u8() % 64;
        g_tamper.word = in.u32();
        g_tamper.value = in.u64();
        break;
      }
      case 11: {  // the executor's normal cycle: pop, complete
        for (unsigned i = 0; i < reps; ++i) {
          const std::uint32_t s = do_pop(cursors[0]);
          if (s < nslots) do_complete(s, (std::int64_t)i);
        }
        break;
      }
      case 12: poke(1 + (in.u8() % nslots) * 8, GSYS_SLOT_READY); break;  // a slot READY, unqueued
      default: {  // a published-looking entry with an arbitrary slot index
        const std::uint64_t h = head();
        __atomic_store_n((std::uint64_t*)&g_r.sq[h & (sq_entries - 1)], GSYS_SQ_WORD(h, in.u32()), __ATOMIC_RELEASE);
        break;
      }
    }
  }
  std::free(mem);
  return 0;
}
