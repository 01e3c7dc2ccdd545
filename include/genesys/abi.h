/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * genesys ABI: the one layout shared by the device library, libgenesys and
 * genesys.ko. Plain C, fixed-width types, no enums or bitfields in structs,
 * every size and offset pinned by a static assertion.
 *
 * Protocol v2. A ring has two parts, each with one home:
 *
 *   host memory (pinned, mapped for the GPU; genesys.ko pins and vmaps it):
 *     [ header: 4096 bytes ][ slots: nslots x 64 ][ sq entries: sq_entries x 64 ]
 *   device memory (cudaMalloc; on the simulator a region marked as device):
 *     [ struct gsys_ring_device ][ claim words ][ pending words ]
 *     [ slot_chunk: u32 x nslots ][ staging claim words ]
 *
 * Over PCIe a device load or atomic on host memory is a round trip, a
 * device store is posted, and a GPU atomic on host memory is atomic against
 * the CPU only where the link supports it. So no word is read-modify-written
 * by both sides; what only the device read-modify-writes lives in device
 * memory; across the link there are only plain stores and loads, one writer
 * per word or per transition, and the device never waits on a host-written
 * word on its way in. The device library names each word's home in every
 * access it makes (device/genesys/atomic.h): system scope on host memory,
 * device scope on device memory, so no atomic of a call is system-scope.
 *
 * Who writes what (D = device, H = host executor):
 *
 *  - claim[w] (device memory, D atomics): bit i set = slot i belongs to the
 *    device side: a caller is using it, or it waits in pending[] for the
 *    host to finish it. Only the device sets and clears bits.
 *  - pending[w] (device memory, D atomics): slot i was left by its caller
 *    (fire-and-forget, or the caller timed out) and is freed by whichever
 *    device thread later sees its state DONE: the host signals, the device
 *    reclaims. slot_chunk[i] names a staging chunk that is quarantined with
 *    the slot (a timed-out staged call) and freed with it; GSYS_NO_CHUNK if
 *    none.
 *  - sq_tail (device memory, D fetch_add): queue positions reserved.
 *  - slot.state = READY (host memory, D plain store): written while the
 *    slot is claimed, before the call is queued; the device writes nothing
 *    else in the slot.
 *  - sq entry (host memory, one cache line, D plain stores): the request
 *    itself (nr and flags in one 8-byte store, arg[] in three 16-byte ones:
 *    few writes over the link), then, last, one 64-bit store with release of
 *    seq = pos + 1 (low word) and the slot index (high word). The release
 *    orders the request, the slot's READY and the caller's buffer writes
 *    before it. An executor thus reads one line per call, not two (issue
 *    #9: the second was a cache-line transfer on every call). sq_entries >=
 *    nslots and a slot is queued at most once per claim, so a position's
 *    entry is never overwritten before the host consumed the previous lap.
 *  - sq_head (host memory, H CAS among executors): the next position to
 *    consume. An executor that acquires an entry with seq == head + 1 copies
 *    the request out, then takes the entry by CAS on the head (the copy is
 *    its own only if the CAS succeeds). An entry overwritten by a later lap,
 *    or a hole a producer reserved and never filled (a killed kernel) for
 *    longer than timeout_ns while later entries are published, is skipped
 *    and counted.
 *  - slot.state = DONE with the result in it (H store with release), by the
 *    executor that took the entry, once per entry: one 64-bit word, so the
 *    completion poll that sees DONE has the result too (a separate load of
 *    ret was a second round trip over the link on every call). A result that
 *    does not fit the word's 61 bits (only huge lseek offsets) goes into
 *    slot.ret first, with DONE_WIDE. The device that acquires the state sees
 *    every byte the call wrote. The host neither reads nor CASes the slot (an
 *    executor keeps what it needs to know about a call in flight in its own
 *    memory), and never frees one.
 *  - Timeout: a device caller that stops waiting sets its pending bit and
 *    returns -ETIMEDOUT; the slot and its staging chunk stay quarantined
 *    until the host stores DONE. Buffers of a plain (unstaged) call that
 *    timed out may still be written until then.
 *  - Doorbell: a GPU never touches the header. The simulator, whose device
 *    threads are host threads, may wake sleeping executors through the futex
 *    on `doorbell` (a stand-in for the interrupt a GPU lacks): after its
 *    queue entry it reads sleepers and pollers, and only if someone sleeps
 *    and nobody polls does it bump the doorbell and wake (device/genesys/
 *    platform.h). Executors otherwise poll the entry at sq_head, backing off
 *    to short timed sleeps.
 *
 * Nothing an executor reads from the ring is trusted: slot indices, states
 * and arguments are validated before use, every loop is bounded, and
 * garbage is counted and skipped, never dereferenced. The executor's half of
 * the protocol is written once, in ring_exec.h, for libgenesys and genesys.ko.
 */
#ifndef GENESYS_ABI_H
#define GENESYS_ABI_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/ioctl.h>
typedef __u8 gsys_u8;
typedef __u16 gsys_u16;
typedef __u32 gsys_u32;
typedef __u64 gsys_u64;
typedef __s32 gsys_s32;
typedef __s64 gsys_s64;
#define GSYS_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#else
#include <stdint.h>
#ifndef __CUDACC_RTC__
#include <sys/ioctl.h>
#endif
typedef uint8_t gsys_u8;
typedef uint16_t gsys_u16;
typedef uint32_t gsys_u32;
typedef uint64_t gsys_u64;
typedef int32_t gsys_s32;
typedef int64_t gsys_s64;
#ifdef __cplusplus
#define GSYS_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#if !defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L
#error "genesys/abi.h needs C11 (-std=c11) or C++"
#endif
#define GSYS_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
#endif

#define GSYS_RING_MAGIC 0x53595347u /* "GSYS" little-endian */
/*
 * Bumped on every layout change, so that a module and a library built from
 * different sources refuse each other: 2 was protocol v2 with the request in
 * the slot, 3 moved it into the 64-byte queue entry, 4 puts the result in
 * the slot's 64-bit state word.
 */
#define GSYS_ABI_VERSION 4u

#define GSYS_SLOT_BYTES 64u
#define GSYS_HEADER_BYTES 4096u
#define GSYS_MIN_SLOTS 32u       /* one warp's worth */
#define GSYS_MAX_SLOTS (1u << 20)
#define GSYS_SLOT_ARGS 6

/*
 * Slot states: the low 3 bits of gsys_slot.state (GSYS_SLOT_TAG). FREE must
 * be zero so a zeroed ring is an idle ring. v2 keeps ownership in device
 * memory, and what an executor runs in its own; a finished call's state
 * carries its result, so that the poll which sees it finished is the
 * call's last load over the link.
 */
#define GSYS_SLOT_FREE 0u
#define GSYS_SLOT_READY 2u      /* queued by the device; the host has not finished it */
#define GSYS_SLOT_DONE 4u       /* finished; the result is bits 3-63 of the state */
#define GSYS_SLOT_DONE_WIDE 5u  /* finished; the result did not fit: it is in slot.ret */
#define GSYS_SLOT_TAG(state) ((gsys_u32)((state) & 7u))
#define GSYS_SLOT_FINISHED(state) \
	(GSYS_SLOT_TAG(state) == GSYS_SLOT_DONE || GSYS_SLOT_TAG(state) == GSYS_SLOT_DONE_WIDE)
/* Results in [-2^60, 2^60) travel in the state word (all but huge lseek offsets). */
#define GSYS_SLOT_RET_FITS(ret) \
	((gsys_s64)(ret) >= -((gsys_s64)1 << 60) && (gsys_s64)(ret) < ((gsys_s64)1 << 60))
#define GSYS_SLOT_DONE_WORD(ret) (((gsys_u64)(ret) << 3) | GSYS_SLOT_DONE)
/* The result of a state in DONE (an arithmetic shift: two's complement). */
#define GSYS_SLOT_INLINE_RET(state) ((gsys_s64)(state) >> 3)

/* Request flags (gsys_sq_entry.flags, gsys_request.flags). */
#define GSYS_SLOT_F_NONBLOCK (1u << 0)   /* fire-and-forget: nobody waits for ret */
#define GSYS_SLOT_F_FIXED_FILE (1u << 1) /* arg[0] indexes the registered files */
#define GSYS_SLOT_F_GRAN_SHIFT 8         /* granularity of the call, for stats */
#define GSYS_SLOT_F_GRAN_MASK (3u << GSYS_SLOT_F_GRAN_SHIFT)
#define GSYS_SLOT_F_KNOWN (GSYS_SLOT_F_NONBLOCK | GSYS_SLOT_F_FIXED_FILE | \
                           GSYS_SLOT_F_GRAN_MASK)

/* Granularity codes as stored in the request flags. */
#define GSYS_GRAN_THREAD 0u
#define GSYS_GRAN_WARP 1u
#define GSYS_GRAN_BLOCK 2u
#define GSYS_GRAN_GRID 3u

/*
 * Opcode numbers (gsys_sq_entry.nr, gsys_request.nr). Below GSYS_NR_PRIVATE_BASE an opcode is the
 * host's native Linux system call number (<asm/unistd.h>), so gsys::syscall
 * reaches any call the host policy allows. Opcodes from GSYS_NR_PRIVATE_BASE
 * up are genesys's own and never reach the kernel's syscall table.
 */
#define GSYS_NR_PRIVATE_BASE 0x8000u
#define GSYS_NR_NOP 0x8000u /* returns 0 without a system call */
#define GSYS_NR_MAX 0xffffu

/*
 * Where a call's result comes back: one cache line per slot, so device
 * threads polling different slots do not share a line. The request itself
 * travels in the queue entry.
 */
struct gsys_slot {
	gsys_u64 state;                 /* GSYS_SLOT_* in bits 0-2; in DONE, the result in bits 3-63 */
	gsys_s64 ret;                   /* result or -errno, valid in DONE_WIDE only */
	gsys_u64 pad[6];
};

/*
 * A request as an executor copied it out of its queue entry, once, before
 * validating it: what executors run, and what GSYS_IOC_SERVE hands to
 * userspace for the calls it leaves to it (never the live entry, which the
 * device side could rewrite in between).
 */
struct gsys_request {
	gsys_u32 slot;                  /* the slot it came from */
	gsys_u16 nr;
	gsys_u16 flags;
	gsys_u64 arg[GSYS_SLOT_ARGS];
};

/*
 * One submission-queue entry, one cache line: the request, and the
 * position's lap sequence (pos + 1) with the slot index its result goes to.
 * seq and slot are written by the device as one 64-bit store (GSYS_SQ_WORD),
 * after the request and with release, and read by executors as one 64-bit
 * load with acquire, so they are never seen half written.
 */
struct gsys_sq_entry {
	gsys_u32 seq;
	gsys_u32 slot;
	gsys_u16 nr;                    /* opcode */
	gsys_u16 flags;                 /* GSYS_SLOT_F_* */
	gsys_u32 pad;
	gsys_u64 arg[GSYS_SLOT_ARGS];   /* raw syscall arguments */
};
#define GSYS_SQ_WORD(pos, slot) (((gsys_u64)(slot) << 32) | (gsys_u32)((pos) + 1))
#define GSYS_SQ_SEQ(word) ((gsys_u32)(word))
#define GSYS_SQ_SLOT(word) ((gsys_u32)((word) >> 32))

/*
 * The ring header: one page of host memory. Cache line 0 is written once at
 * setup and read by everyone; the others are the executors' (a GPU never
 * reads or writes the header: its handle carries the geometry; the
 * simulated device reads line 2 on every submit and bumps the doorbell when
 * it wakes a sleeper, so nothing in line 2 is written per call).
 */
struct gsys_ring_header {
	/* line 0: identity and geometry (read-only after setup) */
	gsys_u32 magic;          /* GSYS_RING_MAGIC */
	gsys_u32 abi_version;    /* GSYS_ABI_VERSION */
	gsys_u32 header_bytes;   /* GSYS_HEADER_BYTES */
	gsys_u32 nslots;         /* power of two, GSYS_MIN_SLOTS..GSYS_MAX_SLOTS */
	gsys_u32 sq_entries;     /* power of two, >= nslots */
	gsys_u32 ring_flags;     /* reserved, 0 */
	gsys_u64 ring_bytes;     /* total bytes of host memory, header included */
	gsys_u64 slots_offset;   /* from the header's first byte */
	gsys_u64 sq_offset;
	gsys_u64 device_bytes;   /* size of the ring's device-memory part (information) */
	gsys_u64 timeout_ns;     /* device gives up, host skips a stuck hole, after this */

	/* line 1: consumers (executors; written on every call, never read by the device) */
	gsys_u64 sq_head;        /* free-running; advanced by CAS */
	gsys_u64 pad1[7];

	/* line 2: sleeping, stopping and liveness of executors (written when an
	 * executor falls asleep or wakes, not per call: the simulated device
	 * reads sleepers and pollers on every submit) */
	gsys_u32 doorbell;       /* futex word: bumped to wake sleepers (never by a GPU) */
	gsys_u32 sleepers;       /* executors asleep on the doorbell */
	gsys_u32 stop;           /* host asks executors (and SERVE) to return */
	gsys_u32 executor;       /* GSYS_EXECUTOR_* of the running executor */
	gsys_u64 heartbeat_ns;   /* CLOCK_MONOTONIC of the executor's last poll */
	gsys_u32 pollers;        /* executors polling the queue now, or running a
	                          * call that finishes promptly (they are back at
	                          * the queue in a moment): the simulator's device
	                          * skips its futex wake while one is. A poller
	                          * that takes a call which may block stops
	                          * counting itself and wakes a sleeper if more is
	                          * queued. 0 from executors that do not count
	                          * themselves: the device then wakes sleepers on
	                          * every submit. */
	gsys_u32 pad2a;
	gsys_u64 pad2[4];

	/* line 3: executor-maintained totals, for tools (relaxed adds) */
	gsys_u64 completed;
	gsys_u64 failed;         /* ret < 0 */
	gsys_u64 denied;         /* policy refused */
	gsys_u64 garbage;        /* invalid slot index/state seen */
	gsys_u64 skipped;        /* queue positions skipped: overwritten or never filled */
	gsys_u64 pad3[3];

	gsys_u8 reserved[GSYS_HEADER_BYTES - 4 * 64];
};

/*
 * The ring's device-memory part, first 64 bytes; the claim, pending,
 * slot_chunk and staging words follow (offsets below). Zeroed at setup,
 * except the staging words past the last chunk (set for good) and
 * slot_chunk (all GSYS_NO_CHUNK). Only device threads touch it while kernels
 * run; the host reads it for statistics.
 */
struct gsys_ring_device {
	gsys_u64 sq_tail;        /* positions reserved: one fetch_add per warp */
	gsys_u64 timeouts;       /* calls whose caller gave up waiting */
	gsys_u32 nslots;
	gsys_u32 staging_chunks; /* 0: no staging arena */
	gsys_u64 pad[5];
};
#define GSYS_NO_CHUNK 0xffffffffu

/* Executor identities, as published in gsys_ring_header.executor. */
#define GSYS_EXECUTOR_NONE 0u
#define GSYS_EXECUTOR_SYNC 1u
#define GSYS_EXECUTOR_URING 2u
#define GSYS_EXECUTOR_KMOD 3u

#define GSYS_OFFSETOF(type, field) __builtin_offsetof(type, field)

GSYS_STATIC_ASSERT(sizeof(struct gsys_slot) == GSYS_SLOT_BYTES, "slot is 64 bytes");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_slot, state) == 0, "slot.state");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_slot, ret) == 8, "slot.ret");
GSYS_STATIC_ASSERT(sizeof(struct gsys_sq_entry) == 64, "sq entry is a cache line");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_sq_entry, nr) == 8, "sq entry.nr");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_sq_entry, flags) == 10, "sq entry.flags");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_sq_entry, arg) == 16, "sq entry.arg");
GSYS_STATIC_ASSERT(sizeof(struct gsys_request) == 56, "request copy is 56 bytes");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_request, arg) == 8, "request.arg");
GSYS_STATIC_ASSERT(sizeof(struct gsys_ring_header) == GSYS_HEADER_BYTES, "header is a page");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_ring_header, timeout_ns) == 56, "line 0");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_ring_header, sq_head) == 64, "line 1");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_ring_header, doorbell) == 128, "line 2");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_ring_header, heartbeat_ns) == 144, "line 2");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_ring_header, pollers) == 152, "line 2");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_ring_header, completed) == 192, "line 3");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_ring_header, reserved) == 256, "reserved");
GSYS_STATIC_ASSERT(sizeof(struct gsys_ring_device) == 64, "device part header is a line");

/* Geometry: everything a side needs to find the parts of a ring. */
#define GSYS_ALIGN_UP(x, a) (((x) + (a) - 1) & ~((gsys_u64)(a) - 1))

static inline gsys_u64 gsys_ring_slots_offset(void)
{
	return GSYS_HEADER_BYTES;
}

static inline gsys_u64 gsys_ring_sq_offset(gsys_u32 nslots)
{
	return gsys_ring_slots_offset() + (gsys_u64)nslots * GSYS_SLOT_BYTES;
}

static inline gsys_u64 gsys_ring_bytes(gsys_u32 nslots, gsys_u32 sq_entries)
{
	return GSYS_ALIGN_UP(gsys_ring_sq_offset(nslots) +
			     (gsys_u64)sq_entries * sizeof(struct gsys_sq_entry),
			     4096);
}

/* Device part: one 32-bit claim and pending word per 32 slots (a warp claims from one word). */
static inline gsys_u64 gsys_dev_claim_offset(void)
{
	return sizeof(struct gsys_ring_device);
}

static inline gsys_u64 gsys_dev_pending_offset(gsys_u32 nslots)
{
	return gsys_dev_claim_offset() + GSYS_ALIGN_UP((gsys_u64)(nslots / 32) * 4, 64);
}

static inline gsys_u64 gsys_dev_slot_chunk_offset(gsys_u32 nslots)
{
	return gsys_dev_pending_offset(nslots) + GSYS_ALIGN_UP((gsys_u64)(nslots / 32) * 4, 64);
}

static inline gsys_u64 gsys_dev_staging_offset(gsys_u32 nslots)
{
	return gsys_dev_slot_chunk_offset(nslots) + GSYS_ALIGN_UP((gsys_u64)nslots * 4, 64);
}

static inline gsys_u64 gsys_dev_bytes(gsys_u32 nslots, gsys_u32 staging_chunks)
{
	return gsys_dev_staging_offset(nslots) +
	       GSYS_ALIGN_UP(((gsys_u64)staging_chunks + 31) / 32 * 4, 64);
}

/*
 * ioctl interface of /dev/genesys. Structures carry their own size first so
 * they can grow; reserved fields must be zero; unknown flags are -EINVAL and
 * unknown commands -ENOTTY. Pointers travel as __u64.
 */
#define GSYS_IOC_MAGIC 0xB7

/*
 * GSYS_IOC_REGISTER_RING: attach the ring at ring_addr (page aligned, in the
 * caller's address space) to this open file. The pages are pinned and mapped
 * into the kernel until UNREGISTER or the last close. allow_ptr points to a
 * bitmap of GSYS_NR_MAX+1 bits (8 KiB): opcodes the kernel may run; others
 * complete with -EPERM. A read, write, pread, pwrite, sendto or recvfrom
 * longer than max_io_bytes completes with -EINVAL, as in userspace.
 * With GSYS_RING_F_CONFINE, every pointer a request carries (buffers, paths,
 * socket addresses and lengths, stat and rusage results) must lie wholly in
 * the union of the regions given with GSYS_IOC_REGION and the mappings the
 * module made for the ring's mmap requests (overlapping and touching ones
 * join); otherwise the request completes with -EFAULT
 * without running, as the userspace policy's confine_memory does.
 * Errors: EINVAL (size, version, flags, alignment, geometry), EFAULT (bad
 * pointers), EBUSY (a ring is already registered), ENOMEM.
 */
#define GSYS_RING_F_CONFINE (1u << 0)
#define GSYS_RING_F_KNOWN GSYS_RING_F_CONFINE
struct gsys_ioc_register_ring {
	gsys_u32 size;          /* sizeof(struct gsys_ioc_register_ring) */
	gsys_u32 abi_version;   /* GSYS_ABI_VERSION */
	gsys_u64 ring_addr;
	gsys_u64 ring_bytes;
	gsys_u64 allow_ptr;     /* (GSYS_NR_MAX + 1) / 8 bytes */
	gsys_u32 flags;         /* GSYS_RING_F_* */
	gsys_u32 reserved0;
	gsys_u64 max_io_bytes;  /* longest read/write/send/recv; 0: GSYS_DEFAULT_MAX_IO */
	gsys_u64 reserved[3];
};
GSYS_STATIC_ASSERT(sizeof(struct gsys_ioc_register_ring) == 72, "register_ring size");
#define GSYS_DEFAULT_MAX_IO (1ull << 30)

#define GSYS_ALLOW_BITMAP_BYTES ((GSYS_NR_MAX + 1u) / 8u)

/*
 * GSYS_IOC_REGISTER_FILES: replace the fixed-file table with `count` fds
 * read from fds_ptr (int32 each; -1 leaves a hole). A slot with
 * GSYS_SLOT_F_FIXED_FILE uses arg[0] as an index into this table.
 * Errors: EINVAL (size, count > GSYS_MAX_FIXED_FILES, flags), EBADF, EFAULT,
 * ENXIO (no ring registered), ENOMEM.
 */
#define GSYS_MAX_FIXED_FILES 4096u
struct gsys_ioc_register_files {
	gsys_u32 size;
	gsys_u32 count;
	gsys_u64 fds_ptr;
	gsys_u32 flags;
	gsys_u32 reserved0;
	gsys_u64 reserved[2];
};
GSYS_STATIC_ASSERT(sizeof(struct gsys_ioc_register_files) == 40, "register_files size");

/*
 * GSYS_IOC_SERVE: the calling thread executes requests of this file's ring
 * in its own process context until idle_timeout_ns pass without a request,
 * `stop` is set in the ring header, a signal arrives (-EINTR), or requests
 * could not run in the kernel: SERVE returns after the batch in which it met
 * the first of them (at most fallback_max), so they wait for userspace no
 * longer than one batch. Those calls are taken (the queue head moved past
 * them) and the copies the kernel validated are written to fallback_ptr
 * (struct gsys_request each): the caller runs the copies, never the live
 * queue entries, and completes their slots. fallback_count and completed are
 * written back on every return, EINTR included. With fallback_max == 0 such
 * requests complete with -ENOSYS. SERVE also returns 0 early when the thread
 * has deferred kernel work (e.g. the final release of a file a request
 * closed), which only runs on the way back to userspace: call it again.
 * Errors: EINVAL, EFAULT, ENXIO (no ring), EPERM (the caller's address space
 * is not the one that registered the ring), EINTR.
 */
#define GSYS_SERVE_F_SPIN_ONLY (1u << 0) /* never sleep: pure polling */
#define GSYS_SERVE_MAX_FALLBACK 4096u    /* fallback_max above this: EINVAL */
struct gsys_ioc_serve {
	gsys_u32 size;
	gsys_u32 flags;             /* GSYS_SERVE_F_* */
	gsys_u64 idle_timeout_ns;   /* 0: return as soon as the queue is empty */
	gsys_u64 spin_ns;           /* poll this long before sleeping */
	gsys_u64 fallback_ptr;      /* struct gsys_request[fallback_max] */
	gsys_u32 fallback_max;
	gsys_u32 fallback_count;    /* out */
	gsys_u64 completed;         /* out: requests completed in the kernel */
	gsys_u64 reserved[2];
};
GSYS_STATIC_ASSERT(sizeof(struct gsys_ioc_serve) == 64, "serve size");

/*
 * GSYS_IOC_STATS: counters of this open file (ctx) and of the module (global).
 *
 * Per-operation counts of this file's in-kernel calls: with ops_ptr set, the
 * kernel writes min(ops_count, its own count) struct gsys_ioc_op_stats to
 * ops_ptr and returns its own count (GSYS_OP_COUNT + 1 of the ops.h it was
 * built from) in ops_count. Entry i < GSYS_OP_COUNT is GSYS_OP_TABLE's i-th
 * operation, the last entry every opcode outside the table. A caller built
 * from another ops.h sees a different count and should ignore the entries.
 * Calls the kernel hands back to userspace (fallbacks) are not counted here:
 * whoever completes them counts them. ops_ptr == 0 (with ops_count 0): no
 * per-operation data, ops_count comes back 0.
 * Errors: EINVAL (size, reserved fields, ops_count 0 or above
 * GSYS_STATS_MAX_OPS with ops_ptr set, ops_count without ops_ptr), EFAULT
 * (the structure or the ops_ptr array is not writable).
 */
#define GSYS_STATS_MAX_OPS 4096u
struct gsys_ioc_op_stats {
	gsys_u64 calls;             /* completed in the kernel */
	gsys_u64 errors;            /* ret < 0 */
	gsys_u64 denied;            /* refused by the allow bitmap */
	gsys_u64 nonblocking;       /* GSYS_SLOT_F_NONBLOCK */
};
GSYS_STATIC_ASSERT(sizeof(struct gsys_ioc_op_stats) == 32, "op_stats size");

struct gsys_ioc_stats {
	gsys_u32 size;
	gsys_u32 reserved0;
	gsys_u64 ctx_completed;
	gsys_u64 ctx_failed;
	gsys_u64 ctx_denied;
	gsys_u64 ctx_fallback;
	gsys_u64 ctx_garbage;
	gsys_u64 ctx_skipped;          /* queue entries skipped (lost, or a dead hole) */
	gsys_u64 global_completed;
	gsys_u64 global_contexts;   /* open files right now */
	gsys_u64 global_rings;      /* registered rings right now */
	gsys_u64 global_pinned_pages;
	gsys_u64 ops_ptr;           /* in: struct gsys_ioc_op_stats[ops_count], or 0 */
	gsys_u32 ops_count;         /* in: room at ops_ptr; out: entries the kernel has */
	gsys_u32 reserved1;
	gsys_u64 reserved[2];
};
GSYS_STATIC_ASSERT(sizeof(struct gsys_ioc_stats) == 120, "stats size");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_ioc_stats, ops_ptr) == 88, "stats.ops_ptr");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_ioc_stats, ops_count) == 96, "stats.ops_count");
GSYS_STATIC_ASSERT(GSYS_OFFSETOF(struct gsys_ioc_stats, reserved) == 104, "stats.reserved");

/*
 * GSYS_IOC_REGION: add or remove memory a confined ring's requests may name
 * (GSYS_RING_F_CONFINE): the runtime's device-visible allocations, its
 * staging arena, regions the host allowed. Regions belong to the open file,
 * not to the ring, so they may be given before REGISTER_RING; adding a
 * region at an address already given keeps the larger length; REMOVE names
 * the start exactly and withdraws what was given there (bytes another region
 * covers stay given). Requests already past their check are not recalled.
 * Errors: EINVAL (size, op, reserved fields, len 0, a range that wraps or
 * reaches past the user address space), ENOENT (REMOVE of an unknown start),
 * ENOSPC (more than GSYS_MAX_REGIONS), ENOMEM.
 */
#define GSYS_REGION_ADD 1u
#define GSYS_REGION_REMOVE 2u
#define GSYS_MAX_REGIONS 4096u
struct gsys_ioc_region {
	gsys_u32 size;          /* sizeof(struct gsys_ioc_region) */
	gsys_u32 op;            /* GSYS_REGION_ADD or GSYS_REGION_REMOVE */
	gsys_u64 addr;
	gsys_u64 len;           /* ignored by REMOVE */
	gsys_u64 reserved[2];
};
GSYS_STATIC_ASSERT(sizeof(struct gsys_ioc_region) == 40, "region size");

#define GSYS_IOC_REGISTER_RING _IOWR(GSYS_IOC_MAGIC, 1, struct gsys_ioc_register_ring)
#define GSYS_IOC_REGISTER_FILES _IOWR(GSYS_IOC_MAGIC, 2, struct gsys_ioc_register_files)
#define GSYS_IOC_SERVE _IOWR(GSYS_IOC_MAGIC, 3, struct gsys_ioc_serve)
#define GSYS_IOC_STATS _IOWR(GSYS_IOC_MAGIC, 4, struct gsys_ioc_stats)
/*
 * GSYS_IOC_UNREGISTER: detach the ring (unpin, unmap) and drop the fixed-file
 * table. Errors: ENXIO (no ring), EBUSY (a thread is inside SERVE: set
 * `stop` in the header or signal it, then retry).
 */
#define GSYS_IOC_UNREGISTER _IO(GSYS_IOC_MAGIC, 5)
#define GSYS_IOC_REGION _IOW(GSYS_IOC_MAGIC, 6, struct gsys_ioc_region)

#endif /* GENESYS_ABI_H */
