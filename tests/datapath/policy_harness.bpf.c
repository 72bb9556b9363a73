// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Test harness for datapath/lib/policy.h: runs the policy lookup on a case
 * carried in the test packet, so tests/datapath/test_policy.c can check the
 * lookups with BPF_PROG_TEST_RUN independently of the main programs. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "lib/policy.h"

/* The packet is an Ethernet header (ignored) followed by this record. */
struct policy_case {
	struct pkt p;
	__u32 ep_id;
	__u32 peer_identity;
	__u8 dir; /* enum sl_dir */
	__u8 pad[3];
};

/* Results of the last run, read by the test through the skeleton. */
__u32 out_policy_id;
__s32 out_reason;

SEC("tc")
int policy_harness(struct __sk_buff *skb)
{
	struct policy_case c;
	struct ep_info ep = {};
	__u32 policy_id = 0;
	int r;

	if (bpf_skb_load_bytes(skb, 14, &c, sizeof(c)) < 0)
		return TC_ACT_SHOT;
	ep.ep_id = c.ep_id;
	if (c.dir == SL_DIR_EGRESS)
		r = policy_egress(&c.p, &ep, c.peer_identity, &policy_id);
	else
		r = policy_ingress(&c.p, &ep, c.peer_identity, &policy_id);
	out_policy_id = policy_id;
	out_reason = r;
	return r == SL_FORWARDED ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
