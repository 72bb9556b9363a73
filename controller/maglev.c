// SPDX-License-Identifier: Apache-2.0
/* Maglev table population (NSDI 2016, "Pseudocode 1"). Each backend walks
 * its own permutation of the slots, offset + j * skip (mod M), and the
 * backends take turns claiming their next free slot until every slot is
 * owned. Because the turns are round-robin, slot counts differ by at most
 * one between backends; because a backend's permutation depends only on its
 * own name, removing one backend mostly moves just the slots it owned. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maglev.h"

bool maglev_is_prime(unsigned int m)
{
	if (m < 2)
		return false;
	if (m % 2 == 0)
		return m == 2;
	for (unsigned int d = 3; (unsigned long)d * d <= m; d += 2)
		if (m % d == 0)
			return false;
	return true;
}

/* 64-bit FNV-1a over the name with a seed folded into the basis, then the
 * splitmix64 finalizer so that nearby names spread over all bits. */
static uint64_t maglev_hash(const char *s, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

void maglev_hashes(const char *name, uint64_t *h1, uint64_t *h2)
{
	*h1 = maglev_hash(name, 0x5a17ce0ffe7ab1e5ull);
	*h2 = maglev_hash(name, 0x6d61676c65763221ull);
}

static int cmp_backend(const void *a, const void *b)
{
	const struct maglev_backend *x = *(const struct maglev_backend *const *)a;
	const struct maglev_backend *y = *(const struct maglev_backend *const *)b;

	return strcmp(x->name, y->name);
}

int maglev_build(const struct maglev_backend *backends, size_t n, uint32_t *table, unsigned int m)
{
	const struct maglev_backend **order = NULL;
	uint64_t *pos = NULL, *skip = NULL;
	uint8_t *taken = NULL;
	size_t filled = 0;
	int ret = 0;

	if (!maglev_is_prime(m) || (size_t)m < n)
		return -EINVAL;
	if (n == 0) {
		memset(table, 0, sizeof(*table) * m);
		return 0;
	}
	order = calloc(n, sizeof(*order));
	pos = calloc(n, sizeof(*pos));
	skip = calloc(n, sizeof(*skip));
	taken = calloc(m, 1);
	if (!order || !pos || !skip || !taken) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = &backends[i];
	/* Name order makes the table independent of how the caller listed
	 * the backends (slice order, hash-map iteration). */
	qsort(order, n, sizeof(*order), cmp_backend);
	for (size_t i = 0; i + 1 < n; i++) {
		if (strcmp(order[i]->name, order[i + 1]->name) == 0) {
			ret = -EINVAL;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t h1, h2;

		maglev_hashes(order[i]->name, &h1, &h2);
		pos[i] = h1 % m; /* the permutation's offset */
		skip[i] = m == 1 ? 1 : h2 % (m - 1) + 1;
	}
	/* Each round gives every backend one slot, so this ends after at most
	 * ceil(m / n) rounds; the inner search is bounded by m per backend
	 * because skip < m and m is prime (the permutation visits all slots).
	 * pos[i] is (offset + j * skip) mod m for the backend's next j, kept
	 * by one add and a conditional subtract (pos, skip < m) instead of a
	 * 64-bit division per probe, which dominated the controller's CPU. */
	while (filled < m) {
		for (size_t i = 0; i < n && filled < m; i++) {
			uint64_t c;

			do {
				c = pos[i];
				pos[i] += skip[i];
				if (pos[i] >= m)
					pos[i] -= m;
			} while (taken[c]);
			taken[c] = 1;
			table[c] = order[i]->id;
			filled++;
		}
	}
out:
	free(order);
	free(pos);
	free(skip);
	free(taken);
	return ret;
}
