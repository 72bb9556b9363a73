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
