// SPDX-License-Identifier: Apache-2.0
/* cnictl policy list|get|trace (sluiced's policy.* requests) and the
 * decoders of the policy maps (include/sluice/policy.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sluice/metrics.h>
#include <sluice/policy.h>
#include "addr.h"
#include "cnictl.h"
#include "decode.h"
#include "print.h"
#include "reasons.h"

/* ---- commands ------------------------------------------------------------ */

static const char *const list_cols[] = {
    "namespace",    "name",	    "index",	   "policyTypes",
    "selectedPods", "ingressRules", "egressRules", NULL,
};

static int pol_list(int argc, char **argv)
{
	json_t *reply, *pols;

	if (argc > 1)
		return cnictl_usage("policy list: unexpected argument '%s'", argv[1]);
	if (cnictl_request("policy.list", NULL, &reply))
		return CNICTL_FAIL;
	pols = json_object_get(reply, "policies");
	if (!json_is_array(pols)) {
		json_decref(reply);
		return cnictl_fail("sluiced: policy.list reply has no \"policies\" list");
	}
	pr_json_table(NULL, pols, list_cols);
	json_decref(reply);
	return CNICTL_OK;
}

static int pol_get(int argc, char **argv)
{
	json_t *reply, *pol;
	char *ns, *name;

	if (argc != 2)
		return cnictl_usage("policy get: expected NS/NAME");
	if (cnictl_parse_ns_name(argv[1], "default", &ns, &name))
		return cnictl_usage("policy get: '%s' is not NS/NAME", argv[1]);
	if (cnictl_request("policy.get", json_pack("{s:s,s:s}", "namespace", ns, "name", name),
			   &reply)) {
		free(ns);
		free(name);
		return CNICTL_FAIL;
	}
	free(ns);
	free(name);
	pol = json_object_get(reply, "policy");
	if (!json_is_object(pol)) {
		json_decref(reply);
		return cnictl_fail("sluiced: policy.get reply has no \"policy\" object");
	}
	pr_json_value(NULL, pol);
	json_decref(reply);
	return CNICTL_OK;
}

/* "80/TCP", "53/udp", "80" (TCP). Returns 0 or -EINVAL. */
static int parse_port_proto(const char *s, long *port, char *proto, size_t len)
{
	const char *slash = strchr(s, '/');
	char *end;

	*port = strtol(s, &end, 10);
	if (end == s || *port < 0 || *port > 65535 || (slash ? end != slash : *end))
		return -EINVAL;
	snprintf(proto, len, "%s", slash ? slash + 1 : "TCP");
	for (char *p = proto; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	if (strcmp(proto, "TCP") && strcmp(proto, "UDP") && strcmp(proto, "SCTP") &&
	    strcmp(proto, "ICMP"))
		return -EINVAL;
	return 0;
}

static int pol_trace(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
	    {"port", required_argument, NULL, 'p'},
	    {0},
	};
	const char *from = NULL, *to = NULL, *port_s = NULL;
	char proto[8];
	json_t *reply, *tr;
	long port;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'p':
			port_s = optarg;
			break;
		default:
			return cnictl_usage("policy trace: unknown option");
		}
	}
	if (optind < argc)
		return cnictl_usage("policy trace: unexpected argument '%s'", argv[optind]);
	if (!from || !to || !port_s)
		return cnictl_usage("policy trace: --from, --to and --port are required");
	if (parse_port_proto(port_s, &port, proto, sizeof(proto)))
		return cnictl_usage(
		    "policy trace: --port '%s': expected N/PROTO (TCP, UDP, SCTP, ICMP)", port_s);
	if (cnictl_request("policy.trace",
			   json_pack("{s:s,s:s,s:I,s:s}", "from", from, "to", to, "port",
				     (json_int_t)port, "protocol", proto),
			   &reply))
		return CNICTL_FAIL;
	tr = json_object_get(reply, "trace");
	if (!json_is_object(tr)) {
		json_decref(reply);
		return cnictl_fail("sluiced: policy.trace reply has no \"trace\" object");
	}
	pr_json_value(NULL, tr);
	json_decref(reply);
	return CNICTL_OK;
}

static const struct cmd pol_verbs[] = {
    {.name = "list",
     .help = "NetworkPolicies, their index and the pods they select",
     .run = pol_list},
    {.name = "get",
     .args = "NS/NAME",
     .help = "one NetworkPolicy resolved: selected pods, peers' identities and CIDRs, ports",
     .run = pol_get},
    {.name = "trace",
     .args = "--from NS/POD|IP --to NS/POD|IP --port N/PROTO",
     .help = "would a new connection be allowed, and which policy and rule decide",
     .run = pol_trace},
    {0},
};

CNICTL_COMMAND(cnictl_cmd_policy) = {
    .name = "policy",
    .help = "NetworkPolicy enforcement: resolved policies and the tracer",
    .subs = pol_verbs,
};

/* ---- map decoders ---------------------------------------------------------- */

static const char *const pol_flag_names[] = {"egress", "ingress"};

static void pol_ep_key(const void *k)
{
	pr_u64("endpoint", *(const __u32 *)k);
}

static void pr_policy_id(const char *key, __u32 id)
{
	if (id)
		pr_strf(key, "%u/%u", SL_POL_ID_INDEX(id), SL_POL_ID_RULE(id));
	else
		pr_str(key, "-");
}

static void pol_ep_value(const void *k, const void *v)
{
	const struct pol_ep_val *e = v;

	(void)k;
	cnictl_pr_flags("isolated", e->flags & SL_POL_F_ISOLATED, pol_flag_names, 2);
	/* directions with port-range entries in sluice_pol */
	cnictl_pr_flags("ranges", (e->flags >> 2) & SL_POL_F_ISOLATED, pol_flag_names, 2);
	pr_policy_id("denyEgress", e->deny_id[SL_DIR_EGRESS]);
	pr_policy_id("denyIngress", e->deny_id[SL_DIR_INGRESS]);
}

CNICTL_DECODER(cnictl_dec_pol_ep) = {
    .map = SL_MAP_POL_EP,
    .doc = "policy: isolated directions per endpoint, policy reported on drops (index/rule)",
    .key_size = sizeof(__u32),
    .value_size = sizeof(struct pol_ep_val),
    .key = pol_ep_key,
    .value = pol_ep_value,
};

static void pr_peer(__u32 peer)
{
	if (peer & SL_POL_PEER_CIDR)
		pr_strf("peer", "cidr-class:%u", peer & ~SL_POL_PEER_CIDR);
	else
		pr_strf("peer", "identity:%u", peer);
}

static void pol_key(const void *k)
{
	const struct pol_key *key = k;

	pr_u64("endpoint", key->ep_id);
	pr_str("dir", sl_dir_name(key->dir));
	pr_peer(key->peer);
	if (key->prefixlen <= SL_POL_PREFIX_BASE) {
		pr_str("proto", "any");
		pr_str("ports", "any");
		return;
	}
	pr_str("proto", sl_proto_name(key->proto));
	if (key->prefixlen <= SL_POL_PREFIX_BASE + 8) {
		pr_str("ports", "any");
	} else {
		unsigned int bits = key->prefixlen - SL_POL_PREFIX_BASE - 8;
		unsigned int span = bits >= 16 ? 0 : (1u << (16 - bits)) - 1;
		unsigned int lo = ntohs(key->dport) & ~span & 0xffff;

		if (span)
			pr_strf("ports", "%u-%u", lo, lo + span);
		else
			pr_strf("ports", "%u", lo);
	}
}

static void pol_exact_key(const void *k)
{
	const struct pol_exact_key *key = k;

	pr_u64("endpoint", key->ep_id);
	pr_str("dir", sl_dir_name(key->dir));
	pr_peer(key->peer);
	if (!key->proto) {
		pr_str("proto", "any");
		pr_str("ports", "any");
		return;
	}
	pr_str("proto", sl_proto_name(key->proto));
	if (!key->dport)
		pr_str("ports", "any");
	else
		pr_strf("ports", "%u", ntohs(key->dport));
}

static void pol_value(const void *k, const void *v)
{
	const struct pol_val *val = v;

	(void)k;
	pr_policy_id("allowedBy", val->policy_id);
}

CNICTL_DECODER(cnictl_dec_pol_exact) = {
    .map = SL_MAP_POL_EXACT,
    .doc = "policy: allowed (endpoint, direction, peer, protocol or any, port or any) -> rule "
	   "(index/rule)",
    .key_size = sizeof(struct pol_exact_key),
    .value_size = sizeof(struct pol_val),
    .key = pol_exact_key,
    .value = pol_value,
};

CNICTL_DECODER(cnictl_dec_pol) = {
    .map = SL_MAP_POL,
    .doc = "policy: allowed (endpoint, direction, peer, protocol, port range) -> rule "
	   "(index/rule)",
    .key_size = sizeof(struct pol_key),
    .value_size = sizeof(struct pol_val),
    .key = pol_key,
    .value = pol_value,
};

static void pol_cidr_key(const void *k)
{
	const struct pol_cidr_key *key = k;
	struct sl_cidr c = {.family = key->family};
	char buf[SL_ADDR_STRLEN + 8];
	unsigned int full = key->family == SL_AF_INET6 ? 128 : 32;

	pr_u64("endpoint", key->ep_id);
	pr_str("dir", sl_dir_name(key->dir));
	if ((key->family != SL_AF_INET && key->family != SL_AF_INET6) ||
	    key->prefixlen < SL_POL_CIDR_PREFIX_BASE ||
	    key->prefixlen - SL_POL_CIDR_PREFIX_BASE > full) {
		pr_strf("cidr", "? (family %u, prefixlen %u)", key->family, key->prefixlen);
		return;
	}
	memcpy(&c.addr, &key->addr, sizeof(c.addr));
	c.plen = (__u8)(key->prefixlen - SL_POL_CIDR_PREFIX_BASE);
	pr_str("cidr", sl_cidr_str(&c, buf, sizeof(buf)));
}

static void pol_cidr_value(const void *k, const void *v)
{
	const struct pol_cidr_val *val = v;

	(void)k;
	if (val->peer == SL_POL_CLASS_NONE)
		pr_str("peer", "none (excepted)");
	else
		pr_peer(val->peer);
}

CNICTL_DECODER(cnictl_dec_pol_cidr) = {
    .map = SL_MAP_POL_CIDR,
    .doc = "policy: ipBlock prefixes per endpoint and direction -> CIDR class (peer in sluice_pol*)",
    .key_size = sizeof(struct pol_cidr_key),
    .value_size = sizeof(struct pol_cidr_val),
    .key = pol_cidr_key,
    .value = pol_cidr_value,
};
