// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* from_pod: tc ingress of a pod's host veth, i.e. every packet the pod
 * sends. Anti-spoofing, Service translation, conntrack, policy (first
 * packet of a connection), same-node delivery by bpf_redirect_peer; the
 * rest goes up the node's stack (node IPs, the gateway, other nodes). */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/csum.h"
#include "lib/metrics.h"
#include "lib/events.h"
#include "lib/ct.h"
#include "lib/lb.h"
#include "lib/route.h"
#include "lib/policy.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Policy for the first packet of a connection from src: the sender's
 * egress, and the receiver's ingress when it is a pod on this node (which
 * no other program will see). Returns SL_FORWARDED or the drop reason. */
static __always_inline int from_pod_policy(struct __sk_buff *skb, const struct pkt *p,
					   const struct ep_info *src, const struct ep_info *dst,
					   struct dp_verdict *v)
{
	__u32 policy_id = 0;
	int r;

	r = policy_egress(p, src, v->dst_id, &policy_id);
	if (policy_id)
		ev_send(skb, p, SL_EV_POLICY_VERDICT, r, SL_DIR_EGRESS, v->src_id, v->dst_id,
			policy_id);
	if (r != SL_FORWARDED || !dst)
		return r;
	policy_id = 0;
	r = policy_ingress(p, dst, src->identity, &policy_id);
	if (policy_id)
		ev_send(skb, p, SL_EV_POLICY_VERDICT, r, SL_DIR_INGRESS, v->src_id, v->dst_id,
			policy_id);
	return r;
}

/* Send p on: into the local pod dst by bpf_redirect_peer, else up the
 * node's stack (node addresses, the gateway, off-node). */
static __always_inline int from_pod_deliver(struct __sk_buff *skb, struct pkt *p,
					    const struct ep_info *dst, struct dp_verdict *v)
{
	if (dst)
		return route_to_local(skb, p, dst, v);
	v->action = TC_ACT_OK;
	return SL_FORWARDED;
}

/* from_pod_deliver() to whatever owns p's destination address. */
static __always_inline int from_pod_route(struct __sk_buff *skb, struct pkt *p,
					  struct dp_verdict *v)
{
	return from_pod_deliver(skb, p, ep_lookup_v4(p->daddr.v4), v);
}

/* The first packet of a flow to the Service frontend svc: choose the
 * backend, translate, then as any first packet (policy judges the
 * translated packet; a connection entry of the translated tuple may exist
 * already when only the frontend entry was lost). The frontend entry is
 * written last, so a flow policy denies gets none. Returns SL_FORWARDED
 * (*dstp: the local endpoint it goes to, or NULL) or a drop reason. */
static __always_inline int from_pod_svc_new(struct __sk_buff *skb, struct pkt *p,
					    const struct ep_info *src, const struct svc_val *svc,
					    struct dp_verdict *v, struct ct_entry *tmpl,
					    __u64 now, struct ep_info **dstp)
{
	struct ct_key front_key, key;
	struct lb_choice c = {};
	__be32 client = p->saddr.v4;
	struct ct_entry *e;
	struct ep_info *dst;
	int res, r;

	r = lb_select(p, svc, &c, now);
	if (r == SL_DROP_NO_BACKEND)
		return lb_refuse(skb, p, src->mac, src->host_mac, &v->action);
	if (r != SL_FORWARDED)
		return r;
	ct_key_from_pkt(&front_key, p);
	lb_conn_tmpl(tmpl, svc, &c, client, p->daddr.v4, p->dport);
	tmpl->src_identity = src->identity;
	r = lb_dnat(skb, p, c.addr, c.port);
	if (r != SL_FORWARDED)
		return r;

	dst = ep_lookup_v4(p->daddr.v4);
	res = ct_lookup(p, &key, &e, now);
	if (res != CT_NEW) {
		ct_refresh(e, p, res, now);
	} else {
		v->dst_id = dst ? dst->identity : ipcache_identity_v4(p->daddr.v4);
		r = from_pod_policy(skb, p, src, dst, v);
		if (r != SL_FORWARDED)
			return r;
		r = ct_create(&key, p, tmpl, now);
		if (r != SL_FORWARDED)
			return r;
	}
	*dstp = dst;
	return lb_front_create(&front_key, p, tmpl, &c, now);
}

/* An IPv4 packet from the pod src (already checked against spoofing).
 * Returns SL_FORWARDED (v->action says where it goes) or a drop reason. */
static __always_inline int from_pod_ipv4(struct __sk_buff *skb, struct pkt *p,
					 const struct ep_info *src, struct dp_verdict *v)
{
	struct ct_entry tmpl = {};
	struct ct_entry *e;
	struct ep_info *dst;
	struct svc_val *svc;
	struct ct_key key;
	int res, r;
	__u64 now;

	if (p->is_frag)
		return SL_DROP_FRAG; /* no ports: cannot be tracked nor policed */
	if (pkt_is_icmp_error(p))
		goto route; /* related to a tracked flow; not tracked itself */
	now = sl_now(); /* the one clock read of this packet */

	/* One lookup finds an established flow: a connection, a reply, or a
	 * Service flow's frontend entry (which holds its backend). */
	res = ct_lookup(p, &key, &e, now);
	if (res == CT_ORIG && (e->flags & SL_CT_F_FRONT)) {
		r = lb_front_packet(skb, p, e, now);
		if (r != SL_CT_REBALANCE)
			return r == SL_FORWARDED ? from_pod_route(skb, p, v) : r;
		res = CT_NEW; /* its backend is gone: choose again */
	}
	if (res != CT_NEW) {
		ct_refresh(e, p, res, now);
		if (res == CT_REPLY && (e->flags & SL_CT_F_SVC)) {
			r = lb_rev_nat(skb, p, e);
			if (r != SL_FORWARDED)
				return r;
		}
		goto route;
	}

	svc = lb_lookup_svc(p);
	if (svc) {
		dst = 0;
		r = from_pod_svc_new(skb, p, src, svc, v, &tmpl, now, &dst);
		if (r != SL_FORWARDED)
			return r;
		goto deliver;
	}
	dst = ep_lookup_v4(p->daddr.v4);
	v->dst_id = dst ? dst->identity : ipcache_identity_v4(p->daddr.v4);
	r = from_pod_policy(skb, p, src, dst, v);
	if (r != SL_FORWARDED)
		return r;
	tmpl.src_identity = src->identity;
	r = ct_create(&key, p, &tmpl, now);
	if (r != SL_FORWARDED)
		return r;
	goto deliver; /* dst is still the destination's endpoint */

route:
	return from_pod_route(skb, p, v);
deliver:
	return from_pod_deliver(skb, p, dst, v);
}

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	struct dp_verdict v = { .action = TC_ACT_OK, .dir = SL_DIR_EGRESS };
	struct ep_info *src;
	__u8 smac[ETH_ALEN];
	struct pkt p;

	v.reason = pkt_parse(skb, &p, smac);
	if (v.reason != SL_FORWARDED)
		goto out;
	/* Until the sender is verified (its address and interface), nothing
	 * is charged to an endpoint: drops before that count per reason only
	 * (the drop event names the interface). */
	if (p.eth_proto == ETH_P_ARP)
		goto out; /* the pod resolving its gateway: the node's stack answers */
	if (p.family != SL_AF_INET) {
		v.reason = SL_DROP_UNSUPPORTED_L3; /* IPv6 included, until dual stack */
		goto out;
	}
	src = ep_lookup_v4(p.saddr.v4);
	if (!src || src->ifindex != skb->ifindex) {
		v.reason = SL_DROP_SPOOF_IP;
		goto out;
	}
	v.drop_ep = src->ep_id;
	if (!sl_mac_eq(smac, src->mac)) {
		v.reason = SL_DROP_SPOOF_MAC;
		goto out;
	}
	v.src_id = src->identity;
	v.tx_ep = src->ep_id;
	v.reason = from_pod_ipv4(skb, &p, src, &v);
out:
	return dp_exit(skb, &p, &v);
}
