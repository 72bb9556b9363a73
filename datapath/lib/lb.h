/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Service load-balancing in tc (include/sluice/lb.h has the maps):
 * frontend lookup, backend choice (existing flow, ClientIP affinity,
 * Maglev), DNAT with hairpin SNAT, reverse NAT of replies, and the ICMP
 * port-unreachable answer when a Service has no backend. */
#ifndef SLUICE_DP_LB_H
#define SLUICE_DP_LB_H

#include "common.h"
#include "maps.h"
#include "csum.h"
#include "ct.h"
#include "pkt.h"

/* jhash_3words from the kernel's <linux/jhash.h>. */
#define SL_JHASH_INITVAL 0xdeadbeef
static __always_inline __u32 sl_rol32(__u32 w, unsigned int s)
{
	return (w << s) | (w >> (32 - s));
}
static __always_inline __u32 sl_jhash_3words(__u32 a, __u32 b, __u32 c, __u32 initval)
{
	a += SL_JHASH_INITVAL + initval + (3 << 2);
	b += SL_JHASH_INITVAL + initval + (3 << 2);
	c += SL_JHASH_INITVAL + initval + (3 << 2);
	c ^= b; c -= sl_rol32(b, 14);
	a ^= c; a -= sl_rol32(c, 11);
	b ^= a; b -= sl_rol32(a, 25);
	c ^= b; c -= sl_rol32(b, 16);
	a ^= c; a -= sl_rol32(c, 4);
	b ^= a; b -= sl_rol32(a, 14);
	c ^= b; c -= sl_rol32(b, 24);
	return c;
}

/* The frontend p is addressed to, or NULL. */
static __always_inline struct svc_val *lb_lookup_svc(const struct pkt *p)
{
	struct svc_key k = {
		.port = p->dport,
		.proto = p->proto,
		.family = p->family,
	};

	if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
		return 0;
	k.addr = p->daddr;
	return bpf_map_lookup_elem(&sluice_svc, &k);
}

/* Maglev slot of p's 5-tuple in the table of svc_id; returns the backend
 * id there, 0 when the table is missing or the slot is empty. */
static __always_inline __u32 lb_maglev_pick(const struct pkt *p, __u32 svc_id)
{
	__u32 *tbl = bpf_map_lookup_elem(&sluice_maglev, &svc_id);
	__u32 m = maglev_m, h, slot;

	if (!tbl || !m)
		return 0;
	h = sl_jhash_3words(p->saddr.v4, p->daddr.v4 ^ p->proto,
			    ((__u32)bpf_ntohs(p->sport) << 16) | bpf_ntohs(p->dport), 0);
	slot = h % m;
	/* Verifier workaround: re-check against the (load-time constant) knob
	 * so the verifier sees slot < M and tbl[slot] within value_size. */
	barrier_var(slot);
	if (slot >= maglev_m)
		return 0;
	return tbl[slot];
}

/* Backend chosen for a Service flow. */
struct lb_choice {
	__u32 backend_id;
	struct backend_val be;
};

/* Choose the backend of p (addressed to frontend svc): the flow's own
 * backend while it exists, else the client's affinity, else Maglev.
 * Records the choice (SCOPE_SVC conntrack entry, affinity). Returns
 * SL_FORWARDED, SL_DROP_NO_BACKEND or SL_DROP_CT_FULL. */
static __always_inline int lb_select(const struct pkt *p, const struct svc_val *svc,
				     struct lb_choice *c)
{
	__u64 now = bpf_ktime_get_ns();
	struct ct_entry tmpl = {};
	struct affinity_key ak = {};
	struct affinity_val av = {};
	struct backend_val *be;
	struct ct_entry *se;
	struct ct_key sk;
	__u32 id = 0;

	ct_key_from_pkt(&sk, p, SL_CT_SCOPE_SVC);
	se = bpf_map_lookup_elem(&sluice_ct, &sk);
	if (se && se->expires_ns > now && !ct_is_reopen(se, p) && se->backend_id) {
		id = se->backend_id;
		be = bpf_map_lookup_elem(&sluice_backend, &id);
		if (be) {
			/* Existing flow: stays on its backend, whatever the table says. */
			ct_refresh(se, p, CT_ORIG);
			c->backend_id = id;
			c->be = *be;
			return SL_FORWARDED;
		}
		id = 0; /* backend removed: re-balance */
	}
	if (!svc->backend_count)
		return SL_DROP_NO_BACKEND;

	if (svc->flags & SL_SVC_F_AFFINITY) {
		struct affinity_val *a;

		ak.client = p->saddr;
		ak.svc_id = svc->svc_id;
		ak.family = p->family;
		a = bpf_map_lookup_elem(&sluice_affinity, &ak);
		if (a && now - a->last_used_ns <= (__u64)svc->affinity_timeout * NSEC_PER_SEC) {
			id = a->backend_id;
			if (!bpf_map_lookup_elem(&sluice_backend, &id))
				id = 0;
		}
	}
	if (!id)
		id = lb_maglev_pick(p, svc->svc_id);
	if (!id)
		return SL_DROP_NO_BACKEND;
	be = bpf_map_lookup_elem(&sluice_backend, &id);
	if (!be)
		return SL_DROP_NO_BACKEND;
	c->backend_id = id;
	c->be = *be;

	if (svc->flags & SL_SVC_F_AFFINITY) {
		av.last_used_ns = now;
		av.backend_id = id;
		/* Failure only loses stickiness, not the packet. */
		bpf_map_update_elem(&sluice_affinity, &ak, &av, BPF_ANY);
	}
	tmpl.backend_id = id;
	tmpl.rev_nat_id = svc->rev_nat_id;
	tmpl.flags = SL_CT_F_SVC;
	return ct_create(&sk, p, &tmpl);
}

/* Rewrite p (to a frontend) to the chosen backend; when the client is that
 * backend itself, also rewrite the source to the service loopback so the
 * pod accepts the packet. Fills the connection template tmpl. Returns
 * SL_FORWARDED or SL_DROP_NAT_FAILED. */
static __always_inline int lb_dnat(struct __sk_buff *skb, struct pkt *p, const struct svc_val *svc,
				   const struct lb_choice *c, struct ct_entry *tmpl)
{
	union sl_addr client = p->saddr;

	tmpl->flags |= SL_CT_F_SVC;
	tmpl->rev_nat_id = svc->rev_nat_id;
	tmpl->backend_id = c->backend_id;
	if (c->be.addr.v4 != p->daddr.v4 && csum_set_v4_addr(skb, p, 0, c->be.addr.v4) < 0)
		return SL_DROP_NAT_FAILED;
	if (c->be.port && csum_set_port(skb, p, 0, c->be.port) < 0)
		return SL_DROP_NAT_FAILED;
	if (c->be.addr.v4 == client.v4) {
		if (csum_set_v4_addr(skb, p, 1, svc_loopback_v4) < 0)
			return SL_DROP_NAT_FAILED;
		tmpl->flags |= SL_CT_F_HAIRPIN;
		tmpl->nat_addr = client;
	}
	return SL_FORWARDED;
}

/* Undo the Service translation on a reply of connection e: source back to
 * the frontend, hairpin destination back to the client. Returns
 * SL_FORWARDED or SL_DROP_NAT_FAILED. */
static __always_inline int lb_rev_nat(struct __sk_buff *skb, struct pkt *p,
				      const struct ct_entry *e)
{
	__u32 id = e->rev_nat_id;
	struct revnat_val *rn = bpf_map_lookup_elem(&sluice_revnat, &id);

	if (!rn)
		return SL_DROP_NAT_FAILED;
	if ((e->flags & SL_CT_F_HAIRPIN) && csum_set_v4_addr(skb, p, 0, e->nat_addr.v4) < 0)
		return SL_DROP_NAT_FAILED;
	if (rn->addr.v4 != p->saddr.v4 && csum_set_v4_addr(skb, p, 1, rn->addr.v4) < 0)
		return SL_DROP_NAT_FAILED;
	if (csum_set_port(skb, p, 1, rn->port) < 0)
		return SL_DROP_NAT_FAILED;
	return SL_FORWARDED;
}

/* ICMP port unreachable as the frontend would send it: IPv4 header + ICMP
 * header + the quoted IP header and first 8 bytes of the offending packet. */
struct lb_icmp_reply {
	struct iphdr ip;
	struct icmphdr icmp;
	__u8 quote[sizeof(struct iphdr) + 8];
};
SL_STATIC_ASSERT(sizeof(struct lb_icmp_reply) == 56, "lb_icmp_reply size");

static __always_inline __u16 sl_csum_fold(__s64 sum)
{
	__u32 s = (__u32)sum;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* Turn the packet (the client's first packet to a frontend without
 * backend) into an ICMP port unreachable back to the client, who is the
 * pod behind this host veth, and send it into the pod. p must be the
 * untranslated packet; client_mac/gw_mac are the pod's and the host
 * veth's MACs. Returns SL_DROP_NO_BACKEND with v->action TC_ACT_REDIRECT
 * once the answer is on its way, or with TC_ACT_SHOT when it can't be. */
static __always_inline int lb_refuse(struct __sk_buff *skb, const struct pkt *p,
				     const __u8 *client_mac, const __u8 *gw_mac, int *action)
{
	struct lb_icmp_reply r = {};
	struct ethhdr eth;
	__s64 sum;

	*action = TC_ACT_SHOT;
	if (p->l4_off != p->l3_off + sizeof(struct iphdr))
		return SL_DROP_NO_BACKEND; /* IP options: not worth quoting */
	if (bpf_skb_load_bytes(skb, p->l3_off, r.quote, sizeof(r.quote)) < 0)
		return SL_DROP_NO_BACKEND;

	r.ip.version = 4;
	r.ip.ihl = 5;
	r.ip.tot_len = bpf_htons(sizeof(r));
	r.ip.ttl = 64;
	r.ip.protocol = IPPROTO_ICMP;
	r.ip.saddr = p->daddr.v4;
	r.ip.daddr = p->saddr.v4;
	sum = bpf_csum_diff(0, 0, (__be32 *)&r.ip, sizeof(r.ip), 0);
	if (sum < 0)
		return SL_DROP_NO_BACKEND;
	r.ip.check = sl_csum_fold(sum);
	r.icmp.type = ICMP_DEST_UNREACH;
	r.icmp.code = ICMP_PORT_UNREACH;
	sum = bpf_csum_diff(0, 0, (__be32 *)&r.icmp, sizeof(r) - sizeof(r.ip), 0);
	if (sum < 0)
		return SL_DROP_NO_BACKEND;
	r.icmp.checksum = sl_csum_fold(sum);

	__builtin_memcpy(eth.h_dest, client_mac, ETH_ALEN);
	__builtin_memcpy(eth.h_source, gw_mac, ETH_ALEN);
	eth.h_proto = bpf_htons(ETH_P_IP);

	if (bpf_skb_change_tail(skb, ETH_HLEN + sizeof(r), 0) < 0)
		return SL_DROP_NO_BACKEND;
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_HLEN, &r, sizeof(r), 0) < 0)
		return SL_DROP_NO_BACKEND;
	/* Back into the pod that asked: the peer of the interface we run on. */
	if (bpf_redirect_peer(skb->ifindex, 0) == TC_ACT_REDIRECT)
		*action = TC_ACT_REDIRECT;
	return SL_DROP_NO_BACKEND;
}

#endif
