/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every map and runtime knob of the datapath, declared once so that every
 * object (from_pod, to_pod, sock) declares them identically: sluiced loads
 * from_pod first, pins its maps by name, and the other objects reuse them.
 *
 * Maps (pinned as <bpffs>/<name>; sizes are the defaults, sluiced may change
 * max_entries through the skeleton before load, identically on every object):
 *   sluice_ep         hash     ep_key -> ep_info            SL_EP_MAX        sluiced
 *   sluice_ep_slots   array    low 16 addr bits -> ep_slot  SL_EP_SLOTS      sluiced
 *   sluice_ipcache    lpm      ipcache_key -> ipcache_val   SL_IPCACHE_MAX   sluiced
 *   sluice_metrics    pcpu arr reason*2+dir -> metrics_val  SL_METRICS_MAX   datapath
 *   sluice_ep_stats   pcpu arr ep_id -> ep_stats           SL_EP_MAX        sluiced zeroes, datapath counts
 *   sluice_events     ringbuf  struct sl_event              SL_EVENTS_RING_BYTES  datapath
 *   sluice_ev_rate    pcpu arr 0 -> sl_ev_rate              1                datapath
 *   sluice_ct         lru hash ct_key -> ct_entry           SL_CT_MAX_DEFAULT datapath; sluiced GC deletes
 *   sluice_ct_stats   pcpu arr sl_ct_stat -> __u64          SL_CT_STAT_MAX   datapath (created), sluiced
 *   sluice_svc        hash     svc_key -> svc_val           SL_SVC_MAX       sluiced
 *   sluice_backend    hash     __u32 id -> backend_val      SL_BACKEND_MAX   sluiced
 *   sluice_maglev     hash     __u32 svc_id -> __u32[M]     SL_SVC_MAX       sluiced (value_size = M*4!)
 *   sluice_affinity   lru hash affinity_key -> affinity_val SL_AFFINITY_MAX  datapath
 *   sluice_revnat     hash     __u32 id -> revnat_val       SL_SVC_MAX       sluiced
 *   sluice_lb_netns   hash     __u64 cookie -> __be32 pod IPv4 SL_LB_NETNS_MAX sluiced (endpoints)
 *   sluice_sk_revnat  lru hash sk_revnat_key -> sk_revnat_val SL_SK_REVNAT_MAX sock.bpf.c
 * (policy maps are declared by datapath/lib/policy.h.)
 *
 * Runtime knobs (const volatile rodata, set through skel->rodata before
 * load; every object has its own copy, set them on each):
 *   ct_timeout_tcp_syn, ct_timeout_tcp_est, ct_timeout_tcp_close,
 *   ct_timeout_udp, ct_timeout_icmp, ct_timeout_other  (seconds, __u32;
 *                              defaults SL_CT_TIMEOUT_* of sluice/ct.h)
 *   events_per_sec   __u32  drop/verdict events per CPU per second (SL_EVENTS_PER_SEC)
 *   trace_events     __u32  1 = also emit SL_EV_TRACE for forwarded packets (0)
 *   maglev_m         __u32  Maglev table size M; must equal sluice_maglev's
 *                           value_size / 4 (SL_MAGLEV_M_DEFAULT)
 *   svc_loopback_v4  __be32 hairpin source address (169.254.42.1)
 *   node_netns_cookie __u64 netns cookie of the node namespace (sock.bpf.c;
 *                           0 = the node namespace gets no socket translation)
 */
#ifndef SLUICE_DP_MAPS_H
#define SLUICE_DP_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <sluice/common.h>
#include <sluice/endpoint.h>
#include <sluice/ipcache.h>
#include <sluice/metrics.h>
#include <sluice/events.h>
#include <sluice/ct.h>
#include <sluice/lb.h>

/* Local pods by address: delivery and anti-spoofing. Written by sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ep_key);
	__type(value, struct ep_info);
	__uint(max_entries, SL_EP_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ep SEC(".maps");

/* Local pods by the low bits of their address: sluice_ep without hashing
 * (include/sluice/endpoint.h). Written by sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ep_slot);
	__uint(max_entries, SL_EP_SLOTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ep_slots SEC(".maps");

/* Address/prefix -> security identity, cluster-wide. Written by sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct ipcache_key);
	__type(value, struct ipcache_val);
	__uint(max_entries, SL_IPCACHE_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ipcache SEC(".maps");

/* Packets/bytes per verdict reason and direction. Written by the datapath. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct metrics_val);
	__uint(max_entries, SL_METRICS_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_metrics SEC(".maps");

/* Per-endpoint counters by endpoint id. Zeroed by sluiced, counted here. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ep_stats);
	__uint(max_entries, SL_EP_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ep_stats SEC(".maps");

/* Drop/verdict/trace events for cnictl monitor. Written by the datapath. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SL_EVENTS_RING_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_events SEC(".maps");

/* Per-CPU token bucket limiting sluice_events. Written by the datapath. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct sl_ev_rate);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ev_rate SEC(".maps");

/* Connections by original tuple. Datapath creates/refreshes, sluiced GCs. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
	__uint(max_entries, SL_CT_MAX_DEFAULT);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ct SEC(".maps");

/* Conntrack counters (enum sl_ct_stat). Datapath: created; sluiced: rest. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, SL_CT_STAT_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ct_stats SEC(".maps");

/* Service frontends. Written by sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct svc_key);
	__type(value, struct svc_val);
	__uint(max_entries, SL_SVC_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_svc SEC(".maps");

/* Service backends by id. Written by sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct backend_val);
	__uint(max_entries, SL_BACKEND_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_backend SEC(".maps");

/* Maglev table per svc_id: __u32 backend ids[M]. No BTF value type on
 * purpose: sluiced sets value_size = M * 4 at load. Written by sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, SL_MAGLEV_VALUE_SIZE(SL_MAGLEV_M_DEFAULT));
	__uint(max_entries, SL_SVC_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_maglev SEC(".maps");

/* ClientIP session affinity: client + svc_id -> backend. Datapath-written. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct affinity_key);
	__type(value, struct affinity_val);
	__uint(max_entries, SL_AFFINITY_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_affinity SEC(".maps");

/* rev_nat_id -> frontend address replies are rewritten to. sluiced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct revnat_val);
	__uint(max_entries, SL_SVC_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_revnat SEC(".maps");

/* Pod netns cookies where socket-level translation acts. sluiced endpoints. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, __u32);
	__uint(max_entries, SL_LB_NETNS_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_lb_netns SEC(".maps");

/* Translated socket + backend -> frontend, for recvmsg/getpeername. sock.bpf.c. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct sk_revnat_key);
	__type(value, struct sk_revnat_val);
	__uint(max_entries, SL_SK_REVNAT_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_sk_revnat SEC(".maps");

/* Runtime knobs (see the list above). */
const volatile __u32 ct_timeout_tcp_syn = SL_CT_TIMEOUT_TCP_SYN;
const volatile __u32 ct_timeout_tcp_est = SL_CT_TIMEOUT_TCP_ESTABLISHED;
const volatile __u32 ct_timeout_tcp_close = SL_CT_TIMEOUT_TCP_CLOSE;
const volatile __u32 ct_timeout_udp = SL_CT_TIMEOUT_UDP;
const volatile __u32 ct_timeout_icmp = SL_CT_TIMEOUT_ICMP;
const volatile __u32 ct_timeout_other = SL_CT_TIMEOUT_OTHER;
const volatile __u32 events_per_sec = SL_EVENTS_PER_SEC;
const volatile __u32 trace_events = 0;
const volatile __u32 maglev_m = SL_MAGLEV_M_DEFAULT;
const volatile __be32 svc_loopback_v4 = bpf_htonl(SL_SVC_LOOPBACK_V4);
const volatile __u64 node_netns_cookie = 0;

#endif
