// SPDX-License-Identifier: Apache-2.0
/* The LB map writer (controller/services.c) against real BPF maps with the
 * layouts of include/sluice/lb.h. Needs root (CAP_BPF): fails otherwise. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <jansson.h>

#include <sluice/lb.h>

#include "../../controller/ctl.h"
#include "../../controller/kinds.h"
#include "../../controller/requests.h"
#include "../../controller/services.h"
#include "svc_test.h"

#define M 1021u

static int fd_svc = -1, fd_be = -1, fd_mg = -1, fd_rn = -1, fd_af = -1;

static void setup_maps(unsigned int be_max)
{
	fd_svc = mk_map(BPF_MAP_TYPE_HASH, sizeof(struct svc_key), sizeof(struct svc_val), 256, 0,
			"t_svc");
	fd_be = mk_map(BPF_MAP_TYPE_HASH, 4, sizeof(struct backend_val), be_max, 0, "t_backend");
	fd_mg = mk_map(BPF_MAP_TYPE_HASH, 4, M * 4, 256, BPF_F_NO_PREALLOC, "t_maglev");
	fd_rn = mk_map(BPF_MAP_TYPE_HASH, 4, sizeof(struct revnat_val), 256, 0, "t_revnat");
	fd_af = mk_map(BPF_MAP_TYPE_LRU_HASH, sizeof(struct affinity_key),
		       sizeof(struct affinity_val), 256, 0, "t_affinity");
	services_use_maps(fd_svc, fd_be, fd_mg, fd_rn, fd_af, M);
	ctl.node_name = "node-a";
}

static void setup(void)
{
	setup_maps(256);
}

static void teardown(void)
{
	services_reset();
	services_use_maps(-1, -1, -1, -1, -1, 0);
	close(fd_af);
	close(fd_svc);
	close(fd_be);
	close(fd_mg);
	close(fd_rn);
}

static long count(int fd)
{
	char key[64], prev[64];
	long n = 0;
	void *p = NULL;

	while (!bpf_map_get_next_key(fd, p, key)) {
		memcpy(prev, key, sizeof(key));
		p = prev;
		n++;
	}
	return n;
}

/* A Service web/NAME on ip:80 -> 8080. */
static json_t *service(const char *name, const char *ip, const char *extra)
{
	char b[1024];

	snprintf(b, sizeof(b),
		 "{\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"shop\"},"
		 "\"spec\":{\"clusterIP\":\"%s\",\"ports\":[{\"port\":80,\"targetPort\":8080}]%s}}",
		 name, ip, extra ? extra : "");
	return obj(&kind_service, b);
}

static json_t *slice(const char *name, const char *svc, const char *eps)
{
	char b[4096];

	snprintf(b, sizeof(b),
		 "{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"shop\","
		 "\"labels\":{\"kubernetes.io/service-name\":\"%s\"}},\"addressType\":\"IPv4\","
		 "\"endpoints\":%s,\"ports\":[{\"port\":8080}]}",
		 name, svc, eps);
	return obj(&kind_endpointslice, b);
}

static void apply_svc(json_t *old, json_t *new)
{
	char err[512] = "";
	int rc = kind_service.apply(old, new, err, sizeof(err));

	cr_assert_eq(rc, 0, "Service apply: %d %s", rc, err);
}

static void apply_slice(json_t *old, json_t *new)
{
	char err[512] = "";
	int rc = kind_endpointslice.apply(old, new, err, sizeof(err));

	cr_assert_eq(rc, 0, "EndpointSlice apply: %d %s", rc, err);
}

static struct svc_val get_svc(const char *ip, int port)
{
	struct svc_key k = {0};
	struct svc_val v = {0};

	inet_pton(AF_INET, ip, &k.addr.v4);
	k.port = htons(port);
	k.proto = 6;
	k.family = SL_AF_INET;
	cr_assert_eq(bpf_map_lookup_elem(fd_svc, &k, &v), 0, "frontend %s:%d not in sluice_svc", ip,
		     port);
	return v;
}

static bool has_svc(const char *ip, int port)
{
	struct svc_key k = {0};
	struct svc_val v;

	inet_pton(AF_INET, ip, &k.addr.v4);
	k.port = htons(port);
	k.proto = 6;
	k.family = SL_AF_INET;
	return !bpf_map_lookup_elem(fd_svc, &k, &v);
}

/* The backend id of ip:8080, 0 when absent; *state its state. */
static uint32_t be_id(const char *ip, int *state)
{
	uint32_t k, *p = NULL;
	struct backend_val v;
	__be32 a;

	inet_pton(AF_INET, ip, &a);
	while (!bpf_map_get_next_key(fd_be, p, &k)) {
		p = &k;
		if (!bpf_map_lookup_elem(fd_be, &k, &v) && v.addr.v4 == a &&
		    v.port == htons(8080)) {
			if (state)
				*state = v.state;
			return k;
		}
	}
	return 0;
}

/* How many slots of svc_id's table hold each of ids[] (and others). */
static void table_counts(uint32_t svc_id, const uint32_t *ids, size_t n, unsigned int *per,
			 unsigned int *other)
{
	static uint32_t t[M];

	cr_assert_eq(bpf_map_lookup_elem(fd_mg, &svc_id, t), 0, "no Maglev table for svc_id %u",
		     svc_id);
	memset(per, 0, n * sizeof(*per));
	*other = 0;
	for (size_t i = 0; i < M; i++) {
		size_t j;

		for (j = 0; j < n && t[i] != ids[j]; j++)
			;
		if (j < n)
			per[j]++;
		else
			(*other)++;
	}
}

#define EP(ip)		"{\"addresses\":[\"" ip "\"]}"
#define EP_NOTREADY(ip) "{\"addresses\":[\"" ip "\"],\"conditions\":{\"ready\":false}}"

TestSuite(svc_writer, .init = setup, .fini = teardown);

Test(svc_writer, frontend_backends_table_revnat)
{
	json_t *s = service("web", "10.96.0.10", NULL);
	json_t *e = slice("web-1", "web",
			  "[" EP("10.244.0.1") "," EP("10.244.0.2") "," EP("10.244.0.3") "]");
	uint32_t ids[3];
	unsigned int per[3], other;
	struct revnat_val rv;
	struct svc_val v;

	/* Slice first: nothing is written until the Service exists. */
	apply_slice(NULL, e);
	cr_expect_eq(count(fd_svc), 0);
	cr_expect_eq(count(fd_be), 0);
	apply_svc(NULL, s);
	v = get_svc("10.96.0.10", 80);
	cr_expect_neq(v.svc_id, 0u);
	cr_expect_eq(v.rev_nat_id, v.svc_id);
	cr_expect_eq(v.backend_count, 3, "backend_count %u, expected 3", v.backend_count);
	cr_expect_eq(count(fd_be), 3, "sluice_backend has %ld entries, expected 3", count(fd_be));
	ids[0] = be_id("10.244.0.1", NULL);
	ids[1] = be_id("10.244.0.2", NULL);
	ids[2] = be_id("10.244.0.3", NULL);
	table_counts(v.svc_id, ids, 3, per, &other);
	cr_expect_eq(other, 0, "%u slots name unknown backends", other);
	for (int i = 0; i < 3; i++)
		cr_expect(per[i] >= M / 3 && per[i] <= M / 3 + 1,
			  "backend %d owns %u slots, expected ~%u", i, per[i], M / 3);
	cr_assert_eq(bpf_map_lookup_elem(fd_rn, &v.rev_nat_id, &rv), 0, "no revnat entry");
	cr_expect_eq(rv.port, htons(80));
	cr_expect_eq(ntohl(rv.addr.v4), 0x0a60000a, "revnat address %08x", ntohl(rv.addr.v4));
	json_decref(s);
	json_decref(e);
}

Test(svc_writer, readiness_change_and_removal_keep_ids)
{
	json_t *s = service("web", "10.96.0.10", NULL);
	json_t *e1 = slice("web-1", "web",
			   "[" EP("10.244.0.1") "," EP("10.244.0.2") "," EP("10.244.0.3") "]");
	json_t *e2 =
	    slice("web-1", "web",
		  "[" EP("10.244.0.1") "," EP_NOTREADY("10.244.0.2") "," EP("10.244.0.3") "]");
	json_t *e3 = slice("web-1", "web", "[" EP("10.244.0.1") "," EP_NOTREADY("10.244.0.2") "]");
	uint32_t id1, id2, id3, ids[2], svc_id;
	unsigned int per[2], other;
	int state = -1;
	struct svc_val v;

	apply_svc(NULL, s);
	apply_slice(NULL, e1);
	svc_id = get_svc("10.96.0.10", 80).svc_id;
	id1 = be_id("10.244.0.1", NULL);
	id2 = be_id("10.244.0.2", NULL);
	id3 = be_id("10.244.0.3", NULL);
	cr_assert(id1 && id2 && id3);

	/* .2 not ready: out of the table, still a backend (draining), same id. */
	apply_slice(e1, e2);
	v = get_svc("10.96.0.10", 80);
	cr_expect_eq(v.svc_id, svc_id, "svc_id changed %u -> %u", svc_id, v.svc_id);
	cr_expect_eq(v.backend_count, 2);
	cr_expect_eq(be_id("10.244.0.2", &state), id2, "draining backend lost or renumbered");
	cr_expect_eq(state, SL_BE_TERMINATING, "draining backend state %d, expected %d", state,
		     SL_BE_TERMINATING);
	cr_expect_eq(be_id("10.244.0.1", NULL), id1);
	cr_expect_eq(be_id("10.244.0.3", NULL), id3);
	ids[0] = id1;
	ids[1] = id3;
	table_counts(svc_id, ids, 2, per, &other);
	cr_expect_eq(other, 0, "%u slots still name the not-ready backend", other);

	/* .3 leaves the slice: its entry goes. */
	apply_slice(e2, e3);
	cr_expect_eq(be_id("10.244.0.3", NULL), 0u, "removed backend still in sluice_backend");
	cr_expect_eq(count(fd_be), 2);
	v = get_svc("10.96.0.10", 80);
	cr_expect_eq(v.backend_count, 1);
	ids[0] = id1;
	table_counts(svc_id, ids, 1, per, &other);
	cr_expect_eq(per[0], M, "the only ready backend owns %u of %u slots", per[0], M);

	/* Service gone: everything goes. */
	apply_svc(s, NULL);
	cr_expect_eq(count(fd_svc), 0);
	cr_expect_eq(count(fd_mg), 0);
	cr_expect_eq(count(fd_rn), 0);
	cr_expect_eq(count(fd_be), 0, "%ld backends left after the Service went", count(fd_be));
	apply_slice(e3, NULL);
	json_decref(s);
	json_decref(e1);
	json_decref(e2);
	json_decref(e3);
}

Test(svc_writer, no_endpoints_means_refuse)
{
	json_t *s = service("web", "10.96.0.10", NULL);
	struct svc_val v;

	apply_svc(NULL, s);
	v = get_svc("10.96.0.10", 80);
	cr_expect_eq(v.backend_count, 0);
	cr_expect_eq(count(fd_mg), 0, "a table was written for a frontend with no backend");
	cr_expect_eq(count(fd_rn), 1);
	json_decref(s);
}

Test(svc_writer, shared_backend_one_id)
{
	json_t *a = service("web", "10.96.0.10", NULL), *b = service("api", "10.96.0.11", NULL);
	json_t *ea = slice("web-1", "web", "[" EP("10.244.0.1") "]");
	json_t *eb = slice("api-1", "api", "[" EP("10.244.0.1") "]");

	apply_svc(NULL, a);
	apply_svc(NULL, b);
	apply_slice(NULL, ea);
	apply_slice(NULL, eb);
	cr_expect_eq(count(fd_be), 1, "one endpoint in two Services: %ld backend ids",
		     count(fd_be));
	apply_svc(a, NULL);
	cr_expect_neq(be_id("10.244.0.1", NULL), 0u, "backend still used by api was deleted");
	cr_expect(has_svc("10.96.0.11", 80));
	cr_expect_not(has_svc("10.96.0.10", 80));
	json_decref(a);
	json_decref(b);
	json_decref(ea);
	json_decref(eb);
}

Test(svc_writer, affinity_flags)
{
	json_t *s = service("web", "10.96.0.10",
			    ",\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":{"
			    "\"clientIP\":{\"timeoutSeconds\":30}},"
			    "\"internalTrafficPolicy\":\"Local\"");
	struct svc_val v;

	apply_svc(NULL, s);
	v = get_svc("10.96.0.10", 80);
	cr_expect_eq(v.flags, SL_SVC_F_AFFINITY | SL_SVC_F_LOCAL, "flags %#x", v.flags);
	cr_expect_eq(v.affinity_timeout, 30);
	json_decref(s);
}

/* A client's remembered backend leaves the table: the memory goes, the
 * other clients' (still ready backends) and other Services' stay. */
Test(svc_writer, affinity_to_unready_backend_is_purged)
{
	json_t *s = service("web", "10.96.0.10", ",\"sessionAffinity\":\"ClientIP\"");
	json_t *e1 = slice("web-1", "web", "[" EP("10.244.0.1") "," EP("10.244.0.2") "]");
	json_t *e2 = slice("web-1", "web", "[" EP("10.244.0.1") "," EP_NOTREADY("10.244.0.2") "]");
	struct affinity_key k1 = {.svc_id = 0, .family = SL_AF_INET}, k2 = k1, k3 = k1;
	struct affinity_val v = {0}, got;
	uint32_t svc_id, id1, id2;

	apply_svc(NULL, s);
	apply_slice(NULL, e1);
	svc_id = get_svc("10.96.0.10", 80).svc_id;
	id1 = be_id("10.244.0.1", NULL);
	id2 = be_id("10.244.0.2", NULL);
	/* client .11 -> backend 1, client .12 -> backend 2, and client .12
	 * of another Service (svc_id + 100) -> backend 2. */
	k1.svc_id = k2.svc_id = svc_id;
	k3.svc_id = svc_id + 100;
	k1.client.v4 = htonl(0x0af4000b);
	k2.client.v4 = k3.client.v4 = htonl(0x0af4000c);
	v.backend_id = id1;
	cr_assert_eq(bpf_map_update_elem(fd_af, &k1, &v, BPF_ANY), 0);
	v.backend_id = id2;
	cr_assert_eq(bpf_map_update_elem(fd_af, &k2, &v, BPF_ANY), 0);
	cr_assert_eq(bpf_map_update_elem(fd_af, &k3, &v, BPF_ANY), 0);
	apply_slice(e1, e2);
	cr_expect_neq(bpf_map_lookup_elem(fd_af, &k2, &got), 0,
		      "affinity to the not-ready backend kept");
	cr_expect_eq(bpf_map_lookup_elem(fd_af, &k1, &got), 0,
		     "affinity to a ready backend dropped");
	cr_expect_eq(bpf_map_lookup_elem(fd_af, &k3, &got), 0,
		     "another Service's affinity dropped");
	json_decref(s);
	json_decref(e1);
	json_decref(e2);
}

Test(svc_writer, frontend_conflict_refused)
{
	json_t *a = service("web", "10.96.0.10", NULL), *b = service("other", "10.96.0.10", NULL);
	char err[512] = "";
	int rc;

	apply_svc(NULL, a);
	rc = kind_service.apply(NULL, b, err, sizeof(err));
	cr_expect_eq(rc, -EEXIST, "rc %d", rc);
	cr_expect(strstr(err, "already used by Service shop/web"), "error: %s", err);
	cr_expect_eq(count(fd_svc), 1);
	cr_expect_null(services_describe("shop", "other"), "refused Service was recorded");
	json_decref(a);
	json_decref(b);
}

/* A write that fails half-way (sluice_backend full) leaves the maps and
 * the model as they were. */
Test(svc_writer, failed_update_rolls_back, .init = NULL)
{
	json_t *s, *e1, *e2;
	char err[512] = "";
	uint32_t id1;
	struct svc_val v;
	json_t *d;
	int rc;

	setup_maps(2);
	s = service("web", "10.96.0.10", NULL);
	e1 = slice("web-1", "web", "[" EP("10.244.0.1") "]");
	e2 = slice("web-1", "web",
		   "[" EP("10.244.0.1") "," EP("10.244.0.2") "," EP("10.244.0.3") "]");
	apply_svc(NULL, s);
	apply_slice(NULL, e1);
	id1 = be_id("10.244.0.1", NULL);
	rc = kind_endpointslice.apply(e1, e2, err, sizeof(err));
	cr_expect_neq(rc, 0, "an update needing 3 backends in a map of 2 succeeded");
	cr_expect(strstr(err, "sluice_backend"), "error names the map: %s", err);
	cr_expect_eq(count(fd_be), 1, "%ld backends after rollback, expected 1", count(fd_be));
	cr_expect_eq(be_id("10.244.0.1", NULL), id1);
	v = get_svc("10.96.0.10", 80);
	cr_expect_eq(v.backend_count, 1);
	d = services_describe("shop", "web");
	cr_assert(d);
	cr_expect_eq(json_array_size(json_object_get(
			 json_array_get(json_object_get(d, "frontends"), 0), "backends")),
		     1, "model changed by a failed update");
	json_decref(d);
	json_decref(s);
	json_decref(e1);
	json_decref(e2);
}

/* A restarted controller re-applies the same objects: ids are adopted
 * from the maps, so nothing traffic depends on changes. */
Test(svc_writer, restart_adopts_ids_and_gcs_stale)
{
	json_t *a = service("web", "10.96.0.10", NULL), *b = service("api", "10.96.0.11", NULL);
	json_t *ea = slice("web-1", "web", "[" EP("10.244.0.1") "," EP("10.244.0.2") "]");
	json_t *eb = slice("api-1", "api", "[" EP("10.244.0.9") "]");
	uint32_t svc_id, id1, id2;

	apply_svc(NULL, a);
	apply_slice(NULL, ea);
	apply_svc(NULL, b);
	apply_slice(NULL, eb);
	svc_id = get_svc("10.96.0.10", 80).svc_id;
	id1 = be_id("10.244.0.1", NULL);
	id2 = be_id("10.244.0.2", NULL);

	/* "Restart": forget everything, keep the maps; only web comes back. */
	services_use_maps(fd_svc, fd_be, fd_mg, fd_rn, fd_af, M);
	apply_slice(NULL, ea);
	apply_svc(NULL, a);
	cr_expect_eq(get_svc("10.96.0.10", 80).svc_id, svc_id, "svc_id not adopted");
	cr_expect_eq(be_id("10.244.0.1", NULL), id1, "backend id not adopted");
	cr_expect_eq(be_id("10.244.0.2", NULL), id2, "backend id not adopted");
	cr_expect(has_svc("10.96.0.11", 80), "stale frontend removed before the GC");
	cr_expect_eq(services_gc_stale(), 2, "expected the api frontend and its backend removed");
	cr_expect_not(has_svc("10.96.0.11", 80));
	cr_expect_eq(be_id("10.244.0.9", NULL), 0u);
	cr_expect_eq(count(fd_svc), 1);
	cr_expect_eq(count(fd_be), 2);
	cr_expect_eq(count(fd_rn), 1);
	cr_expect_eq(count(fd_mg), 1);
	json_decref(a);
	json_decref(b);
	json_decref(ea);
	json_decref(eb);
}

Test(svc_writer, describe_and_requests)
{
	json_t *s = service("web", "10.96.0.10", NULL);
	json_t *e = slice("web-1", "web", "[" EP("10.244.0.1") "," EP_NOTREADY("10.244.0.2") "]");
	json_t *req, *reply, *svc, *fe, *be;
	char err[256];
	const struct request_handler *h;

	apply_svc(NULL, s);
	apply_slice(NULL, e);
	req = json_pack("{s:s,s:s,s:s}", "request", "service.get", "namespace", "shop", "name",
			"web");
	reply = json_object();
	for (h = service_requests; h->name && strcmp(h->name, "service.get"); h++)
		;
	cr_assert(h->name);
	cr_assert_eq(h->fn(req, reply, err, sizeof(err)), 0, "service.get: %s", err);
	svc = json_object_get(reply, "service");
	fe = json_array_get(json_object_get(svc, "frontends"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(fe, "address")), "10.96.0.10");
	cr_expect_eq(json_integer_value(json_object_get(fe, "activeBackends")), 1);
	be = json_array_get(json_object_get(fe, "backends"), 1);
	cr_expect_str_eq(json_string_value(json_object_get(be, "state")), "not-ready");
	cr_expect(json_is_false(json_object_get(be, "active")));
	cr_expect_eq((uint32_t)json_integer_value(json_object_get(be, "id")),
		     be_id("10.244.0.2", NULL));
	json_decref(req);
	json_decref(reply);
	req = json_pack("{s:s,s:s,s:s}", "request", "service.get", "namespace", "shop", "name",
			"nope");
	reply = json_object();
	cr_expect_eq(h->fn(req, reply, err, sizeof(err)), -ENOENT);
	cr_expect_str_eq(err, "Service shop/nope not found", "error: %s", err);
	json_decref(req);
	json_decref(reply);
	json_decref(s);
	json_decref(e);
}
