// SPDX-License-Identifier: GPL-2.0
/*
 * Memory confinement and opened-file vetting: the kernel half of the
 * userspace policy's confine_memory and forbidden-file rules
 * (libgenesys/policy.cpp), so a ring served in the kernel gives a hostile
 * GPU kernel no more reach than one served by the proxy.
 *
 * Regions (GSYS_IOC_REGION) are the memory the runtime handed the device.
 * They change rarely (an allocation) and are read on every request, so
 * they live in a sorted array replaced whole under ctx->lock and read under
 * RCU. A request of a GSYS_RING_F_CONFINE ring may only name memory that lies
 * wholly in given memory: the union of the regions and the mappings the
 * module made for it (ctx->maps), so a buffer may span several; anything
 * else completes with -EFAULT before the operation runs, whether it would
 * run here or fall back to userspace.
 */
#include <linux/fs.h>
#include <linux/limits.h>
#include <linux/magic.h>
#include <linux/rcupdate.h>
#include <linux/resource.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/stat.h>
#include <linux/uaccess.h>

#include "genesys.h"

struct gsys_region {
	u64 start;
	u64 len;
};

/*
 * The regions as given (a start given again keeps the larger length) and,
 * after them, their union as spans merged where they overlap or touch:
 * lookups use the spans, so a small region inside a big one hides nothing.
 */
struct gsys_regions {
	struct rcu_head rcu;
	u32 count;                      /* regions: r[0, count) */
	u32 nspans;                     /* spans: r[count, count + nspans) */
	struct gsys_region r[];         /* each part sorted by start, starts unique */
};

/* How many of r[0, n) (sorted by start) start at or below p. */
static u32 gsys_region_upto(const struct gsys_region *r, u32 n, u64 p)
{
	u32 lo = 0, hi = n;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;

		if (r[mid].start <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Merges the sorted regions r[0, n) into spans at out; returns how many. */
static u32 gsys_region_union(const struct gsys_region *r, u32 n,
			     struct gsys_region *out)
{
	u32 i, k = 0;

	for (i = 0; i < n; i++) {
		/* no wrap: ADD keeps every region inside the address space */
		u64 end = r[i].start + r[i].len;

		if (k && r[i].start <= out[k - 1].start + out[k - 1].len) {
			if (end > out[k - 1].start + out[k - 1].len)
				out[k - 1].len = end - out[k - 1].start;
		} else {
			out[k++] = r[i];
		}
	}
	return k;
}

/* GSYS_IOC_REGION */
long gsys_region_ioctl(struct gsys_ctx *ctx, void __user *uarg)
{
	struct gsys_regions *old, *new;
	struct gsys_ioc_region req;
	bool add, known, placed = false;
	u32 n, m, i, j;
	long ret = 0;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.size != sizeof(req) || req.reserved[0] || req.reserved[1])
		return -EINVAL;
	if (req.op == GSYS_REGION_ADD) {
		if (!req.len || req.addr + req.len < req.addr ||
		    req.addr + req.len > TASK_SIZE_MAX)
			return -EINVAL;
	} else if (req.op != GSYS_REGION_REMOVE) {
		return -EINVAL;
	}

	add = req.op == GSYS_REGION_ADD;
	mutex_lock(&ctx->lock);
	old = rcu_dereference_protected(ctx->regions, lockdep_is_held(&ctx->lock));
	n = old ? old->count : 0;
	i = old ? gsys_region_upto(old->r, n, req.addr) : 0;
	known = i && old->r[i - 1].start == req.addr;
	if (!add && !known) {
		ret = -ENOENT;
		goto out_unlock;
	}
	if (add && !known && n >= GSYS_MAX_REGIONS) {
		ret = -ENOSPC;
		goto out_unlock;
	}

	/* the regions, then at most as many spans */
	m = add ? n + !known : n - 1;
	new = kvmalloc(struct_size(new, r, 2 * (size_t)m), GFP_KERNEL);
	if (!new) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	/*
	 * Copy in order: REMOVE drops the entry at addr; ADD widens it (a
	 * smaller region at a given start must not shrink it) or places a new one.
	 */
	for (i = 0, j = 0; i < n; i++) {
		struct gsys_region e = old->r[i];

		if (e.start == req.addr) {
			if (!add)
				continue;
			e.len = max(e.len, req.len);
			placed = true;
		} else if (add && !placed && e.start > req.addr) {
			new->r[j++] = (struct gsys_region){ req.addr, req.len };
			placed = true;
		}
		new->r[j++] = e;
	}
	if (add && !placed)
		new->r[j++] = (struct gsys_region){ req.addr, req.len };
	new->count = j;
	new->nspans = gsys_region_union(new->r, j, new->r + j);
	rcu_assign_pointer(ctx->regions, new);
	if (old)
		kvfree_rcu(old, rcu);

out_unlock:
	mutex_unlock(&ctx->lock);
	return ret;
}

/* release: nothing can read the regions any more */
void gsys_regions_free(struct gsys_ctx *ctx)
{
	kvfree(rcu_dereference_protected(ctx->regions, true));
	RCU_INIT_POINTER(ctx->regions, NULL);
}

/* Bytes from p to the end of the span of regions that holds p, 0 if none does. */
static u64 gsys_spans_room(struct gsys_ctx *ctx, u64 p)
{
	const struct gsys_regions *rs;
	const struct gsys_region *s;
	u64 room = 0;
	u32 at;

	rcu_read_lock();
	rs = rcu_dereference(ctx->regions);
	if (rs) {
		s = rs->r + rs->count;
		at = gsys_region_upto(s, rs->nspans, p);
		if (at && p - s[at - 1].start < s[at - 1].len)
			room = s[at - 1].len - (p - s[at - 1].start);
	}
	rcu_read_unlock();
	return room;
}

/*
 * Bytes of given memory from p on without a gap, looked for up to want:
 * steps from a span of regions to a module mapping that touches it and on,
 * as the userspace policy does. 0 if p is not given. No wrap: given memory
 * ends inside the address space.
 */
static u64 gsys_given_room(struct gsys_ctx *ctx, u64 p, u64 want)
{
	u64 room = 0, r;

	while (room < want) {
		r = gsys_spans_room(ctx, p + room);
		if (!r)
			r = gsys_maps_room(ctx, p + room);
		if (!r)
			break;
		room += r;
	}
	return room;
}

/* [p, p + n) in given memory; p == 0 is fine for an optional pointer or n == 0. */
static int gsys_given(struct gsys_ctx *ctx, u64 p, u64 n, bool optional)
{
	if (!p)
		return optional || !n ? 0 : -EFAULT;
	if (!n)
		n = 1;
	return gsys_given_room(ctx, p, n) >= n ? 0 : -EFAULT;
}

/*
 * A path: NUL-terminated inside given memory. c->path_max is set to what
 * the operation may copy, so the copy stays inside even if the device
 * rewrites the string after this check.
 */
static int gsys_given_path(struct gsys_call *c, u64 p)
{
	u64 room = p ? gsys_given_room(c->ctx, p, PATH_MAX) : 0;
	u64 max = min_t(u64, room, PATH_MAX);
	long len;

	if (!max)
		return -EFAULT;
	len = strnlen_user(u64_to_user_ptr(p), max);
	if (len <= 0)
		return -EFAULT;
	if (len > max)
		return max == PATH_MAX ? -ENAMETOOLONG : -EFAULT;
	c->path_max = max;
	return 0;
}

/*
 * recvfrom's sockaddr and length: the length is read once here and is the
 * one the operation uses (c->addrlen), clamped as userspace clamps it, so a
 * device rewriting it afterwards cannot widen the write.
 */
static int gsys_given_sockaddr_out(struct gsys_call *c, u64 addr, u64 ulen)
{
	u32 len;
	int err;

	if (!addr)
		return 0;
	if (!ulen)
		return -EFAULT;
	err = gsys_given(c->ctx, ulen, sizeof(u32), false);
	if (err)
		return err;
	if (get_user(len, (u32 __user *)u64_to_user_ptr(ulen)))
		return -EFAULT;
	len = min_t(u32, len, sizeof(struct sockaddr_storage));
	err = gsys_given(c->ctx, addr, len, true);
	if (err)
		return err;
	c->addrlen = len;
	c->have_addrlen = true;
	return 0;
}

/* What the userspace policy's confine_memory checks, from the op table's argument kinds. */
struct gsys_op_args {
	u16 nr;
	u8 kind[GSYS_SLOT_ARGS];
};
#define GSYS_OP_ARGS(name, nr, dir, a0, a1, a2, a3, a4, a5) \
	{ nr, { a0, a1, a2, a3, a4, a5 } },
static const struct gsys_op_args gsys_op_args[] = { GSYS_OP_TABLE(GSYS_OP_ARGS) };

int gsys_confine_check(struct gsys_call *c)
{
	const struct gsys_request *r = &c->req;
	const struct gsys_op_args *op = NULL;
	unsigned int i;
	int err = 0;

	for (i = 0; i < ARRAY_SIZE(gsys_op_args); i++)
		if (gsys_op_args[i].nr == r->nr)
			op = &gsys_op_args[i];
	/* raw syscalls the host allowed: its choice, as in userspace */
	if (!op)
		return 0;
	for (i = 0; i < GSYS_SLOT_ARGS && !err; i++) {
		u64 v = r->arg[i];
		u64 next = i + 1 < GSYS_SLOT_ARGS ? r->arg[i + 1] : 0;

		switch (op->kind[i]) {
		case GSYS_A_BUF_IN:
		case GSYS_A_BUF_OUT:
			err = gsys_given(c->ctx, v, next, false);
			break;
		case GSYS_A_PATH:
			err = gsys_given_path(c, v);
			break;
		case GSYS_A_SOCKADDR_IN:
			if (v && next > sizeof(struct sockaddr_storage))
				err = -EINVAL;
			else
				err = gsys_given(c->ctx, v, next, true);
			break;
		case GSYS_A_SOCKADDR_OUT:
			err = gsys_given_sockaddr_out(c, v, next);
			break;
		case GSYS_A_SOCKLEN_PTR:
			/* recvfrom's was checked with its address above */
			if (i == 0 || op->kind[i - 1] != GSYS_A_SOCKADDR_OUT)
				err = gsys_given(c->ctx, v, sizeof(u32), true);
			break;
		case GSYS_A_STAT_OUT:
			err = gsys_given(c->ctx, v, sizeof(struct stat), false);
			break;
		case GSYS_A_RUSAGE_OUT:
			err = gsys_given(c->ctx, v, sizeof(struct rusage), false);
			break;
		default:
			break;
		}
	}
	return err;
}

static bool gsys_name_is(const struct dentry *d, const char *s)
{
	return !strcmp((const char *)d->d_name.name, s);
}

static bool gsys_name_is_number(const struct dentry *d)
{
	const unsigned char *p = d->d_name.name;

	if (!*p)
		return false;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

/*
 * /proc/<pid>/mem or pagemap, or the same under task/<tid>/, wherever procfs
 * is mounted. The opened file pins its dentry and with it every parent.
 */
static bool gsys_is_proc_memory(const struct dentry *d)
{
	const struct dentry *pid, *up;

	if (!gsys_name_is(d, "mem") && !gsys_name_is(d, "pagemap"))
		return false;
	pid = d->d_parent;
	if (!gsys_name_is_number(pid))
		return false;
	up = pid->d_parent;
	if (IS_ROOT(up))
		return true;
	return gsys_name_is(up, "task") && gsys_name_is_number(up->d_parent) &&
	       IS_ROOT(up->d_parent->d_parent);
}

/*
 * policy.cpp's forbidden_file(), on the opened file so no spelling of the
 * path gets around it. NULL: the device may keep it.
 */
const char *gsys_forbidden_file(struct file *f, int open_flags)
{
	struct inode *inode = file_inode(f);
	unsigned long magic = inode->i_sb->s_magic;
	bool writes = (open_flags & O_ACCMODE) != O_RDONLY || (open_flags & O_TRUNC);

	if (S_ISCHR(inode->i_mode) && imajor(inode) == 1 &&
	    (iminor(inode) == 1 || iminor(inode) == 2 || iminor(inode) == 4))
		return "physical memory and I/O port devices are off limits";
	if (S_ISBLK(inode->i_mode) && writes)
		return "block devices are read-only to the GPU";
	if (magic == SYSFS_MAGIC && writes)
		return "sysfs is read-only to the GPU";
	if (magic != PROC_SUPER_MAGIC)
		return NULL;
	if (writes)
		return "procfs is read-only to the GPU";
	if (gsys_is_proc_memory(f->f_path.dentry))
		return "a process's memory is off limits";
	return NULL;
}
