/* SPDX-License-Identifier: Apache-2.0 */
/* BPF_PROG_TEST_RUN tests of Service load-balancing in tc: first-packet
 * translation, reverse translation of replies (local and remote backend),
 * established flows keeping their backend, ClientIP affinity, Maglev
 * lookup, refusal without backends, hairpin. Each test runs in a private
 * network namespace holding two veth pairs (hva/pa for pod A, hvb/pb for
 * pod B) so programs can run "on" either pod's host veth. Needs root. */
#include <time.h>

#include "dp_test.h"
#include "from_pod.skel.h"
#include "to_pod.skel.h"

static const uint8_t A_MAC[6] = { 0x02, 0xaa, 0, 0, 0, 0x0a };
static const uint8_t A_HMAC[6] = { 0x02, 0xee, 0, 0, 0, 0x0a };
static const uint8_t B_MAC[6] = { 0x02, 0xaa, 0, 0, 0, 0x0b };
static const uint8_t B_HMAC[6] = { 0x02, 0xee, 0, 0, 0, 0x0b };
#define A_IP "10.244.0.10"
#define B_IP "10.244.0.11"
#define R_IP "10.244.1.5" /* a backend on another node */
#define VIP1 "10.96.0.10" /* -> B only (or as the table says) */
#define VIP2 "10.96.0.20" /* -> A only: hairpin for A */
#define VIP3 "10.96.0.30" /* -> B or R, ClientIP affinity */
#define VIP4 "10.96.0.40" /* no ready backend */
#define BE_B 11
#define BE_R 12
#define BE_A 13

static struct from_pod *fp;
static struct to_pod *tpod;
static uint32_t a_if, b_if;

static void put_backend(uint32_t id, const char *ip, uint16_t port)
{
	struct backend_val v = { .port = htons(port), .proto = IPPROTO_TCP, .family = SL_AF_INET };

	v.addr.v4 = tp_ip(ip);
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_backend), &id, &v, BPF_ANY), 0);
}

/* Fill svc_id's Maglev table: slot i holds ids[i % n]. */
static void put_table(uint32_t svc_id, const uint32_t *ids, unsigned int n)
{
	uint32_t m = fp->rodata->maglev_m, *tbl = calloc(m, sizeof(*tbl)), i;

	cr_assert_not_null(tbl);
	for (i = 0; i < m; i++)
		tbl[i] = ids[i % n];
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_maglev), &svc_id, tbl, BPF_ANY),
		     0, "maglev %u: %s", svc_id, strerror(errno));
	free(tbl);
}

static void put_svc(const char *vip, uint16_t port, uint8_t proto, uint32_t id, uint16_t count,
		    uint16_t flags, uint32_t aff_timeout)
{
	struct svc_key k = { .port = htons(port), .proto = proto, .family = SL_AF_INET };
	struct svc_val v = { .svc_id = id, .backend_count = count, .flags = flags,
			     .affinity_timeout = aff_timeout, .rev_nat_id = id };
	struct revnat_val rn = { .port = htons(port), .family = SL_AF_INET };

	k.addr.v4 = tp_ip(vip);
	rn.addr.v4 = tp_ip(vip);
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_revnat), &id, &rn, BPF_ANY), 0);
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_svc), &k, &v, BPF_ANY), 0);
}

static void setup(void)
{
	uint32_t b[] = { BE_B }, a[] = { BE_A }, br[] = { BE_B, BE_R };

	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare(CLONE_NEWNET): %s (needs root)",
		     strerror(errno));
	a_if = tp_netns_veth("hva", "pa");
	b_if = tp_netns_veth("hvb", "pb");

	fp = from_pod__open();
	cr_assert_not_null(fp);
	tp_unpin(fp->obj);
	cr_assert_eq(from_pod__load(fp), 0, "load from_pod: %s", strerror(errno));
	tpod = to_pod__open();
	cr_assert_not_null(tpod);
	tp_unpin(tpod->obj);
	tp_share_maps(tpod->obj, fp->obj);
	cr_assert_eq(to_pod__load(tpod), 0, "load to_pod: %s", strerror(errno));

	TP_ADD_EP(fp, A_IP, a_if, 300, A_MAC, A_HMAC);
	TP_ADD_EP(fp, B_IP, b_if, 301, B_MAC, B_HMAC);
	put_backend(BE_B, B_IP, 8080);
	put_backend(BE_R, R_IP, 8080);
	put_backend(BE_A, A_IP, 8080);
	put_table(1, b, 1);
	put_svc(VIP1, 80, IPPROTO_TCP, 1, 1, 0, 0);
	put_table(5, b, 1);
	put_svc(VIP1, 53, IPPROTO_UDP, 5, 1, 0, 0);
	put_table(2, a, 1);
	put_svc(VIP2, 80, IPPROTO_TCP, 2, 1, 0, 0);
	put_table(3, br, 2);
	put_svc(VIP3, 80, IPPROTO_TCP, 3, 2, SL_SVC_F_AFFINITY, 300);
	put_svc(VIP4, 80, IPPROTO_TCP, 4, 0, 0, 0);
	put_svc(VIP4, 53, IPPROTO_UDP, 6, 0, 0, 0);
}

static void teardown(void)
{
	to_pod__destroy(tpod);
	from_pod__destroy(fp);
}

TestSuite(dp_lb, .init = setup, .fini = teardown);

/* Header fields of a frame of any alignment. */
static struct iphdr ip_hdr;
static const struct iphdr *ip_of(const uint8_t *f)
{
	ip_hdr = tp_iph(f);
	return &ip_hdr;
}
static uint16_t port_at(const uint8_t *f, size_t off)
{
	uint16_t p;

	memcpy(&p, f + ETH_HLEN + ip_of(f)->ihl * 4 + off, sizeof(p));
	return ntohs(p);
}
static uint16_t sport_of(const uint8_t *f)
{
	return port_at(f, 0);
}
static uint16_t dport_of(const uint8_t *f)
{
	return port_at(f, 2);
}

/* Assert the frame's addresses and ports (host-order ports). */
static void expect_tuple(const char *what, const uint8_t *f, const char *sa, uint16_t sp,
			 const char *da, uint16_t dp)
{
	char s[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &ip_of(f)->saddr, s, sizeof(s));
	inet_ntop(AF_INET, &ip_of(f)->daddr, d, sizeof(d));
	cr_expect(ip_of(f)->saddr == tp_ip(sa) && ip_of(f)->daddr == tp_ip(da) &&
			  sport_of(f) == sp && dport_of(f) == dp,
		  "%s: %s:%u -> %s:%u, want %s:%u -> %s:%u", what, s, sport_of(f), d, dport_of(f),
		  sa, sp, da, dp);
}

static struct tp_spec from_a(const char *daddr, uint8_t proto, uint16_t sport, uint16_t dport,
			     uint8_t flags)
{
	struct tp_spec s = { .smac = { 0x02, 0xaa, 0, 0, 0, 0x0a },
			     .dmac = { 0x02, 0xee, 0, 0, 0, 0x0a },
			     .saddr = A_IP, .daddr = daddr, .proto = proto, .sport = sport,
			     .dport = dport, .tcp_flags = flags, .payload = 6 };
	return s;
}

/* First packet to a ClusterIP: DNAT to the backend (a local pod, so it is
 * also delivered), checksums fixed, both conntrack entries created. */
Test(dp_lb, first_packet_translation)
{
	uint8_t in[TP_MAX], out[TP_MAX];
	struct tp_spec s = from_a(VIP1, IPPROTO_TCP, 40000, 80, 0x02);
	struct ct_key k = { .proto = IPPROTO_TCP };
	struct ct_entry e;
	uint32_t out_len;
	size_t len = tp_build(in, &s);
	int ret = tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);

	cr_assert_eq(ret, TC_ACT_REDIRECT, "verdict %d, want redirect to the backend pod", ret);
	expect_tuple("TCP after DNAT", out, A_IP, 40000, B_IP, 8080);
	tp_assert_csums(out, out_len);
	cr_expect_arr_eq(out, B_MAC, 6, "not delivered to B's MAC");

	k.saddr = tp_ip(A_IP);
	k.daddr = tp_ip(VIP1);
	k.sport = htons(40000);
	k.dport = htons(80);
	cr_assert_eq(bpf_map_lookup_elem(bpf_map__fd(fp->maps.sluice_ct), &k, &e), 0,
		     "no frontend entry");
	cr_expect_eq(e.backend_id, BE_B, "frontend entry backend %u, want %u", e.backend_id, BE_B);
	cr_expect(e.flags & SL_CT_F_FRONT, "flags %#x lack FRONT", e.flags);
	cr_expect_eq(e.nat_addr, tp_ip(B_IP), "frontend entry's backend address");
	cr_expect_eq(e.nat_port, htons(8080), "frontend entry's backend port");
	k.daddr = tp_ip(B_IP);
	k.dport = htons(8080);
	cr_assert_eq(bpf_map_lookup_elem(bpf_map__fd(fp->maps.sluice_ct), &k, &e), 0,
		     "no connection entry for the post-DNAT tuple");
	cr_expect_eq(e.rev_nat_id, 1, "rev_nat_id %u", e.rev_nat_id);
	cr_expect(e.flags & SL_CT_F_SVC, "flags %#x lack SVC", e.flags);
	cr_expect_eq(e.nat_addr, tp_ip(VIP1), "connection entry's frontend address");
	cr_expect_eq(e.nat_port, htons(80), "connection entry's frontend port");

	/* UDP, to a different frontend port of the same ClusterIP. */
	s = from_a(VIP1, IPPROTO_UDP, 40001, 53, 0);
	len = tp_build(in, &s);
	ret = tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);
	cr_assert_eq(ret, TC_ACT_REDIRECT, "UDP verdict %d", ret);
	expect_tuple("UDP after DNAT", out, A_IP, 40001, B_IP, 8080);
	tp_assert_csums(out, out_len);
	/* A port with no frontend is left alone (goes to the node stack). */
	s = from_a(VIP1, IPPROTO_TCP, 40002, 81, 0x02);
	len = tp_build(in, &s);
	ret = tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);
	cr_expect_eq(ret, TC_ACT_OK, "no frontend: verdict %d", ret);
	cr_expect_arr_eq(out, in, len, "no frontend: packet modified");
}

/* Replies come back from the frontend: from a local backend (from_pod on
 * B's veth) and from a backend behind the node stack (to_pod on A's). */
Test(dp_lb, reply_reverse_translation)
{
	uint8_t in[TP_MAX], out[TP_MAX];
	struct tp_spec s = from_a(VIP1, IPPROTO_TCP, 40010, 80, 0x02);
	struct tp_spec r = { .smac = { 0x02, 0xaa, 0, 0, 0, 0x0b }, .dmac = { 0x02, 0xee, 0, 0, 0, 0x0b },
			     .saddr = B_IP, .daddr = A_IP, .proto = IPPROTO_TCP, .sport = 8080,
			     .dport = 40010, .tcp_flags = 0x12 };
	uint32_t out_len, r_only[] = { BE_R };
	size_t len;
	int ret;

	len = tp_build(in, &s);
	cr_assert_eq(tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len), TC_ACT_REDIRECT);
	len = tp_build(in, &r);
	ret = tp_run_if(fp->progs.from_pod, b_if, in, len, out, &out_len);
	cr_assert_eq(ret, TC_ACT_REDIRECT, "reply from B: verdict %d, want redirect to A", ret);
	expect_tuple("reply from local backend", out, VIP1, 80, A_IP, 40010);
	tp_assert_csums(out, out_len);
	cr_expect_arr_eq(out, A_MAC, 6, "reply not delivered to A's MAC");

	/* Remote backend: A's packet goes up the stack DNATed, the reply
	 * comes down through to_pod. */
	put_table(1, r_only, 1);
	s = from_a(VIP1, IPPROTO_TCP, 40011, 80, 0x02);
	len = tp_build(in, &s);
	ret = tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);
	cr_assert_eq(ret, TC_ACT_OK, "to remote backend: verdict %d", ret);
	expect_tuple("DNAT to remote backend", out, A_IP, 40011, R_IP, 8080);
	tp_assert_csums(out, out_len);
	r.saddr = R_IP;
	r.dport = 40011;
	r.smac[5] = 0x99;
	len = tp_build(in, &r);
	ret = tp_run_if(tpod->progs.to_pod, a_if, in, len, out, &out_len);
	cr_assert_eq(ret, TC_ACT_OK, "reply via to_pod: verdict %d", ret);
	expect_tuple("reply from remote backend", out, VIP1, 80, A_IP, 40011);
	tp_assert_csums(out, out_len);
}

/* A flow stays on its backend when the Maglev table changes, moves when
 * its backend is deleted; new flows follow the new table. */
Test(dp_lb, established_flow_keeps_backend)
{
	uint8_t in[TP_MAX], out[TP_MAX];
	struct tp_spec s = from_a(VIP1, IPPROTO_TCP, 40020, 80, 0x02);
	uint32_t out_len, r_only[] = { BE_R }, id = BE_B;
	struct ct_key fk = { .sport = htons(40020), .dport = htons(80), .proto = IPPROTO_TCP };
	size_t len;
	int ret;

	fk.saddr = tp_ip(A_IP);
	fk.daddr = tp_ip(VIP1);
	len = tp_build(in, &s);
	cr_assert_eq(tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len), TC_ACT_REDIRECT);
	put_table(1, r_only, 1);
	s.tcp_flags = 0x10;
	len = tp_build(in, &s);
	ret = tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);
	cr_expect_eq(ret, TC_ACT_REDIRECT, "ACK after the table change: verdict %d", ret);
	expect_tuple("established flow", out, A_IP, 40020, B_IP, 8080);

	s = from_a(VIP1, IPPROTO_TCP, 40021, 80, 0x02);
	len = tp_build(in, &s);
	ret = tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);
	cr_expect_eq(ret, TC_ACT_OK, "new flow: verdict %d", ret);
	expect_tuple("new flow after the table change", out, A_IP, 40021, R_IP, 8080);

	/* B deleted, as sluiced does it: the backend, then its flows'
	 * frontend entries (40020's here). */
	cr_assert_eq(bpf_map_delete_elem(bpf_map__fd(fp->maps.sluice_backend), &id), 0);
	cr_assert_eq(bpf_map_delete_elem(bpf_map__fd(fp->maps.sluice_ct), &fk), 0,
		     "no frontend entry for the established flow");
	s = from_a(VIP1, IPPROTO_TCP, 40020, 80, 0x10);
	len = tp_build(in, &s);
	ret = tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);
	cr_expect_eq(ret, TC_ACT_OK, "flow whose backend is gone: verdict %d", ret);
	expect_tuple("flow re-balanced after its backend was deleted", out, A_IP, 40020, R_IP, 8080);
}

/* The datapath's own safety net: a flow whose backend vanished while its
 * frontend entry stayed is re-balanced at its next state change. */
Test(dp_lb, flow_of_vanished_backend_rebalanced_on_state_change)
{
	uint8_t in[TP_MAX], out[TP_MAX];
	struct tp_spec s = from_a(VIP1, IPPROTO_TCP, 40030, 80, 0x02);
	uint32_t out_len, r_only[] = { BE_R }, id = BE_B;
	size_t len;
	int ret;

	len = tp_build(in, &s);
	cr_assert_eq(tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len), TC_ACT_REDIRECT);
	expect_tuple("SYN to B", out, A_IP, 40030, B_IP, 8080);
	put_table(1, r_only, 1);
	cr_assert_eq(bpf_map_delete_elem(bpf_map__fd(fp->maps.sluice_backend), &id), 0);
	s.tcp_flags = 0x10; /* the handshake's ACK: NEW -> ESTABLISHED */
	len = tp_build(in, &s);
	ret = tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);
	cr_expect_eq(ret, TC_ACT_OK, "ACK of a flow whose backend is gone: verdict %d", ret);
	expect_tuple("re-balanced at the state change", out, A_IP, 40030, R_IP, 8080);
}

/* ClientIP affinity: every new connection of A lands on the backend of its
 * first one, although the table spreads tuples over two backends. */
Test(dp_lb, affinity)
{
	uint8_t in[TP_MAX], out[TP_MAX];
	struct affinity_key ak = { .svc_id = 3, .family = SL_AF_INET };
	struct affinity_val av;
	uint32_t out_len, first = 0;
	int i;

	for (i = 0; i < 24; i++) {
		struct tp_spec s = from_a(VIP3, IPPROTO_TCP, 41000 + i * 7, 80, 0x02);
		size_t len = tp_build(in, &s);
		uint32_t d;

		tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);
		d = ip_of(out)->daddr;
		cr_assert(d == tp_ip(B_IP) || d == tp_ip(R_IP), "connection %d not DNATed", i);
		if (!first)
			first = d;
		cr_expect_eq(d, first, "connection %d went to another backend despite affinity", i);
	}
	ak.client.v4 = tp_ip(A_IP);
	cr_assert_eq(bpf_map_lookup_elem(bpf_map__fd(fp->maps.sluice_affinity), &ak, &av), 0,
		     "no affinity entry");
	cr_expect_eq(av.backend_id, first == tp_ip(B_IP) ? BE_B : BE_R, "affinity backend %u",
		     av.backend_id);
}

/* Affinity follows a remembered backend only while it takes new flows: a
 * terminating one is skipped and Maglev picks again. */
Test(dp_lb, affinity_skips_terminating_backend)
{
	uint8_t in[TP_MAX], out[TP_MAX];
	struct affinity_key ak = { .svc_id = 3, .family = SL_AF_INET };
	struct affinity_val av = { .last_used_ns = 0, .backend_id = BE_B };
	struct backend_val be;
	struct timespec now;
	uint32_t out_len, id = BE_B, r_only[] = { BE_R };
	int be_fd = bpf_map__fd(fp->maps.sluice_backend);
	struct tp_spec s = from_a(VIP3, IPPROTO_TCP, 43001, 80, 0x02);
	size_t len = tp_build(in, &s);

	clock_gettime(CLOCK_MONOTONIC, &now);
	av.last_used_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	ak.client.v4 = tp_ip(A_IP);
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_affinity), &ak, &av, BPF_ANY), 0);
	cr_assert_eq(bpf_map_lookup_elem(be_fd, &id, &be), 0);
	be.state = SL_BE_TERMINATING;
	cr_assert_eq(bpf_map_update_elem(be_fd, &id, &be, BPF_ANY), 0);
	put_table(3, r_only, 1);

	tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);
	cr_expect_eq(ip_of(out)->daddr, tp_ip(R_IP),
		     "new flow followed affinity to a terminating backend (daddr %08x)",
		     ntohl(ip_of(out)->daddr));
}

/* Maglev lookup without affinity: the slot comes from the 5-tuple, so
 * different source ports spread over the backends of the table. */
Test(dp_lb, maglev_spreads_flows)
{
	uint8_t in[TP_MAX], out[TP_MAX];
	uint32_t out_len, br[] = { BE_B, BE_R };
	int i, to_b = 0, to_r = 0;

	put_table(1, br, 2);
	for (i = 0; i < 64; i++) {
		struct tp_spec s = from_a(VIP1, IPPROTO_TCP, 42000 + i, 80, 0x02);
		size_t len = tp_build(in, &s);

		tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);
		to_b += ip_of(out)->daddr == tp_ip(B_IP);
		to_r += ip_of(out)->daddr == tp_ip(R_IP);
	}
	cr_expect_eq(to_b + to_r, 64, "%d of 64 translated", to_b + to_r);
	cr_expect(to_b >= 16 && to_r >= 16, "uneven spread: %d to B, %d to R", to_b, to_r);
}

/* Header checks shared by both refusals: Ethernet back to A from its
 * gateway, IPv4 from the ClusterIP to A. */
static void expect_answer_headers(const char *desc, const uint8_t *out, uint32_t out_len,
				  uint32_t want_len, uint8_t proto)
{
	struct iphdr ip = tp_iph(out);

	cr_assert_eq(out_len, want_len, "[%s] answer is %u bytes, want %u", desc, out_len, want_len);
	cr_expect_arr_eq(out, A_MAC, 6, "[%s] not addressed to A's MAC", desc);
	cr_expect_arr_eq(out + 6, A_HMAC, 6, "[%s] not from A's gateway MAC", desc);
	cr_expect(out[12] == 0x08 && out[13] == 0x00, "[%s] ethertype", desc);
	cr_expect(ip.version == 4 && ip.ihl == 5 && ntohs(ip.tot_len) == want_len - ETH_HLEN &&
			  ip.protocol == proto && ip.ttl == 64,
		  "[%s] IP header (v%u ihl %u len %u proto %u ttl %u)", desc, ip.version, ip.ihl,
		  ntohs(ip.tot_len), ip.protocol, ip.ttl);
	cr_expect(ip.saddr == tp_ip(VIP4) && ip.daddr == tp_ip(A_IP),
		  "[%s] answer must come from the ClusterIP to A", desc);
	tp_assert_csums(out, out_len);
}

/* No ready backend, TCP: the SYN is answered at once with a reset from
 * the ClusterIP (RST+ACK acknowledging the SYN and its data), sent back
 * into the pod; a segment carrying an ACK gets a bare RST with its ack
 * number as sequence number. */
Test(dp_lb, no_backend_tcp_reset)
{
	static const struct {
		const char *desc;
		uint8_t flags;    /* of the client's segment */
		uint8_t rst_flags; /* of the answer */
		uint32_t seq, ack; /* of the answer */
	} cases[] = {
		/* tp_build: seq 1000, 6 bytes of payload; SYN counts one. */
		{ "SYN", 0x02, 0x14, 0, 1000 + 6 + 1 },
		{ "ACK (connection whose Service lost its backends)", 0x10, 0x04, 0, 0 },
	};
	int metrics = bpf_map__fd(fp->maps.sluice_metrics);
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t in[TP_MAX], out[TP_MAX];
		struct tp_spec s = from_a(VIP4, IPPROTO_TCP, 43000 + i, 80, cases[i].flags);
		uint64_t before = tp_metric(metrics, SL_DROP_NO_BACKEND, SL_DIR_EGRESS);
		struct tcphdr th;
		uint32_t out_len;
		size_t len = tp_build(in, &s);
		int ret;

		/* ack_seq of the client's segment (0 in tp_build): give it one. */
		if (cases[i].flags & 0x10) {
			uint32_t ack = htonl(777), c;
			struct iphdr ip = tp_iph(in);

			memcpy(in + ETH_HLEN + 20 + 8, &ack, 4);
			/* recompute the TCP checksum */
			memset(in + ETH_HLEN + 20 + 16, 0, 2);
			c = htons(~tp_fold(tp_sum(in + ETH_HLEN + 20, len - ETH_HLEN - 20,
						  tp_pseudo(&ip, len - ETH_HLEN - 20))));
			memcpy(in + ETH_HLEN + 20 + 16, &c, 2);
			tp_assert_csums(in, len);
		}
		ret = tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);
		cr_assert_eq(ret, TC_ACT_REDIRECT, "[%s] verdict %d, want the reset redirected",
			     cases[i].desc, ret);
		expect_answer_headers(cases[i].desc, out, out_len, ETH_HLEN + 20 + 20, IPPROTO_TCP);
		memcpy(&th, out + ETH_HLEN + 20, sizeof(th));
		cr_expect(ntohs(th.source) == 80 && ntohs(th.dest) == 43000 + i,
			  "[%s] ports %u -> %u", cases[i].desc, ntohs(th.source), ntohs(th.dest));
		cr_expect_eq(out[ETH_HLEN + 20 + 13], cases[i].rst_flags, "[%s] flags %#x, want %#x",
			     cases[i].desc, out[ETH_HLEN + 20 + 13], cases[i].rst_flags);
		cr_expect_eq(ntohl(th.ack_seq), cases[i].ack, "[%s] ack %u, want %u", cases[i].desc,
			     ntohl(th.ack_seq), cases[i].ack);
		cr_expect_eq(ntohl(th.seq), cases[i].flags & 0x10 ? 777 : cases[i].seq,
			     "[%s] seq %u", cases[i].desc, ntohl(th.seq));
		cr_expect_eq(th.doff, 5, "[%s] doff", cases[i].desc);
		cr_expect_eq(tp_metric(metrics, SL_DROP_NO_BACKEND, SL_DIR_EGRESS), before + 1,
			     "[%s] NO_BACKEND counter", cases[i].desc);
	}

	/* A reset to a frontend without backends is dropped, not answered. */
	{
		uint8_t in[TP_MAX], out[TP_MAX];
		struct tp_spec s = from_a(VIP4, IPPROTO_TCP, 43100, 80, 0x04);
		uint32_t out_len;
		size_t len = tp_build(in, &s);

		cr_expect_eq(tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len),
			     TC_ACT_SHOT, "a RST must not be answered");
	}
}

/* No ready backend, UDP: ICMP port unreachable from the ClusterIP quoting
 * the datagram's IP header and first 8 bytes. */
Test(dp_lb, no_backend_udp_port_unreachable)
{
	int metrics = bpf_map__fd(fp->maps.sluice_metrics);
	uint8_t in[TP_MAX], out[TP_MAX];
	struct tp_spec s = from_a(VIP4, IPPROTO_UDP, 43000, 53, 0);
	uint64_t before = tp_metric(metrics, SL_DROP_NO_BACKEND, SL_DIR_EGRESS);
	struct icmphdr ic;
	uint32_t out_len;
	size_t len = tp_build(in, &s);
	int ret = tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);

	cr_assert_eq(ret, TC_ACT_REDIRECT, "verdict %d, want the answer redirected", ret);
	expect_answer_headers("UDP", out, out_len, ETH_HLEN + 20 + 8 + 28, IPPROTO_ICMP);
	memcpy(&ic, out + ETH_HLEN + 20, sizeof(ic));
	cr_expect(ic.type == ICMP_DEST_UNREACH && ic.code == ICMP_PORT_UNREACH,
		  "ICMP %u/%u, want 3/3", ic.type, ic.code);
	cr_expect_arr_eq(out + ETH_HLEN + 28, in + ETH_HLEN, 28,
			 "quote is not the original IP header + 8 bytes");
	cr_expect_eq(tp_metric(metrics, SL_DROP_NO_BACKEND, SL_DIR_EGRESS), before + 1,
		     "NO_BACKEND counter");
}

/* Hairpin: A reaches a Service whose backend is A itself. The source is
 * rewritten to the service loopback so A accepts the packet; A's reply is
 * turned back into VIP -> A. */
Test(dp_lb, hairpin)
{
	uint8_t in[TP_MAX], out[TP_MAX];
	struct tp_spec s = from_a(VIP2, IPPROTO_TCP, 44000, 80, 0x02);
	struct tp_spec r = from_a("169.254.42.1", IPPROTO_TCP, 8080, 44000, 0x12);
	uint32_t out_len;
	size_t len = tp_build(in, &s);
	int ret = tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);

	cr_assert_eq(ret, TC_ACT_REDIRECT, "hairpin SYN: verdict %d, want redirect back to A", ret);
	expect_tuple("hairpin SYN", out, "169.254.42.1", 44000, A_IP, 8080);
	tp_assert_csums(out, out_len);
	cr_expect_arr_eq(out, A_MAC, 6, "hairpin SYN not delivered to A");

	len = tp_build(in, &r);
	ret = tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);
	cr_assert_eq(ret, TC_ACT_REDIRECT, "hairpin reply: verdict %d", ret);
	expect_tuple("hairpin reply", out, VIP2, 80, A_IP, 44000);
	tp_assert_csums(out, out_len);
}

/* Translation in both directions on the two checksum paths: in place
 * (plain headers; test_run skbs are CHECKSUM_NONE, like a packet whose
 * checksum the sender computed) and through the kernel helpers (IP
 * options put the L4 header elsewhere); a UDP checksum of 0 ("none")
 * stays 0. Every frame's checksums must verify. */
Test(dp_lb, translation_checksums_on_both_paths)
{
	static const struct {
		const char *desc;
		uint8_t proto, ip_opts;
		bool udp_no_csum;
	} cases[] = {
		{ "TCP, in place", IPPROTO_TCP, 0, false },
		{ "UDP, in place", IPPROTO_UDP, 0, false },
		{ "UDP without checksum, in place", IPPROTO_UDP, 0, true },
		{ "TCP with IP options, helpers", IPPROTO_TCP, 2, false },
		{ "UDP with IP options, helpers", IPPROTO_UDP, 1, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t sport = (uint16_t)(41000 + i), dport = cases[i].proto == IPPROTO_TCP ? 80 : 53;
		struct tp_spec s = from_a(VIP1, cases[i].proto, sport, dport,
					  cases[i].proto == IPPROTO_TCP ? 0x02 : 0);
		struct tp_spec r = { .smac = { 0x02, 0xaa, 0, 0, 0, 0x0b },
				     .dmac = { 0x02, 0xee, 0, 0, 0, 0x0b },
				     .saddr = B_IP, .daddr = A_IP, .proto = cases[i].proto,
				     .sport = 8080, .dport = sport, .tcp_flags = 0x12,
				     .payload = 6 };
		uint8_t in[TP_MAX], out[TP_MAX];
		uint32_t out_len;
		size_t len;
		int ret;

		cr_log_info("case: %s", cases[i].desc);
		s.ip_opts = r.ip_opts = cases[i].ip_opts;
		s.udp_no_csum = r.udp_no_csum = cases[i].udp_no_csum;
		s.payload = 6;
		len = tp_build(in, &s);
		ret = tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);
		cr_expect_eq(ret, TC_ACT_REDIRECT, "[%s] first packet: verdict %d", cases[i].desc,
			     ret);
		expect_tuple(cases[i].desc, out, A_IP, sport, B_IP, 8080);
		tp_assert_csums(out, out_len);
		if (cases[i].udp_no_csum)
			cr_expect(!(out[ETH_HLEN + 20 + 6] | out[ETH_HLEN + 20 + 7]),
				  "[%s] UDP checksum 0 not kept", cases[i].desc);

		/* The established path (the frontend entry) and the reply. */
		if (cases[i].proto == IPPROTO_TCP)
			s.tcp_flags = 0x10;
		len = tp_build(in, &s);
		ret = tp_run_if(fp->progs.from_pod, a_if, in, len, out, &out_len);
		cr_expect_eq(ret, TC_ACT_REDIRECT, "[%s] second packet: verdict %d", cases[i].desc,
			     ret);
		expect_tuple(cases[i].desc, out, A_IP, sport, B_IP, 8080);
		tp_assert_csums(out, out_len);
		len = tp_build(in, &r);
		ret = tp_run_if(fp->progs.from_pod, b_if, in, len, out, &out_len);
		cr_expect_eq(ret, TC_ACT_REDIRECT, "[%s] reply: verdict %d", cases[i].desc, ret);
		expect_tuple(cases[i].desc, out, VIP1, dport, A_IP, sport);
		tp_assert_csums(out, out_len);
	}
}
