/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SLUICE_REASONS_H
#define SLUICE_REASONS_H

/* Name of an enum sl_reason value ("forwarded", "spoofed-source-ip", ...);
 * "reason-N" for numbers this build does not know. Not thread-safe for
 * unknown numbers (static buffer). */
const char *sl_reason_name(unsigned int reason);
/* Name of an enum sl_dir value ("egress"/"ingress"). */
const char *sl_dir_name(unsigned int dir);
/* IP protocol name ("TCP", "UDP", "ICMP", "SCTP") or its number as text. */
const char *sl_proto_name(unsigned int proto);

#endif
