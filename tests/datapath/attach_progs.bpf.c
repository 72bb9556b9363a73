// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Stand-ins named like the pod programs, for test_attach.c: lib/attach.c
 * knows our programs by name, and loading this object twice gives an
 * "old" and a "new" version of each, quickly. Test-only. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_OK;
}

SEC("tc")
int to_pod(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_OK;
}

/* Somebody else's program on the same hook (it passes packets on). */
SEC("tc")
int foreign(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_UNSPEC;
}
