/* SPDX-License-Identifier: Apache-2.0 */
/* Local endpoints registered by the CNI plugin (endpoints.c, sluiced core). */
#ifndef SLUICE_ENDPOINTS_H
#define SLUICE_ENDPOINTS_H

#include <stdint.h>
#include "addr.h"

#define SL_EP_MAX_IPS 2 /* one per family */

struct endpoint {
	uint32_t id;           /* allocated by sluiced, never 0 */
	char container_id[128];
	char ifname[16];       /* pod-side interface name (CNI_IFNAME) */
	char namespace_[64];   /* pod namespace ("" when the runtime gave none) */
	char pod[254];         /* pod name */
	char netns[256];       /* CNI_NETNS at ADD time */
	char host_ifname[16];  /* host-side veth */
	uint32_t host_ifindex;
	uint8_t mac[6];        /* pod-side MAC */
	uint8_t host_mac[6];
	uint64_t netns_cookie; /* 0 when unknown */
	int n_ips;
	struct sl_cidr ips[SL_EP_MAX_IPS]; /* plen = full length */
	uint32_t identity;     /* current security identity */
};

/* Call fn for every endpoint; stops when fn returns non-zero, returning it. */
int endpoints_foreach(int (*fn)(const struct endpoint *ep, void *arg), void *arg);
/* The endpoint of a pod (namespace + name), or NULL. */
const struct endpoint *endpoints_by_pod(const char *ns, const char *pod);
/* The endpoint owning a local address, or NULL. */
const struct endpoint *endpoints_by_ip(const union sl_addr *addr, __u8 family);
/* The model tells us a pod's identity changed: rewrite its sluice_ep
 * entries. Returns 0 or -errno. */
int endpoints_set_identity(const char *ns, const char *pod, uint32_t identity);

#endif
