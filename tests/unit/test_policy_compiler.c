// SPDX-License-Identifier: Apache-2.0
/*
 * The NetworkPolicy compiler (controller/policy.c), table driven: a cluster
 * like the upstream e2e one (namespaces x, y, z; pods a, b, c; container
 * ports serve-80-tcp, serve-80-udp, serve-81-tcp, serve-81-udp), a set of
 * policies per case, and the expected 9x9 reachability matrix for a probe
 * (protocol, port). Each cell is the datapath's decision computed from the
 * compiled entries: the client's egress AND the server's ingress. Plus
 * checks of the entries themselves (port ranges, CIDR classes) and of
 * validation/defaulting (kind_networkpolicy).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>
#include <jansson.h>

#include <sluice/metrics.h>
#include "../../controller/kinds.h"
#include "../../controller/policy.h"

#define NPODS 9
static const char *const NS[3] = { "x", "y", "z" };
static const char *const POD[3] = { "a", "b", "c" };

struct tworld {
	json_t *pods[NPODS];
	json_t *ns_labels[3];
	json_t *policies; /* array of validated objects */
	struct polc_identity ids[NPODS];
	struct polc_pod wpods[NPODS];
	struct polc_world w;
	struct polc_ep eps[NPODS];
};

static const char *pod_ip(int i, char *buf)
{
	sprintf(buf, "10.244.%d.%d", i / 3, 10 + i % 3);
	return buf;
}

/* Build pods; extra_labels (may be NULL) adds labels to pod index i. */
static void world_init(struct tworld *t, const char *const *policy_json, size_t n_policies,
		       const char *relabel_pod, const char *relabel_ns)
{
	memset(t, 0, sizeof(*t));
	for (int n = 0; n < 3; n++) {
		t->ns_labels[n] = json_pack("{s:s}", "ns", NS[n]);
		if (relabel_ns && !strcmp(relabel_ns, NS[n]))
			json_object_set_new(t->ns_labels[n], "extra", json_string("yes"));
	}
	for (int i = 0; i < NPODS; i++) {
		char ip[32], name[8];

		t->pods[i] = json_pack(
			"{s:{s:s,s:s,s:{s:s}},s:{s:[{s:s,s:[{s:s,s:i,s:s},{s:s,s:i,s:s},{s:s,s:i,s:s},{s:s,s:i,s:s},{s:s,s:i,s:s}]}]},s:{s:s}}",
			"metadata", "namespace", NS[i / 3], "name", POD[i % 3], "labels", "pod",
			POD[i % 3], "spec", "containers", "name", "c", "ports", "name", "serve-80-tcp",
			"containerPort", 80, "protocol", "TCP", "name", "serve-80-udp",
			"containerPort", 80, "protocol", "UDP", "name", "serve-81-tcp",
			"containerPort", 81, "protocol", "TCP", "name", "serve-81-udp",
			"containerPort", 81, "protocol", "UDP", "name", "web", "containerPort",
			i / 3 == 1 ? 81 : 80, "protocol", "TCP", "status", "podIP", pod_ip(i, ip));
		cr_assert(t->pods[i]);
		sprintf(name, "%s/%s", NS[i / 3], POD[i % 3]);
		if (relabel_pod && !strcmp(relabel_pod, name))
			json_object_set_new(json_object_get(json_object_get(t->pods[i], "metadata"), "labels"),
					    "extra", json_string("yes"));
		/* One identity per pod: every pod's label set differs. */
		t->ids[i] = (struct polc_identity){
			.id = 256 + i, .ns = NS[i / 3],
			.labels = json_object_get(json_object_get(t->pods[i], "metadata"), "labels"),
			.ns_labels = t->ns_labels[i / 3],
		};
		t->wpods[i] = (struct polc_pod){
			.ns = NS[i / 3], .name = POD[i % 3], .labels = t->ids[i].labels,
			.containers = json_object_get(json_object_get(t->pods[i], "spec"), "containers"),
			.identity = 256 + i, .n_ips = 1,
		};
		cr_assert(sl_cidr_parse(ip, &t->wpods[i].ips[0], false) == 0);
	}
	t->policies = json_array();
	t->w.policies = calloc(n_policies + 1, sizeof(*t->w.policies));
	for (size_t p = 0; p < n_policies; p++) {
		char err[512] = "";
		json_error_t je;
		json_t *obj = json_loads(policy_json[p], 0, &je);

		cr_assert(obj, "policy %zu: bad JSON: %s", p, je.text);
		cr_assert(kind_networkpolicy.validate(obj, err, sizeof(err)) == 0,
			  "policy %zu: validation failed: %s", p, err);
		json_array_append_new(t->policies, obj);
		cr_assert(polc_policy_parse(obj, (uint32_t)p + 1, &t->w.policies[p], err, sizeof(err)) == 0,
			  "policy %zu: parse failed: %s", p, err);
		t->w.n_policies++;
	}
	t->w.ids = t->ids;
	t->w.n_ids = NPODS;
	t->w.pods = t->wpods;
	t->w.n_pods = NPODS;
	cr_assert(polc_world_index(&t->w) == 0);
	for (int i = 0; i < NPODS; i++)
		cr_assert(polc_compile_ep(&t->w, &t->wpods[i], 100 + i, &t->eps[i]) == 0);
}

static void world_fini(struct tworld *t)
{
	for (int i = 0; i < NPODS; i++) {
		polc_ep_free(&t->eps[i]);
		json_decref(t->pods[i]);
	}
	for (int n = 0; n < 3; n++)
		json_decref(t->ns_labels[n]);
	polc_world_free(&t->w);
	free(t->w.policies);
	json_decref(t->policies);
}

/* Client i -> server j: egress of i (peer j), then ingress of j (peer i). */
static bool reach(struct tworld *t, int i, int j, uint8_t proto, uint16_t port, uint32_t *eg_id,
		  uint32_t *in_id)
{
	int r;

	if (i == j)
		return true; /* loopback never leaves the pod */
	r = polc_lookup(&t->eps[i], SL_DIR_EGRESS, t->wpods[j].identity, &t->wpods[j].ips[0].addr,
			SL_AF_INET, proto, port, eg_id, NULL);
	if (r != SL_FORWARDED)
		return false;
	r = polc_lookup(&t->eps[j], SL_DIR_INGRESS, t->wpods[i].identity, &t->wpods[i].ips[0].addr,
			SL_AF_INET, proto, port, in_id, NULL);
	return r == SL_FORWARDED;
}

/* Matrix: 9 rows (client x/a..z/c) of 9 chars: '.' reachable, 'X' not. */
static void check_matrix(struct tworld *t, const char *desc, uint8_t proto, uint16_t port,
			 const char *want)
{
	char got[NPODS * (NPODS + 1) + 1], w[sizeof(got)];
	size_t k = 0, q = 0;

	for (int i = 0; i < NPODS; i++) {
		for (int j = 0; j < NPODS; j++) {
			uint32_t e, in;

			got[k++] = reach(t, i, j, proto, port, &e, &in) ? '.' : 'X';
		}
		got[k++] = '\n';
	}
	got[k] = 0;
	for (const char *s = want; *s && q < sizeof(w) - 1; s++) {
		if (*s == '.' || *s == 'X')
			w[q++] = *s;
		if (q % (NPODS + 1) == NPODS)
			w[q++] = '\n';
	}
	w[q] = 0;
	cr_expect(!strcmp(got, w), "%s (%s %u): reachability\n  actual (rows = from x/a..z/c):\n%s  expected:\n%s",
		  desc, proto == IPPROTO_TCP ? "TCP" : proto == IPPROTO_UDP ? "UDP" : "SCTP", port,
		  got, w);
}

#define ALL_OPEN ".........  .........  .........  .........  .........  .........  .........  .........  ........."

struct probe {
	uint8_t proto;
	uint16_t port;
	const char *matrix; /* 81 of '.'/'X', whitespace ignored */
};

struct matrix_case {
	const char *desc;
	const char *policies[4];
	const char *relabel_pod; /* "ns/pod" gets label extra=yes */
	const char *relabel_ns;  /* namespace gets label extra=yes */
	struct probe probes[4];
};

#define NP(ns, name, spec) \
	"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"namespace\":\"" ns \
	"\",\"name\":\"" name "\"},\"spec\":" spec "}"
#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP
#define SCTP IPPROTO_SCTP

/* Rows/columns: x/a x/b x/c y/a y/b y/c z/a z/b z/c. */
static const struct matrix_case cases[] = {
	{ "no policies: all open", {}, NULL, NULL, { { TCP, 80, ALL_OPEN }, { UDP, 81, ALL_OPEN } } },
	{ "deny all ingress in x",
	  { NP("x", "deny", "{\"podSelector\":{}}") }, NULL, NULL,
	  { { TCP, 80,
	      ".XX......  X.X......  XX.......  XXX......  XXX......  XXX......  XXX......  XXX......  XXX......" } } },
	{ "deny all egress in x",
	  { NP("x", "deny", "{\"podSelector\":{},\"policyTypes\":[\"Egress\"]}") }, NULL, NULL,
	  { { UDP, 81,
	      ".XXXXXXXX  X.XXXXXXX  XX.XXXXXX  .........  .........  .........  .........  .........  ........." } } },
	{ "allow all ingress (empty rule) on top of deny",
	  { NP("x", "deny", "{\"podSelector\":{}}"), NP("x", "allow", "{\"podSelector\":{},\"ingress\":[{}]}") },
	  NULL, NULL, { { TCP, 80, ALL_OPEN } } },
	{ "x/a ingress from x/b only (podSelector)",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}]}") },
	  NULL, NULL,
	  { { TCP, 80,
	      ".........  .........  X........  X........  X........  X........  X........  X........  X........" } } },
	{ "x/a ingress from namespace y (namespaceSelector)",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"y\"}}}]}]}") },
	  NULL, NULL,
	  { { TCP, 80,
	      ".........  X........  X........  .........  .........  .........  X........  X........  X........" } } },
	{ "namespaceSelector on kubernetes.io/metadata.name (set by the API server)",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"z\"}}}]}]}") },
	  NULL, NULL,
	  { { TCP, 80,
	      ".........  X........  X........  X........  X........  X........  .........  .........  ........." } } },
	{ "podSelector AND namespaceSelector in one peer: y/b only",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"y\"}},\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}]}") },
	  NULL, NULL,
	  { { TCP, 80,
	      ".........  X........  X........  X........  .........  X........  X........  X........  X........" } } },
	{ "two peers OR: namespace y, or pod b of any namespace via {} namespaceSelector",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"y\"}}},{\"namespaceSelector\":{},\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}]}") },
	  NULL, NULL,
	  { { TCP, 80,
	      ".........  .........  X........  .........  .........  .........  X........  .........  X........" } } },
	{ "matchExpressions NotIn / Exists / DoesNotExist",
	  { NP("x", "p", "{\"podSelector\":{\"matchExpressions\":[{\"key\":\"pod\",\"operator\":\"NotIn\",\"values\":[\"b\",\"c\"]}]},\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchExpressions\":[{\"key\":\"ns\",\"operator\":\"In\",\"values\":[\"x\",\"z\"]}]},\"podSelector\":{\"matchExpressions\":[{\"key\":\"extra\",\"operator\":\"Exists\"}]}},{\"podSelector\":{\"matchExpressions\":[{\"key\":\"extra\",\"operator\":\"DoesNotExist\"},{\"key\":\"pod\",\"operator\":\"In\",\"values\":[\"c\"]}]}}]}]}") },
	  "z/b", NULL,
	  { { TCP, 80,
	      ".........  X........  .........  X........  X........  X........  X........  .........  X........" } } },
	{ "ports: TCP 80 only",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}]}]}") },
	  NULL, NULL,
	  { { TCP, 80, ALL_OPEN },
	    { TCP, 81, ".........  X........  X........  X........  X........  X........  X........  X........  X........" },
	    { UDP, 80, ".........  X........  X........  X........  X........  X........  X........  X........  X........" } } },
	{ "ports: protocol without port = every UDP port; default protocol TCP",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"ports\":[{\"protocol\":\"UDP\"},{\"port\":81}]}]}") },
	  NULL, NULL,
	  { { UDP, 80, ALL_OPEN }, { TCP, 81, ALL_OPEN },
	    { TCP, 80, ".........  X........  X........  X........  X........  X........  X........  X........  X........" },
	    { SCTP, 80, ".........  X........  X........  X........  X........  X........  X........  X........  X........" } } },
	{ "endPort: TCP 80-81 from namespace y",
	  { NP("x", "p", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"y\"}}}],\"ports\":[{\"port\":80,\"endPort\":81}]}]}") },
	  NULL, NULL,
	  { { TCP, 80, ".XX......  X.X......  XX.......  .........  .........  .........  XXX......  XXX......  XXX......" },
	    { TCP, 81, ".XX......  X.X......  XX.......  .........  .........  .........  XXX......  XXX......  XXX......" },
	    { TCP, 82, ".XX......  X.X......  XX.......  XXX......  XXX......  XXX......  XXX......  XXX......  XXX......" },
	    { UDP, 80, ".XX......  X.X......  XX.......  XXX......  XXX......  XXX......  XXX......  XXX......  XXX......" } } },
	{ "overlapping port forms: single port, range, any port, any protocol (via ipBlock)",
	  { NP("x", "p1", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"namespaceSelector\":{}}],\"ports\":[{\"port\":80,\"endPort\":81}]}]}"),
	    NP("x", "p2", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"namespaceSelector\":{}}],\"ports\":[{\"port\":80}]}]}"),
	    NP("x", "p3", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"namespaceSelector\":{}}],\"ports\":[{\"protocol\":\"TCP\"}]}]}"),
	    NP("x", "p4", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.244.0.0/16\"}}]}]}") },
	  NULL, NULL,
	  { { TCP, 80, ALL_OPEN }, { TCP, 81, ALL_OPEN }, { TCP, 82, ALL_OPEN }, { UDP, 80, ALL_OPEN } } },
	{ "named port serve-81-udp (ingress, resolved on the server)",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"ports\":[{\"port\":\"serve-81-udp\",\"protocol\":\"UDP\"}]}]}") },
	  NULL, NULL,
	  { { UDP, 81, ALL_OPEN },
	    { UDP, 80, ".........  X........  X........  X........  X........  X........  X........  X........  X........" },
	    { TCP, 81, ".........  X........  X........  X........  X........  X........  X........  X........  X........" } } },
	{ "named port on egress (resolved on each destination)",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"policyTypes\":[\"Egress\"],\"egress\":[{\"ports\":[{\"port\":\"serve-80-tcp\"}]}]}") },
	  NULL, NULL,
	  { { TCP, 80, ALL_OPEN },
	    { TCP, 81, ".XXXXXXXX  .........  .........  .........  .........  .........  .........  .........  ........." } } },
	{ "named port on egress to any peer, resolved per destination (web: 80 in x and z, 81 in y)",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"policyTypes\":[\"Egress\"],\"egress\":[{\"ports\":[{\"port\":\"web\"}]}]}") },
	  NULL, NULL,
	  { { TCP, 80, "...XXX...  .........  .........  .........  .........  .........  .........  .........  ........." },
	    { TCP, 81, ".XX...XXX  .........  .........  .........  .........  .........  .........  .........  ........." } } },
	{ "named port on egress to an ipBlock (only pods inside, not excepted)",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"policyTypes\":[\"Egress\"],\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"10.244.1.0/24\",\"except\":[\"10.244.1.12/32\"]}}],\"ports\":[{\"port\":\"web\"},{\"port\":80}]}]}") },
	  NULL, NULL,
	  { { TCP, 80, ".XX..XXXX  .........  .........  .........  .........  .........  .........  .........  ........." },
	    { TCP, 81, ".XX..XXXX  .........  .........  .........  .........  .........  .........  .........  ........." } } },
	{ "egress to namespace y; no policyTypes = Ingress+Egress, so ingress is denied too",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"egress\":[{\"to\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"y\"}}}]}]}") },
	  NULL, NULL,
	  { { TCP, 80, ".XX...XXX  X........  X........  X........  X........  X........  X........  X........  X........" } } },
	{ "egress to namespace y only (policyTypes Egress)",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"policyTypes\":[\"Egress\"],\"egress\":[{\"to\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"y\"}}}]}]}") },
	  NULL, NULL,
	  { { TCP, 80, ".XX...XXX  .........  .........  .........  .........  .........  .........  .........  ........." } } },
	{ "policyTypes [Egress] ignores ingress rules (ingress open)",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"policyTypes\":[\"Egress\"],\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}],\"egress\":[{}]}") },
	  NULL, NULL, { { TCP, 80, ALL_OPEN } } },
	{ "ingress and egress both isolated",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"policyTypes\":[\"Ingress\",\"Egress\"]}") },
	  NULL, NULL,
	  { { TCP, 80, ".XXXXXXXX  X........  X........  X........  X........  X........  X........  X........  X........" } } },
	{ "ipBlock: y's /24 except y/b's IP (applies to pod IPs)",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.244.1.0/24\",\"except\":[\"10.244.1.11/32\"]}}]}]}") },
	  NULL, NULL,
	  { { TCP, 80, ".........  X........  X........  .........  X........  .........  X........  X........  X........" } } },
	{ "ipBlock except carved out, and another rule covers the except by selector",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.244.0.0/16\",\"except\":[\"10.244.1.0/24\"]}}]},{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"y\"}},\"podSelector\":{\"matchLabels\":{\"pod\":\"c\"}}}]}]}") },
	  NULL, NULL,
	  { { TCP, 80, ".........  .........  .........  X........  X........  .........  .........  .........  ........." } } },
	{ "egress ipBlock with port, overlapping blocks (classes)",
	  { NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"policyTypes\":[\"Egress\"],\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"10.244.0.0/16\",\"except\":[\"10.244.2.0/24\"]}}],\"ports\":[{\"port\":80}]},{\"to\":[{\"ipBlock\":{\"cidr\":\"10.244.2.0/23\",\"except\":[\"10.244.2.12/32\"]}}],\"ports\":[{\"port\":81}]}]}") },
	  NULL, NULL,
	  { { TCP, 80, "......XXX  .........  .........  .........  .........  .........  .........  .........  ........." },
	    { TCP, 81, ".XXXXX..X  .........  .........  .........  .........  .........  .........  .........  ........." } } },
	{ "union of two policies selecting the same pod",
	  { NP("x", "p1", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}]}"),
	    NP("x", "p2", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"z\"}}}],\"ports\":[{\"port\":80}]}]}") },
	  NULL, NULL,
	  { { TCP, 80, ".XX......  ..X......  XX.......  XXX......  XXX......  XXX......  .........  .........  ........." },
	    { TCP, 81, ".XX......  ..X......  XX.......  XXX......  XXX......  XXX......  XXX......  XXX......  XXX......" } } },
	{ "namespace relabelled: selector on a namespace label",
	  { NP("x", "p", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"extra\":\"yes\"}}}]}]}") },
	  NULL, "z",
	  { { TCP, 80, ".XX......  X.X......  XX.......  XXX......  XXX......  XXX......  .........  .........  ........." } } },
	{ "policy in y does not select pods of x",
	  { NP("y", "p", "{\"podSelector\":{},\"ingress\":[]}") },
	  NULL, NULL,
	  { { TCP, 80, "...XXX...  ...XXX...  ...XXX...  ....XX...  ...X.X...  ...XX....  ...XXX...  ...XXX...  ...XXX..." } } },
};

Test(policy_compiler, matrices)
{
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct matrix_case *mc = &cases[c];
		struct tworld t;
		size_t n = 0;

		while (n < 4 && mc->policies[n])
			n++;
		world_init(&t, mc->policies, n, mc->relabel_pod, mc->relabel_ns);
		for (size_t p = 0; p < 4 && mc->probes[p].matrix; p++)
			check_matrix(&t, mc->desc, mc->probes[p].proto, mc->probes[p].port,
				     mc->probes[p].matrix);
		world_fini(&t);
	}
}

/* ---- the entries themselves -------------------------------------------- */

static size_t count_entries(const struct polc_ep *e, uint8_t dir, uint32_t peer, uint8_t proto)
{
	size_t n = 0;

	for (size_t i = 0; i < e->n_entries; i++) {
		const struct pol_key *k = &e->entries[i].key;

		n += k->dir == dir && k->peer == peer && k->proto == proto;
	}
	return n;
}

Test(policy_compiler, port_range_prefixes)
{
	static const struct {
		const char *ports;
		size_t want; /* LPM entries for one peer */
		uint16_t in[3], out[3];
		size_t ranges; /* of them, range prefixes (sluice_pol, not _exact) */
	} rc[] = {
		{ "[{\"port\":80,\"endPort\":81}]", 1, { 80, 81, 80 }, { 79, 82, 0 }, 1 },
		{ "[{\"port\":1,\"endPort\":65535}]", 16, { 1, 65535, 32768 }, { 0, 0, 0 }, 15 },
		{ "[{\"port\":1000,\"endPort\":1999}]", 7, { 1000, 1999, 1500 }, { 999, 2000, 0 }, 7 },
		{ "[{\"port\":443}]", 1, { 443, 443, 443 }, { 442, 444, 0 }, 0 },
		{ "[{\"port\":8000,\"endPort\":8000}]", 1, { 8000, 8000, 8000 }, { 7999, 8001, 0 }, 0 },
	};
	for (size_t c = 0; c < sizeof(rc) / sizeof(rc[0]); c++) {
		char pol[512];
		const char *pols[1] = { pol };
		struct tworld t;

		snprintf(pol, sizeof(pol), NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}],\"ports\":%s}]}"),
			 rc[c].ports);
		world_init(&t, pols, 1, NULL, NULL);
		cr_expect(count_entries(&t.eps[0], SL_DIR_INGRESS, 257, IPPROTO_TCP) == rc[c].want,
			  "%s: %zu entries, expected %zu", rc[c].ports,
			  count_entries(&t.eps[0], SL_DIR_INGRESS, 257, IPPROTO_TCP), rc[c].want);
		{
			size_t nr = 0;
			uint32_t want_flags = SL_POL_F_INGRESS |
					      (rc[c].ranges ? SL_POL_F_RANGE_INGRESS : 0);

			for (size_t i = 0; i < t.eps[0].n_entries; i++) {
				struct pol_exact_key ek;

				nr += !polc_entry_exact(&t.eps[0].entries[i].key, &ek);
			}
			cr_expect(nr == rc[c].ranges, "%s: %zu range entries, expected %zu",
				  rc[c].ports, nr, rc[c].ranges);
			cr_expect(t.eps[0].ep.flags == want_flags, "%s: flags %#x, expected %#x",
				  rc[c].ports, t.eps[0].ep.flags, want_flags);
		}
		for (int k = 0; k < 3; k++) {
			uint32_t e, in;

			cr_expect(reach(&t, 1, 0, IPPROTO_TCP, rc[c].in[k], &e, &in),
				  "%s: port %u should be allowed", rc[c].ports, rc[c].in[k]);
			cr_expect(in == SL_POL_ID(1, 1), "%s: policy_id %#x, expected %#x",
				  rc[c].ports, in, SL_POL_ID(1, 1));
			if (rc[c].out[k])
				cr_expect(!reach(&t, 1, 0, IPPROTO_TCP, rc[c].out[k], &e, &in),
					  "%s: port %u should be denied", rc[c].ports, rc[c].out[k]);
		}
		world_fini(&t);
	}
}

/* Exact port, range, any port of the protocol and any protocol overlap:
 * the longest prefix decides (the datapath's lookup order), through the
 * identity and then the CIDR class. */
Test(policy_compiler, port_forms_precedence)
{
	const char *pols[] = {
		NP("x", "p1", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"namespaceSelector\":{}}],\"ports\":[{\"port\":80,\"endPort\":81}]}]}"),
		NP("x", "p2", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"namespaceSelector\":{}}],\"ports\":[{\"port\":80}]}]}"),
		NP("x", "p3", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"namespaceSelector\":{}}],\"ports\":[{\"protocol\":\"TCP\"}]}]}"),
		NP("x", "p4", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.244.0.0/16\"}}],\"ports\":[{\"protocol\":\"UDP\",\"port\":70,\"endPort\":90}]},{}]}"),
	};
	static const struct {
		uint8_t proto;
		uint16_t port;
		uint32_t want_id;
		const char *want_match;
	} pc[] = {
		{ IPPROTO_TCP, 80, SL_POL_ID(2, 1), "identity" }, /* exact beats range */
		{ IPPROTO_TCP, 81, SL_POL_ID(1, 1), "identity" }, /* range beats any port */
		{ IPPROTO_TCP, 82, SL_POL_ID(3, 1), "identity" }, /* any port of TCP */
		{ IPPROTO_UDP, 80, SL_POL_ID(4, 1), "cidr" },	  /* class: UDP range */
		{ IPPROTO_UDP, 91, SL_POL_ID(4, 2), "cidr" },	  /* class: any protocol */
		{ IPPROTO_SCTP, 80, SL_POL_ID(4, 2), "cidr" },
	};
	struct tworld t;

	world_init(&t, pols, 4, NULL, NULL);
	cr_expect(t.eps[0].ep.flags == (SL_POL_F_INGRESS | SL_POL_F_RANGE_INGRESS),
		  "x/a flags %#x, expected %#x", t.eps[0].ep.flags,
		  SL_POL_F_INGRESS | SL_POL_F_RANGE_INGRESS);
	for (size_t c = 0; c < sizeof(pc) / sizeof(pc[0]); c++) {
		const char *match;
		uint32_t id;
		int r;

		r = polc_lookup(&t.eps[0], SL_DIR_INGRESS, t.wpods[3].identity,
				&t.wpods[3].ips[0].addr, SL_AF_INET, pc[c].proto, pc[c].port, &id,
				&match);
		cr_expect(r == SL_FORWARDED && id == pc[c].want_id && !strcmp(match, pc[c].want_match),
			  "y/a->x/a proto %u port %u: r=%d id=%#x match=%s, expected %#x %s",
			  pc[c].proto, pc[c].port, r, id, match, pc[c].want_id, pc[c].want_match);
	}
	world_fini(&t);
}

/* Isolation flags, deny ids, and which rule is reported. */
Test(policy_compiler, policy_ids)
{
	const char *pols[] = {
		NP("x", "p1", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"pod\":\"c\"}}}]}]}"),
		NP("x", "p2", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"ports\":[{\"port\":81}]},{\"from\":[{\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}]}"),
	};
	struct tworld t;
	uint32_t id;
	const char *match;
	int r;

	world_init(&t, pols, 2, NULL, NULL);
	cr_expect(t.eps[0].ep.flags == SL_POL_F_INGRESS, "x/a flags %#x", t.eps[0].ep.flags);
	cr_expect(t.eps[0].ep.deny_id[SL_DIR_INGRESS] == SL_POL_ID(1, 0), "x/a deny id %#x",
		  t.eps[0].ep.deny_id[SL_DIR_INGRESS]);
	cr_expect(t.eps[3].ep.flags == 0, "y/a not isolated: flags %#x", t.eps[3].ep.flags);
	cr_expect(t.eps[3].n_entries == 0 && t.eps[3].n_cidrs == 0, "y/a has no entries");
	/* x/c -> x/a TCP 80: allowed by p1 rule 1 (identity). */
	r = polc_lookup(&t.eps[0], SL_DIR_INGRESS, 258, &t.wpods[2].ips[0].addr, SL_AF_INET,
			IPPROTO_TCP, 80, &id, &match);
	cr_expect(r == SL_FORWARDED && id == SL_POL_ID(1, 1) && !strcmp(match, "identity"),
		  "x/c->x/a: r=%d id=%#x match=%s", r, id, match);
	/* y/a -> x/a TCP 81: p2 rule 1 (any peer, CIDR class). */
	r = polc_lookup(&t.eps[0], SL_DIR_INGRESS, 259, &t.wpods[3].ips[0].addr, SL_AF_INET,
			IPPROTO_TCP, 81, &id, &match);
	cr_expect(r == SL_FORWARDED && id == SL_POL_ID(2, 1) && !strcmp(match, "cidr"),
		  "y/a->x/a:81: r=%d id=%#x match=%s", r, id, match);
	/* y/a -> x/a TCP 80: denied, reported against p1 (lowest index). */
	r = polc_lookup(&t.eps[0], SL_DIR_INGRESS, 259, &t.wpods[3].ips[0].addr, SL_AF_INET,
			IPPROTO_TCP, 80, &id, &match);
	cr_expect(r == SL_DROP_POLICY_INGRESS && id == SL_POL_ID(1, 0) && !strcmp(match, "none"),
		  "y/a->x/a:80: r=%d id=%#x match=%s", r, id, match);
	/* Host is always allowed in. */
	r = polc_lookup(&t.eps[0], SL_DIR_INGRESS, SL_ID_HOST, &t.wpods[3].ips[0].addr, SL_AF_INET,
			IPPROTO_TCP, 80, &id, &match);
	cr_expect(r == SL_FORWARDED && id == 0 && !strcmp(match, "host"), "host: r=%d", r);
	/* Entries are sorted and unique. */
	for (size_t i = 1; i < t.eps[0].n_entries; i++)
		cr_expect(memcmp(&t.eps[0].entries[i - 1].key, &t.eps[0].entries[i].key,
				 sizeof(struct pol_key)) < 0, "entries not sorted/unique at %zu", i);
	world_fini(&t);
}

/* CIDR classes: nested blocks and excepts give one prefix per boundary. */
Test(policy_compiler, cidr_classes)
{
	const char *pols[] = {
		NP("x", "p", "{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"policyTypes\":[\"Egress\"],\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\",\"except\":[\"10.1.0.0/16\",\"10.2.0.0/16\"]}}]},{\"to\":[{\"ipBlock\":{\"cidr\":\"10.1.0.0/16\",\"except\":[\"10.1.1.0/24\"]}}],\"ports\":[{\"port\":53,\"protocol\":\"UDP\"}]},{\"to\":[{\"ipBlock\":{\"cidr\":\"fd00::/8\"}}]}]}"),
	};
	static const struct {
		const char *ip;
		uint8_t proto;
		uint16_t port;
		bool want;
		uint32_t rule;
	} probes[] = {
		{ "10.3.0.1", IPPROTO_TCP, 1, true, 1 },
		{ "10.1.0.1", IPPROTO_TCP, 1, false, 0 },
		{ "10.1.0.1", IPPROTO_UDP, 53, true, 2 },
		{ "10.1.1.1", IPPROTO_UDP, 53, false, 0 },
		{ "10.2.0.1", IPPROTO_UDP, 53, false, 0 },
		{ "11.0.0.1", IPPROTO_TCP, 1, false, 0 },
		{ "fd00::5", IPPROTO_SCTP, 9, true, 3 },
		{ "fe80::5", IPPROTO_SCTP, 9, false, 0 },
	};
	struct tworld t;

	world_init(&t, pols, 1, NULL, NULL);
	/* prefixes: 10/8, 10.1/16, 10.2/16, 10.1.1/24, fd00::/8 */
	cr_expect(t.eps[0].n_cidrs == 5, "%zu CIDR entries, expected 5", t.eps[0].n_cidrs);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		union sl_addr a;
		uint8_t fam;
		uint32_t id;
		int r;

		cr_assert(sl_addr_parse(probes[i].ip, &a, &fam) == 0);
		r = polc_lookup(&t.eps[0], SL_DIR_EGRESS, SL_ID_WORLD, &a, fam, probes[i].proto,
				probes[i].port, &id, NULL);
		cr_expect((r == SL_FORWARDED) == probes[i].want, "%s %u/%u: verdict %d", probes[i].ip,
			  probes[i].proto, probes[i].port, r);
		if (probes[i].want)
			cr_expect(id == SL_POL_ID(1, probes[i].rule), "%s: policy_id %#x, expected rule %u",
				  probes[i].ip, id, probes[i].rule);
	}
	world_fini(&t);
}

/* ---- validation and defaulting ------------------------------------------- */

struct val_case {
	const char *desc;
	const char *spec;
	const char *want_err; /* substring; NULL = valid */
};

static const struct val_case val_cases[] = {
	{ "minimal", "{\"podSelector\":{}}", NULL },
	{ "bad CIDR", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.300/8\"}}]}]}",
	  "spec.ingress[0].from[0].ipBlock.cidr" },
	{ "except outside cidr", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\",\"except\":[\"11.0.0.0/16\"]}}]}]}",
	  "spec.ingress[0].from[0].ipBlock.except[0]: 11.0.0.0/16 must be a strict subset of cidr 10.0.0.0/8" },
	{ "except equal to cidr", "{\"podSelector\":{},\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\",\"except\":[\"10.0.0.0/8\"]}}]}]}",
	  "spec.egress[0].to[0].ipBlock.except[0]" },
	{ "endPort < port", "{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":81,\"endPort\":80}]}]}",
	  "spec.ingress[0].ports[0].endPort: 80 must be greater than or equal to port 81" },
	{ "endPort with named port", "{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":\"http\",\"endPort\":80}]}]}",
	  "spec.ingress[0].ports[0].endPort: may not be set when port is a name" },
	{ "endPort without port", "{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"endPort\":80}]}]}",
	  "spec.ingress[0].ports[0].endPort" },
	{ "unknown protocol", "{\"podSelector\":{},\"egress\":[{\"ports\":[{\"port\":80,\"protocol\":\"ICMP\"}]}]}",
	  "spec.egress[0].ports[0].protocol: must be TCP, UDP or SCTP" },
	{ "bad selector operator", "{\"podSelector\":{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}}",
	  "spec.podSelector.matchExpressions[0].operator" },
	{ "bad peer selector operator", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"in\"}]}}]}]}",
	  "spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].operator" },
	{ "ipBlock with selector", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\"},\"podSelector\":{}}]}]}",
	  "spec.ingress[0].from[0]: ipBlock may not be combined" },
	{ "empty peer", "{\"podSelector\":{},\"ingress\":[{\"from\":[{}]}]}", "spec.ingress[0].from[0]: must specify a peer" },
	{ "bad policyType", "{\"podSelector\":{},\"policyTypes\":[\"Both\"]}", "spec.policyTypes[0]" },
	{ "port 0", "{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":0}]}]}", "spec.ingress[0].ports[0].port" },
	{ "bad port name", "{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":\"Not_A_Name\"}]}]}", "spec.ingress[0].ports[0].port" },
	{ "SCTP named port ok", "{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":\"diameter\",\"protocol\":\"SCTP\"}]}]}", NULL },
	{ "IPv6 block ok", "{\"podSelector\":{},\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"fd00::/8\",\"except\":[\"fd00::/64\"]}}]}]}", NULL },
};

Test(policy_compiler, validation)
{
	for (size_t i = 0; i < sizeof(val_cases) / sizeof(val_cases[0]); i++) {
		const struct val_case *c = &val_cases[i];
		char buf[2048], err[512] = "";
		json_t *obj;
		int rc;

		snprintf(buf, sizeof(buf),
			 "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"namespace\":\"x\",\"name\":\"p\"},\"spec\":%s}",
			 c->spec);
		obj = json_loads(buf, 0, NULL);
		cr_assert(obj, "%s: bad JSON", c->desc);
		rc = kind_networkpolicy.validate(obj, err, sizeof(err));
		if (!c->want_err)
			cr_expect(rc == 0, "%s: unexpected error: %s", c->desc, err);
		else
			cr_expect(rc == -EINVAL && strstr(err, c->want_err) &&
					  strstr(err, "NetworkPolicy x/p"),
				  "%s: rc %d, error \"%s\", expected to contain \"%s\"", c->desc, rc,
				  err, c->want_err);
		json_decref(obj);
	}
}

Test(policy_compiler, defaulting)
{
	static const struct {
		const char *spec;
		const char *want_types;
	} dc[] = {
		{ "{\"podSelector\":{}}", "[\"Ingress\"]" },
		{ "{\"podSelector\":{},\"egress\":[{}]}", "[\"Ingress\", \"Egress\"]" },
		{ "{\"podSelector\":{},\"ingress\":[{}],\"egress\":[]}", "[\"Ingress\"]" },
		{ "{\"podSelector\":{},\"policyTypes\":[\"Egress\"]}", "[\"Egress\"]" },
	};
	for (size_t i = 0; i < sizeof(dc) / sizeof(dc[0]); i++) {
		char buf[1024], err[256] = "";
		json_t *obj, *want;

		snprintf(buf, sizeof(buf),
			 "{\"kind\":\"NetworkPolicy\",\"metadata\":{\"namespace\":\"x\",\"name\":\"p\"},\"spec\":%s}",
			 dc[i].spec);
		obj = json_loads(buf, 0, NULL);
		want = json_loads(dc[i].want_types, 0, NULL);
		cr_assert(kind_networkpolicy.validate(obj, err, sizeof(err)) == 0, "%s: %s", dc[i].spec, err);
		char *got = json_dumps(json_object_get(json_object_get(obj, "spec"), "policyTypes"), 0);
		cr_expect(json_equal(json_object_get(json_object_get(obj, "spec"), "policyTypes"), want),
			  "%s: policyTypes %s, expected %s", dc[i].spec, got, dc[i].want_types);
		free(got);
		json_decref(obj);
		json_decref(want);
	}
	/* Protocol defaults to TCP, podSelector to {}. */
	json_t *o = json_loads("{\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"ingress\":[{\"ports\":[{\"port\":80}]}]}}", 0, NULL);
	char err[256] = "";
	cr_assert(kind_networkpolicy.validate(o, err, sizeof(err)) == 0, "%s", err);
	json_t *spec = json_object_get(o, "spec");
	cr_expect(json_is_object(json_object_get(spec, "podSelector")), "podSelector defaulted");
	cr_expect(!strcmp(json_string_value(json_object_get(json_array_get(json_object_get(json_array_get(json_object_get(spec, "ingress"), 0), "ports"), 0), "protocol")) ?: "", "TCP"),
		  "protocol defaulted to TCP");
	cr_expect(!strcmp(json_string_value(json_object_get(json_object_get(o, "metadata"), "namespace")) ?: "", "default"),
		  "namespace defaulted");
	json_decref(o);
}

/* ---- the same entries in the real BPF lookup --------------------------------
 * Every matrix case once more, with the compiled entries written into BPF
 * maps and each cell judged by datapath/lib/policy.h through
 * tests/datapath/policy_harness.bpf.c: the datapath and the userspace
 * emulation (which policy.trace uses) must agree cell by cell, policy_id
 * included. Needs root (BPF) and $(BUILD)/bpf/policy_harness.bpf.o (the
 * Makefile builds it before this test). */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <limits.h>
#include <libgen.h>
#include <unistd.h>
#include "../../datapath/lib/pkt.h"

struct harness_case {
	struct pkt p;
	__u32 ep_id;
	__u32 peer_identity;
	__u8 dir;
	__u8 pad[3];
};

struct harness {
	struct bpf_object *obj;
	int prog, ep, pol, cidr, exact, bss;
};

static void harness_open(struct harness *h)
{
	char exe[PATH_MAX], path[PATH_MAX + 64];
	struct bpf_map *m;
	ssize_t n;

	cr_assert(geteuid() == 0, "the BPF cross-check needs root (BPF_PROG_TEST_RUN)");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	cr_assert(n > 0);
	exe[n] = 0;
	snprintf(path, sizeof(path), "%s/../bpf/policy_harness.bpf.o", dirname(exe));
	h->obj = bpf_object__open_file(path, NULL);
	cr_assert(h->obj, "couldn't open %s (make dp-tests builds it): %s", path, strerror(errno));
	bpf_object__for_each_map(m, h->obj)
		bpf_map__set_pin_path(m, NULL);
	cr_assert(bpf_object__load(h->obj) == 0, "couldn't load %s", path);
	h->prog = bpf_program__fd(bpf_object__find_program_by_name(h->obj, "policy_harness"));
	h->ep = bpf_object__find_map_fd_by_name(h->obj, SL_MAP_POL_EP);
	h->pol = bpf_object__find_map_fd_by_name(h->obj, SL_MAP_POL);
	h->cidr = bpf_object__find_map_fd_by_name(h->obj, SL_MAP_POL_CIDR);
	h->exact = bpf_object__find_map_fd_by_name(h->obj, SL_MAP_POL_EXACT);
	h->bss = -1;
	bpf_object__for_each_map(m, h->obj) {
		const char *name = bpf_map__name(m);

		if (strlen(name) > 4 && !strcmp(name + strlen(name) - 4, ".bss"))
			h->bss = bpf_map__fd(m);
	}
	cr_assert(h->prog >= 0 && h->ep >= 0 && h->pol >= 0 && h->cidr >= 0 && h->exact >= 0 &&
		  h->bss >= 0,
		  "harness maps/program missing");
}

static void harness_write(struct harness *h, const struct polc_ep *e)
{
	if (e->ep.flags)
		cr_assert(bpf_map_update_elem(h->ep, &e->ep_id, &e->ep, 0) == 0);
	/* as policy.c's writer splits them */
	for (size_t i = 0; i < e->n_entries; i++) {
		struct pol_exact_key ek;

		if (polc_entry_exact(&e->entries[i].key, &ek))
			cr_assert(bpf_map_update_elem(h->exact, &ek, &e->entries[i].val, 0) == 0,
				  "sluice_pol_exact update: %s", strerror(errno));
		else
			cr_assert(bpf_map_update_elem(h->pol, &e->entries[i].key, &e->entries[i].val,
						      0) == 0,
				  "sluice_pol update: %s", strerror(errno));
	}
	for (size_t i = 0; i < e->n_cidrs; i++)
		cr_assert(bpf_map_update_elem(h->cidr, &e->cidrs[i].key, &e->cidrs[i].val, 0) == 0,
			  "sluice_pol_cidr update: %s", strerror(errno));
}

/* Empty a map (between cases). */
static void map_clear(int fd, size_t ksize)
{
	unsigned char k[64];

	while (!bpf_map_get_next_key(fd, NULL, k))
		cr_assert(bpf_map_delete_elem(fd, k) == 0);
	(void)ksize;
}

static int harness_run(struct harness *h, uint32_t ep_id, uint8_t dir, uint32_t peer_id,
		       const struct sl_cidr *peer, uint8_t proto, uint16_t port, uint32_t *policy_id)
{
	struct harness_case c = {};
	unsigned char pkt[14 + sizeof(c)] = { [12] = 0x08 };
	struct {
		__u32 policy_id;
		__s32 reason;
	} out;
	__u32 zero = 0;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt));

	c.p.family = peer->family;
	c.p.proto = proto;
	c.p.dport = htons(port);
	if (dir == SL_DIR_EGRESS)
		c.p.daddr = peer->addr;
	else
		c.p.saddr = peer->addr;
	c.ep_id = ep_id;
	c.peer_identity = peer_id;
	c.dir = dir;
	memcpy(pkt + 14, &c, sizeof(c));
	cr_assert(bpf_prog_test_run_opts(h->prog, &opts) == 0, "test run: %s", strerror(errno));
	cr_assert(bpf_map_lookup_elem(h->bss, &zero, &out) == 0);
	*policy_id = out.policy_id;
	return out.reason;
}

Test(policy_compiler, bpf_agrees_with_trace)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	static const uint16_t ports[] = { 79, 80, 81, 82 };
	struct harness h;
	size_t cells = 0;

	harness_open(&h);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct matrix_case *mc = &cases[c];
		struct tworld t;
		size_t n = 0;

		while (n < 4 && mc->policies[n])
			n++;
		world_init(&t, mc->policies, n, mc->relabel_pod, mc->relabel_ns);
		map_clear(h.ep, sizeof(uint32_t));
		map_clear(h.pol, sizeof(struct pol_key));
		map_clear(h.exact, sizeof(struct pol_exact_key));
		map_clear(h.cidr, sizeof(struct pol_cidr_key));
		for (int i = 0; i < NPODS; i++)
			harness_write(&h, &t.eps[i]);
		for (int i = 0; i < NPODS; i++) {
			for (int j = 0; j < NPODS; j++) {
				for (uint8_t dir = 0; dir < 2; dir++) {
					/* dir egress: i's egress towards j; ingress: i's ingress from j */
					for (size_t pp = 0; pp < sizeof(protos); pp++) {
						for (size_t po = 0; po < 4; po++) {
							uint32_t id_u, id_b;
							int ru, rb;

							ru = polc_lookup(&t.eps[i], dir, t.wpods[j].identity,
									 &t.wpods[j].ips[0].addr, SL_AF_INET,
									 protos[pp], ports[po], &id_u, NULL);
							rb = harness_run(&h, t.eps[i].ep_id, dir,
									 t.wpods[j].identity, &t.wpods[j].ips[0],
									 protos[pp], ports[po], &id_b);
							cells++;
							if (ru != rb || id_u != id_b)
								cr_expect(0,
									  "%s: ep %s/%s dir %d peer %s/%s proto %u port %u: "
									  "bpf %d/%#x, userspace %d/%#x",
									  mc->desc, t.wpods[i].ns, t.wpods[i].name, dir,
									  t.wpods[j].ns, t.wpods[j].name, protos[pp],
									  ports[po], rb, id_b, ru, id_u);
						}
					}
				}
			}
		}
		world_fini(&t);
	}
	cr_expect(cells > 10000, "only %zu cells compared", cells);
	bpf_object__close(h.obj);
}
