/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Events the datapath sends to userspace (cnictl monitor, sluiced). */
#ifndef SLUICE_EVENTS_H
#define SLUICE_EVENTS_H

#include "common.h"

#define SL_MAP_EVENTS "sluice_events"         /* ring buffer of struct sl_event */
#define SL_MAP_EVENT_RATE "sluice_ev_rate"    /* per-CPU token bucket state */
#define SL_EVENTS_RING_BYTES (256 * 1024)
#define SL_EVENTS_PER_SEC 1000                /* per CPU, drops beyond are counted */

enum sl_event_type {
	SL_EV_DROP = 1,           /* a packet was dropped; reason says why */
	SL_EV_POLICY_VERDICT = 2, /* first packet of a connection judged by policy */
	SL_EV_TRACE = 3,          /* forwarded (debug tracing, off by default) */
};

/* One event. Fixed size; family says which address bytes mean something. */
struct sl_event {
	__u64 ts_ns;        /* bpf_ktime_get_ns() */
	__u8 type;          /* enum sl_event_type */
	__u8 reason;        /* enum sl_reason */
	__u8 dir;           /* enum sl_dir */
	__u8 family;        /* SL_AF_INET / SL_AF_INET6 */
	__u8 proto;         /* IPPROTO_* */
	__u8 pad[3];
	__u32 ifindex;      /* interface the program ran on */
	__u32 src_identity;
	__u32 dst_identity;
	__u32 len;          /* packet length */
	union sl_addr saddr;
	union sl_addr daddr;
	__be16 sport;       /* network order; ICMP: type/code */
	__be16 dport;
	__u32 policy_id;    /* deciding policy rule, 0 if none */
};
SL_STATIC_ASSERT(sizeof(struct sl_event) == 72, "sl_event size");

/* sluice_ev_rate value: token bucket per CPU. */
struct sl_ev_rate {
	__u64 last_ns;
	__u64 tokens;
	__u64 suppressed; /* events not sent because of the rate limit */
};

#endif
