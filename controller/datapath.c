// SPDX-License-Identifier: Apache-2.0
/* Loading and pinning the datapath.
 *
 * Layout under the pin root (ctl.bpffs, a bpffs; mounted if it is not one):
 *   sluice_*            maps, pinned by libbpf (LIBBPF_PIN_BY_NAME)
 *   progs/<prog>        every program of every object
 *   progs/build-<hex>   marker: the build of the pinned programs (hash of
 *                       the embedded objects and the rodata knobs)
 *   links/<prog>        cgroup hook links (sock.bpf.c)
 *
 * Start: if the marker matches this binary and every program is pinned,
 * nothing is loaded (restart). Otherwise every object is loaded (reusing the
 * pinned maps: nothing is emptied, except a map whose pinned layout differs
 * from this build's: see set_aside_incompatible()) and the programs are
 * pinned under a temporary name and renamed over the old pins. Nothing is
 * attached yet: the old programs keep running on their old maps while the
 * caller refills the maps the new ones read (endpoints, model, policy).
 * Then datapath_commit() updates the cgroup links in place, re-attaches the
 * new programs on every host veth with BPF_TC_F_REPLACE and writes the
 * marker; datapath_abort() undoes a start that fails before that. The old
 * marker is removed before anything is pinned: a crash half-way leaves
 * none, so whichever build starts next (this one again, or the previous
 * one rolled back to) loads, pins and attaches its own programs instead of
 * trusting pins of a half-done upgrade. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <sluice/common.h>
#include <sluice/ct.h>
#include <sluice/endpoint.h>
#include <sluice/ipcache.h>
#include <sluice/lb.h>
#include <sluice/metrics.h>
#include <sluice/policy.h>

#include "core.h"
#include "ctl.h"
#include "endpoints.h"
#include "log.h"

/* The skeletons only provide the embedded object bytes: objects are opened
 * generically so every object gets the same pin root, map sizes and knobs.
 * An object whose source is not in the tree (yet) is not built in. */
#if __has_include("from_pod.skel.h")
#include "from_pod.skel.h"
#define HAVE_FROM_POD 1
#endif
#if __has_include("to_pod.skel.h")
#include "to_pod.skel.h"
#define HAVE_TO_POD 1
#endif
#if __has_include("sock.skel.h")
#include "sock.skel.h"
#define HAVE_SOCK 1
#endif

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

struct ctl_config ctl;

struct dp_object {
	const char *name;
	const void *(*bytes)(size_t *sz);
};

/* from_pod first: it creates and pins the maps the others reuse. */
static const struct dp_object dp_objects[] = {
#ifdef HAVE_FROM_POD
    {"from_pod", from_pod__elf_bytes},
#endif
#ifdef HAVE_TO_POD
    {"to_pod", to_pod__elf_bytes},
#endif
#ifdef HAVE_SOCK
    {"sock", sock__elf_bytes},
#endif
};
#define N_OBJECTS (sizeof(dp_objects) / sizeof(dp_objects[0]))

/* Rodata knobs sluiced sets (datapath/lib/maps.h lists them all; the rest
 * keep the defaults compiled into the objects). */
static __u32 knob_maglev_m;
static __u64 knob_netns_cookie;

static bool dp_loaded_new; /* programs were (re)loaded this start */
static char dp_build[17];  /* hex of this binary's build hash */
/* Loaded and pinned, but no hook moved to them yet: datapath_abort() can
 * still give the previous build its maps back. */
static bool dp_pending;

#define MAX_CACHED_MAPS 64
static struct {
	char name[64];
	int fd;
} map_cache[MAX_CACHED_MAPS];
static int n_cached;

static int cg_fd = -1;

/* The objects opened by datapath_init(), kept for datapath_commit() (the
 * cgroup programs to attach, the pins this build no longer has). */
#define N_OBJS (N_OBJECTS ? N_OBJECTS : 1)
static struct bpf_object *dp_objs[N_OBJS];

static void close_objects(void)
{
	for (size_t i = 0; i < N_OBJS; i++) {
		bpf_object__close(dp_objs[i]);
		dp_objs[i] = NULL;
	}
}

static int pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = dir ? snprintf(buf, len, "%s/%s/%s", ctl.bpffs, dir, name)
		    : snprintf(buf, len, "%s/%s", ctl.bpffs, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int ctl_map_fd(const char *name)
{
	char path[PATH_MAX];
	int fd, i;

	for (i = 0; i < n_cached; i++)
		if (!strcmp(map_cache[i].name, name))
			return map_cache[i].fd;
	if (!*name || strchr(name, '/') || strlen(name) >= sizeof(map_cache[0].name) ||
	    pin_path(path, sizeof(path), NULL, name))
		return -EINVAL;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fd = -errno;
		pr_debug("couldn't open pinned map %s: %s\n", path, strerror(-fd));
		return fd;
	}
	if (n_cached < MAX_CACHED_MAPS) {
		snprintf(map_cache[n_cached].name, sizeof(map_cache[0].name), "%s", name);
		map_cache[n_cached++].fd = fd;
	} else {
		/* More maps than the cache holds is a bug; do not leak. */
		pr_warn("map fd cache full, %s not cached\n", name);
	}
	return fd;
}

/* Forget (and close) the cached fd of a map whose pin is being replaced:
 * the next ctl_map_fd() opens what the name is pinned as then. */
static void map_cache_drop(const char *name)
{
	for (int i = 0; i < n_cached; i++) {
		if (strcmp(map_cache[i].name, name))
			continue;
		close(map_cache[i].fd);
		map_cache[i] = map_cache[--n_cached];
		return;
	}
}

/* ---- pinned maps of another layout ---------------------------------------
 * libbpf reuses a pinned-by-name map only when its type, key and value size,
 * max_entries, flags and map_extra equal the object's definition; otherwise
 * the whole load fails and sluiced cannot start. size_maps() makes the
 * runtime-sized parts (the hashes' max_entries, a ring buffer's size, the
 * Maglev table size) follow the pin; any other difference, an array's size
 * included, is a new layout.
 * Before an upgrade's load, such a pin is renamed to old-<name> (bpffs names
 * cannot hold a dot; sluice_* lookups never see "old-"), so libbpf creates
 * and pins a fresh, empty map. Programs still attached keep their reference
 * to the old map until datapath_commit() moves every hook to the new ones.
 * The old pins are removed once datapath_commit() moved the hooks; after a
 * failed load, or a start datapath_abort() gives up on, they are put back,
 * so the previous build still finds its maps (rollback). */
#define DP_OLD_PREFIX "old-"
#define MAX_REPLACED  32
static char dp_replaced[MAX_REPLACED][64]; /* maps set aside this start */
static int n_replaced;

enum {
	DIFF_TYPE = 1 << 0,
	DIFF_KEY = 1 << 1,
	DIFF_VALUE = 1 << 2,
	DIFF_FLAGS = 1 << 3,
	DIFF_EXTRA = 1 << 4,
	DIFF_SLOTS = 1 << 5, /* an array's size: its indexes are the build's */
};

/* Seam for the modules that fill maps: true when name was pinned with
 * another layout and replaced by an empty map during this start (its
 * entries, and any ids other maps hold into it, are gone). */
bool datapath_map_replaced(const char *name)
{
	for (int i = 0; i < n_replaced; i++)
		if (!strcmp(dp_replaced[i], name))
			return true;
	return false;
}

/* What an empty map means after sluiced started (see the startup paths
 * of endpoints.c, feed.c/services.c, policy.c, ipcache.c). */
static const char *replace_effect(const char *name)
{
	static const struct {
		const char *name, *effect;
	} effects[] = {
	    {SL_MAP_CT, "conntrack restarts empty"},
	    {SL_MAP_CT_STATS, "conntrack counters restart at zero"},
	    {SL_MAP_EP, "refilled from the endpoint records"},
	    {SL_MAP_EP_SLOTS, "refilled from the endpoint records"},
	    {SL_MAP_LB_NETNS, "refilled from the endpoint records"},
	    {SL_MAP_EP_STATS, "per-endpoint counters restart at zero"},
	    {SL_MAP_METRICS, "counters restart at zero"},
	    {SL_MAP_IPCACHE, "refilled from the endpoint records and the model"},
	    {SL_MAP_SVC, "refilled from the model"},
	    {SL_MAP_BACKEND, "refilled from the model"},
	    {SL_MAP_MAGLEV, "refilled from the model"},
	    {SL_MAP_REVNAT, "refilled from the model"},
	    {SL_MAP_POL_EP, "refilled from the model"},
	    {SL_MAP_POL, "refilled from the model"},
	    {SL_MAP_POL_CIDR, "refilled from the model"},
	    {SL_MAP_POL_EXACT, "refilled from the model"},
	    {SL_MAP_AFFINITY, "session affinity restarts"},
	    {SL_MAP_SK_REVNAT, "connected UDP sockets lose their Service reverse NAT"},
	};

	for (size_t i = 0; i < sizeof(effects) / sizeof(effects[0]); i++)
		if (!strcmp(effects[i].name, name))
			return effects[i].effect;
	return "its entries are lost";
}

/* "[TYPE ]key K B/value V B[ flags 0xF][ extra X]": the type, flags and
 * extra only when they are part of the difference. */
static void layout_str(char *buf, size_t len, unsigned int diff, __u32 type, __u32 key, __u32 value,
		       __u32 flags, __u64 extra, __u32 entries)
{
	const char *tn = libbpf_bpf_map_type_str(type);
	int n = 0;

	if (diff & DIFF_TYPE)
		n = tn ? snprintf(buf, len, "%s ", tn) : snprintf(buf, len, "type %u ", type);
	n += snprintf(buf + n, len - n, "key %u B/value %u B", key, value);
	if (diff & DIFF_FLAGS)
		n += snprintf(buf + n, len - n, " flags 0x%x", flags);
	if (diff & DIFF_EXTRA)
		n += snprintf(buf + n, len - n, " extra %llu", (unsigned long long)extra);
	if (diff & DIFF_SLOTS)
		snprintf(buf + n, len - n, " %u entries", entries);
}

/* A crash between setting a pin aside and the end of the load leaves
 * old-<name>: put it back when <name> was not pinned again (the check
 * then runs on it anew), else drop it (the previous attempt got as far as
 * pinning the new map; the old one lives on only in attached programs). */
static void recover_set_aside(void)
{
	char old[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(ctl.bpffs);

	if (!d)
		return;
	while ((de = readdir(d))) {
		const char *name = de->d_name + strlen(DP_OLD_PREFIX);

		if (strncmp(de->d_name, DP_OLD_PREFIX "sluice_", strlen(DP_OLD_PREFIX "sluice_")) ||
		    pin_path(old, sizeof(old), NULL, de->d_name) ||
		    pin_path(path, sizeof(path), NULL, name))
			continue;
		if (access(path, F_OK) && errno == ENOENT) {
			if (rename(old, path) == 0)
				pr_info("%s: put back the pin an interrupted upgrade set aside\n",
					name);
			else
				pr_warn("%s: couldn't put back %s: %s\n", name, old,
					strerror(errno));
		} else if (unlink(old) == 0) {
			pr_info("%s: removed %s left by an interrupted upgrade\n", name, old);
		}
	}
	closedir(d);
}

/* Compare name's pin with the object's definition; set it aside when the
 * layout differs. Returns 0 (also: no pin) or -errno (logged): a pin that
 * cannot be read is never replaced. */
static int check_pinned_layout(const struct bpf_map *map)
{
	const char *name = bpf_map__name(map);
	enum bpf_map_type type = bpf_map__type(map);
	/* Sized at run time: size_maps() makes the new definition follow
	 * the pin, so a different size is not a new layout. */
	bool value_follows_pin = type == BPF_MAP_TYPE_RINGBUF || !strcmp(name, SL_MAP_MAGLEV);
	char path[PATH_MAX], old[PATH_MAX], oname[NAME_MAX], have[96], want[96];
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	unsigned int diff = 0;
	int fd, ret;

	snprintf(oname, sizeof(oname), DP_OLD_PREFIX "%s", name);
	if (pin_path(path, sizeof(path), NULL, name) || pin_path(old, sizeof(old), NULL, oname))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0; /* first start: libbpf creates it */
		ret = -errno;
		pr_warn("%s: couldn't open the pin %s to check its layout: %s; not replacing "
			"it, the datapath cannot load\n",
			name, path, strerror(errno));
		return ret;
	}
	ret = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (ret) {
		ret = -errno;
		pr_warn("%s: couldn't read the layout of the pinned map %s: %s; not replacing "
			"it, the datapath cannot load\n",
			name, path, strerror(errno));
		close(fd);
		return ret;
	}
	close(fd);
	if (info.type != type)
		diff |= DIFF_TYPE;
	if (info.key_size != bpf_map__key_size(map))
		diff |= DIFF_KEY;
	if (!value_follows_pin && info.value_size != bpf_map__value_size(map))
		diff |= DIFF_VALUE;
	if (info.map_flags != bpf_map__map_flags(map))
		diff |= DIFF_FLAGS;
	if (info.map_extra != bpf_map__map_extra(map))
		diff |= DIFF_EXTRA;
	/* Arrays are indexed by build constants (reasons, counters, endpoint
	 * ids, address slots): one of another size is another layout. The
	 * configurable sizes (conntrack, Maglev, ring buffer) are hashes. */
	if ((type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY) &&
	    info.type == type && info.max_entries != bpf_map__max_entries(map))
		diff |= DIFF_SLOTS;
	if (!diff)
		return 0;
	if (n_replaced >= MAX_REPLACED || strlen(name) >= sizeof(dp_replaced[0])) {
		pr_warn("%s: too many maps to replace; not replacing it\n", name);
		return -E2BIG;
	}
	layout_str(have, sizeof(have), diff, info.type, info.key_size, info.value_size,
		   info.map_flags, info.map_extra, info.max_entries);
	layout_str(want, sizeof(want), diff, type, bpf_map__key_size(map),
		   value_follows_pin ? info.value_size : bpf_map__value_size(map),
		   bpf_map__map_flags(map), bpf_map__map_extra(map), bpf_map__max_entries(map));
	pr_warn("%s: pinned layout %s differs from this build's %s: replacing it (%s)\n", name,
		have, want, replace_effect(name));
	if (rename(path, old) < 0) {
		ret = -errno;
		pr_warn("%s: couldn't move the old pin %s aside: %s\n", name, path,
			strerror(errno));
		return ret;
	}
	map_cache_drop(name);
	snprintf(dp_replaced[n_replaced++], sizeof(dp_replaced[0]), "%s", name);
	return 0;
}

/* Check every sluice_* map of the objects (the first object defining a
 * name decides: later ones are checked by libbpf against the pin that
 * object made). Returns 0 or -errno (logged). */
static int set_aside_incompatible(struct bpf_object **objs, size_t n)
{
	struct bpf_map *map;
	int ret;

	recover_set_aside();
	for (size_t i = 0; i < n; i++) {
		bpf_object__for_each_map(map, objs[i])
		{
			const char *name = bpf_map__name(map);
			bool seen = false;

			if (strncmp(name, "sluice_", 7) ||
			    bpf_map__pin_path(map) == NULL /* not pinned by name */)
				continue;
			for (size_t j = 0; j < i && !seen; j++)
				seen = bpf_object__find_map_by_name(objs[j], name) != NULL;
			if (seen)
				continue;
			ret = check_pinned_layout(map);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Once the hooks run the new programs: drop the old pins (ok). After a
 * failed load or start: put them back over whatever this start pinned, so
 * the previous build still finds its maps. */
static void finish_set_aside(bool ok)
{
	char old[PATH_MAX], path[PATH_MAX], oname[NAME_MAX];

	for (int i = 0; i < n_replaced; i++) {
		const char *name = dp_replaced[i];

		snprintf(oname, sizeof(oname), DP_OLD_PREFIX "%s", name);
		if (pin_path(path, sizeof(path), NULL, name) ||
		    pin_path(old, sizeof(old), NULL, oname))
			continue;
		if (ok) {
			if (unlink(old) < 0 && errno != ENOENT)
				pr_warn("%s: couldn't remove the old pin %s: %s\n", name, old,
					strerror(errno));
			continue;
		}
		map_cache_drop(name);
		if (rename(old, path) < 0)
			pr_warn("%s: couldn't put the old pin %s back: %s\n", name, old,
				strerror(errno));
		else
			pr_warn("%s: the upgrade did not complete: the previous map is pinned "
				"again\n",
				name);
	}
	if (!ok)
		n_replaced = 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = 0;
			if (mkdir(buf, mode) < 0 && errno != EEXIST) {
				int err = -errno;

				pr_warn("couldn't create %s: %s\n", buf, strerror(errno));
				return err;
			}
			if (!c)
				break;
			*p = c;
		}
	}
	return 0;
}

static bool on_bpffs(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && sf.f_type == BPF_FS_MAGIC;
}

/* The pin root must be on a bpffs: mount one there when it is not. */
static int ensure_bpffs(void)
{
	int ret = mkdir_p(ctl.bpffs, 0700);

	if (ret)
		return ret;
	if (on_bpffs(ctl.bpffs))
		return 0;
	if (mount("bpf", ctl.bpffs, "bpf", 0, "mode=0700") < 0) {
		ret = -errno;
		pr_warn("%s is not on a bpffs and mounting one there failed: %s\n", ctl.bpffs,
			strerror(errno));
		return ret;
	}
	if (!on_bpffs(ctl.bpffs)) {
		pr_warn("mounted a bpffs on %s but it does not show as one\n", ctl.bpffs);
		return -ENOTSUP;
	}
	pr_info("mounted a bpffs on %s\n", ctl.bpffs);
	return 0;
}

static int netns_cookie(__u64 *cookie)
{
	socklen_t len = sizeof(*cookie);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (fd < 0)
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len) < 0) {
		ret = -errno;
		pr_warn("couldn't read this netns's cookie (SO_NETNS_COOKIE): %s\n",
			strerror(errno));
	}
	close(fd);
	return ret;
}

static void fnv(__u64 *h, const void *data, size_t n)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		*h ^= p[i];
		*h *= 0x100000001b3ULL;
	}
}

static void compute_build_id(void)
{
	__u64 h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < N_OBJECTS; i++) {
		size_t sz;
		const void *b = dp_objects[i].bytes(&sz);

		fnv(&h, dp_objects[i].name, strlen(dp_objects[i].name) + 1);
		fnv(&h, b, sz);
	}
	fnv(&h, &knob_maglev_m, sizeof(knob_maglev_m));
	fnv(&h, &knob_netns_cookie, sizeof(knob_netns_cookie));
	snprintf(dp_build, sizeof(dp_build), "%016llx", (unsigned long long)h);
}

/* The old marker would make the previous build reuse the programs this
 * start pinned: without one, whichever build starts next loads its own. */
static void remove_markers(void)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", ctl.bpffs, SL_PIN_PROGS_DIR);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "build-", 6))
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", ctl.bpffs, SL_PIN_PROGS_DIR, de->d_name);
		if (rmdir(path) < 0)
			pr_warn("couldn't remove the build marker %s: %s\n", path, strerror(errno));
	}
	closedir(d);
}

/* The build recorded by the marker dir, "" when none. */
static void read_marker(char *out, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	out[0] = 0;
	snprintf(path, sizeof(path), "%s/%s", ctl.bpffs, SL_PIN_PROGS_DIR);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "build-", 6))
			snprintf(out, len, "%s", de->d_name + 6);
	closedir(d);
}

static int write_marker(void)
{
	char path[PATH_MAX], name[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", ctl.bpffs, SL_PIN_PROGS_DIR);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "build-", 6) || !strcmp(de->d_name + 6, dp_build))
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", ctl.bpffs, SL_PIN_PROGS_DIR, de->d_name);
		rmdir(path);
	}
	closedir(d);
	snprintf(name, sizeof(name), "build-%s", dp_build);
	pin_path(path, sizeof(path), SL_PIN_PROGS_DIR, name);
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		pr_warn("couldn't write build marker %s: %s\n", path, strerror(errno));
		return -errno;
	}
	return 0;
}

static bool is_cgroup_prog(enum bpf_prog_type t)
{
	return t == BPF_PROG_TYPE_CGROUP_SOCK_ADDR || t == BPF_PROG_TYPE_CGROUP_SOCK ||
	       t == BPF_PROG_TYPE_CGROUP_SOCKOPT || t == BPF_PROG_TYPE_SOCK_OPS ||
	       t == BPF_PROG_TYPE_CGROUP_SKB;
}

static int open_object(const struct dp_object *o, struct bpf_object **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = o->name, .pin_root_path = ctl.bpffs);
	struct bpf_object *obj;
	const void *b;
	size_t sz;
	int ret;

	b = o->bytes(&sz);
	obj = bpf_object__open_mem(b, sz, &opts);
	if (!obj) {
		ret = -errno;
		pr_warn("couldn't open BPF object %s: %s\n", o->name, strerror(-ret));
		return ret;
	}
	*out = obj;
	return 0;
}

/* Size every pinned-by-name map like its pin when there is one (a reused
 * map must match exactly), else as the flags say. Only the runtime-sized
 * parts follow the pin: max_entries, and the Maglev table size (a ring
 * buffer's size is its max_entries); any other difference was a new layout
 * and set_aside_incompatible() already replaced that pin. Returns 0 or
 * -errno. */
static int size_maps(struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj)
	{
		const char *name = bpf_map__name(map);
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		int fd;

		if (strncmp(name, "sluice_", 7))
			continue;
		fd = ctl_map_fd(name);
		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len)) {
			if (bpf_map__type(map) == BPF_MAP_TYPE_RINGBUF ||
			    bpf_map__max_entries(map) != info.max_entries)
				bpf_map__set_max_entries(map, info.max_entries);
			if (!strcmp(name, SL_MAP_MAGLEV) &&
			    bpf_map__value_size(map) != info.value_size)
				bpf_map__set_value_size(map, info.value_size);
			continue;
		}
		if (!strcmp(name, SL_MAP_CT))
			bpf_map__set_max_entries(map, ctl.ct_max);
		else if (!strcmp(name, SL_MAP_MAGLEV))
			bpf_map__set_value_size(map, SL_MAGLEV_VALUE_SIZE(ctl.maglev_size));
	}
	return 0;
}

/* Set a const volatile knob by name; objects that do not have it are fine. */
static void set_knob(struct bpf_object *obj, const char *name, const void *val, size_t size)
{
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	struct bpf_map *rodata;
	struct btf *btf = bpf_object__btf(obj);
	size_t data_sz;
	char *data;
	int id;

	rodata = bpf_object__find_map_by_name(obj, ".rodata");
	if (!btf || !rodata)
		return;
	/* Writable until load (the skeletons write their rodata there too). */
	data = (char *)bpf_map__initial_value(rodata, &data_sz);
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (!data || id < 0)
		return;
	sec = btf__type_by_id(btf, id);
	vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, var->name_off), name))
			continue;
		if (vs->size != size || vs->offset + size > data_sz) {
			pr_warn("%s: knob %s is %u bytes, expected %zu\n", bpf_object__name(obj),
				name, vs->size, size);
			return;
		}
		memcpy(data + vs->offset, val, size);
		return;
	}
	pr_debug("%s: no knob %s\n", bpf_object__name(obj), name);
}

/* Pin fd at <dir>/<name> atomically: pin under a temporary name, rename
 * over the old pin (so the name never disappears). bpffs refuses names with a dot;
 * program names are C identifiers, so "new-" never clashes. */
static int pin_atomic(int fd, const char *dir, const char *name)
{
	char tmp[PATH_MAX], final[PATH_MAX], tname[NAME_MAX];
	int ret;

	snprintf(tname, sizeof(tname), "new-%s", name);
	if (pin_path(tmp, sizeof(tmp), dir, tname) || pin_path(final, sizeof(final), dir, name))
		return -ENAMETOOLONG;
	unlink(tmp);
	if (bpf_obj_pin(fd, tmp) < 0) {
		ret = -errno;
		pr_warn("couldn't pin %s: %s\n", tmp, strerror(errno));
		return ret;
	}
	if (rename(tmp, final) < 0) {
		ret = -errno;
		pr_warn("couldn't rename %s to %s: %s\n", tmp, final, strerror(errno));
		unlink(tmp);
		return ret;
	}
	return 0;
}

static __u32 fd_prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static int find_cgroup(void)
{
	static char found[PATH_MAX];
	char dev[256], mnt[PATH_MAX], type[64];
	FILE *f;

	if (ctl.cgroup)
		goto open;
	f = fopen("/proc/mounts", "re");
	if (!f) {
		pr_warn("couldn't read /proc/mounts: %s\n", strerror(errno));
		return -errno;
	}
	while (fscanf(f, "%255s %4095s %63s %*[^\n]\n", dev, mnt, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			snprintf(found, sizeof(found), "%s", mnt);
			ctl.cgroup = found;
			break;
		}
	}
	fclose(f);
	if (!ctl.cgroup) {
		pr_warn("no cgroup2 mount in /proc/mounts; pass --cgroup DIR\n");
		return -ENOENT;
	}
open:
	cg_fd = open(ctl.cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0) {
		pr_warn("couldn't open cgroup %s: %s\n", ctl.cgroup, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Make links/<name> attach prog_fd to our cgroup: keep it when it already
 * does, swap the program in place when it runs another, recreate it when it
 * is on another cgroup. Returns 0 or -errno. */
static int ensure_link(const char *name, int prog_fd, enum bpf_attach_type type)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	struct stat cg_st;
	int fd, ret;

	if (pin_path(path, sizeof(path), SL_PIN_LINKS_DIR, name))
		return -ENAMETOOLONG;
	if (fstat(cg_fd, &cg_st) < 0)
		return -errno;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_LINK_TYPE_CGROUP &&
		    info.cgroup.cgroup_id == cg_st.st_ino && info.cgroup.attach_type == type) {
			ret = 0;
			if (info.prog_id != fd_prog_id(prog_fd)) {
				ret = bpf_link_update(fd, prog_fd, NULL);
				if (ret < 0) {
					ret = -errno;
					pr_warn("couldn't update link %s: %s\n", path,
						strerror(errno));
				} else {
					pr_info("link %s now runs the new program\n", path);
				}
			}
			close(fd);
			return ret;
		}
		/* Attached elsewhere (another --cgroup): the old attachment
		 * goes when its pin and our fd are gone. */
		pr_info("link %s is on another cgroup or hook: replacing it\n", path);
		unlink(path);
		close(fd);
	}
	fd = bpf_link_create(prog_fd, cg_fd, type, NULL);
	if (fd < 0) {
		ret = -errno;
		pr_warn("couldn't attach %s to cgroup %s: %s\n", name, ctl.cgroup, strerror(errno));
		return ret;
	}
	ret = pin_atomic(fd, SL_PIN_LINKS_DIR, name);
	close(fd);
	return ret;
}

/* True when every program of the objects is pinned. */
static bool progs_pinned(struct bpf_object **objs)
{
	char path[PATH_MAX];
	struct bpf_program *p;

	for (size_t i = 0; i < N_OBJECTS; i++) {
		bpf_object__for_each_program(p, objs[i])
		{
			if (pin_path(path, sizeof(path), SL_PIN_PROGS_DIR, bpf_program__name(p)) ||
			    access(path, F_OK))
				return false;
		}
	}
	return true;
}

static int attach_cgroup_progs(struct bpf_object **objs, bool loaded)
{
	char path[PATH_MAX];
	struct bpf_program *p;
	int ret;

	for (size_t i = 0; i < N_OBJECTS; i++) {
		bpf_object__for_each_program(p, objs[i])
		{
			const char *name = bpf_program__name(p);
			int fd;

			if (!is_cgroup_prog(bpf_program__type(p)))
				continue;
			if (cg_fd < 0) {
				ret = find_cgroup();
				if (ret)
					return ret;
			}
			if (loaded) {
				fd = dup(bpf_program__fd(p));
			} else {
				pin_path(path, sizeof(path), SL_PIN_PROGS_DIR, name);
				fd = bpf_obj_get(path);
			}
			if (fd < 0) {
				ret = -errno;
				pr_warn("no fd for program %s: %s\n", name, strerror(errno));
				return ret;
			}
			ret = ensure_link(name, fd, bpf_program__expected_attach_type(p));
			close(fd);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static bool defined_prog(struct bpf_object **objs, const char *name)
{
	for (size_t i = 0; i < N_OBJECTS; i++)
		if (bpf_object__find_program_by_name(objs[i], name))
			return true;
	return false;
}

/* After an upgrade: pins of programs the new build no longer has. A link
 * pin going away detaches its hook; a program pin only frees memory (no
 * veth uses a program the objects do not define). */
static void remove_orphan_pins(struct bpf_object **objs)
{
	static const char *dirs[] = {SL_PIN_PROGS_DIR, SL_PIN_LINKS_DIR};
	char path[PATH_MAX];
	struct dirent *de;

	for (size_t i = 0; i < 2; i++) {
		DIR *d;

		snprintf(path, sizeof(path), "%s/%s", ctl.bpffs, dirs[i]);
		d = opendir(path);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' || !strncmp(de->d_name, "build-", 6) ||
			    defined_prog(objs, de->d_name))
				continue;
			pin_path(path, sizeof(path), dirs[i], de->d_name);
			if (unlink(path) == 0)
				pr_info("removed %s: not part of this build\n", path);
		}
		closedir(d);
	}
}

static int load_objects(struct bpf_object **objs)
{
	struct bpf_program *p;
	int ret;

	for (size_t i = 0; i < N_OBJECTS; i++) {
		struct bpf_object *obj = objs[i];

		ret = size_maps(obj);
		if (ret)
			return ret;
		set_knob(obj, "maglev_m", &knob_maglev_m, sizeof(knob_maglev_m));
		set_knob(obj, "node_netns_cookie", &knob_netns_cookie, sizeof(knob_netns_cookie));
		ret = bpf_object__load(obj);
		if (ret) {
			pr_warn(
			    "couldn't load BPF object %s: %s (run with -vv for the verifier log)\n",
			    dp_objects[i].name, strerror(-ret));
			return ret;
		}
		bpf_object__for_each_program(p, obj)
		{
			ret =
			    pin_atomic(bpf_program__fd(p), SL_PIN_PROGS_DIR, bpf_program__name(p));
			if (ret)
				return ret;
		}
		pr_info("loaded %s\n", dp_objects[i].name);
	}
	return 0;
}

/* An upgrade's load: maps of another layout set aside first (restored at
 * once when the load fails; else kept until datapath_commit() or
 * datapath_abort()), then every object loaded and its programs pinned. */
static int load_and_pin(struct bpf_object **objs)
{
	int ret = set_aside_incompatible(objs, N_OBJECTS);

	if (!ret)
		ret = load_objects(objs);
	if (ret && n_replaced)
		finish_set_aside(false);
	return ret;
}

int datapath_init(void)
{
	struct bpf_object **objs = dp_objs;
	char marker[64], path[PATH_MAX];
	size_t i;
	int ret;

	if (N_OBJECTS == 0) {
		pr_warn("this sluiced was built without any datapath object\n");
		return -ENOENT;
	}
	ret = ensure_bpffs();
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/%s", ctl.bpffs, SL_PIN_PROGS_DIR);
	if ((ret = mkdir_p(path, 0700)))
		return ret;
	snprintf(path, sizeof(path), "%s/%s", ctl.bpffs, SL_PIN_LINKS_DIR);
	if ((ret = mkdir_p(path, 0700)))
		return ret;
	ret = netns_cookie(&knob_netns_cookie);
	if (ret)
		return ret;

	/* A pinned Maglev table fixes M: the services module and the programs
	 * must agree with the map that holds the tables. */
	{
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		int fd = ctl_map_fd(SL_MAP_MAGLEV);

		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    info.value_size / 4 != ctl.maglev_size) {
			pr_warn("--maglev-size %u ignored: the pinned %s holds tables of %u\n",
				ctl.maglev_size, SL_MAP_MAGLEV, info.value_size / 4);
			ctl.maglev_size = info.value_size / 4;
		}
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		fd = ctl_map_fd(SL_MAP_CT);
		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    info.max_entries != ctl.ct_max) {
			pr_info("--ct-max %u ignored: the pinned %s has %u entries\n", ctl.ct_max,
				SL_MAP_CT, info.max_entries);
			ctl.ct_max = info.max_entries;
		}
	}
	knob_maglev_m = ctl.maglev_size;
	compute_build_id();
	dp_loaded_new = dp_pending = false;
	close_objects();

	for (i = 0; i < N_OBJECTS; i++) {
		ret = open_object(&dp_objects[i], &objs[i]);
		if (ret)
			goto out;
	}
	read_marker(marker, sizeof(marker));
	if (!strcmp(marker, dp_build) && progs_pinned(objs)) {
		pr_info("datapath build %s already pinned under %s: reusing it\n", dp_build,
			ctl.bpffs);
	} else {
		if (marker[0]) {
			pr_info("upgrading the datapath from build %s to %s\n", marker, dp_build);
			remove_markers();
		}
		ret = load_and_pin(objs);
		if (ret)
			goto out;
		dp_loaded_new = dp_pending = true;
	}
	/* The cgroup hooks are attached by datapath_commit(): new programs
	 * must not run before the maps they read are filled again. */
	return 0;
out:
	close_objects();
	return ret;
}

static int reattach_one(const struct endpoint *ep, void *arg)
{
	char name[IF_NAMESIZE];
	int *failed = arg;

	/* The ifindex may have been reused by another link since the record
	 * was written: only touch the veth the record names. */
	if (!if_indextoname(ep->host_ifindex, name) || strcmp(name, ep->host_ifname)) {
		pr_info("endpoint %s/%s: host veth %s (ifindex %u) is gone; not re-attaching\n",
			ep->container_id, ep->ifname, ep->host_ifname, ep->host_ifindex);
		return 0;
	}
	if (datapath_attach_veth(ep->host_ifindex, ep->host_ifname))
		(*failed)++;
	return 0;
}

int datapath_commit(void)
{
	int failed = 0, ret;

	if (!dp_objs[0]) {
		pr_warn("datapath_commit() without a datapath_init()\n");
		return -EINVAL;
	}
	/* Socket hooks first: when one cannot be attached the veths still
	 * run the previous build and datapath_abort() rolls back (a link
	 * already moved keeps the new program until the next start, which
	 * loads again: the marker is gone). */
	ret = attach_cgroup_progs(dp_objs, dp_loaded_new);
	if (ret)
		return ret;
	if (dp_loaded_new) {
		/* Some hooks run the new programs now: no way back. */
		dp_pending = false;
		if (n_replaced)
			finish_set_aside(true);
		remove_orphan_pins(dp_objs);
	}
	/* Every start: new programs, or a new --attach mode, reach the pods
	 * already there (a veth that runs the pinned programs through the
	 * chosen interface is left alone). */
	endpoints_foreach(reattach_one, &failed);
	close_objects();
	if (failed) {
		/* After an upgrade no marker: the next start loads again. */
		pr_warn("%d endpoints still run the previous programs\n", failed);
		return 0;
	}
	return write_marker();
}

void datapath_abort(void)
{
	if (dp_pending) {
		pr_warn("start failed before the new programs were attached: the previous "
			"programs keep running\n");
		if (n_replaced)
			finish_set_aside(false);
		remove_markers();
		dp_pending = false;
	}
	close_objects();
}

void datapath_fini(void)
{
	close_objects();
	for (int i = 0; i < n_cached; i++)
		close(map_cache[i].fd);
	n_cached = 0;
	if (cg_fd >= 0)
		close(cg_fd);
	cg_fd = -1;
}

int datapath_foreach_map(int (*fn)(const char *name, int fd, void *arg), void *arg)
{
	struct dirent *de;
	DIR *d;
	int ret = 0;

	d = opendir(ctl.bpffs);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		int fd;

		if (strncmp(de->d_name, "sluice_", 7))
			continue;
		fd = ctl_map_fd(de->d_name);
		if (fd < 0)
			continue;
		ret = fn(de->d_name, fd, arg);
		if (ret)
			break;
	}
	closedir(d);
	return ret;
}
