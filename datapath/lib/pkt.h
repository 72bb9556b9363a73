/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The parsed view of a packet every datapath module works on. */
#ifndef SLUICE_DP_PKT_H
#define SLUICE_DP_PKT_H

#include <linux/bpf.h>
#include <sluice/common.h>

/* Filled by pkt_parse() (datapath core); lb and policy read it, and lb
 * updates the addresses/ports after it rewrites the packet. */
struct pkt {
	__u32 l3_off;      /* offset of the IP header */
	__u32 l4_off;      /* offset of the L4 header (0 if none/fragment) */
	__u32 len;         /* skb->len */
	__u16 eth_proto;   /* host order: ETH_P_IP, ETH_P_IPV6, ETH_P_ARP, ... */
	__u8 family;       /* SL_AF_INET / SL_AF_INET6; 0 for non-IP */
	__u8 proto;        /* IPPROTO_* */
	__u8 tcp_flags;    /* TCP: flags byte (FIN 0x01 SYN 0x02 RST 0x04 ACK 0x10) */
	__u8 ttl;
	__u8 is_frag;      /* non-first fragment: no L4 header */
	__u8 icmp_type;    /* ICMP: type (echo request 8, reply 0) */
	union sl_addr saddr;
	union sl_addr daddr;
	__be16 sport;      /* TCP/UDP/SCTP ports; ICMP echo: the id in both */
	__be16 dport;
};

#endif
