// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The empty tc program: the baseline hack/bench/pktcost.c subtracts from
 * every per-packet figure (what BPF_PROG_TEST_RUN itself costs). Test-only. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int bench_empty(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_OK;
}
