/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header rewrites with checksum fix-ups. The fast path rewrites in place
 * with the kernel's own checksum arithmetic, choosing by the skb's
 * checksum state (read through bpf_cast_to_kern_ctx: CHECKSUM_PARTIAL is
 * what pods send with offloads on); CHECKSUM_COMPLETE skbs and headers
 * outside the linear data go through the kernel helpers. */
#ifndef SLUICE_DP_CSUM_H
#define SLUICE_DP_CSUM_H

#include <bpf/bpf_core_read.h>
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

/* Ones' complement sum of the two 16-bit halves of w as they lie in
 * memory, plus sum (byte order does not matter to the checksum as long as
 * every word is taken the same way). */
static __always_inline __u32 csum_add_w32(__u32 sum, __u32 w)
{
	return sum + (w & 0xffff) + (w >> 16);
}

/* The kernel's sk_buff, for its checksum state only (CO-RE: the field is
 * found in the running kernel's BTF). */
struct sk_buff___sl {
	__u8 ip_summed : 2;
} __attribute__((preserve_access_index));
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

#define SL_CHECKSUM_NONE 0
#define SL_CHECKSUM_UNNECESSARY 1
#define SL_CHECKSUM_COMPLETE 2
#define SL_CHECKSUM_PARTIAL 3

/* skb->ip_summed of the kernel's skb (bpf_cast_to_kern_ctx is inlined by
 * the verifier: a plain load). */
static __always_inline __u32 csum_mode(struct __sk_buff *skb)
{
	struct sk_buff___sl *k = bpf_cast_to_kern_ctx(skb);

	return BPF_CORE_READ_BITFIELD(k, ip_summed);
}

static __always_inline __u32 csum_fold16(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	return (s & 0xffff) + (s >> 16);
}

/* csum_nat_v4()'s fast path: headers in the linear data and the skb not
 * CHECKSUM_COMPLETE (whose skb->csum only the helpers can follow). Every
 * field is rewritten in place with the arithmetic of the kernel's
 * inet_proto_csum_replace*(): the L4 checksum gets the address (pseudo
 * header) and port changes, except for CHECKSUM_PARTIAL, where the field
 * holds the pseudo-header sum only and the device sums the ports itself;
 * a UDP checksum of 0 ("none") stays 0 and is never produced. Returns 1
 * when done, 0 when the caller must take the helper path. */
static __always_inline int csum_nat_v4_inline(struct __sk_buff *skb, struct pkt *p, __be32 saddr,
					      __be32 daddr, __be16 sport, __be16 dport)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 mode, coff = l4_csum_off(p), pseudo = 0, ports_sum = 0, ipsum, v;
	struct iphdr *ip;
	__be16 *ports;
	__sum16 *chk;

	if (!coff || p->l3_off != ETH_HLEN || p->l4_off != ETH_HLEN + sizeof(*ip))
		return 0;
	if (p->proto == IPPROTO_TCP)
		chk = data + ETH_HLEN + sizeof(*ip) + offsetof(struct tcphdr, check);
	else
		chk = data + ETH_HLEN + sizeof(*ip) + offsetof(struct udphdr, check);
	if ((void *)(chk + 1) > end)
		return 0;
	mode = csum_mode(skb);
	if (mode == SL_CHECKSUM_COMPLETE)
		return 0;
	ip = data + ETH_HLEN;
	ports = data + ETH_HLEN + sizeof(*ip);
	if (saddr != ip->saddr)
		pseudo = csum_add_w32(csum_add_w32(pseudo, ~ip->saddr), saddr);
	if (daddr != ip->daddr)
		pseudo = csum_add_w32(csum_add_w32(pseudo, ~ip->daddr), daddr);
	if (sport != ports[0])
		ports_sum += (__u16)~ports[0] + (__u16)sport;
	if (dport != ports[1])
		ports_sum += (__u16)~ports[1] + (__u16)dport;

	if (!(p->proto == IPPROTO_UDP && !*chk)) {
		if (mode == SL_CHECKSUM_PARTIAL)
			v = csum_fold16(*chk + pseudo);
		else
			v = (__u16)~csum_fold16((__u16)~*chk + pseudo + ports_sum);
		if (p->proto == IPPROTO_UDP && !(__u16)v)
			v = 0xffff;
		*chk = (__sum16)v;
	}
	/* The IP header checksum: addresses only (RFC 1624). */
	ipsum = csum_fold16((__u16)~ip->check + pseudo);
	ip->check = (__sum16)~ipsum;
	ip->saddr = saddr;
	ip->daddr = daddr;
	ports[0] = sport;
	ports[1] = dport;
	p->saddr.v4 = saddr;
	p->daddr.v4 = daddr;
	p->sport = sport;
	p->dport = dport;
	return 1;
}

/* Rewrite the IPv4 addresses and TCP/UDP ports of p to saddr, daddr,
 * sport, dport (any of them may be unchanged), with as few helper calls as
 * the checksums allow. L4: the address change is one pseudo-header update
 * (a bpf_csum_diff over both addresses when both change), each changed
 * port a separate non-pseudo update; these go through
 * bpf_l4_csum_replace, which knows CHECKSUM_PARTIAL skbs (what pods send:
 * the L4 field then holds only the pseudo-header sum, so a port change
 * must not be folded into the address diff). IP: the header checksum
 * covers only the header and is never offloaded, so when the headers are
 * in the linear data it is updated here (RFC 1624) and addresses and
 * ports are written in place; otherwise through the helpers. p must be
 * TCP or UDP with its L4 header. Returns 0 or a negative errno. */
static __always_inline int csum_nat_v4(struct __sk_buff *skb, struct pkt *p, __be32 saddr,
				       __be32 daddr, __be16 sport, __be16 dport)
{
	struct {
		__be32 saddr, daddr;
		__be16 sport, dport;
	} to = { saddr, daddr, sport, dport };
	__be32 from_a[2] = { p->saddr.v4, p->daddr.v4 };
	__u32 coff = l4_csum_off(p), csum_at, sum;
	__u64 lflags = l4_csum_flags(p);
	__be32 from = 0, new = 0;
	void *data, *end;
	struct iphdr *ip;
	__be16 *ports;
	__s64 diff = 0;
	int ret, both;

	if (!coff || !p->l4_off)
		return -EINVAL;
	if (csum_nat_v4_inline(skb, p, saddr, daddr, sport, dport))
		return 0;
	csum_at = p->l4_off + coff;
	both = saddr != from_a[0] && daddr != from_a[1];
	if (both) {
		diff = bpf_csum_diff(from_a, sizeof(from_a), &to.saddr, 2 * sizeof(__be32), 0);
		if (diff < 0)
			return (int)diff;
		ret = bpf_l4_csum_replace(skb, csum_at, 0, diff, BPF_F_PSEUDO_HDR | lflags);
		if (ret < 0)
			return ret;
	} else if (saddr != from_a[0] || daddr != from_a[1]) {
		from = saddr != from_a[0] ? from_a[0] : from_a[1];
		new = saddr != from_a[0] ? saddr : daddr;
		ret = bpf_l4_csum_replace(skb, csum_at, from, new,
					  BPF_F_PSEUDO_HDR | sizeof(new) | lflags);
		if (ret < 0)
			return ret;
	}
	if (sport != p->sport) {
		ret = bpf_l4_csum_replace(skb, csum_at, p->sport, sport, sizeof(sport) | lflags);
		if (ret < 0)
			return ret;
	}
	if (dport != p->dport) {
		ret = bpf_l4_csum_replace(skb, csum_at, p->dport, dport, sizeof(dport) | lflags);
		if (ret < 0)
			return ret;
	}

	/* Fresh pointers: the helpers above may have moved the data. */
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	if (p->l3_off == ETH_HLEN && p->l4_off == ETH_HLEN + sizeof(*ip) &&
	    data + ETH_HLEN + sizeof(*ip) + 2 * sizeof(__be16) <= end) {
		ip = data + ETH_HLEN;
		ports = data + ETH_HLEN + sizeof(*ip);
		/* HC' = ~(~HC + ~m + m') over the changed address words. */
		sum = (__u16)~ip->check;
		if (saddr != from_a[0])
			sum = csum_add_w32(csum_add_w32(sum, ~from_a[0]), saddr);
		if (daddr != from_a[1])
			sum = csum_add_w32(csum_add_w32(sum, ~from_a[1]), daddr);
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		ip->check = (__sum16)~sum;
		ip->saddr = saddr;
		ip->daddr = daddr;
		/* Both ports sit at the start of the TCP and the UDP header. */
		ports[0] = sport;
		ports[1] = dport;
	} else {
		if (both)
			ret = bpf_l3_csum_replace(skb, p->l3_off + IPV4_CSUM_OFF, 0, diff, 0);
		else if (from != new)
			ret = bpf_l3_csum_replace(skb, p->l3_off + IPV4_CSUM_OFF, from, new,
						  sizeof(new));
		if (ret < 0)
			return ret;
		ret = bpf_skb_store_bytes(skb, p->l3_off + IPV4_SADDR_OFF, &to.saddr,
					  2 * sizeof(__be32), 0);
		if (!ret)
			ret = bpf_skb_store_bytes(skb, p->l4_off, &to.sport, 2 * sizeof(__be16), 0);
		if (ret < 0)
			return ret;
	}
	p->saddr.v4 = saddr;
	p->daddr.v4 = daddr;
	p->sport = sport;
	p->dport = dport;
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
