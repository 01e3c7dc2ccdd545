// SPDX-License-Identifier: GPL-2.0
/*
 * openat and close.
 *
 * do_filp_open() is not exported, so openat runs natively only where the
 * dirfd does not matter: an absolute path, or AT_FDCWD (filp_open() resolves
 * from current's working directory, which is the serving process's). A
 * relative path with a real dirfd falls back to userspace. Otherwise it is
 * do_sys_openat2()'s sequence: copy the name, reserve the descriptor, open,
 * notify, install. A file the device must not hold however it named it
 * (/proc/<pid>/mem, /dev/mem, a procfs or sysfs file opened for writing, a
 * block device for writing: gsys_forbidden_file) is closed before it is
 * installed, and the request gets -EACCES as from userspace.
 */
#include <linux/err.h>
#include <linux/fcntl.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fsnotify.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "genesys.h"

int gsys_op_openat(struct gsys_call *c)
{
	int dfd = (int)c->req.arg[0];
	int flags = (int)c->req.arg[2];
	umode_t mode = (umode_t)c->req.arg[3];
	struct file *f;
	char *path;
	int fd;

	/* c->path_max < PATH_MAX: a confined ring's path ends inside given memory */
	path = strndup_user(u64_to_user_ptr(c->req.arg[1]), c->path_max);
	if (IS_ERR(path)) {
		/* strndup_user says EINVAL where getname() says ENAMETOOLONG */
		c->ret = PTR_ERR(path) == -EINVAL ? -ENAMETOOLONG : PTR_ERR(path);
		return GSYS_RUN_DONE;
	}
	if (path[0] != '/' && dfd != AT_FDCWD) {
		kfree(path);
		return GSYS_RUN_FALLBACK;
	}
	/* getname() refuses an empty name; getname_kernel() under filp_open() does not */
	if (!path[0]) {
		c->ret = -ENOENT;
		goto out_free_path;
	}
	/* the openat syscall forces O_LARGEFILE on 64-bit; filp_open does not */
	flags |= O_LARGEFILE;

	fd = get_unused_fd_flags(flags);
	if (fd < 0) {
		c->ret = fd;
		goto out_free_path;
	}
	f = filp_open(path, flags, mode);
	if (IS_ERR(f)) {
		c->ret = PTR_ERR(f);
		goto out_put_fd;
	}
	if (gsys_forbidden_file(f, flags)) {
		/* opened and closed unseen: never installed in the table */
		fput(f);
		put_unused_fd(fd);
		kfree(path);
		c->ret = -EACCES;
		return GSYS_RUN_DENIED;
	}
	fsnotify_open(f);
	fd_install(fd, f);
	c->ret = fd;
	kfree(path);
	return GSYS_RUN_DONE;

out_put_fd:
	put_unused_fd(fd);
out_free_path:
	kfree(path);
	return GSYS_RUN_DONE;
}

/*
 * close(2) by descriptor number; GSYS_SLOT_F_FIXED_FILE is refused (-EINVAL)
 * by the dispatcher. Executors' descriptors (/dev/genesys, io_uring
 * instances) may not be closed from the ring.
 */
int gsys_op_close(struct gsys_call *c)
{
	unsigned int fd = (unsigned int)c->req.arg[0];
	struct file *f = fget_raw(fd);

	if (f) {
		bool executor_fd = gsys_is_executor_file(f);

		fput(f);
		if (executor_fd) {
			c->ret = -EPERM;
			return GSYS_RUN_DENIED;
		}
	}
	c->ret = close_fd(fd);
	return GSYS_RUN_DONE;
}
