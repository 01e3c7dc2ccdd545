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
  // The staging arena (device/genesys/staging.h): chunks for buffers the host
  // cannot reach. No arena: staging_chunks == 0.
  char* staging = nullptr;          // chunk 0, as kernels address it
  gsys_u64 staging_host = 0;        // chunk 0, as the executor addresses it
  gsys_u32* staging_bitmap = nullptr;  // one claim bit per chunk, in the arena
  gsys_u32 staging_chunks = 0;
  gsys_u32 staging_chunk_bytes = 0;

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

// Adds a staging arena to a handle. `bitmap` (device address) holds one bit
// per chunk, bits past `chunks` set for good; the chunks follow at
// `chunks_device` (kernels) and `chunks_host` (requests to the executor).
inline void attach_staging(ring& r, gsys_u32* bitmap, void* chunks_device, const void* chunks_host, gsys_u32 chunks,
                           gsys_u32 chunk_bytes)
{
  r.staging = static_cast<char*>(chunks_device);
  r.staging_host = (gsys_u64)(__UINTPTR_TYPE__)chunks_host;
  r.staging_bitmap = bitmap;
  r.staging_chunks = chunks;
  r.staging_chunk_bytes = chunk_bytes;
}

}  // namespace gsys
