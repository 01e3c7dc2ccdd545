// SPDX-License-Identifier: GPL-2.0
/*
 * GSYS_IOC_SERVE: the calling thread drains the ring's submission queue and
 * runs the requests in its own process context.
 *
 * Polling is adaptive: while requests flow the thread spins on the queue
 * (cond_resched() between polls); after spin_ns without work it sleeps in
 * short timed sleeps, doubling from GSYS_NAP_MIN_NS up to GSYS_NAP_MAX_NS,
 * re-checking the queue and the header's doorbell before each. A GPU cannot
 * wake a sleeping host thread (it never touches the header), so the sleeps
 * are timed, never open-ended.
 *
 * SERVE returns 0 when
 *   - idle_timeout_ns passed without a request (0: as soon as it is empty),
 *   - header->stop is nonzero,
 *   - a batch left requests for userspace (their validated copies are in the
 *     fallback array; at most fallback_max),
 *   - the thread has deferred kernel work queued (task_work: e.g. the final
 *     release of a file a request closed), which only runs on the way back to
 *     userspace; the caller simply calls SERVE again;
 * and -EINTR when a signal is pending. completed and fallback_count are
 * written back on every return, -EINTR included: the requests in the
 * fallback array are taken and the caller must complete their slots.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>

#include "genesys.h"

#define GSYS_BATCH 64                   /* requests between checks and flushes */
#define GSYS_NAP_MIN_NS (20 * NSEC_PER_USEC)
#define GSYS_NAP_MAX_NS (1 * NSEC_PER_MSEC)
/* heartbeat_ns shares a line with the doorbell and stop: store it sparingly */
#define GSYS_HEARTBEAT_NS (10 * NSEC_PER_USEC)

struct gsys_serve {
	struct gsys_ctx *ctx;
	struct gsys_ring *ring;
	struct gsys_request __user *fallback;
	u32 fallback_max;
	u32 fallback_count;
	u64 completed;
	u64 garbage;                    /* seen by this call, for the log */
	int error;                      /* sticky: writing the fallback array faulted */
	struct gsys_x_cursor cursor;
	struct gsys_tally tally;
};

static void gsys_serve_flush(struct gsys_serve *sv)
{
	sv->garbage += sv->tally.garbage;
	gsys_tally_flush(sv->ctx, sv->ring, &sv->tally);
}

static bool gsys_serve_fallback_full(const struct gsys_serve *sv)
{
	return sv->fallback_max && sv->fallback_count == sv->fallback_max;
}

/* Runs one popped request (c->req) to completion, or hands it to userspace. */
static void gsys_serve_one(struct gsys_serve *sv, struct gsys_call *c)
{
	int outcome;

	outcome = gsys_exec(c);
	switch (outcome) {
	case GSYS_RUN_FALLBACK:
		if (sv->fallback_count < sv->fallback_max && !sv->error) {
			/* the copy we validated, never the live entry: userspace runs that */
			if (!copy_to_user(sv->fallback + sv->fallback_count, &c->req,
					  sizeof(c->req))) {
				/* taken: userspace runs it and completes its slot */
				sv->fallback_count++;
				sv->tally.fallback++;
				return;
			}
			sv->error = -EFAULT;
		}
		/* nowhere to hand it over (fallback_max == 0): not implemented here */
		c->ret = -ENOSYS;
		break;
	case GSYS_RUN_DENIED:
		sv->tally.denied++;
		break;
	default:
		break;
	}
	gsys_tally_call(&sv->tally, &c->req, c->ret, outcome == GSYS_RUN_DENIED);
	gsys_slot_complete(sv->ring, &c->req, c->ret, &sv->tally);
	sv->completed++;
}

/* Pops and runs up to @max requests; returns how many entries it consumed. */
static unsigned int gsys_serve_batch(struct gsys_serve *sv, unsigned int max)
{
	unsigned int n;

	for (n = 0; n < max; n++) {
		struct gsys_call c = { .ctx = sv->ctx, .ring = sv->ring };

		if (gsys_serve_fallback_full(sv) || sv->error)
			break;
		if (!gsys_sq_pop(sv->ring, &sv->cursor, &sv->tally, &c.req))
			break;
		gsys_serve_one(sv, &c);
		cond_resched();
	}
	return n;
}

/*
 * One timed sleep of up to @nap_ns, unless a request or a doorbell ring
 * arrives while we get ready. sleepers tells producers that can wake us
 * (none can today) that someone sleeps.
 */
static void gsys_serve_nap(struct gsys_ring *ring, u64 nap_ns)
{
	struct gsys_ring_header *h = ring->hdr;
	atomic_t *sleepers = (atomic_t *)&h->sleepers;
	u32 bell = READ_ONCE(h->doorbell);
	ktime_t expires = ns_to_ktime(nap_ns);

	atomic_inc(sleepers);
	/* full barrier: sleepers++ is visible before we look at the queue again */
	smp_mb__after_atomic();
	if (!gsys_sq_nonempty(ring) && READ_ONCE(h->doorbell) == bell) {
		set_current_state(TASK_INTERRUPTIBLE);
		schedule_hrtimeout_range(&expires, nap_ns / 8, HRTIMER_MODE_REL);
	}
	atomic_dec(sleepers);
}

static long gsys_serve_loop(struct gsys_serve *sv, const struct gsys_ioc_serve *a)
{
	struct gsys_ring_header *h = sv->ring->hdr;
	u64 now = ktime_get_ns();
	u64 last_work = now;
	u64 nap_ns = GSYS_NAP_MIN_NS;
	u64 beat = now;
	long ret = 0;

	WRITE_ONCE(h->executor, GSYS_EXECUTOR_KMOD);
	WRITE_ONCE(h->heartbeat_ns, now);
	for (;;) {
		unsigned int n;

		if (signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (READ_ONCE(h->stop))
			break;

		n = gsys_serve_batch(sv, GSYS_BATCH);
		now = ktime_get_ns();
		if (now - beat >= GSYS_HEARTBEAT_NS) {
			WRITE_ONCE(h->heartbeat_ns, now);
			beat = now;
		}
		if (n) {
			last_work = now;
			nap_ns = GSYS_NAP_MIN_NS;
			if (sv->tally.completed + sv->tally.fallback >= GSYS_BATCH)
				gsys_serve_flush(sv);
		}
		/* a fallback waits for userspace no longer than this batch */
		if (sv->fallback_count || sv->error)
			break;
		if (task_work_pending(current))
			break;
		if (n) {
			cond_resched();
			continue;
		}

		/* idle: publish what we did, then decide how to wait */
		gsys_serve_flush(sv);
		if (now - last_work >= a->idle_timeout_ns)
			break;
		if ((a->flags & GSYS_SERVE_F_SPIN_ONLY) ||
		    now - last_work < a->spin_ns) {
			cpu_relax();
			cond_resched();
			continue;
		}
		gsys_serve_nap(sv->ring, min(nap_ns, a->idle_timeout_ns - (now - last_work)));
		nap_ns = min_t(u64, nap_ns * 2, GSYS_NAP_MAX_NS);
	}
	gsys_serve_flush(sv);
	if (sv->garbage)
		pr_notice_ratelimited("pid %d: skipped %llu invalid ring entries (counted as garbage)\n",
				      task_tgid_nr(current), sv->garbage);
	return sv->error ? sv->error : ret;
}

static int gsys_serve_check(const struct gsys_ioc_serve *a)
{
	if (a->size != sizeof(*a))
		return -EINVAL;
	if (a->flags & ~GSYS_SERVE_F_SPIN_ONLY)
		return -EINVAL;
	if (a->reserved[0] || a->reserved[1])
		return -EINVAL;
	if (a->fallback_max > GSYS_SERVE_MAX_FALLBACK)
		return -EINVAL;
	if (a->fallback_max &&
	    !access_ok(u64_to_user_ptr(a->fallback_ptr),
		       (size_t)a->fallback_max * sizeof(struct gsys_request)))
		return -EFAULT;
	return 0;
}

long gsys_serve(struct gsys_ctx *ctx, void __user *uarg)
{
	struct gsys_ioc_serve a;
	struct gsys_serve sv = { .ctx = ctx };
	long ret;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	ret = gsys_serve_check(&a);
	if (ret)
		return ret;

	sv.ring = gsys_ring_get_for_serve(ctx);
	if (IS_ERR(sv.ring))
		return PTR_ERR(sv.ring);
	sv.fallback = u64_to_user_ptr(a.fallback_ptr);
	sv.fallback_max = a.fallback_max;
	atomic64_inc(&gsys_global.serve_calls);

	ret = gsys_serve_loop(&sv, &a);
	gsys_ring_put_after_serve(ctx, sv.ring);

	/* written back on every return: the listed calls are taken and now the caller's */
	a.fallback_count = sv.fallback_count;
	a.completed = sv.completed;
	if (copy_to_user(uarg, &a, sizeof(a)))
		return -EFAULT;
	return ret;
}
