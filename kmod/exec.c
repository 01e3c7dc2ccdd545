// SPDX-License-Identifier: GPL-2.0
/*
 * Running one request: policy (allow bitmap, flags, fixed files), then the
 * native implementation if the module has one, else a fallback to userspace.
 * A confined ring's pointers are checked first (confine.c).
 *
 * Native operations use exported kernel APIs only and reproduce what the
 * syscall does, errors included; what cannot be reproduced exactly (a dirfd
 * for openat, madvise, getrusage, files without ->read_iter, ...) falls back.
 * A fallback request reaches userspace exactly as the device wrote it (fixed
 * file index untranslated); the kernel has only checked the allow bitmap,
 * the slot flags and, for madvise, that the range is a genesys mapping.
 */
#include <linux/errno.h>
#include <linux/limits.h>
#include <linux/file.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>

#include <genesys/ops.h>

#include "genesys.h"

struct gsys_native_op {
	u16 nr;
	bool fd_arg0;           /* arg[0] is a file: GSYS_SLOT_F_FIXED_FILE may apply */
	int (*run)(struct gsys_call *c);
};

static int gsys_op_nop(struct gsys_call *c)
{
	c->ret = 0;
	return GSYS_RUN_DONE;
}

static int gsys_op_getpid(struct gsys_call *c)
{
	c->ret = task_tgid_vnr(current);
	return GSYS_RUN_DONE;
}

static int gsys_op_getppid(struct gsys_call *c)
{
	rcu_read_lock();
	c->ret = task_tgid_vnr(rcu_dereference(current->real_parent));
	rcu_read_unlock();
	return GSYS_RUN_DONE;
}

/*
 * Everything the module runs itself; the rest falls back to userspace.
 * getrusage is the one op of ops.h left out (getrusage() is not exported).
 */
static_assert(GSYS_OP_COUNT == 18,
	      "ops.h changed: decide whether genesys.ko runs the new op (exec.c)");
static const struct gsys_native_op gsys_native_ops[] = {
	{ GSYS_NR_NOP, false, gsys_op_nop },
	{ __NR_read, true, gsys_op_read },
	{ __NR_write, true, gsys_op_write },
	{ __NR_pread64, true, gsys_op_pread64 },
	{ __NR_pwrite64, true, gsys_op_pwrite64 },
	{ __NR_lseek, true, gsys_op_lseek },
	{ __NR_fsync, true, gsys_op_fsync },
	{ __NR_fstat, true, gsys_op_fstat },
	{ __NR_sendto, true, gsys_op_sendto },
	{ __NR_recvfrom, true, gsys_op_recvfrom },
	{ __NR_openat, false, gsys_op_openat },
	{ __NR_close, false, gsys_op_close },
	{ __NR_mmap, false, gsys_op_mmap },
	{ __NR_munmap, false, gsys_op_munmap },
	{ __NR_madvise, false, gsys_op_madvise },
	{ __NR_getpid, false, gsys_op_getpid },
	{ __NR_getppid, false, gsys_op_getppid },
};

static const struct gsys_native_op *gsys_native_op(u16 nr)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(gsys_native_ops); i++)
		if (gsys_native_ops[i].nr == nr)
			return &gsys_native_ops[i];
	return NULL;
}

/*
 * The file arg[0] names, with a reference: a fixed-file index when the slot
 * says so, else a descriptor of the serving process (fd semantics of the
 * syscall: the register's low 32 bits, O_PATH files refused).
 */
struct file *gsys_call_fget(struct gsys_call *c)
{
	if (c->req.flags & GSYS_SLOT_F_FIXED_FILE)
		return gsys_fixed_file_get(c->ctx, c->req.arg[0]);
	return fget((unsigned int)c->req.arg[0]);
}

/* A syscall cannot be restarted from a ring: report what userspace would see. */
static s64 gsys_user_errno(s64 ret)
{
	switch (ret) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
	case -ERESTART_RESTARTBLOCK:
		return -EINTR;
	case -ENOIOCTLCMD:
		return -ENOTTY;
	default:
		return ret;
	}
}

/* Operations whose arg[2] is a transfer length, capped by max_io_bytes. */
static bool gsys_len_in_arg2(u16 nr)
{
	switch (nr) {
	case __NR_read:
	case __NR_write:
	case __NR_pread64:
	case __NR_pwrite64:
	case __NR_sendto:
	case __NR_recvfrom:
		return true;
	default:
		return false;
	}
}

/* Whether descriptor fd is an executor's file (gsys_is_executor_file). */
static bool gsys_fd_is_executor(u64 fd)
{
	struct file *f = fget_raw((unsigned int)fd);
	bool ours;

	if (!f)
		return false;
	ours = gsys_is_executor_file(f);
	fput(f);
	return ours;
}

int gsys_exec(struct gsys_call *c)
{
	const struct gsys_request *r = &c->req;
	const struct gsys_native_op *op;
	int outcome;

	if (!test_bit(r->nr, c->ring->allow)) {
		c->ret = -EPERM;
		return GSYS_RUN_DENIED;
	}
	if (r->flags & ~GSYS_SLOT_F_KNOWN) {
		c->ret = -EINVAL;
		return GSYS_RUN_DONE;
	}
	if (gsys_len_in_arg2(r->nr) && r->arg[2] > c->ring->max_io_bytes) {
		c->ret = -EINVAL;
		return GSYS_RUN_DONE;
	}
	/* before the native/fallback split: a fallback's memory is checked too */
	c->path_max = PATH_MAX;
	if (c->ring->confine) {
		int err = gsys_confine_check(c);

		if (err) {
			c->ret = err;
			return GSYS_RUN_DONE;
		}
	}
	op = gsys_native_op(r->nr);
	if (!op)
		return GSYS_RUN_FALLBACK;
	if ((r->flags & GSYS_SLOT_F_FIXED_FILE) && !op->fd_arg0) {
		c->ret = -EINVAL;
		return GSYS_RUN_DONE;
	}
	/*
	 * The executor's own descriptors are not the kernel's to use, as the
	 * userspace executors' policy says (-EPERM); fixed files never hold
	 * them (REGISTER_FILES refuses them).
	 */
	if (op->fd_arg0 && !(r->flags & GSYS_SLOT_F_FIXED_FILE) &&
	    r->arg[0] <= INT_MAX && gsys_fd_is_executor(r->arg[0])) {
		c->ret = -EPERM;
		return GSYS_RUN_DENIED;
	}
	outcome = op->run(c);
	if (outcome != GSYS_RUN_FALLBACK)
		c->ret = gsys_user_errno(c->ret);
	return outcome;
}
