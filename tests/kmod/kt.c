// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/* Description: raw-ABI helpers for the genesys.ko guest tests (see kt.h). */
#define _GNU_SOURCE
#include "kt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int kt_failed;
int kt_passed;
static const char *kt_current;
static int kt_current_failures;

/* ---- ring memory ------------------------------------------------------ */

int kt_ring_alloc(struct kt_ring *r, uint32_t nslots, uint32_t sq_entries)
{
	uint64_t bytes = gsys_ring_bytes(nslots, sq_entries);
	struct gsys_ring_header *h;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->mem == MAP_FAILED)
		return -errno;
	memset(r->mem, 0, bytes);
	r->claim = calloc(nslots / 32, sizeof(uint32_t));
	r->pending = calloc(nslots / 32, sizeof(uint32_t));
	r->req = calloc(nslots, sizeof(*r->req));
	if (!r->claim || !r->pending || !r->req) {
		munmap(r->mem, bytes);
		free(r->claim);
		free(r->pending);
		free(r->req);
		return -ENOMEM;
	}
	r->bytes = bytes;
	r->nslots = nslots;
	r->sq_entries = sq_entries;
	h = r->h = r->mem;
	h->abi_version = GSYS_ABI_VERSION;
	h->header_bytes = GSYS_HEADER_BYTES;
	h->nslots = nslots;
	h->sq_entries = sq_entries;
	h->ring_bytes = bytes;
	h->slots_offset = gsys_ring_slots_offset();
	h->sq_offset = gsys_ring_sq_offset(nslots);
	h->device_bytes = gsys_dev_bytes(nslots, 0);
	h->timeout_ns = 10ull * 1000 * 1000 * 1000;
	r->slots = (struct gsys_slot *)((char *)r->mem + h->slots_offset);
	r->sq = (struct gsys_sq_entry *)((char *)r->mem + h->sq_offset);
	/* zeroed entries are unpublished: seq 0 != pos + 1 on the first lap */
	/* release: whoever sees the magic sees a complete ring */
	__atomic_store_n(&h->magic, GSYS_RING_MAGIC, __ATOMIC_RELEASE);
	kt_allow_all(r);
	return 0;
}

void kt_ring_free(struct kt_ring *r)
{
	if (r->fd >= 0)
		close(r->fd);
	if (r->mem)
		munmap(r->mem, r->bytes);
	free(r->claim);
	free(r->pending);
	free(r->req);
	r->claim = r->pending = NULL;
	r->req = NULL;
	r->mem = NULL;
	r->fd = -1;
}

void kt_allow_all(struct kt_ring *r)
{
	memset(r->allow, 0xff, sizeof(r->allow));
}

void kt_allow(struct kt_ring *r, unsigned int nr, bool on)
{
	if (on)
		r->allow[nr / 8] |= 1u << (nr % 8);
	else
		r->allow[nr / 8] &= ~(1u << (nr % 8));
}

int kt_open_dev(void)
{
	int fd = open("/dev/genesys", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int kt_register(struct kt_ring *r)
{
	struct gsys_ioc_register_ring req = {
		.size = sizeof(req),
		.abi_version = GSYS_ABI_VERSION,
		.ring_addr = (uintptr_t)r->mem,
		.ring_bytes = r->bytes,
		.allow_ptr = (uintptr_t)r->allow,
		.max_io_bytes = r->max_io,
		.flags = r->reg_flags,
	};

	if (r->fd < 0) {
		r->fd = kt_open_dev();
		if (r->fd < 0)
			return r->fd;
	}
	return ioctl(r->fd, GSYS_IOC_REGISTER_RING, &req) ? -errno : 0;
}

int kt_register_files(struct kt_ring *r, const int *fds, uint32_t n)
{
	struct gsys_ioc_register_files req = {
		.size = sizeof(req), .count = n, .fds_ptr = (uintptr_t)fds,
	};

	if (ioctl(r->fd, GSYS_IOC_REGISTER_FILES, &req))
		return -errno;
	r->nfiles = n < 64 ? n : 64;
	memcpy(r->files, fds, r->nfiles * sizeof(int));
	return 0;
}

int kt_stats(int fd, struct gsys_ioc_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return ioctl(fd, GSYS_IOC_STATS, st) ? -errno : 0;
}

long kt_proc_value(const char *key)
{
	char line[256], k[200];
	long v, found = -1;
	FILE *f = fopen("/proc/genesys", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%199s %ld", k, &v) == 2 && !strcmp(k, key))
			found = v;
	fclose(f);
	return found;
}

/* ---- device side ------------------------------------------------------ */

static int kt_claim_once(struct kt_ring *r, uint32_t hint)
{
	uint32_t words = r->nslots / 32, i;

	for (i = 0; i < words; i++) {
		uint32_t w = (hint / 32 + i) % words;
		uint32_t cur = __atomic_load_n(&r->claim[w], __ATOMIC_RELAXED);

		while (cur != 0xffffffffu) {
			uint32_t bit = (uint32_t)__builtin_ctz(~cur);
			/* acquire: pairs with the release of whoever freed the slot */
			if (__atomic_compare_exchange_n(&r->claim[w], &cur, cur | (1u << bit),
							false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return (int)(w * 32 + bit);
		}
	}
	return -1;
}

int kt_claim(struct kt_ring *r, uint32_t hint)
{
	int idx = kt_claim_once(r, hint);

	if (idx < 0 && kt_reclaim(r))
		idx = kt_claim_once(r, hint);
	return idx;
}

void kt_fill(struct kt_ring *r, uint32_t idx, uint16_t nr, uint16_t flags,
	     const uint64_t a[GSYS_SLOT_ARGS])
{
	struct gsys_request *q = &r->req[idx];
	int i;

	q->nr = nr;
	q->flags = flags;
	for (i = 0; i < GSYS_SLOT_ARGS; i++)
		q->arg[i] = a ? a[i] : 0;
	__atomic_store_n(&r->slots[idx].state, GSYS_SLOT_READY, __ATOMIC_RELAXED);
}

void kt_push(struct kt_ring *r, uint32_t idx)
{
	uint64_t pos = __atomic_fetch_add(&r->tail, 1, __ATOMIC_RELAXED);
	struct gsys_sq_entry *e = &r->sq[pos & (r->sq_entries - 1)];
	/* what kt_fill wrote (a garbage index gets a nop) */
	const struct gsys_request *q = idx < r->nslots ? &r->req[idx] : NULL;
	int i;

	e->nr = q ? q->nr : GSYS_NR_NOP;
	e->flags = q ? q->flags : 0;
	for (i = 0; i < GSYS_SLOT_ARGS; i++)
		e->arg[i] = q ? q->arg[i] : 0;
	/* release: the executor that acquires the entry sees the request, the slot and buffers */
	__atomic_store_n((uint64_t *)e, GSYS_SQ_WORD(pos, idx), __ATOMIC_RELEASE);
	/* a CPU "device" may wake a napping SERVE, as the simulator does */
	__atomic_fetch_add(&r->h->doorbell, 1, __ATOMIC_SEQ_CST);
}

int kt_submit(struct kt_ring *r, uint32_t hint, uint16_t nr, uint16_t flags,
	      const uint64_t a[GSYS_SLOT_ARGS])
{
	int idx = kt_claim(r, hint);

	if (idx < 0)
		return -1;
	kt_fill(r, (uint32_t)idx, nr, flags, a);
	kt_push(r, (uint32_t)idx);
	if (flags & GSYS_SLOT_F_NONBLOCK)
		kt_park(r, (uint32_t)idx);
	return idx;
}

void kt_free_slot(struct kt_ring *r, uint32_t idx)
{
	/* release: the slot's last use precedes the next owner's claim */
	__atomic_fetch_and(&r->claim[idx / 32], ~(1u << (idx % 32)), __ATOMIC_RELEASE);
}

void kt_park(struct kt_ring *r, uint32_t idx)
{
	/* release: the READY store precedes a reclaimer's look at the state */
	__atomic_fetch_or(&r->pending[idx / 32], 1u << (idx % 32), __ATOMIC_RELEASE);
}

uint32_t kt_reclaim(struct kt_ring *r)
{
	uint32_t w, freed = 0;

	for (w = 0; w < r->nslots / 32; w++) {
		uint32_t parked = __atomic_load_n(&r->pending[w], __ATOMIC_ACQUIRE);
		uint32_t done = 0, mine, b;

		for (b = parked; b; b &= b - 1) {
			uint32_t bit = (uint32_t)__builtin_ctz(b);

			if (GSYS_SLOT_FINISHED(kt_state(r, w * 32 + bit)))
				done |= 1u << bit;
		}
		if (!done)
			continue;
		mine = __atomic_fetch_and(&r->pending[w], ~done, __ATOMIC_ACQ_REL) & done;
		/*
		 * As the device library's reclaim_bits(): a bit taken for a slot
		 * that is no longer DONE belongs to a newer parked call (another
		 * sweeper freed the old one in between): give it back.
		 */
		for (b = mine; b; b &= b - 1) {
			uint32_t bit = (uint32_t)__builtin_ctz(b);

			if (!GSYS_SLOT_FINISHED(kt_state(r, w * 32 + bit))) {
				__atomic_fetch_or(&r->pending[w], 1u << bit, __ATOMIC_RELEASE);
				mine &= ~(1u << bit);
			}
		}
		__atomic_fetch_and(&r->claim[w], ~mine, __ATOMIC_RELEASE);
		freed += (uint32_t)__builtin_popcount(mine);
	}
	return freed;
}

uint64_t kt_state(struct kt_ring *r, uint32_t idx)
{
	return __atomic_load_n(&r->slots[idx].state, __ATOMIC_ACQUIRE);
}

bool kt_claimed(struct kt_ring *r, uint32_t idx)
{
	return __atomic_load_n(&r->claim[idx / 32], __ATOMIC_ACQUIRE) & (1u << (idx % 32));
}

int64_t kt_wait(struct kt_ring *r, uint32_t idx, unsigned int timeout_ms)
{
	struct gsys_slot *s = &r->slots[idx];
	uint64_t deadline = kt_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	unsigned int spins = 0;
	int64_t ret;
	uint64_t st;

	/* acquire: pairs with the executor's release of DONE (the result and buffers) */
	while (!GSYS_SLOT_FINISHED(st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE))) {
		if (++spins % 256 == 0) {
			if (kt_now_ns() > deadline) {
				kt_park(r, idx);        /* freed by kt_reclaim once DONE */
				return -ETIMEDOUT;
			}
			sched_yield();
		}
	}
	/* in the state word, or, too wide for it, in ret */
	ret = GSYS_SLOT_TAG(st) == GSYS_SLOT_DONE ? GSYS_SLOT_INLINE_RET(st) : __atomic_load_n(&s->ret, __ATOMIC_RELAXED);
	kt_free_slot(r, idx);
	return ret;
}

/* ---- host side -------------------------------------------------------- */

int64_t kt_sys(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
	       uint64_t a4, uint64_t a5)
{
	long ret = syscall(nr, a0, a1, a2, a3, a4, a5);

	return ret == -1 ? -errno : ret;
}

/*
 * What a userspace executor does with a request the module handed back: run
 * the copy SERVE validated (never the live slot), then complete the slot.
 */
void kt_run_fallback(struct kt_ring *r, const struct gsys_request *q)
{
	struct gsys_slot *s;
	uint64_t a[GSYS_SLOT_ARGS];
	int64_t ret;
	int i;

	if (q->slot >= r->nslots)
		return;
	s = &r->slots[q->slot];
	for (i = 0; i < GSYS_SLOT_ARGS; i++)
		a[i] = q->arg[i];
	if ((q->flags & GSYS_SLOT_F_FIXED_FILE) &&
	    (a[0] >= r->nfiles || r->files[a[0]] < 0))
		ret = -EBADF;
	else if (q->nr >= GSYS_NR_PRIVATE_BASE)
		ret = -ENOSYS;
	else {
		if (q->flags & GSYS_SLOT_F_FIXED_FILE)
			a[0] = (uint64_t)r->files[a[0]];
		ret = kt_sys(q->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
	/* every call ends DONE; the "device" frees or reclaims the slot */
	if (GSYS_SLOT_RET_FITS(ret)) {
		__atomic_store_n(&s->state, GSYS_SLOT_DONE_WORD(ret), __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(&s->ret, ret, __ATOMIC_RELAXED);
	__atomic_store_n(&s->state, (uint64_t)GSYS_SLOT_DONE_WIDE, __ATOMIC_RELEASE);
}

struct kt_serve_result kt_serve_raw(struct kt_ring *r, uint64_t idle_ns, uint64_t spin_ns,
				    uint32_t flags, struct gsys_request *fb, uint32_t fallback_max)
{
	struct gsys_ioc_serve a = {
		.size = sizeof(a),
		.flags = flags,
		.idle_timeout_ns = idle_ns,
		.spin_ns = spin_ns,
		.fallback_ptr = (uintptr_t)fb,
		.fallback_max = fallback_max,
	};
	struct kt_serve_result res;

	res.rc = ioctl(r->fd, GSYS_IOC_SERVE, &a) ? -errno : 0;
	res.fallbacks = a.fallback_count;
	res.completed = a.completed;
	return res;
}

struct kt_serve_result kt_serve(struct kt_ring *r, uint64_t idle_ns, uint64_t spin_ns,
				uint32_t flags, uint32_t fallback_max)
{
	struct gsys_request fb[64];
	struct kt_serve_result res;
	uint32_t i;

	res = kt_serve_raw(r, idle_ns, spin_ns, flags, fb, fallback_max > 64 ? 64 : fallback_max);
	/* the listed slots are ours now, on every return (-EINTR included) */
	for (i = 0; i < res.fallbacks && i < 64; i++)
		kt_run_fallback(r, &fb[i]);
	return res;
}

int64_t kt_call(struct kt_ring *r, uint16_t nr, uint16_t flags, uint64_t a0,
		uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	uint64_t a[GSYS_SLOT_ARGS] = { a0, a1, a2, a3, a4, a5 };
	int idx = kt_submit(r, 0, nr, flags, a);
	struct kt_serve_result res;

	if (idx < 0)
		return -ENOSPC;
	res = kt_serve(r, 0, 0, 0, 64);
	if (res.rc)
		return res.rc == -ETIMEDOUT ? -EIO : res.rc;
	if (flags & GSYS_SLOT_F_NONBLOCK)
		return 0;
	return kt_wait(r, (uint32_t)idx, 20000);
}

static void *kt_server_main(void *p)
{
	struct kt_server *s = p;

	while (!s->stop) {
		struct kt_serve_result res = kt_serve(s->r, s->idle_ns, s->spin_ns, 0, 64);

		s->serves++;
		s->completed += res.completed;
		s->fallbacks += res.fallbacks;
		if (res.rc && res.rc != -EINTR && !s->error)
			s->error = res.rc;
		if (res.rc && res.rc != -EINTR)
			break;
	}
	return NULL;
}

int kt_server_start(struct kt_server *s, struct kt_ring *r, uint64_t idle_ns,
		    uint64_t spin_ns)
{
	pthread_t t;

	memset(s, 0, sizeof(*s));
	s->r = r;
	s->idle_ns = idle_ns;
	s->spin_ns = spin_ns;
	if (pthread_create(&t, NULL, kt_server_main, s))
		return -1;
	s->thread = (unsigned long)t;
	return 0;
}

void kt_server_stop(struct kt_server *s)
{
	s->stop = 1;
	__atomic_store_n(&s->r->h->stop, 1, __ATOMIC_RELEASE);
	pthread_join((pthread_t)s->thread, NULL);
}

/* ---- misc --------------------------------------------------------------- */

uint64_t kt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t kt_rand(uint64_t *state)
{
	/* xorshift64* */
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* ---- checks ----------------------------------------------------------- */

void kt_begin(const char *name)
{
	kt_current = name;
	kt_current_failures = 0;
}

void kt_end(void)
{
	if (kt_current_failures) {
		kt_failed++;
		printf("not ok - %s\n", kt_current);
	} else {
		kt_passed++;
		printf("ok - %s\n", kt_current);
	}
	fflush(stdout);
}

void kt_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	kt_current_failures++;
	printf("#   %s: %s:%d: ", kt_current ? kt_current : "?", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

int kt_finish(const char *prog)
{
	printf("# %s: %d passed, %d failed\n", prog, kt_passed, kt_failed);
	fflush(stdout);
	return kt_failed ? 1 : 0;
}
