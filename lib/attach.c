// SPDX-License-Identifier: Apache-2.0
/* Attaching the pod programs through tcx or tc (attach.h). tcx is driven by
 * raw bpf(2) calls: Debian 12's libbpf (1.1) predates it, and its wrappers
 * size the attributes for the older layout. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <sluice/common.h>

#include "attach.h"

/* From the kernel's uapi (6.6+), absent from older headers. */
#define SL_BPF_TCX_INGRESS 46
#define SL_BPF_TCX_EGRESS  47

/* BPF_PROG_ATTACH / BPF_PROG_DETACH attributes as of 6.6 (tcx fields last). */
struct tcx_attach_attr {
	uint32_t target_ifindex;
	uint32_t attach_bpf_fd;
	uint32_t attach_type;
	uint32_t attach_flags;
	uint32_t replace_bpf_fd;
	uint32_t relative_fd;
	uint64_t expected_revision;
};

/* BPF_PROG_QUERY attributes as of 6.6. */
struct tcx_query_attr {
	uint32_t target_ifindex;
	uint32_t attach_type;
	uint32_t query_flags;
	uint32_t attach_flags;
	uint64_t prog_ids;
	uint32_t prog_cnt;
	uint32_t pad;
	uint64_t prog_attach_flags;
	uint64_t link_ids;
	uint64_t link_attach_flags;
	uint64_t revision;
};

/* Programs one tcx hook lists at most (ours and whatever else is there). */
#define TCX_MAX_PROGS 64

static long sys_bpf(int cmd, void *attr, unsigned int size)
{
	long r = syscall(__NR_bpf, cmd, attr, size);

	return r < 0 ? -errno : r;
}

static uint32_t tcx_type(bool ingress)
{
	return ingress ? SL_BPF_TCX_INGRESS : SL_BPF_TCX_EGRESS;
}

const char *sl_attach_mode_name(enum sl_attach_mode m)
{
	return m == SL_ATTACH_TCX ? "tcx" : "tc";
}

int sl_attach_mode_parse(const char *s, enum sl_attach_mode *m)
{
	if (!strcmp(s, "tc"))
		*m = SL_ATTACH_TC;
	else if (!strcmp(s, "tcx"))
		*m = SL_ATTACH_TCX;
	else
		return -EINVAL;
	return 0;
}

/* The ids of the programs at ifindex's tcx hook: their count, or -errno
 * (-EINVAL: the kernel has no tcx). */
static int tcx_query(int ifindex, bool ingress, uint32_t *ids, uint32_t max)
{
	struct tcx_query_attr a = {
		.target_ifindex = (uint32_t)ifindex,
		.attach_type = tcx_type(ingress),
		.prog_ids = (uint64_t)(uintptr_t)ids,
		.prog_cnt = max,
	};
	long r = sys_bpf(BPF_PROG_QUERY, &a, sizeof(a));

	return r < 0 ? (int)r : (int)(a.prog_cnt < max ? a.prog_cnt : max);
}

bool sl_tcx_supported(void)
{
	uint32_t ids[1];

	return tcx_query(1 /* lo, in every netns */, true, ids, 1) >= 0;
}

/* Name and id of program fd. 0 or -errno. */
static int prog_name_id(int fd, char name[BPF_OBJ_NAME_LEN], uint32_t *id)
{
	struct bpf_prog_info info = {0};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	memcpy(name, info.name, BPF_OBJ_NAME_LEN);
	name[BPF_OBJ_NAME_LEN - 1] = 0;
	*id = info.id;
	return 0;
}

/* The program called name at ifindex's tcx hook: 1 with *id (and *fd, an
 * open fd of it, when fd is not NULL), 0 when there is none, or -errno. */
static int tcx_find(int ifindex, bool ingress, const char *name, uint32_t *id, int *fd)
{
	uint32_t ids[TCX_MAX_PROGS];
	int n = tcx_query(ifindex, ingress, ids, TCX_MAX_PROGS);

	for (int i = 0; i < n; i++) {
		char pname[BPF_OBJ_NAME_LEN];
		uint32_t pid;
		int pfd = bpf_prog_get_fd_by_id(ids[i]);

		if (pfd < 0)
			continue; /* detached meanwhile */
		if (!prog_name_id(pfd, pname, &pid) && !strcmp(pname, name)) {
			*id = pid;
			if (fd)
				*fd = pfd;
			else
				close(pfd);
			return 1;
		}
		close(pfd);
	}
	return n < 0 ? n : 0;
}

/* Our tc filter at ifindex's ingress or egress: 1 with *id, 0 when there
 * is none (nor a clsact qdisc), or -errno. */
static int tc_find(int ifindex, bool ingress, uint32_t *id)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SL_TC_HANDLE, .priority = SL_TC_PRIORITY);
	int err = bpf_tc_query(&hook, &opts);

	if (err == -ENOENT || err == -EINVAL)
		return 0;
	if (err)
		return err;
	*id = opts.prog_id;
	return 1;
}

static int tc_attach(int ifindex, bool ingress, int prog_fd, uint32_t prog_id,
		     const char **what)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SL_TC_HANDLE, .priority = SL_TC_PRIORITY,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	uint32_t id;
	int err;

	/* Already there: a replace would be a no-op, but needs no doing. */
	if (tc_find(ifindex, ingress, &id) > 0 && id == prog_id)
		return 0;
	/* One clsact qdisc serves both directions. */
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		*what = "create the clsact qdisc";
		return err;
	}
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		*what = "attach the tc filter";
	return err;
}

/* Removes our tc filter, if any (a program moved to tcx). */
static int tc_detach(int ifindex, bool ingress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SL_TC_HANDLE, .priority = SL_TC_PRIORITY);
	uint32_t id;
	int r = tc_find(ifindex, ingress, &id);

	if (r <= 0)
		return r;
	r = bpf_tc_detach(&hook, &opts);
	return r == -ENOENT ? 0 : r;
}

static int tcx_attach(int ifindex, bool ingress, int prog_fd, const char *name, uint32_t id,
		      const char **what)
{
	struct tcx_attach_attr a = {
		.target_ifindex = (uint32_t)ifindex,
		.attach_bpf_fd = (uint32_t)prog_fd,
		.attach_type = tcx_type(ingress),
	};
	uint32_t old_id;
	int old_fd = -1, r;

	r = tcx_find(ifindex, ingress, name, &old_id, &old_fd);
	if (r < 0) {
		*what = "list the tcx programs";
		return r;
	}
	if (r && old_id == id) {
		close(old_fd);
		return 0;
	}
	if (r) {
		/* An earlier version of ours: swapped in place, no gap. */
		a.attach_flags = BPF_F_REPLACE;
		a.replace_bpf_fd = (uint32_t)old_fd;
	}
	r = (int)sys_bpf(BPF_PROG_ATTACH, &a, sizeof(a));
	if (old_fd >= 0)
		close(old_fd);
	if (r < 0)
		*what = "attach through tcx";
	return r < 0 ? r : 0;
}

/* Removes the program called name from ifindex's tcx hook, if there. */
static int tcx_detach(int ifindex, bool ingress, const char *name)
{
	struct tcx_attach_attr a = {
		.target_ifindex = (uint32_t)ifindex,
		.attach_type = tcx_type(ingress),
	};
	uint32_t id;
	int fd = -1, r = tcx_find(ifindex, ingress, name, &id, &fd);

	if (r == -EINVAL)
		return 0; /* no tcx in this kernel: nothing can be there */
	if (r <= 0)
		return r;
	a.attach_bpf_fd = (uint32_t)fd;
	r = (int)sys_bpf(BPF_PROG_DETACH, &a, sizeof(a));
	close(fd);
	return r == -ENOENT ? 0 : r;
}

int sl_attach(int ifindex, bool ingress, int prog_fd, enum sl_attach_mode mode,
	      const char **what)
{
	const char *dummy;
	char name[BPF_OBJ_NAME_LEN];
	uint32_t id;
	int err;

	if (!what)
		what = &dummy;
	*what = "read the program's name";
	err = prog_name_id(prog_fd, name, &id);
	if (err)
		return err;
	/* The new hook first, then the other one emptied: the packets never
	 * see neither (tcx runs before tc and decides, so while both hold a
	 * program only the tcx one acts). */
	if (mode == SL_ATTACH_TCX) {
		err = tcx_attach(ifindex, ingress, prog_fd, name, id, what);
		if (!err && (err = tc_detach(ifindex, ingress)))
			*what = "remove the tc filter";
	} else {
		err = tc_attach(ifindex, ingress, prog_fd, id, what);
		if (!err && (err = tcx_detach(ifindex, ingress, name)))
			*what = "remove the tcx program";
	}
	return err;
}

int sl_attached(int ifindex, bool ingress, const char *name, uint32_t *id,
		enum sl_attach_mode *mode)
{
	int r = tcx_find(ifindex, ingress, name, id, NULL);

	if (r > 0) {
		*mode = SL_ATTACH_TCX;
		return 1;
	}
	if (r < 0 && r != -EINVAL)
		return r;
	r = tc_find(ifindex, ingress, id);
	if (r > 0)
		*mode = SL_ATTACH_TC;
	return r;
}
