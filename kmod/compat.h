/* SPDX-License-Identifier: GPL-2.0 */
/*
 * genesys.ko: the kernel interfaces that changed between the kernels the
 * module supports, behind one name each, keyed on LINUX_VERSION_CODE.
 *
 * Supported and tested (tests/kmod: build with W=1 -Werror, `dkms build`,
 * boot in QEMU, guest suite): Debian 12's 6.1 and 6.12 (bookworm-backports /
 * bookworm-security). The thresholds below follow upstream history and are
 * only verified at those two points; a kernel that breaks the build gets
 * its shim here.
 *
 * - .llseek = no_llseek: no_llseek was `#define no_llseek NULL` and is gone
 *   in 6.12; a NULL .llseek means the same on every version (and
 *   nonseekable_open() clears FMODE_LSEEK anyway), so main.c leaves it out.
 * - import_single_range(): gone in 6.12 (6.1 has no import_ubuf()); from 6.4
 *   import_ubuf() builds the same one-segment iterator (MAX_RW_COUNT clamp,
 *   access_ok) as an ITER_UBUF instead of an ITER_IOVEC that points at a
 *   caller's iovec.
 */
#ifndef GENESYS_KMOD_COMPAT_H
#define GENESYS_KMOD_COMPAT_H

#include <linux/uio.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "genesys.ko needs Linux 6.1 or later"
#endif

/*
 * A user buffer as a one-segment iterator for vfs_iter_read/write and
 * sock_sendmsg/recvmsg. @iov is storage the iterator may point into (before
 * 6.4): it must live as long as @iter, so it belongs to the caller.
 */
static inline int gsys_import_ubuf(int dir, void __user *buf, size_t len,
				   struct iovec *iov, struct iov_iter *iter)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	(void)iov;
	return import_ubuf(dir, buf, len, iter);
#else
	return import_single_range(dir, buf, len, iov, iter);
#endif
}

#endif /* GENESYS_KMOD_COMPAT_H */
