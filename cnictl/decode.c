// SPDX-License-Identifier: Apache-2.0
/* Decoder registry and the generic entry printer (decode.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sluice/common.h>
#include "addr.h"
#include "cnictl.h"
#include "decode.h"
#include "print.h"

extern const struct cnictl_decoder *const __start_cnictl_decoders[] __attribute__((weak));
extern const struct cnictl_decoder *const __stop_cnictl_decoders[] __attribute__((weak));

const struct cnictl_decoder *cnictl_decoder_find(const char *map)
{
	if (!__start_cnictl_decoders || !__stop_cnictl_decoders)
		return NULL;
	for (const struct cnictl_decoder *const *d = __start_cnictl_decoders;
	     d < __stop_cnictl_decoders; d++)
		if (*d && (*d)->map && !strcmp((*d)->map, map))
			return *d;
	return NULL;
}

static size_t percpu_stride(__u32 value_size)
{
	return ((size_t)value_size + 7) & ~(size_t)7;
}

/* Hex value of a per-CPU map: one string per CPU. */
static void hex_percpu(const void *value, __u32 value_size, unsigned int ncpu)
{
	pr_arr_begin("value");
	for (unsigned int c = 0; c < ncpu; c++)
		pr_hex(NULL, (const char *)value + c * percpu_stride(value_size), value_size);
	pr_arr_end();
}

/* Sum of every CPU's copy, field by field (malloc'd; NULL on OOM). */
static __u64 *sum_percpu(const void *value, __u32 value_size, unsigned int ncpu)
{
	size_t nf = value_size / 8;
	__u64 *sum = calloc(nf ? nf : 1, sizeof(__u64));

	if (!sum)
		return NULL;
	for (unsigned int c = 0; c < ncpu; c++) {
		const char *v = (const char *)value + c * percpu_stride(value_size);

		for (size_t f = 0; f < nf; f++) {
			__u64 x;

			memcpy(&x, v + f * 8, 8);
			sum[f] += x;
		}
	}
	return sum;
}

bool cnictl_decode_skip(const struct cnictl_decoder *dec, const void *key, __u32 key_size,
			const void *value, __u32 value_size, unsigned int ncpu)
{
	bool skip;
	__u64 *sum;

	if (!dec || !dec->skip || dec->key_size != key_size || dec->value_size != value_size)
		return false;
	if (!ncpu)
		return dec->skip(key, value);
	if (dec->percpu || !dec->sum_u64)
		return false;
	sum = sum_percpu(value, value_size, ncpu);
	skip = sum && dec->skip(key, sum);
	free(sum);
	return skip;
}

void cnictl_decode_entry(const struct cnictl_decoder *dec, const void *key, __u32 key_size,
			 const void *value, __u32 value_size, unsigned int ncpu)
{
	bool sizes_ok = dec && dec->key_size == key_size && dec->value_size == value_size;
	bool usable = sizes_ok && dec->key &&
		      (ncpu ? (dec->percpu || (dec->sum_u64 && dec->value)) : !!dec->value);

	pr_row_begin();
	if (!usable) {
		pr_hex("key", key, key_size);
		if (ncpu)
			hex_percpu(value, value_size, ncpu);
		else
			pr_hex("value", value, value_size);
		pr_row_end();
		return;
	}
	pr_obj_begin("key");
	dec->key(key);
	pr_obj_end();
	pr_obj_begin("value");
	if (!ncpu) {
		dec->value(key, value);
	} else if (dec->percpu) {
		dec->percpu(key, value, ncpu, percpu_stride(value_size));
	} else {
		__u64 *sum = sum_percpu(value, value_size, ncpu);

		if (sum)
			dec->value(key, sum);
		else
			pr_str("error", "out of memory");
		free(sum);
	}
	pr_obj_end();
	pr_row_end();
}

/* ---- helpers ------------------------------------------------------------------- */

void cnictl_pr_mac(const char *key, const uint8_t m[6])
{
	pr_strf(key, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

void cnictl_pr_addr(const char *key, const void *a, uint8_t family)
{
	char buf[SL_ADDR_STRLEN];
	union sl_addr addr;

	if (family != SL_AF_INET && family != SL_AF_INET6) {
		pr_str(key, "?");
		return;
	}
	memcpy(&addr, a, sizeof(addr));
	pr_str(key, sl_addr_str(&addr, family, buf, sizeof(buf)));
}

void cnictl_pr_v4(const char *key, __be32 a)
{
	union sl_addr addr = {.v4 = a};

	cnictl_pr_addr(key, &addr, SL_AF_INET);
}

uint64_t cnictl_ktime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cnictl_pr_ktime_left(const char *key, uint64_t deadline_ns)
{
	uint64_t now = cnictl_ktime_now();
	int64_t d = deadline_ns >= now ? (int64_t)((deadline_ns - now) / 1000000000ull)
				       : -(int64_t)((now - deadline_ns) / 1000000000ull);

	pr_s64(key, d);
}

void cnictl_pr_flags(const char *key, uint64_t flags, const char *const *names, unsigned int n)
{
	pr_arr_begin(key);
	for (unsigned int b = 0; b < 64; b++) {
		if (!(flags & (1ull << b)))
			continue;
		if (b < n && names[b])
			pr_str(NULL, names[b]);
		else
			pr_strf(NULL, "0x%llx", 1ull << b);
	}
	pr_arr_end();
}
