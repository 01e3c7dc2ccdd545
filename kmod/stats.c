// SPDX-License-Identifier: GPL-2.0
/*
 * Counters: per context, module-wide, per context per operation, and the
 * ring header's totals; the GSYS_IOC_STATS ioctl and /proc/genesys.
 *
 * /proc/genesys is one text file of "key value" lines: module-wide keys
 * first, then "ctx.<id>.<key> value" for every open context, including
 * "ctx.<id>.op.<name>.{calls,errors,denied,nonblocking}" for each operation
 * the context has run. Keys are only ever added, so scripts can parse it by
 * name.
 */
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>

#include "genesys.h"

struct gsys_global gsys_global;
LIST_HEAD(gsys_ctx_list);
DEFINE_MUTEX(gsys_ctx_list_lock);

/* Operation slots are GSYS_OP_TABLE's order: GSYS_OPI_<name> is the index. */
#define GSYS_OPI_ENUM(name, nr, dir, a0, a1, a2, a3, a4, a5) GSYS_OPI_##name,
enum { GSYS_OP_TABLE(GSYS_OPI_ENUM) GSYS_OPI_OTHER };
#undef GSYS_OPI_ENUM
static_assert(GSYS_OPI_OTHER == GSYS_OP_COUNT);

#define GSYS_OP_NAME(name, nr, dir, a0, a1, a2, a3, a4, a5) #name,
static const char *const gsys_op_names[GSYS_KMOD_OP_SLOTS] = {
	GSYS_OP_TABLE(GSYS_OP_NAME) "other"
};
#undef GSYS_OP_NAME

/* Index of @nr in GSYS_OP_TABLE, GSYS_OPI_OTHER outside it (a jump table). */
static unsigned int gsys_op_index(u16 nr)
{
	switch (nr) {
#define GSYS_OP_CASE(name, nr, dir, a0, a1, a2, a3, a4, a5) \
	case nr:                                             \
		return GSYS_OPI_##name;
	GSYS_OP_TABLE(GSYS_OP_CASE)
#undef GSYS_OP_CASE
	default:
		return GSYS_OPI_OTHER;
	}
}

/* Counts one call the kernel completes (not fallbacks: userspace counts those). */
void gsys_tally_call(struct gsys_tally *t, const struct gsys_request *req, s64 ret,
		     bool denied)
{
	struct gsys_op_tally *o = &t->op[gsys_op_index(req->nr)];

	o->calls++;
	if (ret < 0)
		o->errors++;
	if (denied)
		o->denied++;
	if (req->flags & GSYS_SLOT_F_NONBLOCK)
		o->nonblocking++;
}

static void gsys_counters_add(struct gsys_counters *c, const struct gsys_tally *t)
{
	atomic64_add(t->completed, &c->completed);
	atomic64_add(t->failed, &c->failed);
	atomic64_add(t->denied, &c->denied);
	atomic64_add(t->fallback, &c->fallback);
	atomic64_add(t->garbage, &c->garbage);
	atomic64_add(t->skipped, &c->skipped);
}

static void gsys_op_counters_add(struct gsys_op_counters *ops,
				 const struct gsys_op_tally *t)
{
	unsigned int i;

	for (i = 0; i < GSYS_KMOD_OP_SLOTS; i++) {
		if (!t[i].calls)
			continue;
		atomic64_add(t[i].calls, &ops[i].calls);
		if (t[i].errors)
			atomic64_add(t[i].errors, &ops[i].errors);
		if (t[i].denied)
			atomic64_add(t[i].denied, &ops[i].denied);
		if (t[i].nonblocking)
			atomic64_add(t[i].nonblocking, &ops[i].nonblocking);
	}
}

/* The header's u64 totals are naturally aligned: view them as atomic64_t. */
static_assert(sizeof(atomic64_t) == sizeof(u64));

static void gsys_header_add(u64 *field, u64 v)
{
	if (v)
		atomic64_add(v, (atomic64_t *)field);
}

/* Adds a SERVE call's tally to its context, the module and the ring header. */
void gsys_tally_flush(struct gsys_ctx *ctx, struct gsys_ring *ring,
		      struct gsys_tally *t)
{
	struct gsys_ring_header *h = ring->hdr;

	if (!(t->completed | t->failed | t->denied | t->fallback | t->garbage |
	      t->skipped))
		return;
	gsys_counters_add(&ctx->stats, t);
	gsys_op_counters_add(ctx->ops, t->op);
	gsys_counters_add(&gsys_global.stats, t);
	/* relaxed adds: totals for tools, they order nothing */
	gsys_header_add(&h->completed, t->completed);
	gsys_header_add(&h->failed, t->failed);
	gsys_header_add(&h->denied, t->denied);
	gsys_header_add(&h->garbage, t->garbage);
	gsys_header_add(&h->skipped, t->skipped);
	memset(t, 0, sizeof(*t));
}

static int gsys_stats_check(const struct gsys_ioc_stats *st)
{
	unsigned int i;

	if (st->size != sizeof(*st) || st->reserved0 || st->reserved1)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(st->reserved); i++)
		if (st->reserved[i])
			return -EINVAL;
	if (!st->ops_ptr)
		return st->ops_count ? -EINVAL : 0;
	if (!st->ops_count || st->ops_count > GSYS_STATS_MAX_OPS)
		return -EINVAL;
	return 0;
}

/* Copies min(@room, GSYS_KMOD_OP_SLOTS) per-operation entries to @uops. */
static int gsys_stats_copy_ops(struct gsys_ctx *ctx,
			       struct gsys_ioc_op_stats __user *uops, u32 room)
{
	unsigned int i, n = min_t(u32, room, GSYS_KMOD_OP_SLOTS);

	for (i = 0; i < n; i++) {
		struct gsys_ioc_op_stats o = {
			.calls = atomic64_read(&ctx->ops[i].calls),
			.errors = atomic64_read(&ctx->ops[i].errors),
			.denied = atomic64_read(&ctx->ops[i].denied),
			.nonblocking = atomic64_read(&ctx->ops[i].nonblocking),
		};

		if (copy_to_user(&uops[i], &o, sizeof(o)))
			return -EFAULT;
	}
	return 0;
}

/* GSYS_IOC_STATS */
long gsys_stats_ioctl(struct gsys_ctx *ctx, void __user *uarg)
{
	struct gsys_ioc_stats st;
	u64 ops_ptr;
	int ret;

	if (copy_from_user(&st, uarg, sizeof(st)))
		return -EFAULT;
	ret = gsys_stats_check(&st);
	if (ret)
		return ret;
	ops_ptr = st.ops_ptr;
	if (ops_ptr) {
		ret = gsys_stats_copy_ops(ctx, u64_to_user_ptr(ops_ptr), st.ops_count);
		if (ret)
			return ret;
	}

	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	st.ctx_completed = atomic64_read(&ctx->stats.completed);
	st.ctx_failed = atomic64_read(&ctx->stats.failed);
	st.ctx_denied = atomic64_read(&ctx->stats.denied);
	st.ctx_fallback = atomic64_read(&ctx->stats.fallback);
	st.ctx_garbage = atomic64_read(&ctx->stats.garbage);
	st.ctx_skipped = atomic64_read(&ctx->stats.skipped);
	st.global_completed = atomic64_read(&gsys_global.stats.completed);
	st.global_contexts = atomic64_read(&gsys_global.contexts);
	st.global_rings = atomic64_read(&gsys_global.rings);
	st.global_pinned_pages = atomic64_read(&gsys_global.pinned_pages);
	if (ops_ptr) {
		st.ops_ptr = ops_ptr;
		st.ops_count = GSYS_KMOD_OP_SLOTS;
	}
	return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
}

static void gsys_show_counters(struct seq_file *m, const char *prefix,
			       struct gsys_counters *c)
{
	seq_printf(m, "%scompleted %lld\n", prefix, atomic64_read(&c->completed));
	seq_printf(m, "%sfailed %lld\n", prefix, atomic64_read(&c->failed));
	seq_printf(m, "%sdenied %lld\n", prefix, atomic64_read(&c->denied));
	seq_printf(m, "%sfallback %lld\n", prefix, atomic64_read(&c->fallback));
	seq_printf(m, "%sgarbage %lld\n", prefix, atomic64_read(&c->garbage));
	seq_printf(m, "%sskipped %lld\n", prefix, atomic64_read(&c->skipped));
}

static void gsys_show_ops(struct seq_file *m, const char *prefix,
			  struct gsys_op_counters *ops)
{
	unsigned int i;

	for (i = 0; i < GSYS_KMOD_OP_SLOTS; i++) {
		const char *name = gsys_op_names[i];

		if (!atomic64_read(&ops[i].calls))
			continue;
		seq_printf(m, "%sop.%s.calls %lld\n", prefix, name,
			   atomic64_read(&ops[i].calls));
		seq_printf(m, "%sop.%s.errors %lld\n", prefix, name,
			   atomic64_read(&ops[i].errors));
		seq_printf(m, "%sop.%s.denied %lld\n", prefix, name,
			   atomic64_read(&ops[i].denied));
		seq_printf(m, "%sop.%s.nonblocking %lld\n", prefix, name,
			   atomic64_read(&ops[i].nonblocking));
	}
}

static int gsys_proc_show(struct seq_file *m, void *v)
{
	struct gsys_ctx *ctx;
	char prefix[32];

	seq_printf(m, "abi_version %u\n", GSYS_ABI_VERSION);
	seq_printf(m, "contexts %lld\n", atomic64_read(&gsys_global.contexts));
	seq_printf(m, "rings %lld\n", atomic64_read(&gsys_global.rings));
	seq_printf(m, "pinned_pages %lld\n", atomic64_read(&gsys_global.pinned_pages));
	seq_printf(m, "serve_calls %lld\n", atomic64_read(&gsys_global.serve_calls));
	gsys_show_counters(m, "", &gsys_global.stats);

	mutex_lock(&gsys_ctx_list_lock);
	list_for_each_entry(ctx, &gsys_ctx_list, node) {
		snprintf(prefix, sizeof(prefix), "ctx.%llu.", ctx->id);
		seq_printf(m, "%spid %d\n", prefix, ctx->owner);
		seq_printf(m, "%snslots %u\n", prefix, READ_ONCE(ctx->nslots));
		seq_printf(m, "%sservers %d\n", prefix, atomic_read(&ctx->servers));
		seq_printf(m, "%sfiles %u\n", prefix, gsys_files_count(ctx));
		seq_printf(m, "%smappings %u\n", prefix, READ_ONCE(ctx->nmaps));
		gsys_show_counters(m, prefix, &ctx->stats);
		gsys_show_ops(m, prefix, ctx->ops);
	}
	mutex_unlock(&gsys_ctx_list_lock);
	return 0;
}

int gsys_proc_init(void)
{
	if (!proc_create_single("genesys", 0444, NULL, gsys_proc_show))
		return -ENOMEM;
	return 0;
}

void gsys_proc_exit(void)
{
	remove_proc_entry("genesys", NULL);
}
