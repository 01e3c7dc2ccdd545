// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * Description: every ioctl refuses malformed input with the documented errno
 * (size, version, flags, reserved, alignment, NULL/unmapped/read-only ring,
 * geometry, double registration, huge slot counts, unknown commands, SERVE
 * without a ring); random bytes in slots, queue entries and the queue head
 * are counted as garbage and never crash or hang SERVE; UNREGISTER during
 * SERVE is -EBUSY; close() with a thread inside SERVE is safe.
 */
#define _GNU_SOURCE
#include "kt.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define IOC(fd, cmd, arg) (ioctl((fd), (cmd), (arg)) ? -errno : 0)

static struct gsys_ioc_register_ring good_req(struct kt_ring *r)
{
	struct gsys_ioc_register_ring req = {
		.size = sizeof(req),
		.abi_version = GSYS_ABI_VERSION,
		.ring_addr = (uintptr_t)r->mem,
		.ring_bytes = r->bytes,
		.allow_ptr = (uintptr_t)r->allow,
	};
	return req;
}

/* Registers @req on a fresh file; returns the errno (0 on success). */
static long try_register(struct gsys_ioc_register_ring *req)
{
	int fd = kt_open_dev();
	long rc;

	if (fd < 0)
		return fd;
	rc = IOC(fd, GSYS_IOC_REGISTER_RING, req);
	close(fd);
	return rc;
}

static void test_register_ring_errors(void)
{
	struct gsys_ioc_register_ring req;
	struct kt_ring r, big;
	void *ro;
	int fd, i;

	kt_begin("register_ring_rejects_bad_requests");
	KT_EQ(kt_ring_alloc(&r, 64, 128), 0);

	req = good_req(&r);
	req.size = sizeof(req) - 8;
	KT_EQ(try_register(&req), -EINVAL);
	req = good_req(&r);
	req.abi_version = 99;
	KT_EQ(try_register(&req), -EINVAL);
	req = good_req(&r);
	req.flags = ~GSYS_RING_F_KNOWN;
	KT_EQ(try_register(&req), -EINVAL);
	req = good_req(&r);
	req.reserved0 = 1;
	KT_EQ(try_register(&req), -EINVAL);
	for (i = 0; i < (int)(sizeof(req.reserved) / sizeof(req.reserved[0])); i++) {
		req = good_req(&r);
		req.reserved[i] = 1;
		KT_EQ(try_register(&req), -EINVAL);
	}
	req = good_req(&r);
	req.ring_addr += 64;
	KT_EQ(try_register(&req), -EINVAL);
	req = good_req(&r);
	req.ring_addr = 0;
	KT_EQ(try_register(&req), -EFAULT);
	req = good_req(&r);
	req.ring_addr = 0x10000;         /* nothing mapped there */
	KT_EQ(try_register(&req), -EFAULT);
	req = good_req(&r);
	req.ring_bytes += 4096;
	KT_EQ(try_register(&req), -EINVAL);
	req = good_req(&r);
	req.ring_bytes = 100;
	KT_EQ(try_register(&req), -EINVAL);
	req = good_req(&r);
	req.allow_ptr = 0;
	KT_EQ(try_register(&req), -EFAULT);
	KT_EQ(IOC(kt_open_dev(), GSYS_IOC_REGISTER_RING, (void *)8), -EFAULT);
	kt_end();

	kt_begin("register_ring_rejects_bad_headers");
#define HDR_CASE(field, value, expect)                                 \
	do {                                                           \
		__typeof__(r.h->field) saved_ = r.h->field;            \
		r.h->field = (value);                                  \
		req = good_req(&r);                                    \
		KT_EQ(try_register(&req), expect);                     \
		r.h->field = saved_;                                   \
	} while (0)
	HDR_CASE(magic, 0x12345678, -EINVAL);
	HDR_CASE(abi_version, 1, -EINVAL);            /* v1 rings are refused */
	HDR_CASE(header_bytes, 8192, -EINVAL);
	HDR_CASE(ring_flags, 1, -EINVAL);
	HDR_CASE(nslots, 48, -EINVAL);                  /* not a power of two */
	HDR_CASE(nslots, 16, -EINVAL);                  /* below one warp */
	HDR_CASE(nslots, 1u << 30, -EINVAL);            /* huge */
	HDR_CASE(nslots, 0, -EINVAL);
	HDR_CASE(sq_entries, 32, -EINVAL);              /* fewer than slots */
	HDR_CASE(sq_entries, 96, -EINVAL);
	HDR_CASE(sq_entries, 1u << 31, -EINVAL);
	HDR_CASE(ring_bytes, r.bytes + 4096, -EINVAL);
	HDR_CASE(slots_offset, 8192, -EINVAL);
	HDR_CASE(sq_offset, 4096, -EINVAL);
	HDR_CASE(timeout_ns, 0, -EINVAL);
	req = good_req(&r);
	KT_EQ(try_register(&req), 0);                   /* and the original is fine */
	kt_end();

	kt_begin("register_ring_memory_checks");
	/* read-only ring: cannot be pinned for writing */
	KT_EQ(mprotect(r.mem, r.bytes, PROT_READ), 0);
	req = good_req(&r);
	KT_EQ(try_register(&req), -EFAULT);
	KT_EQ(mprotect(r.mem, r.bytes, PROT_READ | PROT_WRITE), 0);
	/* ring larger than the mapping behind it */
	ro = mmap(NULL, r.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memcpy(ro, r.mem, 4096);
	munmap((char *)ro + r.bytes - 4096, 4096);      /* a hole at the end */
	req = good_req(&r);
	req.ring_addr = (uintptr_t)ro;
	KT_EQ(try_register(&req), -EFAULT);
	munmap(ro, r.bytes - 4096);
	/* the largest ring the ABI allows registers and unregisters cleanly */
	if (kt_ring_alloc(&big, GSYS_MAX_SLOTS, GSYS_MAX_SLOTS) == 0) {
		long before = kt_proc_value("pinned_pages");

		KT_EQ(kt_register(&big), 0);
		KT_EQ(kt_proc_value("pinned_pages") - before, (long)(big.bytes / 4096));
		kt_ring_free(&big);
		KT_EQ(kt_proc_value("pinned_pages"), before);
	}
	/* double registration */
	fd = kt_open_dev();
	req = good_req(&r);
	KT_EQ(IOC(fd, GSYS_IOC_REGISTER_RING, &req), 0);
	KT_EQ(IOC(fd, GSYS_IOC_REGISTER_RING, &req), -EBUSY);
	KT_EQ(IOC(fd, GSYS_IOC_UNREGISTER, NULL), 0);
	KT_EQ(IOC(fd, GSYS_IOC_REGISTER_RING, &req), 0);
	close(fd);
	kt_ring_free(&r);
	kt_end();
}

static void test_other_ioctls(void)
{
	struct gsys_ioc_register_files files = { .size = sizeof(files) };
	struct gsys_ioc_serve serve = { .size = sizeof(serve) };
	struct gsys_ioc_stats stats = { .size = sizeof(stats) };
	struct gsys_ioc_register_ring req;
	struct kt_ring r;
	struct gsys_request fb[4];
	int fd = kt_open_dev();

	kt_begin("ioctls_without_ring_and_unknown");
	KT_EQ(IOC(fd, GSYS_IOC_SERVE, &serve), -ENXIO);
	KT_EQ(IOC(fd, GSYS_IOC_REGISTER_FILES, &files), -ENXIO);
	KT_EQ(IOC(fd, GSYS_IOC_UNREGISTER, NULL), -ENXIO);
	KT_EQ(IOC(fd, GSYS_IOC_STATS, &stats), 0);
	KT_EQ(IOC(fd, _IO(GSYS_IOC_MAGIC, 99), NULL), -ENOTTY);
	KT_EQ(IOC(fd, _IOWR(GSYS_IOC_MAGIC, 3, struct gsys_ioc_stats), &stats), -ENOTTY);
	KT_EQ(IOC(fd, 0x5401 /* TCGETS */, &stats), -ENOTTY);
	KT_EQ(IOC(fd, GSYS_IOC_SERVE, NULL), -EFAULT);
	stats.size = 8;
	KT_EQ(IOC(fd, GSYS_IOC_STATS, &stats), -EINVAL);
	stats.size = sizeof(stats);
	stats.reserved0 = 1;
	KT_EQ(IOC(fd, GSYS_IOC_STATS, &stats), -EINVAL);
	kt_end();

	kt_begin("serve_and_files_reject_bad_args");
	KT_EQ(kt_ring_alloc(&r, 32, 32), 0);
	req = good_req(&r);
	KT_EQ(IOC(fd, GSYS_IOC_REGISTER_RING, &req), 0);
	r.fd = fd;
	serve.size = 8;
	KT_EQ(IOC(fd, GSYS_IOC_SERVE, &serve), -EINVAL);
	serve.size = sizeof(serve);
	serve.flags = 2;
	KT_EQ(IOC(fd, GSYS_IOC_SERVE, &serve), -EINVAL);
	serve.flags = 0;
	serve.reserved[1] = 1;
	KT_EQ(IOC(fd, GSYS_IOC_SERVE, &serve), -EINVAL);
	serve.reserved[1] = 0;
	serve.fallback_max = GSYS_SERVE_MAX_FALLBACK + 1;
	serve.fallback_ptr = (uintptr_t)fb;
	KT_EQ(IOC(fd, GSYS_IOC_SERVE, &serve), -EINVAL);
	serve.fallback_max = 4;
	serve.fallback_ptr = ~0ull - 8;
	KT_EQ(IOC(fd, GSYS_IOC_SERVE, &serve), -EFAULT);
	serve.fallback_ptr = (uintptr_t)fb;
	KT_EQ(IOC(fd, GSYS_IOC_SERVE, &serve), 0);
	KT_EQ(serve.fallback_count, 0);
	KT_EQ(serve.completed, 0);
	files.size = 1;
	KT_EQ(IOC(fd, GSYS_IOC_REGISTER_FILES, &files), -EINVAL);
	files.size = sizeof(files);
	files.flags = 1;
	KT_EQ(IOC(fd, GSYS_IOC_REGISTER_FILES, &files), -EINVAL);
	files.flags = 0;
	files.reserved[0] = 1;
	KT_EQ(IOC(fd, GSYS_IOC_REGISTER_FILES, &files), -EINVAL);
	files.reserved[0] = 0;
	KT_EQ(IOC(fd, GSYS_IOC_REGISTER_FILES, &files), 0);
	kt_ring_free(&r);
	kt_end();
}

static void fill_random(void *p, size_t n, uint64_t *seed)
{
	uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)kt_rand(seed);
}

static void test_garbage(void)
{
	struct gsys_ioc_stats st;
	struct kt_serve_result res;
	uint64_t seed = 0x5eed1234abcdull;
	struct kt_ring r;
	uint32_t i, round;
	uint64_t t0;

	kt_begin("garbage_in_ring_is_counted_not_fatal");
	KT_EQ(kt_ring_alloc(&r, 64, 64), 0);
	/* only harmless opcodes may run, whatever the garbage says */
	memset(r.allow, 0, sizeof(r.allow));
	kt_allow(&r, GSYS_NR_NOP, true);
	kt_allow(&r, __NR_getpid, true);
	KT_EQ(kt_register(&r), 0);

	for (round = 0; round < 40; round++) {
		uint64_t head = r.h->sq_head;

		switch (round % 4) {
		case 0: /* random slots, published entries pointing anywhere */
			fill_random(r.slots, r.nslots * sizeof(*r.slots), &seed);
			for (i = 0; i < 8; i++)
				__atomic_store_n((uint64_t *)&r.sq[(head + i) & 63],
						 GSYS_SQ_WORD(head + i, (uint32_t)kt_rand(&seed)),
						 __ATOMIC_RELEASE);
			break;
		case 1: /* random queue entries */
			fill_random(r.sq, r.sq_entries * sizeof(*r.sq), &seed);
			break;
		case 2: /* random head, and READY slots with random requests */
			r.h->sq_head = kt_rand(&seed);
			head = r.h->sq_head;
			for (i = 0; i < 8; i++) {
				uint32_t s = (uint32_t)kt_rand(&seed) % r.nslots;
				struct gsys_sq_entry *e = &r.sq[(head + i) & 63];

				fill_random(&r.slots[s], sizeof(r.slots[s]), &seed);
				fill_random(e, sizeof(*e), &seed);
				e->nr = (i & 1) ? GSYS_NR_NOP : (uint16_t)kt_rand(&seed);
				e->flags &= 0xff;
				e->flags &= (uint16_t)~GSYS_SLOT_F_NONBLOCK;
				__atomic_store_n(&r.slots[s].state, GSYS_SLOT_READY, __ATOMIC_RELEASE);
				__atomic_store_n((uint64_t *)e, GSYS_SQ_WORD(head + i, s), __ATOMIC_RELEASE);
			}
			break;
		case 3: /* everything past the header at once */
			fill_random((char *)r.mem + GSYS_HEADER_BYTES, r.bytes - GSYS_HEADER_BYTES, &seed);
			r.h->sq_head = kt_rand(&seed);
			break;
		}
		t0 = kt_now_ns();
		res = kt_serve(&r, 1000000, 100000, 0, 64);
		KT_EQ(res.rc, 0);
		KT_CHECK(kt_now_ns() - t0 < 5000000000ull);
	}
	KT_EQ(kt_stats(r.fd, &st), 0);
	printf("# garbage counted: %llu, completed %llu, denied %llu\n",
	       (unsigned long long)st.ctx_garbage, (unsigned long long)st.ctx_completed,
	       (unsigned long long)st.ctx_denied);
	KT_CHECK(st.ctx_garbage > 0);
	KT_EQ(st.ctx_garbage, r.h->garbage);
	/* a clean ring afterwards still works on the same context */
	KT_EQ(IOC(r.fd, GSYS_IOC_UNREGISTER, NULL), 0);
	{
		int fd = r.fd;

		r.fd = -1;
		kt_ring_free(&r);
		KT_EQ(kt_ring_alloc(&r, 32, 32), 0);
		r.fd = fd;
	}
	KT_EQ(kt_register(&r), 0);
	KT_EQ(kt_call(&r, GSYS_NR_NOP, 0, 0, 0, 0, 0, 0, 0), 0);
	kt_ring_free(&r);
	kt_end();
}

struct serve_arg {
	struct kt_ring *r;
	int fd;
	volatile int entered;
	long rc;
};

static void *serve_thread(void *p)
{
	struct serve_arg *a = p;
	struct gsys_ioc_serve s = {
		.size = sizeof(s), .idle_timeout_ns = 60ull * 1000000000ull, .spin_ns = 1000,
	};

	a->entered = 1;
	a->rc = IOC(a->fd, GSYS_IOC_SERVE, &s);
	return NULL;
}

static void test_unregister_and_close_during_serve(void)
{
	struct serve_arg a = { 0 };
	struct kt_ring r;
	pthread_t t;
	long contexts;
	int idx;

	kt_begin("unregister_during_serve_is_ebusy");
	KT_EQ(kt_ring_alloc(&r, 32, 32), 0);
	KT_EQ(kt_register(&r), 0);
	a.r = &r;
	a.fd = r.fd;
	pthread_create(&t, NULL, serve_thread, &a);
	while (!a.entered)
		usleep(1000);
	usleep(20000);
	KT_EQ(IOC(r.fd, GSYS_IOC_UNREGISTER, NULL), -EBUSY);
	idx = kt_submit(&r, 0, GSYS_NR_NOP, 0, NULL);
	KT_EQ(kt_wait(&r, (uint32_t)idx, 10000), 0);
	r.h->stop = 1;
	pthread_join(t, NULL);
	KT_EQ(a.rc, 0);
	KT_EQ(IOC(r.fd, GSYS_IOC_UNREGISTER, NULL), 0);
	kt_ring_free(&r);
	kt_end();

	kt_begin("close_with_thread_in_serve");
	contexts = kt_proc_value("contexts");
	KT_EQ(kt_ring_alloc(&r, 32, 32), 0);
	KT_EQ(kt_register(&r), 0);
	KT_EQ(kt_proc_value("contexts"), contexts + 1);
	memset(&a, 0, sizeof(a));
	a.r = &r;
	a.fd = r.fd;
	pthread_create(&t, NULL, serve_thread, &a);
	while (!a.entered)
		usleep(1000);
	usleep(20000);
	KT_EQ(close(r.fd), 0);
	r.fd = -1;
	/* the file lives on under SERVE's reference: requests still run */
	idx = kt_submit(&r, 0, __NR_getpid, 0, NULL);
	KT_EQ(kt_wait(&r, (uint32_t)idx, 10000), getpid());
	KT_EQ(kt_proc_value("contexts"), contexts + 1);
	r.h->stop = 1;
	pthread_join(t, NULL);
	KT_EQ(a.rc, 0);
	/* SERVE returned: the last reference went with it */
	KT_EQ(kt_proc_value("contexts"), contexts);
	kt_ring_free(&r);
	kt_end();
}

int main(void)
{
	int fd = kt_open_dev();

	if (fd < 0) {
		printf("# no /dev/genesys\n");
		return KT_SKIP;
	}
	close(fd);
	test_register_ring_errors();
	test_other_ioctls();
	test_garbage();
	test_unregister_and_close_during_serve();
	return kt_finish("t_badioctl");
}
