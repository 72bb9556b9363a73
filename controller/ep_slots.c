// SPDX-License-Identifier: Apache-2.0
/* sluice_ep_slots upkeep (see ep_slots.h and include/sluice/endpoint.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "ctl.h"
#include "ep_slots.h"
#include "log.h"

#define PRUNE_CHUNK 4096

/* Whether sluice_ep holds addr with exactly the value v. */
static bool ep_has(__be32 addr, const struct ep_info *v)
{
	struct ep_key k = {.family = SL_AF_INET};
	struct ep_info cur;
	int fd = ctl_map_fd(SL_MAP_EP);

	k.addr.v4 = addr;
	return fd >= 0 && !bpf_map_lookup_elem(fd, &k, &cur) && !memcmp(&cur, v, sizeof(cur));
}

/* Whether sluice_ep holds addr at all. */
static bool ep_exists(__be32 addr)
{
	struct ep_key k = {.family = SL_AF_INET};
	struct ep_info cur;
	int fd = ctl_map_fd(SL_MAP_EP);

	k.addr.v4 = addr;
	return fd >= 0 && !bpf_map_lookup_elem(fd, &k, &cur);
}

int ep_slots_set(const union sl_addr *addr, uint8_t family, const struct ep_info *v)
{
	int fd = ctl_map_fd(SL_MAP_EP_SLOTS);
	struct ep_slot cur, want = {.addr = addr->v4, .info = *v};
	__u32 idx;

	if (fd < 0 || family != SL_AF_INET)
		return 0;
	idx = SL_EP_SLOT(ntohl(addr->v4));
	if (!bpf_map_lookup_elem(fd, &idx, &cur)) {
		if (!memcmp(&cur, &want, sizeof(cur)))
			return 0;
		/* Two local addresses, one slot: the first keeps it. */
		if (cur.info.ifindex && cur.addr != addr->v4 && ep_exists(cur.addr))
			return 0;
	}
	if (bpf_map_update_elem(fd, &idx, &want, BPF_ANY)) {
		int ret = -errno;

		pr_warn("couldn't write %s[%u]: %s\n", SL_MAP_EP_SLOTS, idx, strerror(errno));
		return ret;
	}
	return 0;
}

void ep_slots_clear(const union sl_addr *addr, uint8_t family, uint32_t ep_id)
{
	int fd = ctl_map_fd(SL_MAP_EP_SLOTS);
	struct ep_slot cur, empty = {0};
	__u32 idx;

	if (fd < 0 || family != SL_AF_INET)
		return;
	idx = SL_EP_SLOT(ntohl(addr->v4));
	if (bpf_map_lookup_elem(fd, &idx, &cur) || cur.addr != addr->v4 || cur.info.ep_id != ep_id)
		return;
	if (bpf_map_update_elem(fd, &idx, &empty, BPF_ANY))
		pr_warn("couldn't empty %s[%u]: %s\n", SL_MAP_EP_SLOTS, idx, strerror(errno));
}

int ep_slots_prune(void)
{
	int fd = ctl_map_fd(SL_MAP_EP_SLOTS), pruned = 0, ret = 0;
	struct ep_slot *vals, empty = {0};
	__u32 *keys, batch = 0;
	bool first = true, done = false;

	if (fd < 0)
		return 0;
	keys = calloc(PRUNE_CHUNK, sizeof(*keys));
	vals = calloc(PRUNE_CHUNK, sizeof(*vals));
	if (!keys || !vals) {
		ret = -ENOMEM;
		goto out;
	}
	/* Read the array in chunks: one syscall per 4096 slots. */
	while (!done) {
		__u32 n = PRUNE_CHUNK;

		if (bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys, vals, &n, NULL)) {
			if (errno != ENOENT) {
				ret = -errno;
				pr_warn("couldn't read %s: %s\n", SL_MAP_EP_SLOTS, strerror(errno));
				goto out;
			}
			done = true; /* n holds the last chunk's count */
		}
		first = false;
		for (__u32 i = 0; i < n; i++) {
			if (!vals[i].info.ifindex || ep_has(vals[i].addr, &vals[i].info))
				continue;
			if (bpf_map_update_elem(fd, &keys[i], &empty, BPF_ANY)) {
				ret = -errno;
				pr_warn("couldn't empty %s[%u]: %s\n", SL_MAP_EP_SLOTS, keys[i],
					strerror(errno));
				goto out;
			}
			pruned++;
		}
	}
	ret = pruned;
out:
	free(keys);
	free(vals);
	return ret;
}
