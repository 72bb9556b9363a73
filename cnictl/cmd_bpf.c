// SPDX-License-Identifier: Apache-2.0
/* cnictl bpf map list|dump, bpf prog list: straight from the pin root, so
 * they work while sluiced is down. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <sluice/common.h>
#include "cnictl.h"
#include "decode.h"
#include "print.h"

#define SL_MAP_PREFIX "sluice_"

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir (prefix filter; NULL = all). Returns
 * the count or -errno. */
static int list_dir(const char *dir, const char *prefix, char ***names)
{
	struct dirent *de;
	char **v = NULL;
	int n = 0, err = 0;
	DIR *d = opendir(dir);

	*names = NULL;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char **nv;

		if (de->d_name[0] == '.' || (prefix && strncmp(de->d_name, prefix, strlen(prefix))))
			continue;
		nv = realloc(v, (size_t)(n + 1) * sizeof(*v));
		if (!nv || !(nv[n] = strdup(de->d_name))) {
			v = nv ? nv : v;
			err = -ENOMEM;
			break;
		}
		v = nv;
		n++;
	}
	closedir(d);
	if (err) {
		for (int i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return err;
	}
	qsort(v, (size_t)n, sizeof(*v), str_cmp);
	*names = v;
	return n;
}

static void free_names(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static const char *map_type_name(unsigned int type)
{
	const char *s = libbpf_bpf_map_type_str((enum bpf_map_type)type);

	return s ? s : "unknown";
}

int cnictl_print_map_table(const char *key)
{
	char **names;
	int n = list_dir(cnictl_opts.bpffs, SL_MAP_PREFIX, &names);

	if (n < 0)
		return n;
	pr_table_begin(key);
	for (int i = 0; i < n; i++) {
		struct bpf_map_info info;
		int fd = cnictl_map_open(names[i], &info, true);
		long count;

		if (fd == -EINVAL)
			continue; /* a pinned program or link named sluice_*: not ours to list */
		pr_row_begin();
		pr_str("name", names[i]);
		if (fd < 0) {
			pr_null("type");
			pr_null("keySize");
			pr_null("valueSize");
			pr_null("maxEntries");
			pr_null("entries");
			pr_null("fillPercent");
			pr_strf("error", "%s", strerror(-fd));
			pr_row_end();
			continue;
		}
		count = cnictl_map_count(fd, &info);
		pr_str("type", map_type_name(info.type));
		pr_u64("keySize", info.key_size);
		pr_u64("valueSize", info.value_size);
		pr_u64("maxEntries", info.max_entries);
		if (count >= 0)
			pr_s64("entries", count);
		else
			pr_null("entries");
		/* Arrays are always "full"; fill means something for hashes. */
		if (count >= 0 && info.max_entries && info.type != BPF_MAP_TYPE_ARRAY &&
		    info.type != BPF_MAP_TYPE_PERCPU_ARRAY && info.type != BPF_MAP_TYPE_RINGBUF)
			pr_f64("fillPercent", 100.0 * (double)count / info.max_entries, 1);
		else
			pr_null("fillPercent");
		if (cnictl_opts.verbose) {
			const struct cnictl_decoder *d = cnictl_decoder_find(names[i]);

			pr_u64("id", info.id);
			pr_str("doc", d ? d->doc : NULL);
		}
		pr_row_end();
		close(fd);
	}
	pr_table_end();
	free_names(names, n);
	return 0;
}

static int map_list(int argc, char **argv)
{
	int err;

	if (argc > 1)
		return cnictl_usage("bpf map list: unexpected argument '%s'", argv[1]);
	err = cnictl_print_map_table(NULL);
	if (err)
		return cnictl_fail("couldn't read the pin root %s: %s", cnictl_opts.bpffs,
				   strerror(-err));
	return CNICTL_OK;
}

struct dump_ctx {
	const struct cnictl_decoder *dec;
	const struct bpf_map_info *info;
	unsigned int ncpu;
};

static int dump_one(const void *key, const void *value, void *arg)
{
	struct dump_ctx *c = arg;

	if (!cnictl_opts.verbose &&
	    cnictl_decode_skip(c->dec, key, c->info->key_size, value, c->info->value_size, c->ncpu))
		return 0;
	cnictl_decode_entry(c->dec, key, c->info->key_size, value, c->info->value_size, c->ncpu);
	return 0;
}

static int map_dump(int argc, char **argv)
{
	struct bpf_map_info info;
	struct dump_ctx ctx = {0};
	char name[BPF_OBJ_NAME_LEN + 16];
	int fd, err;

	if (argc != 2)
		return cnictl_usage("usage: cnictl bpf map dump NAME");
	/* "ct" is short for "sluice_ct"; a full name is used as given. */
	snprintf(name, sizeof(name), "%s%s",
		 strncmp(argv[1], SL_MAP_PREFIX, strlen(SL_MAP_PREFIX)) ? SL_MAP_PREFIX : "",
		 argv[1]);
	fd = cnictl_map_open(name, &info, true);
	if (fd == -ENOENT && strcmp(name, argv[1])) {
		fd = cnictl_map_open(argv[1], &info, true);
		if (fd >= 0)
			snprintf(name, sizeof(name), "%s", argv[1]);
	}
	if (fd < 0) {
		cnictl_map_open(name, &info, false); /* again, to say why */
		return CNICTL_FAIL;
	}
	if (info.type == BPF_MAP_TYPE_RINGBUF || info.type == BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
		if (pr_is_json()) {
			pr_table_begin(NULL);
			pr_table_end();
		}
		pr_note("%s is a %s: it has no entries to dump (cnictl monitor reads it)", name,
			map_type_name(info.type));
		close(fd);
		return CNICTL_OK;
	}
	ctx.dec = cnictl_decoder_find(name);
	ctx.info = &info;
	ctx.ncpu = cnictl_map_is_percpu(info.type) ? (unsigned int)cnictl_ncpus() : 0;
	if (ctx.dec &&
	    (ctx.dec->key_size != info.key_size || ctx.dec->value_size != info.value_size))
		fprintf(
		    cnictl_opts.err,
		    "cnictl: %s has key/value size %u/%u, this cnictl decodes %u/%u: showing hex\n",
		    name, info.key_size, info.value_size, ctx.dec->key_size, ctx.dec->value_size);
	pr_table_begin(NULL);
	err = cnictl_map_foreach(fd, &info, dump_one, &ctx);
	pr_table_end();
	close(fd);
	return err ? CNICTL_FAIL : CNICTL_OK;
}

static const char *prog_type_name(unsigned int type)
{
	const char *s = libbpf_bpf_prog_type_str((enum bpf_prog_type)type);

	return s ? s : "unknown";
}

static int prog_list(int argc, char **argv)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char **names;
	int n;

	if (argc > 1)
		return cnictl_usage("bpf prog list: unexpected argument '%s'", argv[1]);
	if (snprintf(dir, sizeof(dir), "%s/%s", cnictl_opts.bpffs, SL_PIN_PROGS_DIR) >=
	    (int)sizeof(dir))
		return cnictl_fail("pin root %s: path too long", cnictl_opts.bpffs);
	n = list_dir(dir, NULL, &names);
	if (n == -ENOENT)
		n = 0, names = NULL;
	else if (n < 0)
		return cnictl_fail("couldn't read %s: %s", dir, strerror(-n));
	pr_table_begin(NULL);
	for (int i = 0; i < n; i++) {
		struct stat st;
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd;

		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path))
			continue;
		/* sluiced keeps markers (directories) next to the programs. */
		if (stat(path, &st) || S_ISDIR(st.st_mode))
			continue;
		fd = bpf_obj_get(path);
		memset(&info, 0, sizeof(info));
		pr_row_begin();
		pr_str("name", names[i]);
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
			pr_null("type");
			pr_null("id");
			pr_null("runTimeNs");
			pr_null("runCount");
			pr_strf("error", "%s", strerror(errno));
		} else {
			pr_str("type", prog_type_name(info.type));
			pr_u64("id", info.id);
			pr_u64("runTimeNs", info.run_time_ns);
			pr_u64("runCount", info.run_cnt);
		}
		pr_row_end();
		if (fd >= 0)
			close(fd);
	}
	pr_table_end();
	free_names(names, n);
	return CNICTL_OK;
}

static const struct cmd map_verbs[] = {
    {.name = "list", .help = "pinned sluice_* maps: type, sizes, entries, fill", .run = map_list},
    {.name = "dump", .args = "NAME", .help = "every entry of a map, decoded", .run = map_dump},
    {0},
};

static const struct cmd prog_verbs[] = {
    {.name = "list",
     .help = "pinned programs (run stats need kernel.bpf_stats_enabled)",
     .run = prog_list},
    {0},
};

static const struct cmd bpf_objects[] = {
    {.name = "map", .help = "pinned maps", .subs = map_verbs},
    {.name = "prog", .help = "pinned programs", .subs = prog_verbs},
    {0},
};

CNICTL_COMMAND(cnictl_cmd_bpf) = {
    .name = "bpf",
    .help = "the datapath's pinned maps and programs (works without sluiced)",
    .subs = bpf_objects,
};
