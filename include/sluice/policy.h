/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * NetworkPolicy: the compiled form sluiced writes and the datapath looks up.
 *
 * sluiced compiles, for every local endpoint and direction, the set of
 * (peer, protocol, port) the union of its policies allows. A peer is either
 * a security identity (podSelector/namespaceSelector peers) or a CIDR class
 * (ipBlock peers and "any peer" rules, which are 0.0.0.0/0 and ::/0). The
 * datapath's cost per new connection does not depend on the number of
 * policies or pods:
 *   1. sluice_pol_ep[ep_id]: is the direction isolated at all?
 *   2. the peer's identity: sluice_pol_exact (hash) with (proto, port), then
 *      sluice_pol (LPM, port ranges only) when the endpoint has ranges in
 *      that direction, then sluice_pol_exact with (proto, 0) ("any port of
 *      proto"), then (0, 0) ("any protocol");
 *   3. sluice_pol_cidr (LPM) with the peer's address -> CIDR class;
 *   4. step 2 with that class instead of the identity.
 * Conceptually all of it is one LPM over (ep, peer, dir, proto, port prefix)
 * (struct pol_key; the compiler and policy.trace work on that form): the
 * three prefix lengths that are not ranges (full port, proto only, nothing)
 * live in the hash, and the lookup order above is longest prefix first, so
 * the result is the same while the hash lookups cost the same for 1 or
 * 10,000 policies. Only endPort ranges (prefixes strictly between proto
 * only and full port) stay in the LPM trie.
 */
#ifndef SLUICE_POLICY_H
#define SLUICE_POLICY_H

#include "common.h"

#define SL_MAP_POL_EP	"sluice_pol_ep"
#define SL_MAP_POL	"sluice_pol"
#define SL_MAP_POL_CIDR "sluice_pol_cidr"
#define SL_MAP_POL_EXACT "sluice_pol_exact"

#define SL_POL_EP_MAX	65536
#define SL_POL_MAX	262144
#define SL_POL_CIDR_MAX 65536
#define SL_POL_EXACT_MAX 262144

/*
 * policy_id: which policy and rule decided. (policy index << 12) | rule,
 * where rule n >= 1 is spec.ingress[n-1] / spec.egress[n-1] (the direction
 * is the event's) and rule 0 means "the policy isolates the pod and no rule
 * allowed" (drops). 0 overall: no policy involved. Policy indexes are
 * allocated by sluiced (policy.get / policy.list show them).
 */
#define SL_POL_RULE_BITS     12
#define SL_POL_RULE_MASK     ((1u << SL_POL_RULE_BITS) - 1)
#define SL_POL_MAX_RULES     (SL_POL_RULE_MASK - 1)
#define SL_POL_MAX_INDEX     ((1u << (32 - SL_POL_RULE_BITS)) - 1)
#define SL_POL_ID(idx, rule) (((__u32)(idx) << SL_POL_RULE_BITS) | (__u32)(rule))
#define SL_POL_ID_INDEX(id)  ((__u32)(id) >> SL_POL_RULE_BITS)
#define SL_POL_ID_RULE(id)   ((__u32)(id)&SL_POL_RULE_MASK)

/* pol_ep_val.flags: the endpoint is selected by a policy of that direction
 * (bit = 1 << enum sl_dir). */
#define SL_POL_F_EGRESS	 (1u << 0) /* 1 << SL_DIR_EGRESS */
#define SL_POL_F_INGRESS (1u << 1) /* 1 << SL_DIR_INGRESS */
/* ... and sluice_pol holds port-range entries of that direction for the
 * endpoint (bit = 4 << enum sl_dir); without it the LPM is not looked up. */
#define SL_POL_F_RANGE_EGRESS  (1u << 2) /* 4 << SL_DIR_EGRESS */
#define SL_POL_F_RANGE_INGRESS (1u << 3) /* 4 << SL_DIR_INGRESS */
#define SL_POL_F_RANGE(dir)    (4u << (dir))
#define SL_POL_F_ISOLATED      (SL_POL_F_EGRESS | SL_POL_F_INGRESS)

/* sluice_pol_ep: hash, key = ep_id (__u32, host order). Written by sluiced;
 * no entry = no policy selects the endpoint (open both ways). */
struct pol_ep_val {
	__u32 flags;	  /* SL_POL_F_*: isolated directions */
	__u32 deny_id[2]; /* per enum sl_dir: policy_id reported on a drop
			   * (the lowest-index policy isolating that direction, rule 0) */
	__u32 pad;
};
SL_STATIC_ASSERT(sizeof(struct pol_ep_val) == 16, "pol_ep_val size");

/* Peer values with this bit are CIDR classes, not identities
 * (same bit as the CIDR identities of ipcache). */
#define SL_POL_PEER_CIDR SL_ID_CIDR_FLAG
/* Class 0 of every (ep, dir): addresses carved out by an except that no
 * other block covers; never has port entries, so it denies. */
#define SL_POL_CLASS_NONE SL_POL_PEER_CIDR

/* sluice_pol key (LPM trie, BPF_F_NO_PREALLOC), the general form of a port
 * entry; the map itself holds only the range prefixes
 * (SL_POL_PREFIX_BASE + 8 < prefixlen < SL_POL_PREFIX_FULL). ep_id, peer and dir are
 * always matched in full; then proto (8 bits) and dport (16 bits) may be
 * cut short: prefixlen = SL_POL_PREFIX_BASE -> any protocol (and port),
 * +8 -> any port of proto, +8+k -> the first k bits of dport. */
struct pol_key {
	__u32 prefixlen;
	__u32 ep_id;  /* host order */
	__u32 peer;   /* identity, or SL_POL_PEER_CIDR | class (host order) */
	__u8 dir;     /* enum sl_dir */
	__u8 proto;   /* IPPROTO_*; 0 in "any protocol" entries */
	__be16 dport; /* network order (the prefix bits are the high bits) */
};
#define SL_POL_PREFIX_BASE 72 /* ep_id + peer + dir */
#define SL_POL_PREFIX_FULL (SL_POL_PREFIX_BASE + 8 + 16)
SL_STATIC_ASSERT(sizeof(struct pol_key) == 16, "pol_key size");
/* A pol_key prefix length that lives in sluice_pol (a port range). */
#define SL_POL_PREFIX_IS_RANGE(plen) \
	((plen) > SL_POL_PREFIX_BASE + 8 && (plen) < SL_POL_PREFIX_FULL)

/* sluice_pol_exact key (hash): the pol_key entries that are not ranges.
 * (proto, dport) = (p, port): that port; (p, 0): every port of p;
 * (0, 0): every protocol and port. Port 0 is never a NetworkPolicy port,
 * so the forms cannot collide. */
struct pol_exact_key {
	__u32 ep_id;  /* host order */
	__u32 peer;   /* identity, or SL_POL_PEER_CIDR | class (host order) */
	__u8 dir;     /* enum sl_dir */
	__u8 proto;   /* IPPROTO_*, or 0 */
	__be16 dport; /* network order, or 0 */
};
SL_STATIC_ASSERT(sizeof(struct pol_exact_key) == 12, "pol_exact_key size");

/* sluice_pol and sluice_pol_exact value. Written by sluiced. */
struct pol_val {
	__u32 policy_id; /* the rule that allows (lowest id when several do) */
	__u32 flags;	 /* reserved (audit mode) */
};
SL_STATIC_ASSERT(sizeof(struct pol_val) == 8, "pol_val size");

/* sluice_pol_cidr key (LPM trie): the CIDR classes of an endpoint's
 * direction. prefixlen = SL_POL_CIDR_PREFIX_BASE + address prefix length. */
struct pol_cidr_key {
	__u32 prefixlen;
	__u32 ep_id; /* host order */
	__u8 dir;    /* enum sl_dir */
	__u8 family; /* SL_AF_INET / SL_AF_INET6 */
	__u8 pad[2];
	union sl_addr addr; /* network order; IPv4 in the first word */
};
#define SL_POL_CIDR_PREFIX_BASE 64 /* ep_id + dir + family + pad */
SL_STATIC_ASSERT(sizeof(struct pol_cidr_key) == 28, "pol_cidr_key size");

/* sluice_pol_cidr value. Written by sluiced: every prefix that is a block or
 * an except of some rule, with the class of rules whose block contains it
 * and whose excepts do not. */
struct pol_cidr_val {
	__u32 peer; /* SL_POL_PEER_CIDR | class, used as pol_key.peer */
	__u32 pad;
};
SL_STATIC_ASSERT(sizeof(struct pol_cidr_val) == 8, "pol_cidr_val size");

#endif
