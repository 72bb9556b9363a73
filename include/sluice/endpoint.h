/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Local endpoints (pods on this node). */
#ifndef SLUICE_ENDPOINT_H
#define SLUICE_ENDPOINT_H

#include "common.h"

#define SL_MAP_EP "sluice_ep"
#define SL_EP_MAX 65536

/* sluice_ep key: a pod address on this node. */
struct ep_key {
	union sl_addr addr; /* network order */
	__u8 family;        /* SL_AF_INET / SL_AF_INET6 */
	__u8 pad[3];
};
SL_STATIC_ASSERT(sizeof(struct ep_key) == 20, "ep_key size");

#define SL_EP_F_HOST_NETNS 0x1 /* reserved: host-network endpoint */

/* sluice_ep value: how to deliver to and police a local pod.
 * Written by sluiced when the CNI plugin registers the endpoint. */
struct ep_info {
	__u32 ifindex;     /* host-side veth ifindex (in the node netns) */
	__u32 ep_id;       /* endpoint id, allocated by sluiced: 1 .. SL_EP_MAX-1 */
	__u32 identity;    /* security identity of the pod */
	__u32 flags;       /* SL_EP_F_* */
	__u8 mac[6];       /* pod-side (eth0) MAC */
	__u8 host_mac[6];  /* host-side veth MAC: the pod's gateway MAC */
	__u64 netns_cookie; /* pod netns cookie, 0 when unknown (socket LB) */
};
SL_STATIC_ASSERT(sizeof(struct ep_info) == 40, "ep_info size");

#define SL_MAP_EP_SLOTS "sluice_ep_slots"
#define SL_EP_SLOTS 65536 /* power of two */

/* sluice_ep_slots: array, index = low 16 bits of a local pod's IPv4
 * address (host order), value = that address and its ep_info: the same
 * data as sluice_ep, found without hashing (local pods come from one node
 * CIDR, so their low bits rarely collide). sluice_ep stays authoritative:
 * the datapath uses a slot only when it holds the very address it looks
 * for, else it looks sluice_ep up. Written by sluiced after the sluice_ep
 * entry, cleared before it is deleted; a slot two local addresses share is
 * given to one, the other is served by sluice_ep. An empty slot has
 * info.ifindex == 0. */
struct ep_slot {
	__be32 addr; /* network order */
	__u32 pad;
	struct ep_info info;
};
SL_STATIC_ASSERT(sizeof(struct ep_slot) == 48, "ep_slot size");

/* The slot of an IPv4 address given in host order. */
#define SL_EP_SLOT(host_order_addr) ((__u32)(host_order_addr) & (SL_EP_SLOTS - 1))

#endif
