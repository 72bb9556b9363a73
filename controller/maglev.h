/* SPDX-License-Identifier: Apache-2.0 */
/* Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable
 * Software Network Load Balancer", NSDI 2016, section 3.4): a lookup table
 * of M slots (M prime) in which every backend owns about M/N slots, and
 * which changes little when one backend comes or goes. */
#ifndef SLUICE_MAGLEV_H
#define SLUICE_MAGLEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAGLEV_DEFAULT_SIZE 1021u

struct maglev_backend {
	const char *name; /* stable identity, e.g. "10.244.1.5:8080/TCP" */
	uint32_t id;	  /* value written into the slots */
};

/* True when m is prime (Maglev requires a prime table size). */
bool maglev_is_prime(unsigned int m);

/* The two hashes of a backend name that seed its permutation. */
void maglev_hashes(const char *name, uint64_t *h1, uint64_t *h2);

/* Fill table[0..m) with backend ids. The result depends only on the set of
 * names (not on the order of backends[]): backends are populated in name
 * order. m must be prime and >= n. With n == 0 every slot is 0.
 * Returns 0, -EINVAL (m not prime, m < n, duplicate names) or -ENOMEM. */
int maglev_build(const struct maglev_backend *backends, size_t n, uint32_t *table, unsigned int m);

#endif
