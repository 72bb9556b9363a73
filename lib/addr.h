/* SPDX-License-Identifier: Apache-2.0 */
/* Parsing and printing of IP addresses and CIDRs (both families). */
#ifndef SLUICE_ADDR_H
#define SLUICE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sluice/common.h>

struct sl_cidr {
	union sl_addr addr; /* network order, host bits zero */
	__u8 family;        /* SL_AF_INET / SL_AF_INET6 */
	__u8 plen;          /* prefix length */
};

#define SL_ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

/* Parse "10.1.2.3" or "fd00::1". Returns 0 or -EINVAL. */
int sl_addr_parse(const char *s, union sl_addr *addr, __u8 *family);
/* Parse "10.0.0.0/24" (a bare address means a full-length prefix). Host bits
 * must be zero unless allow_host_bits; then they are cleared.
 * Returns 0 or -EINVAL. */
int sl_cidr_parse(const char *s, struct sl_cidr *cidr, bool allow_host_bits);
/* Format an address into buf (at least SL_ADDR_STRLEN); returns buf. */
const char *sl_addr_str(const union sl_addr *addr, __u8 family, char *buf, size_t len);
/* "10.0.0.0/24"; buf at least SL_ADDR_STRLEN + 4. Returns buf. */
const char *sl_cidr_str(const struct sl_cidr *cidr, char *buf, size_t len);
/* True when addr (of the cidr's family) lies inside cidr. */
bool sl_cidr_contains(const struct sl_cidr *cidr, const union sl_addr *addr, __u8 family);

#endif
