// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * Description: SIGKILL a process at a random moment while it has calls in
 * flight, threads inside SERVE (one of them blocked in a recvfrom that never
 * gets data), fixed files registered, genesys mappings and abandoned
 * (orphaned) slots; repeat. After every kill the module must have released
 * the context, the ring and its pinned pages.
 *
 * usage: t_lifetime [rounds]   (100)
 */
#define _GNU_SOURCE
#include "kt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static struct kt_ring R;
static int file_fd, sock_fd;
static int ready_fd = -1;

static void *device_main(void *p)
{
	uint64_t seed = (uintptr_t)p * 7919 + (uint64_t)getpid();
	char buf[4096];
	int calls = 0;

	for (;;) {
		uint64_t a[GSYS_SLOT_ARGS] = { 0 };
		uint16_t nr = GSYS_NR_NOP, flags = 0;
		unsigned int timeout = 30000;
		int idx;
		int64_t ret;

		switch (kt_rand(&seed) % 8) {
		case 0:
			break;
		case 1:
			nr = __NR_getpid;
			break;
		case 2:
			nr = __NR_pread64;
			a[0] = (uint64_t)file_fd;
			a[1] = (uintptr_t)buf;
			a[2] = sizeof(buf);
			break;
		case 3:
			nr = __NR_pread64;
			flags = GSYS_SLOT_F_FIXED_FILE;
			a[1] = (uintptr_t)buf;
			a[2] = 512;
			a[3] = 512;
			break;
		case 4:
			flags = GSYS_SLOT_F_NONBLOCK;
			break;
		case 5:
			nr = __NR_mmap;
			a[1] = 8192;
			a[2] = PROT_READ | PROT_WRITE;
			a[3] = MAP_PRIVATE | MAP_ANONYMOUS;
			a[4] = (uint64_t)-1;
			break;
		case 6:
			timeout = 1;    /* give up at once: the slot is parked */
			break;
		case 7:
			nr = __NR_getppid;
			break;
		}
		idx = kt_submit(&R, (uint32_t)(uintptr_t)p * 32, nr, flags, a);
		if (idx < 0) {
			usleep(100);
			continue;
		}
		if (flags & GSYS_SLOT_F_NONBLOCK)
			continue;
		ret = kt_wait(&R, (uint32_t)idx, timeout);
		if (nr == __NR_mmap && ret > 0)
			kt_call(&R, __NR_munmap, 0, (uint64_t)ret, 8192, 0, 0, 0, 0);
		if (++calls == 20 && ready_fd >= 0) {
			char c = 'r';

			if (write(ready_fd, &c, 1) < 0)
				_exit(3);
		}
	}
	return NULL;
}

/* A device thread whose call blocks in the kernel until the process dies. */
static void *blocked_main(void *p)
{
	uint64_t a[GSYS_SLOT_ARGS] = { (uint64_t)sock_fd, (uintptr_t)p, 64 };
	int idx = kt_submit(&R, 96, __NR_recvfrom, 0, a);

	if (idx >= 0)
		kt_wait(&R, (uint32_t)idx, 600000);
	return NULL;
}

static void child(int ready)
{
	struct kt_server srv[2];
	struct sockaddr_in addr = { .sin_family = AF_INET };
	static char sockbuf[64];
	pthread_t t;
	long i;

	ready_fd = ready;
	file_fd = open("/tmp/kt_lifetime", O_RDONLY);
	sock_fd = socket(AF_INET, SOCK_DGRAM, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (file_fd < 0 || sock_fd < 0 || bind(sock_fd, (struct sockaddr *)&addr, sizeof(addr)))
		_exit(2);
	if (kt_ring_alloc(&R, 128, 128) || kt_register(&R) ||
	    kt_register_files(&R, &file_fd, 1))
		_exit(2);
	for (i = 0; i < 2; i++)
		kt_server_start(&srv[i], &R, 10000000000ull, 50000);
	pthread_create(&t, NULL, blocked_main, sockbuf);
	for (i = 1; i <= 3; i++)
		pthread_create(&t, NULL, device_main, (void *)i);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 100;
	long base_ctx, base_rings, base_pages;
	uint64_t seed = 42;
	char block[4096];
	int i, bad = 0, fd;

	fd = kt_open_dev();
	if (fd < 0) {
		printf("# no /dev/genesys\n");
		return KT_SKIP;
	}
	close(fd);
	memset(block, 'L', sizeof(block));
	fd = open("/tmp/kt_lifetime", O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0 || write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
		return 1;
	close(fd);
	base_ctx = kt_proc_value("contexts");
	base_rings = kt_proc_value("rings");
	base_pages = kt_proc_value("pinned_pages");

	kt_begin("sigkill_with_calls_in_flight_releases_everything");
	for (i = 0; i < rounds; i++) {
		struct pollfd pfd;
		int pipefd[2], status;
		pid_t pid;

		if (pipe(pipefd))
			return 1;
		pid = fork();
		if (pid == 0) {
			close(pipefd[0]);
			child(pipefd[1]);
		}
		close(pipefd[1]);
		/* most rounds wait until calls flow; some kill during setup */
		if (kt_rand(&seed) % 4) {
			pfd.fd = pipefd[0];
			pfd.events = POLLIN;
			poll(&pfd, 1, 10000);
		}
		usleep((useconds_t)(kt_rand(&seed) % 20000));
		kill(pid, SIGKILL);
		if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status)) {
			printf("#   round %d: child exited on its own (status %#x)\n", i, status);
			bad++;
		}
		close(pipefd[0]);
		if (kt_proc_value("contexts") != base_ctx || kt_proc_value("rings") != base_rings ||
		    kt_proc_value("pinned_pages") != base_pages) {
			printf("#   round %d: not released: contexts %ld rings %ld pinned_pages %ld\n", i,
			       kt_proc_value("contexts"), kt_proc_value("rings"),
			       kt_proc_value("pinned_pages"));
			bad++;
		}
	}
	KT_EQ(bad, 0);
	printf("# %d kills; module totals: completed %ld skipped %ld garbage %ld\n", rounds,
	       kt_proc_value("completed"), kt_proc_value("skipped"), kt_proc_value("garbage"));
	kt_end();
	unlink("/tmp/kt_lifetime");
	return kt_finish("t_lifetime");
}
