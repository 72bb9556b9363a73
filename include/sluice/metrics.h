/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Verdict reasons and the counters the datapath keeps. */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include "common.h"

/* Why a packet was forwarded or dropped. 0 is "forwarded"; every other value
 * is a drop. Distinct from TC_ACT_*: programs return TC_ACT_* at their one
 * exit, and count one of these. Names in sl_reason_names (lib/reasons.c).
 * Append only: the numbers are in pinned maps and events. */
enum sl_reason {
	SL_FORWARDED = 0,
	SL_DROP_INVALID = 1,          /* truncated or malformed packet */
	SL_DROP_UNSUPPORTED_L3 = 2,   /* ethertype the datapath does not route */
	SL_DROP_SPOOF_IP = 3,         /* source IP is not the pod's own */
	SL_DROP_SPOOF_MAC = 4,        /* source MAC is not the pod's own */
	SL_DROP_UNKNOWN_EP = 5,       /* packet on an interface with no endpoint */
	SL_DROP_TTL_EXCEEDED = 6,     /* TTL would reach 0 */
	SL_DROP_POLICY_EGRESS = 7,    /* denied by the source pod's egress policy */
	SL_DROP_POLICY_INGRESS = 8,   /* denied by the destination's ingress policy */
	SL_DROP_NO_BACKEND = 9,       /* Service has no ready backend */
	SL_DROP_CT_FULL = 10,         /* conntrack entry could not be created */
	SL_DROP_NAT_FAILED = 11,      /* address/port rewrite failed */
	SL_DROP_FRAG = 12,            /* IP fragment the datapath cannot handle */
	SL_DROP_REDIRECT_FAILED = 13, /* bpf_redirect* refused */
	SL_DROP_CT_INVALID = 14,      /* TCP packet with no connection (non-SYN) */
	SL_REASON_MAX,
};

enum sl_dir {
	SL_DIR_EGRESS = 0,  /* from the pod (from_pod) */
	SL_DIR_INGRESS = 1, /* towards the pod (to_pod, or from_pod delivering) */
	SL_DIR_MAX,
};

#define SL_MAP_METRICS "sluice_metrics"
/* sluice_metrics: per-CPU array, index = reason * SL_DIR_MAX + dir.
 * Written by every program at its exit; read by cnictl (summed over CPUs). */
struct metrics_val {
	__u64 packets;
	__u64 bytes;
};
#define SL_METRICS_MAX (SL_REASON_MAX * SL_DIR_MAX)

#define SL_MAP_EP_STATS "sluice_ep_stats"
/* sluice_ep_stats: per-CPU array, index = endpoint id (ep_info.ep_id,
 * below SL_EP_MAX): an array so the datapath's two lookups per packet are
 * inlined, not hashed. Zeroed by sluiced at registration and deletion,
 * counted by the datapath. Drops are charged to an endpoint only once the
 * sender is verified (address and interface); earlier drops count per
 * reason in sluice_metrics. */
struct ep_stats {
	__u64 tx_packets; /* sent by the pod and forwarded */
	__u64 tx_bytes;
	__u64 rx_packets; /* delivered to the pod */
	__u64 rx_bytes;
	__u64 drop_packets; /* dropped, either direction */
	__u64 drop_bytes;
};

#endif
