/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking on sluice_ct (include/sluice/ct.h). One entry per
 * connection, keyed by the original direction's tuple; replies are found
 * by looking the swapped tuple up. sluiced's GC deletes expired entries;
 * the LRU evicts under pressure. */
#ifndef SLUICE_DP_CT_H
#define SLUICE_DP_CT_H

#include "common.h"
#include "maps.h"
#include "pkt.h"

#define TCP_F_FIN 0x01
#define TCP_F_SYN 0x02
#define TCP_F_RST 0x04
#define TCP_F_ACK 0x10

enum ct_result {
	CT_NEW = 0,   /* no entry: first packet of a connection */
	CT_ORIG = 1,  /* same direction as the first packet */
	CT_REPLY = 2, /* the other direction */
};

static __always_inline void ct_key_from_pkt(struct ct_key *k, const struct pkt *p)
{
	k->saddr = p->saddr.v4;
	k->daddr = p->daddr.v4;
	k->sport = p->sport;
	k->dport = p->dport;
	k->proto = p->proto;
	k->pad[0] = k->pad[1] = k->pad[2] = 0;
}

static __always_inline void ct_key_swap(struct ct_key *k)
{
	__be32 a = k->saddr;
	__be16 port = k->sport;

	k->saddr = k->daddr;
	k->daddr = a;
	k->sport = k->dport;
	k->dport = port;
}

/* Lifetime in seconds of an entry in state for protocol proto. */
static __always_inline __u64 ct_timeout(__u8 proto, __u8 state)
{
	switch (proto) {
	case IPPROTO_TCP:
		if (state == SL_CT_CLOSING)
			return ct_timeout_tcp_close;
		return state == SL_CT_ESTABLISHED ? ct_timeout_tcp_est : ct_timeout_tcp_syn;
	case IPPROTO_UDP:
		return ct_timeout_udp;
	case IPPROTO_ICMP:
		return ct_timeout_icmp;
	default:
		return ct_timeout_other;
	}
}

/* The expiry of an entry whose state does not change is rewritten only
 * when it would move by more than this (as Cilium's CT report interval):
 * entries may expire up to this much early, which timeouts of seconds and
 * more do not notice, and a busy flow does not rewrite it per packet. */
#define SL_CT_REFRESH_NS NSEC_PER_SEC

/* Move e's TCP flags, state and expiry on for one packet p of direction
 * res (CT_ORIG/CT_REPLY) at time now (sl_now()). Returns 1 when the
 * expiry was rewritten: on a state change, or at most once per
 * SL_CT_REFRESH_NS of a steady flow (the moment Service flows use to
 * revalidate their backend and keep their connection entry alive). */
static __always_inline int ct_advance(struct ct_entry *e, const struct pkt *p, int res,
				       __u64 now)
{
	__u8 state = e->state;
	__u64 exp;

	if (res == CT_REPLY) {
		e->tcp_flags_reply |= p->tcp_flags;
		if (state == SL_CT_NEW)
			state = SL_CT_ESTABLISHED;
	} else {
		e->tcp_flags_orig |= p->tcp_flags;
		/* The initiator ACKing means the handshake completed (this is
		 * also how frontend entries, which see no replies, get the
		 * established timeout). */
		if (state == SL_CT_NEW && p->proto == IPPROTO_TCP && (p->tcp_flags & TCP_F_ACK))
			state = SL_CT_ESTABLISHED;
	}
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & (TCP_F_FIN | TCP_F_RST)))
		state = SL_CT_CLOSING;
	exp = now + ct_timeout(p->proto, state) * NSEC_PER_SEC;
	if (state != e->state) {
		/* A new state may shorten the lifetime (closing): always written. */
		e->state = state;
		e->expires_ns = exp;
		return 1;
	}
	if (exp > e->expires_ns + SL_CT_REFRESH_NS) {
		e->expires_ns = exp;
		return 1;
	}
	return 0;
}

/* Account one packet p of direction res to e at time now: counters, then
 * ct_advance() (whose result it returns). */
static __always_inline int ct_refresh(struct ct_entry *e, const struct pkt *p, int res,
				       __u64 now)
{
	e->packets++;
	e->bytes += p->len;
	return ct_advance(e, p, res, now);
}

/* A SYN without ACK in the original direction of a closing or closed
 * connection starts a new one on the same tuple (port reuse). */
static __always_inline int ct_is_reopen(const struct ct_entry *e, const struct pkt *p)
{
	return p->proto == IPPROTO_TCP && e->state == SL_CT_CLOSING &&
	       (p->tcp_flags & (TCP_F_SYN | TCP_F_ACK)) == TCP_F_SYN;
}

/* Find the entry of p at time now: its own tuple (a connection in its
 * original direction, or a Service frontend entry: check SL_CT_F_FRONT),
 * else the swapped one (a reply). key receives the original-direction key
 * (the one to create with on CT_NEW); *entry the entry (NULL on CT_NEW).
 * An expired entry the GC has not removed yet counts as absent. */
static __always_inline int ct_lookup(const struct pkt *p, struct ct_key *key,
				     struct ct_entry **entry, __u64 now)
{
	struct ct_entry *e;

	ct_key_from_pkt(key, p);
	e = bpf_map_lookup_elem(&sluice_ct, key);
	if (e && e->expires_ns > now && !ct_is_reopen(e, p)) {
		*entry = e;
		return CT_ORIG;
	}
	/* A SYN without ACK opens a connection: it is never a reply, and
	 * the second lookup is saved on every TCP first packet. */
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & (TCP_F_SYN | TCP_F_ACK)) == TCP_F_SYN) {
		*entry = 0;
		return CT_NEW;
	}
	ct_key_swap(key);
	e = bpf_map_lookup_elem(&sluice_ct, key);
	/* A frontend entry is never the other direction of anything (no
	 * packet comes from a ClusterIP). */
	if (e && e->expires_ns > now && !(e->flags & SL_CT_F_FRONT)) {
		*entry = e;
		return CT_REPLY;
	}
	ct_key_swap(key);
	*entry = 0;
	return CT_NEW;
}

static __always_inline void ct_count(__u32 stat)
{
	__u64 *c = bpf_map_lookup_elem(&sluice_ct_stats, &stat);

	if (c)
		(*c)++;
}

/* Create (or replace) the entry for key from the first packet p at time
 * now; tmpl carries rev_nat_id, backend_id, src_identity, flags and the
 * NAT fields. Returns SL_FORWARDED or SL_DROP_CT_FULL. */
static __always_inline int ct_create(const struct ct_key *key, const struct pkt *p,
				     struct ct_entry *tmpl, __u64 now)
{
	tmpl->created_ns = now;
	tmpl->packets = 1;
	tmpl->bytes = p->len;
	tmpl->state = SL_CT_NEW;
	tmpl->tcp_flags_orig = p->tcp_flags;
	tmpl->tcp_flags_reply = 0;
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & (TCP_F_SYN | TCP_F_ACK)) != TCP_F_SYN) {
		/* Mid-stream packet of a connection we lost (LRU eviction, flush,
		 * upgrade): it passed policy now, keep it going as established. */
		tmpl->state = SL_CT_ESTABLISHED;
		if (p->tcp_flags & (TCP_F_FIN | TCP_F_RST))
			tmpl->state = SL_CT_CLOSING;
	}
	tmpl->expires_ns = now + ct_timeout(p->proto, tmpl->state) * NSEC_PER_SEC;
	if (bpf_map_update_elem(&sluice_ct, key, tmpl, BPF_ANY) < 0)
		return SL_DROP_CT_FULL;
	ct_count(SL_CT_STAT_CREATED);
	return SL_FORWARDED;
}

#endif
