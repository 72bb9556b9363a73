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

static const struct {
	const char *prog;
	bool ingress;
} progs[] = {
    {"from_pod", true}, /* packets the pod sends */
    {"to_pod", false},  /* packets towards the pod */
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

int cni_tc_attach(int ifindex, const char *bpffs, enum sl_attach_mode mode, struct cni_err *e)
{
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		const char *what = "";
		int fd = prog_get(bpffs, progs[i].prog, e), err;

		if (fd < 0)
			return fd;
		err = sl_attach(ifindex, progs[i].ingress, fd, mode, &what);
		close(fd);
		if (err)
			return cni_fail(e, SL_CNI_ERR_DATAPATH, err,
					"couldn't attach %s to ifindex %d (%s %s): couldn't %s",
					progs[i].prog, ifindex, sl_attach_mode_name(mode),
					progs[i].ingress ? "ingress" : "egress", what);
	}
	return 0;
}

int cni_tc_check(int ifindex, const char *bpffs, struct cni_err *e)
{
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		const char *dir = progs[i].ingress ? "ingress" : "egress";
		struct bpf_prog_info info = {0};
		enum sl_attach_mode mode;
		__u32 len = sizeof(info), id = 0;
		int fd = prog_get(bpffs, progs[i].prog, e), err;

		if (fd < 0)
			return fd;
		err = bpf_obj_get_info_by_fd(fd, &info, &len);
		close(fd);
		if (err)
			return cni_fail(e, SL_CNI_ERR_DATAPATH, -errno, "couldn't read info of %s",
					progs[i].prog);
		err = sl_attached(ifindex, progs[i].ingress, progs[i].prog, &id, &mode);
		if (err < 0)
			return cni_fail(e, SL_CNI_ERR_CHECK, err,
					"couldn't list the programs at %s of ifindex %d", dir,
					ifindex);
		if (!err) {
			cni_fail(e, SL_CNI_ERR_CHECK, 0,
				 "%s is not attached at %s of ifindex %d (neither tcx nor tc)",
				 progs[i].prog, dir, ifindex);
			return 0;
		}
		if (id != info.id) {
			cni_fail(e, SL_CNI_ERR_CHECK, 0,
				 "%s %s of ifindex %d runs program id %u, not the pinned %s (id %u)",
				 sl_attach_mode_name(mode), dir, ifindex, id, progs[i].prog,
				 info.id);
			return 0;
		}
	}
	return 1;
}
