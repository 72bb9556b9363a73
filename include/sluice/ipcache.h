/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* IP -> identity for every address the cluster knows (pods on every node,
 * nodes, CIDRs of ipBlock peers). */
#ifndef SLUICE_IPCACHE_H
#define SLUICE_IPCACHE_H

#include "common.h"

#define SL_MAP_IPCACHE "sluice_ipcache"
#define SL_IPCACHE_MAX 512000

/* sluice_ipcache key (LPM trie). prefixlen counts the family/pad word too:
 * prefixlen = SL_IPCACHE_PREFIX_BASE + address prefix length. */
struct ipcache_key {
	__u32 prefixlen;
	__u8 family; /* SL_AF_INET / SL_AF_INET6 */
	__u8 pad[3];
	union sl_addr addr; /* network order */
};
#define SL_IPCACHE_PREFIX_BASE 32
SL_STATIC_ASSERT(sizeof(struct ipcache_key) == 24, "ipcache_key size");

#define SL_IPC_F_LOCAL 0x1 /* the address is a pod on this node */

/* sluice_ipcache value. Written by sluiced from Pod, Node and policy objects. */
struct ipcache_val {
	__u32 identity; /* security identity */
	__be32 node_ip; /* IPv4 of the node hosting the address; 0 = this node / none */
	__u32 flags;    /* SL_IPC_F_* */
	__u32 pad;
};
SL_STATIC_ASSERT(sizeof(struct ipcache_val) == 16, "ipcache_val size");

#endif
