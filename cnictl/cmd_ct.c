// SPDX-License-Identifier: Apache-2.0
/* cnictl ct list|flush|stats: the conntrack table, read and edited straight
 * from the pinned sluice_ct (works while sluiced is down). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <sluice/ct.h>
#include "addr.h"
#include "cnictl.h"
#include "decode.h"
#include "print.h"

struct ct_filter {
	bool src, dst;
	union sl_addr src_addr, dst_addr;
	__u8 src_family, dst_family;
	int proto; /* -1 any */
	int port;  /* -1 any; matches either port */
};

static int parse_proto(const char *s)
{
	static const struct {
		const char *name;
		int proto;
	} names[] = {{"tcp", IPPROTO_TCP},
		     {"udp", IPPROTO_UDP},
		     {"icmp", IPPROTO_ICMP},
		     {"icmpv6", IPPROTO_ICMPV6},
		     {"sctp", IPPROTO_SCTP}};
	char *end;
	long n;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(s, names[i].name))
			return names[i].proto;
	n = strtol(s, &end, 10);
	if (*s && !*end && n >= 0 && n <= 255)
		return (int)n;
	return -1;
}

/* Parse the filter options; returns 0 or CNICTL_USAGE (printed). */
static int parse_filter(int argc, char **argv, const char *verb, struct ct_filter *f)
{
	static const struct option opts[] = {
	    {"src", required_argument, NULL, 's'},
	    {"dst", required_argument, NULL, 'd'},
	    {"proto", required_argument, NULL, 'p'},
	    {"port", required_argument, NULL, 'P'},
	    {0},
	};
	int c;

	memset(f, 0, sizeof(*f));
	f->proto = f->port = -1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		long n;

		switch (c) {
		case 's':
			if (sl_addr_parse(optarg, &f->src_addr, &f->src_family))
				return cnictl_usage("ct %s: --src '%s' is not an IP address", verb,
						    optarg);
			f->src = true;
			break;
		case 'd':
			if (sl_addr_parse(optarg, &f->dst_addr, &f->dst_family))
				return cnictl_usage("ct %s: --dst '%s' is not an IP address", verb,
						    optarg);
			f->dst = true;
			break;
		case 'p':
			f->proto = parse_proto(optarg);
			if (f->proto < 0)
				return cnictl_usage(
				    "ct %s: --proto '%s': use tcp, udp, icmp, sctp or a number",
				    verb, optarg);
			break;
		case 'P':
			n = strtol(optarg, &end, 10);
			if (!*optarg || *end || n < 0 || n > 65535)
				return cnictl_usage("ct %s: --port '%s' is not a port number", verb,
						    optarg);
			f->port = (int)n;
			break;
		default:
			return cnictl_usage(
			    "usage: cnictl ct %s [--src IP] [--dst IP] [--proto P] [--port N]",
			    verb);
		}
	}
	if (optind < argc)
		return cnictl_usage("ct %s: unexpected argument '%s'", verb, argv[optind]);
	return 0;
}

static bool match(const struct ct_filter *f, const struct ct_key *k)
{
	/* The table holds IPv4 tuples: an IPv6 filter matches nothing. */
	if (f->src && (f->src_family != SL_AF_INET || k->saddr != f->src_addr.v4))
		return false;
	if (f->dst && (f->dst_family != SL_AF_INET || k->daddr != f->dst_addr.v4))
		return false;
	if (f->proto >= 0 && k->proto != f->proto)
		return false;
	if (f->port >= 0 && ntohs(k->sport) != f->port && ntohs(k->dport) != f->port)
		return false;
	return true;
}

struct list_ctx {
	const struct ct_filter *f;
	const struct cnictl_decoder *dec;
	const struct bpf_map_info *info;
	size_t shown;
};

static int list_one(const void *key, const void *value, void *arg)
{
	struct list_ctx *c = arg;

	if (!match(c->f, key))
		return 0;
	cnictl_decode_entry(c->dec, key, c->info->key_size, value, c->info->value_size, 0);
	c->shown++;
	return 0;
}

static int open_ct(struct bpf_map_info *info)
{
	int fd = cnictl_map_open(SL_MAP_CT, info, false);

	if (fd < 0)
		return fd;
	if (info->key_size != sizeof(struct ct_key) ||
	    info->value_size != sizeof(struct ct_entry)) {
		cnictl_fail("%s has key/value size %u/%u, this cnictl knows %zu/%zu", SL_MAP_CT,
			    info->key_size, info->value_size, sizeof(struct ct_key),
			    sizeof(struct ct_entry));
		close(fd);
		return -EPROTO;
	}
	return fd;
}

static int ct_list(int argc, char **argv)
{
	struct bpf_map_info info;
	struct ct_filter f;
	struct list_ctx c = {.f = &f};
	int fd, err;

	err = parse_filter(argc, argv, "list", &f);
	if (err)
		return err;
	fd = open_ct(&info);
	if (fd < 0)
		return CNICTL_FAIL;
	c.dec = cnictl_decoder_find(SL_MAP_CT);
	c.info = &info;
	pr_table_begin(NULL);
	err = cnictl_map_foreach(fd, &info, list_one, &c);
	pr_table_end();
	close(fd);
	return err ? CNICTL_FAIL : CNICTL_OK;
}

struct flush_ctx {
	const struct ct_filter *f;
	struct ct_key *keys;
	size_t n, cap;
	int err;
};

static int collect_one(const void *key, const void *value, void *arg)
{
	struct flush_ctx *c = arg;

	(void)value;
	if (!match(c->f, key))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		struct ct_key *k = realloc(c->keys, cap * sizeof(*k));

		if (!k) {
			c->err = -ENOMEM;
			return -ENOMEM;
		}
		c->keys = k;
		c->cap = cap;
	}
	memcpy(&c->keys[c->n++], key, sizeof(struct ct_key));
	return 0;
}

/* Add n to CPU 0's slot of SL_CT_STAT_FLUSHED (the datapath never writes
 * that index, so the read-modify-write does not race with it). */
static void count_flushed(uint64_t n)
{
	struct bpf_map_info info;
	int fd = cnictl_map_open(SL_MAP_CT_STATS, &info, true), ncpu = cnictl_ncpus();
	__u32 idx = SL_CT_STAT_FLUSHED;
	__u64 *vals;

	if (fd < 0 || ncpu <= 0 || !n) {
		if (fd >= 0)
			close(fd);
		return;
	}
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (vals && !bpf_map_lookup_elem(fd, &idx, vals)) {
		vals[0] += n;
		if (bpf_map_update_elem(fd, &idx, vals, BPF_ANY))
			fprintf(stderr, "cnictl: couldn't count the flush in %s: %s\n",
				SL_MAP_CT_STATS, strerror(errno));
	}
	free(vals);
	close(fd);
}

static int ct_flush(int argc, char **argv)
{
	struct bpf_map_info info;
	struct ct_filter f;
	struct flush_ctx c = {.f = &f};
	uint64_t deleted = 0;
	int fd, err;

	err = parse_filter(argc, argv, "flush", &f);
	if (err)
		return err;
	fd = open_ct(&info);
	if (fd < 0)
		return CNICTL_FAIL;
	/* Collect first: deleting during the walk would restart it. */
	err = cnictl_map_foreach(fd, &info, collect_one, &c);
	if (err || c.err) {
		close(fd);
		free(c.keys);
		return c.err ? cnictl_fail("out of memory collecting %s entries", SL_MAP_CT)
			     : CNICTL_FAIL;
	}
	for (size_t i = 0; i < c.n; i++) {
		if (!bpf_map_delete_elem(fd, &c.keys[i]))
			deleted++;
		else if (errno != ENOENT)
			fprintf(stderr, "cnictl: couldn't delete a %s entry: %s\n", SL_MAP_CT,
				strerror(errno));
	}
	close(fd);
	free(c.keys);
	count_flushed(deleted);
	pr_obj_begin(NULL);
	pr_u64("flushed", deleted);
	pr_obj_end();
	return CNICTL_OK;
}

static int ct_stats(int argc, char **argv)
{
	static const char *const names[SL_CT_STAT_MAX] = {
	    [SL_CT_STAT_CREATED] = "created",
	    [SL_CT_STAT_EXPIRED] = "expired",
	    [SL_CT_STAT_CLOSED] = "closed",
	    [SL_CT_STAT_FLUSHED] = "flushed",
	    [SL_CT_STAT_PURGED] = "purged",
	};
	struct bpf_map_info info, ct_info;
	int fd, ct_fd, ncpu = cnictl_ncpus();
	uint64_t sum[SL_CT_STAT_MAX] = {0};
	long live;
	__u64 *vals;

	(void)argv;
	if (argc > 1)
		return cnictl_usage("ct stats: unexpected argument '%s'", argv[1]);
	fd = cnictl_map_open(SL_MAP_CT_STATS, &info, false);
	if (fd < 0)
		return CNICTL_FAIL;
	if (ncpu <= 0 || info.value_size != sizeof(__u64) ||
	    !(vals = calloc((size_t)ncpu, sizeof(*vals)))) {
		close(fd);
		return cnictl_fail("%s: unexpected layout or no CPUs", SL_MAP_CT_STATS);
	}
	for (__u32 i = 0; i < SL_CT_STAT_MAX && i < info.max_entries; i++) {
		if (bpf_map_lookup_elem(fd, &i, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			sum[i] += vals[c];
	}
	free(vals);
	close(fd);
	ct_fd = cnictl_map_open(SL_MAP_CT, &ct_info, false);
	if (ct_fd < 0)
		return CNICTL_FAIL;
	live = cnictl_map_count(ct_fd, &ct_info);
	close(ct_fd);
	pr_obj_begin(NULL);
	for (int i = 0; i < SL_CT_STAT_MAX; i++)
		pr_u64(names[i], sum[i]);
	pr_u64("live", live < 0 ? 0 : (uint64_t)live);
	pr_u64("max", ct_info.max_entries);
	/* What LRU pressure removed: created minus every deletion we know of
	 * minus what is still there (ct.h's definition). */
	{
		int64_t ev = (int64_t)sum[SL_CT_STAT_CREATED] - (int64_t)sum[SL_CT_STAT_EXPIRED] -
			     (int64_t)sum[SL_CT_STAT_CLOSED] - (int64_t)sum[SL_CT_STAT_FLUSHED] -
			     (int64_t)sum[SL_CT_STAT_PURGED] -
			     (live < 0 ? 0 : live);

		pr_u64("evicted", ev > 0 ? (uint64_t)ev : 0);
	}
	pr_obj_end();
	return CNICTL_OK;
}

static const struct cmd ct_verbs[] = {
    {.name = "list",
     .args = "[--src IP] [--dst IP] [--proto P] [--port N]",
     .help = "conntrack entries (both scopes), filtered; --port matches either port",
     .run = ct_list},
    {.name = "flush",
     .args = "[--src IP] [--dst IP] [--proto P] [--port N]",
     .help = "delete matching conntrack entries (all without filters)",
     .run = ct_flush},
    {.name = "stats",
     .help = "created, expired, closed, flushed, evicted and live entries",
     .run = ct_stats},
    {0},
};

CNICTL_COMMAND(cmd_ct) = {
    .name = "ct",
    .help = "connection tracking table (read from the pinned map)",
    .subs = ct_verbs,
};
