// SPDX-License-Identifier: Apache-2.0
/* The pod programs on the host veths: attached again when an upgrade
 * pinned new ones, and shown live in endpoint.get (which program, through
 * tcx or tc, and whether it is the pinned one). */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include <sluice/common.h>

#include "attach.h"
#include "core.h"
#include "ctl.h"
#include "log.h"

static const struct {
	const char *prog;
	bool ingress;
} hooks[] = {{"from_pod", true}, {"to_pod", false}};

/* An fd of the pinned program name, or -errno. */
static int pinned_prog(const char *name)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s/%s", ctl.bpffs, SL_PIN_PROGS_DIR, name);

	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	n = bpf_obj_get(path);
	return n < 0 ? -errno : n;
}

int datapath_attach_veth(uint32_t ifindex, const char *ifname)
{
	for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		const char *what = "";
		int fd = pinned_prog(hooks[i].prog), ret;

		if (fd < 0) {
			pr_warn("couldn't open the pinned program %s: %s\n", hooks[i].prog,
				strerror(-fd));
			return fd;
		}
		ret = sl_attach((int)ifindex, hooks[i].ingress, fd, ctl.attach_mode, &what);
		close(fd);
		if (ret) {
			pr_warn("couldn't attach %s to %s through %s: couldn't %s: %s\n",
				hooks[i].prog, ifname, sl_attach_mode_name(ctl.attach_mode), what,
				strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* The id of the pinned program name, 0 when it cannot be read. */
static uint32_t pinned_id(const char *name)
{
	struct bpf_prog_info info = {0};
	uint32_t len = sizeof(info);
	int fd = pinned_prog(name);

	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.id = 0;
	close(fd);
	return info.id;
}

json_t *datapath_veth_json(uint32_t ifindex, const char *ifname)
{
	char name[IF_NAMESIZE];
	json_t *o;

	/* The ifindex may name another link by now (see reattach_one). */
	if (!if_indextoname(ifindex, name) || strcmp(name, ifname))
		return NULL;
	o = json_object();
	for (size_t i = 0; o && i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		enum sl_attach_mode mode;
		uint32_t id = 0;
		json_t *h = json_null();

		if (sl_attached((int)ifindex, hooks[i].ingress, hooks[i].prog, &id, &mode) > 0)
			h = json_pack("{s:s,s:I,s:s,s:b}", "program", hooks[i].prog, "id",
				      (json_int_t)id, "via", sl_attach_mode_name(mode), "current",
				      id == pinned_id(hooks[i].prog));
		if (json_object_set_new(o, hooks[i].ingress ? "ingress" : "egress", h)) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}
