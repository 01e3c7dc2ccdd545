// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * Description: small benchmark of the kmod executor inside the test guest:
 * null calls (GSYS_NR_NOP) and 4 KiB preads through SERVE, one at a time and
 * 32 at a time (a warp's batch), plus the same work as direct syscalls for
 * reference. One JSON line each, prefixed "GENESYS-BENCH ".
 *
 * mode "serve_thread": a device thread against a SERVE thread that spins on
 *   the queue (the real deployment: submit -> DONE crosses CPUs);
 * mode "inline": one thread submits the batch, enters SERVE (idle 0) and
 *   collects the results: the executor's own cost, no cross-CPU handoff.
 * p50_ns/p99_ns are per round (one batch: submit all, wait all).
 *
 * Under QEMU TCG the absolute numbers are those of an emulated CPU, and the
 * serve_thread mode suffers when the host deschedules a spinning vCPU:
 * compare executors within one run, not across machines.
 *
 * usage: t_bench [seconds_per_case]   (1)
 */
#define _GNU_SOURCE
#include "kt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_SAMPLES (1 << 16)
#define FILE_BYTES (1 << 20)

static uint64_t samples[MAX_SAMPLES];
static char buf[32][4096];

struct result {
	uint64_t calls;
	double secs;
	uint64_t p50, p99;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void percentiles(struct result *res, uint64_t n)
{
	if (!n) {
		res->p50 = res->p99 = 0;
		return;
	}
	qsort(samples, n, sizeof(samples[0]), cmp_u64);
	res->p50 = samples[n / 2];
	res->p99 = samples[n * 99 / 100];
}

static void report(const char *bench, const char *executor, const char *mode,
		   const char *op, unsigned int batch, const struct result *res)
{
	const char *env = getenv("gsys_env");

	printf("GENESYS-BENCH {\"bench\":\"%s\",\"executor\":\"%s\",\"mode\":\"%s\","
	       "\"op\":\"%s\",\"batch\":%u,"
	       "\"calls\":%llu,\"secs\":%.3f,\"calls_per_s\":%.0f,\"p50_ns\":%llu,\"p99_ns\":%llu,"
	       "\"env\":\"%s\"}\n",
	       bench, executor, mode, op, batch, (unsigned long long)res->calls, res->secs,
	       res->secs > 0 ? (double)res->calls / res->secs : 0.0,
	       (unsigned long long)res->p50, (unsigned long long)res->p99, env ? env : "native");
	fflush(stdout);
}

/* Rounds of @batch requests; @inl: this thread serves them itself. */
static struct result run_ring(struct kt_ring *r, uint16_t nr, int fd, unsigned int batch,
			      bool inl, double seconds, uint64_t *errors)
{
	uint64_t t_end, t0 = kt_now_ns(), n = 0, off = 0;
	struct result res = { 0 };
	int idx[32];
	unsigned int i;

	t_end = t0 + (uint64_t)(seconds * 1e9);
	while (kt_now_ns() < t_end) {
		uint64_t s = kt_now_ns();

		for (i = 0; i < batch; i++) {
			uint64_t a[GSYS_SLOT_ARGS] = { (uint64_t)fd, (uintptr_t)buf[i], 4096, off };

			off = (off + 4096) % FILE_BYTES;
			idx[i] = kt_submit(r, 0, nr, 0, a);
		}
		if (inl && kt_serve(r, 0, 0, 0, 64).rc)
			(*errors)++;
		for (i = 0; i < batch; i++) {
			int64_t ret = idx[i] < 0 ? -ENOSPC : kt_wait(r, (uint32_t)idx[i], 10000);

			if (ret != (nr == GSYS_NR_NOP ? 0 : 4096))
				(*errors)++;
		}
		if (n < MAX_SAMPLES)
			samples[n] = kt_now_ns() - s;
		n++;
	}
	res.secs = (double)(kt_now_ns() - t0) / 1e9;
	res.calls = n * batch;
	percentiles(&res, n < MAX_SAMPLES ? n : MAX_SAMPLES);
	return res;
}

static struct result run_direct(long nr, int fd, double seconds)
{
	uint64_t t_end, t0 = kt_now_ns(), n = 0, off = 0;
	struct result res = { 0 };

	t_end = t0 + (uint64_t)(seconds * 1e9);
	while (kt_now_ns() < t_end) {
		uint64_t s = kt_now_ns();

		if (nr == __NR_pread64) {
			if (pread(fd, buf[0], 4096, (off_t)off) != 4096)
				break;
			off = (off + 4096) % FILE_BYTES;
		} else {
			syscall(nr);
		}
		if (n < MAX_SAMPLES)
			samples[n] = kt_now_ns() - s;
		n++;
	}
	res.secs = (double)(kt_now_ns() - t0) / 1e9;
	res.calls = n;
	percentiles(&res, n < MAX_SAMPLES ? n : MAX_SAMPLES);
	return res;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	uint64_t errors = 0;
	struct kt_server srv;
	struct kt_ring r;
	struct result res;
	static char block[FILE_BYTES];
	int inl;
	int fd = kt_open_dev();

	if (fd < 0) {
		printf("# no /dev/genesys\n");
		return KT_SKIP;
	}
	close(fd);
	memset(block, 'b', sizeof(block));
	fd = open("/tmp/kt_bench", O_CREAT | O_TRUNC | O_RDWR, 0644);
	if (fd < 0 || write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
		return 1;

	kt_begin("bench_null_call_and_pread4k");
	KT_EQ(kt_ring_alloc(&r, 256, 256), 0);
	KT_EQ(kt_register(&r), 0);
	for (inl = 1; inl >= 0; inl--) {
		const char *mode = inl ? "inline" : "serve_thread";

		/* a SERVE thread that never sleeps: the latency floor of the executor */
		if (!inl)
			KT_EQ(kt_server_start(&srv, &r, 60ull * 1000000000ull,
					      60ull * 1000000000ull), 0);
		res = run_ring(&r, GSYS_NR_NOP, 0, 1, inl, seconds, &errors);
		report("null_call", "kmod", mode, "nop", 1, &res);
		res = run_ring(&r, GSYS_NR_NOP, 0, 32, inl, seconds, &errors);
		report("null_call", "kmod", mode, "nop", 32, &res);
		res = run_ring(&r, __NR_pread64, fd, 1, inl, seconds, &errors);
		report("pread_4k", "kmod", mode, "pread64", 1, &res);
		res = run_ring(&r, __NR_pread64, fd, 32, inl, seconds, &errors);
		report("pread_4k", "kmod", mode, "pread64", 32, &res);
	}
	kt_server_stop(&srv);
	KT_EQ(srv.error, 0);
	KT_EQ(errors, 0);

	res = run_direct(__NR_getpid, -1, seconds);
	report("null_call", "direct", "syscall", "getpid", 1, &res);
	res = run_direct(__NR_pread64, fd, seconds);
	report("pread_4k", "direct", "syscall", "pread64", 1, &res);

	kt_ring_free(&r);
	close(fd);
	unlink("/tmp/kt_bench");
	kt_end();
	return kt_finish("t_bench");
}
