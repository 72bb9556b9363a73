// SPDX-License-Identifier: Apache-2.0
/* Conntrack purge of removed backends: ctgc_purge_backends() /
 * ctgc_purge() (controller/ctgc.c) on real LRU maps with sluice_ct's
 * layout, and services.c recording the backends it deletes and purging
 * their frontend entries once per feed value. Needs root (CAP_BPF): fails
 * otherwise. */
#include "model_test.h"

#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include <sluice/ct.h>
#include <sluice/lb.h>

#include "../../controller/ctgc.h"
#include "../../controller/kinds.h"
#include "../../controller/services.h"
#include "svc_test.h"

#define M 1021u

/* An LRU map sized well above what a test puts in, so LRU eviction (which
 * starts before a map is full: per-CPU free lists) never removes entries. */
static int mk_ct(unsigned int max)
{
	return mk_map(BPF_MAP_TYPE_LRU_HASH, sizeof(struct ct_key), sizeof(struct ct_entry), max, 0,
		      "t_ct");
}

static struct ct_key ct_key_of(unsigned int i)
{
	struct ct_key k = {0};

	k.saddr = htonl(0x0af40000 + i);
	k.daddr = htonl(0x0a60000a);
	k.sport = htons(10000 + i % 50000);
	k.dport = htons(80);
	k.proto = IPPROTO_TCP;
	return k;
}

static void ct_put(int fd, const struct ct_key *k, uint8_t flags, uint32_t backend_id)
{
	struct ct_entry e = {0};

	e.expires_ns = ~0ull;
	e.flags = flags;
	e.backend_id = backend_id;
	cr_assert_eq(bpf_map_update_elem(fd, k, &e, BPF_NOEXIST), 0,
		     "insert ct entry (flags %#x, backend %u): %s", flags, backend_id,
		     strerror(errno));
}

static long ct_count(int fd)
{
	struct ct_key k, prev;
	long n = 0;
	void *p = NULL;

	while (!bpf_map_get_next_key(fd, p, &k)) {
		prev = k;
		p = &prev;
		n++;
	}
	return n;
}

/* ---- ctgc_purge_backends on a large mixed table ----------------------------- */

#define BIG_N	   50000u
#define N_BACKENDS 10u

enum kind { K_FRONT, K_CONN, K_PLAIN, K_MAX };

/* Entry i's kind and backend: 2/5 frontend, 2/5 connection, 1/5 plain.
 * Plain entries carry backend ids too: only the flag may decide. */
static enum kind kind_of(unsigned int i)
{
	unsigned int r = i % 5;

	return r < 2 ? K_FRONT : r < 4 ? K_CONN : K_PLAIN;
}

static uint32_t backend_of(unsigned int i)
{
	return (i / 5) % N_BACKENDS + 1;
}

static const uint8_t kind_flags[K_MAX] = {
    [K_FRONT] = SL_CT_F_FRONT,
    [K_CONN] = SL_CT_F_SVC,
    [K_PLAIN] = 0,
};

static void fill_big(int fd)
{
	for (unsigned int i = 0; i < BIG_N; i++) {
		struct ct_key k = ct_key_of(i);

		ct_put(fd, &k, kind_flags[kind_of(i)], backend_of(i));
	}
	cr_assert_eq(ct_count(fd), (long)BIG_N, "table holds %ld entries, want %u (LRU eviction?)",
		     ct_count(fd), BIG_N);
}

struct big_case {
	const char *desc;
	uint32_t ids[6];
	size_t n;
};

static const struct big_case big_cases[] = {
    {"three backends, unsorted, one twice", {7, 3, 10, 7}, 4},
    {"one backend", {1}, 1},
    {"every backend", {1, 2, 3, 4, 5, 6}, 6},
    {"backends no entry names", {11, 12, 0xffffffffu}, 3},
};

static bool in_ids(const struct big_case *c, uint32_t id)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->ids[i] == id)
			return true;
	return false;
}

static void run_big_cases(bool stepwise)
{
	int fd = mk_ct(2 * BIG_N);

	ctgc_purge_force_stepwise(stepwise);
	for (size_t ci = 0; ci < sizeof(big_cases) / sizeof(big_cases[0]); ci++) {
		const struct big_case *c = &big_cases[ci];
		size_t purged = 12345, want_gone = 0;
		long remaining = 0;
		int ret;

		for (unsigned int i = 0; i < BIG_N; i++)
			want_gone += kind_of(i) == K_FRONT && in_ids(c, backend_of(i));
		fill_big(fd);
		ret = ctgc_purge_backends(fd, c->ids, c->n, &purged);
		cr_assert_eq(ret, 0, "%s: ctgc_purge_backends: %d (%s)", c->desc, ret,
			     strerror(-ret));
		cr_expect_eq(purged, want_gone, "%s: purged %zu entries, want %zu", c->desc, purged,
			     want_gone);
		/* Every entry is where it should be: gone or intact. */
		for (unsigned int i = 0; i < BIG_N; i++) {
			struct ct_key k = ct_key_of(i);
			struct ct_entry e;
			bool gone = kind_of(i) == K_FRONT && in_ids(c, backend_of(i));
			bool found = !bpf_map_lookup_elem(fd, &k, &e);

			cr_assert_eq(found, !gone,
				     "%s: entry %u (kind %d, backend %u) %s, want it %s", c->desc,
				     i, kind_of(i), backend_of(i), found ? "present" : "gone",
				     gone ? "gone" : "kept");
			if (found)
				cr_assert(e.flags == kind_flags[kind_of(i)] &&
					      e.backend_id == backend_of(i),
					  "%s: entry %u changed: flags %#x backend %u", c->desc, i,
					  e.flags, e.backend_id);
			remaining += found;
		}
		cr_expect_eq(remaining, (long)(BIG_N - want_gone), "%s: %ld entries left, want %zu",
			     c->desc, remaining, BIG_N - want_gone);
		/* Empty the table for the next case. */
		for (unsigned int i = 0; i < BIG_N; i++) {
			struct ct_key k = ct_key_of(i);

			bpf_map_delete_elem(fd, &k);
		}
		cr_assert_eq(ct_count(fd), 0, "%s: table not emptied", c->desc);
	}
	ctgc_purge_force_stepwise(false);
	close(fd);
}

Test(ct_purge, batched_deletes_exactly_the_frontend_entries_of_the_ids, .timeout = 120)
{
	run_big_cases(false);
}

/* As on kernels without batch ops: get_next_key + lookup, per-key deletes. */
Test(ct_purge, stepwise_deletes_exactly_the_frontend_entries_of_the_ids, .timeout = 120)
{
	run_big_cases(true);
}

/* Entries that vanish between the walk and the delete (LRU eviction, the
 * GC) are no error, and the batch delete goes on past them: the predicate
 * itself deletes every other entry it selects before the purge does. */
struct vanish_ctx {
	int fd;
	unsigned int selected, vanished;
};

static bool match_and_vanish(const struct ct_key *k, const struct ct_entry *e, void *arg)
{
	struct vanish_ctx *v = arg;

	if (e->backend_id % 3)
		return false;
	if (v->selected++ % 2 == 0) {
		cr_assert_eq(bpf_map_delete_elem(v->fd, k), 0, "test's own delete: %s",
			     strerror(errno));
		v->vanished++;
	}
	return true;
}

Test(ct_purge, entries_gone_meanwhile_are_skipped)
{
	for (int stepwise = 0; stepwise < 2; stepwise++) {
		int fd = mk_ct(8192);
		struct vanish_ctx v = {.fd = fd};
		size_t purged = 0;
		int ret;

		ctgc_purge_force_stepwise(stepwise);
		for (unsigned int i = 0; i < 3000; i++) {
			struct ct_key k = ct_key_of(i);

			ct_put(fd, &k, SL_CT_F_FRONT, i);
		}
		ret = ctgc_purge(fd, match_and_vanish, &v, &purged);
		cr_assert_eq(ret, 0, "stepwise %d: ctgc_purge: %d (%s)", stepwise, ret,
			     strerror(-ret));
		cr_expect_eq(v.selected, 1000, "stepwise %d: %u selected, want 1000", stepwise,
			     v.selected);
		cr_expect_eq(purged, v.selected - v.vanished, "stepwise %d: purged %zu, want %u",
			     stepwise, purged, v.selected - v.vanished);
		cr_expect_eq(ct_count(fd), 2000, "stepwise %d: %ld entries left, want 2000",
			     stepwise, ct_count(fd));
		for (unsigned int i = 0; i < 3000; i++) {
			struct ct_key k = ct_key_of(i);
			struct ct_entry e;

			cr_assert_eq(!bpf_map_lookup_elem(fd, &k, &e), i % 3 != 0,
				     "stepwise %d: entry %u wrongly %s", stepwise, i,
				     i % 3 ? "gone" : "kept");
		}
		ctgc_purge_force_stepwise(false);
		close(fd);
	}
}

Test(ct_purge, empty_table_and_empty_id_list)
{
	int fd = mk_ct(1024);
	uint32_t ids[] = {1, 2};
	size_t purged = 99;
	int ret;

	ret = ctgc_purge_backends(fd, ids, 2, &purged);
	cr_expect_eq(ret, 0, "empty table: %d (%s)", ret, strerror(-ret));
	cr_expect_eq(purged, 0, "empty table: purged %zu, want 0", purged);

	for (unsigned int i = 0; i < 100; i++) {
		struct ct_key k = ct_key_of(i);

		ct_put(fd, &k, SL_CT_F_FRONT, 1 + i % 2);
	}
	purged = 99;
	ret = ctgc_purge_backends(fd, ids, 0, &purged);
	cr_expect_eq(ret, 0, "no ids: %d (%s)", ret, strerror(-ret));
	cr_expect_eq(purged, 0, "no ids: purged %zu, want 0", purged);
	cr_expect_eq(ct_count(fd), 100, "no ids: %ld entries left, want 100", ct_count(fd));
	ret = ctgc_purge_backends(fd, NULL, 0, NULL);
	cr_expect_eq(ret, 0, "no ids, NULL purged: %d", ret);
	cr_expect_eq(ct_count(fd), 100, "no ids: %ld entries left, want 100", ct_count(fd));
	close(fd);
}

/* ---- services.c: backends removed by EndpointSlices ------------------------- */

static int fd_svc = -1, fd_be = -1, fd_mg = -1, fd_rn = -1, fd_ct = -1;

static void svc_setup(void)
{
	model_test_reset();
	fd_svc = mk_map(BPF_MAP_TYPE_HASH, sizeof(struct svc_key), sizeof(struct svc_val), 256, 0,
			"t_svc");
	fd_be = mk_map(BPF_MAP_TYPE_HASH, 4, sizeof(struct backend_val), 256, 0, "t_backend");
	fd_mg = mk_map(BPF_MAP_TYPE_HASH, 4, M * 4, 256, BPF_F_NO_PREALLOC, "t_maglev");
	fd_rn = mk_map(BPF_MAP_TYPE_HASH, 4, sizeof(struct revnat_val), 256, 0, "t_revnat");
	fd_ct = mk_ct(4096);
	services_use_maps(fd_svc, fd_be, fd_mg, fd_rn, -1, M);
	services_use_ct_map(fd_ct);
}

static void svc_teardown(void)
{
	services_reset();
	services_use_maps(-1, -1, -1, -1, -1, 0);
	model_test_reset();
	close(fd_svc);
	close(fd_be);
	close(fd_mg);
	close(fd_rn);
	close(fd_ct);
}

TestSuite(svc_purge, .init = svc_setup, .fini = svc_teardown);

#define SERVICE(name, ip)                                                                          \
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"" name               \
	"\",\"namespace\":\"shop\"},\"spec\":{\"clusterIP\":\"" ip                                 \
	"\",\"ports\":[{\"port\":80,\"targetPort\":8080}]}}"
#define SLICE(name, svc, eps)                                                                      \
	"{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":{"        \
	"\"name\":\"" name "\",\"namespace\":\"shop\",\"labels\":{\"kubernetes.io/"                \
	"service-name\":\"" svc "\"}},\"addressType\":\"IPv4\",\"endpoints\":[" eps                \
	"],\"ports\":[{\"port\":8080}]}"
#define EP(ip) "{\"addresses\":[\"" ip "\"]}"

static void apply(const struct kind_ops *k, json_t *old, json_t *new)
{
	char err[512] = "";
	int rc = k->apply(old, new, err, sizeof(err));

	cr_assert_eq(rc, 0, "%s apply: %d %s", k->kind, rc, err);
}

/* The backend id of ip:8080 in sluice_backend, 0 when absent. */
static uint32_t be_id(const char *ip)
{
	uint32_t k, prev, *p = NULL;
	struct backend_val v;
	__be32 a;

	inet_pton(AF_INET, ip, &a);
	while (!bpf_map_get_next_key(fd_be, p, &k)) {
		if (!bpf_map_lookup_elem(fd_be, &k, &v) && v.addr.v4 == a && v.port == htons(8080))
			return k;
		prev = k;
		p = &prev;
	}
	return 0;
}

/* Flows of clients 0..n-1 to backend id: frontend entries (keys base+i)
 * and their connection entries (keys base+1000+i). */
static void put_flows(unsigned int base, unsigned int n, uint32_t id)
{
	for (unsigned int i = 0; i < n; i++) {
		struct ct_key f = ct_key_of(base + i), c = ct_key_of(base + 1000 + i);

		ct_put(fd_ct, &f, SL_CT_F_FRONT, id);
		ct_put(fd_ct, &c, SL_CT_F_SVC, id);
	}
}

/* How many of the flows put_flows(base, n) made still have their
 * frontend (*front) and connection (*conn) entries. */
static void flows_left(unsigned int base, unsigned int n, unsigned int *front, unsigned int *conn)
{
	struct ct_entry e;

	*front = *conn = 0;
	for (unsigned int i = 0; i < n; i++) {
		struct ct_key f = ct_key_of(base + i), c = ct_key_of(base + 1000 + i);

		*front += !bpf_map_lookup_elem(fd_ct, &f, &e);
		*conn += !bpf_map_lookup_elem(fd_ct, &c, &e);
	}
}

#define EXPECT_FLOWS(base, n, want_front, want_conn, what)                                         \
	do {                                                                                       \
		unsigned int f_, c_;                                                               \
		flows_left((base), (n), &f_, &c_);                                                 \
		cr_expect_eq(f_, (want_front), "%s: %u frontend entries left, want %u", (what),    \
			     f_, (unsigned int)(want_front));                                      \
		cr_expect_eq(c_, (want_conn), "%s: %u connection entries left, want %u", (what),   \
			     c_, (unsigned int)(want_conn));                                       \
	} while (0)

Test(svc_purge, slice_update_purges_the_removed_backend_once_flushed)
{
	json_t *svc = obj(&kind_service, SERVICE("web", "10.96.0.10"));
	json_t *s1 =
	    obj(&kind_endpointslice, SLICE("web-1", "web", EP("10.0.1.1") "," EP("10.0.1.2")));
	json_t *s2 = obj(&kind_endpointslice, SLICE("web-1", "web", EP("10.0.1.2")));
	uint32_t gone, kept;

	apply(&kind_service, NULL, svc);
	apply(&kind_endpointslice, NULL, s1);
	gone = be_id("10.0.1.1");
	kept = be_id("10.0.1.2");
	cr_assert(gone && kept && gone != kept, "backend ids %u, %u", gone, kept);
	put_flows(0, 20, gone);
	put_flows(100, 20, kept);

	apply(&kind_endpointslice, s1, s2);
	cr_assert_eq(be_id("10.0.1.1"), 0, "10.0.1.1 still in sluice_backend");
	/* Coalesced: nothing is walked until the value is done. */
	EXPECT_FLOWS(0, 20, 20, 20, "before the flush");
	cr_assert_eq(services_flush_ct(), 0);
	EXPECT_FLOWS(0, 20, 0, 20, "removed backend");
	EXPECT_FLOWS(100, 20, 20, 20, "remaining backend");
	/* Nothing pending any more: a second flush changes nothing. */
	cr_assert_eq(services_flush_ct(), 0);
	EXPECT_FLOWS(100, 20, 20, 20, "remaining backend after a second flush");

	apply(&kind_endpointslice, s2, NULL);
	apply(&kind_service, svc, NULL);
	json_decref(svc);
	json_decref(s1);
	json_decref(s2);
}

Test(svc_purge, service_delete_purges_all_its_backends)
{
	json_t *svc = obj(&kind_service, SERVICE("web", "10.96.0.10"));
	json_t *other = obj(&kind_service, SERVICE("api", "10.96.0.11"));
	json_t *s1 =
	    obj(&kind_endpointslice, SLICE("web-1", "web", EP("10.0.1.1") "," EP("10.0.1.2")));
	json_t *s2 = obj(&kind_endpointslice, SLICE("api-1", "api", EP("10.0.2.1")));
	uint32_t a, b, c;

	apply(&kind_service, NULL, svc);
	apply(&kind_service, NULL, other);
	apply(&kind_endpointslice, NULL, s1);
	apply(&kind_endpointslice, NULL, s2);
	a = be_id("10.0.1.1");
	b = be_id("10.0.1.2");
	c = be_id("10.0.2.1");
	cr_assert(a && b && c, "backend ids %u %u %u", a, b, c);
	put_flows(0, 10, a);
	put_flows(100, 10, b);
	put_flows(200, 10, c);

	apply(&kind_service, svc, NULL);
	cr_assert_eq(services_flush_ct(), 0);
	EXPECT_FLOWS(0, 10, 0, 10, "deleted Service, first backend");
	EXPECT_FLOWS(100, 10, 0, 10, "deleted Service, second backend");
	EXPECT_FLOWS(200, 10, 10, 10, "other Service");

	apply(&kind_endpointslice, s2, NULL);
	apply(&kind_endpointslice, s1, NULL);
	apply(&kind_service, other, NULL);
	json_decref(svc);
	json_decref(other);
	json_decref(s1);
	json_decref(s2);
}

/* Through the feed: the purge runs after the value without anyone calling
 * services_flush_ct(); a List removing backends of two Services at once
 * purges both. */
Test(svc_purge, feed_value_purges_after_apply)
{
	struct feed_conn *fc = feed_conn_new();
	uint32_t a, b, c, d;

	cr_assert_not_null(fc);
	FEED_OK(
	    fc,
	    "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[" SERVICE("web", "10.96.0.10") "," SERVICE(
		"api", "10.96.0.11") "," SLICE("web-1", "web",
					       EP("10.0.1.1") "," EP(
						   "10.0.1.2")) "," SLICE("api-1", "api",
									  EP("10.0.2.1") "," EP(
									      "10.0.2.2")) "]}");
	a = be_id("10.0.1.1");
	b = be_id("10.0.1.2");
	c = be_id("10.0.2.1");
	d = be_id("10.0.2.2");
	cr_assert(a && b && c && d, "backend ids %u %u %u %u", a, b, c, d);
	put_flows(0, 10, a);
	put_flows(100, 10, b);
	put_flows(200, 10, c);
	put_flows(300, 10, d);

	FEED_OK(fc, "{\"type\":\"MODIFIED\",\"object\":" SLICE("web-1", "web", EP("10.0.1.2")) "}");
	EXPECT_FLOWS(0, 10, 0, 10, "watch event: removed backend");
	EXPECT_FLOWS(100, 10, 10, 10, "watch event: kept backend");

	/* Walks are at most every 250 ms (the rest waits for a timer). */
	usleep(300 * 1000);
	FEED_OK(fc,
		"{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[" SLICE(
		    "web-1", "web", EP("10.0.1.1")) "," SLICE("api-1", "api", EP("10.0.2.1")) "]}");
	EXPECT_FLOWS(100, 10, 0, 10, "List: web's removed backend");
	EXPECT_FLOWS(300, 10, 0, 10, "List: api's removed backend");
	EXPECT_FLOWS(200, 10, 10, 10, "List: api's kept backend");
	feed_conn_free(fc);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A second removal right after a walk waits (the purge timer would run
 * it); a flush once 250 ms have passed does it. */
Test(svc_purge, walks_are_rate_limited)
{
	json_t *svc = obj(&kind_service, SERVICE("web", "10.96.0.10"));
	json_t *s1 =
	    obj(&kind_endpointslice,
		SLICE("web-1", "web", EP("10.0.1.1") "," EP("10.0.1.2") "," EP("10.0.1.3")));
	json_t *s2 =
	    obj(&kind_endpointslice, SLICE("web-1", "web", EP("10.0.1.2") "," EP("10.0.1.3")));
	json_t *s3 = obj(&kind_endpointslice, SLICE("web-1", "web", EP("10.0.1.3")));
	uint32_t a, b;
	uint64_t t0;

	apply(&kind_service, NULL, svc);
	apply(&kind_endpointslice, NULL, s1);
	a = be_id("10.0.1.1");
	b = be_id("10.0.1.2");
	cr_assert(a && b, "backend ids %u %u", a, b);
	put_flows(0, 10, a);
	put_flows(100, 10, b);

	apply(&kind_endpointslice, s1, s2);
	t0 = mono_ms();
	cr_assert_eq(services_flush_ct(), 0);
	EXPECT_FLOWS(0, 10, 0, 10, "first removal");
	apply(&kind_endpointslice, s2, s3);
	cr_assert_eq(services_flush_ct(), 0);
	if (mono_ms() - t0 < 200)
		EXPECT_FLOWS(100, 10, 10, 10, "second removal, right after a walk");
	usleep(300 * 1000);
	cr_assert_eq(services_flush_ct(), 0);
	EXPECT_FLOWS(100, 10, 0, 10, "second removal, 300 ms later");

	apply(&kind_endpointslice, s3, NULL);
	apply(&kind_service, svc, NULL);
	json_decref(svc);
	json_decref(s1);
	json_decref(s2);
	json_decref(s3);
}

/* Injected service maps without a conntrack map: deletions are not
 * recorded and a flush touches nothing. */
Test(svc_purge, no_ct_map_purges_nothing)
{
	json_t *svc = obj(&kind_service, SERVICE("web", "10.96.0.10"));
	json_t *s1 =
	    obj(&kind_endpointslice, SLICE("web-1", "web", EP("10.0.1.1") "," EP("10.0.1.2")));
	json_t *s2 = obj(&kind_endpointslice, SLICE("web-1", "web", EP("10.0.1.2")));
	uint32_t gone;

	services_use_ct_map(-1);
	apply(&kind_service, NULL, svc);
	apply(&kind_endpointslice, NULL, s1);
	gone = be_id("10.0.1.1");
	cr_assert(gone, "no backend id for 10.0.1.1");
	put_flows(0, 10, gone);
	apply(&kind_endpointslice, s1, s2);
	cr_assert_eq(services_flush_ct(), 0);
	EXPECT_FLOWS(0, 10, 10, 10, "without a ct map");

	apply(&kind_endpointslice, s2, NULL);
	apply(&kind_service, svc, NULL);
	json_decref(svc);
	json_decref(s1);
	json_decref(s2);
}
