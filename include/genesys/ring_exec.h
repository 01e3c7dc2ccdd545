/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * The executor's half of the ring protocol (abi.h), written once for
 * libgenesys and genesys.ko: pop a queue entry with the request copied out
 * of it once and its slot index validated, complete it. The two sides
 * supply the memory accesses before including this file:
 *
 *   GSYS_X_LOAD(p)              plain single-copy load (READ_ONCE)
 *   GSYS_X_LOAD_ACQUIRE(p)      load-acquire
 *   GSYS_X_STORE(p, v)          plain single-copy store (WRITE_ONCE)
 *   GSYS_X_STORE_RELEASE(p, v)  store-release
 *   GSYS_X_CAS(p, expp, v)      strong CAS, acquire on success; true if it
 *                               succeeded, else *expp = the value seen
 *   GSYS_X_NOW()                CLOCK_MONOTONIC nanoseconds
 *   GSYS_X_INDEX_NOSPEC(i, n)   optional: i clamped under speculation
 *
 * Ring memory is memory a buggy GPU kernel may fill with anything: every
 * value read from it is checked before use, every loop is bounded, and
 * nothing here writes a word the device owns (the claim and pending bits are
 * in device memory; the host only signals DONE).
 *
 * Barrier pairing (device = producer and slot owner):
 *   device: request and READY stores, 64-bit entry word store-release
 *                                                   -> us: entry word load-acquire
 *   us: store-release state = DONE | result         -> device: load-acquire state
 */
#ifndef GENESYS_RING_EXEC_H
#define GENESYS_RING_EXEC_H

#include "abi.h"

#if !defined(GSYS_X_LOAD) || !defined(GSYS_X_LOAD_ACQUIRE) || !defined(GSYS_X_STORE) || \
	!defined(GSYS_X_STORE_RELEASE) || !defined(GSYS_X_CAS) || !defined(GSYS_X_NOW)
#error "define the GSYS_X_* access primitives before including ring_exec.h"
#endif

#ifndef GSYS_X_INDEX_NOSPEC
#define GSYS_X_INDEX_NOSPEC(i, n) (i)
#endif

/* Attempts at the head CAS before reporting "nothing now" to the caller. */
#define GSYS_X_POP_TRIES 64
/* Entries past a hole at the head that are looked at to decide it is one. */
#define GSYS_X_HOLE_PEEK 64
/* The clock is read on every this many-th empty poll only. */
#define GSYS_X_CLOCK_EVERY 64

/*
 * The parts of a ring an executor uses, resolved once from a checked header
 * and kept here: the header stays writable by the device side, so nothing
 * (geometry, timeout) is re-read from it afterwards.
 */
struct gsys_x_ring {
	struct gsys_ring_header *hdr;
	struct gsys_slot *slots;
	struct gsys_sq_entry *sq;
	gsys_u32 nslots;
	gsys_u32 sq_entries;
	gsys_u64 timeout_ns;
};

/* Per executor thread: where the head has been stuck on an unfilled entry, and since when. */
struct gsys_x_cursor {
	gsys_u64 hole_pos;
	gsys_u64 hole_since_ns;
	gsys_u32 empty_polls;
	int hole_seen;
};

/* What a pop found. */
#define GSYS_X_POPPED 0  /* *q holds the request, its slot index in range */
#define GSYS_X_EMPTY 1   /* nothing published at the head (or contended: poll again) */
#define GSYS_X_SKIPPED 2 /* the head entry was lost (overwritten or a dead hole): count it */
#define GSYS_X_GARBAGE 3 /* the head entry was taken, its slot index out of range: count it */

static inline struct gsys_sq_entry *gsys_x_sqe(const struct gsys_x_ring *r, gsys_u64 pos)
{
	return &r->sq[pos & (r->sq_entries - 1)];
}

static inline gsys_u64 gsys_x_entry(const struct gsys_x_ring *r, gsys_u64 pos)
{
	/* acquire: pairs with the device's release of the entry (request, slot and buffers) */
	return GSYS_X_LOAD_ACQUIRE((gsys_u64 *)gsys_x_sqe(r, pos));
}

/* The request of the entry at pos, as it is now (the caller checks it is still its own). */
static inline void gsys_x_copy_out(const struct gsys_x_ring *r, gsys_u64 pos, gsys_u32 slot,
				   struct gsys_request *q)
{
	const struct gsys_sq_entry *e = gsys_x_sqe(r, pos);
	int i;

	q->slot = slot;
	q->nr = GSYS_X_LOAD(&e->nr);
	q->flags = GSYS_X_LOAD(&e->flags);
	for (i = 0; i < GSYS_SLOT_ARGS; i++)
		q->arg[i] = GSYS_X_LOAD(&e->arg[i]);
}

static inline int gsys_x_published(gsys_u64 word, gsys_u64 pos)
{
	return GSYS_SQ_SEQ(word) == (gsys_u32)(pos + 1);
}

/* Moves the head past pos if nobody else did; true if we did. */
static inline int gsys_x_advance(struct gsys_x_ring *r, gsys_u64 pos)
{
	gsys_u64 expect = pos;

	return GSYS_X_CAS(&r->hdr->sq_head, &expect, pos + 1);
}

/*
 * Pops one request into *q. It is copied out before the head CAS: once the
 * head has moved past an entry, the device may reuse its position (a later
 * lap), so a copy made after it could mix two requests. A successful CAS
 * means nobody consumed the entry before, so the position was not reused
 * while it was copied. An unfilled entry at the head, with later entries
 * published, that stays so longer than the ring's timeout was reserved by a
 * producer that died before filling it: the head moves past it (SKIPPED).
 * The caller that has a speculation barrier applies it to q->slot.
 */
static inline int gsys_x_pop(struct gsys_x_ring *r, struct gsys_x_cursor *cur, struct gsys_request *q)
{
	gsys_u64 pos = GSYS_X_LOAD(&r->hdr->sq_head);
	gsys_u64 now_ns;
	int tries;

	for (tries = 0; tries < GSYS_X_POP_TRIES; tries++) {
		gsys_u64 word = gsys_x_entry(r, pos);
		gsys_s32 dif = (gsys_s32)(GSYS_SQ_SEQ(word) - (gsys_u32)(pos + 1));
		gsys_u64 head;
		gsys_u32 i;

		if (dif == 0) {
			gsys_x_copy_out(r, pos, GSYS_SQ_SLOT(word), q);
			if (GSYS_X_CAS(&r->hdr->sq_head, &pos, pos + 1)) {
				cur->hole_seen = 0;
				cur->empty_polls = 0;
				return q->slot < r->nslots ? GSYS_X_POPPED : GSYS_X_GARBAGE;
			}
			continue; /* pos now holds the head another consumer left */
		}
		head = GSYS_X_LOAD(&r->hdr->sq_head);
		if (head != pos) {
			pos = head; /* another consumer moved on: look again */
			continue;
		}
		if (dif > 0) {
			/* A later lap (or garbage) over an entry never consumed: lost. */
			if (gsys_x_advance(r, pos))
				return GSYS_X_SKIPPED;
			pos = GSYS_X_LOAD(&r->hdr->sq_head);
			continue;
		}
		/* Not filled: the queue is empty, or a producer is between reserving and filling. */
		if (++cur->empty_polls % GSYS_X_CLOCK_EVERY)
			return GSYS_X_EMPTY;
		now_ns = GSYS_X_NOW();
		if (!cur->hole_seen || cur->hole_pos != pos) {
			cur->hole_seen = 1;
			cur->hole_pos = pos;
			cur->hole_since_ns = now_ns;
			return GSYS_X_EMPTY;
		}
		if (now_ns - cur->hole_since_ns < r->timeout_ns)
			return GSYS_X_EMPTY;
		for (i = 1; i <= GSYS_X_HOLE_PEEK && i < r->sq_entries; i++)
			if (gsys_x_published(gsys_x_entry(r, pos + i), pos + i))
				break;
		if (i > GSYS_X_HOLE_PEEK || i >= r->sq_entries)
			return GSYS_X_EMPTY; /* nothing behind it: simply empty */
		cur->hole_seen = 0;
		if (gsys_x_advance(r, pos))
			return GSYS_X_SKIPPED;
		pos = GSYS_X_LOAD(&r->hdr->sq_head);
	}
	return GSYS_X_EMPTY;
}

/* Whether the entry at the head is published: the sleep loop's re-check. */
static inline int gsys_x_nonempty(struct gsys_x_ring *r)
{
	gsys_u64 pos = GSYS_X_LOAD(&r->hdr->sq_head);

	return gsys_x_published(gsys_x_entry(r, pos), pos);
}

/* Published entries from the head on, up to `max`: the queue depth for statistics. */
static inline gsys_u64 gsys_x_depth(struct gsys_x_ring *r, gsys_u64 max)
{
	gsys_u64 pos = GSYS_X_LOAD(&r->hdr->sq_head), n = 0;

	while (n < max && n < r->sq_entries && gsys_x_published(gsys_x_entry(r, pos + n), pos + n))
		n++;
	return n;
}

/*
 * Publishes a result: DONE with the result in the state word, with release,
 * for every call, fire-and-forget included: the device frees the slot when
 * it sees the call finished. A result too wide for the word goes into ret
 * first, with DONE_WIDE.
 */
static inline void gsys_x_complete(struct gsys_x_ring *r, const struct gsys_request *q, gsys_s64 ret)
{
	struct gsys_slot *s;

	if (q->slot >= r->nslots)
		return; /* callers pass popped (validated) requests; never index past the ring */
	s = &r->slots[GSYS_X_INDEX_NOSPEC(q->slot, r->nslots)];
	/* release: the device that acquires the state sees ret and the call's writes */
	if (GSYS_SLOT_RET_FITS(ret)) {
		GSYS_X_STORE_RELEASE(&s->state, GSYS_SLOT_DONE_WORD(ret));
		return;
	}
	GSYS_X_STORE(&s->ret, ret);
	GSYS_X_STORE_RELEASE(&s->state, (gsys_u64)GSYS_SLOT_DONE_WIDE);
}

#endif /* GENESYS_RING_EXEC_H */
