// SPDX-License-Identifier: Apache-2.0
/* Pinned maps, read straight from the bpffs (cnictl.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cnictl.h"
#include "log.h"

/* A pinned program or link opens too: only a map's fdinfo has map_type. */
static bool fd_is_map(int fd)
{
	char path[64], line[128];
	bool is_map = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return true; /* no procfs: let get_info decide */
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "map_type:", 9))
			is_map = true;
	fclose(f);
	return is_map;
}

int cnictl_map_open(const char *name, struct bpf_map_info *info, bool quiet)
{
	struct bpf_map_info local;
	__u32 len = sizeof(local);
	char path[PATH_MAX];
	int fd, err;

	if (strchr(name, '/') || !*name) {
		if (!quiet)
			cnictl_usage("invalid map name '%s'", name);
		return -EINVAL;
	}
	if (snprintf(path, sizeof(path), "%s/%s", cnictl_opts.bpffs, name) >= (int)sizeof(path)) {
		if (!quiet)
			cnictl_fail("map path %s/%s too long", cnictl_opts.bpffs, name);
		return -ENAMETOOLONG;
	}
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		if (!quiet) {
			if (err == -ENOENT)
				cnictl_fail("map %s is not pinned under %s", name,
					    cnictl_opts.bpffs);
			else
				cnictl_fail("couldn't open pinned map %s: %s", path,
					    strerror(-err));
		}
		return err;
	}
	if (!fd_is_map(fd)) {
		if (!quiet)
			cnictl_fail("%s is not a BPF map", path);
		close(fd);
		return -EINVAL;
	}
	memset(&local, 0, sizeof(local));
	if (bpf_obj_get_info_by_fd(fd, &local, &len)) {
		err = -errno;
		if (!quiet)
			cnictl_fail("%s is not a map (%s)", path, strerror(-err));
		close(fd);
		return err;
	}
	if (info)
		*info = local;
	return fd;
}

int cnictl_ncpus(void)
{
	static int n;

	if (!n)
		n = libbpf_num_possible_cpus();
	return n;
}

bool cnictl_map_is_percpu(unsigned int type)
{
	return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

static bool is_array(unsigned int type)
{
	return type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

/* Bytes one lookup writes into the value buffer. */
static size_t value_bytes(const struct bpf_map_info *info)
{
	int ncpu;

	if (!cnictl_map_is_percpu(info->type))
		return info->value_size ? info->value_size : 1;
	ncpu = cnictl_ncpus();
	return (size_t)(ncpu > 0 ? ncpu : 1) * (((size_t)info->value_size + 7) & ~(size_t)7);
}

int cnictl_map_foreach(int fd, const struct bpf_map_info *info, cnictl_map_cb cb, void *ctx)
{
	size_t ksz = info->key_size ? info->key_size : 1;
	void *key = calloc(1, ksz), *next = calloc(1, ksz), *val = calloc(1, value_bytes(info));
	bool first = true;
	int err = 0;

	if (!key || !next || !val) {
		err = -ENOMEM;
		cnictl_fail("out of memory reading map %s", info->name);
		goto out;
	}
	if (cnictl_map_is_percpu(info->type) && cnictl_ncpus() <= 0) {
		err = cnictl_ncpus() ? cnictl_ncpus() : -EINVAL;
		cnictl_fail("couldn't count CPUs: %s", strerror(-err));
		goto out;
	}
	if (is_array(info->type)) {
		for (__u32 i = 0; i < info->max_entries; i++) {
			if (bpf_map_lookup_elem(fd, &i, val)) {
				err = -errno;
				cnictl_fail("couldn't read %s[%u]: %s", info->name, i,
					    strerror(errno));
				goto out;
			}
			if ((err = cb(&i, val, ctx)))
				goto out;
		}
		goto out;
	}
	/* A key deleted under us makes get_next_key restart from the first
	 * key: bound the walk so a busy LRU map cannot keep us here. */
	for (unsigned long seen = 0;; seen++) {
		if (seen > 2UL * info->max_entries + 16) {
			pr_warn("map %s changed too much while being read; output is partial\n",
				info->name);
			break;
		}
		if (bpf_map_get_next_key(fd, first ? NULL : key, next)) {
			if (errno == ENOENT)
				break;
			err = -errno;
			cnictl_fail("couldn't walk map %s: %s", info->name, strerror(errno));
			goto out;
		}
		first = false;
		memcpy(key, next, ksz);
		if (bpf_map_lookup_elem(fd, key, val)) {
			if (errno == ENOENT)
				continue; /* deleted since get_next_key */
			err = -errno;
			cnictl_fail("couldn't read an entry of %s: %s", info->name,
				    strerror(errno));
			goto out;
		}
		if ((err = cb(key, val, ctx)))
			goto out;
	}
out:
	free(key);
	free(next);
	free(val);
	return err;
}

long cnictl_map_count(int fd, const struct bpf_map_info *info)
{
	size_t ksz = info->key_size ? info->key_size : 1;
	void *key, *next;
	bool first = true;
	long n = 0;

	if (is_array(info->type))
		return info->max_entries;
	if (info->type == BPF_MAP_TYPE_RINGBUF || info->type == BPF_MAP_TYPE_PERF_EVENT_ARRAY)
		return 0;
	key = calloc(1, ksz);
	next = calloc(1, ksz);
	if (!key || !next) {
		n = -ENOMEM;
		goto out;
	}
	while (!bpf_map_get_next_key(fd, first ? NULL : key, next)) {
		if ((unsigned long)n > info->max_entries) { /* restarted: see foreach */
			n = info->max_entries;
			errno = ENOENT;
			break;
		}
		first = false;
		memcpy(key, next, ksz);
		n++;
	}
	if (errno != ENOENT)
		n = -errno;
out:
	free(key);
	free(next);
	return n;
}
