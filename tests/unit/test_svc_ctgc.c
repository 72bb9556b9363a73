// SPDX-License-Identifier: Apache-2.0
/* Conntrack GC (controller/ctgc.c) on a real LRU map with sluice_ct's
 * layout. Needs root (CAP_BPF): fails otherwise. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <sluice/ct.h>

#include "../../controller/ctgc.h"

static int ct_fd = -1, st_fd = -1;

static void setup(void)
{
	ct_fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "t_ct", sizeof(struct ct_key),
			       sizeof(struct ct_entry), 4096, NULL);
	cr_assert(ct_fd >= 0, "bpf_map_create(LRU_HASH): %s (this test needs root/CAP_BPF)",
		  strerror(errno));
	st_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "t_ct_stats", 4, 8, SL_CT_STAT_MAX, NULL);
	cr_assert(st_fd >= 0, "bpf_map_create(PERCPU_ARRAY): %s", strerror(errno));
	ctgc_reset();
}

static void teardown(void)
{
	close(ct_fd);
	close(st_fd);
}

TestSuite(ctgc, .init = setup, .fini = teardown);

static void put(unsigned int i, uint64_t expires, uint8_t state)
{
	struct ct_key k = {0};
	struct ct_entry e = {0};

	k.saddr = htonl(0x0af40000 + i);
	k.daddr = htonl(0x0a60000a);
	k.sport = htons(10000 + i % 50000);
	k.dport = htons(80);
	k.proto = 6;
	e.expires_ns = expires;
	e.state = state;
	cr_assert_eq(bpf_map_update_elem(ct_fd, &k, &e, BPF_ANY), 0, "insert %u: %s", i,
		     strerror(errno));
}

static long count(void)
{
	struct ct_key k, prev;
	long n = 0;
	void *p = NULL;

	while (!bpf_map_get_next_key(ct_fd, p, &k)) {
		prev = k;
		p = &prev;
		n++;
	}
	return n;
}

static uint64_t stat(int idx)
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t v[512] = {0}, sum = 0;
	__u32 key = idx;

	cr_assert(ncpus > 0 && ncpus <= 512);
	cr_assert_eq(bpf_map_lookup_elem(st_fd, &key, v), 0);
	for (int i = 0; i < ncpus; i++)
		sum += v[i];
	return sum;
}

Test(ctgc, deletes_expired_counts_by_kind)
{
	struct ctgc_pass p;

	/* now = 1000: 0..9 expired, 10..14 closed and expired, 15..29 live,
	 * 30 expires exactly now (kept: "expires_ns < now"). */
	for (unsigned int i = 0; i < 10; i++)
		put(i, 500, SL_CT_ESTABLISHED);
	for (unsigned int i = 10; i < 15; i++)
		put(i, 999, SL_CT_CLOSING);
	for (unsigned int i = 15; i < 30; i++)
		put(i, 5000, SL_CT_ESTABLISHED);
	put(30, 1000, SL_CT_NEW);
	cr_assert_eq(ctgc_run(ct_fd, st_fd, 1000, 1000, &p), 0);
	cr_expect(p.wrapped, "a budget larger than the table must finish the walk");
	cr_expect_eq(p.visited, 31, "visited %llu, expected 31", (unsigned long long)p.visited);
	cr_expect_eq(p.expired, 10, "expired %llu, expected 10", (unsigned long long)p.expired);
	cr_expect_eq(p.closed, 5, "closed %llu, expected 5", (unsigned long long)p.closed);
	cr_expect_eq(count(), 16, "%ld entries left, expected 16", count());
	cr_expect_eq(stat(SL_CT_STAT_EXPIRED), 10);
	cr_expect_eq(stat(SL_CT_STAT_CLOSED), 5);
	/* Counters accumulate over passes. */
	cr_assert_eq(ctgc_run(ct_fd, st_fd, 6000, 1000, &p), 0);
	cr_expect_eq(p.expired, 16);
	cr_expect_eq(stat(SL_CT_STAT_EXPIRED), 26);
	cr_expect_eq(count(), 0);
}

Test(ctgc, bounded_work_resumes)
{
	struct ctgc_pass p;
	uint64_t deleted = 0;
	int calls = 0;

	for (unsigned int i = 0; i < 1000; i++)
		put(i, 1, SL_CT_ESTABLISHED);
	/* 100 per call: never more, and everything goes within a bounded
	 * number of calls. */
	do {
		cr_assert_eq(ctgc_run(ct_fd, st_fd, 10, 100, &p), 0);
		cr_assert_leq(p.visited, 100, "visited %llu with a budget of 100",
			      (unsigned long long)p.visited);
		deleted += p.expired;
		calls++;
	} while (count() && calls < 50);
	cr_expect_eq(count(), 0, "%ld entries left after %d calls", count(), calls);
	cr_expect_eq(deleted, 1000);
	cr_expect_leq(calls, 20, "%d calls to delete 1000 entries at 100 per call", calls);
}

Test(ctgc, empty_map)
{
	struct ctgc_pass p;

	cr_assert_eq(ctgc_run(ct_fd, -1, 10, 100, &p), 0);
	cr_expect_eq(p.visited, 0);
	cr_expect(p.wrapped);
}

/* What the datapath does after inserting an entry: count it on some CPU. */
static void bump_created(void)
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t v[512] = {0};
	__u32 key = SL_CT_STAT_CREATED;

	cr_assert(ncpus > 0 && ncpus <= 512);
	cr_assert_eq(bpf_map_lookup_elem(st_fd, &key, v), 0);
	v[ncpus - 1]++;
	cr_assert_eq(bpf_map_update_elem(st_fd, &key, v, BPF_ANY), 0, "%s", strerror(errno));
}

Test(ctgc, empty_map_skipped_until_created_moves)
{
	struct ctgc_pass p;

	/* The first call looks and finds nothing; the next ones skip. */
	cr_assert_eq(ctgc_run(ct_fd, st_fd, 10, 100, &p), 0);
	cr_expect(!p.skipped, "the first call must look at the map");
	cr_expect(p.wrapped);
	cr_assert_eq(ctgc_run(ct_fd, st_fd, 10, 100, &p), 0);
	cr_expect(p.skipped, "an empty map with no new entry counted must be skipped");
	cr_expect(p.wrapped, "a skipped call is a finished walk");
	cr_expect_eq(p.visited, 0);
	/* A flow is created: the next call walks and deletes it once expired. */
	put(1, 5, SL_CT_ESTABLISHED);
	bump_created();
	cr_assert_eq(ctgc_run(ct_fd, st_fd, 10, 100, &p), 0);
	cr_expect(!p.skipped, "the created counter moved: the map must be walked");
	cr_expect_eq(p.visited, 1, "visited %llu, expected 1", (unsigned long long)p.visited);
	cr_expect_eq(p.expired, 1, "expired %llu, expected 1", (unsigned long long)p.expired);
	cr_expect_eq(count(), 0);
	/* The walk emptied it: the next call looks (the empty state is only
	 * learned from the start of a walk), the one after skips. */
	cr_assert_eq(ctgc_run(ct_fd, st_fd, 10, 100, &p), 0);
	cr_expect(!p.skipped);
	cr_assert_eq(ctgc_run(ct_fd, st_fd, 10, 100, &p), 0);
	cr_expect(p.skipped);
}

Test(ctgc, empty_map_rechecked_without_counter)
{
	struct ctgc_pass p;
	unsigned int skipped = 0;

	cr_assert_eq(ctgc_run(ct_fd, st_fd, 10, 100, &p), 0);
	cr_expect(!p.skipped);
	/* Written behind the datapath's back (no count): found by the
	 * periodic recheck, not before. */
	put(2, 5, SL_CT_ESTABLISHED);
	for (unsigned int i = 0; i < CTGC_EMPTY_RECHECK; i++) {
		cr_assert_eq(ctgc_run(ct_fd, st_fd, 10, 100, &p), 0);
		skipped += p.skipped;
	}
	cr_expect_eq(skipped, CTGC_EMPTY_RECHECK, "skipped %u of %u calls", skipped,
		     CTGC_EMPTY_RECHECK);
	cr_assert_eq(ctgc_run(ct_fd, st_fd, 10, 100, &p), 0);
	cr_expect(!p.skipped, "call %u after the map was found empty must look again",
		  CTGC_EMPTY_RECHECK + 1);
	cr_expect_eq(p.expired, 1, "expired %llu, expected 1", (unsigned long long)p.expired);
	cr_expect_eq(count(), 0);
}

Test(ctgc, no_stats_map_never_skips)
{
	struct ctgc_pass p;

	for (int i = 0; i < 3; i++) {
		cr_assert_eq(ctgc_run(ct_fd, -1, 10, 100, &p), 0);
		cr_expect(!p.skipped, "call %d skipped without a created counter", i);
	}
}
