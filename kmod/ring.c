// SPDX-License-Identifier: GPL-2.0
/*
 * Ring registration: validate the request and the ring header, pin the
 * pages long-term, map them into the kernel, and tear all of it down again.
 * Reference counting and locking: genesys.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "genesys.h"

/* Checks line 0 of the header against itself and the caller's request. */
static int gsys_ring_check_geometry(const struct gsys_ring_header *h,
				    u64 ring_bytes)
{
	if (h->magic != GSYS_RING_MAGIC || h->abi_version != GSYS_ABI_VERSION ||
	    h->header_bytes != GSYS_HEADER_BYTES || h->ring_flags != 0)
		return -EINVAL;
	if (!is_power_of_2(h->nslots) || h->nslots < GSYS_MIN_SLOTS ||
	    h->nslots > GSYS_MAX_SLOTS)
		return -EINVAL;
	if (!is_power_of_2(h->sq_entries) || h->sq_entries < h->nslots ||
	    h->sq_entries > GSYS_KMOD_MAX_SQ_ENTRIES)
		return -EINVAL;
	if (h->slots_offset != gsys_ring_slots_offset() ||
	    h->sq_offset != gsys_ring_sq_offset(h->nslots))
		return -EINVAL;
	if (h->ring_bytes != gsys_ring_bytes(h->nslots, h->sq_entries) ||
	    ring_bytes != h->ring_bytes)
		return -EINVAL;
	/* the hole-skipping deadline: 0 would skip entries still being filled */
	if (!h->timeout_ns)
		return -EINVAL;
	return 0;
}

static int gsys_ring_check_request(const struct gsys_ioc_register_ring *req)
{
	int i;

	if (req->size != sizeof(*req) || req->abi_version != GSYS_ABI_VERSION)
		return -EINVAL;
	if ((req->flags & ~GSYS_RING_F_KNOWN) || req->reserved0)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(req->reserved); i++)
		if (req->reserved[i])
			return -EINVAL;
	if (!PAGE_ALIGNED(req->ring_addr))
		return -EINVAL;
	if (req->ring_bytes < GSYS_HEADER_BYTES || !PAGE_ALIGNED(req->ring_bytes))
		return -EINVAL;
	return 0;
}

static int gsys_ring_pin(struct gsys_ring *ring)
{
	unsigned long done = 0;
	int ret;

	ring->pages = kvcalloc(ring->npages, sizeof(*ring->pages), GFP_KERNEL);
	if (!ring->pages)
		return -ENOMEM;

	/* pin_user_pages_fast may stop short; a short count with no error is a hole */
	while (done < ring->npages) {
		ret = pin_user_pages_fast(ring->user_addr + done * PAGE_SIZE,
					  min_t(unsigned long, ring->npages - done, INT_MAX),
					  FOLL_WRITE | FOLL_LONGTERM,
					  ring->pages + done);
		if (ret <= 0) {
			ret = ret ? ret : -EFAULT;
			goto out_unpin;
		}
		done += ret;
	}
	return 0;

out_unpin:
	unpin_user_pages(ring->pages, done);
	kvfree(ring->pages);
	ring->pages = NULL;
	return ret;
}

static void gsys_ring_release(struct kref *ref)
{
	struct gsys_ring *ring = container_of(ref, struct gsys_ring, ref);

	vunmap(ring->hdr);
	/* we wrote through the kernel mapping: the pages are dirty */
	unpin_user_pages_dirty_lock(ring->pages, ring->npages, true);
	atomic64_sub(ring->npages, &gsys_global.pinned_pages);
	if (ring->charged && mmget_not_zero(ring->mm)) {
		account_locked_vm(ring->mm, ring->npages, false);
		mmput(ring->mm);
	}
	mmdrop(ring->mm);
	kvfree(ring->pages);
	kvfree(ring);
}

void gsys_ring_put(struct gsys_ring *ring)
{
	kref_put(&ring->ref, gsys_ring_release);
}

static int gsys_ring_map(struct gsys_ring *ring, const struct gsys_ring_header *h)
{
	char *base;
	int ret;

	ret = gsys_ring_pin(ring);
	if (ret)
		return ret;

	ret = account_locked_vm(current->mm, ring->npages, true);
	if (ret)
		goto out_unpin;
	ring->charged = true;

	base = vmap(ring->pages, ring->npages, VM_MAP, PAGE_KERNEL);
	if (!base) {
		ret = -ENOMEM;
		goto out_uncharge;
	}
	ring->hdr = (struct gsys_ring_header *)base;
	/* parts located from our validated copy, never from the live header */
	ring->slots = (struct gsys_slot *)(base + gsys_ring_slots_offset());
	ring->sq = (struct gsys_sq_entry *)(base + gsys_ring_sq_offset(h->nslots));
	atomic64_add(ring->npages, &gsys_global.pinned_pages);
	return 0;

out_uncharge:
	account_locked_vm(current->mm, ring->npages, false);
	ring->charged = false;
out_unpin:
	unpin_user_pages(ring->pages, ring->npages);
	kvfree(ring->pages);
	ring->pages = NULL;
	return ret;
}

/* GSYS_IOC_REGISTER_RING */
long gsys_ring_register(struct gsys_ctx *ctx, void __user *uarg)
{
	struct gsys_ioc_register_ring req;
	struct gsys_ring_header *h;
	struct gsys_ring *ring;
	long ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	ret = gsys_ring_check_request(&req);
	if (ret)
		return ret;

	/* line 0 of the header, copied once and validated from the copy */
	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h)
		return -ENOMEM;
	if (copy_from_user(h, u64_to_user_ptr(req.ring_addr), 64)) {
		ret = -EFAULT;
		goto out_free_header;
	}
	ret = gsys_ring_check_geometry(h, req.ring_bytes);
	if (ret)
		goto out_free_header;

	ring = kvzalloc(sizeof(*ring), GFP_KERNEL);
	if (!ring) {
		ret = -ENOMEM;
		goto out_free_header;
	}
	kref_init(&ring->ref);
	ring->nslots = h->nslots;
	ring->sq_entries = h->sq_entries;
	ring->timeout_ns = h->timeout_ns;
	ring->max_io_bytes = req.max_io_bytes ? req.max_io_bytes : GSYS_DEFAULT_MAX_IO;
	ring->confine = req.flags & GSYS_RING_F_CONFINE;
	ring->user_addr = req.ring_addr;
	ring->ring_bytes = req.ring_bytes;
	ring->npages = req.ring_bytes >> PAGE_SHIFT;
	if (copy_from_user(ring->allow, u64_to_user_ptr(req.allow_ptr),
			   GSYS_ALLOW_BITMAP_BYTES)) {
		ret = -EFAULT;
		goto out_free_ring;
	}

	mutex_lock(&ctx->lock);
	if (ctx->ring) {
		ret = -EBUSY;
		goto out_unlock;
	}
	ret = gsys_ring_map(ring, h);
	if (ret)
		goto out_unlock;
	ring->mm = current->mm;
	mmgrab(ring->mm);
	ctx->ring = ring;
	WRITE_ONCE(ctx->nslots, ring->nslots);
	mutex_unlock(&ctx->lock);

	atomic64_inc(&gsys_global.rings);
	kfree(h);
	return 0;

out_unlock:
	mutex_unlock(&ctx->lock);
out_free_ring:
	kvfree(ring);
out_free_header:
	kfree(h);
	return ret;
}

/* GSYS_IOC_UNREGISTER: -EBUSY while a thread is inside SERVE. */
long gsys_ring_unregister(struct gsys_ctx *ctx)
{
	struct gsys_ring *ring;

	mutex_lock(&ctx->lock);
	ring = ctx->ring;
	if (!ring) {
		mutex_unlock(&ctx->lock);
		return -ENXIO;
	}
	if (atomic_read(&ctx->servers)) {
		mutex_unlock(&ctx->lock);
		return -EBUSY;
	}
	ctx->ring = NULL;
	WRITE_ONCE(ctx->nslots, 0);
	mutex_unlock(&ctx->lock);

	gsys_files_drop(ctx);
	atomic64_dec(&gsys_global.rings);
	gsys_ring_put(ring);
	return 0;
}

/*
 * SERVE's reference. Only threads of the address space that registered the
 * ring may serve it: slot arguments are pointers into that mm.
 */
struct gsys_ring *gsys_ring_get_for_serve(struct gsys_ctx *ctx)
{
	struct gsys_ring *ring;

	mutex_lock(&ctx->lock);
	ring = ctx->ring;
	if (!ring) {
		ring = ERR_PTR(-ENXIO);
	} else if (ring->mm != current->mm) {
		ring = ERR_PTR(-EPERM);
	} else {
		kref_get(&ring->ref);
		atomic_inc(&ctx->servers);
	}
	mutex_unlock(&ctx->lock);
	return ring;
}

void gsys_ring_put_after_serve(struct gsys_ctx *ctx, struct gsys_ring *ring)
{
	atomic_dec(&ctx->servers);
	gsys_ring_put(ring);
}
