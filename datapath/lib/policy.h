/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * NetworkPolicy lookups (owned by the policy module). Called once per new
 * connection (conntrack lets replies and later packets through), after
 * Service translation, so p->daddr/dport are the backend's.
 *
 * Cost: a bounded number of map lookups, almost all of them hash lookups,
 * whatever the number of policies, rules or pods (layout and rationale in
 * include/sluice/policy.h).
 */
#ifndef SLUICE_DP_POLICY_H
#define SLUICE_DP_POLICY_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <sluice/endpoint.h>
#include <sluice/metrics.h>
#include <sluice/policy.h>
#include "pkt.h"

/* Isolated directions of each local endpoint. Written by sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_POL_EP_MAX);
	__type(key, __u32);
	__type(value, struct pol_ep_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_pol_ep SEC(".maps");

/* (ep, dir, peer, proto, port), (.., proto, 0) and (.., 0, 0) -> allowing
 * rule. Written by sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_POL_EXACT_MAX);
	__type(key, struct pol_exact_key);
	__type(value, struct pol_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_pol_exact SEC(".maps");

/* (ep, dir, peer, proto, port range prefix) -> allowing rule. Written by
 * sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SL_POL_MAX);
	__type(key, struct pol_key);
	__type(value, struct pol_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_pol SEC(".maps");

/* (ep, dir, address prefix) -> CIDR class. Written by sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SL_POL_CIDR_MAX);
	__type(key, struct pol_cidr_key);
	__type(value, struct pol_cidr_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_pol_cidr SEC(".maps");

/* The rule allowing (proto, dport) from/to peer, longest prefix first:
 * the exact port, a range (only when the endpoint has ranges in dir), any
 * port of proto, any protocol. NULL when none does. */
static __always_inline struct pol_val *policy_ports(const struct pkt *p, __u32 ep_id, __u8 dir,
						    __u32 peer, int ranges)
{
	struct pol_exact_key ek = {};
	struct pol_key k = {};
	struct pol_val *v;

	ek.ep_id = ep_id;
	ek.peer = peer;
	ek.dir = dir;
	ek.proto = p->proto;
	ek.dport = p->dport;
	v = bpf_map_lookup_elem(&sluice_pol_exact, &ek);
	if (v)
		return v;
	if (ranges) {
		k.prefixlen = SL_POL_PREFIX_FULL;
		k.ep_id = ep_id;
		k.peer = peer;
		k.dir = dir;
		k.proto = p->proto;
		k.dport = p->dport;
		v = bpf_map_lookup_elem(&sluice_pol, &k);
		if (v)
			return v;
	}
	ek.dport = 0;
	v = bpf_map_lookup_elem(&sluice_pol_exact, &ek);
	if (v)
		return v;
	ek.proto = 0;
	return bpf_map_lookup_elem(&sluice_pol_exact, &ek);
}

/* Judge a new connection for endpoint ep_id in direction dir against a peer
 * (its identity and address). Returns SL_FORWARDED, or drop_reason when the
 * direction is isolated and no rule allows; *policy_id is the allowing rule,
 * the isolating policy (rule 0) on a drop, or 0 when no policy applies. */
static __always_inline int policy_lookup(const struct pkt *p, __u32 ep_id, __u8 dir,
					 __u32 peer_identity, const union sl_addr *peer_addr,
					 int drop_reason, __u32 *policy_id)
{
	struct pol_cidr_key ck = {};
	struct pol_cidr_val *cv;
	struct pol_ep_val *ev;
	struct pol_val *v;
	int ranges;

	*policy_id = 0;
	ev = bpf_map_lookup_elem(&sluice_pol_ep, &ep_id);
	if (!ev || !(ev->flags & (1u << dir)))
		return SL_FORWARDED;
	/* Kubernetes: a pod cannot block traffic from its own node (kubelet
	 * probes); Sluice allows it regardless of ingress policy. */
	if (dir == SL_DIR_INGRESS && peer_identity == SL_ID_HOST)
		return SL_FORWARDED;
	ranges = !!(ev->flags & SL_POL_F_RANGE(dir));

	v = policy_ports(p, ep_id, dir, peer_identity, ranges);
	if (v) {
		*policy_id = v->policy_id;
		return SL_FORWARDED;
	}

	/* ipBlock applies to every address, pod IPs included. */
	ck.prefixlen = SL_POL_CIDR_PREFIX_BASE + (p->family == SL_AF_INET6 ? 128 : 32);
	ck.ep_id = ep_id;
	ck.dir = dir;
	ck.family = p->family;
	__builtin_memcpy(&ck.addr, peer_addr, sizeof(ck.addr));
	cv = bpf_map_lookup_elem(&sluice_pol_cidr, &ck);
	if (cv) {
		v = policy_ports(p, ep_id, dir, cv->peer, ranges);
		if (v) {
			*policy_id = v->policy_id;
			return SL_FORWARDED;
		}
	}
	*policy_id = ev->deny_id[dir & 1];
	return drop_reason;
}

/* Egress of a local pod, for the first packet of a connection.
 * Returns SL_FORWARDED or SL_DROP_POLICY_EGRESS; *policy_id says which
 * rule decided (0 = no policy selects the pod). */
static __always_inline int policy_egress(const struct pkt *p, const struct ep_info *src,
					 __u32 dst_identity, __u32 *policy_id)
{
	return policy_lookup(p, src->ep_id, SL_DIR_EGRESS, dst_identity, &p->daddr,
			     SL_DROP_POLICY_EGRESS, policy_id);
}

/* Ingress of a local pod, for the first packet of a connection.
 * Returns SL_FORWARDED or SL_DROP_POLICY_INGRESS. */
static __always_inline int policy_ingress(const struct pkt *p, const struct ep_info *dst,
					  __u32 src_identity, __u32 *policy_id)
{
	return policy_lookup(p, dst->ep_id, SL_DIR_INGRESS, src_identity, &p->saddr,
			     SL_DROP_POLICY_INGRESS, policy_id);
}

#endif
