/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Connection tracking: one LRU hash for every protocol and both families. */
#ifndef SLUICE_CT_H
#define SLUICE_CT_H

#include "common.h"

#define SL_MAP_CT "sluice_ct"
#define SL_MAP_CT_STATS "sluice_ct_stats"
#define SL_CT_MAX_DEFAULT 262144

/* sluice_ct key: an IPv4 tuple as its sender wrote it (16 bytes: the key
 * is hashed and compared on every packet, so it stays small; IPv6 will get
 * its own map). Two kinds of entry share the map, told apart by the
 * value's flags:
 *   connection  the tuple of the original direction after Service
 *               translation (client -> backend); replies are looked up with
 *               the tuple swapped
 *   frontend    (SL_CT_F_FRONT) the tuple before translation (client ->
 *               ClusterIP:port) of a Service flow: remembers the backend,
 *               so a flow's later packets are translated from this one
 *               entry, without the Service and backend maps
 * Every packet's first lookup is its own tuple, which finds either kind.
 * For ICMP echo, sport = dport = echo id. */
struct ct_key {
	__be32 saddr; /* network order */
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto; /* IPPROTO_* */
	__u8 pad[3];
};
SL_STATIC_ASSERT(sizeof(struct ct_key) == 16, "ct_key size");

enum sl_ct_state {
	SL_CT_NEW = 0,         /* TCP SYN seen / first packet of UDP, ICMP */
	SL_CT_ESTABLISHED = 1, /* reply seen */
	SL_CT_CLOSING = 2,     /* FIN or RST seen */
};

#define SL_CT_F_SVC          0x01 /* connection of a Service flow: replies come from nat_addr:nat_port */
#define SL_CT_F_POLICY_AUDIT 0x02 /* allowed by policy in audit mode (reserved) */
#define SL_CT_F_HAIRPIN      0x04 /* source was rewritten for hairpin (client == backend) */
#define SL_CT_F_NODE_PORT    0x08 /* reserved */
#define SL_CT_F_FRONT        0x10 /* frontend entry: translate to nat_addr:nat_port */

/* sluice_ct value. Created by the datapath on the first packet, refreshed
 * on every packet of its direction(s), deleted by sluiced's garbage
 * collector once expired. A frontend entry counts the flow's forward
 * packets, its connection entry the replies. */
struct ct_entry {
	__u64 expires_ns;  /* bpf_ktime_get_ns() deadline */
	__u64 created_ns;
	__u64 packets;
	__u64 bytes;
	__u32 rev_nat_id;  /* Service flows: the frontend (sluice_revnat); 0 none */
	__u32 backend_id;  /* Service flows: the backend (sluice_backend); 0 none */
	__u32 src_identity; /* identity of the initiator */
	__u8 state;        /* enum sl_ct_state */
	__u8 flags;        /* SL_CT_F_* */
	__u8 tcp_flags_orig;  /* TCP flags seen in the original direction (OR'ed) */
	__u8 tcp_flags_reply; /* TCP flags seen in the reply direction */
	__be32 nat_addr;   /* SL_CT_F_FRONT: the backend; SL_CT_F_SVC: the frontend */
	__be16 nat_port;   /* port of nat_addr, network order */
	__u16 pad;
	__be32 client_addr; /* SL_CT_F_HAIRPIN: the client's own address */
	__u32 pad2;
};
SL_STATIC_ASSERT(sizeof(struct ct_entry) == 64, "ct_entry size");

/* sluice_ct_stats: per-CPU array indexed by enum sl_ct_stat. Datapath counts
 * created; sluiced counts the deletions (GC, flush, purge);
 * evicted = created - deleted - live. */
enum sl_ct_stat {
	SL_CT_STAT_CREATED = 0,
	SL_CT_STAT_EXPIRED = 1, /* written by sluiced into CPU 0's slot */
	SL_CT_STAT_CLOSED = 2,  /* deleted by sluiced after FIN/RST timeout */
	SL_CT_STAT_FLUSHED = 3, /* deleted by cnictl ct flush */
	SL_CT_STAT_PURGED = 4,  /* frontend entries sluiced deleted with their backend */
	SL_CT_STAT_MAX,
};

/* Timeouts in seconds (datapath rodata knobs, sluiced flags). */
#define SL_CT_TIMEOUT_TCP_SYN         60
#define SL_CT_TIMEOUT_TCP_ESTABLISHED 21600
#define SL_CT_TIMEOUT_TCP_CLOSE       10
#define SL_CT_TIMEOUT_UDP             60
#define SL_CT_TIMEOUT_ICMP            30
#define SL_CT_TIMEOUT_OTHER           60

#endif
