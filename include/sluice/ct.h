/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Connection tracking: one LRU hash for every protocol and both families. */
#ifndef SLUICE_CT_H
#define SLUICE_CT_H

#include "common.h"

#define SL_MAP_CT "sluice_ct"
#define SL_MAP_CT_STATS "sluice_ct_stats"
#define SL_CT_MAX_DEFAULT 262144

enum sl_ct_scope {
	SL_CT_SCOPE_CONN = 0, /* a connection, keyed by its original (post-DNAT) tuple */
	SL_CT_SCOPE_SVC = 1,  /* a Service flow, keyed by the pre-DNAT tuple: remembers the backend */
};

/* sluice_ct key: always the tuple of the original direction, as the
 * initiator sent it. Replies are looked up with the tuple swapped.
 * For ICMP echo, sport = dport = echo id. */
struct ct_key {
	union sl_addr saddr; /* network order */
	union sl_addr daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;  /* IPPROTO_* */
	__u8 family; /* SL_AF_INET / SL_AF_INET6 */
	__u8 scope;  /* enum sl_ct_scope */
	__u8 pad;
};
SL_STATIC_ASSERT(sizeof(struct ct_key) == 40, "ct_key size");

enum sl_ct_state {
	SL_CT_NEW = 0,         /* TCP SYN seen / first packet of UDP, ICMP */
	SL_CT_ESTABLISHED = 1, /* reply seen */
	SL_CT_CLOSING = 2,     /* FIN or RST seen */
};

#define SL_CT_F_SVC          0x01 /* created by Service translation: rev_nat_id is set */
#define SL_CT_F_POLICY_AUDIT 0x02 /* allowed by policy in audit mode (reserved) */
#define SL_CT_F_HAIRPIN      0x04 /* source was rewritten for hairpin (client == backend) */
#define SL_CT_F_NODE_PORT    0x08 /* reserved */

/* sluice_ct value. Created by the datapath on the first packet, refreshed
 * on every packet, deleted by sluiced's garbage collector once expired. */
struct ct_entry {
	__u64 expires_ns;  /* bpf_ktime_get_ns() deadline */
	__u64 created_ns;
	__u64 packets;     /* both directions */
	__u64 bytes;
	__u32 rev_nat_id;  /* SCOPE_CONN: Service frontend to restore on replies; 0 none */
	__u32 backend_id;  /* SCOPE_SVC: chosen backend; SCOPE_CONN: backend in use or 0 */
	__u32 src_identity; /* identity of the initiator */
	__u8 state;        /* enum sl_ct_state */
	__u8 flags;        /* SL_CT_F_* */
	__u8 tcp_flags_orig;  /* TCP flags seen in the original direction (OR'ed) */
	__u8 tcp_flags_reply; /* TCP flags seen in the reply direction */
	union sl_addr nat_addr; /* hairpin: the original source address */
};
SL_STATIC_ASSERT(sizeof(struct ct_entry) == 64, "ct_entry size");

/* sluice_ct_stats: per-CPU array indexed by enum sl_ct_stat. Datapath counts
 * created; sluiced's GC counts expired; evicted = created - deleted - live. */
enum sl_ct_stat {
	SL_CT_STAT_CREATED = 0,
	SL_CT_STAT_EXPIRED = 1, /* written by sluiced into CPU 0's slot */
	SL_CT_STAT_CLOSED = 2,  /* deleted by sluiced after FIN/RST timeout */
	SL_CT_STAT_FLUSHED = 3, /* deleted by cnictl ct flush */
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
