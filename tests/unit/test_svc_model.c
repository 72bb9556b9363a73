// SPDX-License-Identifier: Apache-2.0
/* The Service model (controller/services.c svc_model_build): which
 * endpoints become backends of which frontend, and which of them take new
 * connections. Objects go through validation first, as on the feed. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include <netinet/in.h>

#include "../../controller/kinds.h"
#include "../../controller/services.h"

static json_t *valid(const struct kind_ops *k, const char *text)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	char err[512];

	cr_assert(o, "test JSON does not parse: %s (%s)", jerr.text, text);
	cr_assert_eq(k->validate(o, err, sizeof(err)), 0, "validation failed: %s", err);
	return o;
}

static struct svc_def *mk_svc(const char *spec)
{
	char buf[4096];
	struct svc_def *d;
	json_t *o;

	snprintf(buf, sizeof(buf),
		 "{\"kind\":\"Service\",\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},"
		 "\"spec\":%s}",
		 spec);
	o = valid(&kind_service, buf);
	cr_assert_eq(svc_def_parse(o, &d), 0);
	json_decref(o);
	return d;
}

static struct svc_slice *mk_slice(const char *name, const char *body)
{
	char buf[8192];
	struct svc_slice *s;
	json_t *o;

	snprintf(buf, sizeof(buf),
		 "{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"shop\","
		 "\"labels\":{\"kubernetes.io/service-name\":\"web\"}},%s}",
		 name, body);
	o = valid(&kind_endpointslice, buf);
	cr_assert_eq(svc_slice_parse(o, &s), 0);
	json_decref(o);
	return s;
}

/* "10.244.0.1:8080" of a backend. */
static const char *be_str(const struct svc_backend *b, char *buf, size_t len)
{
	char a[SL_ADDR_STRLEN];

	snprintf(buf, len, "%s:%u", sl_addr_str(&b->addr.addr, b->addr.family, a, sizeof(a)),
		 b->port);
	return buf;
}

/* The active backends of frontend f as "a:p,a:p" (sorted by address). */
static const char *active_of(const struct svc_frontend *f, char *buf, size_t len)
{
	char one[64];

	buf[0] = 0;
	for (size_t i = 0; i < f->n_backends; i++) {
		if (!f->backends[i].active)
			continue;
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? "," : "",
			 be_str(&f->backends[i], one, sizeof(one)));
	}
	return buf;
}

static void build(struct svc_def *d, struct svc_slice **s, size_t n, const char *node,
		  struct svc_model *m)
{
	cr_assert_eq(svc_model_build(d, s, n, node, m), 0);
}

#define TCP80	  "{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80,\"targetPort\":8080}]}"
#define PORTS8080 "\"ports\":[{\"port\":8080}]"

struct rcase {
	const char *desc;
	const char *svc;
	const char *endpoints; /* JSON array of endpoints for one IPv4 slice on port 8080 */
	const char *node;
	const char *want_active; /* "a:p,..." */
	size_t want_backends;
};

static const struct rcase readiness[] = {
    {"ready and nil-ready are active, not-ready is not", TCP80,
     "[{\"addresses\":[\"10.244.0.1\"],\"conditions\":{\"ready\":true}},"
     "{\"addresses\":[\"10.244.0.2\"],\"conditions\":{\"ready\":false}},"
     "{\"addresses\":[\"10.244.0.3\"]},"
     "{\"addresses\":[\"10.244.0.4\"],\"conditions\":{\"ready\":null}}]",
     NULL, "10.244.0.1:8080,10.244.0.3:8080,10.244.0.4:8080", 4},
    {"terminating endpoints wait while any is ready", TCP80,
     "[{\"addresses\":[\"10.244.0.1\"],\"conditions\":{\"ready\":true}},"
     "{\"addresses\":[\"10.244.0.2\"],\"conditions\":{\"ready\":false,\"serving\":true,"
     "\"terminating\":true}}]",
     NULL, "10.244.0.1:8080", 2},
    {"none ready: serving terminating ones take over", TCP80,
     "[{\"addresses\":[\"10.244.0.1\"],\"conditions\":{\"ready\":false}},"
     "{\"addresses\":[\"10.244.0.2\"],\"conditions\":{\"ready\":false,\"serving\":true,"
     "\"terminating\":true}},"
     "{\"addresses\":[\"10.244.0.3\"],\"conditions\":{\"ready\":false,\"serving\":false,"
     "\"terminating\":true}}]",
     NULL, "10.244.0.2:8080", 3},
    {"serving nil defers to ready (false): not a fallback", TCP80,
     "[{\"addresses\":[\"10.244.0.2\"],\"conditions\":{\"ready\":false,\"terminating\":true}}]",
     NULL, "", 1},
    {"nothing ready or serving: no active backend", TCP80,
     "[{\"addresses\":[\"10.244.0.1\"],\"conditions\":{\"ready\":false}}]", NULL, "", 1},
    {"only the first address of an endpoint is used", TCP80,
     "[{\"addresses\":[\"10.244.0.1\",\"10.244.0.9\"]}]", NULL, "10.244.0.1:8080", 1},
    {"internalTrafficPolicy Local keeps this node's endpoints",
     "{\"clusterIP\":\"10.96.0.10\",\"internalTrafficPolicy\":\"Local\",\"ports\":[{\"port\":80}]}",
     "[{\"addresses\":[\"10.244.0.1\"],\"nodeName\":\"node-a\"},"
     "{\"addresses\":[\"10.244.1.1\"],\"nodeName\":\"node-b\"},"
     "{\"addresses\":[\"10.244.0.2\"],\"nodeName\":\"node-a\",\"conditions\":{\"ready\":false}}]",
     "node-a", "10.244.0.1:8080", 3},
    {"internalTrafficPolicy Local with no local endpoint: nothing, no fall back to remote",
     "{\"clusterIP\":\"10.96.0.10\",\"internalTrafficPolicy\":\"Local\",\"ports\":[{\"port\":80}]}",
     "[{\"addresses\":[\"10.244.1.1\"],\"nodeName\":\"node-b\"}]", "node-a", "", 1},
    {"internalTrafficPolicy Local: local terminating fallback",
     "{\"clusterIP\":\"10.96.0.10\",\"internalTrafficPolicy\":\"Local\",\"ports\":[{\"port\":80}]}",
     "[{\"addresses\":[\"10.244.1.1\"],\"nodeName\":\"node-b\"},"
     "{\"addresses\":[\"10.244.0.7\"],\"nodeName\":\"node-a\",\"conditions\":{\"ready\":false,"
     "\"serving\":true,\"terminating\":true}}]",
     "node-a", "10.244.0.7:8080", 2},
    {"internalTrafficPolicy Cluster ignores nodes", TCP80,
     "[{\"addresses\":[\"10.244.0.1\"],\"nodeName\":\"node-a\"},"
     "{\"addresses\":[\"10.244.1.1\"],\"nodeName\":\"node-b\"}]",
     "node-a", "10.244.0.1:8080,10.244.1.1:8080", 2},
};

Test(svc_model, readiness_rules_table)
{
	for (size_t i = 0; i < sizeof(readiness) / sizeof(readiness[0]); i++) {
		const struct rcase *c = &readiness[i];
		char body[4096], got[1024];
		struct svc_def *d = mk_svc(c->svc);
		struct svc_slice *s;
		struct svc_model m;

		snprintf(body, sizeof(body), "\"addressType\":\"IPv4\",\"endpoints\":%s,%s",
			 c->endpoints, PORTS8080);
		s = mk_slice("web-1", body);
		build(d, &s, 1, c->node, &m);
		cr_assert_eq(m.n_frontends, 1, "case '%s': %zu frontends, expected 1", c->desc,
			     m.n_frontends);
		cr_expect_str_eq(active_of(&m.frontends[0], got, sizeof(got)), c->want_active,
				 "case '%s': active backends '%s', expected '%s'", c->desc, got,
				 c->want_active);
		cr_expect_eq(m.frontends[0].n_backends, c->want_backends,
			     "case '%s': %zu backends known, expected %zu", c->desc,
			     m.frontends[0].n_backends, c->want_backends);
		svc_model_free(&m);
		svc_slice_free(s);
		svc_def_free(d);
	}
}

Test(svc_model, multi_port_matches_by_name_and_protocol)
{
	struct svc_def *d = mk_svc("{\"clusterIP\":\"10.96.0.10\",\"ports\":["
				   "{\"name\":\"http\",\"port\":80,\"targetPort\":\"web\"},"
				   "{\"name\":\"metrics\",\"port\":9090,\"targetPort\":9100},"
				   "{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\"}]}");
	/* The slice carries resolved numbers under the Service port names;
	 * "dns" exists only as TCP, which must not match the UDP port. */
	struct svc_slice *s = mk_slice(
	    "web-1",
	    "\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.244.0.1\"]}],"
	    "\"ports\":[{\"name\":\"metrics\",\"port\":9100},{\"name\":\"http\",\"port\":8080},"
	    "{\"name\":\"dns\",\"port\":5353,\"protocol\":\"TCP\"}]");
	struct svc_model m;
	char got[256];

	build(d, &s, 1, NULL, &m);
	cr_assert_eq(m.n_frontends, 3, "%zu frontends, expected 3", m.n_frontends);
	cr_expect_eq(m.frontends[0].port, 80);
	cr_expect_str_eq(active_of(&m.frontends[0], got, sizeof(got)), "10.244.0.1:8080",
			 "http (targetPort by name 'web'): got '%s'", got);
	cr_expect_eq(m.frontends[1].port, 9090);
	cr_expect_str_eq(active_of(&m.frontends[1], got, sizeof(got)), "10.244.0.1:9100",
			 "metrics: got '%s'", got);
	cr_expect_eq(m.frontends[2].proto, IPPROTO_UDP);
	cr_expect_eq(m.frontends[2].n_backends, 0, "dns/UDP must not match dns/TCP: %zu backends",
		     m.frontends[2].n_backends);
	svc_model_free(&m);
	svc_slice_free(s);
	svc_def_free(d);
}

Test(svc_model, several_slices_union_and_merge)
{
	struct svc_def *d = mk_svc(TCP80);
	struct svc_slice *s[3];
	struct svc_model m;
	char got[256];

	s[0] = mk_slice(
	    "web-1",
	    "\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.244.0.2\"]},"
	    "{\"addresses\":[\"10.244.0.1\"],\"conditions\":{\"ready\":false}}]," PORTS8080);
	/* The same endpoint in a second slice, ready there: merged, ready. */
	s[1] = mk_slice("web-2",
			"\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.244.0.1\"]},"
			"{\"addresses\":[\"10.244.0.3\"]}]," PORTS8080);
	/* An IPv6 slice does not feed an IPv4 frontend. */
	s[2] = mk_slice(
	    "web-3",
	    "\"addressType\":\"IPv6\",\"endpoints\":[{\"addresses\":[\"fd00::1\"]}]," PORTS8080);
	build(d, s, 3, NULL, &m);
	cr_assert_eq(m.n_frontends, 1);
	cr_expect_eq(m.frontends[0].n_backends, 3, "%zu backends, expected 3 (merged, no IPv6)",
		     m.frontends[0].n_backends);
	cr_expect_str_eq(active_of(&m.frontends[0], got, sizeof(got)),
			 "10.244.0.1:8080,10.244.0.2:8080,10.244.0.3:8080", "got '%s'", got);
	svc_model_free(&m);
	for (int i = 0; i < 3; i++)
		svc_slice_free(s[i]);
	svc_def_free(d);
}

Test(svc_model, unset_port_and_unnamed_mismatch)
{
	struct svc_def *d = mk_svc(TCP80);
	struct svc_slice *s[2];
	struct svc_model m;

	/* port null: "not restricted" means nothing for a proxy: skipped. */
	s[0] = mk_slice("web-1",
			"\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.244.0.1\"]}],"
			"\"ports\":[{\"port\":null}]");
	/* A named slice port does not match the unnamed Service port. */
	s[1] = mk_slice("web-2",
			"\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.244.0.2\"]}],"
			"\"ports\":[{\"name\":\"http\",\"port\":8080}]");
	build(d, s, 2, NULL, &m);
	cr_assert_eq(m.n_frontends, 1);
	cr_expect_eq(m.frontends[0].n_backends, 0, "got %zu backends, expected 0",
		     m.frontends[0].n_backends);
	svc_model_free(&m);
	svc_slice_free(s[0]);
	svc_slice_free(s[1]);
	svc_def_free(d);
}

Test(svc_model, not_load_balanced_kinds)
{
	static const char *const specs[] = {
	    "{\"clusterIP\":\"None\",\"ports\":[{\"port\":80}]}",
	    "{\"type\":\"ExternalName\",\"externalName\":\"db.example.com\",\"ports\":[{\"port\":"
	    "80}]}",
	};
	struct svc_slice *s = mk_slice(
	    "web-1",
	    "\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.244.0.1\"]}]," PORTS8080);

	for (size_t i = 0; i < 2; i++) {
		struct svc_def *d = mk_svc(specs[i]);
		struct svc_model m;

		cr_expect_not(d->load_balanced, "spec %s must not be load-balanced", specs[i]);
		build(d, &s, 1, NULL, &m);
		cr_expect_eq(m.n_frontends, 0, "spec %s: %zu frontends, expected 0", specs[i],
			     m.n_frontends);
		svc_model_free(&m);
		svc_def_free(d);
	}
	svc_slice_free(s);
}

Test(svc_model, dual_stack_frontends_per_family)
{
	struct svc_def *d =
	    mk_svc("{\"clusterIPs\":[\"10.96.0.10\",\"fd00:96::10\"],\"ports\":[{\"port\":80}]}");
	struct svc_slice *s[2];
	struct svc_model m;
	char got[256];

	s[0] = mk_slice(
	    "web-4",
	    "\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.244.0.1\"]}]," PORTS8080);
	s[1] = mk_slice(
	    "web-6",
	    "\"addressType\":\"IPv6\",\"endpoints\":[{\"addresses\":[\"fd00::1\"]}]," PORTS8080);
	build(d, s, 2, NULL, &m);
	cr_assert_eq(m.n_frontends, 2);
	cr_expect_str_eq(active_of(&m.frontends[0], got, sizeof(got)), "10.244.0.1:8080",
			 "v4: '%s'", got);
	cr_expect_str_eq(active_of(&m.frontends[1], got, sizeof(got)), "fd00::1:8080", "v6: '%s'",
			 got);
	svc_model_free(&m);
	svc_slice_free(s[0]);
	svc_slice_free(s[1]);
	svc_def_free(d);
}

Test(svc_model, affinity_parsed)
{
	struct svc_def *d =
	    mk_svc("{\"clusterIP\":\"10.96.0.10\",\"sessionAffinity\":\"ClientIP\","
		   "\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":60}},"
		   "\"ports\":[{\"port\":80}]}");

	cr_expect(d->affinity);
	cr_expect_eq(d->affinity_timeout, 60, "timeout %u, expected 60", d->affinity_timeout);
	svc_def_free(d);
	d = mk_svc("{\"clusterIP\":\"10.96.0.10\",\"sessionAffinity\":\"ClientIP\",\"ports\":[{"
		   "\"port\":80}]}");
	cr_expect_eq(d->affinity_timeout, 10800, "default timeout %u, expected 10800",
		     d->affinity_timeout);
	svc_def_free(d);
}
