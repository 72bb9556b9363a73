// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The kernel path Sluice's pod-to-pod traffic takes, without Sluice: a
 * host veth's ingress program that only bpf_redirect_peer()s every packet
 * into the other pod. hack/bench.sh measures it beside Sluice, so the
 * difference is what Sluice's own per-packet work costs. Test-only. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The other pod's host veth (set before load). */
const volatile __u32 peer_ifindex = 0;

SEC("tc")
int bench_redirect(struct __sk_buff *skb)
{
	(void)skb;
	return bpf_redirect_peer(peer_ifindex, 0);
}
