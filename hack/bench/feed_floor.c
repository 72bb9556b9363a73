// SPDX-License-Identifier: Apache-2.0
/* feed_floor: the lower bound for the feed benchmark. Writes COUNT entries
 * into each pinned map with bpf_map_update_elem in one tight loop (the same
 * maps sluiced writes, same key and value sizes, Maglev tables included),
 * and reports the time. Nothing else runs: no JSON, no model, no socket.
 *
 *   feed_floor --bpffs DIR [--batch] MAP=COUNT ...
 *
 * Each map is emptied first (not timed) so the loop inserts, as sluiced did
 * into fresh maps. Keys are distinct and shaped like real ones for the maps
 * whose layout matters to the kernel's work (LPM tries: full-length
 * prefixes of the real key layout). --batch also times
 * bpf_map_update_batch of the same entries (after another wipe), where the
 * kernel supports it for that map type.
 *
 * Output: one JSON object: {"maps":{NAME:{"count":N,"ns":T,"batch_ns":T|null}},
 * "total_ns":T,"total_updates":N,"batch_total_ns":T|null}.
 * Only for a bpffs of a benchmark: the maps' contents are destroyed. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <sluice/ipcache.h>
#include <sluice/lb.h>
#include <sluice/policy.h>

#define MAX_MAPS 32

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Fill key i of a map with a distinct key of its real layout. */
static void make_key(const char *name, const struct bpf_map_info *info, uint32_t i, void *key)
{
	memset(key, 0, info->key_size);
	if (!strcmp(name, SL_MAP_IPCACHE)) {
		struct ipcache_key *k = key;

		k->prefixlen = SL_IPCACHE_PREFIX_BASE + 32;
		k->family = SL_AF_INET;
		k->addr.v4 = htonl(0x0af40000u + i); /* 10.244.0.0 + i */
	} else if (!strcmp(name, SL_MAP_SVC)) {
		struct svc_key *k = key;

		k->addr.v4 = htonl(0x0a600000u + i / 4); /* 10.96.0.0 + i/4 */
		k->port = htons((uint16_t)(80 + i % 4));
		k->proto = IPPROTO_TCP;
		k->family = SL_AF_INET;
	} else if (!strcmp(name, SL_MAP_POL)) {
		/* the trie holds only endPort ranges: 8080-8095 */
		struct pol_key *k = key;

		k->prefixlen = SL_POL_PREFIX_FULL - 4;
		k->ep_id = 1 + i / 4096;
		k->peer = 256 + i % 4096;
		k->dir = (uint8_t)(i & 1);
		k->proto = IPPROTO_TCP;
		k->dport = htons(8080);
	} else if (!strcmp(name, SL_MAP_POL_EXACT)) {
		struct pol_exact_key *k = key;

		k->ep_id = 1 + i / 4096;
		k->peer = 256 + i % 4096;
		k->dir = (uint8_t)(i & 1);
		k->proto = IPPROTO_TCP;
		k->dport = htons(8080);
	} else if (!strcmp(name, SL_MAP_POL_CIDR)) {
		struct pol_cidr_key *k = key;

		k->prefixlen = SL_POL_CIDR_PREFIX_BASE + 32;
		k->ep_id = 1 + i / 65536;
		k->family = SL_AF_INET;
		k->addr.v4 = htonl(0xc0a80000u + i % 65536);
	} else if (info->type == BPF_MAP_TYPE_LPM_TRIE) {
		/* unknown trie: full-length prefix over the counter */
		uint32_t plen = (info->key_size - 4) * 8;

		memcpy(key, &plen, 4);
		memcpy((char *)key + 4, &i, info->key_size - 4 < 4 ? info->key_size - 4 : 4);
	} else {
		/* u32 ids (backend, maglev, revnat, pol_ep) start at 1 like sluiced's */
		uint32_t id = i + 1;

		memcpy(key, &id, info->key_size < 4 ? info->key_size : 4);
	}
}

static void make_val(const struct bpf_map_info *info, uint32_t i, void *val)
{
	uint32_t *w = val;

	memset(val, 0, info->value_size);
	/* a Maglev table is a full array of backend ids: fill it like one */
	for (uint32_t k = 0; k < info->value_size / 4; k++)
		w[k] = 1 + (i + k) % 11211;
}

/* Delete every key. Returns 0 or -errno. */
static int wipe(int fd, uint32_t key_size)
{
	unsigned char k[256];

	while (!bpf_map_get_next_key(fd, NULL, k))
		if (bpf_map_delete_elem(fd, k))
			return -errno;
	(void)key_size;
	return errno == ENOENT ? 0 : -errno;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bpffs", required_argument, NULL, 'b' },
		{ "batch", no_argument, NULL, 'B' },
		{ 0 },
	};
	const char *bpffs = NULL;
	bool batch = false, batch_ok_all = true;
	uint64_t total = 0, btotal = 0, updates = 0;
	int c, first = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': bpffs = optarg; break;
		case 'B': batch = true; break;
		default: goto usage;
		}
	}
	if (!bpffs || optind >= argc || argc - optind > MAX_MAPS)
		goto usage;

	printf("{\"maps\":{");
	for (int a = optind; a < argc; a++) {
		char name[64], path[PATH_MAX], *eq = strchr(argv[a], '=');
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);
		unsigned char *keys = NULL, *vals = NULL;
		long long count;
		uint64_t t0, t1, bt = 0;
		bool bok = false;
		int fd, rc;

		if (!eq || eq == argv[a] || (size_t)(eq - argv[a]) >= sizeof(name))
			goto usage;
		memcpy(name, argv[a], eq - argv[a]);
		name[eq - argv[a]] = '\0';
		count = atoll(eq + 1);
		if (count < 0 || count > 10000000)
			goto usage;
		snprintf(path, sizeof(path), "%s/%s", bpffs, name);
		fd = bpf_obj_get(path);
		if (fd < 0) {
			fprintf(stderr, "feed_floor: couldn't open %s: %s\n", path, strerror(errno));
			return 1;
		}
		if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.key_size > 256) {
			fprintf(stderr, "feed_floor: %s: unusable map info\n", path);
			return 1;
		}
		if (count > info.max_entries) {
			fprintf(stderr, "feed_floor: %s holds at most %u entries, not %lld\n", name,
				info.max_entries, count);
			return 1;
		}
		/* keys and values are built before the clock starts */
		keys = malloc((size_t)(count ? count : 1) * info.key_size);
		vals = malloc((size_t)(count ? count : 1) * info.value_size);
		if (!keys || !vals) {
			fprintf(stderr, "feed_floor: out of memory for %lld entries of %s\n", count, name);
			return 1;
		}
		for (long long i = 0; i < count; i++) {
			make_key(name, &info, (uint32_t)i, keys + i * info.key_size);
			make_val(&info, (uint32_t)i, vals + i * info.value_size);
		}
		rc = wipe(fd, info.key_size);
		if (rc) {
			fprintf(stderr, "feed_floor: couldn't empty %s: %s\n", name, strerror(-rc));
			return 1;
		}
		t0 = now_ns();
		for (long long i = 0; i < count; i++) {
			if (bpf_map_update_elem(fd, keys + i * info.key_size, vals + i * info.value_size,
						BPF_ANY)) {
				fprintf(stderr, "feed_floor: %s: update %lld: %s\n", name, i,
					strerror(errno));
				return 1;
			}
		}
		t1 = now_ns();
		total += t1 - t0;
		updates += (uint64_t)count;
		if (batch && count) {
			__u32 n = (__u32)count;

			rc = wipe(fd, info.key_size);
			if (rc) {
				fprintf(stderr, "feed_floor: couldn't empty %s: %s\n", name, strerror(-rc));
				return 1;
			}
			bt = now_ns();
			bok = !bpf_map_update_batch(fd, keys, vals, &n, NULL) && n == count;
			bt = now_ns() - bt;
			if (bok)
				btotal += bt;
			else
				batch_ok_all = false;
		}
		printf("%s\"%s\":{\"count\":%lld,\"ns\":%llu,\"batch_ns\":", first ? "" : ",", name,
		       count, (unsigned long long)(t1 - t0));
		if (bok)
			printf("%llu}", (unsigned long long)bt);
		else
			printf("null}");
		first = 0;
		free(keys);
		free(vals);
		close(fd);
	}
	printf("},\"total_ns\":%llu,\"total_updates\":%llu,\"batch_total_ns\":",
	       (unsigned long long)total, (unsigned long long)updates);
	if (batch && batch_ok_all)
		printf("%llu}\n", (unsigned long long)btotal);
	else
		printf("null}\n");
	return 0;
usage:
	fprintf(stderr, "Usage: feed_floor --bpffs DIR [--batch] MAP=COUNT ...\n");
	return 2;
}
