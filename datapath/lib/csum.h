/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header rewrites with checksum fix-ups. The kernel helpers are used (not
 * hand-made arithmetic) because they handle CHECKSUM_PARTIAL/COMPLETE skbs,
 * which is what pods send with offloads on. */
#ifndef SLUICE_DP_CSUM_H
#define SLUICE_DP_CSUM_H

#include "common.h"
#include "pkt.h"

#define IPV4_CSUM_OFF 10
#define IPV4_TTL_OFF 8
#define IPV4_SADDR_OFF 12
#define IPV4_DADDR_OFF 16

/* Offset of the L4 checksum from the L4 header, 0 when the protocol has
 * none we maintain. */
static __always_inline __u32 l4_csum_off(const struct pkt *p)
{
	switch (p->proto) {
	case IPPROTO_TCP:
		return offsetof(struct tcphdr, check);
	case IPPROTO_UDP:
		return offsetof(struct udphdr, check);
	default:
		return 0;
	}
}

/* UDP checksum 0 means "none": keep it 0 and never produce 0. */
static __always_inline __u64 l4_csum_flags(const struct pkt *p)
{
	return p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
}

/* Rewrite the IPv4 source (is_src) or destination address to to, fixing
 * the IP and the L4 pseudo-header checksums. Returns 0 or a negative errno. */
static __always_inline int csum_set_v4_addr(struct __sk_buff *skb, struct pkt *p, int is_src,
					    __be32 to)
{
	__be32 from = is_src ? p->saddr.v4 : p->daddr.v4;
	__u32 coff = l4_csum_off(p);
	int ret;

	if (coff && p->l4_off) {
		ret = bpf_l4_csum_replace(skb, p->l4_off + coff, from, to,
					  BPF_F_PSEUDO_HDR | sizeof(to) | l4_csum_flags(p));
		if (ret < 0)
			return ret;
	}
	ret = bpf_l3_csum_replace(skb, p->l3_off + IPV4_CSUM_OFF, from, to, sizeof(to));
	if (ret < 0)
		return ret;
	ret = bpf_skb_store_bytes(skb, p->l3_off + (is_src ? IPV4_SADDR_OFF : IPV4_DADDR_OFF), &to,
				  sizeof(to), 0);
	if (ret < 0)
		return ret;
	if (is_src)
		p->saddr.v4 = to;
	else
		p->daddr.v4 = to;
	return 0;
}

/* Rewrite the TCP/UDP source (is_src) or destination port. Returns 0 or a
 * negative errno. */
static __always_inline int csum_set_port(struct __sk_buff *skb, struct pkt *p, int is_src,
					 __be16 to)
{
	__be16 from = is_src ? p->sport : p->dport;
	__u32 coff = l4_csum_off(p);
	int ret;

	if (!coff || !p->l4_off)
		return -EINVAL;
	if (from == to)
		return 0;
	ret = bpf_l4_csum_replace(skb, p->l4_off + coff, from, to, sizeof(to) | l4_csum_flags(p));
	if (ret < 0)
		return ret;
	/* Both ports sit at the start of the TCP and the UDP header. */
	ret = bpf_skb_store_bytes(skb, p->l4_off + (is_src ? 0 : 2), &to, sizeof(to), 0);
	if (ret < 0)
		return ret;
	if (is_src)
		p->sport = to;
	else
		p->dport = to;
	return 0;
}

/* Decrement the IPv4 TTL, fixing the header checksum. Returns 0 or a
 * negative errno. The caller has checked ttl > 1. */
static __always_inline int csum_dec_ttl(struct __sk_buff *skb, struct pkt *p)
{
	__u8 ttl = p->ttl - 1;
	int ret;

	/* TTL is the high byte of the 16-bit word it shares with protocol. */
	ret = bpf_l3_csum_replace(skb, p->l3_off + IPV4_CSUM_OFF, bpf_htons((__u16)p->ttl << 8),
				  bpf_htons((__u16)ttl << 8), 2);
	if (ret < 0)
		return ret;
	ret = bpf_skb_store_bytes(skb, p->l3_off + IPV4_TTL_OFF, &ttl, sizeof(ttl), 0);
	if (ret < 0)
		return ret;
	p->ttl = ttl;
	return 0;
}

#endif
