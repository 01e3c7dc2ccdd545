/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * The executor's half of the ring protocol (abi.h), written once for
 * libgenesys and genesys.ko: pop a queue entry, validate the slot index and
 * state, copy the request out once, complete it. The two sides supply the
 * memory accesses before including this file:
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
 *   device: slot stores, 64-bit entry store-release -> us: entry load-acquire
 *   us: ret, store-release state = DONE             -> device: load-acquire DONE
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
#define GSYS_X_POPPED 0  /* *slot holds an index (not yet validated) */
#define GSYS_X_EMPTY 1   /* nothing published at the head (or contended: poll again) */
#define GSYS_X_SKIPPED 2 /* the head entry was lost (overwritten or a dead hole): count it */

static inline gsys_u64 gsys_x_entry(const struct gsys_x_ring *r, gsys_u64 pos)
{
	/* acquire: pairs with the device's release of the entry (slot and buffers) */
	return GSYS_X_LOAD_ACQUIRE((gsys_u64 *)&r->sq[pos & (r->sq_entries - 1)]);
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
 * Pops one slot index. An unfilled entry at the head, with later entries
 * published, that stays so longer than the ring's timeout was reserved by a
 * producer that died before filling it: the head moves past it (SKIPPED).
 */
static inline int gsys_x_pop(struct gsys_x_ring *r, struct gsys_x_cursor *cur, gsys_u32 *slot)
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
			if (GSYS_X_CAS(&r->hdr->sq_head, &pos, pos + 1)) {
				*slot = GSYS_SQ_SLOT(word);
				cur->hole_seen = 0;
				cur->empty_polls = 0;
				return GSYS_X_POPPED;
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

static inline void gsys_x_copy_out(const struct gsys_x_ring *r, gsys_u32 idx,
				   struct gsys_request *q)
{
	const struct gsys_slot *s = &r->slots[idx];
	int i;

	q->slot = idx;
	q->nr = GSYS_X_LOAD(&s->nr);
	q->flags = GSYS_X_LOAD(&s->flags);
	for (i = 0; i < GSYS_SLOT_ARGS; i++)
		q->arg[i] = GSYS_X_LOAD(&s->arg[i]);
}

/*
 * READY -> BUSY and copy the request out once. False for an index out of
 * range or a slot not READY (the caller counts it as garbage). The caller
 * that has a speculation barrier applies it to idx after the bounds check.
 */
static inline int gsys_x_begin(struct gsys_x_ring *r, gsys_u32 idx, struct gsys_request *q)
{
	gsys_u32 st = GSYS_SLOT_READY;

	if (idx >= r->nslots)
		return 0;
	idx = GSYS_X_INDEX_NOSPEC(idx, r->nslots);
	/* acquire: with the entry's, orders the args after the device's stores */
	if (!GSYS_X_CAS(&r->slots[idx].state, &st, GSYS_SLOT_BUSY))
		return 0;
	gsys_x_copy_out(r, idx, q);
	return 1;
}

/*
 * Publishes a result: ret, then DONE with release, for every call,
 * fire-and-forget included: the device frees the slot when it sees DONE.
 */
static inline void gsys_x_complete(struct gsys_x_ring *r, const struct gsys_request *q, gsys_s64 ret)
{
	struct gsys_slot *s = &r->slots[q->slot];

	GSYS_X_STORE(&s->ret, ret);
	/* release: the device that acquires DONE sees ret and the call's writes */
	GSYS_X_STORE_RELEASE(&s->state, GSYS_SLOT_DONE);
}

#endif /* GENESYS_RING_EXEC_H */
