/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* pkt_parse(): fill struct pkt (pkt.h) from an skb. Reads through
 * bpf_skb_load_bytes so non-linear skbs parse like linear ones. */
#ifndef SLUICE_DP_PARSE_H
#define SLUICE_DP_PARSE_H

#include "common.h"
#include "pkt.h"
#include <sluice/metrics.h>

#define SL_IP_OFFSET_MASK 0x1fff /* fragment offset bits of frag_off */
#define SL_IP_MF 0x2000

/* ICMP types that carry an error about another packet (the "related" ones). */
static __always_inline int pkt_is_icmp_error(const struct pkt *p)
{
	return p->proto == IPPROTO_ICMP &&
	       (p->icmp_type == ICMP_DEST_UNREACH || p->icmp_type == ICMP_TIME_EXCEEDED ||
		p->icmp_type == ICMP_PARAMETERPROB || p->icmp_type == ICMP_SOURCE_QUENCH);
}

/* Returns SL_FORWARDED when p describes the packet (non-IP packets too:
 * family 0), SL_DROP_INVALID when a header is truncated or malformed.
 * smac receives the Ethernet source address. */
static __always_inline int pkt_parse(struct __sk_buff *skb, struct pkt *p, __u8 smac[ETH_ALEN])
{
	struct ethhdr eth;
	struct iphdr ip;
	__u32 hl, tot;

	__builtin_memset(p, 0, sizeof(*p));
	p->len = skb->len;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
		return SL_DROP_INVALID;
	__builtin_memcpy(smac, eth.h_source, ETH_ALEN);
	p->eth_proto = bpf_ntohs(eth.h_proto);
	p->l3_off = ETH_HLEN;
	if (p->eth_proto == ETH_P_IPV6) {
		/* Recognised so callers can count it; no IPv6 parsing yet. */
		p->family = SL_AF_INET6;
		return SL_FORWARDED;
	}
	if (p->eth_proto != ETH_P_IP)
		return SL_FORWARDED;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
		return SL_DROP_INVALID;
	hl = ip.ihl * 4;
	tot = bpf_ntohs(ip.tot_len);
	if (ip.version != 4 || hl < sizeof(ip) || tot < hl || ETH_HLEN + tot > skb->len)
		return SL_DROP_INVALID;
	p->family = SL_AF_INET;
	p->proto = ip.protocol;
	p->ttl = ip.ttl;
	p->saddr.v4 = ip.saddr;
	p->daddr.v4 = ip.daddr;
	if (ip.frag_off & bpf_htons(SL_IP_OFFSET_MASK)) {
		p->is_frag = 1; /* no L4 header in this one */
		return SL_FORWARDED;
	}
	p->l4_off = ETH_HLEN + hl;

	switch (ip.protocol) {
	case IPPROTO_TCP: {
		struct tcphdr th;

		if (bpf_skb_load_bytes(skb, p->l4_off, &th, sizeof(th)) < 0)
			return SL_DROP_INVALID;
		p->sport = th.source;
		p->dport = th.dest;
		p->tcp_flags = ((__u8 *)&th)[13];
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr uh;

		if (bpf_skb_load_bytes(skb, p->l4_off, &uh, sizeof(uh)) < 0)
			return SL_DROP_INVALID;
		p->sport = uh.source;
		p->dport = uh.dest;
		break;
	}
	case IPPROTO_ICMP: {
		struct icmphdr ih;

		if (bpf_skb_load_bytes(skb, p->l4_off, &ih, sizeof(ih)) < 0)
			return SL_DROP_INVALID;
		p->icmp_type = ih.type;
		if (ih.type == ICMP_ECHO || ih.type == ICMP_ECHOREPLY) {
			p->sport = ih.un.echo.id;
			p->dport = ih.un.echo.id;
		}
		break;
	}
	case IPPROTO_SCTP: {
		__be16 ports[2];

		if (bpf_skb_load_bytes(skb, p->l4_off, ports, sizeof(ports)) < 0)
			return SL_DROP_INVALID;
		p->sport = ports[0];
		p->dport = ports[1];
		break;
	}
	default:
		break;
	}
	return SL_FORWARDED;
}

#endif
