// gsys::ring: the handle a kernel receives. A trivially copyable value with
// the ring's geometry already resolved, so a GPU thread never reads the
// header (a PCIe round trip) just to find the slots. The host runtime builds
// it from a ring it validated; it carries no ownership.
//
// Where each part lives (protocol v2, abi.h): slots, queue entries and the
// staging chunks in host memory (the device stores requests there and polls
// results); the claim, pending and staging-claim words, the queue's tail and
// the grid state in device memory (only the device read-modify-writes them).
#pragma once

// The device library and the runtime are C++20; say so before anything else
// fails (the include stops the compiler: #error alone lets it go on).
#if !defined(__cplusplus) || __cplusplus < 202002L
#error "genesys needs C++20 (-std=c++20)"
#include <genesys-needs-c++20>
#endif

#include <genesys/abi.h>

#if defined(__CUDACC__)
#define GSYS_RING_HOST_DEVICE __host__ __device__
#else
#define GSYS_RING_HOST_DEVICE
#endif

namespace gsys {

// Per-launch state of grid-granularity calls, in device memory, zeroed by
// gsys::launch(..., gsys::cooperative{}, ...) for each launch, so no call
// inherits what an earlier launch or a timed-out call left behind.
struct grid_state {
  gsys_u64 round;         // ticket elections won so far (CAS round -> round + 1)
  gsys_u64 arrive;        // barrier arrivals; reset by the last arriver
  gsys_u64 gen;           // completed grid barriers
  gsys_s64 ret[2];        // result, indexed by the barrier's parity
  gsys_u64 stamp[2];      // barrier index + 1 once ret[] is written
  gsys_u32 broken;        // a grid call of this launch timed out (the grid is out of step):
                          // 1 + the rank of the block that found it so (group.h grid_gave_up)
  gsys_u32 pad;
  // then: gsys_u64 calls[blocks], each block's count of ticket elections
};

struct ring {
  gsys_ring_header* hdr = nullptr;  // host memory; device code never touches it
  gsys_slot* slots = nullptr;       // host memory
  gsys_sq_entry* sq = nullptr;      // host memory
  gsys_ring_device* dev = nullptr;  // device memory: the tail and the counters
  gsys_u32* claim = nullptr;        // device memory: one claim word per 32 slots
  gsys_u32* pending = nullptr;      // device memory: slots left for the host to finish
  gsys_u32* slot_chunk = nullptr;   // device memory: staging chunk quarantined with a slot
  gsys_u32 nslots = 0;
  gsys_u32 sq_mask = 0;             // sq_entries - 1
  gsys_u64 timeout_ns = 0;          // a call gives up after this long
  gsys_u32 backoff_min_ns = 0;      // sleep between polls at first
  gsys_u32 backoff_max_ns = 0;      // longest sleep between polls
  gsys_u32 backoff_spin_ns = 0;     // poll every backoff_min_ns this long before backing off
  // The staging arena (device/genesys/staging.h): chunks for buffers the host
  // cannot reach. No arena: staging_chunks == 0.
  char* staging = nullptr;          // chunk 0, as kernels address it (host memory)
  gsys_u64 staging_host = 0;        // chunk 0, as the executor addresses it
  gsys_u32* staging_bitmap = nullptr;  // device memory: one claim bit per chunk
  gsys_u32 staging_chunks = 0;
  gsys_u32 staging_chunk_bytes = 0;
  // Set by a cooperative gsys::launch; grid calls need it.
  grid_state* grid = nullptr;
  // The lanes that make a warp-granularity call together (with_lanes()),
  // if lanes_named; else every lane of the caller's warp. A flag, not
  // lanes == 0, since an empty mask (a ballot nobody joined) names no lane:
  // its calls are -EINVAL. It takes the padding after `lanes`: the handle
  // does not grow.
  gsys_u32 lanes = 0;
  bool lanes_named = false;

  // False for a default-constructed handle (no runtime made it): a call on
  // one stops the kernel with a message (ring_client.h, empty_ring).
  bool valid() const { return hdr != nullptr; }

  // This handle for warp calls made by exactly the lanes in `mask` (every
  // one of them must reach the call), e.g. inside a branch:
  //   const unsigned m = __ballot_sync(~0u, cond);
  //   if (cond) gsys::write<gsys::warp>(r.with_lanes(m), fd, buf, n);
  GSYS_RING_HOST_DEVICE ring with_lanes(gsys_u32 mask) const
  {
    ring c = *this;
    c.lanes = mask;
    c.lanes_named = true;
    return c;
  }
};

// Fills a handle from a header the host already validated. `host_base` is
// where kernels see the ring's host memory (equal to hdr on the simulator
// and, with unified addressing, usually on the GPU too); `dev` is its
// device part (gsys_dev_bytes(nslots, staging chunks), initialised).
inline ring make_ring_handle(const gsys_ring_header* hdr, void* host_base, gsys_ring_device* dev,
                             gsys_u32 backoff_min_ns, gsys_u32 backoff_max_ns, gsys_u32 backoff_spin_ns)
{
  char* base = static_cast<char*>(host_base);
  char* d = reinterpret_cast<char*>(dev);
  ring r;
  r.hdr = static_cast<gsys_ring_header*>(host_base);
  r.slots = reinterpret_cast<gsys_slot*>(base + hdr->slots_offset);
  r.sq = reinterpret_cast<gsys_sq_entry*>(base + hdr->sq_offset);
  r.dev = dev;
  r.claim = reinterpret_cast<gsys_u32*>(d + gsys_dev_claim_offset());
  r.pending = reinterpret_cast<gsys_u32*>(d + gsys_dev_pending_offset(hdr->nslots));
  r.slot_chunk = reinterpret_cast<gsys_u32*>(d + gsys_dev_slot_chunk_offset(hdr->nslots));
  r.nslots = hdr->nslots;
  r.sq_mask = hdr->sq_entries - 1;
  r.timeout_ns = hdr->timeout_ns;
  r.backoff_min_ns = backoff_min_ns;
  r.backoff_max_ns = backoff_max_ns;
  r.backoff_spin_ns = backoff_spin_ns;
  return r;
}

// Adds a staging arena to a handle: `chunks` chunks of `chunk_bytes` at
// `chunks_device` (kernels) and `chunks_host` (requests to the executor);
// their claim bits are in the ring's device part.
inline void attach_staging(ring& r, void* chunks_device, const void* chunks_host, gsys_u32 chunks,
                           gsys_u32 chunk_bytes)
{
  r.staging = static_cast<char*>(chunks_device);
  r.staging_host = (gsys_u64)(__UINTPTR_TYPE__)chunks_host;
  r.staging_bitmap = reinterpret_cast<gsys_u32*>(reinterpret_cast<char*>(r.dev) + gsys_dev_staging_offset(r.nslots));
  r.staging_chunks = chunks;
  r.staging_chunk_bytes = chunk_bytes;
}

}  // namespace gsys
