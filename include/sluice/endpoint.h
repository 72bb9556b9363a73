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

#endif
