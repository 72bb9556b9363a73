/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Endpoint/identity lookups and same-node delivery. */
#ifndef SLUICE_DP_ROUTE_H
#define SLUICE_DP_ROUTE_H

#include "common.h"
#include "maps.h"
#include "csum.h"
#include "metrics.h"
#include "pkt.h"

/* The local endpoint owning IPv4 address addr, or NULL. Its slot first
 * (an inlined array access); sluice_ep's hash only when the slot holds
 * another address or none (non-local addresses, the rare collision). */
static __always_inline struct ep_info *ep_lookup_v4(__be32 addr)
{
	struct ep_key k = { .family = SL_AF_INET };
	__u32 idx = SL_EP_SLOT(bpf_ntohl(addr));
	struct ep_slot *s = bpf_map_lookup_elem(&sluice_ep_slots, &idx);

	if (s && s->addr == addr && s->info.ifindex)
		return &s->info;
	k.addr.v4 = addr;
	return bpf_map_lookup_elem(&sluice_ep, &k);
}

/* Security identity of an IPv4 address from sluice_ipcache, or
 * SL_ID_UNKNOWN when no prefix covers it. */
static __always_inline __u32 ipcache_identity_v4(__be32 addr)
{
	struct ipcache_key k = {
		.prefixlen = SL_IPCACHE_PREFIX_BASE + 32,
		.family = SL_AF_INET,
	};
	struct ipcache_val *v;

	k.addr.v4 = addr;
	v = bpf_map_lookup_elem(&sluice_ipcache, &k);
	return v ? v->identity : SL_ID_UNKNOWN;
}

/* Deliver p to local endpoint dst: MACs as if routed by the gateway, TTL-1,
 * redirect into the pod's namespace. Returns SL_FORWARDED (v->action set to
 * TC_ACT_REDIRECT) or a drop reason. */
static __always_inline int route_to_local(struct __sk_buff *skb, struct pkt *p,
					  const struct ep_info *dst, struct dp_verdict *v)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 macs[2 * ETH_ALEN];
	struct iphdr *ip;
	__u32 check;
	long ret;

	if (p->ttl <= 1)
		return SL_DROP_TTL_EXCEEDED;
	if (p->l3_off == ETH_HLEN && data + ETH_HLEN + sizeof(*ip) <= end) {
		/* Headers in the linear data (the common case): written in
		 * place, without the three helper calls of the other branch. */
		__builtin_memcpy(data, dst->mac, ETH_ALEN);
		__builtin_memcpy(data + ETH_ALEN, dst->host_mac, ETH_ALEN);
		/* TTL - 1 with the incremental header checksum update of the
		 * kernel's ip_decrease_ttl(): the TTL is the high byte of its
		 * 16-bit word. The header still sums to the same value, so a
		 * CHECKSUM_COMPLETE skb->csum stays right. */
		ip = data + ETH_HLEN;
		check = ip->check;
		check += bpf_htons(0x0100);
		ip->check = (__sum16)(check + (check >= 0xffff));
		ip->ttl--;
		p->ttl--;
	} else {
		__builtin_memcpy(macs, dst->mac, ETH_ALEN);
		__builtin_memcpy(macs + ETH_ALEN, dst->host_mac, ETH_ALEN);
		if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0) < 0)
			return SL_DROP_INVALID;
		if (csum_dec_ttl(skb, p) < 0)
			return SL_DROP_INVALID;
	}
	ret = bpf_redirect_peer(dst->ifindex, 0);
	if (ret != TC_ACT_REDIRECT)
		return SL_DROP_REDIRECT_FAILED;
	v->action = TC_ACT_REDIRECT;
	v->rx_ep = dst->ep_id;
	v->dst_id = dst->identity;
	return SL_FORWARDED;
}

#endif
