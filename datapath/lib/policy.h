/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* NetworkPolicy lookups (owned by the policy module).
 * INTERIM: allows everything until the policy module lands its maps. */
#ifndef SLUICE_DP_POLICY_H
#define SLUICE_DP_POLICY_H

#include <sluice/endpoint.h>
#include <sluice/metrics.h>
#include "pkt.h"

/* Egress of a local pod, for the first packet of a connection.
 * Returns SL_FORWARDED or SL_DROP_POLICY_EGRESS; *policy_id says which
 * rule decided (0 = no policy selects the pod). */
static __always_inline int policy_egress(const struct pkt *p, const struct ep_info *src,
					 __u32 dst_identity, __u32 *policy_id)
{
	(void)p; (void)src; (void)dst_identity;
	*policy_id = 0;
	return SL_FORWARDED;
}

/* Ingress of a local pod, for the first packet of a connection. */
static __always_inline int policy_ingress(const struct pkt *p, const struct ep_info *dst,
					  __u32 src_identity, __u32 *policy_id)
{
	(void)p; (void)dst; (void)src_identity;
	*policy_id = 0;
	return SL_FORWARDED;
}

#endif
