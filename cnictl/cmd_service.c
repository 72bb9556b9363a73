// SPDX-License-Identifier: Apache-2.0
/* cnictl service list|get (requests service.list, service.get) and the
 * decoders of the load-balancing maps (include/sluice/lb.h) for
 * `cnictl bpf map dump`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <arpa/inet.h>

#include <sluice/lb.h>
#include "addr.h"
#include "cnictl.h"
#include "decode.h"
#include "print.h"
#include "reasons.h"

/* ---- service list / get ------------------------------------------------ */

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* "addr:port" with brackets for IPv6. */
static void hostport(char *buf, size_t len, const char *addr, json_int_t port)
{
	snprintf(buf, len, strchr(addr, ':') ? "[%s]:%lld" : "%s:%lld", addr, (long long)port);
}

/* One text row per Service: what people scan for. */
static void svc_row(const json_t *s)
{
	const json_t *ips = json_object_get(s, "clusterIPs"), *ports = json_object_get(s, "ports");
	const json_t *fes = json_object_get(s, "frontends"), *v;
	char buf[512] = "";
	size_t i, active = 0, total = 0;

	pr_row_begin();
	pr_str("namespace", jstr(s, "namespace"));
	pr_str("name", jstr(s, "name"));
	pr_str("type", jstr(s, "type"));
	json_array_foreach(ips, i, v) snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s",
					       i ? "," : "", json_string_value(v));
	pr_str("clusterIPs", json_is_true(json_object_get(s, "loadBalanced")) ? buf
			     : *buf					      ? buf
									      : "None");
	buf[0] = 0;
	json_array_foreach(ports, i, v) snprintf(
	    buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%lld/%s", i ? "," : "",
	    (long long)json_integer_value(json_object_get(v, "port")), jstr(v, "protocol"));
	pr_str("ports", buf);
	/* Distinct backends over the frontends would need addresses; per
	 * frontend counts summed say the same for single-IP Services. */
	json_array_foreach(fes, i, v)
	{
		active += json_integer_value(json_object_get(v, "activeBackends"));
		total += json_array_size(json_object_get(v, "backends"));
	}
	pr_strf("backends", "%zu/%zu", active, total);
	if (json_is_integer(json_object_get(s, "affinityTimeoutSeconds")))
		pr_strf(
		    "affinity", "ClientIP(%llds)",
		    (long long)json_integer_value(json_object_get(s, "affinityTimeoutSeconds")));
	else
		pr_str("affinity", jstr(s, "sessionAffinity"));
	pr_str("trafficPolicy", jstr(s, "internalTrafficPolicy"));
	pr_row_end();
}

static int svc_list(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"namespace", required_argument, NULL, 'n'},
	    {0},
	};
	json_t *args = NULL, *reply, *svcs, *s;
	const char *ns = NULL;
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		if (c == 'n')
			ns = optarg;
		else
			return cnictl_usage("usage: cnictl service list [-n NAMESPACE]");
	}
	if (optind < argc)
		return cnictl_usage("service list: unexpected argument '%s'", argv[optind]);
	if (ns && !(args = json_pack("{s:s}", "namespace", ns)))
		return cnictl_fail("out of memory");
	if (cnictl_request("service.list", args, &reply))
		return CNICTL_FAIL;
	svcs = json_object_get(reply, "services");
	if (!json_is_array(svcs)) {
		json_decref(reply);
		return cnictl_fail("sluiced: service.list reply has no \"services\" list");
	}
	if (pr_is_json()) {
		pr_json_value(NULL, svcs);
	} else {
		pr_table_begin(NULL);
		json_array_foreach(svcs, i, s) svc_row(s);
		pr_table_end();
	}
	json_decref(reply);
	return CNICTL_OK;
}

static int svc_get(int argc, char **argv)
{
	json_t *args, *reply, *s, *fes, *f, *bes, *b;
	char *ns = NULL, *name = NULL;
	size_t i, j;

	if (argc != 2)
		return cnictl_usage("usage: cnictl service get NAMESPACE/NAME");
	if (cnictl_parse_ns_name(argv[1], "default", &ns, &name))
		return cnictl_usage("service get: '%s' is not NAMESPACE/NAME", argv[1]);
	args = json_pack("{s:s,s:s}", "namespace", ns, "name", name);
	free(ns);
	free(name);
	if (!args)
		return cnictl_fail("out of memory");
	if (cnictl_request("service.get", args, &reply))
		return CNICTL_FAIL;
	s = json_object_get(reply, "service");
	if (!json_is_object(s)) {
		json_decref(reply);
		return cnictl_fail("sluiced: service.get reply has no \"service\" object");
	}
	if (pr_is_json()) {
		pr_json_value(NULL, s);
		json_decref(reply);
		return CNICTL_OK;
	}
	pr_obj_begin(NULL);
	pr_str("namespace", jstr(s, "namespace"));
	pr_str("name", jstr(s, "name"));
	pr_str("type", jstr(s, "type"));
	pr_json_value("clusterIPs", json_object_get(s, "clusterIPs"));
	pr_str("sessionAffinity", jstr(s, "sessionAffinity"));
	if (json_is_integer(json_object_get(s, "affinityTimeoutSeconds")))
		pr_u64("affinityTimeoutSeconds",
		       json_integer_value(json_object_get(s, "affinityTimeoutSeconds")));
	pr_str("internalTrafficPolicy", jstr(s, "internalTrafficPolicy"));
	pr_u64("slices", json_integer_value(json_object_get(s, "slices")));
	/* One row per (frontend, backend); a frontend without any backend
	 * still gets a row so that it shows. */
	pr_table_begin("backends");
	fes = json_object_get(s, "frontends");
	json_array_foreach(fes, i, f)
	{
		char fe[96], be[96];

		snprintf(fe, sizeof(fe), "%s", "");
		hostport(fe, sizeof(fe), jstr(f, "address"),
			 json_integer_value(json_object_get(f, "port")));
		snprintf(fe + strlen(fe), sizeof(fe) - strlen(fe), "/%s", jstr(f, "protocol"));
		bes = json_object_get(f, "backends");
		if (!json_array_size(bes)) {
			pr_row_begin();
			pr_str("frontend", fe);
			pr_u64("svcId", json_integer_value(json_object_get(f, "svcId")));
			pr_str("backend", NULL);
			pr_null("id");
			pr_str("state", "no-endpoints");
			pr_null("active");
			pr_null("local");
			pr_row_end();
		}
		json_array_foreach(bes, j, b)
		{
			hostport(be, sizeof(be), jstr(b, "address"),
				 json_integer_value(json_object_get(b, "port")));
			pr_row_begin();
			pr_str("frontend", fe);
			pr_u64("svcId", json_integer_value(json_object_get(f, "svcId")));
			pr_str("backend", be);
			pr_u64("id", json_integer_value(json_object_get(b, "id")));
			pr_str("state", jstr(b, "state"));
			pr_bool("active", json_is_true(json_object_get(b, "active")));
			pr_bool("local", json_is_true(json_object_get(b, "local")));
			pr_row_end();
		}
	}
	pr_table_end();
	pr_obj_end();
	json_decref(reply);
	return CNICTL_OK;
}

static const struct cmd svc_verbs[] = {
    {.name = "list",
     .args = "[-n NAMESPACE]",
     .help = "list Services: cluster IPs, ports, ready/known backends",
     .run = svc_list},
    {.name = "get",
     .args = "NAMESPACE/NAME",
     .help = "one Service: frontends and backends with their state",
     .run = svc_get},
    {0},
};

CNICTL_COMMAND(cmd_service) = {
    .name = "service",
    .help = "Services as sluiced load-balances them",
    .subs = svc_verbs,
};

/* ---- decoders: include/sluice/lb.h -------------------------------------- */

static const char *const svc_flag_names[] = {"affinity", "local"};
static const char *const be_flag_names[] = {"local"};

static void svc_key(const void *k)
{
	const struct svc_key *key = k;

	cnictl_pr_addr("frontend", &key->addr, key->family);
	pr_u64("port", ntohs(key->port));
	pr_str("proto", sl_proto_name(key->proto));
}

static void svc_value(const void *k, const void *v)
{
	const struct svc_val *val = v;

	(void)k;
	pr_u64("svcId", val->svc_id);
	pr_u64("backends", val->backend_count);
	cnictl_pr_flags("flags", val->flags, svc_flag_names, 2);
	pr_u64("affinityTimeout", val->affinity_timeout);
	pr_u64("revNat", val->rev_nat_id);
}

CNICTL_DECODER(cnictl_dec_svc) = {
    .map = SL_MAP_SVC,
    .doc = "Service frontends: cluster IP:port/proto -> svc id, backend count (0 = refuse), flags",
    .key_size = sizeof(struct svc_key),
    .value_size = sizeof(struct svc_val),
    .key = svc_key,
    .value = svc_value,
};

static void u32_key(const char *name, const void *k)
{
	__u32 id;

	memcpy(&id, k, sizeof(id));
	pr_u64(name, id);
}

static void backend_key(const void *k)
{
	u32_key("backendId", k);
}

static void backend_value(const void *k, const void *v)
{
	const struct backend_val *b = v;

	(void)k;
	cnictl_pr_addr("address", &b->addr, b->family);
	pr_u64("port", ntohs(b->port));
	pr_str("proto", sl_proto_name(b->proto));
	pr_str("state", b->state == SL_BE_ACTIVE	? "active"
			: b->state == SL_BE_TERMINATING ? "terminating"
							: "?");
	cnictl_pr_flags("flags", b->flags, be_flag_names, 1);
}

CNICTL_DECODER(cnictl_dec_backend) = {
    .map = SL_MAP_BACKEND,
    .doc = "Service backends: id -> address:port/proto, state (active/terminating), flags",
    .key_size = sizeof(__u32),
    .value_size = sizeof(struct backend_val),
    .key = backend_key,
    .value = backend_value,
};

static void maglev_key(const void *k)
{
	u32_key("svcId", k);
}

/* A whole table is M ids: show how many slots each backend owns. */
static void maglev_value(const void *k, const void *v)
{
	const __u32 *t = v;
	__u32 ids[64], counts[64];
	unsigned int n = 0, other = 0;

	(void)k;
	for (unsigned int i = 0; i < SL_MAGLEV_M_DEFAULT; i++) {
		unsigned int j;

		for (j = 0; j < n && ids[j] != t[i]; j++)
			;
		if (j == n) {
			if (n == 64) {
				other++;
				continue;
			}
			ids[n] = t[i];
			counts[n++] = 0;
		}
		counts[j]++;
	}
	pr_u64("slots", SL_MAGLEV_M_DEFAULT);
	pr_map_begin("slotsPerBackend");
	for (unsigned int j = 0; j < n; j++) {
		char name[16];

		snprintf(name, sizeof(name), "%u", ids[j]);
		pr_u64(name, counts[j]);
	}
	if (other)
		pr_u64("other", other);
	pr_map_end();
}

CNICTL_DECODER(cnictl_dec_maglev) = {
    .map = SL_MAP_MAGLEV,
    .doc = "Maglev tables: svc id -> slots per backend id (tables of the default size M)",
    .key_size = sizeof(__u32),
    .value_size = SL_MAGLEV_VALUE_SIZE(SL_MAGLEV_M_DEFAULT),
    .key = maglev_key,
    .value = maglev_value,
};

static void affinity_key(const void *k)
{
	const struct affinity_key *key = k;

	cnictl_pr_addr("client", &key->client, key->family);
	pr_u64("svcId", key->svc_id);
}

static void affinity_value(const void *k, const void *v)
{
	const struct affinity_val *a = v;
	__u64 now = cnictl_ktime_now();

	(void)k;
	pr_u64("backendId", a->backend_id);
	/* Seconds since last use; the Service's timeout decides staleness. */
	pr_s64("idleSeconds",
	       now > a->last_used_ns ? (int64_t)((now - a->last_used_ns) / 1000000000ull) : 0);
}

CNICTL_DECODER(cnictl_dec_affinity) = {
    .map = SL_MAP_AFFINITY,
    .doc = "ClientIP session affinity: client + svc id -> backend id, idle seconds",
    .key_size = sizeof(struct affinity_key),
    .value_size = sizeof(struct affinity_val),
    .key = affinity_key,
    .value = affinity_value,
};

static void revnat_key(const void *k)
{
	u32_key("revNatId", k);
}

static void revnat_value(const void *k, const void *v)
{
	const struct revnat_val *r = v;

	(void)k;
	cnictl_pr_addr("frontend", &r->addr, r->family);
	pr_u64("port", ntohs(r->port));
}

CNICTL_DECODER(cnictl_dec_revnat) = {
    .map = SL_MAP_REVNAT,
    .doc = "reverse NAT: rev-nat id -> the frontend replies must come from",
    .key_size = sizeof(__u32),
    .value_size = sizeof(struct revnat_val),
    .key = revnat_key,
    .value = revnat_value,
};

static void lb_netns_key(const void *k)
{
	__u64 c;

	memcpy(&c, k, sizeof(c));
	pr_u64("netnsCookie", c);
}

static void lb_netns_value(const void *k, const void *v)
{
	__u32 x;

	(void)k;
	memcpy(&x, v, sizeof(x));
	pr_u64("enabled", x);
}

CNICTL_DECODER(cnictl_dec_lb_netns) = {
    .map = SL_MAP_LB_NETNS,
    .doc = "network namespaces (pod netns cookies) where socket-level Service translation acts",
    .key_size = sizeof(__u64),
    .value_size = sizeof(__u32),
    .key = lb_netns_key,
    .value = lb_netns_value,
};

static void sk_revnat_key(const void *k)
{
	const struct sk_revnat_key *key = k;

	pr_u64("socketCookie", key->cookie);
	cnictl_pr_addr("backend", &key->addr, key->family);
	pr_u64("backendPort", ntohs(key->port));
}

static void sk_revnat_value(const void *k, const void *v)
{
	const struct sk_revnat_val *r = v;

	(void)k;
	cnictl_pr_addr("frontend", &r->addr, r->family);
	pr_u64("port", ntohs(r->port));
	pr_u64("revNat", r->rev_nat_id);
}

CNICTL_DECODER(cnictl_dec_sk_revnat) = {
    .map = SL_MAP_SK_REVNAT,
    .doc = "socket-level reverse NAT: socket + backend -> the frontend reported to the app",
    .key_size = sizeof(struct sk_revnat_key),
    .value_size = sizeof(struct sk_revnat_val),
    .key = sk_revnat_key,
    .value = sk_revnat_value,
};
