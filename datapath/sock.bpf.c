// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Socket-level Service translation (cgroup sock_addr hooks): connect()
 * and sendmsg() to a ClusterIP go straight to a backend, so the packets
 * need no per-packet NAT; recvmsg() and getpeername() report the ClusterIP
 * back. Attached once to the cgroup2 root, these hooks see every
 * namespace's sockets: they act only in the node's own network namespace
 * (knob node_netns_cookie) and in local pods' (sluice_lb_netns). */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/lb.h"

#ifndef ECONNREFUSED
#define ECONNREFUSED 111 /* no <errno.h> under -target bpf */
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SOCK_ALLOW 1
#define SOCK_REJECT 0

/* Returns 1 when the socket's namespace is one Sluice serves; *client
 * receives the address ClientIP affinity keys it by (the pod's IPv4, or 0
 * for the node, which has no single address). */
static __always_inline int sock_in_scope(void *ctx, __be32 *client)
{
	__u64 cookie = bpf_get_netns_cookie(ctx);
	__u32 *pod_ip;

	if (node_netns_cookie && cookie == node_netns_cookie) {
		*client = 0;
		return 1;
	}
	pod_ip = bpf_map_lookup_elem(&sluice_lb_netns, &cookie);
	if (!pod_ip)
		return 0;
	*client = *pod_ip;
	return 1;
}

/* Backend for a new socket-level flow to svc: client affinity, else the
 * Maglev slot of the socket cookie (stable per socket). Returns the
 * backend id, 0 when there is none. */
static __always_inline __u32 sock_select(const struct svc_val *svc, __be32 client, __u64 cookie)
{
	struct affinity_key ak = { .svc_id = svc->svc_id, .family = SL_AF_INET };
	struct affinity_val av = {}, *a;
	struct backend_val *be;
	__u32 id = 0, *tbl, m = maglev_m, slot;
	__u64 now = bpf_ktime_get_ns();

	ak.client.v4 = client;
	if (svc->flags & SL_SVC_F_AFFINITY) {
		a = bpf_map_lookup_elem(&sluice_affinity, &ak);
		if (a && now - a->last_used_ns <= (__u64)svc->affinity_timeout * NSEC_PER_SEC) {
			id = a->backend_id;
			be = bpf_map_lookup_elem(&sluice_backend, &id);
			/* Stick only to a backend that still takes new flows. */
			if (!be || be->state != SL_BE_ACTIVE)
				id = 0;
		}
	}
	if (!id) {
		tbl = bpf_map_lookup_elem(&sluice_maglev, &svc->svc_id);
		if (!tbl || !m)
			return 0;
		slot = sl_jhash_3words((__u32)cookie, (__u32)(cookie >> 32), svc->svc_id, 0) % m;
		barrier_var(slot); /* verifier workaround, see lb_maglev_pick() */
		if (slot >= maglev_m)
			return 0;
		id = tbl[slot];
	}
	if (id && (svc->flags & SL_SVC_F_AFFINITY)) {
		av.last_used_ns = now;
		av.backend_id = id;
		bpf_map_update_elem(&sluice_affinity, &ak, &av, BPF_ANY);
	}
	return id;
}

/* Translate the destination of ctx (connect/sendmsg) when it is a
 * frontend. Returns SOCK_ALLOW, or SOCK_REJECT when the Service has no
 * backend (ECONNREFUSED in the node's netns; pods are refused by tc). */
static __always_inline int sock_xlate_fwd(struct bpf_sock_addr *ctx, __u8 proto)
{
	struct svc_key k = { .proto = proto, .family = SL_AF_INET };
	struct sk_revnat_key rk = { .family = SL_AF_INET };
	struct sk_revnat_val rv = { .family = SL_AF_INET };
	struct backend_val *be;
	struct svc_val *svc;
	__be32 client;
	__u64 cookie;
	__u32 id;

	if (!sock_in_scope(ctx, &client))
		return SOCK_ALLOW;
	k.addr.v4 = ctx->user_ip4;
	k.port = (__be16)ctx->user_port;
	svc = bpf_map_lookup_elem(&sluice_svc, &k);
	if (!svc)
		return SOCK_ALLOW;
	if (!svc->backend_count) {
		/* A pod's packet goes on untranslated: from_pod answers it with
		 * a TCP RST or ICMP port unreachable, as kube-proxy does. The
		 * node has no tc path to a ClusterIP: refuse the call itself. */
		if (client)
			return SOCK_ALLOW;
		bpf_set_retval(-ECONNREFUSED);
		return SOCK_REJECT;
	}
	cookie = bpf_get_socket_cookie(ctx);
	id = sock_select(svc, client, cookie);
	if (!id)
		return SOCK_REJECT;
	be = bpf_map_lookup_elem(&sluice_backend, &id);
	if (!be)
		return SOCK_REJECT;

	rk.cookie = cookie;
	rk.addr = be->addr;
	rk.port = be->port;
	rv.addr = k.addr;
	rv.port = k.port;
	rv.rev_nat_id = svc->rev_nat_id;
	/* Without the entry replies would show the backend: refuse rather
	 * than half-translate. */
	if (bpf_map_update_elem(&sluice_sk_revnat, &rk, &rv, BPF_ANY) < 0)
		return SOCK_REJECT;
	ctx->user_ip4 = be->addr.v4;
	ctx->user_port = (__u32)be->port;
	return SOCK_ALLOW;
}

/* Report the frontend instead of the backend a translated socket talks to. */
static __always_inline int sock_xlate_rev(struct bpf_sock_addr *ctx)
{
	struct sk_revnat_key rk = { .family = SL_AF_INET };
	struct sk_revnat_val *rv;
	__be32 client;

	if (!sock_in_scope(ctx, &client))
		return SOCK_ALLOW;
	rk.cookie = bpf_get_socket_cookie(ctx);
	rk.addr.v4 = ctx->user_ip4;
	rk.port = (__be16)ctx->user_port;
	rv = bpf_map_lookup_elem(&sluice_sk_revnat, &rk);
	if (!rv)
		return SOCK_ALLOW;
	ctx->user_ip4 = rv->addr.v4;
	ctx->user_port = (__u32)rv->port;
	return SOCK_ALLOW;
}

SEC("cgroup/connect4")
int sock_connect4(struct bpf_sock_addr *ctx)
{
	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return SOCK_ALLOW;
	return sock_xlate_fwd(ctx, ctx->protocol);
}

SEC("cgroup/sendmsg4")
int sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_xlate_fwd(ctx, IPPROTO_UDP);
}

SEC("cgroup/recvmsg4")
int sock_recvmsg4(struct bpf_sock_addr *ctx)
{
	return sock_xlate_rev(ctx);
}

SEC("cgroup/getpeername4")
int sock_getpeername4(struct bpf_sock_addr *ctx)
{
	return sock_xlate_rev(ctx);
}
