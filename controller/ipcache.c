// SPDX-License-Identifier: Apache-2.0
/* sluice_ipcache writer: a mirror of the desired map contents (claims per
 * key, see ipcache.h), and the diff between it and what was last written.
 * Only keys whose effective value changed are written, so the datapath never
 * sees a key flap during a resync or a re-list. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "ctl.h"
#include "ipcache.h"
#include "log.h"

struct claim {
	char *owner;
	enum ipcache_prio prio;
	unsigned long long seq; /* claim order: the newest wins a tie */
	struct ipcache_val val;
};

struct ipc_entry {
	struct ipc_entry *next; /* hash chain */
	struct ipcache_key key;
	struct claim *claims;
	unsigned int n, cap;
	struct ipcache_val written; /* what the map holds, when in_map */
	bool in_map;
	bool pending; /* on the pending list, at pending[pidx] */
	size_t pidx;
};

static struct ipc_entry **buckets;
static size_t nbuckets, nentries;
static struct ipc_entry **pending;
static size_t npending, cap_pending;
static unsigned long long seq;
static int map_fd_override = -1;
static bool no_batch; /* the kernel refused batch ops once */
static bool warned_no_map;
static size_t max_entries = SL_IPCACHE_MAX;
static size_t pruned_at; /* npending after the last prune without a map */

void ipcache_key_from_cidr(const struct sl_cidr *pfx, struct ipcache_key *key)
{
	memset(key, 0, sizeof(*key));
	key->prefixlen = SL_IPCACHE_PREFIX_BASE + pfx->plen;
	key->family = pfx->family;
	key->addr = pfx->addr;
}

static size_t hash_key(const struct ipcache_key *k)
{
	/* FNV-1a over the 24 key bytes */
	const unsigned char *p = (const unsigned char *)k;
	unsigned long long h = 1469598103934665603ull;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return (size_t)h;
}

static int grow(void)
{
	size_t nb = nbuckets ? nbuckets * 2 : 1024;
	struct ipc_entry **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < nbuckets; i++) {
		struct ipc_entry *e = buckets[i], *nx;

		for (; e; e = nx) {
			size_t h = hash_key(&e->key) & (nb - 1);

			nx = e->next;
			e->next = b[h];
			b[h] = e;
		}
	}
	free(buckets);
	buckets = b;
	nbuckets = nb;
	return 0;
}

static struct ipc_entry *find(const struct ipcache_key *k)
{
	struct ipc_entry *e;

	if (!nbuckets)
		return NULL;
	for (e = buckets[hash_key(k) & (nbuckets - 1)]; e; e = e->next)
		if (!memcmp(&e->key, k, sizeof(*k)))
			return e;
	return NULL;
}

static struct ipc_entry *insert(const struct ipcache_key *k)
{
	struct ipc_entry *e;
	size_t h;

	if (nentries >= max_entries)
		return NULL;
	if (nentries >= nbuckets && grow())
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = *k;
	h = hash_key(k) & (nbuckets - 1);
	e->next = buckets[h];
	buckets[h] = e;
	nentries++;
	return e;
}

static void free_entry(struct ipc_entry *e)
{
	for (unsigned int i = 0; i < e->n; i++)
		free(e->claims[i].owner);
	free(e->claims);
	free(e);
}

static void unlink_entry(struct ipc_entry *e)
{
	struct ipc_entry **pp = &buckets[hash_key(&e->key) & (nbuckets - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			nentries--;
			return;
		}
	}
}

/* The value of the strongest claim. */
static const struct ipcache_val *effective(const struct ipc_entry *e)
{
	const struct claim *best = NULL;

	for (unsigned int i = 0; i < e->n; i++) {
		const struct claim *c = &e->claims[i];

		if (!best || c->prio > best->prio || (c->prio == best->prio && c->seq > best->seq))
			best = c;
	}
	return best ? &best->val : NULL;
}

static bool needs_write(const struct ipc_entry *e)
{
	const struct ipcache_val *v = effective(e);

	if (!v)
		return e->in_map;
	return !e->in_map || memcmp(v, &e->written, sizeof(*v));
}

/* Put e on the pending list if it needs a write; free it if it is unclaimed
 * and not in the map. Returns 0 or -ENOMEM. */
static void unpend(struct ipc_entry *e)
{
	if (!e->pending)
		return;
	pending[e->pidx] = pending[--npending];
	pending[e->pidx]->pidx = e->pidx;
	e->pending = false;
}

static int touch(struct ipc_entry *e)
{
	if (!e->n && !e->in_map) {
		/* never reached the map: nothing to undo there */
		unpend(e);
		unlink_entry(e);
		free_entry(e);
		return 0;
	}
	if (e->pending || !needs_write(e))
		return 0;
	if (npending == cap_pending) {
		size_t nc = cap_pending ? cap_pending * 2 : 256;
		struct ipc_entry **p = realloc(pending, nc * sizeof(*p));

		if (!p)
			return -ENOMEM;
		pending = p;
		cap_pending = nc;
	}
	e->pidx = npending;
	pending[npending++] = e;
	e->pending = true;
	return 0;
}

static int check_pfx(const struct sl_cidr *pfx)
{
	if (pfx->family == SL_AF_INET && pfx->plen <= 32)
		return 0;
	if (pfx->family == SL_AF_INET6 && pfx->plen <= 128)
		return 0;
	return -EINVAL;
}

int ipcache_claim(const struct sl_cidr *pfx, const char *owner, enum ipcache_prio prio,
		  const struct ipcache_val *val)
{
	struct ipcache_key k;
	struct ipc_entry *e;
	struct claim *c = NULL;

	if (check_pfx(pfx) || !owner || !*owner || strlen(owner) >= IPC_OWNER_MAX)
		return -EINVAL;
	ipcache_key_from_cidr(pfx, &k);
	e = find(&k);
	if (!e) {
		e = insert(&k);
		if (!e)
			return nentries >= max_entries ? -ENOSPC : -ENOMEM;
	}
	for (unsigned int i = 0; i < e->n; i++)
		if (!strcmp(e->claims[i].owner, owner))
			c = &e->claims[i];
	if (c && c->prio == prio && !memcmp(&c->val, val, sizeof(*val)))
		return 0; /* unchanged: keep its age, so ties stay stable */
	if (!c) {
		if (e->n == e->cap) {
			unsigned int nc = e->cap ? e->cap * 2 : 1;
			struct claim *cl = realloc(e->claims, nc * sizeof(*cl));

			if (!cl)
				goto oom;
			e->claims = cl;
			e->cap = nc;
		}
		c = &e->claims[e->n];
		c->owner = strdup(owner);
		if (!c->owner)
			goto oom;
		e->n++;
	}
	c->prio = prio;
	c->val = *val;
	c->seq = ++seq;
	return touch(e);
oom:
	touch(e); /* frees a fresh, unclaimed entry */
	return -ENOMEM;
}

int ipcache_release(const struct sl_cidr *pfx, const char *owner)
{
	struct ipcache_key k;
	struct ipc_entry *e;

	if (check_pfx(pfx) || !owner)
		return -EINVAL;
	ipcache_key_from_cidr(pfx, &k);
	e = find(&k);
	if (!e)
		return 0;
	for (unsigned int i = 0; i < e->n; i++) {
		if (strcmp(e->claims[i].owner, owner))
			continue;
		free(e->claims[i].owner);
		e->claims[i] = e->claims[--e->n];
		return touch(e);
	}
	return 0;
}

int ipcache_lookup(const struct sl_cidr *pfx, struct ipcache_val *out)
{
	struct ipcache_key k;
	struct ipc_entry *e;
	const struct ipcache_val *v;

	if (check_pfx(pfx))
		return -EINVAL;
	ipcache_key_from_cidr(pfx, &k);
	e = find(&k);
	v = e ? effective(e) : NULL;
	if (!v)
		return -ENOENT;
	*out = *v;
	return 0;
}

size_t ipcache_count(void)
{
	size_t n = 0;

	/* entries waiting for their delete still sit in the table */
	for (size_t i = 0; i < npending; i++)
		if (!pending[i]->n)
			n++;
	return nentries - n;
}

size_t ipcache_pending(void)
{
	return npending;
}

void ipcache_set_limit(size_t max)
{
	max_entries = max && max < SL_IPCACHE_MAX ? max : SL_IPCACHE_MAX;
}

void ipcache_set_map_fd(int fd)
{
	map_fd_override = fd;
	warned_no_map = false;
}

static int map_fd(void)
{
	int fd;

	if (map_fd_override >= 0)
		return map_fd_override;
	fd = ctl_map_fd(SL_MAP_IPCACHE);
	if (fd < 0 && !warned_no_map) {
		pr_warn("ipcache: couldn't open map %s: %s; changes stay pending\n", SL_MAP_IPCACHE,
			strerror(-fd));
		warned_no_map = true;
	}
	return fd;
}

void ipcache_reset(void)
{
	for (size_t i = 0; i < nbuckets; i++) {
		struct ipc_entry *e = buckets[i], *nx;

		for (; e; e = nx) {
			nx = e->next;
			free_entry(e);
		}
	}
	free(buckets);
	free(pending);
	buckets = NULL;
	pending = NULL;
	nbuckets = nentries = npending = cap_pending = pruned_at = 0;
	map_fd_override = -1;
	warned_no_map = false;
	no_batch = false;
	max_entries = SL_IPCACHE_MAX;
}

static bool batch_unsupported(int err)
{
	return err == -EINVAL || err == -ENOTSUP || err == -EOPNOTSUPP || err == -524 /* ENOTSUPP */;
}

/* Write n keys/values; on return ok[i] says which succeeded. */
static int write_updates(int fd, struct ipcache_key *keys, struct ipcache_val *vals, bool *ok,
			 size_t n)
{
	int first = 0;

	if (!n)
		return 0;
	if (!no_batch) {
		__u32 count = (__u32)n;
		int rc = bpf_map_update_batch(fd, keys, vals, &count, NULL);

		if (!rc) {
			for (size_t i = 0; i < n; i++)
				ok[i] = true;
			return 0;
		}
		if (batch_unsupported(rc) && count == 0) {
			pr_debug("ipcache: batch update unsupported (%s), using single updates\n",
				 strerror(-rc));
			no_batch = true;
		}
		/* the first count went in; redo the rest one by one to find the culprit */
		for (size_t i = 0; i < count && i < n; i++)
			ok[i] = true;
		keys += count;
		vals += count;
		ok += count;
		n -= count;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_ANY);

		ok[i] = !rc;
		if (rc && !first) {
			char a[SL_ADDR_STRLEN];

			first = rc;
			pr_warn("ipcache: couldn't write %s/%u: %s\n",
				sl_addr_str(&keys[i].addr, keys[i].family, a, sizeof(a)),
				keys[i].prefixlen - SL_IPCACHE_PREFIX_BASE, strerror(-rc));
		}
	}
	return first;
}

static int write_deletes(int fd, struct ipcache_key *keys, bool *ok, size_t n)
{
	int first = 0;

	if (!n)
		return 0;
	if (!no_batch) {
		__u32 count = (__u32)n;
		int rc = bpf_map_delete_batch(fd, keys, &count, NULL);

		if (!rc) {
			for (size_t i = 0; i < n; i++)
				ok[i] = true;
			return 0;
		}
		if (batch_unsupported(rc) && count == 0)
			no_batch = true;
		/* a missing key (ENOENT) stops the batch: finish one by one */
		for (size_t i = 0; i < count && i < n; i++)
			ok[i] = true;
		keys += count;
		ok += count;
		n -= count;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = bpf_map_delete_elem(fd, &keys[i]);

		ok[i] = !rc || rc == -ENOENT;
		if (!ok[i] && !first) {
			first = rc;
			pr_warn("ipcache: couldn't delete a key: %s\n", strerror(-rc));
		}
	}
	return first;
}

/* Drop pending entries that need no write any more (claimed and released
 * again before reaching the map). */
static void prune_pending(void)
{
	size_t keep = 0;

	for (size_t i = 0; i < npending; i++) {
		struct ipc_entry *e = pending[i];

		if (needs_write(e)) {
			e->pidx = keep;
			pending[keep++] = e;
			continue;
		}
		e->pending = false;
		if (!e->n && !e->in_map) {
			unlink_entry(e);
			free_entry(e);
		}
	}
	npending = keep;
}

int ipcache_flush(void)
{
	struct ipcache_key *ukeys = NULL, *dkeys = NULL;
	struct ipcache_val *uvals = NULL;
	struct ipc_entry **ue = NULL, **de = NULL;
	bool *uok = NULL, *dok = NULL;
	size_t nu = 0, nd = 0;
	int fd, rc = 0, rc2;

	if (!npending)
		return 0;
	fd = map_fd();
	if (fd < 0) {
		/* The feed flushes after every value: pruning the whole list
		 * each time would be quadratic while no map is there (5,000
		 * pods: 17% of the feed's CPU). Prune when it has doubled. */
		if (npending >= 2 * pruned_at + 64) {
			prune_pending();
			pruned_at = npending;
		}
		return 0; /* the rest stays pending until a map is there */
	}
	ukeys = malloc(npending * sizeof(*ukeys));
	uvals = malloc(npending * sizeof(*uvals));
	dkeys = malloc(npending * sizeof(*dkeys));
	ue = malloc(npending * sizeof(*ue));
	de = malloc(npending * sizeof(*de));
	uok = calloc(npending, sizeof(*uok));
	dok = calloc(npending, sizeof(*dok));
	if (!ukeys || !uvals || !dkeys || !ue || !de || !uok || !dok) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < npending; i++) {
		struct ipc_entry *e = pending[i];
		const struct ipcache_val *v = effective(e);

		if (!needs_write(e))
			continue;
		if (v) {
			ukeys[nu] = e->key;
			uvals[nu] = *v;
			ue[nu++] = e;
		} else {
			dkeys[nd] = e->key;
			de[nd++] = e;
		}
	}
	/* deletes first: an LPM trie that is full takes the updates after */
	rc = write_deletes(fd, dkeys, dok, nd);
	rc2 = write_updates(fd, ukeys, uvals, uok, nu);
	if (!rc)
		rc = rc2;
	for (size_t i = 0; i < nd; i++)
		if (dok[i])
			de[i]->in_map = false;
	for (size_t i = 0; i < nu; i++) {
		if (uok[i]) {
			ue[i]->in_map = true;
			ue[i]->written = uvals[i];
		}
	}
	/* keep on the pending list what still needs a write */
	prune_pending();
out:
	free(ukeys);
	free(uvals);
	free(dkeys);
	free(ue);
	free(de);
	free(uok);
	free(dok);
	return rc;
}

int ipcache_resync(void)
{
	struct ipcache_key k, next, *stale = NULL;
	size_t nstale = 0, cstale = 0, equal = 0;
	struct ipcache_val v;
	void *prev = NULL;
	int fd, rc = 0;

	fd = map_fd();
	if (fd < 0)
		return fd;
	/* forget what we thought was written: the map is the truth now */
	for (size_t i = 0; i < nbuckets; i++)
		for (struct ipc_entry *e = buckets[i]; e; e = e->next)
			e->in_map = false;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		struct ipc_entry *e;

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &v))
			continue; /* raced with a delete */
		e = find(&k);
		if (e && e->n) {
			e->in_map = true;
			e->written = v;
			if (!memcmp(effective(e), &v, sizeof(v)))
				equal++;
			continue;
		}
		if (nstale == cstale) {
			size_t nc = cstale ? cstale * 2 : 64;
			struct ipcache_key *s = realloc(stale, nc * sizeof(*s));

			if (!s) {
				rc = -ENOMEM;
				goto out;
			}
			stale = s;
			cstale = nc;
		}
		stale[nstale++] = k;
	}
	for (size_t i = 0; i < nstale; i++) {
		int r = bpf_map_delete_elem(fd, &stale[i]);

		if (r && r != -ENOENT && !rc) {
			rc = r;
			pr_warn("ipcache: resync couldn't delete a stale key: %s\n", strerror(-r));
		}
	}
	/* entries that were pending deletes but are not in the map are done */
	for (size_t i = 0; i < nbuckets; i++) {
		struct ipc_entry *e = buckets[i], *nx;

		for (; e; e = nx) {
			nx = e->next;
			if (touch(e) && !rc)
				rc = -ENOMEM;
		}
	}
	pr_info("ipcache resync: %zu stale keys removed, %zu unchanged, %zu to write\n", nstale,
		equal, npending);
	{
		int r = ipcache_flush();

		if (r && !rc)
			rc = r;
	}
out:
	free(stale);
	return rc;
}
