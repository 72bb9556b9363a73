// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* to_pod: tc egress of a pod's host veth, i.e. packets the node's stack
 * sends to the pod (from node processes, other nodes, Service backends
 * behind the stack). Reverse NAT of Service replies, ingress policy for
 * new connections, counters. Same-node pod-to-pod traffic never comes
 * here: from_pod redirects it straight into the peer. Counters are
 * charged to the endpoint owning the destination address. */
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

/* An IPv4 packet towards the pod. Returns SL_FORWARDED or a drop reason;
 * v->rx_ep/drop_ep name the pod's endpoint when the destination is one. */
static __always_inline int to_pod_ipv4(struct __sk_buff *skb, struct pkt *p,
				       struct dp_verdict *v)
{
	struct ct_entry tmpl = {};
	__u32 policy_id = 0;
	struct ct_entry *e;
	struct ep_info *dst;
	struct ct_key key;
	int res, r;
	__u64 now;

	if (p->is_frag)
		return SL_DROP_FRAG;
	if (pkt_is_icmp_error(p))
		return SL_FORWARDED;

	now = sl_now(); /* the one clock read of this packet */
	res = ct_lookup(p, &key, &e, now);
	if (res != CT_NEW) {
		ct_refresh(e, p, res, now);
		r = SL_FORWARDED;
		if (res == CT_REPLY && (e->flags & SL_CT_F_SVC))
			r = lb_rev_nat(skb, p, e);
		dst = ep_lookup_v4(p->daddr.v4); /* (after the reverse NAT) */
		if (dst)
			v->rx_ep = v->drop_ep = dst->ep_id;
		return r;
	}

	dst = ep_lookup_v4(p->daddr.v4);
	if (!dst)
		return SL_FORWARDED; /* not a pod address (e.g. broadcast): not ours to police */
	v->rx_ep = v->drop_ep = dst->ep_id;
	v->dst_id = dst->identity;
	v->src_id = ipcache_identity_v4(p->saddr.v4);
	r = policy_ingress(p, dst, v->src_id, &policy_id);
	if (policy_id)
		ev_send(skb, p, SL_EV_POLICY_VERDICT, r, SL_DIR_INGRESS, v->src_id, v->dst_id,
			policy_id);
	if (r != SL_FORWARDED)
		return r;
	tmpl.src_identity = v->src_id;
	return ct_create(&key, p, &tmpl, now);
}

SEC("tc")
int to_pod(struct __sk_buff *skb)
{
	struct dp_verdict v = { .action = TC_ACT_OK, .dir = SL_DIR_INGRESS };
	__u8 smac[ETH_ALEN];
	struct pkt p;

	v.reason = pkt_parse(skb, &p, smac);
	if (v.reason != SL_FORWARDED)
		goto out;
	/* ARP replies from the node, and anything not IPv4 the node chose to
	 * send (the pod has IPv6 off): not policed, not charged to the pod. */
	if (p.family == SL_AF_INET)
		v.reason = to_pod_ipv4(skb, &p, &v);
out:
	return dp_exit(skb, &p, &v);
}
