/* SPDX-License-Identifier: GPL-2.0 */
/*
 * genesys.ko internals: the per-open-file context, the registered ring, the
 * fixed-file table and the counters. The ABI itself lives in
 * include/genesys/abi.h; this header only holds what the module's own files
 * share.
 *
 * Objects, references and locks
 * -----------------------------
 *
 * struct gsys_ctx: one per open file of /dev/genesys (file->private_data).
 *   Created by open, freed by release. release runs only once no ioctl is in
 *   flight on the file (every ioctl runs under the file reference that the
 *   syscall took), so a thread inside SERVE keeps its context alive; close()
 *   from another thread only drops the descriptor, and the context goes away
 *   when that SERVE returns. Linked on gsys_ctx_list (under gsys_ctx_list_lock)
 *   for /proc/genesys.
 *
 * ctx->lock (mutex): serialises REGISTER_RING, REGISTER_FILES, UNREGISTER and
 *   the start of SERVE; protects ctx->ring and writers of ctx->files. Lock
 *   order: ctx->lock -> mmap_lock (pinning faults pages in). Nothing takes
 *   ctx->lock with mmap_lock held.
 *
 * struct gsys_ring: the pinned, vmapped ring plus its validated geometry and
 *   the allow bitmap copied at registration. Reference counted (kref): the
 *   context holds one while the ring is registered, every SERVE call holds one
 *   for its whole duration. UNREGISTER refuses with -EBUSY while
 *   ctx->servers != 0 (the caller sets header->stop or signals its servers,
 *   then retries), so in practice the last reference is dropped by
 *   UNREGISTER or release; the kref makes the ring outlive any path that
 *   might still be using it. The final put unpins the pages (marking them
 *   dirty), vunmaps, returns the locked_vm charge and drops the mm count.
 *
 * ctx->files (RCU): the fixed-file table. Replaced under ctx->lock with
 *   rcu_replace_pointer(); the old table's file references are dropped after
 *   synchronize_rcu(), so a reader that found a file under rcu_read_lock()
 *   may take its own reference with get_file().
 *
 * ctx->regions (RCU): memory a confined ring's requests may name (confine.c).
 *   Replaced whole under ctx->lock; readers take rcu_read_lock().
 *
 * ctx->maps_lock (mutex): the list of ranges this context mmap()ed for the
 *   device; munmap/madvise are only allowed inside them. Held across
 *   vm_munmap() so two requests cannot both trim the same entry. Order:
 *   maps_lock -> mmap_lock.
 *
 * Counters: atomic64 per context and globally, and per context per
 *   operation (GSYS_OP_TABLE's entries plus "other"). A SERVE call tallies
 *   locally and flushes every batch and before it returns, so the hot path
 *   touches no shared cache line of the module.
 */
#ifndef GSYS_KMOD_GENESYS_H
#define GSYS_KMOD_GENESYS_H

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/types.h>

#include <linux/ktime.h>
#include <linux/nospec.h>

#include <genesys/abi.h>
#include <genesys/ops.h>

#include "compat.h"

/* The kernel's access primitives for the shared executor rules. */
#define GSYS_X_LOAD(p) READ_ONCE(*(p))
#define GSYS_X_LOAD_ACQUIRE(p) smp_load_acquire(p)
#define GSYS_X_STORE(p, v) WRITE_ONCE(*(p), (v))
#define GSYS_X_STORE_RELEASE(p, v) smp_store_release((p), (v))
#define GSYS_X_CAS(p, expp, v) try_cmpxchg_acquire((p), (expp), (v))
#define GSYS_X_NOW() ktime_get_ns()
#define GSYS_X_INDEX_NOSPEC(i, n) array_index_nospec((i), (n))
#include <genesys/ring_exec.h>

#ifndef CONFIG_64BIT
#error "genesys.ko needs a 64-bit kernel (64-bit ring counters, native syscall numbers)"
#endif

#define GSYS_ALLOW_LONGS BITS_TO_LONGS(GSYS_NR_MAX + 1)
/* The module's own cap on one ring (the ABI caps nslots; this caps the queue). */
#define GSYS_KMOD_MAX_SQ_ENTRIES (GSYS_MAX_SLOTS * 4u)
#define GSYS_KMOD_MAX_MAPPINGS 1024u
/* Per-operation counters: one per GSYS_OP_TABLE entry, then "other". */
#define GSYS_KMOD_OP_SLOTS (GSYS_OP_COUNT + 1)

struct gsys_counters {
	atomic64_t completed;
	atomic64_t failed;
	atomic64_t denied;
	atomic64_t fallback;
	atomic64_t garbage;
	atomic64_t skipped;
};

struct gsys_op_counters {
	atomic64_t calls;
	atomic64_t errors;
	atomic64_t denied;
	atomic64_t nonblocking;
};

/* One operation's share of a tally: flushed every batch, so u32 is plenty. */
struct gsys_op_tally {
	u32 calls;
	u32 errors;
	u32 denied;
	u32 nonblocking;
};

/* What one SERVE call has done and not yet added to the shared counters. */
struct gsys_tally {
	u64 completed;
	u64 failed;
	u64 denied;
	u64 fallback;
	u64 garbage;
	u64 skipped;
	struct gsys_op_tally op[GSYS_KMOD_OP_SLOTS];
};

struct gsys_ring {
	struct kref ref;
	struct gsys_ring_header *hdr;   /* vmap of the whole ring */
	struct gsys_slot *slots;
	struct gsys_sq_entry *sq;
	u32 nslots;
	u32 sq_entries;
	u64 timeout_ns;                 /* holes are skipped after this (validated copy) */
	u64 max_io_bytes;               /* longest transfer one request may ask for */
	u64 user_addr;
	u64 ring_bytes;
	struct page **pages;
	unsigned long npages;
	struct mm_struct *mm;           /* mmgrab()ed: the address space requests use */
	bool charged;                   /* locked_vm was charged for the pages */
	bool confine;                   /* GSYS_RING_F_CONFINE: pointers must be given memory */
	unsigned long allow[GSYS_ALLOW_LONGS];
};

struct gsys_regions;

struct gsys_fixed_files {
	u32 count;
	struct file *files[];           /* NULL: a hole */
};

struct gsys_mapping {
	struct list_head node;
	unsigned long start;
	unsigned long len;              /* page aligned */
};

struct gsys_ctx {
	struct list_head node;          /* gsys_ctx_list */
	u64 id;
	pid_t owner;                    /* tgid of the opener, for /proc */
	struct mutex lock;
	struct gsys_ring *ring;         /* under lock */
	atomic_t servers;               /* threads inside SERVE */
	u32 nslots;                     /* of the registered ring, 0 if none; for /proc */
	struct gsys_fixed_files __rcu *files;
	struct gsys_regions __rcu *regions; /* GSYS_IOC_REGION; written under lock */
	struct mutex maps_lock;
	struct list_head maps;          /* of gsys_mapping, sorted by start */
	unsigned int nmaps;
	struct gsys_counters stats;
	struct gsys_op_counters ops[GSYS_KMOD_OP_SLOTS];
};

/* Outcome of running a request (exec.c). */
#define GSYS_RUN_DONE 0       /* ret is the syscall's result */
#define GSYS_RUN_DENIED 1     /* ret is -EPERM: refused by policy */
#define GSYS_RUN_FALLBACK 2   /* not run: userspace must run it */

struct gsys_call {
	struct gsys_ctx *ctx;
	struct gsys_ring *ring;
	struct gsys_request req;
	s64 ret;
	u64 path_max;           /* longest path copy (PATH_MAX, or less when confined) */
	u32 addrlen;            /* recvfrom's *addrlen as confinement read it */
	bool have_addrlen;
};

/* main.c */
extern const struct file_operations gsys_fops;
bool gsys_is_genesys_file(const struct file *file);
bool gsys_is_executor_file(const struct file *file);

/* ring.c */
long gsys_ring_register(struct gsys_ctx *ctx, void __user *uarg);
long gsys_ring_unregister(struct gsys_ctx *ctx);
struct gsys_ring *gsys_ring_get_for_serve(struct gsys_ctx *ctx);
void gsys_ring_put_after_serve(struct gsys_ctx *ctx, struct gsys_ring *ring);
void gsys_ring_put(struct gsys_ring *ring);

/* queue.c: the executor's half of the protocol (ring_exec.h), counted */
bool gsys_sq_pop(struct gsys_ring *ring, struct gsys_x_cursor *cur,
		 struct gsys_tally *t, struct gsys_request *req);
bool gsys_sq_nonempty(struct gsys_ring *ring);
void gsys_slot_complete(struct gsys_ring *ring, const struct gsys_request *req,
			s64 ret, struct gsys_tally *t);

/* serve.c */
long gsys_serve(struct gsys_ctx *ctx, void __user *uarg);

/* exec.c */
int gsys_exec(struct gsys_call *c);
struct file *gsys_call_fget(struct gsys_call *c);

/* ops_*.c: each returns GSYS_RUN_* and sets c->ret */
int gsys_op_read(struct gsys_call *c);
int gsys_op_write(struct gsys_call *c);
int gsys_op_pread64(struct gsys_call *c);
int gsys_op_pwrite64(struct gsys_call *c);
int gsys_op_lseek(struct gsys_call *c);
int gsys_op_fsync(struct gsys_call *c);
int gsys_op_fstat(struct gsys_call *c);
int gsys_op_openat(struct gsys_call *c);
int gsys_op_close(struct gsys_call *c);
int gsys_op_mmap(struct gsys_call *c);
int gsys_op_munmap(struct gsys_call *c);
int gsys_op_madvise(struct gsys_call *c);
int gsys_op_sendto(struct gsys_call *c);
int gsys_op_recvfrom(struct gsys_call *c);

/* ops_mem.c */
void gsys_maps_free(struct gsys_ctx *ctx);
u64 gsys_maps_room(struct gsys_ctx *ctx, u64 p);

/* confine.c */
long gsys_region_ioctl(struct gsys_ctx *ctx, void __user *uarg);
void gsys_regions_free(struct gsys_ctx *ctx);
int gsys_confine_check(struct gsys_call *c);
const char *gsys_forbidden_file(struct file *f, int open_flags);

/* files.c */
long gsys_files_register(struct gsys_ctx *ctx, void __user *uarg);
struct file *gsys_fixed_file_get(struct gsys_ctx *ctx, u64 index);
void gsys_files_drop(struct gsys_ctx *ctx);
unsigned int gsys_files_count(struct gsys_ctx *ctx);

/* stats.c */
struct gsys_global {
	struct gsys_counters stats;
	atomic64_t contexts;
	atomic64_t rings;
	atomic64_t pinned_pages;
	atomic64_t serve_calls;
	atomic64_t ctx_ids;
};
extern struct gsys_global gsys_global;
extern struct list_head gsys_ctx_list;
extern struct mutex gsys_ctx_list_lock;
void gsys_tally_call(struct gsys_tally *t, const struct gsys_request *req, s64 ret,
		     bool denied);
void gsys_tally_flush(struct gsys_ctx *ctx, struct gsys_ring *ring,
		      struct gsys_tally *t);
long gsys_stats_ioctl(struct gsys_ctx *ctx, void __user *uarg);
int gsys_proc_init(void);
void gsys_proc_exit(void);

#endif /* GSYS_KMOD_GENESYS_H */
