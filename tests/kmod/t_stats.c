// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * Description: GSYS_IOC_STATS's per-operation counts through the raw ioctl:
 * calls, errors, denied and non-blocking per GSYS_OP_TABLE entry and "other",
 * fallbacks left out (userspace counts them), their sums equal to the context
 * totals, the count clamped to the caller's room, per context; and the
 * argument checks: ops_count 0 or too large, ops_count without ops_ptr,
 * reserved fields (EINVAL), an unmapped or read-only ops_ptr (EFAULT).
 */
#define _GNU_SOURCE
#include "kt.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NOPS (GSYS_OP_COUNT + 1)
#define OTHER GSYS_OP_COUNT
#define P(x) ((uint64_t)(uintptr_t)(x))

static struct kt_ring R;

/* Index of nr in GSYS_OP_TABLE, OTHER outside it: what the module uses. */
static unsigned int op_index(unsigned int nr)
{
#define KT_OP_NR(name, nr, dir, a0, a1, a2, a3, a4, a5) nr,
	static const long nrs[GSYS_OP_COUNT] = { GSYS_OP_TABLE(KT_OP_NR) };
#undef KT_OP_NR
	unsigned int i;

	for (i = 0; i < GSYS_OP_COUNT; i++)
		if (nrs[i] == (long)nr)
			return i;
	return OTHER;
}

static long stats_ioctl(int fd, struct gsys_ioc_stats *st)
{
	return ioctl(fd, GSYS_IOC_STATS, st) ? -errno : 0;
}

/* STATS with room for @room entries at @ops; 0 or -errno. */
static long get_ops(int fd, struct gsys_ioc_op_stats *ops, uint32_t room,
		    struct gsys_ioc_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->ops_ptr = P(ops);
	st->ops_count = room;
	return stats_ioctl(fd, st);
}

static int64_t call(uint16_t nr, uint16_t flags, uint64_t a0, uint64_t a1)
{
	return kt_call(&R, nr, flags, a0, a1, 0, 0, 0, 0);
}

static void test_per_op_counts(void)
{
	struct gsys_ioc_op_stats ops[NOPS + 3];
	struct gsys_ioc_stats st;
	uint64_t calls = 0, errors = 0, denied = 0, nb = 0;
	struct stat sb;
	char buf[8];
	int fd = open("/tmp/kt_stats_file", O_CREAT | O_RDWR | O_TRUNC, 0644);
	unsigned int i;
	int idx, blk;

	kt_begin("per_op_counts");
	KT_CHECK(fd >= 0);
	kt_allow(&R, __NR_getppid, false);
	KT_EQ(kt_register(&R), 0);

	KT_EQ(call(GSYS_NR_NOP, 0, 0, 0), 0);
	KT_EQ(call(GSYS_NR_NOP, 0, 0, 0), 0);
	KT_EQ(call(GSYS_NR_NOP, 0, 0, 0), 0);
	KT_EQ(call(__NR_getpid, 0, 0, 0), getpid());
	KT_EQ(call(__NR_fstat, 0, (uint64_t)-1, P(&sb)), -EBADF);
	KT_EQ(call(__NR_fstat, 0, (uint64_t)fd, P(&sb)), 0);
	KT_EQ(kt_call(&R, __NR_pread64, 0, (uint64_t)fd, P(buf), sizeof(buf), 0, 0, 0), 0);
	KT_EQ(call(__NR_getppid, 0, 0, 0), -EPERM);           /* denied */
	KT_EQ(call(GSYS_NR_NOP, 0x4000, 0, 0), -EINVAL);      /* unknown flag */
	/* not native: a fallback, run and counted by userspace, not here */
	KT_EQ(call(__NR_getuid, 0, 0, 0), getuid());
	/* fire-and-forget: the kernel completes it, the "device" reclaims it */
	KT_CHECK((idx = kt_submit(&R, 0, GSYS_NR_NOP, GSYS_SLOT_F_NONBLOCK, NULL)) >= 0);
	KT_CHECK(kt_submit(&R, 1, __NR_getpid, GSYS_SLOT_F_NONBLOCK, NULL) >= 0);
	/* outside the table, no fallback array: completed here with -ENOSYS */
	KT_CHECK((blk = kt_submit(&R, 2, __NR_getuid, 0, NULL)) >= 0);
	KT_EQ(kt_serve(&R, 0, 0, 0, 0).rc, 0);
	KT_EQ(kt_state(&R, (uint32_t)idx), GSYS_SLOT_DONE_WORD(0));
	KT_EQ(kt_wait(&R, (uint32_t)blk, 1000), -ENOSYS);
	KT_EQ(kt_reclaim(&R), 2);

	/* room for more than the kernel has: the extra entries stay untouched */
	memset(ops, 0xa5, sizeof(ops));
	KT_EQ(get_ops(R.fd, ops, NOPS + 3, &st), 0);
	KT_EQ(st.ops_count, NOPS);
	KT_EQ(st.ops_ptr, P(ops));
	for (i = NOPS; i < NOPS + 3; i++)
		KT_EQ(ops[i].calls, 0xa5a5a5a5a5a5a5a5ull);

	KT_EQ(ops[op_index(GSYS_NR_NOP)].calls, 5);
	KT_EQ(ops[op_index(GSYS_NR_NOP)].errors, 1);
	KT_EQ(ops[op_index(GSYS_NR_NOP)].nonblocking, 1);
	KT_EQ(ops[op_index(__NR_getpid)].calls, 2);
	KT_EQ(ops[op_index(__NR_getpid)].nonblocking, 1);
	KT_EQ(ops[op_index(__NR_fstat)].calls, 2);
	KT_EQ(ops[op_index(__NR_fstat)].errors, 1);
	KT_EQ(ops[op_index(__NR_pread64)].calls, 1);
	KT_EQ(ops[op_index(__NR_getppid)].calls, 1);
	KT_EQ(ops[op_index(__NR_getppid)].errors, 1);
	KT_EQ(ops[op_index(__NR_getppid)].denied, 1);
	KT_EQ(ops[op_index(__NR_read)].calls, 0);
	KT_EQ(op_index(__NR_getuid), OTHER);
	KT_EQ(ops[OTHER].calls, 1);                           /* the -ENOSYS one */
	KT_EQ(ops[OTHER].errors, 1);
	for (i = 0; i < NOPS; i++) {
		calls += ops[i].calls;
		errors += ops[i].errors;
		denied += ops[i].denied;
		nb += ops[i].nonblocking;
	}
	KT_EQ(calls, st.ctx_completed);
	KT_EQ(errors, st.ctx_failed);
	KT_EQ(denied, st.ctx_denied);
	KT_EQ(nb, 2);
	KT_EQ(st.ctx_fallback, 1);

	/* less room: only that much is written, the kernel's count comes back */
	memset(ops, 0xa5, sizeof(ops));
	KT_EQ(get_ops(R.fd, ops, 1, &st), 0);
	KT_EQ(st.ops_count, NOPS);
	KT_EQ(ops[0].calls, 0);                               /* read */
	KT_EQ(ops[1].calls, 0xa5a5a5a5a5a5a5a5ull);

	/* without ops_ptr: nothing per op, as before the field existed */
	KT_EQ(kt_stats(R.fd, &st), 0);
	KT_EQ(st.ops_ptr, 0);
	KT_EQ(st.ops_count, 0);
	KT_EQ(st.ctx_completed, calls);

	kt_allow(&R, __NR_getppid, true);
	close(fd);
	unlink("/tmp/kt_stats_file");
	kt_end();
}

static void test_per_context(void)
{
	struct gsys_ioc_op_stats ops[NOPS];
	struct gsys_ioc_stats st;
	int fd = kt_open_dev();
	unsigned int i;

	kt_begin("per_op_counts_are_per_context");
	KT_CHECK(fd >= 0);
	memset(ops, 0xa5, sizeof(ops));
	KT_EQ(get_ops(fd, ops, NOPS, &st), 0);            /* no ring needed */
	KT_EQ(st.ops_count, NOPS);
	for (i = 0; i < NOPS; i++)
		KT_EQ(ops[i].calls | ops[i].errors | ops[i].denied | ops[i].nonblocking, 0);
	close(fd);
	kt_end();
}

static void test_bad_args(void)
{
	struct gsys_ioc_op_stats ops[NOPS];
	struct gsys_ioc_stats st;
	long page = sysconf(_SC_PAGESIZE);
	void *ro, *gone;

	kt_begin("stats_ops_bad_args");
	KT_EQ(get_ops(R.fd, ops, 0, &st), -EINVAL);
	KT_EQ(get_ops(R.fd, ops, GSYS_STATS_MAX_OPS + 1, &st), -EINVAL);
	KT_EQ(get_ops(R.fd, ops, 0xffffffffu, &st), -EINVAL);
	KT_EQ(get_ops(R.fd, NULL, NOPS, &st), -EINVAL);       /* count without pointer */
	get_ops(R.fd, ops, NOPS, &st);
	st.reserved1 = 1;
	KT_EQ(stats_ioctl(R.fd, &st), -EINVAL);
	get_ops(R.fd, ops, NOPS, &st);
	st.reserved[1] = 1;
	KT_EQ(stats_ioctl(R.fd, &st), -EINVAL);

	ro = mmap(NULL, (size_t)page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gone = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_CHECK(ro != MAP_FAILED && gone != MAP_FAILED);
	munmap(gone, (size_t)page);
	KT_EQ(get_ops(R.fd, gone, NOPS, &st), -EFAULT);
	KT_EQ(get_ops(R.fd, ro, NOPS, &st), -EFAULT);
	KT_EQ(get_ops(R.fd, (void *)(uintptr_t)8, 1, &st), -EFAULT);
	KT_EQ(get_ops(R.fd, (void *)(uintptr_t)0xffff800000000000ull, NOPS, &st), -EFAULT);
	munmap(ro, (size_t)page);
	/* writable for the first entry, read-only from the second on */
	ro = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_CHECK(ro != MAP_FAILED);
	KT_EQ(mprotect((char *)ro + page, (size_t)page, PROT_READ), 0);
	KT_EQ(get_ops(R.fd, (struct gsys_ioc_op_stats *)((char *)ro + page) - 1, NOPS, &st),
	      -EFAULT);
	KT_EQ(get_ops(R.fd, (struct gsys_ioc_op_stats *)((char *)ro + page) - 1, 1, &st), 0);
	munmap(ro, 2 * (size_t)page);
	/* a good call still works afterwards */
	KT_EQ(get_ops(R.fd, ops, NOPS, &st), 0);
	kt_end();
}

int main(void)
{
	int rc = kt_open_dev();

	if (rc < 0) {
		printf("# no /dev/genesys: %s\n", strerror(-rc));
		return KT_SKIP;
	}
	close(rc);
	if (kt_ring_alloc(&R, 64, 64)) {
		printf("# cannot allocate a ring\n");
		return 1;
	}
	kt_allow_all(&R);
	test_per_op_counts();
	test_per_context();
	test_bad_args();
	kt_ring_free(&R);
	return kt_finish("t_stats");
}
