// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * Description: many device threads against several SERVE threads on one
 * ring: every request completes exactly once with the right result (nop,
 * getpid, fire-and-forget nops freed by the kernel), SERVE threads come and
 * go (short idle timeouts, so they also sleep and re-enter), and the totals
 * match STATS and the ring header exactly. Then again with a one-warp ring
 * (32 slots) smaller than all producers' windows together, so producers
 * contend for claim bits and wait for free slots.
 *
 * usage: t_stress [producers [calls_per_producer [servers]]]   (4 50000 2)
 */
#define _GNU_SOURCE
#include "kt.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW 8

struct producer {
	struct kt_ring *r;
	unsigned int id;
	uint64_t calls;
	uint64_t wrong;         /* results that were not what the op returns */
	uint64_t timeouts;
	uint64_t nonblocking;
	pthread_t thread;
};

static pid_t self_pid;

static void *producer_main(void *p)
{
	struct producer *pr = p;
	struct { int idx; int64_t expect; } out[WINDOW];
	uint64_t seed = 0x1234 + pr->id, issued = 0;
	unsigned int head = 0, n = 0;

	while (issued < pr->calls || n) {
		while (n < WINDOW && issued < pr->calls) {
			uint64_t pick = kt_rand(&seed) % 10;
			uint16_t nr = pick < 7 ? GSYS_NR_NOP : __NR_getpid;
			uint16_t flags = pick == 9 ? GSYS_SLOT_F_NONBLOCK : 0;
			int idx;

			if (flags)
				nr = GSYS_NR_NOP;
			idx = kt_submit(pr->r, pr->id * 32, nr, flags, NULL);
			if (idx < 0)
				break;          /* ring full: wait for ours first */
			issued++;
			if (flags) {
				pr->nonblocking++;
				continue;
			}
			out[(head + n) % WINDOW].idx = idx;
			out[(head + n) % WINDOW].expect = nr == __NR_getpid ? self_pid : 0;
			n++;
		}
		if (n) {
			int64_t ret = kt_wait(pr->r, (uint32_t)out[head].idx, 60000);

			if (ret == -ETIMEDOUT)
				pr->timeouts++;
			else if (ret != out[head].expect)
				pr->wrong++;
			head = (head + 1) % WINDOW;
			n--;
		} else if (issued < pr->calls) {
			sched_yield();
		}
	}
	return NULL;
}

static void run(const char *name, unsigned int producers, uint64_t calls,
		unsigned int servers, uint32_t nslots)
{
	struct producer pr[16];
	struct kt_server srv[8];
	struct gsys_ioc_stats st;
	uint64_t total = 0, wrong = 0, timeouts = 0, t0, served = 0;
	struct kt_ring r;
	double secs;
	unsigned int i;

	kt_begin(name);
	KT_EQ(kt_ring_alloc(&r, nslots, nslots), 0);
	KT_EQ(kt_register(&r), 0);
	for (i = 0; i < servers; i++)
		KT_EQ(kt_server_start(&srv[i], &r, 2000000 /* 2 ms idle */, 20000), 0);
	t0 = kt_now_ns();
	for (i = 0; i < producers; i++) {
		memset(&pr[i], 0, sizeof(pr[i]));
		pr[i].r = &r;
		pr[i].id = i;
		pr[i].calls = calls;
		pthread_create(&pr[i].thread, NULL, producer_main, &pr[i]);
	}
	for (i = 0; i < producers; i++) {
		pthread_join(pr[i].thread, NULL);
		total += pr[i].calls;
		wrong += pr[i].wrong;
		timeouts += pr[i].timeouts;
	}
	secs = (double)(kt_now_ns() - t0) / 1e9;
	/* fire-and-forget slots may still be in flight: wait for the queue to drain */
	t0 = kt_now_ns();
	while (__atomic_load_n(&r.h->completed, __ATOMIC_ACQUIRE) < total &&
	       kt_now_ns() - t0 < 10000000000ull)
		usleep(1000);
	for (i = 0; i < servers; i++) {
		kt_server_stop(&srv[i]);
		KT_EQ(srv[i].error, 0);
		served += srv[i].serves;
	}
	KT_EQ(wrong, 0);
	KT_EQ(timeouts, 0);
	KT_EQ(kt_stats(r.fd, &st), 0);
	KT_EQ(st.ctx_completed, total);
	KT_EQ(st.ctx_failed, 0);
	KT_EQ(st.ctx_garbage, 0);
	KT_EQ(st.ctx_fallback, 0);
	KT_EQ(st.ctx_skipped, 0);
	KT_EQ(r.h->completed, total);
	KT_EQ(r.h->sq_head, r.tail);
	kt_reclaim(&r);         /* fire-and-forget slots wait, DONE, for the device */
	for (i = 0; i < r.nslots / 32; i++)
		KT_EQ(r.claim[i], 0);
	printf("# %u producers x %llu calls, %u servers, %u slots: %.2fs, %.0f calls/s, "
	       "%llu SERVE entries\n", producers, (unsigned long long)calls, servers, nslots,
	       secs, (double)total / secs, (unsigned long long)served);
	kt_ring_free(&r);
	kt_end();
}

int main(int argc, char **argv)
{
	unsigned int producers = argc > 1 ? (unsigned int)atoi(argv[1]) : 4;
	uint64_t calls = argc > 2 ? strtoull(argv[2], NULL, 0) : 50000;
	unsigned int servers = argc > 3 ? (unsigned int)atoi(argv[3]) : 2;
	int fd = kt_open_dev();

	if (fd < 0) {
		printf("# no /dev/genesys\n");
		return KT_SKIP;
	}
	close(fd);
	if (producers > 16)
		producers = 16;
	if (servers > 8)
		servers = 8;
	self_pid = getpid();

	run("producers_x_servers_all_complete", producers, calls, servers, 512);
	run("one_warp_ring_smaller_than_windows", 6, calls / 2, 3, 32);
	return kt_finish("t_stress");
}
