// SPDX-License-Identifier: Apache-2.0
/* Decoders for the core maps: endpoints, ipcache, metrics, conntrack,
 * event rate limiter (include/sluice/{endpoint,ipcache,metrics,ct,events}.h). */
#include <arpa/inet.h>
#include <string.h>

#include <sluice/ct.h>
#include <sluice/endpoint.h>
#include <sluice/events.h>
#include <sluice/ipcache.h>
#include <sluice/metrics.h>
#include "addr.h"
#include "decode.h"
#include "print.h"
#include "reasons.h"

/* ---- sluice_ep ------------------------------------------------------------------ */

static const char *const ep_flag_names[] = {"host-netns"};

static void ep_key(const void *k)
{
	const struct ep_key *key = k;

	cnictl_pr_addr("ip", &key->addr, key->family);
}

static void ep_value(const void *k, const void *v)
{
	const struct ep_info *e = v;

	(void)k;
	pr_u64("ifindex", e->ifindex);
	pr_u64("endpoint", e->ep_id);
	pr_u64("identity", e->identity);
	cnictl_pr_mac("mac", e->mac);
	cnictl_pr_mac("hostMac", e->host_mac);
	cnictl_pr_flags("flags", e->flags, ep_flag_names, 1);
	pr_u64("netnsCookie", e->netns_cookie);
}

CNICTL_DECODER(cnictl_dec_ep) = {
    .map = SL_MAP_EP,
    .doc = "local endpoints: pod IP -> veth, endpoint id, identity, MACs",
    .key_size = sizeof(struct ep_key),
    .value_size = sizeof(struct ep_info),
    .key = ep_key,
    .value = ep_value,
};

/* ---- sluice_ep_slots -------------------------------------------------------------- */

static void ep_slot_key(const void *k)
{
	__u32 idx;

	memcpy(&idx, k, sizeof(idx));
	pr_u64("slot", idx);
}

static void ep_slot_value(const void *k, const void *v)
{
	const struct ep_slot *s = v;

	cnictl_pr_v4("ip", s->addr);
	ep_value(k, &s->info);
}

/* 65,536 slots: only those in use. */
static bool ep_slot_skip(const void *k, const void *v)
{
	const struct ep_slot *s = v;

	(void)k;
	return !s->info.ifindex;
}

CNICTL_DECODER(cnictl_dec_ep_slots) = {
    .map = SL_MAP_EP_SLOTS,
    .doc = "local endpoints by the low 16 bits of their IPv4 address (sluice_ep without hashing)",
    .key_size = sizeof(__u32),
    .value_size = sizeof(struct ep_slot),
    .key = ep_slot_key,
    .value = ep_slot_value,
    .skip = ep_slot_skip,
};

/* ---- sluice_ipcache --------------------------------------------------------------- */

static const char *const ipc_flag_names[] = {"local"};

static void ipc_key(const void *k)
{
	const struct ipcache_key *key = k;
	struct sl_cidr c = {.family = key->family};
	char buf[SL_ADDR_STRLEN + 8];
	unsigned int full = key->family == SL_AF_INET6 ? 128 : 32;

	if ((key->family != SL_AF_INET && key->family != SL_AF_INET6) ||
	    key->prefixlen < SL_IPCACHE_PREFIX_BASE ||
	    key->prefixlen - SL_IPCACHE_PREFIX_BASE > full) {
		pr_strf("cidr", "? (family %u, prefixlen %u)", key->family, key->prefixlen);
		return;
	}
	memcpy(&c.addr, &key->addr, sizeof(c.addr));
	c.plen = (__u8)(key->prefixlen - SL_IPCACHE_PREFIX_BASE);
	pr_str("cidr", sl_cidr_str(&c, buf, sizeof(buf)));
}

static void ipc_value(const void *k, const void *v)
{
	const struct ipcache_val *val = v;
	char buf[SL_ADDR_STRLEN];
	union sl_addr node = {.v4 = val->node_ip};

	(void)k;
	pr_u64("identity", val->identity);
	if (val->node_ip)
		pr_str("node", sl_addr_str(&node, SL_AF_INET, buf, sizeof(buf)));
	else
		pr_null("node");
	cnictl_pr_flags("flags", val->flags, ipc_flag_names, 1);
}

CNICTL_DECODER(cnictl_dec_ipcache) = {
    .map = SL_MAP_IPCACHE,
    .doc = "IP/CIDR -> security identity and hosting node",
    .key_size = sizeof(struct ipcache_key),
    .value_size = sizeof(struct ipcache_val),
    .key = ipc_key,
    .value = ipc_value,
};

/* ---- sluice_metrics ------------------------------------------------------------------ */

static void metrics_key(const void *k)
{
	__u32 idx;

	memcpy(&idx, k, sizeof(idx));
	pr_str("reason", sl_reason_name(idx / SL_DIR_MAX));
	pr_str("dir", sl_dir_name(idx % SL_DIR_MAX));
}

static void metrics_value(const void *k, const void *v)
{
	const struct metrics_val *m = v;

	(void)k;
	pr_u64("packets", m->packets);
	pr_u64("bytes", m->bytes);
}

/* Reasons that never happened would bury the ones that did. */
static bool metrics_skip(const void *k, const void *v)
{
	const struct metrics_val *m = v;

	(void)k;
	return !m->packets && !m->bytes;
}

CNICTL_DECODER(cnictl_dec_metrics) = {
    .map = SL_MAP_METRICS,
    .doc = "packets and bytes per verdict reason and direction (summed over CPUs)",
    .key_size = sizeof(__u32),
    .value_size = sizeof(struct metrics_val),
    .key = metrics_key,
    .value = metrics_value,
    .sum_u64 = true,
    .skip = metrics_skip,
};

/* ---- sluice_ep_stats ------------------------------------------------------------------ */

static void ep_stats_key(const void *k)
{
	__u32 id;

	memcpy(&id, k, sizeof(id));
	pr_u64("endpoint", id);
}

/* One slot per possible endpoint id: only those that counted something. */
static bool ep_stats_skip(const void *k, const void *v)
{
	const struct ep_stats *s = v;

	(void)k;
	return !s->tx_packets && !s->rx_packets && !s->drop_packets;
}

static void ep_stats_value(const void *k, const void *v)
{
	const struct ep_stats *s = v;

	(void)k;
	pr_u64("txPackets", s->tx_packets);
	pr_u64("txBytes", s->tx_bytes);
	pr_u64("rxPackets", s->rx_packets);
	pr_u64("rxBytes", s->rx_bytes);
	pr_u64("dropPackets", s->drop_packets);
	pr_u64("dropBytes", s->drop_bytes);
}

CNICTL_DECODER(cnictl_dec_ep_stats) = {
    .map = SL_MAP_EP_STATS,
    .doc = "per-endpoint counters by endpoint id, those that counted (summed over CPUs)",
    .key_size = sizeof(__u32),
    .value_size = sizeof(struct ep_stats),
    .key = ep_stats_key,
    .value = ep_stats_value,
    .sum_u64 = true,
    .skip = ep_stats_skip,
};

/* ---- sluice_ct ------------------------------------------------------------------------ */

static const char *const ct_flag_names[] = {"svc", "policy-audit", "hairpin", "node-port", "front"};

const char *cnictl_ct_state_name(unsigned int state)
{
	switch (state) {
	case SL_CT_NEW:
		return "new";
	case SL_CT_ESTABLISHED:
		return "established";
	case SL_CT_CLOSING:
		return "closing";
	}
	return "?";
}

/* TCP flags as letters, tcpdump style ("S." for SYN+ACK is too cryptic for
 * an operator: we spell F S R P A U E C). */
static void pr_tcp_flags(const char *key, __u8 f)
{
	static const char letters[] = "FSRPAUEC";
	char buf[9];
	int o = 0;

	for (int b = 0; b < 8; b++)
		if (f & (1u << b))
			buf[o++] = letters[b];
	buf[o] = 0;
	pr_str(key, o ? buf : "-");
}

static void ct_key(const void *k)
{
	const struct ct_key *key = k;

	cnictl_pr_v4("src", key->saddr);
	pr_u64("sport", ntohs(key->sport));
	cnictl_pr_v4("dst", key->daddr);
	pr_u64("dport", ntohs(key->dport));
	pr_str("proto", sl_proto_name(key->proto));
}

static void ct_value(const void *k, const void *v)
{
	const struct ct_entry *e = v;

	(void)k;
	/* "svc": a frontend entry (the untranslated tuple, remembering the
	 * backend); "conn": a connection. */
	pr_str("scope", (e->flags & SL_CT_F_FRONT) ? "svc" : "conn");
	pr_str("state", cnictl_ct_state_name(e->state));
	cnictl_pr_ktime_left("expiresIn", e->expires_ns);
	cnictl_pr_flags("flags", e->flags, ct_flag_names, 5);
	pr_u64("packets", e->packets);
	pr_u64("bytes", e->bytes);
	pr_u64("revNat", e->rev_nat_id);
	pr_u64("backend", e->backend_id);
	pr_u64("srcIdentity", e->src_identity);
	pr_tcp_flags("tcpOrig", e->tcp_flags_orig);
	pr_tcp_flags("tcpReply", e->tcp_flags_reply);
	if (e->flags & (SL_CT_F_FRONT | SL_CT_F_SVC)) {
		/* Frontend entry: the backend; connection: the frontend. */
		cnictl_pr_v4("natAddr", e->nat_addr);
		pr_u64("natPort", ntohs(e->nat_port));
	} else {
		pr_null("natAddr");
		pr_null("natPort");
	}
	if (e->flags & SL_CT_F_HAIRPIN)
		cnictl_pr_v4("client", e->client_addr);
	else
		pr_null("client");
}

CNICTL_DECODER(cnictl_dec_ct) = {
    .map = SL_MAP_CT,
    .doc = "connection tracking: tuple -> state, expiry (s from now), counters, NAT",
    .key_size = sizeof(struct ct_key),
    .value_size = sizeof(struct ct_entry),
    .key = ct_key,
    .value = ct_value,
};

/* ---- sluice_ct_stats ------------------------------------------------------------------ */

static void ct_stats_key(const void *k)
{
	static const char *const names[SL_CT_STAT_MAX] = {
	    [SL_CT_STAT_CREATED] = "created",
	    [SL_CT_STAT_EXPIRED] = "expired",
	    [SL_CT_STAT_CLOSED] = "closed",
	    [SL_CT_STAT_FLUSHED] = "flushed",
	    [SL_CT_STAT_PURGED] = "purged",
	};
	__u32 idx;

	memcpy(&idx, k, sizeof(idx));
	if (idx < SL_CT_STAT_MAX)
		pr_str("counter", names[idx]);
	else
		pr_strf("counter", "counter-%u", idx);
}

static void ct_stats_value(const void *k, const void *v)
{
	__u64 n;

	(void)k;
	memcpy(&n, v, sizeof(n));
	pr_u64("count", n);
}

CNICTL_DECODER(cnictl_dec_ct_stats) = {
    .map = SL_MAP_CT_STATS,
    .doc = "conntrack entries created, expired, closed, flushed (summed over CPUs)",
    .key_size = sizeof(__u32),
    .value_size = sizeof(__u64),
    .key = ct_stats_key,
    .value = ct_stats_value,
    .sum_u64 = true,
};

/* ---- sluice_ev_rate -------------------------------------------------------------------- */

static void ev_rate_key(const void *k)
{
	__u32 idx;

	memcpy(&idx, k, sizeof(idx));
	pr_u64("slot", idx);
}

/* Token buckets are per CPU: sums of tokens mean little, so show the
 * suppressed total, the tokens left and the last refill over all CPUs. */
static void ev_rate_percpu(const void *k, const void *values, unsigned int ncpu, size_t stride)
{
	__u64 suppressed = 0, tokens = 0, last = 0;

	(void)k;
	for (unsigned int c = 0; c < ncpu; c++) {
		struct sl_ev_rate r;

		memcpy(&r, (const char *)values + c * stride, sizeof(r));
		suppressed += r.suppressed;
		tokens += r.tokens;
		if (r.last_ns > last)
			last = r.last_ns;
	}
	pr_u64("suppressed", suppressed);
	pr_u64("tokens", tokens);
	if (last) {
		__u64 now = cnictl_ktime_now();

		pr_u64("lastRefillAgo", now > last ? (now - last) / 1000000000ull : 0);
	} else {
		pr_null("lastRefillAgo");
	}
}

CNICTL_DECODER(cnictl_dec_ev_rate) = {
    .map = SL_MAP_EVENT_RATE,
    .doc = "event rate limiter: tokens and suppressed events (over all CPUs)",
    .key_size = sizeof(__u32),
    .value_size = sizeof(struct sl_ev_rate),
    .key = ev_rate_key,
    .percpu = ev_rate_percpu,
};
