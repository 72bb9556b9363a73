// SPDX-License-Identifier: Apache-2.0
/* Attaching the datapath sluiced loaded and pinned: an ADD gets the program
 * fds from bpffs, so the verifier never runs per pod. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <sluice/common.h>

#include "cni.h"

/* Filters use SL_TC_HANDLE/SL_TC_PRIORITY (sluice/common.h): fixed, so
 * CHECK and sluiced's re-attach on upgrade find them. */

static const struct {
	const char *prog;
	enum bpf_tc_attach_point where;
} progs[] = {
    {"from_pod", BPF_TC_INGRESS}, /* packets the pod sends */
    {"to_pod", BPF_TC_EGRESS},	  /* packets towards the pod */
};

static int prog_get(const char *bpffs, const char *name, struct cni_err *e)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", bpffs, SL_PIN_PROGS_DIR, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return cni_fail(e, SL_CNI_ERR_DATAPATH, -errno,
				"datapath not loaded: couldn't open pinned program %s (is sluiced "
				"running with --bpffs %s?)",
				path, bpffs);
	return fd;
}

int cni_tc_attach(int ifindex, const char *bpffs, struct cni_err *e)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	int err;

	/* One clsact qdisc serves both directions. */
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return cni_fail(e, SL_CNI_ERR_DATAPATH, err,
				"couldn't create the clsact qdisc on ifindex %d", ifindex);
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		int fd = prog_get(bpffs, progs[i].prog, e);

		if (fd < 0)
			return fd;
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SL_TC_HANDLE, .priority = SL_TC_PRIORITY,
			    .prog_fd = fd, .flags = BPF_TC_F_REPLACE);
		hook.attach_point = progs[i].where;
		err = bpf_tc_attach(&hook, &opts);
		close(fd);
		if (err)
			return cni_fail(e, SL_CNI_ERR_DATAPATH, err,
					"couldn't attach %s to ifindex %d", progs[i].prog, ifindex);
	}
	return 0;
}

int cni_tc_check(int ifindex, const char *bpffs, struct cni_err *e)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex);

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		struct bpf_prog_info info = {0};
		__u32 len = sizeof(info);
		int fd = prog_get(bpffs, progs[i].prog, e), err;

		if (fd < 0)
			return fd;
		err = bpf_obj_get_info_by_fd(fd, &info, &len);
		close(fd);
		if (err)
			return cni_fail(e, SL_CNI_ERR_DATAPATH, -errno, "couldn't read info of %s",
					progs[i].prog);
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SL_TC_HANDLE, .priority = SL_TC_PRIORITY);
		hook.attach_point = progs[i].where;
		err = bpf_tc_query(&hook, &opts);
		if (err) {
			cni_fail(e, SL_CNI_ERR_CHECK, err,
				 "%s is not attached at tc %s of ifindex %d", progs[i].prog,
				 progs[i].where == BPF_TC_INGRESS ? "ingress" : "egress", ifindex);
			return 0;
		}
		if (opts.prog_id != info.id) {
			cni_fail(
			    e, SL_CNI_ERR_CHECK, 0,
			    "tc %s of ifindex %d runs program id %u, not the pinned %s (id %u)",
			    progs[i].where == BPF_TC_INGRESS ? "ingress" : "egress", ifindex,
			    opts.prog_id, progs[i].prog, info.id);
			return 0;
		}
	}
	return 1;
}
