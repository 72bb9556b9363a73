// SPDX-License-Identifier: Apache-2.0
/*
 * BPF_PROG_TEST_RUN tables for the NetworkPolicy lookup (datapath/lib/policy.h)
 * through tests/datapath/policy_harness.bpf.c. Each suite fills the three
 * policy maps the way sluiced's compiler does, then runs a table of
 * connections and checks verdict and policy_id. Needs root (BPF).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <criterion/criterion.h>

#include <sluice/metrics.h>
#include <sluice/policy.h>
#include "addr.h"
#include "../datapath/lib/pkt.h"
#include "policy_harness.skel.h"

struct policy_case_rec {
	struct pkt p;
	__u32 ep_id;
	__u32 peer_identity;
	__u8 dir;
	__u8 pad[3];
};

static struct policy_harness *skel;

static void setup(void)
{
	struct bpf_map *m;

	cr_assert(geteuid() == 0, "test_policy needs root (BPF_PROG_TEST_RUN, map creation)");
	skel = policy_harness__open();
	cr_assert(skel, "policy_harness__open failed: %s", strerror(errno));
	/* Never pin: the maps of this test are private. */
	bpf_object__for_each_map(m, skel->obj)
		bpf_map__set_pin_path(m, NULL);
	cr_assert(policy_harness__load(skel) == 0, "policy_harness__load failed");
}

static void teardown(void)
{
	policy_harness__destroy(skel);
	skel = NULL;
}

static void ep_set(__u32 ep_id, __u32 flags, __u32 deny_egress, __u32 deny_ingress)
{
	struct pol_ep_val v = { .flags = flags, .deny_id = { deny_egress, deny_ingress } };

	cr_assert(bpf_map_update_elem(bpf_map__fd(skel->maps.sluice_pol_ep), &ep_id, &v, 0) == 0);
}

/* An allow entry: proto 0 = any protocol; plen_port = number of dport bits
 * matched (0 = any port of proto, 16 = exactly port). Like sluiced, ranges
 * (0 < plen_port < 16) go to the sluice_pol LPM, the rest to the
 * sluice_pol_exact hash with 0 for "any". */
static void pol_add(__u32 ep_id, __u8 dir, __u32 peer, __u8 proto, __u16 port, int plen_port,
		    __u32 policy_id)
{
	struct pol_val v = { .policy_id = policy_id };

	if (proto && plen_port > 0 && plen_port < 16) {
		struct pol_key k = {
			.prefixlen = SL_POL_PREFIX_BASE + 8 + plen_port,
			.ep_id = ep_id, .peer = peer, .dir = dir, .proto = proto,
			.dport = htons(port),
		};

		cr_assert(bpf_map_update_elem(bpf_map__fd(skel->maps.sluice_pol), &k, &v, 0) == 0,
			  "pol_add (range): %s", strerror(errno));
	} else {
		struct pol_exact_key k = {
			.ep_id = ep_id, .peer = peer, .dir = dir, .proto = proto,
			.dport = proto && plen_port ? htons(port) : 0,
		};

		cr_assert(bpf_map_update_elem(bpf_map__fd(skel->maps.sluice_pol_exact), &k, &v,
					      0) == 0,
			  "pol_add (exact): %s", strerror(errno));
	}
}

static void cidr_add(__u32 ep_id, __u8 dir, const char *cidr, __u32 class)
{
	struct pol_cidr_key k = { .ep_id = ep_id, .dir = dir };
	struct pol_cidr_val v = { .peer = SL_POL_PEER_CIDR | class };
	struct sl_cidr c;

	cr_assert(sl_cidr_parse(cidr, &c, false) == 0, "bad cidr %s", cidr);
	k.prefixlen = SL_POL_CIDR_PREFIX_BASE + c.plen;
	k.family = c.family;
	k.addr = c.addr;
	cr_assert(bpf_map_update_elem(bpf_map__fd(skel->maps.sluice_pol_cidr), &k, &v, 0) == 0,
		  "cidr_add: %s", strerror(errno));
}

struct lookup_case {
	const char *desc;
	__u32 ep_id;
	__u8 dir;
	__u32 peer_identity;
	const char *peer_ip; /* the remote address */
	__u8 proto;
	__u16 dport;
	int want_reason;
	__u32 want_policy_id;
};

static void run_case(const struct lookup_case *c)
{
	struct policy_case_rec rec = {};
	unsigned char pkt[14 + sizeof(rec)];
	union sl_addr peer;
	__u8 family;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt));

	cr_assert(sl_addr_parse(c->peer_ip, &peer, &family) == 0);
	rec.p.family = family;
	rec.p.eth_proto = family == SL_AF_INET ? 0x0800 : 0x86dd;
	rec.p.proto = c->proto;
	rec.p.dport = htons(c->dport);
	rec.p.sport = htons(40000);
	if (c->dir == SL_DIR_EGRESS)
		rec.p.daddr = peer;
	else
		rec.p.saddr = peer;
	rec.ep_id = c->ep_id;
	rec.peer_identity = c->peer_identity;
	rec.dir = c->dir;
	memset(pkt, 0, 14);
	pkt[12] = 0x08;
	memcpy(pkt + 14, &rec, sizeof(rec));
	cr_assert(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.policy_harness), &opts) == 0,
		  "%s: test run failed: %s", c->desc, strerror(errno));
	cr_expect(skel->bss->out_reason == c->want_reason, "%s: reason %d, expected %d", c->desc,
		  skel->bss->out_reason, c->want_reason);
	cr_expect(skel->bss->out_policy_id == c->want_policy_id,
		  "%s: policy_id %#x, expected %#x", c->desc, skel->bss->out_policy_id,
		  c->want_policy_id);
	cr_expect(opts.retval == (__u32)(c->want_reason == SL_FORWARDED ? 0 : 2),
		  "%s: retval %u", c->desc, opts.retval);
}

#define EG SL_DIR_EGRESS
#define IN SL_DIR_INGRESS
#define OK SL_FORWARDED
#define DE SL_DROP_POLICY_EGRESS
#define DI SL_DROP_POLICY_INGRESS
#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP
#define SCTP IPPROTO_SCTP
#define ICMP IPPROTO_ICMP
#define P(i, r) SL_POL_ID(i, r)

TestSuite(policy_lookup, .init = setup, .fini = teardown);

/* Endpoint 7: ingress isolated by policy 3; egress open.
 *   rule 1: identity 300 -> TCP 80
 *   rule 2: identity 301 -> any protocol, any port
 *   rule 3: identity 302 -> TCP 8000-8003 (prefix 8000/14) and UDP any port
 */
Test(policy_lookup, identity_ports_wildcards)
{
	ep_set(7, SL_POL_F_INGRESS | SL_POL_F_RANGE_INGRESS, 0, P(3, 0));
	pol_add(7, IN, 300, TCP, 80, 16, P(3, 1));
	pol_add(7, IN, 301, 0, 0, 0, P(3, 2));
	pol_add(7, IN, 302, TCP, 8000, 14, P(3, 3));
	pol_add(7, IN, 302, UDP, 0, 0, P(3, 3));
	static const struct lookup_case cases[] = {
		{ "identity+port allowed", 7, IN, 300, "10.244.0.5", TCP, 80, OK, P(3, 1) },
		{ "identity, other port", 7, IN, 300, "10.244.0.5", TCP, 81, DI, P(3, 0) },
		{ "identity, other proto", 7, IN, 300, "10.244.0.5", UDP, 80, DI, P(3, 0) },
		{ "unknown identity", 7, IN, 399, "10.244.0.5", TCP, 80, DI, P(3, 0) },
		{ "any-port rule, TCP", 7, IN, 301, "10.244.0.6", TCP, 12345, OK, P(3, 2) },
		{ "any-port rule, SCTP", 7, IN, 301, "10.244.0.6", SCTP, 9, OK, P(3, 2) },
		{ "any-port rule, ICMP", 7, IN, 301, "10.244.0.6", ICMP, 77, OK, P(3, 2) },
		{ "range low end", 7, IN, 302, "10.244.0.7", TCP, 8000, OK, P(3, 3) },
		{ "range high end", 7, IN, 302, "10.244.0.7", TCP, 8003, OK, P(3, 3) },
		{ "below range", 7, IN, 302, "10.244.0.7", TCP, 7999, DI, P(3, 0) },
		{ "above range", 7, IN, 302, "10.244.0.7", TCP, 8004, DI, P(3, 0) },
		{ "proto any port", 7, IN, 302, "10.244.0.7", UDP, 53, OK, P(3, 3) },
		{ "ICMP not in port rules", 7, IN, 302, "10.244.0.7", ICMP, 1, DI, P(3, 0) },
		{ "host always allowed in", 7, IN, 1, "10.244.0.1", TCP, 22, OK, 0 },
		{ "egress not isolated", 7, EG, 399, "8.8.8.8", UDP, 53, OK, 0 },
		{ "unknown endpoint open", 8, IN, 399, "10.244.0.5", TCP, 80, OK, 0 },
		{ "other endpoint's entries do not leak", 8, IN, 300, "10.244.0.5", TCP, 80, OK, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* Overlapping forms for one peer: the longest prefix decides, whichever map
 * holds it. Endpoint 21 (ingress, policy 4), identity 700:
 *   rule 1: TCP 80 (exact)         rule 2: TCP 80-83 (range 80/14)
 *   rule 3: TCP any port           rule 4: any protocol
 * and through the CIDR class (0.0.0.0/0 -> class 1): UDP 5000-5001 (rule 5),
 * UDP any port (rule 6). Endpoint 22 has the same range entries but not the
 * range flag: sluiced never writes that, and the datapath then skips the
 * LPM (the flag is what keeps endpoints without ranges off the trie). */
Test(policy_lookup, port_forms_longest_prefix)
{
	ep_set(21, SL_POL_F_INGRESS | SL_POL_F_RANGE_INGRESS, 0, P(4, 0));
	pol_add(21, IN, 700, TCP, 80, 16, P(4, 1));
	pol_add(21, IN, 700, TCP, 80, 14, P(4, 2));
	pol_add(21, IN, 700, TCP, 0, 0, P(4, 3));
	pol_add(21, IN, 700, 0, 0, 0, P(4, 4));
	cidr_add(21, IN, "0.0.0.0/0", 1);
	pol_add(21, IN, SL_POL_PEER_CIDR | 1, UDP, 5000, 15, P(4, 5));
	pol_add(21, IN, SL_POL_PEER_CIDR | 1, UDP, 0, 0, P(4, 6));
	ep_set(22, SL_POL_F_INGRESS, 0, P(5, 0));
	pol_add(22, IN, 700, TCP, 80, 14, P(5, 2));
	static const struct lookup_case cases[] = {
		{ "exact beats range", 21, IN, 700, "10.244.0.5", TCP, 80, OK, P(4, 1) },
		{ "range beats any port", 21, IN, 700, "10.244.0.5", TCP, 83, OK, P(4, 2) },
		{ "any port beats any proto", 21, IN, 700, "10.244.0.5", TCP, 84, OK, P(4, 3) },
		{ "any proto", 21, IN, 700, "10.244.0.5", UDP, 5000, OK, P(4, 4) },
		{ "class: range", 21, IN, 701, "10.244.0.6", UDP, 5001, OK, P(4, 5) },
		{ "class: any port", 21, IN, 701, "10.244.0.6", UDP, 5002, OK, P(4, 6) },
		{ "class: other proto", 21, IN, 701, "10.244.0.6", TCP, 5000, DI, P(4, 0) },
		{ "no range flag: LPM skipped", 22, IN, 700, "10.244.0.5", TCP, 81, DI, P(5, 0) },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* Endpoint 9, egress isolated by policy 5:
 *   rule 1: ipBlock 10.244.0.0/16 except 10.244.1.0/24 -> TCP 80  (class 1)
 *   rule 2: ipBlock 10.244.1.0/24 except 10.244.1.7/32  -> UDP any (class 2)
 *   class 0 (except carved out, nothing else covers): 10.244.1.7/32
 *   rule 3: identity 500 -> TCP 443
 *   ingress isolated by policy 6 with rule 1: any peer (0.0.0.0/0, ::/0) -> TCP 81
 */
Test(policy_lookup, cidr_except_on_pod_ips)
{
	ep_set(9, SL_POL_F_EGRESS | SL_POL_F_INGRESS, P(5, 0), P(6, 0));
	cidr_add(9, EG, "10.244.0.0/16", 1);
	cidr_add(9, EG, "10.244.1.0/24", 2);
	cidr_add(9, EG, "10.244.1.7/32", 0);
	pol_add(9, EG, SL_POL_PEER_CIDR | 1, TCP, 80, 16, P(5, 1));
	pol_add(9, EG, SL_POL_PEER_CIDR | 2, UDP, 0, 0, P(5, 2));
	pol_add(9, EG, 500, TCP, 443, 16, P(5, 3));
	cidr_add(9, IN, "0.0.0.0/0", 1);
	cidr_add(9, IN, "::/0", 1);
	pol_add(9, IN, SL_POL_PEER_CIDR | 1, TCP, 81, 16, P(6, 1));
	static const struct lookup_case cases[] = {
		{ "pod IP in block", 9, EG, 300, "10.244.2.3", TCP, 80, OK, P(5, 1) },
		{ "pod IP in block, wrong port", 9, EG, 300, "10.244.2.3", TCP, 81, DE, P(5, 0) },
		{ "pod IP in except of rule 1", 9, EG, 300, "10.244.1.3", TCP, 80, DE, P(5, 0) },
		{ "except of rule 1 is rule 2's block", 9, EG, 300, "10.244.1.3", UDP, 53, OK, P(5, 2) },
		{ "except of rule 2 (pod IP)", 9, EG, 300, "10.244.1.7", UDP, 53, DE, P(5, 0) },
		{ "except of both, TCP 80", 9, EG, 300, "10.244.1.7", TCP, 80, DE, P(5, 0) },
		{ "outside every block", 9, EG, 2, "8.8.8.8", TCP, 80, DE, P(5, 0) },
		{ "identity match beats except", 9, EG, 500, "10.244.1.7", TCP, 443, OK, P(5, 3) },
		{ "IPv6 outside v4 blocks", 9, EG, 2, "fd00::1", UDP, 53, DE, P(5, 0) },
		{ "any peer v4", 9, IN, 2, "192.0.2.1", TCP, 81, OK, P(6, 1) },
		{ "any peer v6", 9, IN, 2, "fd00::9", TCP, 81, OK, P(6, 1) },
		{ "any peer, wrong port", 9, IN, 2, "192.0.2.1", TCP, 80, DI, P(6, 0) },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* A named port is resolved by sluiced into a number per destination: the
 * datapath sees only numbers. Endpoint 11 (ingress, policy 2): "http" is
 * container port 8080 on this pod, so the entry is TCP 8080; SCTP 7/16. */
Test(policy_lookup, named_port_resolved_and_sctp)
{
	ep_set(11, SL_POL_F_INGRESS, 0, P(2, 0));
	pol_add(11, IN, 600, TCP, 8080, 16, P(2, 1));
	pol_add(11, IN, 600, SCTP, 7, 16, P(2, 2));
	static const struct lookup_case cases[] = {
		{ "named port number", 11, IN, 600, "10.244.3.1", TCP, 8080, OK, P(2, 1) },
		{ "name's number is not 80", 11, IN, 600, "10.244.3.1", TCP, 80, DI, P(2, 0) },
		{ "sctp port", 11, IN, 600, "10.244.3.1", SCTP, 7, OK, P(2, 2) },
		{ "udp same port", 11, IN, 600, "10.244.3.1", UDP, 7, DI, P(2, 0) },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

/* Flat cost: 10,000 other endpoints with entries do not change verdicts,
 * and the lookup stays the same bounded set of map operations. */
Test(policy_lookup, many_endpoints)
{
	for (__u32 ep = 1000; ep < 11000; ep++) {
		ep_set(ep, SL_POL_F_INGRESS, 0, P(ep, 0));
		pol_add(ep, IN, 300, TCP, 80, 16, P(ep, 1));
	}
	static const struct lookup_case cases[] = {
		{ "ep 1000 allows 300", 1000, IN, 300, "10.244.0.5", TCP, 80, OK, P(1000, 1) },
		{ "ep 10999 allows 300", 10999, IN, 300, "10.244.0.5", TCP, 80, OK, P(10999, 1) },
		{ "ep 10999 denies 301", 10999, IN, 301, "10.244.0.5", TCP, 80, DI, P(10999, 0) },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}
