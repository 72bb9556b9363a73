/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Rate-limited events to sluice_events (struct sl_event). */
#ifndef SLUICE_DP_EVENTS_H
#define SLUICE_DP_EVENTS_H

#include "common.h"
#include "maps.h"
#include "pkt.h"

/* Token bucket per CPU: events_per_sec tokens a second, burst of one
 * second. Returns 1 when an event may be sent (and takes a token). */
static __always_inline int ev_take_token(__u64 now)
{
	__u32 zero = 0;
	struct sl_ev_rate *r = bpf_map_lookup_elem(&sluice_ev_rate, &zero);
	__u64 elapsed, add, rate = events_per_sec;

	if (!r)
		return 0;
	elapsed = now - r->last_ns;
	if (elapsed >= NSEC_PER_SEC) {
		r->tokens = rate;
		r->last_ns = now;
	} else {
		add = elapsed * rate / NSEC_PER_SEC;
		if (add) {
			/* Advance only by whole tokens so slow trickles still add up. */
			r->tokens += add;
			if (r->tokens > rate)
				r->tokens = rate;
			r->last_ns = now;
		}
	}
	if (!r->tokens) {
		r->suppressed++;
		return 0;
	}
	r->tokens--;
	return 1;
}

/* Send one event if the rate limit allows. */
static __always_inline void ev_send(struct __sk_buff *skb, const struct pkt *p, __u8 type,
				    __u8 reason, __u8 dir, __u32 src_id, __u32 dst_id,
				    __u32 policy_id)
{
	/* Events are rare (drops, verdicts, rate-limited): one precise read
	 * serves the token bucket and the timestamp. */
	__u64 now = bpf_ktime_get_ns();
	struct sl_event *e;

	if (!ev_take_token(now))
		return;
	e = bpf_ringbuf_reserve(&sluice_events, sizeof(*e), 0);
	if (!e)
		return;
	e->ts_ns = now;
	e->type = type;
	e->reason = reason;
	e->dir = dir;
	e->family = p->family;
	e->proto = p->proto;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	e->ifindex = skb->ifindex;
	e->src_identity = src_id;
	e->dst_identity = dst_id;
	e->len = skb->len;
	e->saddr = p->saddr;
	e->daddr = p->daddr;
	if (p->proto == IPPROTO_ICMP && !p->sport) {
		/* Not an echo: report type/code instead of ports (code unknown here). */
		e->sport = bpf_htons(p->icmp_type);
		e->dport = 0;
	} else {
		e->sport = p->sport;
		e->dport = p->dport;
	}
	e->policy_id = policy_id;
	bpf_ringbuf_submit(e, 0);
}

#endif
