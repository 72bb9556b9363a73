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

/* Copy the header *dst from offset off of the packet: straight from the
 * linear data when it is there (the common case; a helper call costs more
 * than the copy), through bpf_skb_load_bytes otherwise. A typed struct
 * assignment, not a memcpy, so the compiler uses the header type's
 * alignment (word loads instead of byte by byte). off must be bounded
 * (the verifier checks data + off against data_end). Evaluates to 0 or a
 * negative errno. */
#define pkt_load(skb, off, dst)                                                          \
	({                                                                               \
		void *d_ = (void *)(long)(skb)->data;                                    \
		void *e_ = (void *)(long)(skb)->data_end;                                \
		long r_ = 0;                                                             \
		if (d_ + (off) + sizeof(*(dst)) <= e_)                                   \
			*(dst) = *(typeof(dst))(d_ + (off));                             \
		else                                                                     \
			r_ = bpf_skb_load_bytes(skb, off, dst, sizeof(*(dst)));          \
		r_;                                                                      \
	})

/* struct ethhdr is packed (byte loads); the Ethernet header starts 2 bytes
 * before a 4-aligned IP header, so 16-bit loads are always aligned. */
struct pkt_eth {
	__u8 dst[ETH_ALEN];
	__u8 src[ETH_ALEN];
	__be16 proto;
} __attribute__((aligned(2)));

/* TCP/UDP/SCTP: the two ports at the start of the header. */
struct pkt_ports {
	__be16 src, dst;
};

/* Returns SL_FORWARDED when p describes the packet (non-IP packets too:
 * family 0), SL_DROP_INVALID when a header is truncated or malformed.
 * smac receives the Ethernet source address. */
static __always_inline int pkt_parse(struct __sk_buff *skb, struct pkt *p, __u8 smac[ETH_ALEN])
{
	struct pkt_eth eth;
	struct iphdr ip;
	__u32 hl, tot;

	__builtin_memset(p, 0, sizeof(*p));
	p->len = skb->len;
	if (pkt_load(skb, 0, &eth) < 0)
		return SL_DROP_INVALID;
	__builtin_memcpy(smac, eth.src, ETH_ALEN);
	p->eth_proto = bpf_ntohs(eth.proto);
	p->l3_off = ETH_HLEN;
	if (p->eth_proto == ETH_P_IPV6) {
		/* Recognised so callers can count it; no IPv6 parsing yet. */
		p->family = SL_AF_INET6;
		return SL_FORWARDED;
	}
	if (p->eth_proto != ETH_P_IP)
		return SL_FORWARDED;

	if (pkt_load(skb, ETH_HLEN, &ip) < 0)
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

		if (pkt_load(skb, p->l4_off, &th) < 0)
			return SL_DROP_INVALID;
		p->sport = th.source;
		p->dport = th.dest;
		p->tcp_flags = ((__u8 *)&th)[13];
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr uh;

		if (pkt_load(skb, p->l4_off, &uh) < 0)
			return SL_DROP_INVALID;
		p->sport = uh.source;
		p->dport = uh.dest;
		break;
	}
	case IPPROTO_ICMP: {
		struct icmphdr ih;

		if (pkt_load(skb, p->l4_off, &ih) < 0)
			return SL_DROP_INVALID;
		p->icmp_type = ih.type;
		if (ih.type == ICMP_ECHO || ih.type == ICMP_ECHOREPLY) {
			p->sport = ih.un.echo.id;
			p->dport = ih.un.echo.id;
		}
		break;
	}
	case IPPROTO_SCTP: {
		struct pkt_ports ports;

		if (pkt_load(skb, p->l4_off, &ports) < 0)
			return SL_DROP_INVALID;
		p->sport = ports.src;
		p->dport = ports.dst;
		break;
	}
	default:
		break;
	}
	return SL_FORWARDED;
}

#endif
