/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the BPF_PROG_TEST_RUN tests of the datapath: packet
 * builders with valid checksums, checksum verification, map helpers. The
 * skeletons are loaded without pinning (pin paths cleared), so the tests
 * touch no bpffs and no network namespace. */
#ifndef SLUICE_TEST_DP_H
#define SLUICE_TEST_DP_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sched.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmp.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <criterion/criterion.h>

#include <sluice/common.h>
#include <sluice/endpoint.h>
#include <sluice/ipcache.h>
#include <sluice/metrics.h>
#include <sluice/events.h>
#include <sluice/ct.h>
#include <sluice/lb.h>

#define TP_MAX 256

/* What to put in a test packet. Addresses and ports in host order. */
struct tp_spec {
	uint8_t smac[6], dmac[6];
	uint16_t eth_proto; /* 0 = IPv4 */
	const char *saddr, *daddr;
	uint8_t proto;      /* IPPROTO_TCP/UDP/ICMP */
	uint16_t sport, dport; /* ICMP: dport = echo id */
	uint8_t ttl;        /* 0 = 64 */
	uint8_t tcp_flags;  /* 0 = SYN */
	uint8_t icmp_type;  /* ICMP: 0 = echo request */
	uint16_t payload;   /* payload bytes after L4 */
	uint8_t ip_opts;    /* IPv4 option words (NOPs) after the header */
	bool udp_no_csum;   /* UDP: checksum 0 ("none") */
};

static inline uint32_t tp_ip(const char *s)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, s, &a), 1, "bad test address %s", s);
	return a.s_addr;
}

static inline uint32_t tp_sum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static inline uint16_t tp_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Ones'-complement sum of the IPv4 pseudo header for an L4 segment. */
static inline uint32_t tp_pseudo(const struct iphdr *ip, uint16_t l4len)
{
	uint32_t sum = tp_sum(&ip->saddr, 8, 0);

	return sum + ip->protocol + l4len;
}

/* Build an Ethernet frame into buf; returns its length. Checksums valid.
 * Headers are built in an aligned scratch frame (IP header on a 4-byte
 * boundary) and copied, so buf may have any alignment. */
static inline size_t tp_build(uint8_t *buf, const struct tp_spec *s)
{
	uint8_t scratch[TP_MAX + 2] __attribute__((aligned(4)));
	uint8_t *f = scratch + 2;
	struct ethhdr *eth = (struct ethhdr *)f;
	struct iphdr *ip = (struct iphdr *)(f + ETH_HLEN);
	size_t hl = sizeof(*ip) + 4u * s->ip_opts;
	uint8_t *l4 = f + ETH_HLEN + hl;
	size_t l4len = 0, i, len;

	memset(scratch, 0, sizeof(scratch));
	memcpy(eth->h_dest, s->dmac, 6);
	memcpy(eth->h_source, s->smac, 6);
	eth->h_proto = htons(s->eth_proto ? s->eth_proto : ETH_P_IP);
	if (s->eth_proto && s->eth_proto != ETH_P_IP) {
		for (i = ETH_HLEN; i < 60; i++)
			f[i] = (uint8_t)i;
		memcpy(buf, f, 60);
		return 60;
	}
	ip->version = 4;
	ip->ihl = (uint8_t)(hl / 4);
	memset(f + ETH_HLEN + sizeof(*ip), 1 /* NOP */, hl - sizeof(*ip));
	ip->ttl = s->ttl ? s->ttl : 64;
	ip->protocol = s->proto;
	ip->id = htons(0x1234);
	ip->saddr = tp_ip(s->saddr);
	ip->daddr = tp_ip(s->daddr);
	switch (s->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = (struct tcphdr *)l4;

		l4len = sizeof(*th) + s->payload;
		th->source = htons(s->sport);
		th->dest = htons(s->dport);
		th->seq = htonl(1000);
		th->doff = 5;
		l4[13] = s->tcp_flags ? s->tcp_flags : 0x02;
		th->window = htons(65535);
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = (struct udphdr *)l4;

		l4len = sizeof(*uh) + s->payload;
		uh->source = htons(s->sport);
		uh->dest = htons(s->dport);
		uh->len = htons(l4len);
		break;
	}
	case IPPROTO_ICMP: {
		struct icmphdr *ih = (struct icmphdr *)l4;

		l4len = sizeof(*ih) + s->payload;
		ih->type = s->icmp_type ? s->icmp_type : ICMP_ECHO;
		ih->un.echo.id = htons(s->dport);
		ih->un.echo.sequence = htons(1);
		break;
	}
	}
	for (i = l4len - s->payload; i < l4len; i++)
		l4[i] = (uint8_t)(0xa0 + i);
	ip->tot_len = htons(hl + l4len);
	ip->check = htons(~tp_fold(tp_sum(ip, hl, 0)));
	if (s->proto == IPPROTO_TCP)
		((struct tcphdr *)l4)->check = htons(~tp_fold(tp_sum(l4, l4len, tp_pseudo(ip, l4len))));
	else if (s->proto == IPPROTO_UDP && !s->udp_no_csum)
		((struct udphdr *)l4)->check = htons(~tp_fold(tp_sum(l4, l4len, tp_pseudo(ip, l4len))));
	else if (s->proto == IPPROTO_ICMP)
		((struct icmphdr *)l4)->checksum = htons(~tp_fold(tp_sum(l4, l4len, 0)));
	len = ETH_HLEN + hl + l4len;
	memcpy(buf, f, len);
	return len;
}

/* Copy of the IPv4 header of frame buf (any alignment). */
static inline struct iphdr tp_iph(const uint8_t *buf)
{
	struct iphdr ip;

	memcpy(&ip, buf + ETH_HLEN, sizeof(ip));
	return ip;
}

/* Assert that the IPv4 header and L4 checksums of frame buf are valid. */
static inline void tp_assert_csums(const uint8_t *buf, size_t len)
{
	struct iphdr ip = tp_iph(buf);
	const uint8_t *l4 = buf + ETH_HLEN + ip.ihl * 4;
	size_t l4len = ntohs(ip.tot_len) - ip.ihl * 4;
	uint16_t s;

	cr_assert_geq(len, ETH_HLEN + ntohs(ip.tot_len), "frame %zu shorter than IP length", len);
	s = tp_fold(tp_sum(buf + ETH_HLEN, ip.ihl * 4, 0));
	cr_assert_eq(s, 0xffff, "IP header checksum invalid (sum %#x, want 0xffff)", s);
	if (ip.protocol == IPPROTO_UDP && !(l4[6] | l4[7])) {
		/* checksum 0: none (RFC 768), nothing to verify */
	} else if (ip.protocol == IPPROTO_TCP || ip.protocol == IPPROTO_UDP) {
		s = tp_fold(tp_sum(l4, l4len, tp_pseudo(&ip, l4len)));
		cr_assert_eq(s, 0xffff, "L4 checksum invalid (sum %#x, want 0xffff)", s);
	} else if (ip.protocol == IPPROTO_ICMP) {
		s = tp_fold(tp_sum(l4, l4len, 0));
		cr_assert_eq(s, 0xffff, "ICMP checksum invalid (sum %#x, want 0xffff)", s);
	}
}

/* Run prog on the frame in/in_len; the output frame goes to out. Returns
 * the program's return value. */
static inline int tp_run(const struct bpf_program *prog, const uint8_t *in, size_t in_len,
			 uint8_t *out, uint32_t *out_len)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (uint32_t)in_len,
		    .data_out = out, .data_size_out = TP_MAX, .repeat = 1);
	int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &o);

	cr_assert_eq(err, 0, "BPF_PROG_TEST_RUN of %s failed: %s (needs root/CAP_BPF)",
		     bpf_program__name(prog), strerror(errno));
	*out_len = o.data_size_out;
	return (int)o.retval;
}

/* Like tp_run, with the skb arriving on interface ifindex (must exist in
 * the test's network namespace, see tp_netns_veth). */
static inline int tp_run_if(const struct bpf_program *prog, uint32_t ifindex, const uint8_t *in,
			    size_t in_len, uint8_t *out, uint32_t *out_len)
{
	struct __sk_buff ctx = { .ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (uint32_t)in_len,
		    .data_out = out, .data_size_out = TP_MAX, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &o);

	cr_assert_eq(err, 0, "BPF_PROG_TEST_RUN of %s on ifindex %u failed: %s",
		     bpf_program__name(prog), ifindex, strerror(errno));
	*out_len = o.data_size_out;
	return (int)o.retval;
}

/* Move this test process into a private network namespace (it dies with
 * the process) and create a veth pair host/peer there, so test_run can
 * use the host side's ifindex. Returns the host side's ifindex. */
static inline uint32_t tp_netns_veth(const char *host, const char *peer)
{
	char cmd[128];
	uint32_t idx;

	snprintf(cmd, sizeof(cmd), "ip link add %s type veth peer name %s", host, peer);
	cr_assert_eq(system(cmd), 0, "%s failed (needs root)", cmd);
	idx = if_nametoindex(host);
	cr_assert_neq(idx, 0, "if_nametoindex(%s): %s", host, strerror(errno));
	return idx;
}

/* Clear every map's pin path so loading pins nothing and reuses nothing. */
static inline void tp_unpin(struct bpf_object *obj)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj)
		cr_assert_eq(bpf_map__set_pin_path(m, NULL), 0, "unpin %s", bpf_map__name(m));
}

/* Make every map of obj that exists in ref share ref's map (as sluiced's
 * pins do), so several programs see the same state. */
static inline void tp_share_maps(struct bpf_object *obj, struct bpf_object *ref)
{
	struct bpf_map *m, *r;

	bpf_object__for_each_map(m, obj) {
		r = bpf_object__find_map_by_name(ref, bpf_map__name(m));
		if (!r || strstr(bpf_map__name(m), ".rodata") || strstr(bpf_map__name(m), ".bss") ||
		    strstr(bpf_map__name(m), ".data"))
			continue;
		cr_assert_eq(bpf_map__reuse_fd(m, bpf_map__fd(r)), 0, "reuse %s",
			     bpf_map__name(m));
	}
}

/* Register a local endpoint as sluiced does: its sluice_ep entry, then its
 * sluice_ep_slots slot (slots_fd < 0: sluice_ep only, as for an address
 * whose slot another endpoint holds). The endpoint id is the ifindex. */
static inline void tp_add_ep(int fd, int slots_fd, const char *ip, uint32_t ifindex,
			     uint32_t identity, const uint8_t mac[6], const uint8_t host_mac[6])
{
	struct ep_key k = { .family = SL_AF_INET };
	struct ep_info v = { .ifindex = ifindex, .ep_id = ifindex, .identity = identity };
	struct ep_slot slot = { .addr = tp_ip(ip) };
	uint32_t idx = SL_EP_SLOT(ntohl(tp_ip(ip)));

	k.addr.v4 = tp_ip(ip);
	memcpy(v.mac, mac, 6);
	memcpy(v.host_mac, host_mac, 6);
	cr_assert_eq(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0, "add ep %s: %s", ip,
		     strerror(errno));
	slot.info = v;
	if (slots_fd >= 0)
		cr_assert_eq(bpf_map_update_elem(slots_fd, &idx, &slot, BPF_ANY), 0,
			     "ep slot %s: %s", ip, strerror(errno));
}

/* tp_add_ep() into the endpoint maps of skeleton skel. */
#define TP_ADD_EP(skel, ...)                                                                  \
	tp_add_ep(bpf_map__fd((skel)->maps.sluice_ep), bpf_map__fd((skel)->maps.sluice_ep_slots), \
		  __VA_ARGS__)

/* Create the (per-CPU, zeroed) ep_stats entry sluiced makes at registration. */
static inline void tp_add_ep_stats(int fd, uint32_t ifindex)
{
	int ncpu = libbpf_num_possible_cpus();
	struct ep_stats *v = calloc(ncpu, sizeof(*v));

	cr_assert_not_null(v);
	cr_assert_eq(bpf_map_update_elem(fd, &ifindex, v, BPF_ANY), 0, "ep_stats %u", ifindex);
	free(v);
}

/* Sum a per-CPU ep_stats entry. */
static inline struct ep_stats tp_ep_stats(int fd, uint32_t ifindex)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	struct ep_stats *v = calloc(ncpu, sizeof(*v)), sum = { 0 };

	cr_assert_not_null(v);
	if (bpf_map_lookup_elem(fd, &ifindex, v) == 0)
		for (i = 0; i < ncpu; i++) {
			sum.tx_packets += v[i].tx_packets;
			sum.rx_packets += v[i].rx_packets;
			sum.drop_packets += v[i].drop_packets;
			sum.tx_bytes += v[i].tx_bytes;
			sum.rx_bytes += v[i].rx_bytes;
			sum.drop_bytes += v[i].drop_bytes;
		}
	free(v);
	return sum;
}

/* Packets counted for (reason, dir) in sluice_metrics, all CPUs. */
static inline uint64_t tp_metric(int fd, unsigned int reason, unsigned int dir)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	struct metrics_val *v = calloc(ncpu, sizeof(*v));
	uint32_t idx = reason * SL_DIR_MAX + dir;
	uint64_t n = 0;

	cr_assert_not_null(v);
	cr_assert_eq(bpf_map_lookup_elem(fd, &idx, v), 0, "metrics[%u]", idx);
	for (i = 0; i < ncpu; i++)
		n += v[i].packets;
	free(v);
	return n;
}

/* Sum of a per-CPU __u64 array slot. */
static inline uint64_t tp_pcpu_u64(int fd, uint32_t idx)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	uint64_t *v = calloc(ncpu, sizeof(*v)), n = 0;

	cr_assert_not_null(v);
	cr_assert_eq(bpf_map_lookup_elem(fd, &idx, v), 0, "pcpu[%u]", idx);
	for (i = 0; i < ncpu; i++)
		n += v[i];
	free(v);
	return n;
}

/* Events collected from sluice_events. */
struct tp_events {
	struct sl_event ev[16];
	int n;
};

static inline int tp_event_cb(void *ctx, void *data, size_t size)
{
	struct tp_events *e = ctx;

	if (size == sizeof(struct sl_event) && e->n < 16)
		memcpy(&e->ev[e->n++], data, size);
	return 0;
}

/* Drain the ring buffer into evs (reset first). */
static inline void tp_drain_events(int ringfd, struct tp_events *evs)
{
	struct ring_buffer *rb;

	evs->n = 0;
	rb = ring_buffer__new(ringfd, tp_event_cb, evs, NULL);
	cr_assert_not_null(rb, "ring_buffer__new: %s", strerror(errno));
	ring_buffer__consume(rb);
	ring_buffer__free(rb);
}

#endif
