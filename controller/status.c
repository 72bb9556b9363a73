// SPDX-License-Identifier: Apache-2.0
/* The "config" and "status" requests. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>

#include "addr.h"
#include "core.h"
#include "ctl.h"
#include "requests.h"
#include "identity.h"
#include "store.h"

static json_t *cidr_json(const struct sl_cidr *c)
{
	char buf[SL_ADDR_STRLEN + 4];

	return json_string(sl_cidr_str(c, buf, sizeof(buf)));
}

static int req_config(const json_t *req, json_t *reply, char *err, size_t errlen)
{
	(void)req;
	if (json_object_set_new(reply, "nodeName", json_string(ctl.node_name)) ||
	    json_object_set_new(reply, "podCIDR",
				ctl.have_pod_cidr ? cidr_json(&ctl.pod_cidr) : json_null()) ||
	    json_object_set_new(reply, "clusterCIDR", cidr_json(&ctl.cluster_cidr)) ||
	    json_object_set_new(reply, "serviceCIDR", cidr_json(&ctl.service_cidr)) ||
	    json_object_set_new(reply, "bpffs", json_string(ctl.bpffs)) ||
	    json_object_set_new(reply, "stateDir", json_string(ctl.state_dir)) ||
	    json_object_set_new(reply, "attach",
				json_string(sl_attach_mode_name(ctl.attach_mode)))) {
		snprintf(err, errlen, "config: out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* Count a map's entries by walking its keys. Per-CPU and array maps
 * report their fixed size. Returns the count or -errno. */
static long map_count(int fd, const struct bpf_map_info *info)
{
	char key[512], next[512];
	long n = 0;
	void *prev = NULL;

	if (info->type == BPF_MAP_TYPE_ARRAY || info->type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	    info->type == BPF_MAP_TYPE_PROG_ARRAY)
		return info->max_entries;
	if (info->type == BPF_MAP_TYPE_RINGBUF || info->type == BPF_MAP_TYPE_PERF_EVENT_ARRAY ||
	    info->key_size > sizeof(key))
		return -EOPNOTSUPP;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, info->key_size);
		prev = key;
		if (++n > (long)info->max_entries)
			break; /* entries churn under us: good enough */
	}
	return n;
}

static int add_map(const char *name, int fd, void *arg)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	json_t *maps = arg, *m;
	long n;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	n = map_count(fd, &info);
	m = json_pack("{s:I,s:I}", "entries", (json_int_t)(n < 0 ? 0 : n), "max",
		      (json_int_t)info.max_entries);
	if (!m || json_object_set_new(maps, name, m))
		return -ENOMEM;
	return 0;
}

static int req_status(const json_t *req, json_t *reply, char *err, size_t errlen)
{
	static const char *kinds[] = {"Namespace", "Pod",	    "Node",
				      "Service",   "EndpointSlice", "NetworkPolicy"};
	json_t *st = json_object(), *objects = json_object(), *maps = json_object();
	size_t identities = 0;
	int ret = -ENOMEM;

	(void)req;
	if (!st || !objects || !maps)
		goto fail;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (json_object_set_new(objects, kinds[i],
					json_integer(store_count(kinds[i]))))
			goto fail;
	identities = identity_count();
	ret = datapath_foreach_map(add_map, maps);
	if (ret)
		goto fail;
	ret = -ENOMEM;
	if (json_object_set_new(st, "ready", json_boolean(ctl_ready)) ||
	    json_object_set_new(st, "nodeName", json_string(ctl.node_name)) ||
	    json_object_set_new(st, "podCIDR",
				ctl.have_pod_cidr ? cidr_json(&ctl.pod_cidr) : json_null()) ||
	    json_object_set(st, "objects", objects) ||
	    json_object_set_new(st, "endpoints", json_integer(endpoints_count())) ||
	    json_object_set_new(st, "identities", json_integer(identities)) ||
	    json_object_set(st, "maps", maps) ||
	    json_object_set_new(st, "uptimeSeconds", json_integer(time(NULL) - ctl_start_time)) ||
	    json_object_set_new(st, "version", json_string(SL_VERSION)) ||
	    json_object_set_new(st, "attach", json_string(sl_attach_mode_name(ctl.attach_mode))) ||
	    json_object_set(reply, "status", st))
		goto fail;
	ret = 0;
fail:
	if (ret)
		snprintf(err, errlen, "status: %s", strerror(-ret));
	json_decref(objects);
	json_decref(maps);
	json_decref(st);
	return ret;
}

const struct request_handler status_requests[] = {
    {"config", req_config},
    {"status", req_status},
    {NULL, NULL},
};
