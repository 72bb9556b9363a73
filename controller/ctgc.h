/* SPDX-License-Identifier: Apache-2.0 */
/* Conntrack garbage collection (ctgc.c): a timer walks sluice_ct a slice
 * at a time and deletes entries whose deadline has passed. */
#ifndef SLUICE_CTGC_H
#define SLUICE_CTGC_H

#include <stdbool.h>
#include <stdint.h>

#define CTGC_INTERVAL_MS 1000
#define CTGC_BUDGET	 4096 /* entries per ctgc_run() step: a few ms of syscalls */
#define CTGC_TICK_MAX_NS (25ull * 1000 * 1000) /* wall time one tick may walk */
/* Passes skipped on an unchanged created counter before the map is looked
 * at anyway (entries written by other tools do not count as created). */
#define CTGC_EMPTY_RECHECK 60

struct ctgc_pass {
	uint64_t visited;
	uint64_t expired; /* deleted, were not closing */
	uint64_t closed;  /* deleted after FIN/RST (state CLOSING) */
	bool wrapped;	  /* the walk reached the end of the map this call */
	bool skipped;	  /* not looked at: empty, and nothing created since */
};

/* Visit up to budget entries of the conntrack map ct_fd from where the
 * previous call stopped (the cursor is per process), delete those with
 * expires_ns < now_ns, and add the counts to CPU 0's slots of stats_fd
 * (SL_CT_STAT_EXPIRED / _CLOSED). stats_fd < 0: no counting.
 * Finding the first key of an empty preallocated LRU map scans every
 * bucket (~15 ms for 262,144 entries), so once a walk found the map empty,
 * later calls return at once (out->skipped, wrapped) while stats_fd's
 * SL_CT_STAT_CREATED (summed over CPUs) stays the same, up to
 * CTGC_EMPTY_RECHECK calls in a row; without stats_fd every call walks.
 * Returns 0 or -errno (logged). */
int ctgc_run(int ct_fd, int stats_fd, uint64_t now_ns, unsigned int budget, struct ctgc_pass *out);
/* Forget the cursor (a different map, tests). */
void ctgc_reset(void);

#endif
