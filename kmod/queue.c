// SPDX-License-Identifier: GPL-2.0
/*
 * The executor side of the ring's ordering contract (include/genesys/abi.h):
 * pop slot indices from the MPMC submission queue, move slots READY -> BUSY
 * -> DONE, free fire-and-forget and orphaned slots.
 *
 * The ring is user memory that a buggy GPU kernel may fill with anything, so
 * every value read from it is validated before use, each loop here is
 * bounded, and an anomaly is counted as garbage and skipped. A slot index is
 * only used after the bounds check; queue positions are masked.
 *
 * Pairing of barriers (device = producer / slot owner):
 *   device: args, store-release state=READY   -> us: CAS-acquire READY->BUSY
 *   device: store-release entry.seq = pos+1   -> us: load-acquire entry.seq
 *   us: store-release entry.seq = pos+lap     -> device: load-acquire seq
 *   us: ret, CAS-release BUSY->DONE           -> device: load-acquire DONE
 *   us: state=FREE, release claim-bit clear   -> device: CAS on the claim word
 */
#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/nospec.h>

#include "genesys.h"

/* Attempts at the head CAS before reporting "nothing now" to the serve loop. */
#define GSYS_POP_TRIES 64

/*
 * The ABI's u32 claim words are naturally aligned, so a read-modify-write
 * views them as atomic_t (io_uring does the same with its shared sq_flags):
 * one locked instruction, no retry loop that a scribbling user could stretch.
 */
static_assert(sizeof(atomic_t) == sizeof(u32));

static void gsys_claim_release(struct gsys_ring *ring, u32 idx)
{
	atomic_t *word = (atomic_t *)&ring->claim[idx / 32];

	/* release: the next owner acquires the bit and sees state FREE */
	atomic_fetch_andnot_release(BIT(idx % 32), word);
}

/* The device gave up on this slot: free it for it (ORPHANED -> FREE). */
static void gsys_slot_reclaim(struct gsys_ring *ring, u32 idx,
			      struct gsys_tally *t)
{
	u32 st = GSYS_SLOT_ORPHANED;

	if (!try_cmpxchg_relaxed(&ring->slots[idx].state, &st, GSYS_SLOT_FREE)) {
		t->garbage++;
		return;
	}
	gsys_claim_release(ring, idx);
	t->orphaned++;
}

/* A queue anomaly at (pos, seq): count it once, not on every poll. */
static void gsys_sq_note_garbage(struct gsys_sq_cursor *cur,
				 struct gsys_tally *t, u64 pos, u32 seq)
{
	if (cur->bad_seen && cur->bad_pos == pos && cur->bad_seq == seq)
		return;
	cur->bad_seen = true;
	cur->bad_pos = pos;
	cur->bad_seq = seq;
	t->garbage++;
}

/*
 * Pops one slot index. False when the queue is empty, when the head entry is
 * not published yet, when the queue is inconsistent (counted), or when the
 * head stayed contended for GSYS_POP_TRIES attempts; the caller polls again.
 */
bool gsys_sq_pop(struct gsys_ring *ring, struct gsys_sq_cursor *cur,
		 struct gsys_tally *t, u32 *slot)
{
	struct gsys_ring_header *h = ring->hdr;
	const u32 mask = ring->sq_entries - 1;
	u64 pos = READ_ONCE(h->sq_head);
	int tries;

	for (tries = 0; tries < GSYS_POP_TRIES; tries++) {
		struct gsys_sq_entry *e = &ring->sq[pos & mask];
		/* acquire: pairs with the producer's release of seq = pos + 1 */
		u32 seq = smp_load_acquire(&e->seq);
		s32 dif = (s32)(seq - (u32)(pos + 1));
		u64 head;

		if (dif == 0) {
			if (try_cmpxchg(&h->sq_head, &pos, pos + 1)) {
				*slot = READ_ONCE(e->slot);
				/* release: hands the entry to the producer one lap later */
				smp_store_release(&e->seq, (u32)(pos + ring->sq_entries));
				return true;
			}
			continue;       /* pos now holds the head another consumer left */
		}
		if (dif < 0)
			return false;   /* empty, or the producer has not published */

		/*
		 * Ahead of us: another consumer took pos and moved the head on.
		 * If the head has not moved, the entry is garbage.
		 */
		head = READ_ONCE(h->sq_head);
		if (head == pos) {
			gsys_sq_note_garbage(cur, t, pos, seq);
			return false;
		}
		pos = head;
	}
	return false;
}

/* Whether the head entry is published: the sleep loop's re-check. */
bool gsys_sq_nonempty(struct gsys_ring *ring)
{
	u64 pos = READ_ONCE(ring->hdr->sq_head);
	struct gsys_sq_entry *e = &ring->sq[pos & (ring->sq_entries - 1)];

	return smp_load_acquire(&e->seq) == (u32)(pos + 1);
}

/*
 * READY -> BUSY and copy the request out once. False for an index out of
 * range or a slot not READY (counted); an orphaned slot is freed here.
 */
bool gsys_slot_begin(struct gsys_ring *ring, u32 idx, struct gsys_req *req,
		     struct gsys_tally *t)
{
	struct gsys_slot *s;
	u32 st = GSYS_SLOT_READY;
	int i;

	if (idx >= ring->nslots) {
		t->garbage++;
		return false;
	}
	idx = array_index_nospec(idx, ring->nslots);
	s = &ring->slots[idx];
	/* acquire: pairs with the device's release of READY (args and buffers) */
	if (!try_cmpxchg_acquire(&s->state, &st, GSYS_SLOT_BUSY)) {
		if (st == GSYS_SLOT_ORPHANED)
			gsys_slot_reclaim(ring, idx, t);
		else
			t->garbage++;
		return false;
	}
	req->idx = idx;
	req->nr = READ_ONCE(s->nr);
	req->flags = READ_ONCE(s->flags);
	for (i = 0; i < GSYS_SLOT_ARGS; i++)
		req->arg[i] = READ_ONCE(s->arg[i]);
	return true;
}

/*
 * Publishes a result: DONE for a blocking call, FREE (and the claim bit
 * cleared) for a fire-and-forget one. If the device orphaned the slot while
 * we ran it, the slot is freed instead.
 */
void gsys_slot_complete(struct gsys_ring *ring, const struct gsys_req *req,
			s64 ret, struct gsys_tally *t)
{
	struct gsys_slot *s = &ring->slots[req->idx];
	u32 st = GSYS_SLOT_BUSY;

	t->completed++;
	if (ret < 0)
		t->failed++;

	if (req->flags & GSYS_SLOT_F_NONBLOCK) {
		if (try_cmpxchg_relaxed(&s->state, &st, GSYS_SLOT_FREE)) {
			gsys_claim_release(ring, req->idx);
			return;
		}
	} else {
		WRITE_ONCE(s->ret, ret);
		/* release: the device that acquires DONE sees ret and the call's writes */
		if (try_cmpxchg_release(&s->state, &st, GSYS_SLOT_DONE))
			return;
	}
	if (st == GSYS_SLOT_ORPHANED)
		gsys_slot_reclaim(ring, req->idx, t);
	else
		t->garbage++;
}
