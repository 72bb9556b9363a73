/* SPDX-License-Identifier: Apache-2.0 */
/* Conntrack garbage collection (ctgc.c): a timer walks sluice_ct a slice
 * at a time and deletes entries whose deadline has passed. */
#ifndef SLUICE_CTGC_H
#define SLUICE_CTGC_H

#include <stdbool.h>
#include <stddef.h>
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

struct ct_key;
struct ct_entry;

/* Does this entry go? arg is ctgc_purge()'s. */
typedef bool (*ctgc_match_fn)(const struct ct_key *key, const struct ct_entry *val, void *arg);

/* Delete every entry of the conntrack map ct_fd that match() selects, in
 * one walk of the whole table: batched lookups (CTGC_PURGE_BATCH entries
 * a syscall), or get_next_key + lookup where the kernel lacks batch ops.
 * Entries the datapath creates during the walk may be missed; entries gone
 * meanwhile (LRU, GC) are not errors. *purged (may be NULL) gets how many
 * were deleted, also on failure. Returns 0 or -errno (warned once until a
 * walk succeeds again, then at debug level). */
#define CTGC_PURGE_BATCH 4096
int ctgc_purge(int ct_fd, ctgc_match_fn match, void *arg, size_t *purged);

/* Delete the frontend entries (SL_CT_F_FRONT) whose backend_id is one of
 * ids[0..n) (any order, duplicates fine): the flows pinned to backends
 * that no longer exist. Connection entries (SL_CT_F_SVC) stay: they carry
 * the replies of flows that may still be draining. n == 0 walks nothing.
 * Returns 0 or -errno as ctgc_purge(). */
int ctgc_purge_backends(int ct_fd, const uint32_t *ids, size_t n, size_t *purged);
/* Delete every frontend entry (SL_CT_F_FRONT): their flows choose a
 * backend again on their next packet. Returns 0 or -errno as ctgc_purge(). */
int ctgc_purge_fronts(int ct_fd, size_t *purged);
/* Count n entries purged (SL_CT_STAT_PURGED of the pinned sluice_ct_stats;
 * nothing without a pin root). */
void ctgc_count_purged(uint64_t n);
/* Tests: walk with get_next_key + lookup and delete key by key, as on
 * kernels without batch ops (on = true), or use batches again. */
void ctgc_purge_force_stepwise(bool on);

#endif
