// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int sl_addr_parse(const char *s, union sl_addr *addr, __u8 *family)
{
	memset(addr, 0, sizeof(*addr));
	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, &addr->v4) == 1) {
		*family = SL_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr->b) == 1) {
		*family = SL_AF_INET6;
		return 0;
	}
	return -EINVAL;
}

static void mask_host_bits(union sl_addr *a, int plen, int bits, bool *had)
{
	for (int i = 0; i < bits / 8; i++) {
		int keep = plen - i * 8;
		__u8 m = keep >= 8 ? 0xff : keep <= 0 ? 0 : (__u8)(0xff << (8 - keep));

		if (a->b[i] & ~m)
			*had = true;
		a->b[i] &= m;
	}
}

int sl_cidr_parse(const char *s, struct sl_cidr *cidr, bool allow_host_bits)
{
	char buf[64], *slash, *end;
	bool had = false;
	long plen;
	int bits;

	memset(cidr, 0, sizeof(*cidr));
	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (sl_addr_parse(buf, &cidr->addr, &cidr->family))
		return -EINVAL;
	bits = cidr->family == SL_AF_INET ? 32 : 128;
	if (slash) {
		if (!slash[1] || slash[1] == '-' || slash[1] == '+')
			return -EINVAL;
		errno = 0;
		plen = strtol(slash + 1, &end, 10);
		if (errno || *end || plen < 0 || plen > bits)
			return -EINVAL;
	} else {
		plen = bits;
	}
	cidr->plen = (__u8)plen;
	mask_host_bits(&cidr->addr, (int)plen, bits, &had);
	if (had && !allow_host_bits)
		return -EINVAL;
	return 0;
}

const char *sl_addr_str(const union sl_addr *addr, __u8 family, char *buf, size_t len)
{
	if (!inet_ntop(family == SL_AF_INET6 ? AF_INET6 : AF_INET, addr->b, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

const char *sl_cidr_str(const struct sl_cidr *cidr, char *buf, size_t len)
{
	char a[SL_ADDR_STRLEN];

	snprintf(buf, len, "%s/%u", sl_addr_str(&cidr->addr, cidr->family, a, sizeof(a)), cidr->plen);
	return buf;
}

bool sl_cidr_contains(const struct sl_cidr *cidr, const union sl_addr *addr, __u8 family)
{
	int full = cidr->plen / 8, rest = cidr->plen % 8;

	if (family != cidr->family)
		return false;
	if (memcmp(cidr->addr.b, addr->b, full))
		return false;
	if (rest && ((cidr->addr.b[full] ^ addr->b[full]) & (__u8)(0xff << (8 - rest))))
		return false;
	return true;
}
