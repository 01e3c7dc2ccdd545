/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * Description: raw-ABI helpers for the genesys.ko guest tests. A ring in
 * process memory laid out by abi.h's geometry helpers; "device" functions
 * that behave like GPU threads of protocol v2 (claim a slot in the claim
 * words of a "device memory" area the module never sees, fill it, publish
 * READY, store the queue entry with release, wait for DONE, release the
 * slot; park fire-and-forget and timed-out slots and reclaim them once
 * DONE); SERVE wrappers that also run the requests the module hands back as
 * fallbacks; a tiny check/report layer.
 *
 * Written against include/genesys/abi.h only (libgenesys is not used), so
 * the tests pin the module's side of the contract.
 */
#ifndef KT_H
#define KT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <genesys/abi.h>
#include <genesys/ops.h>

#define KT_SKIP 77

struct kt_ring {
	void *mem;
	size_t bytes;
	struct gsys_ring_header *h;
	struct gsys_slot *slots;
	struct gsys_sq_entry *sq;
	/* the device part (device memory on a GPU): the module never sees it */
	uint32_t *claim;        /* one word per 32 slots */
	uint32_t *pending;      /* parked: fire-and-forget or timed out */
	struct gsys_request *req; /* per slot: the request kt_fill wrote, for kt_push's entry */
	uint64_t tail;          /* queue positions reserved */
	uint32_t nslots;
	uint32_t sq_entries;
	uint8_t allow[GSYS_ALLOW_BITMAP_BYTES];
	uint64_t max_io;        /* registered as max_io_bytes (0: the module's default) */
	uint32_t reg_flags;     /* registered as flags (GSYS_RING_F_*) */
	int fd;                 /* /dev/genesys, -1 if not open */
	int files[64];          /* mirror of the fixed-file table, for fallbacks */
	uint32_t nfiles;
};

/* ring memory */
int kt_ring_alloc(struct kt_ring *r, uint32_t nslots, uint32_t sq_entries);
void kt_ring_free(struct kt_ring *r);
void kt_allow_all(struct kt_ring *r);
void kt_allow(struct kt_ring *r, unsigned int nr, bool on);
int kt_open_dev(void);                                   /* fd or -errno */
int kt_register(struct kt_ring *r);                      /* opens fd if needed; 0 or -errno */
int kt_register_files(struct kt_ring *r, const int *fds, uint32_t n);
int kt_stats(int fd, struct gsys_ioc_stats *st);
long kt_proc_value(const char *key);                     /* /proc/genesys, -1 if absent */

/* device side (what a GPU thread does) */
int kt_claim(struct kt_ring *r, uint32_t hint);          /* slot index or -1 */
void kt_fill(struct kt_ring *r, uint32_t idx, uint16_t nr, uint16_t flags,
	     const uint64_t a[GSYS_SLOT_ARGS]);           /* slot READY, request kept for kt_push */
void kt_push(struct kt_ring *r, uint32_t idx);           /* SQ entry (with the request) + doorbell */
/* claim+fill+push: idx or -1; a NONBLOCK slot is parked right away */
int kt_submit(struct kt_ring *r, uint32_t hint, uint16_t nr, uint16_t flags,
	      const uint64_t a[GSYS_SLOT_ARGS]);
/* DONE -> ret, slot freed; -ETIMEDOUT after timeout_ms (slot parked) */
int64_t kt_wait(struct kt_ring *r, uint32_t idx, unsigned int timeout_ms);
void kt_free_slot(struct kt_ring *r, uint32_t idx);
void kt_park(struct kt_ring *r, uint32_t idx);           /* left for kt_reclaim */
uint32_t kt_reclaim(struct kt_ring *r);                  /* frees parked DONE slots: count */
uint64_t kt_state(struct kt_ring *r, uint32_t idx);
bool kt_claimed(struct kt_ring *r, uint32_t idx);

/* host side */
struct kt_serve_result {
	long rc;                /* ioctl return: 0 or -errno */
	uint32_t fallbacks;
	uint64_t completed;
};
struct kt_serve_result kt_serve(struct kt_ring *r, uint64_t idle_ns, uint64_t spin_ns,
				uint32_t flags, uint32_t fallback_max);
/* SERVE without running the fallbacks: their validated copies land in fb */
struct kt_serve_result kt_serve_raw(struct kt_ring *r, uint64_t idle_ns, uint64_t spin_ns,
				    uint32_t flags, struct gsys_request *fb, uint32_t fallback_max);
void kt_run_fallback(struct kt_ring *r, const struct gsys_request *q); /* run the copy, complete */
/* one whole call from one thread: submit, SERVE once (idle 0), wait */
int64_t kt_call(struct kt_ring *r, uint16_t nr, uint16_t flags, uint64_t a0,
		uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
int64_t kt_sys(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
	       uint64_t a4, uint64_t a5);                /* syscall(2) as -errno */

struct kt_server {
	struct kt_ring *r;
	uint64_t idle_ns;
	uint64_t spin_ns;
	volatile int stop;
	long error;             /* first unexpected SERVE error */
	uint64_t completed;
	uint64_t fallbacks;
	uint64_t serves;
	unsigned long thread;   /* pthread_t */
};
int kt_server_start(struct kt_server *s, struct kt_ring *r, uint64_t idle_ns,
		    uint64_t spin_ns);
void kt_server_stop(struct kt_server *s);                /* sets header->stop too */

uint64_t kt_now_ns(void);
uint64_t kt_rand(uint64_t *state);

/* checks: one line per test, summary at the end */
extern int kt_failed;
extern int kt_passed;
void kt_begin(const char *name);
void kt_end(void);
void kt_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int kt_finish(const char *prog);                         /* exit status */

#define KT_CHECK(cond)                                                         \
	do {                                                                   \
		if (!(cond))                                                   \
			kt_fail(__FILE__, __LINE__, "%s", #cond);              \
	} while (0)
#define KT_EQ(a, b)                                                            \
	do {                                                                   \
		long long kt_a_ = (long long)(a), kt_b_ = (long long)(b);      \
		if (kt_a_ != kt_b_)                                            \
			kt_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld",  \
				#a, #b, kt_a_, kt_b_);                         \
	} while (0)

#endif /* KT_H */
