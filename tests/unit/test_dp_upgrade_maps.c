// SPDX-License-Identifier: Apache-2.0
/* An upgrade over maps pinned by a previous build (controller/datapath.c):
 * a pin whose layout (type, key/value size, flags) differs from this
 * build's definition is replaced by a fresh map instead of failing the load;
 * a compatible pin, and the runtime-sized Maglev table, are reused with
 * their entries. The hooks move to the new programs only in
 * datapath_commit(), once the caller refilled the maps; datapath_abort()
 * gives a failed start's replaced maps back. Runs the real load path (datapath_init: every embedded
 * object) against a bpffs of the test's own under /run and an empty child
 * cgroup for the socket hooks. Needs root (BPF, mount, cgroup): fails
 * clearly without it. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <sluice/ct.h>
#include <sluice/lb.h>
#include <sluice/metrics.h>

#include "../../controller/core.h"
#include "../../controller/ctl.h"

static char root[64], bpffs[96], cgroup[PATH_MAX + 64];

/* The cgroup2 hierarchy the machine mounted (a child of it hosts the
 * socket hooks: nothing runs in it, so nothing is affected). */
static void make_cgroup(void)
{
	char dev[256], mnt[PATH_MAX - 64], type[64];
	bool found = false;
	FILE *f = fopen("/proc/mounts", "re");

	cr_assert_not_null(f, "reading /proc/mounts: %s", strerror(errno));
	while (!found && fscanf(f, "%255s %4031s %63s %*[^\n]\n", dev, mnt, type) == 3)
		found = !strcmp(type, "cgroup2");
	fclose(f);
	cr_assert(found, "no cgroup2 mount in /proc/mounts");
	snprintf(cgroup, sizeof(cgroup), "%s/sluice-mapmig-ut-%d", mnt, getpid());
	cr_assert(mkdir(cgroup, 0755) == 0 || errno == EEXIST, "creating cgroup %s: %s", cgroup,
		  strerror(errno));
}

static void setup(void)
{
	cr_assert_eq(geteuid(), 0, "this test needs root (bpffs mount, BPF, cgroup)");
	snprintf(root, sizeof(root), "/run/sluice-mapmig-%d", getpid());
	snprintf(bpffs, sizeof(bpffs), "%s/bpf", root);
	mkdir(root, 0700);
	mkdir(bpffs, 0700);
	cr_assert_eq(mount("bpf", bpffs, "bpf", 0, "mode=0700"), 0, "mount bpffs on %s: %s", bpffs,
		     strerror(errno));
	make_cgroup();
	ctl.bpffs = bpffs;
	ctl.cgroup = cgroup;
	ctl.ct_max = 1024; /* small: every test creates the tables it lacks */
	ctl.maglev_size = SL_MAGLEV_M_DEFAULT;
}

static void teardown(void)
{
	char cmd[256];

	datapath_fini();
	/* The link pins go with the bpffs; the cgroup can then go too. */
	umount2(bpffs, MNT_DETACH);
	if (cgroup[0] && rmdir(cgroup))
		fprintf(stderr, "couldn't remove cgroup %s: %s\n", cgroup, strerror(errno));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd))
		fprintf(stderr, "couldn't remove %s\n", root);
}

static bool is_percpu(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/* One map as a previous build pinned it, with one entry (key byte 0 = 1,
 * value bytes 0x5a). Returns the map id. */
static __u32 pin_old(const char *pin_name, const char *map_name, enum bpf_map_type type, __u32 ks,
		     __u32 vs, __u32 max, __u32 flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	size_t vlen = is_percpu(type) ? ((vs + 7) & ~7u) * libbpf_num_possible_cpus() : vs;
	unsigned char key[64] = {1};
	unsigned char *val = malloc(vlen);
	char path[PATH_MAX];
	int fd;

	cr_assert_not_null(val);
	memset(val, 0x5a, vlen);
	fd = bpf_map_create(type, map_name, ks, vs, max, &o);
	cr_assert_geq(fd, 0, "creating map %s: %s (tests need root and BPF)", map_name,
		      strerror(errno));
	cr_assert_eq(bpf_map_update_elem(fd, key, val, BPF_ANY), 0, "writing %s: %s", map_name,
		     strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", bpffs, pin_name);
	cr_assert_eq(bpf_obj_pin(fd, path), 0, "pinning %s: %s", path, strerror(errno));
	cr_assert_eq(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	free(val);
	return info.id;
}

/* The pinned map name now: its info, and whether the old entry is there. */
static void pinned(const char *name, struct bpf_map_info *info, bool *has_entry)
{
	unsigned char key[64] = {1}, next[64];
	char path[PATH_MAX];
	__u32 len = sizeof(*info);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", bpffs, name);
	fd = bpf_obj_get(path);
	cr_assert_geq(fd, 0, "%s is not pinned after the load: %s", path, strerror(errno));
	memset(info, 0, sizeof(*info));
	cr_assert_eq(bpf_obj_get_info_by_fd(fd, info, &len), 0);
	/* Any key at all: a fresh map has none (an array is not used here). */
	*has_entry = bpf_map_get_next_key(fd, NULL, next) == 0 && !memcmp(next, key, 1);
	close(fd);
}

static bool exists(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", bpffs, name);
	return access(path, F_OK) == 0;
}

TestSuite(upgrade_maps, .init = setup, .fini = teardown);

/* Arrays, not pointers: criterion hands parameters to a fresh instance of
 * the binary, where static addresses differ. */
struct pin_case {
	char what[64];
	char map[32];
	enum bpf_map_type type;
	__u32 key_size, value_size, max_entries, flags;
	bool replaced;		     /* expected */
	enum bpf_map_type want_type; /* this build's definition */
	__u32 want_key, want_value;
};

static struct pin_case cases[] = {
    {"conntrack of the previous build (40-byte key)", SL_MAP_CT, BPF_MAP_TYPE_LRU_HASH, 40,
     sizeof(struct ct_entry), 1024, 0, true, BPF_MAP_TYPE_LRU_HASH, sizeof(struct ct_key),
     sizeof(struct ct_entry)},
    {"conntrack of this build's layout", SL_MAP_CT, BPF_MAP_TYPE_LRU_HASH, sizeof(struct ct_key),
     sizeof(struct ct_entry), 1024, 0, false, BPF_MAP_TYPE_LRU_HASH, sizeof(struct ct_key),
     sizeof(struct ct_entry)},
    {"endpoint counters as a per-CPU hash", SL_MAP_EP_STATS, BPF_MAP_TYPE_PERCPU_HASH, 4,
     sizeof(struct ep_stats), 64, 0, true, BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(struct ep_stats)},
    {"service frontends with a larger value", SL_MAP_SVC, BPF_MAP_TYPE_HASH, sizeof(struct svc_key),
     sizeof(struct svc_val) + 8, 64, 0, true, BPF_MAP_TYPE_HASH, sizeof(struct svc_key),
     sizeof(struct svc_val)},
    {"conntrack with other flags", SL_MAP_CT, BPF_MAP_TYPE_LRU_HASH, sizeof(struct ct_key),
     sizeof(struct ct_entry), 1024, BPF_F_NO_COMMON_LRU, true, BPF_MAP_TYPE_LRU_HASH,
     sizeof(struct ct_key), sizeof(struct ct_entry)},
    /* Arrays are indexed by the build's constants: another size is
     * another layout (a build before the "purged" counter). */
    {"conntrack counters of another count", SL_MAP_CT_STATS, BPF_MAP_TYPE_PERCPU_ARRAY, 4,
     sizeof(__u64), SL_CT_STAT_MAX - 1, 0, true, BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(__u64)},
    /* Runtime-sized: another table size is not another layout. */
    {"Maglev tables of another size", SL_MAP_MAGLEV, BPF_MAP_TYPE_HASH, 4,
     SL_MAGLEV_VALUE_SIZE(251), 16, BPF_F_NO_PREALLOC, false, BPF_MAP_TYPE_HASH, 4,
     SL_MAGLEV_VALUE_SIZE(251)},
};

ParameterizedTestParameters(upgrade_maps, layout)
{
	return cr_make_param_array(struct pin_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct pin_case *c, upgrade_maps, layout)
{
	struct bpf_map_info info, cached = {};
	__u32 len = sizeof(cached), old_id;
	bool has_entry;
	char oname[80];
	int ret, fd;

	old_id =
	    pin_old(c->map, c->map, c->type, c->key_size, c->value_size, c->max_entries, c->flags);
	ret = datapath_init();
	cr_assert_eq(ret, 0, "%s: datapath_init() = %d (%s), expected 0", c->what, ret,
		     strerror(-ret));
	pinned(c->map, &info, &has_entry);
	cr_expect_eq(info.type, c->want_type, "%s: pinned type %u, expected %u", c->what, info.type,
		     c->want_type);
	cr_expect_eq(info.key_size, c->want_key, "%s: pinned key %u B, expected %u B", c->what,
		     info.key_size, c->want_key);
	cr_expect_eq(info.value_size, c->want_value, "%s: pinned value %u B, expected %u B",
		     c->what, info.value_size, c->want_value);
	cr_expect_eq(datapath_map_replaced(c->map), c->replaced,
		     "%s: datapath_map_replaced(%s) = %d, expected %d", c->what, c->map,
		     datapath_map_replaced(c->map), c->replaced);
	if (c->replaced) {
		cr_expect_neq(info.id, old_id, "%s: the old map (id %u) is still pinned", c->what,
			      old_id);
		cr_expect_not(has_entry, "%s: the replacement map holds the old entry", c->what);
	} else {
		cr_expect_eq(info.id, old_id, "%s: pinned map id %u, expected the old %u", c->what,
			     info.id, old_id);
		cr_expect(has_entry, "%s: the reused map lost its entry", c->what);
	}
	/* max_entries follows a reused pin; a replaced conntrack keeps the
	 * pinned size too (--ct-max only applies to a first creation). */
	if (!c->replaced || !strcmp(c->map, SL_MAP_CT))
		cr_expect_eq(info.max_entries, c->max_entries, "%s: max_entries %u, expected %u",
			     c->what, info.max_entries, c->max_entries);
	/* Callers get the pinned map, not a cached fd of the old one. */
	fd = ctl_map_fd(c->map);
	cr_assert_geq(fd, 0, "ctl_map_fd(%s) = %d", c->map, fd);
	cr_assert_eq(bpf_obj_get_info_by_fd(fd, &cached, &len), 0);
	cr_expect_eq(cached.id, info.id, "%s: ctl_map_fd gives map id %u, the pin is %u", c->what,
		     cached.id, info.id);
	/* The old pin stays until the hooks move (a failed start puts it
	 * back), and goes with the commit. */
	snprintf(oname, sizeof(oname), "old-%s", c->map);
	cr_expect_eq(exists(oname), c->replaced, "%s: %s pinned before the commit: %d, expected %d",
		     c->what, oname, exists(oname), c->replaced);
	ret = datapath_commit();
	cr_assert_eq(ret, 0, "%s: datapath_commit() = %d (%s), expected 0", c->what, ret,
		     strerror(-ret));
	cr_expect_not(exists(oname), "%s: %s was left behind", c->what, oname);
	pinned(c->map, &info, &has_entry);
	cr_expect_eq(info.id, cached.id, "%s: the commit changed the pinned map (%u, expected %u)",
		     c->what, info.id, cached.id);
	/* Programs were loaded against the pinned maps. */
	cr_expect(exists("progs/from_pod"), "%s: progs/from_pod not pinned", c->what);
	if (!strcmp(c->map, SL_MAP_MAGLEV))
		cr_expect_eq(ctl.maglev_size, 251, "Maglev size %u, expected the pinned 251",
			     ctl.maglev_size);
}

/* A pin that cannot be read as a map is never replaced: the start fails. */
Test(upgrade_maps, unreadable_pin_fails)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), "%s/%s", bpffs, SL_MAP_CT);
	cr_assert_eq(mkdir(path, 0700), 0, "mkdir %s: %s", path, strerror(errno));
	ret = datapath_init();
	cr_expect_lt(ret, 0, "datapath_init() = %d with an unreadable %s, expected an error", ret,
		     SL_MAP_CT);
	cr_expect(exists(SL_MAP_CT), "the unreadable %s was removed", SL_MAP_CT);
	cr_expect_not(exists("old-" SL_MAP_CT), "the unreadable %s was set aside", SL_MAP_CT);
	cr_expect_not(datapath_map_replaced(SL_MAP_CT));
}

/* An upgrade interrupted after setting a pin aside: the next start puts
 * it back, and reuses it when its layout fits. */
Test(upgrade_maps, interrupted_set_aside_restored)
{
	struct bpf_map_info info;
	bool has_entry;
	__u32 old_id;
	int ret;

	old_id = pin_old("old-" SL_MAP_CT, SL_MAP_CT, BPF_MAP_TYPE_LRU_HASH, sizeof(struct ct_key),
			 sizeof(struct ct_entry), 1024, 0);
	ret = datapath_init();
	cr_assert_eq(ret, 0, "datapath_init() = %d (%s), expected 0", ret, strerror(-ret));
	pinned(SL_MAP_CT, &info, &has_entry);
	cr_expect_eq(info.id, old_id, "pinned %s is map %u, expected the set-aside %u", SL_MAP_CT,
		     info.id, old_id);
	cr_expect(has_entry, "the restored %s lost its entry", SL_MAP_CT);
	cr_expect_not(exists("old-" SL_MAP_CT), "old-%s is still there", SL_MAP_CT);
}

/* A start that fails after setting a pin aside (here: a later map's pin is
 * unreadable) puts the old pin back, so the previous build still finds its
 * maps: a rollback keeps its conntrack. */
Test(upgrade_maps, failed_start_restores_old_pin)
{
	struct bpf_map_info info;
	char path[PATH_MAX];
	bool has_entry;
	__u32 old_id;
	int ret;

	old_id = pin_old(SL_MAP_CT, SL_MAP_CT, BPF_MAP_TYPE_LRU_HASH, 40, sizeof(struct ct_entry),
			 1024, 0);
	/* Defined after sluice_ct (datapath/lib/maps.h): checked later. */
	snprintf(path, sizeof(path), "%s/%s", bpffs, SL_MAP_SK_REVNAT);
	cr_assert_eq(mkdir(path, 0700), 0, "mkdir %s: %s", path, strerror(errno));
	ret = datapath_init();
	cr_expect_lt(ret, 0, "datapath_init() = %d with an unreadable %s, expected an error", ret,
		     SL_MAP_SK_REVNAT);
	pinned(SL_MAP_CT, &info, &has_entry);
	cr_expect_eq(info.id, old_id, "pinned %s is map %u, expected the old %u again", SL_MAP_CT,
		     info.id, old_id);
	cr_expect_eq(info.key_size, 40, "pinned %s key %u B, expected the old 40 B", SL_MAP_CT,
		     info.key_size);
	cr_expect(has_entry, "the restored %s lost its entry", SL_MAP_CT);
	cr_expect_not(exists("old-" SL_MAP_CT), "old-%s is still there", SL_MAP_CT);
	cr_expect_not(datapath_map_replaced(SL_MAP_CT));
}

/* ---- the hooks wait for the refill ------------------------------------ */

#define MAX_LINKS 16

/* The cgroup links pinned under links/: how many, and their programs. */
struct links {
	int n;
	char name[MAX_LINKS][256];
	__u32 prog_id[MAX_LINKS];
};

static void read_links(struct links *l)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d;

	memset(l, 0, sizeof(*l));
	snprintf(dir, sizeof(dir), "%s/links", bpffs);
	d = opendir(dir);
	cr_assert_not_null(d, "opening %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		int fd;

		if (de->d_name[0] == '.')
			continue;
		cr_assert_lt(l->n, MAX_LINKS, "more than %d links pinned", MAX_LINKS);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = bpf_obj_get(path);
		cr_assert_geq(fd, 0, "opening link %s: %s", path, strerror(errno));
		cr_assert_eq(bpf_obj_get_info_by_fd(fd, &info, &len), 0, "link %s info: %s", path,
			     strerror(errno));
		close(fd);
		snprintf(l->name[l->n], sizeof(l->name[0]), "%s", de->d_name);
		l->prog_id[l->n++] = info.prog_id;
	}
	closedir(d);
}

/* How many of the links run a program that reads map map_id. */
/* Every link of now runs the program it ran in before (when: "before the
 * commit", "after the abort"). */
static void expect_same_programs(const struct links *before, const struct links *now,
				 const char *when)
{
	cr_expect_eq(now->n, before->n, "links %s: %d, expected %d", when, now->n, before->n);
	for (int i = 0; i < now->n && i < before->n; i++)
		cr_expect_eq(now->prog_id[i], before->prog_id[i],
			     "link %s runs program %u %s, expected the previous %u", now->name[i],
			     now->prog_id[i], when, before->prog_id[i]);
}

static int links_reading(const struct links *l, __u32 map_id)
{
	int n = 0;

	for (int i = 0; i < l->n; i++) {
		__u32 ids[64], len;
		struct bpf_prog_info info;
		int fd = bpf_prog_get_fd_by_id(l->prog_id[i]);

		cr_assert_geq(fd, 0, "program %u of link %s: %s", l->prog_id[i], l->name[i],
			      strerror(errno));
		memset(&info, 0, sizeof(info));
		info.nr_map_ids = 64;
		info.map_ids = (__u64)(unsigned long)ids;
		len = sizeof(info);
		cr_assert_eq(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
		close(fd);
		for (__u32 j = 0; j < info.nr_map_ids && j < 64; j++)
			n += ids[j] == map_id;
	}
	return n;
}

static __u32 map_id_of(const char *name)
{
	struct bpf_map_info info;
	bool has_entry;

	pinned(name, &info, &has_entry);
	return info.id;
}

static bool any_marker(void)
{
	char dir[PATH_MAX];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/progs", bpffs);
	d = opendir(dir);
	cr_assert_not_null(d, "opening %s: %s", dir, strerror(errno));
	while ((de = readdir(d)))
		found |= !strncmp(de->d_name, "build-", 6);
	closedir(d);
	return found;
}

/* A previous build running: the datapath loaded, hooks attached, marker
 * written; then its sluice_svc replaced by one of another layout (with an
 * entry) and the marker removed, as an upgrade from that build would find
 * them. Returns the links of the running build; *old_svc is the pinned
 * map of the other layout. */
static void previous_build(struct links *before, __u32 *old_svc)
{
	char path[PATH_MAX];
	int ret;

	ret = datapath_init();
	cr_assert_eq(ret, 0, "first start: datapath_init() = %d (%s)", ret, strerror(-ret));
	ret = datapath_commit();
	cr_assert_eq(ret, 0, "first start: datapath_commit() = %d (%s)", ret, strerror(-ret));
	datapath_fini();
	read_links(before);
	cr_assert_gt(before->n, 0, "the first start attached no cgroup hook");
	cr_assert_gt(links_reading(before, map_id_of(SL_MAP_SVC)), 0, "no socket hook reads %s",
		     SL_MAP_SVC);
	cr_assert(any_marker(), "the first start wrote no build marker");
	snprintf(path, sizeof(path), "rmdir %s/progs/build-*", bpffs);
	cr_assert_eq(system(path), 0, "removing the build marker failed");
	snprintf(path, sizeof(path), "%s/%s", bpffs, SL_MAP_SVC);
	cr_assert_eq(unlink(path), 0, "unpinning %s: %s", path, strerror(errno));
	*old_svc = pin_old(SL_MAP_SVC, SL_MAP_SVC, BPF_MAP_TYPE_HASH, sizeof(struct svc_key),
			   sizeof(struct svc_val) + 8, 64, 0);
}

/* The upgrade replaces sluice_svc with an empty map. Until the caller
 * refilled it and called datapath_commit(), no hook may run a program
 * reading that map: the socket hooks keep the previous programs (which
 * read the previous map). After the commit they read the refilled one. */
Test(upgrade_maps, hooks_move_only_on_commit)
{
	struct links before, during, after;
	struct svc_key k = {0};
	struct svc_val v = {0};
	__u32 old_svc, new_svc;
	int ret, fd;

	previous_build(&before, &old_svc);
	ret = datapath_init();
	cr_assert_eq(ret, 0, "upgrade: datapath_init() = %d (%s)", ret, strerror(-ret));
	cr_assert(datapath_map_replaced(SL_MAP_SVC), "%s (another value size) was not replaced",
		  SL_MAP_SVC);
	new_svc = map_id_of(SL_MAP_SVC);
	cr_assert_neq(new_svc, old_svc);
	read_links(&during);
	expect_same_programs(&before, &during, "before the commit");
	cr_expect_eq(links_reading(&during, new_svc), 0,
		     "%d socket hooks read the new, still empty %s before the commit",
		     links_reading(&during, new_svc), SL_MAP_SVC);
	cr_expect(exists("old-" SL_MAP_SVC), "old-%s gone before the commit", SL_MAP_SVC);

	/* The refill (the model's job), then the commit. */
	fd = ctl_map_fd(SL_MAP_SVC);
	cr_assert_geq(fd, 0, "ctl_map_fd(%s) = %d", SL_MAP_SVC, fd);
	k.port = 80;
	cr_assert_eq(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0, "refilling %s: %s", SL_MAP_SVC,
		     strerror(errno));
	ret = datapath_commit();
	cr_assert_eq(ret, 0, "upgrade: datapath_commit() = %d (%s)", ret, strerror(-ret));
	read_links(&after);
	cr_expect_gt(links_reading(&after, new_svc), 0,
		     "no socket hook reads the refilled %s after the commit", SL_MAP_SVC);
	for (int i = 0; i < after.n && i < before.n; i++)
		cr_expect_neq(after.prog_id[i], before.prog_id[i],
			      "link %s still runs the previous program %u after the commit",
			      after.name[i], after.prog_id[i]);
	cr_expect_not(exists("old-" SL_MAP_SVC), "old-%s left after the commit", SL_MAP_SVC);
	cr_expect(any_marker(), "no build marker after the commit");
	cr_expect_eq(map_id_of(SL_MAP_SVC), new_svc, "the commit changed the pinned %s",
		     SL_MAP_SVC);
}

/* A start that fails after the load (the model could not be read, say):
 * the replaced map is pinned again, the hooks keep the previous programs,
 * and no marker is left that would make either build trust the pins. */
Test(upgrade_maps, abort_gives_the_old_maps_back)
{
	struct links before, after;
	struct bpf_map_info info;
	bool has_entry;
	__u32 old_svc;
	int ret;

	previous_build(&before, &old_svc);
	ret = datapath_init();
	cr_assert_eq(ret, 0, "upgrade: datapath_init() = %d (%s)", ret, strerror(-ret));
	cr_assert(datapath_map_replaced(SL_MAP_SVC));
	datapath_abort();
	pinned(SL_MAP_SVC, &info, &has_entry);
	cr_expect_eq(info.id, old_svc, "pinned %s is map %u after the abort, expected the old %u",
		     SL_MAP_SVC, info.id, old_svc);
	cr_expect(has_entry, "the restored %s lost its entry", SL_MAP_SVC);
	cr_expect_not(exists("old-" SL_MAP_SVC), "old-%s is still there", SL_MAP_SVC);
	cr_expect_not(datapath_map_replaced(SL_MAP_SVC));
	cr_expect_not(any_marker(), "a build marker is left after the abort");
	read_links(&after);
	expect_same_programs(&before, &after, "after the abort");
	/* A commit after an abort has nothing to commit. */
	cr_expect_lt(datapath_commit(), 0, "datapath_commit() after datapath_abort() succeeded");
}

/* A start killed between datapath_init() and datapath_commit() (SIGKILL,
 * a crash): the new programs are pinned but the old marker must be gone,
 * or the previous build, rolled back to, would take the new programs for
 * its own and attach them. Without a marker every build loads its own. */
Test(upgrade_maps, no_marker_while_an_upgrade_is_half_done)
{
	char path[PATH_MAX];
	struct links before;
	__u32 old_svc;
	int ret;

	previous_build(&before, &old_svc);
	snprintf(path, sizeof(path), "%s/progs/build-0123456789abcdef", bpffs);
	cr_assert_eq(mkdir(path, 0700), 0, "pinning a marker of another build: %s",
		     strerror(errno));
	cr_assert(any_marker());
	ret = datapath_init();
	cr_assert_eq(ret, 0, "upgrade: datapath_init() = %d (%s)", ret, strerror(-ret));
	cr_expect_not(any_marker(), "a build marker is left while the upgrade is half done");
	ret = datapath_commit();
	cr_assert_eq(ret, 0, "upgrade: datapath_commit() = %d (%s)", ret, strerror(-ret));
	cr_expect(any_marker(), "no build marker after the commit");
	cr_expect_neq(access(path, F_OK), 0, "the other build's marker came back");
}
