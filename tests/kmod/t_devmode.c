// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * Description: /dev/genesys is a character device of mode 0660 owned by
 * root:root as devtmpfs creates it (the miscdevice's .mode); with the group
 * kmod/99-genesys.rules gives it (simulated here with chown, the guest has no
 * udev) a member of that group may open it and anyone else gets EACCES.
 * Needs root (the guest's init); skips otherwise.
 */
#define _GNU_SOURCE
#include "kt.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEV "/dev/genesys"
#define TEST_GID 4242   /* stands for the "genesys" group */
#define TEST_UID 4243   /* an unprivileged user */

/* Opens DEV as TEST_UID with the given supplementary groups: 0 or -errno. */
static int open_as(const gid_t *groups, int ngroups)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd;

		if (setgroups((size_t)ngroups, groups) || setgid(TEST_UID) || setuid(TEST_UID))
			_exit(100);
		fd = open(DEV, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			_exit(errno > 0 && errno < 100 ? errno : 99);
		close(fd);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1000;
	return -WEXITSTATUS(status);
}

static void test_mode(void)
{
	struct stat st;

	kt_begin("dev_node_is_0660_root_root");
	KT_EQ(stat(DEV, &st), 0);
	KT_CHECK(S_ISCHR(st.st_mode));
	KT_EQ(st.st_mode & 07777, 0660);
	KT_EQ(st.st_uid, 0);
	KT_EQ(st.st_gid, 0);
	kt_end();
}

static void test_group_access(void)
{
	const gid_t member[1] = { TEST_GID };
	struct stat st;

	kt_begin("group_member_opens_others_get_eacces");
	KT_EQ(chown(DEV, 0, TEST_GID), 0);
	KT_EQ(open_as(member, 1), 0);
	KT_EQ(open_as(NULL, 0), -EACCES);
	KT_EQ(chown(DEV, 0, 0), 0);
	/* back to root:root: the former member is out too */
	KT_EQ(open_as(member, 1), -EACCES);
	KT_EQ(stat(DEV, &st), 0);
	KT_EQ(st.st_mode & 07777, 0660);
	kt_end();
}

int main(void)
{
	int fd = kt_open_dev();

	if (fd < 0) {
		printf("# no /dev/genesys: %s\n", strerror(-fd));
		return KT_SKIP;
	}
	close(fd);
	if (geteuid() != 0) {
		printf("# not root: cannot chown the node or switch users\n");
		return KT_SKIP;
	}
	test_mode();
	test_group_access();
	return kt_finish("t_devmode");
}
