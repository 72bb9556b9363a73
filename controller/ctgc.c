// SPDX-License-Identifier: Apache-2.0
/* Conntrack GC. The datapath refreshes expires_ns on every packet and never
 * deletes; LRU eviction only happens under pressure, so without this timer
 * dead flows would sit in the table until it fills. Work is bounded per
 * tick (CTGC_BUDGET entries) and resumes from a saved key, so a large table
 * never stalls the controller's loop. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <sluice/ct.h>

#include "ctgc.h"
#include "ctl.h"
#include "log.h"

static struct {
	struct ct_key cursor;
	bool have_cursor;
	bool empty;	       /* the last walk's start found no entry ... */
	uint64_t empty_created; /* ... with SL_CT_STAT_CREATED at this value */
	unsigned int skips;    /* calls skipped since */
	uint64_t total_expired, total_closed;
	bool warned;
} G;

void ctgc_reset(void)
{
	memset(&G, 0, sizeof(G));
}

/* Add n to CPU 0's slot of stat idx. The datapath never writes these
 * indexes, so read-modify-write of the whole per-CPU value is race-free. */
static int stats_add(int fd, __u32 idx, uint64_t n)
{
	int ncpus = libbpf_num_possible_cpus();
	__u64 *vals;
	int ret = 0;

	if (fd < 0 || !n)
		return 0;
	if (ncpus <= 0)
		return ncpus ? ncpus : -EINVAL;
	vals = calloc((size_t)ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &idx, vals) ||
	    (vals[0] += n, bpf_map_update_elem(fd, &idx, vals, BPF_ANY)))
		ret = -errno;
	free(vals);
	return ret;
}

/* SL_CT_STAT_CREATED summed over CPUs. Returns 0 or -errno (not logged:
 * the caller then walks as if the counter had moved). */
static int created_count(int fd, uint64_t *sum)
{
	int ncpus = libbpf_num_possible_cpus();
	__u32 idx = SL_CT_STAT_CREATED;
	__u64 *vals;
	int ret = 0;

	if (fd < 0)
		return -EBADF;
	if (ncpus <= 0)
		return ncpus ? ncpus : -EINVAL;
	vals = calloc((size_t)ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &idx, vals)) {
		ret = -errno;
	} else {
		*sum = 0;
		for (int i = 0; i < ncpus; i++)
			*sum += vals[i];
	}
	free(vals);
	return ret;
}

int ctgc_run(int ct_fd, int stats_fd, uint64_t now_ns, unsigned int budget, struct ctgc_pass *out)
{
	struct ct_key cur, next;
	struct ct_entry ent;
	struct ctgc_pass p = {0};
	bool have_cur = false, have_created = false;
	uint64_t created = 0;
	int ret = 0;

	/* The cursor is the next key not yet looked at. */
	if (G.have_cursor) {
		cur = G.cursor;
		have_cur = true;
	} else {
		/* Read the counter before looking: the datapath counts after
		 * inserting, so an entry the look misses moves the counter. */
		have_created = !created_count(stats_fd, &created);
		if (have_created && G.empty && created == G.empty_created &&
		    G.skips < CTGC_EMPTY_RECHECK) {
			G.skips++;
			p.skipped = p.wrapped = true;
			if (out)
				*out = p;
			return 0;
		}
		G.empty = false;
		G.skips = 0;
		if (!bpf_map_get_next_key(ct_fd, NULL, &cur)) {
			have_cur = true;
		} else if (errno != ENOENT) {
			ret = -errno;
			pr_warn("conntrack GC: couldn't walk %s: %s\n", SL_MAP_CT, strerror(errno));
		} else if (have_created) {
			G.empty = true;
			G.empty_created = created;
		}
	}
	if (!have_cur)
		p.wrapped = !ret;
	while (have_cur && p.visited < budget) {
		/* Step before deleting: get_next_key() of a deleted key restarts
		 * from the first one, which would revisit live entries. */
		bool have_next = !bpf_map_get_next_key(ct_fd, &cur, &next);

		if (!have_next && errno != ENOENT) {
			ret = -errno;
			pr_warn("conntrack GC: couldn't walk %s: %s\n", SL_MAP_CT, strerror(errno));
			break;
		}
		p.visited++;
		if (!bpf_map_lookup_elem(ct_fd, &cur, &ent) && ent.expires_ns < now_ns) {
			if (!bpf_map_delete_elem(ct_fd, &cur)) {
				if (ent.state == SL_CT_CLOSING)
					p.closed++;
				else
					p.expired++;
			} else if (errno != ENOENT) {
				ret = -errno;
				pr_warn("conntrack GC: couldn't delete from %s: %s\n", SL_MAP_CT,
					strerror(errno));
				break;
			}
		}
		if (!have_next) {
			/* End of the table: the next call starts over. */
			have_cur = false;
			p.wrapped = true;
			break;
		}
		cur = next;
	}
	G.have_cursor = have_cur;
	if (have_cur)
		G.cursor = cur;
	if (stats_add(stats_fd, SL_CT_STAT_EXPIRED, p.expired) ||
	    stats_add(stats_fd, SL_CT_STAT_CLOSED, p.closed)) {
		if (!G.warned)
			pr_warn("conntrack GC: couldn't update %s\n", SL_MAP_CT_STATS);
		G.warned = true;
	}
	G.total_expired += p.expired;
	G.total_closed += p.closed;
	if (out)
		*out = p;
	return ret;
}

/* ---- purges: delete what a predicate selects ------------------------------ */

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's internal "not supported", seen by old kernels' users */
#endif

static bool purge_warned;
static bool purge_stepwise_only; /* tests: as on kernels without batch ops */

void ctgc_purge_force_stepwise(bool on)
{
	purge_stepwise_only = on;
}

/* Warn about the first failure of a series, debug-log the rest (a purge
 * may be retried by its caller every few seconds). Returns err. */
static int purge_fail(int err, const char *what)
{
	if (!purge_warned)
		pr_warn("conntrack purge: couldn't %s %s: %s\n", what, SL_MAP_CT, strerror(-err));
	else
		pr_debug("conntrack purge: couldn't %s %s: %s\n", what, SL_MAP_CT, strerror(-err));
	purge_warned = true;
	return err;
}

static bool batch_unsupported(int err)
{
	return err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUPP;
}

/* Delete keys[0..n) one by one; gone ones do not count. Returns 0 or -errno. */
static int delete_each(int fd, const struct ct_key *keys, size_t n, size_t *deleted)
{
	for (size_t i = 0; i < n; i++) {
		if (!bpf_map_delete_elem(fd, &keys[i]))
			(*deleted)++;
		else if (errno != ENOENT)
			return -errno;
	}
	return 0;
}

/* Delete keys[0..n), in batches while the kernel has them (*batch cleared
 * when it has not). The kernel stops a batch at the first key that fails:
 * a key already gone (ENOENT) is skipped and the rest retried. Returns 0
 * or -errno. */
static int delete_keys(int fd, const struct ct_key *keys, size_t n, bool *batch, size_t *deleted)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	size_t i = 0;

	while (*batch && i < n) {
		__u32 count = (__u32)(n - i);

		if (!bpf_map_delete_batch(fd, &keys[i], &count, &opts)) {
			*deleted += count;
			return 0;
		}
		if (errno == ENOENT) {
			*deleted += count;
			i += count + 1; /* keys[i + count] is the one already gone */
		} else if (batch_unsupported(-errno) && !count) {
			*batch = false;
		} else {
			return -errno;
		}
	}
	return i < n ? delete_each(fd, &keys[i], n - i, deleted) : 0;
}

/* The walk with BPF_MAP_LOOKUP_BATCH. For hash maps the batch cursor is a
 * bucket index, so deleting what an earlier batch returned does not
 * disturb it: matches are deleted batch by batch, with no list of the
 * whole table's matches. Returns 0, -EOPNOTSUPP before anything was
 * deleted when the kernel lacks batch lookups, or -errno. */
static int purge_batched(int fd, ctgc_match_fn match, void *arg, size_t *deleted)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct ct_key *keys = NULL, *hits = NULL;
	struct ct_entry *vals = NULL;
	__u64 in_batch = 0, out_batch = 0; /* hash maps: a __u32 bucket index */
	bool first = true, done = false, del_batch = true;
	int ret = 0;

	keys = calloc(CTGC_PURGE_BATCH, sizeof(*keys));
	hits = calloc(CTGC_PURGE_BATCH, sizeof(*hits));
	vals = calloc(CTGC_PURGE_BATCH, sizeof(*vals));
	if (!keys || !hits || !vals) {
		ret = -ENOMEM;
		goto out;
	}
	while (!done) {
		__u32 count = CTGC_PURGE_BATCH;
		size_t n_hits = 0;

		if (bpf_map_lookup_batch(fd, first ? NULL : &in_batch, &out_batch, keys, vals,
					 &count, &opts)) {
			if (errno != ENOENT) {
				ret = -errno;
				if (first && batch_unsupported(ret))
					ret = -EOPNOTSUPP;
				goto out;
			}
			done = true; /* the end: count holds the last entries */
		}
		first = false;
		in_batch = out_batch;
		for (__u32 i = 0; i < count; i++)
			if (match(&keys[i], &vals[i], arg))
				hits[n_hits++] = keys[i];
		ret = delete_keys(fd, hits, n_hits, &del_batch, deleted);
		if (ret)
			goto out;
	}
out:
	free(keys);
	free(hits);
	free(vals);
	return ret;
}

/* The walk with get_next_key + lookup (kernels without batch ops).
 * Returns 0 or -errno. */
static int purge_stepwise(int fd, ctgc_match_fn match, void *arg, size_t *deleted)
{
	struct ct_key cur, next;
	struct ct_entry val;
	bool have_cur;

	have_cur = !bpf_map_get_next_key(fd, NULL, &cur);
	if (!have_cur && errno != ENOENT)
		return -errno;
	while (have_cur) {
		/* Step before deleting: get_next_key() of a deleted key
		 * restarts from the first one. */
		bool have_next = !bpf_map_get_next_key(fd, &cur, &next);

		if (!have_next && errno != ENOENT)
			return -errno;
		if (!bpf_map_lookup_elem(fd, &cur, &val) && match(&cur, &val, arg)) {
			if (!bpf_map_delete_elem(fd, &cur))
				(*deleted)++;
			else if (errno != ENOENT)
				return -errno;
		}
		have_cur = have_next;
		cur = next;
	}
	return 0;
}

int ctgc_purge(int ct_fd, ctgc_match_fn match, void *arg, size_t *purged)
{
	size_t deleted = 0;
	int ret;

	ret = purge_stepwise_only ? -EOPNOTSUPP : purge_batched(ct_fd, match, arg, &deleted);
	if (ret == -EOPNOTSUPP)
		ret = purge_stepwise(ct_fd, match, arg, &deleted);
	if (purged)
		*purged = deleted;
	if (ret)
		return purge_fail(ret, "purge entries of");
	purge_warned = false;
	return 0;
}

struct backend_set {
	uint32_t *ids; /* sorted */
	size_t n;
};

static int cmp_id(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool match_front_of(const struct ct_key *key, const struct ct_entry *val, void *arg)
{
	const struct backend_set *set = arg;

	(void)key;
	return (val->flags & SL_CT_F_FRONT) &&
	       bsearch(&val->backend_id, set->ids, set->n, sizeof(*set->ids), cmp_id);
}

int ctgc_purge_backends(int ct_fd, const uint32_t *ids, size_t n, size_t *purged)
{
	struct backend_set set = {.n = n};
	int ret;

	if (purged)
		*purged = 0;
	if (!n)
		return 0;
	set.ids = malloc(n * sizeof(*set.ids));
	if (!set.ids)
		return purge_fail(-ENOMEM, "allocate a purge of");
	memcpy(set.ids, ids, n * sizeof(*set.ids));
	qsort(set.ids, n, sizeof(*set.ids), cmp_id);
	ret = ctgc_purge(ct_fd, match_front_of, &set, purged);
	free(set.ids);
	return ret;
}

static bool match_front(const struct ct_key *key, const struct ct_entry *val, void *arg)
{
	(void)key;
	(void)arg;
	return val->flags & SL_CT_F_FRONT;
}

int ctgc_purge_fronts(int ct_fd, size_t *purged)
{
	return ctgc_purge(ct_fd, match_front, NULL, purged);
}

void ctgc_count_purged(uint64_t n)
{
	if (ctl.bpffs && n && stats_add(ctl_map_fd(SL_MAP_CT_STATS), SL_CT_STAT_PURGED, n))
		pr_debug("conntrack: couldn't count %llu purged entries in %s\n",
			 (unsigned long long)n, SL_MAP_CT_STATS);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void ctgc_tick(void)
{
	static bool reported;
	uint64_t start, visited = 0, expired = 0, closed = 0;
	struct ctgc_pass p;
	int ct_fd, stats_fd;

	if (!ctl.bpffs)
		return;
	ct_fd = ctl_map_fd(SL_MAP_CT);
	if (ct_fd < 0) {
		if (!reported)
			pr_warn("conntrack GC: %s is not available: %s\n", SL_MAP_CT,
				strerror(-ct_fd));
		reported = true;
		return;
	}
	reported = false;
	stats_fd = ctl_map_fd(SL_MAP_CT_STATS);
	/* Under connection churn entries expire faster than one budget per
	 * second collects: keep walking, in budget-sized steps, until the
	 * walk wraps or the tick has used its share of time. */
	start = mono_ns();
	do {
		if (ctgc_run(ct_fd, stats_fd, mono_ns(), CTGC_BUDGET, &p))
			return;
		visited += p.visited;
		expired += p.expired;
		closed += p.closed;
	} while (!p.wrapped && !p.skipped && mono_ns() - start < CTGC_TICK_MAX_NS);
	if (expired || closed)
		pr_debug("conntrack GC: visited %llu, deleted %llu expired and %llu closed\n",
			 (unsigned long long)visited, (unsigned long long)expired,
			 (unsigned long long)closed);
}

/* No init hook exists for modules: the timer table is a static array in
 * server.c, safe to fill before main() runs. */
__attribute__((constructor)) static void ctgc_register(void)
{
	ctl_add_timer(CTGC_INTERVAL_MS, ctgc_tick);
}
