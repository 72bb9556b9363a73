// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>

#include <sluice/metrics.h>
#include "reasons.h"

static const char *const names[SL_REASON_MAX] = {
	[SL_FORWARDED] = "forwarded",
	[SL_DROP_INVALID] = "invalid-packet",
	[SL_DROP_UNSUPPORTED_L3] = "unsupported-l3-protocol",
	[SL_DROP_SPOOF_IP] = "spoofed-source-ip",
	[SL_DROP_SPOOF_MAC] = "spoofed-source-mac",
	[SL_DROP_UNKNOWN_EP] = "unknown-endpoint",
	[SL_DROP_TTL_EXCEEDED] = "ttl-exceeded",
	[SL_DROP_POLICY_EGRESS] = "policy-denied-egress",
	[SL_DROP_POLICY_INGRESS] = "policy-denied-ingress",
	[SL_DROP_NO_BACKEND] = "service-no-backend",
	[SL_DROP_CT_FULL] = "conntrack-full",
	[SL_DROP_NAT_FAILED] = "nat-failed",
	[SL_DROP_FRAG] = "fragment-unsupported",
	[SL_DROP_REDIRECT_FAILED] = "redirect-failed",
	[SL_DROP_CT_INVALID] = "conntrack-invalid",
};

const char *sl_reason_name(unsigned int reason)
{
	static char buf[32];

	if (reason < SL_REASON_MAX && names[reason])
		return names[reason];
	snprintf(buf, sizeof(buf), "reason-%u", reason);
	return buf;
}

const char *sl_dir_name(unsigned int dir)
{
	return dir == SL_DIR_EGRESS ? "egress" : dir == SL_DIR_INGRESS ? "ingress" : "?";
}

const char *sl_proto_name(unsigned int proto)
{
	static char buf[8];

	switch (proto) {
	case 1: return "ICMP";
	case 6: return "TCP";
	case 17: return "UDP";
	case 58: return "ICMPv6";
	case 132: return "SCTP";
	}
	snprintf(buf, sizeof(buf), "%u", proto & 0xff);
	return buf;
}
