// SPDX-License-Identifier: GPL-2.0
/*
 * File operations: read, write, pread64, pwrite64, lseek, fsync, fstat.
 *
 * vfs_read()/vfs_write() and fdget_pos() are not exported, so the read and
 * write paths are rebuilt from what is: the checks vfs_read() makes, then
 * gsys_import_ubuf() (compat.h) + vfs_iter_read()/vfs_iter_write(); the file
 * position is locked the way __fdget_pos() does (f_pos_lock, since we always
 * hold our own reference and the file is therefore shared). A file without
 * ->read_iter/->write_iter (some character devices) falls back to userspace.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kdev_t.h>
#include <linux/sched/xacct.h>
#include <linux/stat.h>
#include <linux/uaccess.h>
#include <linux/uio.h>

#include "genesys.h"

static void gsys_pos_lock(struct file *f)
{
	if (f->f_mode & FMODE_ATOMIC_POS)
		mutex_lock(&f->f_pos_lock);
}

static void gsys_pos_unlock(struct file *f)
{
	if (f->f_mode & FMODE_ATOMIC_POS)
		mutex_unlock(&f->f_pos_lock);
}

/* file_ppos() of fs/read_write.c: stream files have no position */
static loff_t *gsys_file_ppos(struct file *f)
{
	return f->f_mode & FMODE_STREAM ? NULL : &f->f_pos;
}

/*
 * The checks vfs_read()/vfs_write() make before the buffer, in their order.
 * 0: go on; 1: fall back; else the error is in *err.
 */
static int gsys_rw_check(struct file *f, int dir, u64 ubuf, u64 len, s64 *err)
{
	fmode_t need = dir == ITER_DEST ? FMODE_READ : FMODE_WRITE;
	fmode_t can = dir == ITER_DEST ? FMODE_CAN_READ : FMODE_CAN_WRITE;
	bool has_iter = dir == ITER_DEST ? !!f->f_op->read_iter : !!f->f_op->write_iter;

	if (!(f->f_mode & need)) {
		*err = -EBADF;
		return -1;
	}
	if (!(f->f_mode & can)) {
		*err = -EINVAL;
		return -1;
	}
	if (!has_iter)
		return 1;
	if (!access_ok(u64_to_user_ptr(ubuf), len)) {
		*err = -EFAULT;
		return -1;
	}
	return 0;
}

static ssize_t gsys_rw_iter(struct file *f, int dir, u64 ubuf, u64 len,
			    loff_t *ppos)
{
	struct iovec iov;
	struct iov_iter iter;
	ssize_t ret;

	ret = gsys_import_ubuf(dir, u64_to_user_ptr(ubuf), len, &iov, &iter);
	if (ret)
		return ret;
	if (dir == ITER_DEST) {
		ret = vfs_iter_read(f, &iter, ppos, 0);
		if (ret > 0)
			add_rchar(current, ret);
		inc_syscr(current);
	} else {
		/* vfs_write() takes freeze protection; vfs_iter_write() leaves it to us */
		file_start_write(f);
		ret = vfs_iter_write(f, &iter, ppos, 0);
		file_end_write(f);
		if (ret > 0)
			add_wchar(current, ret);
		inc_syscw(current);
	}
	return ret;
}

/* read(2)/write(2): at the file position, under the position lock. */
static int gsys_rw_at_pos(struct gsys_call *c, int dir)
{
	struct file *f = gsys_call_fget(c);
	loff_t pos, *ppos;
	int chk;

	if (!f) {
		c->ret = -EBADF;
		return GSYS_RUN_DONE;
	}
	chk = gsys_rw_check(f, dir, c->req.arg[1], c->req.arg[2], &c->ret);
	if (chk) {
		fput(f);
		return chk > 0 ? GSYS_RUN_FALLBACK : GSYS_RUN_DONE;
	}
	gsys_pos_lock(f);
	ppos = gsys_file_ppos(f);
	if (ppos) {
		pos = *ppos;
		ppos = &pos;
	}
	c->ret = gsys_rw_iter(f, dir, c->req.arg[1], c->req.arg[2], ppos);
	if (c->ret >= 0 && ppos)
		f->f_pos = pos;
	gsys_pos_unlock(f);
	fput(f);
	return GSYS_RUN_DONE;
}

/* pread64(2)/pwrite64(2): at an explicit offset, no position lock. */
static int gsys_rw_at_offset(struct gsys_call *c, int dir)
{
	loff_t pos = (loff_t)c->req.arg[3];
	struct file *f;
	int chk;

	if (pos < 0) {
		c->ret = -EINVAL;
		return GSYS_RUN_DONE;
	}
	f = gsys_call_fget(c);
	if (!f) {
		c->ret = -EBADF;
		return GSYS_RUN_DONE;
	}
	if (!(f->f_mode & (dir == ITER_DEST ? FMODE_PREAD : FMODE_PWRITE))) {
		c->ret = -ESPIPE;
		fput(f);
		return GSYS_RUN_DONE;
	}
	chk = gsys_rw_check(f, dir, c->req.arg[1], c->req.arg[2], &c->ret);
	if (!chk)
		c->ret = gsys_rw_iter(f, dir, c->req.arg[1], c->req.arg[2], &pos);
	fput(f);
	return chk > 0 ? GSYS_RUN_FALLBACK : GSYS_RUN_DONE;
}

int gsys_op_read(struct gsys_call *c)
{
	return gsys_rw_at_pos(c, ITER_DEST);
}

int gsys_op_write(struct gsys_call *c)
{
	return gsys_rw_at_pos(c, ITER_SOURCE);
}

int gsys_op_pread64(struct gsys_call *c)
{
	return gsys_rw_at_offset(c, ITER_DEST);
}

int gsys_op_pwrite64(struct gsys_call *c)
{
	return gsys_rw_at_offset(c, ITER_SOURCE);
}

int gsys_op_lseek(struct gsys_call *c)
{
	unsigned int whence = (unsigned int)c->req.arg[2];
	struct file *f = gsys_call_fget(c);

	if (!f) {
		c->ret = -EBADF;
		return GSYS_RUN_DONE;
	}
	if (whence > SEEK_MAX) {
		c->ret = -EINVAL;
	} else {
		gsys_pos_lock(f);
		c->ret = vfs_llseek(f, (loff_t)c->req.arg[1], whence);
		gsys_pos_unlock(f);
	}
	fput(f);
	return GSYS_RUN_DONE;
}

int gsys_op_fsync(struct gsys_call *c)
{
	struct file *f = gsys_call_fget(c);

	if (!f) {
		c->ret = -EBADF;
		return GSYS_RUN_DONE;
	}
	c->ret = vfs_fsync(f, 0);
	fput(f);
	return GSYS_RUN_DONE;
}

/* cp_new_stat() of fs/stat.c, which is not exported (64-bit layout). */
static int gsys_copy_stat(const struct kstat *ks, struct stat __user *ubuf)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_dev = new_encode_dev(ks->dev);
	st.st_ino = ks->ino;
	st.st_mode = ks->mode;
	st.st_nlink = ks->nlink;
	st.st_uid = from_kuid_munged(current_user_ns(), ks->uid);
	st.st_gid = from_kgid_munged(current_user_ns(), ks->gid);
	st.st_rdev = new_encode_dev(ks->rdev);
	st.st_size = ks->size;
	st.st_atime = ks->atime.tv_sec;
	st.st_mtime = ks->mtime.tv_sec;
	st.st_ctime = ks->ctime.tv_sec;
	st.st_atime_nsec = ks->atime.tv_nsec;
	st.st_mtime_nsec = ks->mtime.tv_nsec;
	st.st_ctime_nsec = ks->ctime.tv_nsec;
	st.st_blocks = ks->blocks;
	st.st_blksize = ks->blksize;
	return copy_to_user(ubuf, &st, sizeof(st)) ? -EFAULT : 0;
}

/* fstat(2): vfs_fstat() semantics, O_PATH descriptors included. */
int gsys_op_fstat(struct gsys_call *c)
{
	struct kstat ks;
	struct file *f;
	int err;

	if (c->req.flags & GSYS_SLOT_F_FIXED_FILE)
		f = gsys_fixed_file_get(c->ctx, c->req.arg[0]);
	else
		f = fget_raw((unsigned int)c->req.arg[0]);
	if (!f) {
		c->ret = -EBADF;
		return GSYS_RUN_DONE;
	}
	err = vfs_getattr(&f->f_path, &ks, STATX_BASIC_STATS, AT_STATX_SYNC_AS_STAT);
	fput(f);
	if (!err)
		err = gsys_copy_stat(&ks, u64_to_user_ptr(c->req.arg[1]));
	c->ret = err;
	return GSYS_RUN_DONE;
}
