/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Types shared by the BPF datapath (clang -target bpf) and userspace (gcc). */
#ifndef SLUICE_COMMON_H
#define SLUICE_COMMON_H

#include <linux/types.h>

#ifndef __bpf__
#include <assert.h>
#define SL_STATIC_ASSERT(c, m) _Static_assert(c, m)
#else
#define SL_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

/* Address families as the kernel numbers them (no <sys/socket.h> in BPF). */
#define SL_AF_INET  2
#define SL_AF_INET6 10

/* An IPv4 or IPv6 address, network byte order. IPv4 sits in v4 (the first
 * word); the other 12 bytes are zero so keys hash and compare stably. */
union sl_addr {
	__be32 v4;
	__be32 v6[4];
	__u8 b[16];
};
SL_STATIC_ASSERT(sizeof(union sl_addr) == 16, "sl_addr is 16 bytes");

/* Reserved security identities; allocated ones start at SL_ID_FIRST_LOCAL. */
enum sl_reserved_identity {
	SL_ID_UNKNOWN = 0,     /* no ipcache entry */
	SL_ID_HOST = 1,        /* this node's own addresses */
	SL_ID_WORLD = 2,       /* anything outside the cluster */
	SL_ID_REMOTE_NODE = 3, /* another node of the cluster */
	SL_ID_FIRST_LOCAL = 256,
};
/* A local endpoint whose Pod object the model does not know (yet): no
 * labels, so only policies that select everything can match it. Outside
 * the enum so the numbers above stay append-only. (sluiced endpoints.c) */
#define SL_ID_UNLABELLED 4
/* Identities for CIDRs (ipBlock peers) carry this bit. */
#define SL_ID_CIDR_FLAG (1u << 24)

/* Pin layout under the pin root (default /sys/fs/bpf/sluice). */
#define SL_PIN_PROGS_DIR "progs" /* <root>/progs/<program name>      */
#define SL_PIN_LINKS_DIR "links" /* <root>/links/<cgroup hook name>  */

/* The tc filter on a host veth (bpf_tc_attach handle and priority, both
 * directions): the CNI plugin attaches with them, sluiced replaces the
 * programs in place (BPF_TC_F_REPLACE) with them on an upgrade. */
#define SL_TC_HANDLE   1
#define SL_TC_PRIORITY 1

#endif
