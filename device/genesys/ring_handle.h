// gsys::ring: the handle a kernel receives. A trivially copyable value with
// the ring's geometry already resolved, so a GPU thread never reads the
// header (a PCIe round trip) just to find the slots. The host runtime builds
// it from a ring it validated; it carries no ownership.
#pragma once

#include <genesys/abi.h>

namespace gsys {

struct ring {
  gsys_ring_header* hdr = nullptr;
  gsys_slot* slots = nullptr;
  gsys_u32* bitmap = nullptr;       // one claim word per 32 slots
  gsys_sq_entry* sq = nullptr;
  gsys_u32 nslots = 0;
  gsys_u32 sq_mask = 0;             // sq_entries - 1
  gsys_u64 timeout_ns = 0;          // a call gives up after this long
  gsys_u32 backoff_min_ns = 0;      // first sleep while polling a slot
  gsys_u32 backoff_max_ns = 0;      // longest sleep between polls

  bool valid() const { return hdr != nullptr; }
};

// Fills a handle from a header the host already validated. `device_base` is
// where kernels see the same memory (equal to hdr on the simulator and, with
// unified addressing, usually on the GPU too).
inline ring make_ring_handle(const gsys_ring_header* hdr, void* device_base, gsys_u32 backoff_min_ns,
                             gsys_u32 backoff_max_ns)
{
  char* base = static_cast<char*>(device_base);
  ring r;
  r.hdr = static_cast<gsys_ring_header*>(device_base);
  r.slots = reinterpret_cast<gsys_slot*>(base + hdr->slots_offset);
  r.bitmap = reinterpret_cast<gsys_u32*>(base + hdr->bitmap_offset);
  r.sq = reinterpret_cast<gsys_sq_entry*>(base + hdr->sq_offset);
  r.nslots = hdr->nslots;
  r.sq_mask = hdr->sq_entries - 1;
  r.timeout_ns = hdr->timeout_ns;
  r.backoff_min_ns = backoff_min_ns;
  r.backoff_max_ns = backoff_max_ns;
  return r;
}

}  // namespace gsys
