/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Includes and small helpers every datapath object uses. */
#ifndef SLUICE_DP_COMMON_H
#define SLUICE_DP_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
/* <linux/icmp.h> includes <linux/if.h>, which pulls in glibc's
 * <sys/socket.h> (32-bit stubs under -target bpf). icmp.h only needs
 * IFNAMSIZ from it: provide that and skip if.h. */
#ifndef _LINUX_IF_H
#define _LINUX_IF_H
#define IFNAMSIZ 16
#endif
#include <linux/icmp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <sluice/common.h>

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#define NSEC_PER_SEC 1000000000ull

/* The datapath's clock, read once per packet and passed down: conntrack
 * expiry, affinity age, event rate limit. The coarse clock is
 * CLOCK_MONOTONIC like bpf_ktime_get_ns() (what sluiced's GC and cnictl
 * compare against), at tick resolution (1-4 ms), which timeouts of seconds
 * do not notice, and costs a fraction of the precise read (a clocksource
 * read per call was ~20% of a Service packet). It may lag a precise
 * timestamp written elsewhere (sock.bpf.c) by up to a tick: comparisons
 * against stored times must not underflow. */
static __always_inline __u64 sl_now(void)
{
	return bpf_ktime_get_coarse_ns();
}

#ifndef offsetof
#define offsetof(t, m) __builtin_offsetof(t, m)
#endif
/* errno values the datapath returns (no libc in BPF). */
#ifndef EINVAL
#define ENOENT 2
#define EINVAL 22
#define ENOSPC 28
#endif

/* barrier_var() (bpf_helpers.h) hides a value from the compiler so a
 * bounds check it could prove redundant stays in (verifier workaround). */
#ifndef barrier_var
#define barrier_var(v) asm volatile("" : "+r"(v))
#endif

/* Returns true when a and b hold the same address (all 16 bytes). */
static __always_inline int sl_addr_eq(const union sl_addr *a, const union sl_addr *b)
{
	return a->v6[0] == b->v6[0] && a->v6[1] == b->v6[1] && a->v6[2] == b->v6[2] &&
	       a->v6[3] == b->v6[3];
}

/* Returns true when the two MAC addresses are equal (no memcmp in BPF). */
static __always_inline int sl_mac_eq(const __u8 *a, const __u8 *b)
{
	int i;

#pragma unroll
	for (i = 0; i < ETH_ALEN; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

#endif
