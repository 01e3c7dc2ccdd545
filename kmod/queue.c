// SPDX-License-Identifier: GPL-2.0
/*
 * The executor side of the ring protocol: the shared rules of
 * include/genesys/ring_exec.h (libgenesys runs the same ones), with the
 * kernel's access primitives, plus this module's counting.
 *
 * The ring is user memory that a buggy GPU kernel may fill with anything, so
 * every value read from it is validated before use, each loop is bounded,
 * and an anomaly is counted as garbage and skipped. A slot index is only
 * used after the bounds check (and array_index_nospec); queue positions are
 * masked. Nothing here writes a word the device owns: the claim and pending
 * bits live in device memory, and the host only signals DONE.
 */
#include <linux/atomic.h>
#include <linux/ktime.h>
#include <linux/nospec.h>

#include "genesys.h"

static struct gsys_x_ring gsys_x_of(struct gsys_ring *ring)
{
	struct gsys_x_ring x = {
		.hdr = ring->hdr,
		.slots = ring->slots,
		.sq = ring->sq,
		.nslots = ring->nslots,
		.sq_entries = ring->sq_entries,
		.timeout_ns = ring->timeout_ns,
	};

	return x;
}

/*
 * Pops one request, copied out of its queue entry once, its slot index in
 * range (and clamped under speculation). False when nothing is published at
 * the head or the head stayed contended; the caller polls again. A lost
 * entry (overwritten, or a dead producer's hole older than the ring's
 * timeout) is skipped and counted, and so is one naming a slot past the
 * ring (garbage).
 */
bool gsys_sq_pop(struct gsys_ring *ring, struct gsys_x_cursor *cur,
		 struct gsys_tally *t, struct gsys_request *req)
{
	struct gsys_x_ring x = gsys_x_of(ring);
	int i;

	for (i = 0; i < 4; i++) {
		switch (gsys_x_pop(&x, cur, req)) {
		case GSYS_X_POPPED:
			req->slot = array_index_nospec(req->slot, ring->nslots);
			return true;
		case GSYS_X_SKIPPED:
			t->skipped++;
			continue;
		case GSYS_X_GARBAGE:
			t->garbage++;
			continue;
		default:
			return false;
		}
	}
	return false;
}

/* Whether the head entry is published: the sleep loop's re-check. */
bool gsys_sq_nonempty(struct gsys_ring *ring)
{
	struct gsys_x_ring x = gsys_x_of(ring);

	return gsys_x_nonempty(&x);
}

/* Publishes a result: DONE with the result (abi.h); the device frees the slot when it sees it. */
void gsys_slot_complete(struct gsys_ring *ring, const struct gsys_request *req,
			s64 ret, struct gsys_tally *t)
{
	struct gsys_x_ring x = gsys_x_of(ring);

	t->completed++;
	if (ret < 0)
		t->failed++;
	gsys_x_complete(&x, req, ret);
}
