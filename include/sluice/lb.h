/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Service load-balancing maps (kube-proxy replacement).
 *
 * Writers: sluiced's services module writes sluice_svc, sluice_backend,
 * sluice_maglev, sluice_revnat and sluice_lb_netns; the datapath writes
 * sluice_affinity and sluice_sk_revnat (and reads everything).
 *
 * Update order for a Service change (so the datapath never sees a frontend
 * pointing at a missing table or backend): 1. backends, 2. sluice_revnat,
 * 3. sluice_maglev[svc_id] (one element update swaps the whole table
 * atomically), 4. sluice_svc. Delete in the reverse order; delete a backend
 * only once no frontend's table names it (established flows whose backend
 * is gone are re-balanced by the datapath). */
#ifndef SLUICE_LB_H
#define SLUICE_LB_H

#include "common.h"

#define SL_MAP_SVC       "sluice_svc"
#define SL_MAP_BACKEND   "sluice_backend"
#define SL_MAP_MAGLEV    "sluice_maglev"
#define SL_MAP_AFFINITY  "sluice_affinity"
#define SL_MAP_REVNAT    "sluice_revnat"
#define SL_MAP_LB_NETNS  "sluice_lb_netns"
#define SL_MAP_SK_REVNAT "sluice_sk_revnat"

#define SL_SVC_MAX       65536  /* frontends (Service IP + port + proto) */
#define SL_BACKEND_MAX   65536
#define SL_AFFINITY_MAX  65536
#define SL_LB_NETNS_MAX  65536
#define SL_SK_REVNAT_MAX 65536

/* Maglev lookup table size M: prime, much larger than the largest backend
 * count. Default of sluiced's --maglev-size and of the datapath knob. */
#define SL_MAGLEV_M_DEFAULT 1021
#define SL_MAGLEV_M_MAX     65521 /* largest prime below 2^16 */

/* Source address the datapath gives hairpin connections (a pod reaching
 * itself through a Service), so the pod does not see its own address as
 * the peer. Link-local, never routed. Network order at use: 169.254.42.1. */
#define SL_SVC_LOOPBACK_V4 0xa9fe2a01u /* host order */

/* sluice_svc key: one frontend. */
struct svc_key {
	union sl_addr addr; /* ClusterIP, network order */
	__be16 port;        /* Service port, network order */
	__u8 proto;         /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family;        /* SL_AF_INET / SL_AF_INET6 */
};
SL_STATIC_ASSERT(sizeof(struct svc_key) == 20, "svc_key size");

#define SL_SVC_F_AFFINITY 0x1 /* sessionAffinity: ClientIP (see affinity_timeout) */
#define SL_SVC_F_LOCAL    0x2 /* internalTrafficPolicy: Local (table holds local backends only) */

/* sluice_svc value (hash). Written by sluiced. */
struct svc_val {
	__u32 svc_id;           /* key of sluice_maglev and sluice_affinity; never 0 */
	__u16 backend_count;    /* backends in the Maglev table; 0 = refuse (no ready backend) */
	__u16 flags;            /* SL_SVC_F_* */
	__u32 affinity_timeout; /* seconds, with SL_SVC_F_AFFINITY */
	__u32 rev_nat_id;       /* key of sluice_revnat; never 0 */
};
SL_STATIC_ASSERT(sizeof(struct svc_val) == 16, "svc_val size");

/* sluice_backend key: __u32 backend_id (never 0), allocated by sluiced per
 * (address, port, proto); a backend shared by several Services has one id. */
enum sl_backend_state {
	SL_BE_ACTIVE = 0,      /* ready */
	SL_BE_TERMINATING = 1, /* serving but terminating: existing flows only
				* (sluiced may still put it in a table when nothing is ready) */
};

#define SL_BE_F_LOCAL 0x1 /* a pod on this node */

/* sluice_backend value (hash). Written by sluiced from EndpointSlices. */
struct backend_val {
	union sl_addr addr; /* network order */
	__be16 port;        /* target port, network order */
	__u8 proto;         /* IPPROTO_* */
	__u8 family;        /* SL_AF_* */
	__u8 state;         /* enum sl_backend_state */
	__u8 flags;         /* SL_BE_F_* */
	__u16 pad;
};
SL_STATIC_ASSERT(sizeof(struct backend_val) == 24, "backend_val size");

/* sluice_maglev: BPF_MAP_TYPE_HASH (BPF_F_NO_PREALLOC), key __u32 svc_id,
 * value __u32 backend_id[M]: the Service's Maglev lookup table, slot =
 * hash(5-tuple) % M. value_size = M * 4 is set by sluiced at load (with the
 * datapath knob maglev_m = M) on every object. Written by sluiced. */
#define SL_MAGLEV_VALUE_SIZE(m) ((m) * sizeof(__u32))

/* sluice_affinity key (LRU hash): a client of a Service with ClientIP affinity. */
struct affinity_key {
	union sl_addr client; /* network order */
	__u32 svc_id;
	__u8 family;
	__u8 pad[3];
};
SL_STATIC_ASSERT(sizeof(struct affinity_key) == 24, "affinity_key size");

/* sluice_affinity value. Written by the datapath on every new connection
 * of the client; stale once last_used_ns + affinity_timeout has passed. */
struct affinity_val {
	__u64 last_used_ns; /* bpf_ktime_get_ns() */
	__u32 backend_id;
	__u32 pad;
};
SL_STATIC_ASSERT(sizeof(struct affinity_val) == 16, "affinity_val size");

/* sluice_revnat key: __u32 rev_nat_id. Value (hash): the frontend replies
 * must come from. Written by sluiced with the frontend. */
struct revnat_val {
	union sl_addr addr; /* ClusterIP, network order */
	__be16 port;        /* Service port, network order */
	__u8 family;
	__u8 pad;
};
SL_STATIC_ASSERT(sizeof(struct revnat_val) == 20, "revnat_val size");

/* sluice_lb_netns: hash, key __u64 netns cookie of a local pod, value
 * __be32: the pod's IPv4 address (network order; the client address of its
 * ClientIP affinity entries). Socket-level translation (sock.bpf.c) acts in
 * these namespaces and in the node's own (knob node_netns_cookie). Written
 * by sluiced's endpoints module from the endpoint's netnsCookie; deleted
 * with the endpoint. */

/* sluice_sk_revnat key (LRU hash): a socket the connect/sendmsg hook
 * translated, and the backend it was sent to. */
struct sk_revnat_key {
	__u64 cookie;       /* bpf_get_socket_cookie() */
	union sl_addr addr; /* backend, network order */
	__be16 port;        /* backend port, network order */
	__u8 family;
	__u8 pad[5];
};
SL_STATIC_ASSERT(sizeof(struct sk_revnat_key) == 32, "sk_revnat_key size");

/* sluice_sk_revnat value: the frontend recvmsg/getpeername report back.
 * Written by sock.bpf.c. */
struct sk_revnat_val {
	union sl_addr addr; /* ClusterIP, network order */
	__be16 port;        /* Service port, network order */
	__u8 family;
	__u8 pad;
	__u32 rev_nat_id;
};
SL_STATIC_ASSERT(sizeof(struct sk_revnat_val) == 24, "sk_revnat_val size");

#endif
