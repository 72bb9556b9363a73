/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Service load-balancing in tc (include/sluice/lb.h has the maps):
 * frontend lookup, backend choice (existing flow, ClientIP affinity,
 * Maglev), DNAT with hairpin SNAT, reverse NAT of replies, and the ICMP
 * answer (TCP reset / ICMP port unreachable) when a Service has no backend. */
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

/* Backend chosen for a new Service flow. */
struct lb_choice {
	__u32 backend_id;
	__be32 addr; /* network order */
	__be16 port; /* network order; the frontend's port when the backend has none */
};

/* Choose the backend of p, the first packet of a flow to frontend svc, at
 * time now: the client's affinity while it lasts, else Maglev. Records the
 * affinity. Returns SL_FORWARDED or SL_DROP_NO_BACKEND. */
static __always_inline int lb_select(const struct pkt *p, const struct svc_val *svc,
				     struct lb_choice *c, __u64 now)
{
	struct affinity_key ak = {};
	struct affinity_val av = {};
	struct backend_val *be;
	__u32 id = 0;

	if (!svc->backend_count)
		return SL_DROP_NO_BACKEND;

	if (svc->flags & SL_SVC_F_AFFINITY) {
		struct affinity_val *a;

		ak.client = p->saddr;
		ak.svc_id = svc->svc_id;
		ak.family = p->family;
		a = bpf_map_lookup_elem(&sluice_affinity, &ak);
		/* Written as a sum: sock.bpf.c stamps with the precise clock,
		 * which may be a tick ahead of now (sl_now()). */
		if (a && a->last_used_ns + (__u64)svc->affinity_timeout * NSEC_PER_SEC >= now) {
			id = a->backend_id;
			be = bpf_map_lookup_elem(&sluice_backend, &id);
			/* Stick only to a backend that still takes new flows. */
			if (!be || be->state != SL_BE_ACTIVE)
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
	c->addr = be->addr.v4;
	/* Port 0: the backend listens on the frontend's port. */
	c->port = be->port ? be->port : p->dport;

	if (svc->flags & SL_SVC_F_AFFINITY) {
		av.last_used_ns = now;
		av.backend_id = id;
		/* Failure only loses stickiness, not the packet. */
		bpf_map_update_elem(&sluice_affinity, &ak, &av, BPF_ANY);
	}
	return SL_FORWARDED;
}

/* Rewrite p (client -> frontend) to the backend addr:port; when the client
 * is that backend itself, also rewrite the source to the service loopback
 * so the pod accepts the packet. Returns SL_FORWARDED or
 * SL_DROP_NAT_FAILED. */
static __always_inline int lb_dnat(struct __sk_buff *skb, struct pkt *p, __be32 addr,
				   __be16 port)
{
	__be32 saddr = p->saddr.v4;

	if (addr == saddr)
		saddr = svc_loopback_v4;
	if (csum_nat_v4(skb, p, saddr, addr, p->sport, port) < 0)
		return SL_DROP_NAT_FAILED;
	return SL_FORWARDED;
}

/* Fill the connection template of a Service flow (front: the frontend
 * p was sent to, before lb_dnat rewrote it). */
static __always_inline void lb_conn_tmpl(struct ct_entry *tmpl, const struct svc_val *svc,
					 const struct lb_choice *c, __be32 client,
					 __be32 front_addr, __be16 front_port)
{
	tmpl->flags = SL_CT_F_SVC;
	tmpl->rev_nat_id = svc->rev_nat_id;
	tmpl->backend_id = c->backend_id;
	tmpl->nat_addr = front_addr;
	tmpl->nat_port = front_port;
	if (c->addr == client) {
		tmpl->flags |= SL_CT_F_HAIRPIN;
		tmpl->client_addr = client;
	}
}

/* Record the flow's backend in its frontend entry (key: the untranslated
 * tuple), so its later packets are translated from that entry alone.
 * tmpl is the flow's connection template, already written (ct_create), and
 * becomes the frontend entry's. Returns SL_FORWARDED or SL_DROP_CT_FULL. */
static __always_inline int lb_front_create(const struct ct_key *key, const struct pkt *p,
					   struct ct_entry *tmpl, const struct lb_choice *c,
					   __u64 now)
{
	tmpl->flags = SL_CT_F_FRONT;
	tmpl->nat_addr = c->addr;
	tmpl->nat_port = c->port;
	tmpl->client_addr = 0;
	return ct_create(key, p, tmpl, now);
}

/* Keep the connection entry of the Service flow whose frontend entry f just
 * advanced (ct_advance() returned 1: a state change, or a second went by):
 * the connection sees only replies, so it follows the forward direction's
 * state and lifetime from here; re-created when the LRU evicted it.
 * p is the untranslated packet. Not inlined: runs once a second per flow,
 * and its template would weigh on the fast path's stack. */
static __noinline void lb_conn_follow(const struct pkt *p, const struct ct_entry *f,
					   __u64 now)
{
	struct ct_entry tmpl = {};
	struct ct_entry *e;
	struct ct_key k = {
		.saddr = f->nat_addr == p->saddr.v4 ? svc_loopback_v4 : p->saddr.v4,
		.daddr = f->nat_addr,
		.sport = p->sport,
		.dport = f->nat_port,
		.proto = p->proto,
	};

	e = bpf_map_lookup_elem(&sluice_ct, &k);
	if (e) {
		ct_advance(e, p, CT_ORIG, now);
		return;
	}
	tmpl.flags = SL_CT_F_SVC;
	tmpl.rev_nat_id = f->rev_nat_id;
	tmpl.backend_id = f->backend_id;
	tmpl.src_identity = f->src_identity;
	tmpl.nat_addr = p->daddr.v4;
	tmpl.nat_port = p->dport;
	if (f->nat_addr == p->saddr.v4) {
		tmpl.flags |= SL_CT_F_HAIRPIN;
		tmpl.client_addr = p->saddr.v4;
	}
	ct_create(&k, p, &tmpl, now); /* failing only delays it to the next second */
}

/* A later packet p of the Service flow whose frontend entry is f: account
 * it and translate it to the recorded backend. sluiced deletes the
 * frontend entries of a backend it removes (controller/services.c); as a
 * safety net, on state changes and once a second the backend is checked
 * to still exist, and the connection entry is kept in step. Returns
 * SL_FORWARDED, SL_CT_REBALANCE (the backend is gone: choose again as for
 * a new flow) or SL_DROP_NAT_FAILED. */
#define SL_CT_REBALANCE (-1)
static __always_inline int lb_front_packet(struct __sk_buff *skb, struct pkt *p,
					   struct ct_entry *f, __u64 now)
{
	if (ct_refresh(f, p, CT_ORIG, now)) {
		__u32 id = f->backend_id;

		if (!bpf_map_lookup_elem(&sluice_backend, &id))
			return SL_CT_REBALANCE;
		lb_conn_follow(p, f, now);
	}
	return lb_dnat(skb, p, f->nat_addr, f->nat_port);
}

/* Undo the Service translation on a reply of connection e: source back to
 * the frontend, hairpin destination back to the client. Returns
 * SL_FORWARDED or SL_DROP_NAT_FAILED. */
static __always_inline int lb_rev_nat(struct __sk_buff *skb, struct pkt *p,
				      const struct ct_entry *e)
{
	if (csum_nat_v4(skb, p, e->nat_addr,
			(e->flags & SL_CT_F_HAIRPIN) ? e->client_addr : p->daddr.v4, e->nat_port,
			p->dport) < 0)
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

/* Rewrite the skb to a frame of eth + body (body_len bytes, a multiple
 * of 4) addressed from gw_mac to client_mac, and send it into the pod
 * behind this host veth. Returns 0 or a negative errno. */
static __always_inline int lb_send_back(struct __sk_buff *skb, const __u8 *client_mac,
					const __u8 *gw_mac, void *body, __u32 body_len)
{
	struct ethhdr eth;

	__builtin_memcpy(eth.h_dest, client_mac, ETH_ALEN);
	__builtin_memcpy(eth.h_source, gw_mac, ETH_ALEN);
	eth.h_proto = bpf_htons(ETH_P_IP);
	if (bpf_skb_change_tail(skb, ETH_HLEN + body_len, 0) < 0)
		return -EINVAL;
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_HLEN, body, body_len, 0) < 0)
		return -EINVAL;
	/* Back into the pod that asked: the peer of the interface we run on. */
	return bpf_redirect_peer(skb->ifindex, 0) == TC_ACT_REDIRECT ? 0 : -EINVAL;
}

/* IPv4 header of an answer from the frontend (p's destination) to the
 * client (p's source), checksum included. */
static __always_inline int lb_answer_iph(struct iphdr *ip, const struct pkt *p, __u8 proto,
					 __u16 tot_len)
{
	__s64 sum;

	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = bpf_htons(tot_len);
	ip->ttl = 64;
	ip->protocol = proto;
	ip->saddr = p->daddr.v4;
	ip->daddr = p->saddr.v4;
	sum = bpf_csum_diff(0, 0, (__be32 *)ip, sizeof(*ip), 0);
	if (sum < 0)
		return -EINVAL;
	ip->check = sl_csum_fold(sum);
	return 0;
}

/* TCP reset as the frontend would send it (RFC 9293 3.10.7.1). */
struct lb_rst_reply {
	struct iphdr ip;
	struct tcphdr tcp;
};

/* IPv4 pseudo header for the TCP checksum. */
struct lb_pseudo_hdr {
	__be32 saddr;
	__be32 daddr;
	__u8 zero;
	__u8 proto;
	__be16 len;
};

static __always_inline int lb_refuse_tcp(struct __sk_buff *skb, const struct pkt *p,
					 const __u8 *client_mac, const __u8 *gw_mac)
{
	struct lb_rst_reply r = {};
	struct lb_pseudo_hdr ph = {};
	struct tcphdr th;
	__u32 seg_len;
	__s64 sum;

	if (bpf_skb_load_bytes(skb, p->l4_off, &th, sizeof(th)) < 0)
		return -EINVAL;
	if (th.rst)
		return -EINVAL; /* never answer a reset */
	if (lb_answer_iph(&r.ip, p, IPPROTO_TCP, sizeof(r)) < 0)
		return -EINVAL;
	r.tcp.source = p->dport;
	r.tcp.dest = p->sport;
	r.tcp.doff = sizeof(r.tcp) / 4;
	r.tcp.rst = 1;
	if (th.ack) {
		r.tcp.seq = th.ack_seq;
	} else {
		/* ACK everything the segment occupied: data plus SYN/FIN. */
		seg_len = p->len - p->l4_off - th.doff * 4 + th.syn + th.fin;
		r.tcp.ack_seq = bpf_htonl(bpf_ntohl(th.seq) + seg_len);
		r.tcp.ack = 1;
	}
	ph.saddr = r.ip.saddr;
	ph.daddr = r.ip.daddr;
	ph.proto = IPPROTO_TCP;
	ph.len = bpf_htons(sizeof(r.tcp));
	sum = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
	if (sum < 0)
		return -EINVAL;
	sum = bpf_csum_diff(0, 0, (__be32 *)&r.tcp, sizeof(r.tcp), sum);
	if (sum < 0)
		return -EINVAL;
	r.tcp.check = sl_csum_fold(sum);
	return lb_send_back(skb, client_mac, gw_mac, &r, sizeof(r));
}

static __always_inline int lb_refuse_icmp(struct __sk_buff *skb, const struct pkt *p,
					  const __u8 *client_mac, const __u8 *gw_mac)
{
	struct lb_icmp_reply r = {};
	__s64 sum;

	if (p->l4_off != p->l3_off + sizeof(struct iphdr))
		return -EINVAL; /* IP options: not worth quoting */
	if (bpf_skb_load_bytes(skb, p->l3_off, r.quote, sizeof(r.quote)) < 0)
		return -EINVAL;
	if (lb_answer_iph(&r.ip, p, IPPROTO_ICMP, sizeof(r)) < 0)
		return -EINVAL;
	r.icmp.type = ICMP_DEST_UNREACH;
	r.icmp.code = ICMP_PORT_UNREACH;
	sum = bpf_csum_diff(0, 0, (__be32 *)&r.icmp, sizeof(r) - sizeof(r.ip), 0);
	if (sum < 0)
		return -EINVAL;
	r.icmp.checksum = sl_csum_fold(sum);
	return lb_send_back(skb, client_mac, gw_mac, &r, sizeof(r));
}

/* Answer the client's packet to a frontend without backend, in place of
 * the packet, and send it back into the pod (the client behind this host
 * veth): TCP gets a reset (processed as soon as connect() lets go of the
 * socket; an ICMP error arriving while connect() holds it would only be
 * noted as a soft error and the SYN retried a second later), UDP an ICMP
 * port unreachable. p must be the untranslated packet; client_mac/gw_mac
 * are the pod's and the host veth's MACs. Always returns
 * SL_DROP_NO_BACKEND; *action is TC_ACT_REDIRECT once the answer is on
 * its way, TC_ACT_SHOT when there is none (e.g. a reset, IP options).
 * A function of its own (not inlined): its answer buffers would otherwise
 * add to the stack of the fast path that calls it. */
static __noinline int lb_refuse(struct __sk_buff *skb, const struct pkt *p,
				     const __u8 *client_mac, const __u8 *gw_mac, int *action)
{
	int ret;

	if (p->proto == IPPROTO_TCP)
		ret = lb_refuse_tcp(skb, p, client_mac, gw_mac);
	else
		ret = lb_refuse_icmp(skb, p, client_mac, gw_mac);
	*action = ret ? TC_ACT_SHOT : TC_ACT_REDIRECT;
	return SL_DROP_NO_BACKEND;
}

#endif
