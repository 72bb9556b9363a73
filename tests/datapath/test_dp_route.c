/* SPDX-License-Identifier: Apache-2.0 */
/* BPF_PROG_TEST_RUN tests of same-node routing, anti-spoofing, non-IP
 * handling, counters, events and the stateful path between from_pod and
 * to_pod. Needs root (BPF); fails, not skips, without it. */
#include "dp_test.h"
#include "from_pod.skel.h"
#include "to_pod.skel.h"
#include <sluice/policy.h>

/* Pod A sends (its host veth is ifindex 1: the test_run skb's loopback
 * device); pod B is another pod on the node (ifindex 7). */
#define A_IF 1
#define B_IF 7
#define A_ID 300
#define B_ID 301
static const uint8_t A_MAC[6] = { 0x02, 0xaa, 0, 0, 0, 0x0a };
static const uint8_t A_HMAC[6] = { 0x02, 0xee, 0, 0, 0, 0x0a };
static const uint8_t B_MAC[6] = { 0x02, 0xaa, 0, 0, 0, 0x0b };
static const uint8_t B_HMAC[6] = { 0x02, 0xee, 0, 0, 0, 0x0b };
static const uint8_t BAD_MAC[6] = { 0x02, 0x66, 0x66, 0x66, 0x66, 0x66 };
#define A_IP "10.244.0.10"
#define B_IP "10.244.0.11"

static struct from_pod *fp;
static struct to_pod *tpod;

static void setup(void)
{
	fp = from_pod__open();
	cr_assert_not_null(fp, "open from_pod: %s", strerror(errno));
	tp_unpin(fp->obj);
	cr_assert_eq(from_pod__load(fp), 0, "load from_pod (verifier): %s", strerror(errno));
	tpod = to_pod__open();
	cr_assert_not_null(tpod, "open to_pod: %s", strerror(errno));
	tp_unpin(tpod->obj);
	tp_share_maps(tpod->obj, fp->obj);
	cr_assert_eq(to_pod__load(tpod), 0, "load to_pod (verifier): %s", strerror(errno));

	TP_ADD_EP(fp, A_IP, A_IF, A_ID, A_MAC, A_HMAC);
	TP_ADD_EP(fp, B_IP, B_IF, B_ID, B_MAC, B_HMAC);
	tp_add_ep_stats(bpf_map__fd(fp->maps.sluice_ep_stats), A_IF);
	tp_add_ep_stats(bpf_map__fd(fp->maps.sluice_ep_stats), B_IF);
}

static void teardown(void)
{
	to_pod__destroy(tpod);
	from_pod__destroy(fp);
}

TestSuite(dp_route, .init = setup, .fini = teardown);

struct route_case {
	const char *desc;
	struct tp_spec pkt;
	size_t truncate;   /* cut the frame to this many bytes (0 = no) */
	int verdict;       /* TC_ACT_* */
	unsigned int reason;
	int rewritten;     /* 1: MACs/TTL rewritten for delivery to B */
	/* ep_stats slots (endpoint ids; the harness gives endpoints their
	 * ifindex as id) that must count it: drops only once the sender is
	 * verified */
	uint32_t tx_if, rx_if, drop_if;
};

#define FROM_A(...) { .smac = { 0x02, 0xaa, 0, 0, 0, 0x0a }, .dmac = { 0x02, 0xee, 0, 0, 0, 0x0a }, __VA_ARGS__ }

static const struct route_case route_cases[] = {
	{ "TCP to a pod on this node is redirected into its peer",
	  FROM_A(.saddr = A_IP, .daddr = B_IP, .proto = IPPROTO_TCP, .sport = 40000, .dport = 80),
	  0, TC_ACT_REDIRECT, SL_FORWARDED, 1, A_IF, B_IF, 0 },
	{ "UDP to a pod on this node is redirected into its peer",
	  FROM_A(.saddr = A_IP, .daddr = B_IP, .proto = IPPROTO_UDP, .sport = 40001, .dport = 53,
		 .payload = 13),
	  0, TC_ACT_REDIRECT, SL_FORWARDED, 1, A_IF, B_IF, 0 },
	{ "ICMP echo to a pod on this node is redirected",
	  FROM_A(.saddr = A_IP, .daddr = B_IP, .proto = IPPROTO_ICMP, .dport = 77, .payload = 8),
	  0, TC_ACT_REDIRECT, SL_FORWARDED, 1, A_IF, B_IF, 0 },
	{ "to a node IP goes up the node's stack untouched",
	  FROM_A(.saddr = A_IP, .daddr = "10.0.0.1", .proto = IPPROTO_TCP, .sport = 40002, .dport = 10250),
	  0, TC_ACT_OK, SL_FORWARDED, 0, A_IF, 0, 0 },
	{ "source IP of another pod (spoofed) is dropped",
	  FROM_A(.saddr = B_IP, .daddr = "10.0.0.1", .proto = IPPROTO_UDP, .sport = 1, .dport = 2),
	  0, TC_ACT_SHOT, SL_DROP_SPOOF_IP, 0, 0, 0, 0 },
	{ "unknown source IP is dropped as spoofed",
	  FROM_A(.saddr = "10.244.0.99", .daddr = B_IP, .proto = IPPROTO_TCP, .sport = 1, .dport = 2),
	  0, TC_ACT_SHOT, SL_DROP_SPOOF_IP, 0, 0, 0, 0 },
	{ "own IP with a foreign source MAC is dropped",
	  { .smac = { 0x02, 0x66, 0x66, 0x66, 0x66, 0x66 }, .dmac = { 0x02, 0xee, 0, 0, 0, 0x0a },
	    .saddr = A_IP, .daddr = B_IP, .proto = IPPROTO_TCP, .sport = 1, .dport = 2 },
	  0, TC_ACT_SHOT, SL_DROP_SPOOF_MAC, 0, 0, 0, A_IF },
	{ "ARP goes to the node's stack",
	  FROM_A(.eth_proto = ETH_P_ARP), 0, TC_ACT_OK, SL_FORWARDED, 0, 0, 0, 0 },
	{ "another ethertype (LLDP) is dropped",
	  FROM_A(.eth_proto = 0x88cc), 0, TC_ACT_SHOT, SL_DROP_UNSUPPORTED_L3, 0, 0, 0, 0 },
	{ "IPv6 is dropped until dual stack",
	  FROM_A(.eth_proto = ETH_P_IPV6), 0, TC_ACT_SHOT, SL_DROP_UNSUPPORTED_L3, 0, 0, 0, 0 },
	{ "TTL 1 towards a local pod is dropped",
	  FROM_A(.saddr = A_IP, .daddr = B_IP, .proto = IPPROTO_UDP, .sport = 3, .dport = 4, .ttl = 1),
	  0, TC_ACT_SHOT, SL_DROP_TTL_EXCEEDED, 0, 0, 0, A_IF },
	/* (test_run itself refuses IPv4 frames cut inside the IP header.) */
	{ "a frame shorter than its IP total length is dropped",
	  FROM_A(.saddr = A_IP, .daddr = B_IP, .proto = IPPROTO_TCP, .sport = 5, .dport = 6),
	  ETH_HLEN + 20, TC_ACT_SHOT, SL_DROP_INVALID, 0, 0, 0, 0 },
	{ "a frame cut inside the TCP header is dropped",
	  FROM_A(.saddr = A_IP, .daddr = B_IP, .proto = IPPROTO_TCP, .sport = 5, .dport = 6),
	  ETH_HLEN + 20 + 8, TC_ACT_SHOT, SL_DROP_INVALID, 0, 0, 0, 0 },
};

Test(dp_route, from_pod_table)
{
	int metrics = bpf_map__fd(fp->maps.sluice_metrics);
	int stats = bpf_map__fd(fp->maps.sluice_ep_stats);
	int ring = bpf_map__fd(fp->maps.sluice_events);
	size_t i;

	(void)BAD_MAC;
	for (i = 0; i < sizeof(route_cases) / sizeof(route_cases[0]); i++) {
		const struct route_case *c = &route_cases[i];
		uint8_t in[TP_MAX], out[TP_MAX];
		uint64_t before = tp_metric(metrics, c->reason, SL_DIR_EGRESS);
		struct ep_stats a0 = tp_ep_stats(stats, A_IF), b0 = tp_ep_stats(stats, B_IF);
		struct ep_stats a1, b1;
		struct tp_events evs;
		uint32_t out_len;
		size_t len = tp_build(in, &c->pkt);
		int ret;

		if (c->truncate)
			len = c->truncate;
		tp_drain_events(ring, &evs);
		cr_log_info("case: %s", c->desc);
		ret = tp_run(fp->progs.from_pod, in, len, out, &out_len);
		cr_expect_eq(ret, c->verdict, "[%s] verdict %d, want %d", c->desc, ret, c->verdict);
		cr_expect_eq(tp_metric(metrics, c->reason, SL_DIR_EGRESS), before + 1,
			     "[%s] metrics[reason %u] %lu, want %lu", c->desc, c->reason,
			     (unsigned long)tp_metric(metrics, c->reason, SL_DIR_EGRESS),
			     (unsigned long)before + 1);
		a1 = tp_ep_stats(stats, A_IF);
		b1 = tp_ep_stats(stats, B_IF);
		cr_expect_eq(a1.tx_packets - a0.tx_packets, c->tx_if == A_IF, "[%s] A tx", c->desc);
		cr_expect_eq(b1.rx_packets - b0.rx_packets, c->rx_if == B_IF, "[%s] B rx", c->desc);
		cr_expect_eq(a1.drop_packets - a0.drop_packets, c->drop_if == A_IF, "[%s] A drops",
			     c->desc);
		tp_drain_events(ring, &evs);
		if (c->reason != SL_FORWARDED) {
			cr_expect_eq(evs.n, 1, "[%s] %d events, want 1 drop event", c->desc, evs.n);
			if (evs.n == 1) {
				cr_expect_eq(evs.ev[0].type, SL_EV_DROP, "[%s] event type", c->desc);
				cr_expect_eq(evs.ev[0].reason, c->reason, "[%s] event reason %u, want %u",
					     c->desc, evs.ev[0].reason, c->reason);
				cr_expect_eq(evs.ev[0].ifindex, A_IF, "[%s] event ifindex", c->desc);
			}
		} else {
			cr_expect_eq(evs.n, 0, "[%s] %d events for a forwarded packet", c->desc,
				     evs.n);
		}
		if (c->rewritten) {
			cr_assert_eq(out_len, len, "[%s] length %u, want %zu", c->desc, out_len, len);
			cr_expect_arr_eq(out, B_MAC, 6, "[%s] destination MAC is not B's", c->desc);
			cr_expect_arr_eq(out + 6, B_HMAC, 6, "[%s] source MAC is not B's gateway",
					 c->desc);
			cr_expect_eq(out[ETH_HLEN + 8], 63, "[%s] TTL %u, want 63", c->desc,
				     out[ETH_HLEN + 8]);
			tp_assert_csums(out, out_len);
			cr_expect_arr_eq(out + ETH_HLEN + 12, in + ETH_HLEN + 12, len - ETH_HLEN - 12,
					 "[%s] bytes after the TTL changed", c->desc);
		} else if (ret != TC_ACT_SHOT) {
			cr_expect_arr_eq(out, in, len, "[%s] packet modified", c->desc);
		}
	}
}

/* Events are rate limited: with a budget of N per second, a burst of
 * drops yields N events. */
Test(dp_route, drop_events_rate_limited)
{
	struct tp_spec s = FROM_A(.saddr = B_IP, .daddr = "10.0.0.1", .proto = IPPROTO_UDP,
				  .sport = 1, .dport = 2);
	int ring = bpf_map__fd(fp->maps.sluice_events);
	uint8_t in[TP_MAX], out[TP_MAX];
	struct tp_events evs;
	uint32_t out_len;
	size_t len = tp_build(in, &s);
	int i, ret;

	/* The knob default: SL_EVENTS_PER_SEC per CPU. test_run stays on one
	 * CPU while it runs, so 1100 drops in well under a second give 1000
	 * events (the burst), counted 16 at a time here. */
	cr_assert_eq(fp->rodata->events_per_sec, SL_EVENTS_PER_SEC);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = TP_MAX, .repeat = 1100);
	ret = bpf_prog_test_run_opts(bpf_program__fd(fp->progs.from_pod), &o);
	cr_assert_eq(ret, 0, "test_run: %s", strerror(errno));
	cr_assert_eq(o.retval, TC_ACT_SHOT);
	(void)out_len;
	{
		uint32_t zero = 0;
		int ncpu = libbpf_num_possible_cpus();
		struct sl_ev_rate *r = calloc(ncpu, sizeof(*r));
		uint64_t suppressed = 0;

		cr_assert_eq(bpf_map_lookup_elem(bpf_map__fd(fp->maps.sluice_ev_rate), &zero, r), 0);
		for (i = 0; i < ncpu; i++)
			suppressed += r[i].suppressed;
		free(r);
		cr_expect_geq(suppressed, 100, "suppressed %lu, want >= 100 of 1100",
			      (unsigned long)suppressed);
		cr_expect_leq(suppressed, 1100 - SL_EVENTS_PER_SEC + 50,
			      "suppressed %lu: too few events let through", (unsigned long)suppressed);
	}
	tp_drain_events(ring, &evs);
	cr_expect_eq(evs.n, 16, "events readable: %d", evs.n);
}

/* Stateful: node -> pod creates a connection in to_pod; the pod's reply is
 * matched in from_pod; a new connection from the pod is tracked too and
 * its reply passes to_pod. */
Test(dp_route, conntrack_both_ways)
{
	int ct = bpf_map__fd(fp->maps.sluice_ct);
	int stats = bpf_map__fd(fp->maps.sluice_ct_stats);
	uint8_t in[TP_MAX], out[TP_MAX];
	uint32_t out_len;
	uint64_t created0 = tp_pcpu_u64(stats, SL_CT_STAT_CREATED);
	struct tp_spec probe = { .smac = { 0x02, 0xee, 0, 0, 0, 0x0a }, .dmac = { 0x02, 0xaa, 0, 0, 0, 0x0a },
				 .saddr = "10.0.0.1", .daddr = A_IP, .proto = IPPROTO_TCP,
				 .sport = 51000, .dport = 8080 };
	struct tp_spec reply = FROM_A(.saddr = A_IP, .daddr = "10.0.0.1", .proto = IPPROTO_TCP,
				      .sport = 8080, .dport = 51000, .tcp_flags = 0x12);
	struct ct_key k = { .proto = IPPROTO_TCP };
	struct ct_entry e;
	size_t len;
	int ret;

	len = tp_build(in, &probe);
	ret = tp_run(tpod->progs.to_pod, in, len, out, &out_len);
	cr_assert_eq(ret, TC_ACT_OK, "node->pod SYN: verdict %d", ret);
	cr_expect_eq(tp_metric(bpf_map__fd(fp->maps.sluice_metrics), SL_FORWARDED, SL_DIR_INGRESS), 1);
	cr_expect_eq(tp_ep_stats(bpf_map__fd(fp->maps.sluice_ep_stats), A_IF).rx_packets, 1,
		     "to_pod counts rx on the pod");
	k.saddr = tp_ip("10.0.0.1");
	k.daddr = tp_ip(A_IP);
	k.sport = htons(51000);
	k.dport = htons(8080);
	cr_assert_eq(bpf_map_lookup_elem(ct, &k, &e), 0, "no ct entry for node->pod SYN");
	cr_expect_eq(e.state, SL_CT_NEW, "state %u after SYN", e.state);
	cr_expect_eq(e.tcp_flags_orig, 0x02);
	cr_expect_eq(tp_pcpu_u64(stats, SL_CT_STAT_CREATED), created0 + 1, "created counter");

	len = tp_build(in, &reply);
	ret = tp_run(fp->progs.from_pod, in, len, out, &out_len);
	cr_assert_eq(ret, TC_ACT_OK, "pod SYN-ACK to node: verdict %d", ret);
	cr_assert_eq(bpf_map_lookup_elem(ct, &k, &e), 0);
	cr_expect_eq(e.state, SL_CT_ESTABLISHED, "state %u after reply, want established", e.state);
	cr_expect_eq(e.packets, 2, "packets %lu", (unsigned long)e.packets);
	cr_expect_eq(e.tcp_flags_reply, 0x12);
	cr_expect_eq(e.src_identity, SL_ID_UNKNOWN, "initiator identity (no ipcache entry)");
	cr_expect_eq(tp_pcpu_u64(stats, SL_CT_STAT_CREATED), created0 + 1, "reply created an entry");
	/* Established TCP gets the long timeout. */
	cr_expect_gt(e.expires_ns - e.created_ns, (uint64_t)(SL_CT_TIMEOUT_TCP_SYN + 1) * 1000000000ull,
		     "expiry not moved to the established timeout");

	/* FIN moves it to closing with the short timeout. */
	reply.tcp_flags = 0x11;
	len = tp_build(in, &reply);
	ret = tp_run(fp->progs.from_pod, in, len, out, &out_len);
	cr_assert_eq(ret, TC_ACT_OK);
	cr_assert_eq(bpf_map_lookup_elem(ct, &k, &e), 0);
	cr_expect_eq(e.state, SL_CT_CLOSING, "state %u after FIN", e.state);
}

/* Knobs are rodata the loader may set: a custom UDP timeout shows in the
 * entry's expiry. */
Test(dp_route, udp_timeout_knob)
{
	struct from_pod *f2 = from_pod__open();
	struct tp_spec s = FROM_A(.saddr = A_IP, .daddr = "10.0.0.1", .proto = IPPROTO_UDP,
				  .sport = 999, .dport = 53);
	struct ct_key k = { .proto = IPPROTO_UDP };
	uint8_t in[TP_MAX], out[TP_MAX];
	uint32_t out_len;
	struct ct_entry e;
	uint64_t life;
	size_t len;

	cr_assert_not_null(f2);
	tp_unpin(f2->obj);
	f2->rodata->ct_timeout_udp = 7;
	cr_assert_eq(from_pod__load(f2), 0);
	TP_ADD_EP(f2, A_IP, A_IF, A_ID, A_MAC, A_HMAC);
	len = tp_build(in, &s);
	cr_assert_eq(tp_run(f2->progs.from_pod, in, len, out, &out_len), TC_ACT_OK);
	k.saddr = tp_ip(A_IP);
	k.daddr = tp_ip("10.0.0.1");
	k.sport = htons(999);
	k.dport = htons(53);
	cr_assert_eq(bpf_map_lookup_elem(bpf_map__fd(f2->maps.sluice_ct), &k, &e), 0);
	life = e.expires_ns - e.created_ns;
	cr_expect(life >= 7000000000ull && life < 8000000000ull, "UDP lifetime %lu ns, want 7 s",
		  (unsigned long)life);
	from_pod__destroy(f2);
}

/* Policy runs for the first packet of a connection only; replies pass in
 * both directions although the pod is isolated that way. Pod A is
 * isolated for ingress and egress with no rule allowing anything, except
 * egress TCP to port 443 of any identity (here: unknown, no ipcache). */
Test(dp_route, policy_stateful)
{
	struct pol_ep_val pe = { .flags = SL_POL_F_EGRESS | SL_POL_F_INGRESS,
				 .deny_id = { SL_POL_ID(5, 0), SL_POL_ID(6, 0) } };
	/* a single port: sluice_pol_exact (sluice_pol holds only ranges) */
	struct pol_exact_key pk = { .ep_id = A_IF, .peer = SL_ID_UNKNOWN, .dir = SL_DIR_EGRESS,
				    .proto = IPPROTO_TCP, .dport = htons(443) };
	struct pol_val pv = { .policy_id = SL_POL_ID(5, 1) };
	struct tp_spec node_syn = { .smac = { 0x02, 0xee, 0, 0, 0, 0x0a }, .dmac = { 0x02, 0xaa, 0, 0, 0, 0x0a },
				    .saddr = "10.0.0.1", .daddr = A_IP, .proto = IPPROTO_TCP,
				    .sport = 52000, .dport = 8080 };
	struct tp_spec a_syn = FROM_A(.saddr = A_IP, .daddr = "10.0.0.1", .proto = IPPROTO_TCP,
				      .sport = 45000, .dport = 443);
	struct tp_spec a_bad = FROM_A(.saddr = A_IP, .daddr = "10.0.0.1", .proto = IPPROTO_TCP,
				      .sport = 45001, .dport = 80);
	struct tp_spec reply = { .smac = { 0x02, 0xee, 0, 0, 0, 0x0a }, .dmac = { 0x02, 0xaa, 0, 0, 0, 0x0a },
				 .saddr = "10.0.0.1", .daddr = A_IP, .proto = IPPROTO_TCP,
				 .sport = 443, .dport = 45000, .tcp_flags = 0x12 };
	int ring = bpf_map__fd(fp->maps.sluice_events);
	uint8_t in[TP_MAX], out[TP_MAX];
	struct tp_events evs;
	uint32_t out_len, ep = A_IF;
	size_t len;
	int ret, i, saw_verdict = 0;

	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_pol_ep), &ep, &pe, 0), 0);
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_pol_exact), &pk, &pv, 0), 0,
		     "pol: %s", strerror(errno));

	len = tp_build(in, &node_syn);
	ret = tp_run(tpod->progs.to_pod, in, len, out, &out_len);
	cr_expect_eq(ret, TC_ACT_SHOT, "node->A with ingress isolated: verdict %d", ret);
	cr_expect_eq(tp_metric(bpf_map__fd(fp->maps.sluice_metrics), SL_DROP_POLICY_INGRESS,
			       SL_DIR_INGRESS), 1, "POLICY_INGRESS counter");

	len = tp_build(in, &a_bad);
	tp_drain_events(ring, &evs);
	ret = tp_run(fp->progs.from_pod, in, len, out, &out_len);
	cr_expect_eq(ret, TC_ACT_SHOT, "A->node:80 not allowed by egress: verdict %d", ret);
	tp_drain_events(ring, &evs);
	for (i = 0; i < evs.n; i++) {
		if (evs.ev[i].type == SL_EV_POLICY_VERDICT) {
			saw_verdict = 1;
			cr_expect_eq(evs.ev[i].policy_id, SL_POL_ID(5, 0), "verdict policy_id %#x",
				     evs.ev[i].policy_id);
		}
		if (evs.ev[i].type == SL_EV_DROP)
			cr_expect_eq(evs.ev[i].reason, SL_DROP_POLICY_EGRESS);
	}
	cr_expect(saw_verdict, "no policy verdict event among %d events", evs.n);

	len = tp_build(in, &a_syn);
	ret = tp_run(fp->progs.from_pod, in, len, out, &out_len);
	cr_expect_eq(ret, TC_ACT_OK, "A->node:443 allowed by rule: verdict %d", ret);
	len = tp_build(in, &reply);
	ret = tp_run(tpod->progs.to_pod, in, len, out, &out_len);
	cr_expect_eq(ret, TC_ACT_OK, "reply into the ingress-isolated pod: verdict %d", ret);
	/* Later packets of the allowed connection are not judged again, even
	 * once the rule is gone. */
	cr_assert_eq(bpf_map_delete_elem(bpf_map__fd(fp->maps.sluice_pol_exact), &pk), 0);
	a_syn.tcp_flags = 0x10;
	len = tp_build(in, &a_syn);
	ret = tp_run(fp->progs.from_pod, in, len, out, &out_len);
	cr_expect_eq(ret, TC_ACT_OK, "established packet after the rule was removed: %d", ret);
}

/* Two local addresses sharing a slot of sluice_ep_slots (same low 16
 * bits): the one without the slot is served by sluice_ep, as a source
 * (anti-spoofing passes) and as a destination (delivered to its own
 * interface, not the slot holder's). A slot naming another address is
 * never taken for this one. */
Test(dp_route, slot_collision_served_by_hash)
{
	static const uint8_t C_MAC[6] = { 0x02, 0xaa, 0, 0, 0, 0x0c };
	static const uint8_t C_HMAC[6] = { 0x02, 0xee, 0, 0, 0, 0x0c };
	struct tp_spec to_c = FROM_A(.saddr = A_IP, .daddr = "10.245.0.11", .proto = IPPROTO_UDP,
				     .sport = 4000, .dport = 53);
	struct tp_spec from_c = { .smac = { 0x02, 0xaa, 0, 0, 0, 0x0c },
				  .dmac = { 0x02, 0xee, 0, 0, 0, 0x0c },
				  .saddr = "10.245.0.11", .daddr = A_IP, .proto = IPPROTO_UDP,
				  .sport = 53, .dport = 4001 };
	int stats = bpf_map__fd(fp->maps.sluice_ep_stats);
	uint8_t in[TP_MAX], out[TP_MAX];
	struct ep_stats c0, c1, b0, b1;
	uint32_t out_len;
	size_t len;
	int ret;

	/* C (10.245.0.11) shares B's slot (10.244.0.11): sluice_ep only. */
	tp_add_ep(bpf_map__fd(fp->maps.sluice_ep), -1, "10.245.0.11", 9, 302, C_MAC, C_HMAC);
	tp_add_ep_stats(stats, 9);
	c0 = tp_ep_stats(stats, 9);
	b0 = tp_ep_stats(stats, B_IF);

	len = tp_build(in, &to_c);
	ret = tp_run(fp->progs.from_pod, in, len, out, &out_len);
	cr_expect_eq(ret, TC_ACT_REDIRECT, "A -> C: verdict %d, want redirect", ret);
	cr_expect_arr_eq(out, C_MAC, 6, "A -> C delivered to another MAC than C's");
	c1 = tp_ep_stats(stats, 9);
	b1 = tp_ep_stats(stats, B_IF);
	cr_expect_eq(c1.rx_packets - c0.rx_packets, 1, "C's rx not counted");
	cr_expect_eq(b1.rx_packets, b0.rx_packets, "counted on B, the slot's holder");

	/* C sending from its own interface passes anti-spoofing (test_run
	 * packets arrive on ifindex 1: C is moved there). */
	tp_add_ep(bpf_map__fd(fp->maps.sluice_ep), -1, "10.245.0.11", A_IF, 302, C_MAC, C_HMAC);
	len = tp_build(in, &from_c);
	ret = tp_run(fp->progs.from_pod, in, len, out, &out_len);
	cr_expect_eq(ret, TC_ACT_REDIRECT, "C -> A: verdict %d, want redirect", ret);
	cr_expect_arr_eq(out, A_MAC, 6, "C -> A not delivered to A");
}
