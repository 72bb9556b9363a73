/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The single exit of every program: counters, events, verdict. */
#ifndef SLUICE_DP_METRICS_H
#define SLUICE_DP_METRICS_H

#include "common.h"
#include "maps.h"
#include "events.h"
#include "pkt.h"

/* What a program decided, filled along its path and consumed by dp_exit(). */
struct dp_verdict {
	int action;      /* TC_ACT_OK / TC_ACT_SHOT / TC_ACT_REDIRECT */
	__u8 reason;     /* enum sl_reason */
	__u8 dir;        /* enum sl_dir */
	__u32 tx_ep;     /* endpoint id whose tx counts a forwarded packet, 0 none */
	__u32 rx_ep;     /* endpoint id whose rx counts a forwarded packet, 0 none */
	__u32 drop_ep;   /* endpoint id a drop is charged to, 0 none */
	__u32 src_id;
	__u32 dst_id;
};

static __always_inline void dp_count_metrics(__u32 reason, __u32 dir, __u64 len)
{
	__u32 idx = reason * SL_DIR_MAX + dir;
	struct metrics_val *m = bpf_map_lookup_elem(&sluice_metrics, &idx);

	if (m) {
		m->packets++;
		m->bytes += len;
	}
}

/* which: 0 tx, 1 rx, 2 drop. An array slot per endpoint id: the lookup is
 * inlined by the verifier (no hashing on the fast path). */
static __always_inline void dp_count_ep(__u32 ep_id, int which, __u64 len)
{
	struct ep_stats *s;

	if (!ep_id)
		return;
	s = bpf_map_lookup_elem(&sluice_ep_stats, &ep_id);
	if (!s)
		return;
	if (which == 0) {
		s->tx_packets++;
		s->tx_bytes += len;
	} else if (which == 1) {
		s->rx_packets++;
		s->rx_bytes += len;
	} else {
		s->drop_packets++;
		s->drop_bytes += len;
	}
}

/* Count the verdict, emit the event, return the TC action. Drops always
 * return TC_ACT_SHOT unless the path already chose another action (a
 * refused Service connection is answered through TC_ACT_REDIRECT). */
static __always_inline int dp_exit(struct __sk_buff *skb, const struct pkt *p,
				   const struct dp_verdict *v)
{
	__u64 len = skb->len;

	dp_count_metrics(v->reason < SL_REASON_MAX ? v->reason : SL_DROP_INVALID, v->dir, len);
	if (v->reason != SL_FORWARDED) {
		dp_count_ep(v->drop_ep, 2, len);
		ev_send(skb, p, SL_EV_DROP, v->reason, v->dir, v->src_id, v->dst_id, 0);
		return v->action == TC_ACT_REDIRECT ? TC_ACT_REDIRECT : TC_ACT_SHOT;
	}
	dp_count_ep(v->tx_ep, 0, len);
	dp_count_ep(v->rx_ep, 1, len);
	if (trace_events)
		ev_send(skb, p, SL_EV_TRACE, SL_FORWARDED, v->dir, v->src_id, v->dst_id, 0);
	return v->action;
}

#endif
