/* SPDX-License-Identifier: Apache-2.0 */
/* The userspace side of sluice_ipcache (ipcache.c, model): a mirror of what
 * the map should hold, written to the pinned map as diffs.
 *
 * Several sources may claim the same prefix (a hostNetwork pod and its
 * node, a local endpoint and its Pod object, a reused pod IP). Every claim
 * is identified by an owner string chosen by its source; the map holds the
 * value of the strongest claim (highest prio, then the most recent), and a
 * key leaves the map only when its last claim is released. So endpoints.c
 * writes its own entries with its own owner ("ep:<containerID>/<ifname>")
 * at IPC_PRIO_ENDPOINT and can never delete a key the model still wants,
 * nor the model one the endpoint still holds.
 *
 * Claims change only the mirror; ipcache_flush() writes the changed keys
 * (bpf_map_update_batch / bpf_map_delete_batch when the kernel has them,
 * single operations otherwise). Keys that fail to write stay pending and
 * are retried by the next flush. The feed flushes after every value;
 * endpoints.c should flush after its changes. */
#ifndef SLUICE_CTL_IPCACHE_H
#define SLUICE_CTL_IPCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sluice/ipcache.h>
#include "addr.h"

/* Claim strength: who wins when sources disagree about one prefix. */
enum ipcache_prio {
	IPC_PRIO_CIDR = 0,     /* policy ipBlock CIDRs */
	IPC_PRIO_POD = 1,      /* Pod objects' status.podIPs (model) */
	IPC_PRIO_NODE = 2,     /* Node InternalIPs (model) */
	IPC_PRIO_ENDPOINT = 3, /* local endpoints registered by the CNI (endpoints.c) */
};

/* Owner strings used by the model (for reference): "pod:<ns>/<name>",
 * "node:<name>". Owners are at most 255 bytes. */
#define IPC_OWNER_MAX 256

/* Add or replace owner's claim on a prefix (pfx->plen is the address
 * prefix length, 32/128 for a single address). Returns 0, -EINVAL (bad
 * prefix/owner) or -ENOMEM; -ENOSPC when the mirror holds SL_IPCACHE_MAX
 * keys. Nothing is written to the map until ipcache_flush(). */
int ipcache_claim(const struct sl_cidr *pfx, const char *owner, enum ipcache_prio prio,
		  const struct ipcache_val *val);
/* Drop owner's claim (0 also when it had none). */
int ipcache_release(const struct sl_cidr *pfx, const char *owner);
/* Write every pending change to the map. Returns 0, or the first -errno
 * (logged); failed keys stay pending. Without a map fd (no pinned map, unit
 * tests) it is a no-op that keeps everything pending. */
int ipcache_flush(void);
/* Bring the pinned map in line with the mirror: delete keys nobody claims,
 * write differing or missing ones, leave equal ones untouched. Done by
 * model_init after the model is rebuilt (and the endpoints registered).
 * Returns 0 or -errno. */
int ipcache_resync(void);

/* The value the map should hold for exactly this prefix (from the mirror).
 * Returns 0 or -ENOENT. */
int ipcache_lookup(const struct sl_cidr *pfx, struct ipcache_val *out);
/* Keys in the mirror; keys waiting to be written. */
size_t ipcache_count(void);
size_t ipcache_pending(void);

/* Use this map fd instead of ctl_map_fd(SL_MAP_IPCACHE) (tests; -1 resets to
 * the default). The fd is not closed by us. */
void ipcache_set_map_fd(int fd);
/* At most max keys in the mirror (0: SL_IPCACHE_MAX); claims beyond fail
 * with -ENOSPC. For tests of the callers' rollback. */
void ipcache_set_limit(size_t max);
/* Forget everything (model_fini, tests); the map is not touched. */
void ipcache_reset(void);

/* Key helpers (shared with cnictl-style decoders and tests). */
void ipcache_key_from_cidr(const struct sl_cidr *pfx, struct ipcache_key *key);

#endif
