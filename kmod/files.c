// SPDX-License-Identifier: GPL-2.0
/*
 * The fixed-file table (GSYS_IOC_REGISTER_FILES), io_uring style: the
 * context holds a reference on each registered file, so a request with
 * GSYS_SLOT_F_FIXED_FILE names a file by index, independent of the process's
 * descriptor table. Readers (SERVE threads) look it up under RCU and take
 * their own reference; a replacement publishes the new table, waits for a
 * grace period, then drops the old table's references. Released on replace,
 * UNREGISTER and close.
 */
#include <linux/file.h>
#include <linux/nospec.h>
#include <linux/overflow.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "genesys.h"

static void gsys_files_free(struct gsys_fixed_files *tbl)
{
	u32 i;

	if (!tbl)
		return;
	for (i = 0; i < tbl->count; i++)
		if (tbl->files[i])
			fput(tbl->files[i]);
	kvfree(tbl);
}

/* Builds a table from @count descriptors; -1 leaves a hole. */
static struct gsys_fixed_files *gsys_files_build(const s32 *fds, u32 count)
{
	struct gsys_fixed_files *tbl;
	u32 i;

	tbl = kvzalloc(struct_size(tbl, files, count), GFP_KERNEL);
	if (!tbl)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < count; i++) {
		struct file *f;

		if (fds[i] == -1)
			continue;
		f = fds[i] < 0 ? NULL : fget(fds[i]);
		/* a genesys file in its own table would keep itself alive */
		if (f && gsys_is_genesys_file(f)) {
			fput(f);
			f = NULL;
		}
		if (!f) {
			tbl->count = i;
			gsys_files_free(tbl);
			return ERR_PTR(-EBADF);
		}
		tbl->files[i] = f;
	}
	tbl->count = count;
	return tbl;
}

/* GSYS_IOC_REGISTER_FILES: count == 0 removes the table. */
long gsys_files_register(struct gsys_ctx *ctx, void __user *uarg)
{
	struct gsys_ioc_register_files req;
	struct gsys_fixed_files *tbl = NULL, *old;
	s32 *fds = NULL;
	long ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.size != sizeof(req) || req.flags || req.reserved0 ||
	    req.reserved[0] || req.reserved[1])
		return -EINVAL;
	if (req.count > GSYS_MAX_FIXED_FILES)
		return -EINVAL;

	if (req.count) {
		fds = memdup_user(u64_to_user_ptr(req.fds_ptr),
				  (size_t)req.count * sizeof(*fds));
		if (IS_ERR(fds))
			return PTR_ERR(fds);
	}

	mutex_lock(&ctx->lock);
	if (!ctx->ring) {
		ret = -ENXIO;
		goto out_unlock;
	}
	if (req.count) {
		tbl = gsys_files_build(fds, req.count);
		if (IS_ERR(tbl)) {
			ret = PTR_ERR(tbl);
			goto out_unlock;
		}
	}
	old = rcu_replace_pointer(ctx->files, tbl, lockdep_is_held(&ctx->lock));
	mutex_unlock(&ctx->lock);

	/* readers that found a file in the old table hold their own reference */
	synchronize_rcu();
	gsys_files_free(old);
	kfree(fds);
	return 0;

out_unlock:
	mutex_unlock(&ctx->lock);
	kfree(fds);
	return ret;
}

/* The file at @index with a reference, or NULL (out of range or a hole). */
struct file *gsys_fixed_file_get(struct gsys_ctx *ctx, u64 index)
{
	struct gsys_fixed_files *tbl;
	struct file *f = NULL;

	rcu_read_lock();
	tbl = rcu_dereference(ctx->files);
	if (tbl && index < tbl->count) {
		f = tbl->files[array_index_nospec(index, tbl->count)];
		if (f)
			get_file(f);    /* the table's reference outlives this grace period */
	}
	rcu_read_unlock();
	return f;
}

/* Drops the table (UNREGISTER, release). */
void gsys_files_drop(struct gsys_ctx *ctx)
{
	struct gsys_fixed_files *old;

	mutex_lock(&ctx->lock);
	old = rcu_replace_pointer(ctx->files, NULL, lockdep_is_held(&ctx->lock));
	mutex_unlock(&ctx->lock);
	if (!old)
		return;
	synchronize_rcu();
	gsys_files_free(old);
}

unsigned int gsys_files_count(struct gsys_ctx *ctx)
{
	struct gsys_fixed_files *tbl;
	unsigned int n;

	rcu_read_lock();
	tbl = rcu_dereference(ctx->files);
	n = tbl ? tbl->count : 0;
	rcu_read_unlock();
	return n;
}
