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

	svc = lb_lookup_svc(p);
	if (svc) {
		struct lb_choice c = {};

		r = lb_select(p, svc, &c, now);
		if (r == SL_DROP_NO_BACKEND)
			return lb_refuse(skb, p, src->mac, src->host_mac, &v->action);
		if (r != SL_FORWARDED)
			return r;
		r = lb_dnat(skb, p, svc, &c, &tmpl);
		if (r != SL_FORWARDED)
			return r;
	}

	res = ct_lookup(p, &key, &e, now);
	if (res != CT_NEW) {
		ct_refresh(e, p, res, now);
		if (res == CT_REPLY && (e->flags & SL_CT_F_SVC)) {
			r = lb_rev_nat(skb, p, e);
			if (r != SL_FORWARDED)
				return r;
		}
		goto route;
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
	dst = ep_lookup_v4(p->daddr.v4);
deliver:
	if (dst)
		return route_to_local(skb, p, dst, v);
	v->action = TC_ACT_OK; /* node stack: node addresses, gateway, off-node */
	return SL_FORWARDED;
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
	if (p.eth_proto == ETH_P_ARP) {
		/* The pod resolving its gateway: the node's stack answers. */
		v.tx_ifindex = skb->ifindex;
		goto out;
	}
	if (p.family != SL_AF_INET) {
		v.reason = SL_DROP_UNSUPPORTED_L3; /* IPv6 included, until dual stack */
		goto out;
	}
	src = ep_lookup_v4(p.saddr.v4);
	if (!src || src->ifindex != skb->ifindex) {
		v.reason = SL_DROP_SPOOF_IP;
		goto out;
	}
	if (!sl_mac_eq(smac, src->mac)) {
		v.reason = SL_DROP_SPOOF_MAC;
		goto out;
	}
	v.src_id = src->identity;
	v.tx_ifindex = skb->ifindex;
	v.reason = from_pod_ipv4(skb, &p, src, &v);
out:
	return dp_exit(skb, &p, &v);
}
