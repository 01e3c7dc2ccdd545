// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * Description: GSYS_RING_F_CONFINE and GSYS_IOC_REGION. GSYS_IOC_REGION
 * refuses malformed input (size, op, reserved, empty, wrapping, past the
 * user address space, unknown start, more than GSYS_MAX_REGIONS). On a
 * confined ring every pointer argument must lie wholly in a given region or
 * in a mapping the module made: outside, a read, write, pread, fstat,
 * openat path, sendto/recvfrom address or recvfrom length gets -EFAULT and
 * nothing is read or written; a path without a NUL inside its region is
 * -EFAULT; a non-native op (getrusage) is refused before it falls back; a
 * removed region stops counting; a ring without the flag is not confined.
 * Given memory is the union of the regions and mappings: a region inside
 * another, or a smaller one at the same start, hides none of it; a buffer
 * may span touching or overlapping regions and a mapping; removing a region
 * keeps the bytes other regions cover.
 * Opened-file vetting (every ring): /proc/<pid>/mem, pagemap, the task/
 * spellings, procfs mounted elsewhere, /dev/mem, and procfs/sysfs opened for
 * writing get -EACCES, counted as denied, and no descriptor is left behind.
 * Executors' files (another runtime's io_uring, /dev/genesys) cannot be
 * closed, read or mapped from a ring.
 */
#define _GNU_SOURCE
#include "kt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define P(x) ((uint64_t)(uintptr_t)(x))
#define I(x) ((uint64_t)(int64_t)(x))

static struct kt_ring R;        /* confined */
static const char *file_path = "/tmp/kt_confine_file";

static int64_t C(long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
		 uint64_t a4, uint64_t a5)
{
	return kt_call(&R, (uint16_t)nr, 0, a0, a1, a2, a3, a4, a5);
}

static long region(int fd, uint32_t op, uint64_t addr, uint64_t len)
{
	struct gsys_ioc_region a = { .size = sizeof(a), .op = op, .addr = addr, .len = len };

	return ioctl(fd, GSYS_IOC_REGION, &a) ? -errno : 0;
}

static void test_region_ioctl_errors(void)
{
	struct gsys_ioc_region a;
	int fd = kt_open_dev();
	uint32_t i;

	kt_begin("region_ioctl_rejects_bad_requests");
	KT_CHECK(fd >= 0);
	a = (struct gsys_ioc_region){ .size = sizeof(a) - 8, .op = GSYS_REGION_ADD,
				      .addr = 0x10000, .len = 4096 };
	KT_EQ(ioctl(fd, GSYS_IOC_REGION, &a) ? -errno : 0, -EINVAL);
	a.size = sizeof(a);
	a.reserved[1] = 1;
	KT_EQ(ioctl(fd, GSYS_IOC_REGION, &a) ? -errno : 0, -EINVAL);
	KT_EQ(region(fd, 0, 0x10000, 4096), -EINVAL);
	KT_EQ(region(fd, 3, 0x10000, 4096), -EINVAL);
	KT_EQ(region(fd, GSYS_REGION_ADD, 0x10000, 0), -EINVAL);
	KT_EQ(region(fd, GSYS_REGION_ADD, UINT64_MAX - 100, 4096), -EINVAL);
	KT_EQ(region(fd, GSYS_REGION_ADD, (1ull << 47) - 4096, 8192), -EINVAL);
	KT_EQ(ioctl(fd, GSYS_IOC_REGION, NULL) ? -errno : 0, -EFAULT);
	KT_EQ(region(fd, GSYS_REGION_REMOVE, 0x10000, 0), -ENOENT);
	KT_EQ(region(fd, GSYS_REGION_ADD, 0x10000, 4096), 0);
	KT_EQ(region(fd, GSYS_REGION_ADD, 0x10000, 8192), 0);  /* widens */
	KT_EQ(region(fd, GSYS_REGION_ADD, 0x10000, 4096), 0);  /* keeps 8192 */
	KT_EQ(region(fd, GSYS_REGION_REMOVE, 0x10001, 0), -ENOENT);
	KT_EQ(region(fd, GSYS_REGION_REMOVE, 0x10000, 0), 0);
	KT_EQ(region(fd, GSYS_REGION_REMOVE, 0x10000, 0), -ENOENT);
	/* the cap: GSYS_MAX_REGIONS distinct starts, then one more is refused */
	for (i = 0; i < GSYS_MAX_REGIONS; i++)
		if (region(fd, GSYS_REGION_ADD, 0x100000 + (uint64_t)i * 0x2000, 4096))
			break;
	KT_EQ(i, GSYS_MAX_REGIONS);
	KT_EQ(region(fd, GSYS_REGION_ADD, 0x10000, 4096), -ENOSPC);
	KT_EQ(region(fd, GSYS_REGION_ADD, 0x100000, 8192), 0);  /* widening still works */
	KT_EQ(region(fd, GSYS_REGION_REMOVE, 0x100000, 0), 0);
	KT_EQ(region(fd, GSYS_REGION_ADD, 0x10000, 4096), 0);  /* room again */
	close(fd);
	kt_end();
}

/* Memory the confined ring may name, and memory it may not. */
static char *given;             /* 64 KiB, region */
static char outside[8192];      /* never given */
#define GIVEN_BYTES 65536

static void test_buffers(void)
{
	char *end = given + GIVEN_BYTES;
	struct stat st;
	int fd;

	kt_begin("confined_buffers");
	fd = open(file_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	KT_CHECK(fd >= 0);
	KT_EQ(write(fd, "0123456789abcdef", 16), 16);

	memset(given, 'x', 64);
	KT_EQ(C(__NR_pread64, fd, P(given), 16, 0, 0, 0), 16);
	KT_CHECK(!memcmp(given, "0123456789abcdef", 16));

	memset(outside, 'o', sizeof(outside));
	KT_EQ(C(__NR_pread64, fd, P(outside), 16, 0, 0, 0), -EFAULT);
	KT_EQ(C(__NR_read, fd, P(outside), 16, 0, 0, 0), -EFAULT);
	KT_CHECK(outside[0] == 'o' && outside[15] == 'o');
	/* straddling the region's end, and a length that wraps */
	KT_EQ(C(__NR_pread64, fd, P(end - 8), 16, 0, 0, 0), -EFAULT);
	KT_EQ(C(__NR_pread64, fd, P(end - 16), 16, 0, 0, 0), 16);
	KT_EQ(C(__NR_pread64, fd, P(given + 8), I(-8), 0, 0, 0), -EINVAL);
	/* NULL with a length is a fault, NULL with none is nothing */
	KT_EQ(C(__NR_pread64, fd, 0, 16, 0, 0, 0), -EFAULT);
	KT_EQ(C(__NR_pread64, fd, 0, 0, 0, 0, 0), 0);

	KT_EQ(C(__NR_pwrite64, fd, P(outside), 16, 100, 0, 0), -EFAULT);
	KT_EQ(C(__NR_write, fd, P(outside), 16, 0, 0, 0), -EFAULT);
	KT_EQ(fstat(fd, &st), 0);
	KT_EQ(st.st_size, 16);          /* nothing was written */
	KT_EQ(C(__NR_pwrite64, fd, P(given), 16, 16, 0, 0), 16);

	KT_EQ(C(__NR_fstat, fd, P(outside), 0, 0, 0, 0), -EFAULT);
	KT_EQ(C(__NR_fstat, fd, P(end - sizeof(struct stat) + 1), 0, 0, 0, 0), -EFAULT);
	KT_EQ(C(__NR_fstat, fd, P(end - sizeof(struct stat)), 0, 0, 0, 0), 0);
	KT_EQ(((struct stat *)(end - sizeof(struct stat)))->st_size, 32);
	close(fd);
	kt_end();
}

static void test_paths(void)
{
	char *end = given + GIVEN_BYTES;
	int64_t fd;

	kt_begin("confined_paths");
	strcpy(outside, file_path);
	KT_EQ(C(__NR_openat, I(AT_FDCWD), P(outside), O_RDONLY, 0, 0, 0), -EFAULT);
	strcpy(given + 1024, file_path);
	fd = C(__NR_openat, I(AT_FDCWD), P(given + 1024), O_RDONLY, 0, 0, 0);
	KT_CHECK(fd >= 0);
	if (fd >= 0)
		close((int)fd);
	/* the string runs to the region's end without a NUL */
	memset(end - 32, 'a', 32);
	KT_EQ(C(__NR_openat, I(AT_FDCWD), P(end - 32), O_RDONLY, 0, 0, 0), -EFAULT);
	/* the same bytes with the NUL as the region's last byte: fine (ENOENT) */
	end[-1] = '\0';
	KT_EQ(C(__NR_openat, I(AT_FDCWD), P(end - 32), O_RDONLY, 0, 0, 0), -ENOENT);
	/* a relative path with a real dirfd falls back: refused before it does */
	KT_EQ(C(__NR_openat, 0, P(outside + 5), O_RDONLY, 0, 0, 0), -EFAULT);
	/* too long inside the region: the syscall's own error */
	memset(given + 8192, 'b', 5000);
	given[8192 + 5000] = '\0';
	KT_EQ(C(__NR_openat, I(AT_FDCWD), P(given + 8192), O_RDONLY, 0, 0, 0), -ENAMETOOLONG);
	kt_end();
}

static void test_sockets(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char *end = given + GIVEN_BYTES;
	struct sockaddr_in *ga = (struct sockaddr_in *)(given + 16384);
	uint32_t *glen = (uint32_t *)(given + 16384 + 256);
	socklen_t alen = sizeof(a);
	int rx, tx;

	kt_begin("confined_sockets");
	rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	KT_CHECK(rx >= 0 && tx >= 0);
	KT_EQ(bind(rx, (struct sockaddr *)&a, sizeof(a)), 0);
	KT_EQ(getsockname(rx, (struct sockaddr *)&a, &alen), 0);
	memcpy(outside, &a, sizeof(a));
	*ga = a;
	memcpy(given, "ping", 4);

	KT_EQ(C(__NR_sendto, tx, P(given), 4, 0, P(outside), sizeof(a)), -EFAULT);
	KT_EQ(C(__NR_sendto, tx, P(given), 4, 0, P(ga), sizeof(a)), 4);

	/* the length given, the address not: nothing received, nothing written */
	*glen = sizeof(a);
	memset(outside, 'o', 64);
	KT_EQ(C(__NR_recvfrom, rx, P(given + 100), 64, 0, P(outside), P(glen)), -EFAULT);
	KT_CHECK(outside[0] == 'o');
	/* the address given, the length not */
	memcpy(outside, &alen, sizeof(alen));
	KT_EQ(C(__NR_recvfrom, rx, P(given + 100), 64, 0, P(ga), P(outside)), -EFAULT);
	/* a huge *addrlen is clamped to a sockaddr_storage, which must fit */
	*glen = 100000;
	KT_EQ(C(__NR_recvfrom, rx, P(given + 100), 64, 0, P(end - 64), P(glen)), -EFAULT);
	KT_EQ(C(__NR_recvfrom, rx, P(given + 100), 64, 0,
		P(end - sizeof(struct sockaddr_storage)), P(glen)), 4);
	KT_CHECK(!memcmp(given + 100, "ping", 4));
	KT_EQ(*glen, sizeof(struct sockaddr_in));
	close(rx);
	close(tx);
	kt_end();
}

static void test_mappings_and_fallbacks(void)
{
	struct gsys_ioc_stats st = { .size = sizeof(st) };
	int64_t m;
	int fd;

	kt_begin("confined_mappings_fallbacks_regions");
	fd = open(file_path, O_RDONLY);
	KT_CHECK(fd >= 0);
	/* a mapping the module made is given memory until it is unmapped */
	m = C(__NR_mmap, 0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, I(-1), 0);
	KT_CHECK(m > 0);
	KT_EQ(C(__NR_pread64, fd, (uint64_t)m + 4096, 16, 0, 0, 0), 16);
	KT_EQ(C(__NR_pread64, fd, (uint64_t)m + 8192 - 8, 16, 0, 0, 0), -EFAULT);
	KT_EQ(C(__NR_munmap, (uint64_t)m, 8192, 0, 0, 0, 0), 0);
	KT_EQ(C(__NR_pread64, fd, (uint64_t)m, 16, 0, 0, 0), -EFAULT);

	/* getrusage is not native: refused in the kernel, not handed over */
	KT_EQ(kt_stats(R.fd, &st), 0);
	KT_EQ(st.ctx_fallback, 0);
	KT_EQ(C(__NR_getrusage, RUSAGE_SELF, P(outside), 0, 0, 0, 0), -EFAULT);
	KT_EQ(kt_stats(R.fd, &st), 0);
	KT_EQ(st.ctx_fallback, 0);
	KT_EQ(C(__NR_getrusage, RUSAGE_SELF, P(given + 32768), 0, 0, 0, 0), 0);
	KT_EQ(kt_stats(R.fd, &st), 0);
	KT_EQ(st.ctx_fallback, 1);

	/* a removed region stops counting */
	KT_EQ(region(R.fd, GSYS_REGION_REMOVE, P(given), 0), 0);
	KT_EQ(C(__NR_pread64, fd, P(given), 16, 0, 0, 0), -EFAULT);
	KT_EQ(region(R.fd, GSYS_REGION_ADD, P(given), GIVEN_BYTES), 0);
	KT_EQ(C(__NR_pread64, fd, P(given), 16, 0, 0, 0), 16);
	close(fd);
	kt_end();
}

/*
 * Finding: the module looked only at the region starting nearest below the
 * pointer, so a small region inside a big one hid the rest of it, a smaller
 * region at the same start shrank it, and a buffer across two touching
 * regions (or a region and a mapping) was refused.
 */
static void test_union_of_regions(void)
{
	const char *path = "/tmp/kt_confine_union";
	char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int64_t m;
	int fd;

	kt_begin("confined_union_of_regions");
	KT_CHECK(two != MAP_FAILED);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	KT_CHECK(fd >= 0);
	KT_EQ(write(fd, "0123456789abcdef", 16), 16);

	/* a region inside `given`, and one at its start: `given` stays whole */
	KT_EQ(region(R.fd, GSYS_REGION_ADD, P(given + 4096), 64), 0);
	KT_EQ(region(R.fd, GSYS_REGION_ADD, P(given), 16), 0);
	KT_EQ(C(__NR_pread64, fd, P(given + 8192), 4096, 0, 0, 0), 16);
	KT_EQ(C(__NR_pread64, fd, P(given + 4096), 4096, 0, 0, 0), 16);
	KT_EQ(C(__NR_pread64, fd, P(given), GIVEN_BYTES, 0, 0, 0), 16);
	KT_EQ(C(__NR_pread64, fd, P(given), GIVEN_BYTES + 1, 0, 0, 0), -EFAULT);
	/* removing the inner region keeps what `given` covers */
	KT_EQ(region(R.fd, GSYS_REGION_REMOVE, P(given + 4096), 0), 0);
	KT_EQ(C(__NR_pread64, fd, P(given + 4096), 64, 0, 0, 0), 16);

	/* touching regions, then one removed: the other stays */
	KT_EQ(region(R.fd, GSYS_REGION_ADD, P(two), 4096), 0);
	KT_EQ(region(R.fd, GSYS_REGION_ADD, P(two + 4096), 4096), 0);
	KT_EQ(C(__NR_pread64, fd, P(two + 4090), 16, 0, 0, 0), 16);
	KT_EQ(C(__NR_pread64, fd, P(two), 8192, 0, 0, 0), 16);
	KT_EQ(C(__NR_pread64, fd, P(two + 1), 8192, 0, 0, 0), -EFAULT);
	KT_EQ(region(R.fd, GSYS_REGION_REMOVE, P(two), 0), 0);
	KT_EQ(C(__NR_pread64, fd, P(two + 4096), 4096, 0, 0, 0), 16);
	KT_EQ(C(__NR_pread64, fd, P(two + 4095), 16, 0, 0, 0), -EFAULT);
	KT_EQ(region(R.fd, GSYS_REGION_REMOVE, P(two + 4096), 0), 0);
	KT_EQ(C(__NR_pread64, fd, P(two + 4096), 16, 0, 0, 0), -EFAULT);

	/* a mapping the module made, then a region running on past its end */
	m = C(__NR_mmap, 0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, I(-1), 0);
	KT_CHECK(m > 0);
	KT_EQ(region(R.fd, GSYS_REGION_ADD, (uint64_t)m + 4096, 8192), 0);
	KT_EQ(C(__NR_pread64, fd, (uint64_t)m, 12288, 0, 0, 0), 16);
	KT_EQ(C(__NR_pread64, fd, (uint64_t)m, 12289, 0, 0, 0), -EFAULT);
	KT_EQ(region(R.fd, GSYS_REGION_REMOVE, (uint64_t)m + 4096, 0), 0);
	KT_EQ(C(__NR_munmap, (uint64_t)m, 8192, 0, 0, 0, 0), 0);
	close(fd);
	unlink(path);
	munmap(two, 8192);
	kt_end();
}

static void test_unconfined_ring(void)
{
	struct kt_ring u;
	int fd;

	kt_begin("unconfined_ring_takes_any_pointer");
	KT_EQ(kt_ring_alloc(&u, 64, 128), 0);
	kt_allow_all(&u);
	KT_EQ(kt_register(&u), 0);
	fd = open(file_path, O_RDONLY);
	KT_CHECK(fd >= 0);
	KT_EQ(kt_call(&u, __NR_pread64, 0, fd, P(outside), 16, 0, 0, 0), 16);
	KT_CHECK(!memcmp(outside, "0123456789abcdef", 16));
	close(fd);
	kt_ring_free(&u);
	kt_end();
}

static int lowest_free_fd(void)
{
	int fd = open("/", O_RDONLY);

	close(fd);
	return fd;
}

/* An open the vetting refuses: -EACCES, counted denied, no descriptor left. */
static void refused_open(const char *path, int flags)
{
	struct gsys_ioc_stats before = { .size = sizeof(before) }, after = { .size = sizeof(after) };
	int free_fd = lowest_free_fd();

	strcpy(given + 40000, path);
	KT_EQ(kt_stats(R.fd, &before), 0);
	KT_EQ(C(__NR_openat, I(AT_FDCWD), P(given + 40000), flags, 0, 0, 0), -EACCES);
	KT_EQ(kt_stats(R.fd, &after), 0);
	KT_EQ(after.ctx_denied, before.ctx_denied + 1);
	/* an installed descriptor would have taken the lowest free number */
	KT_EQ(lowest_free_fd(), free_fd);
}

static void test_forbidden_files(void)
{
	char p[128];
	int64_t fd;

	kt_begin("forbidden_files_refused");
	refused_open("/proc/self/mem", O_RDONLY);
	refused_open("/proc/self/pagemap", O_RDONLY);
	snprintf(p, sizeof(p), "/proc/%d/mem", getpid());
	refused_open(p, O_RDWR);
	snprintf(p, sizeof(p), "/proc/%d/task/%d/mem", getpid(), (int)syscall(SYS_gettid));
	refused_open(p, O_RDONLY);
	refused_open("/proc/thread-self/pagemap", O_RDONLY);
	refused_open("/proc/sys/kernel/hostname", O_WRONLY);
	refused_open("/proc/self/status", O_RDONLY | O_TRUNC);
	refused_open("/sys/devices/system/cpu/cpu0/uevent", O_WRONLY);
	/* /dev/mem wherever its node is */
	if (mknod("/tmp/kt_devmem", S_IFCHR | 0600, makedev(1, 1)) == 0 || errno == EEXIST)
		refused_open("/tmp/kt_devmem", O_RDONLY);
	else
		kt_fail(__FILE__, __LINE__, "mknod /tmp/kt_devmem: %s", strerror(errno));
	/* procfs mounted somewhere else is still procfs */
	mkdir("/tmp/kt_proc", 0700);
	if (mount("proc", "/tmp/kt_proc", "proc", 0, NULL) == 0) {
		refused_open("/tmp/kt_proc/self/mem", O_RDONLY);
		umount("/tmp/kt_proc");
	} else {
		kt_fail(__FILE__, __LINE__, "mount proc: %s", strerror(errno));
	}
	/* reading ordinary procfs files is fine */
	strcpy(given + 40000, "/proc/self/status");
	fd = C(__NR_openat, I(AT_FDCWD), P(given + 40000), O_RDONLY, 0, 0, 0);
	KT_CHECK(fd >= 0);
	if (fd >= 0)
		close((int)fd);
	kt_end();
}

/*
 * Finding (issue #10): a ring served by genesys.ko could close another
 * runtime's io_uring descriptor (the module only knew its own files), and
 * that runtime then hung. Executor files are refused on every ring.
 */
static void test_executor_files(void)
{
	struct { uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features,
		 wq_fd, resv[3]; uint64_t off[16]; } params = { 0 };
	int uring = (int)syscall(__NR_io_uring_setup, 4, &params);
	int dev = kt_open_dev();

	kt_begin("executor_files_refused");
	if (uring < 0) {
		kt_fail(__FILE__, __LINE__, "io_uring_setup: %s", strerror(errno));
	} else {
		KT_EQ(C(__NR_close, uring, 0, 0, 0, 0, 0), -EPERM);
		KT_EQ(fcntl(uring, F_GETFD) >= 0, 1);   /* still open */
		KT_EQ(C(__NR_read, uring, P(given), 16, 0, 0, 0), -EPERM);
		KT_EQ(C(__NR_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, uring, 0), -EPERM);
		close(uring);
	}
	KT_CHECK(dev >= 0);
	KT_EQ(C(__NR_close, dev, 0, 0, 0, 0, 0), -EPERM);
	KT_EQ(C(__NR_mmap, 0, 4096, PROT_READ, MAP_SHARED, dev, 0), -EPERM);
	close(dev);
	kt_end();
}

int main(void)
{
	test_region_ioctl_errors();

	given = mmap(NULL, GIVEN_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (given == MAP_FAILED || kt_ring_alloc(&R, 64, 128))
		return 1;
	kt_allow_all(&R);
	R.reg_flags = GSYS_RING_F_CONFINE;
	R.fd = kt_open_dev();
	if (R.fd < 0 || region(R.fd, GSYS_REGION_ADD, P(given), GIVEN_BYTES) ||
	    kt_register(&R)) {
		fprintf(stderr, "t_confine: cannot set up the confined ring\n");
		return 1;
	}
	test_buffers();
	test_paths();
	test_sockets();
	test_mappings_and_fallbacks();
	test_union_of_regions();
	test_unconfined_ring();
	test_forbidden_files();
	test_executor_files();
	kt_ring_free(&R);
	return kt_finish("t_confine");
}
