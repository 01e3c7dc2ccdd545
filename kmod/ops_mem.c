// SPDX-License-Identifier: GPL-2.0
/*
 * mmap, munmap and madvise, with the userspace policy's rule: the device may
 * map memory (never MAP_FIXED: it could replace the host's own memory), and
 * may only unmap or advise ranges it mapped itself through this context.
 * The context keeps those ranges in a short sorted list (ctx->maps, under
 * ctx->maps_lock, at most GSYS_KMOD_MAX_MAPPINGS entries). Mappings stay
 * the process's when the context goes away; only the list is freed.
 *
 * madvise has no exported implementation (do_madvise), so once its range
 * has passed the check it falls back to userspace.
 */
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/slab.h>

#include "genesys.h"

/* Whether [start, start + len) lies inside one recorded mapping. */
static bool gsys_maps_contain(struct gsys_ctx *ctx, u64 start, u64 len)
{
	struct gsys_mapping *m;

	lockdep_assert_held(&ctx->maps_lock);
	if (start + len < start)
		return false;
	list_for_each_entry(m, &ctx->maps, node) {
		if (m->start > start)
			break;
		if (start + len <= m->start + m->len)
			return true;
	}
	return false;
}

/* Bytes from p to the end of the recorded mapping holding p; 0 if none. */
u64 gsys_maps_room(struct gsys_ctx *ctx, u64 p)
{
	struct gsys_mapping *m;
	u64 room = 0;

	mutex_lock(&ctx->maps_lock);
	list_for_each_entry(m, &ctx->maps, node) {
		if (m->start > p)
			break;
		if (p - m->start < m->len) {
			room = m->len - (p - m->start);
			break;
		}
	}
	mutex_unlock(&ctx->maps_lock);
	return room;
}

/*
 * Forgets [lo, hi): entries inside go, entries across an end are trimmed,
 * an entry around the whole range is split in two. Used after munmap and
 * before recording a new mapping (an overlapping entry is stale: the host
 * unmapped it behind our back).
 */
static void gsys_maps_forget(struct gsys_ctx *ctx, unsigned long lo,
			     unsigned long hi)
{
	struct gsys_mapping *m, *tmp, *tail;

	lockdep_assert_held(&ctx->maps_lock);
	list_for_each_entry_safe(m, tmp, &ctx->maps, node) {
		unsigned long end = m->start + m->len;

		if (m->start >= hi)
			break;
		if (end <= lo)
			continue;
		if (m->start < lo && end > hi) {
			tail = kzalloc(sizeof(*tail), GFP_KERNEL);
			if (tail) {
				tail->start = hi;
				tail->len = end - hi;
				list_add(&tail->node, &m->node);
				ctx->nmaps++;
			}
			m->len = lo - m->start;
			break;
		}
		if (m->start < lo) {
			m->len = lo - m->start;
		} else if (end > hi) {
			m->len = end - hi;
			m->start = hi;
		} else {
			list_del(&m->node);
			kfree(m);
			ctx->nmaps--;
		}
	}
}

static void gsys_maps_insert(struct gsys_ctx *ctx, struct gsys_mapping *new)
{
	struct gsys_mapping *m;

	lockdep_assert_held(&ctx->maps_lock);
	gsys_maps_forget(ctx, new->start, new->start + new->len);
	list_for_each_entry(m, &ctx->maps, node)
		if (m->start > new->start)
			break;
	list_add_tail(&new->node, &m->node);
	ctx->nmaps++;
}

void gsys_maps_free(struct gsys_ctx *ctx)
{
	struct gsys_mapping *m, *tmp;

	list_for_each_entry_safe(m, tmp, &ctx->maps, node) {
		list_del(&m->node);
		kfree(m);
	}
	ctx->nmaps = 0;
}

/* mmap(2) as ksys_mmap_pgoff() does it, minus MAP_FIXED and hugetlb. */
int gsys_op_mmap(struct gsys_call *c)
{
	u64 addr = c->req.arg[0], len = c->req.arg[1], prot = c->req.arg[2];
	u64 flags = c->req.arg[3], off = c->req.arg[5];
	struct gsys_ctx *ctx = c->ctx;
	struct file *file = NULL;
	struct gsys_mapping *m;
	unsigned long ret;

	if (flags & MAP_FIXED) {
		c->ret = -EPERM;
		return GSYS_RUN_DENIED;
	}
	if (off & ~PAGE_MASK) {
		c->ret = -EINVAL;
		return GSYS_RUN_DONE;
	}
	/* hugetlb needs hugetlb_file_setup()/hstate sizes: not exported */
	if (flags & MAP_HUGETLB)
		return GSYS_RUN_FALLBACK;
	if (!(flags & MAP_ANONYMOUS)) {
		file = fget((unsigned int)c->req.arg[4]);
		if (!file) {
			c->ret = -EBADF;
			return GSYS_RUN_DONE;
		}
		if (gsys_is_executor_file(file)) {
			fput(file);
			c->ret = -EPERM;
			return GSYS_RUN_DENIED;
		}
		if (file_inode(file)->i_sb->s_magic == HUGETLBFS_MAGIC) {
			fput(file);
			return GSYS_RUN_FALLBACK;
		}
	}

	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m) {
		c->ret = -ENOMEM;
		goto out_fput;
	}
	mutex_lock(&ctx->maps_lock);
	if (ctx->nmaps >= GSYS_KMOD_MAX_MAPPINGS) {
		mutex_unlock(&ctx->maps_lock);
		kfree(m);
		c->ret = -ENOMEM;
		goto out_fput;
	}
	ret = vm_mmap(file, addr, len, prot, flags, off);
	if (!IS_ERR_VALUE(ret)) {
		m->start = ret;
		m->len = PAGE_ALIGN(len);
		gsys_maps_insert(ctx, m);
		m = NULL;
	}
	mutex_unlock(&ctx->maps_lock);
	kfree(m);
	c->ret = (long)ret;

out_fput:
	if (file)
		fput(file);
	return GSYS_RUN_DONE;
}

int gsys_op_munmap(struct gsys_call *c)
{
	u64 addr = c->req.arg[0], len = c->req.arg[1];
	struct gsys_ctx *ctx = c->ctx;

	if (addr & ~PAGE_MASK) {
		c->ret = -EINVAL;
		return GSYS_RUN_DONE;
	}
	mutex_lock(&ctx->maps_lock);
	if (!gsys_maps_contain(ctx, addr, len)) {
		mutex_unlock(&ctx->maps_lock);
		c->ret = -EPERM;
		return GSYS_RUN_DENIED;
	}
	c->ret = vm_munmap(addr, len);
	if (!c->ret)
		gsys_maps_forget(ctx, addr, addr + PAGE_ALIGN(len));
	mutex_unlock(&ctx->maps_lock);
	return GSYS_RUN_DONE;
}

int gsys_op_madvise(struct gsys_call *c)
{
	u64 addr = c->req.arg[0], len = c->req.arg[1];
	struct gsys_ctx *ctx = c->ctx;
	bool ours;

	if (addr & ~PAGE_MASK) {
		c->ret = -EINVAL;
		return GSYS_RUN_DONE;
	}
	mutex_lock(&ctx->maps_lock);
	ours = gsys_maps_contain(ctx, addr, len);
	mutex_unlock(&ctx->maps_lock);
	if (!ours) {
		c->ret = -EPERM;
		return GSYS_RUN_DENIED;
	}
	return GSYS_RUN_FALLBACK;
}
