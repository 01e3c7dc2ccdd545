// SPDX-License-Identifier: GPL-2.0
/*
 * genesys.ko: /dev/genesys, one context per open file, and the ioctl switch.
 *
 * GPU threads write system-call requests into a ring in process memory; a
 * host thread that calls GSYS_IOC_SERVE runs them here, in its own process
 * context (its mm, files and credentials), so a request can do exactly what
 * the process could do with the same syscall and nothing more.
 *
 * There is no compat_ioctl: the ring carries native 64-bit syscall numbers
 * and pointers, so 32-bit callers get -ENOTTY.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "genesys.h"

static int gsys_open(struct inode *inode, struct file *file)
{
	struct gsys_ctx *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	mutex_init(&ctx->lock);
	mutex_init(&ctx->maps_lock);
	INIT_LIST_HEAD(&ctx->maps);
	atomic_set(&ctx->servers, 0);
	ctx->id = atomic64_inc_return(&gsys_global.ctx_ids);
	ctx->owner = task_tgid_nr(current);
	file->private_data = ctx;

	mutex_lock(&gsys_ctx_list_lock);
	list_add_tail(&ctx->node, &gsys_ctx_list);
	mutex_unlock(&gsys_ctx_list_lock);
	atomic64_inc(&gsys_global.contexts);
	return nonseekable_open(inode, file);
}

/*
 * The last reference to the file is gone, so no ioctl (SERVE included) can
 * be running on this context. current may be any task, even one that has
 * already dropped its mm (exit_files runs after exit_mm): nothing here
 * touches user memory.
 */
static int gsys_release(struct inode *inode, struct file *file)
{
	struct gsys_ctx *ctx = file->private_data;
	struct gsys_ring *ring;

	mutex_lock(&gsys_ctx_list_lock);
	list_del(&ctx->node);
	mutex_unlock(&gsys_ctx_list_lock);

	mutex_lock(&ctx->lock);
	ring = ctx->ring;
	ctx->ring = NULL;
	WRITE_ONCE(ctx->nslots, 0);
	mutex_unlock(&ctx->lock);

	gsys_files_drop(ctx);
	if (ring) {
		atomic64_dec(&gsys_global.rings);
		gsys_ring_put(ring);
	}
	gsys_maps_free(ctx);
	gsys_regions_free(ctx);
	atomic64_dec(&gsys_global.contexts);
	kfree(ctx);
	return 0;
}

static long gsys_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct gsys_ctx *ctx = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case GSYS_IOC_REGISTER_RING:
		return gsys_ring_register(ctx, uarg);
	case GSYS_IOC_REGISTER_FILES:
		return gsys_files_register(ctx, uarg);
	case GSYS_IOC_SERVE:
		return gsys_serve(ctx, uarg);
	case GSYS_IOC_STATS:
		return gsys_stats_ioctl(ctx, uarg);
	case GSYS_IOC_UNREGISTER:
		return gsys_ring_unregister(ctx);
	case GSYS_IOC_REGION:
		return gsys_region_ioctl(ctx, uarg);
	default:
		return -ENOTTY;
	}
}

const struct file_operations gsys_fops = {
	.owner = THIS_MODULE,
	.open = gsys_open,
	.release = gsys_release,
	.unlocked_ioctl = gsys_ioctl,
	/* no .llseek: nonseekable_open() (no_llseek, gone in 6.12, was NULL) */
};

/* A genesys file must never be a request's target nor a fixed file (cycle). */
bool gsys_is_genesys_file(const struct file *file)
{
	return file->f_op == &gsys_fops;
}

/*
 * Files of an executor, this process's or another runtime's: genesys files,
 * io_uring instances (the uring executor's ring; closing it hangs that
 * runtime, mapping it hands its queues to the device) and Landlock rulesets
 * (the runtime's sandbox: a kernel that closed it made the runtime close
 * whatever file reused the number). A GPU kernel has no use for any of
 * them. Neither io_is_uring_fops() nor Landlock's fops are exported: such a
 * file is the anonymous inode of that name.
 */
bool gsys_is_executor_file(const struct file *file)
{
	const char *name = (const char *)file->f_path.dentry->d_name.name;

	return gsys_is_genesys_file(file) ||
	       (file_inode(file)->i_sb->s_magic == ANON_INODE_FS_MAGIC &&
		(!strcmp(name, "[io_uring]") || !strcmp(name, "[landlock-ruleset]")));
}

static struct miscdevice gsys_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "genesys",
	.fops = &gsys_fops,
	/*
	 * Owner root, group root until udev's 99-genesys.rules makes the group
	 * "genesys": only its members (and root) may open the device. Requests
	 * run with the caller's own credentials; pins are charged to
	 * RLIMIT_MEMLOCK.
	 */
	.mode = 0660,
};

static int __init gsys_init(void)
{
	int ret;

	ret = gsys_proc_init();
	if (ret)
		return ret;
	ret = misc_register(&gsys_misc);
	if (ret)
		goto out_proc;
	pr_info("ready: /dev/genesys, ABI %u\n", GSYS_ABI_VERSION);
	return 0;

out_proc:
	gsys_proc_exit();
	return ret;
}

static void __exit gsys_exit(void)
{
	misc_deregister(&gsys_misc);
	gsys_proc_exit();
}

module_init(gsys_init);
module_exit(gsys_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("genesys developers");
MODULE_DESCRIPTION("genesys: GPU system calls executed in the calling process's kernel context");
MODULE_VERSION("0.1");
