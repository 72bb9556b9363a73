// SPDX-License-Identifier: Apache-2.0
/* Endpoint registration (controller/endpoints.c) against real maps pinned in
 * a bpffs of the test's own under /run. Needs root (BPF, mount): fails
 * clearly without it. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <sluice/endpoint.h>
#include <sluice/ipcache.h>
#include <sluice/lb.h>
#include <sluice/metrics.h>

#include "../../controller/core.h"
#include "../../controller/ctl.h"
#include "../../controller/endpoints.h"

static char root[64], bpffs[96], state[96];

static void pin_map(const char *name, enum bpf_map_type type, size_t ks, size_t vs, __u32 max,
		    __u32 flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);
	char path[160];
	int fd = bpf_map_create(type, name, ks, vs, max, &o);

	cr_assert_geq(fd, 0, "creating map %s: %s (tests need root and BPF)", name,
		      strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", bpffs, name);
	cr_assert_eq(bpf_obj_pin(fd, path), 0, "pinning %s: %s", path, strerror(errno));
	close(fd);
}

static void setup(void)
{
	cr_assert_eq(geteuid(), 0, "this test needs root (bpffs mount, BPF maps)");
	snprintf(root, sizeof(root), "/run/sluice-ctl-ut-%d", getpid());
	snprintf(bpffs, sizeof(bpffs), "%s/bpf", root);
	snprintf(state, sizeof(state), "%s/state", root);
	mkdir(root, 0700);
	mkdir(bpffs, 0700);
	cr_assert_eq(mount("bpf", bpffs, "bpf", 0, "mode=0700"), 0, "mount bpffs on %s: %s", bpffs,
		     strerror(errno));
	pin_map(SL_MAP_EP, BPF_MAP_TYPE_HASH, sizeof(struct ep_key), sizeof(struct ep_info), 1024,
		0);
	pin_map(SL_MAP_EP_STATS, BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(struct ep_stats), 1024, 0);
	pin_map(SL_MAP_IPCACHE, BPF_MAP_TYPE_LPM_TRIE, sizeof(struct ipcache_key),
		sizeof(struct ipcache_val), 1024, BPF_F_NO_PREALLOC);
	pin_map(SL_MAP_LB_NETNS, BPF_MAP_TYPE_HASH, 8, 4, 1024, 0);
	pin_map(SL_MAP_EP_SLOTS, BPF_MAP_TYPE_ARRAY, 4, sizeof(struct ep_slot), SL_EP_SLOTS, 0);
	ctl.bpffs = bpffs;
	ctl.state_dir = state;
	ctl.node_name = "n1";
	cr_assert_eq(endpoints_init(), 0);
}

static void teardown(void)
{
	char cmd[256];

	endpoints_fini();
	datapath_fini();
	umount2(bpffs, MNT_DETACH);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd))
		fprintf(stderr, "couldn't remove %s\n", root);
}

TestSuite(endpoints, .init = setup, .fini = teardown);

/* Run a request; returns its result and the reply (caller decrefs). */
static int call(const char *json, json_t **reply, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *req = json_loads(json, 0, &jerr);
	int ret;

	cr_assert_not_null(req, "bad test JSON: %s", jerr.text);
	*reply = json_object();
	err[0] = 0;
	ret = requests_dispatch(req, *reply, err, errlen);
	json_decref(req);
	return ret;
}

static json_t *add_ok(const char *cid, const char *ip, const char *hostif, int ifindex)
{
	char buf[1024], err[512];
	json_t *reply;
	int ret;

	snprintf(buf, sizeof(buf),
		 "{\"request\":\"endpoint.add\",\"containerID\":\"%s\",\"ifname\":\"eth0\","
		 "\"namespace\":\"default\",\"pod\":\"pod-%s\",\"netns\":\"/run/netns/x\","
		 "\"ips\":[\"%s\"],\"mac\":\"02:00:00:00:00:05\",\"hostIfname\":\"%s\","
		 "\"hostIfindex\":%d,\"hostMac\":\"02:00:00:00:01:05\",\"netnsCookie\":77}",
		 cid, cid, ip, hostif, ifindex);
	ret = call(buf, &reply, err, sizeof(err));
	cr_assert_eq(ret, 0, "endpoint.add %s: %d (%s)", cid, ret, err);
	return reply;
}

static int ep_lookup(const char *ip, struct ep_info *out)
{
	struct ep_key k = {.family = SL_AF_INET};
	int fd = ctl_map_fd(SL_MAP_EP);

	{
		unsigned int a, b, c, d;

		sscanf(ip, "%u.%u.%u.%u", &a, &b, &c, &d);
		k.addr.b[0] = a, k.addr.b[1] = b, k.addr.b[2] = c, k.addr.b[3] = d;
	}
	return bpf_map_lookup_elem(fd, &k, out) ? -errno : 0;
}

/* The sluice_ep_slots slot of ip (dotted quad). */
static struct ep_slot slot_of(const char *ip)
{
	struct ep_slot v;
	struct in_addr a;
	__u32 idx;

	cr_assert_eq(inet_pton(AF_INET, ip, &a), 1);
	idx = SL_EP_SLOT(ntohl(a.s_addr));
	cr_assert_eq(bpf_map_lookup_elem(ctl_map_fd(SL_MAP_EP_SLOTS), &idx, &v), 0);
	return v;
}

/* Whether ip's slot holds ip with the value sluice_ep has for it. */
static bool slot_holds(const char *ip)
{
	struct ep_slot v = slot_of(ip);
	struct ep_info info;
	struct in_addr a;

	inet_pton(AF_INET, ip, &a);
	return v.addr == a.s_addr && v.info.ifindex && !ep_lookup(ip, &info) &&
	       !memcmp(&info, &v.info, sizeof(info));
}

/* Put counts in endpoint id's ep_stats slot, as the datapath would. */
static void stats_dirty_slot(__u32 id)
{
	int ncpu = libbpf_num_possible_cpus();
	struct ep_stats *v = calloc(ncpu, sizeof(*v));

	cr_assert_not_null(v);
	v[0].tx_packets = 3;
	v[0].drop_packets = 1;
	cr_assert_eq(bpf_map_update_elem(ctl_map_fd(SL_MAP_EP_STATS), &id, v, BPF_ANY), 0);
	free(v);
}

/* Whether endpoint id's ep_stats slot is all zero on every CPU. */
static bool stats_zero_slot(__u32 id)
{
	int ncpu = libbpf_num_possible_cpus();
	struct ep_stats *v = calloc(ncpu, sizeof(*v));
	bool zero = true;

	cr_assert_not_null(v);
	cr_assert_eq(bpf_map_lookup_elem(ctl_map_fd(SL_MAP_EP_STATS), &id, v), 0);
	for (int c = 0; c < ncpu; c++)
		zero = zero && !v[c].tx_packets && !v[c].rx_packets && !v[c].drop_packets;
	free(v);
	return zero;
}

static size_t count_keys(const char *map, size_t ks)
{
	int fd = ctl_map_fd(map);
	char key[64], next[64];
	void *prev = NULL;
	size_t n = 0;

	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, ks);
		prev = key;
		n++;
	}
	return n;
}

Test(endpoints, add_writes_maps_and_record)
{
	json_t *r = add_ok("c1", "10.244.1.5", "lo", 1);
	json_t *ep = json_object_get(r, "endpoint");
	struct ipcache_key ik = {.prefixlen = SL_IPCACHE_PREFIX_BASE + 32, .family = SL_AF_INET};
	struct ipcache_val iv;
	struct ep_info info;
	char path[256];
	__u32 id;
	struct ep_stats st[512];

	cr_assert(json_is_object(ep), "reply has no endpoint");
	cr_expect_neq(json_integer_value(json_object_get(ep, "id")), 0, "id must not be 0");
	cr_expect_eq(json_integer_value(json_object_get(ep, "identity")), SL_ID_UNLABELLED,
		     "identity %lld, want SL_ID_UNLABELLED for an unknown pod",
		     json_integer_value(json_object_get(ep, "identity")));
	cr_assert_eq(ep_lookup("10.244.1.5", &info), 0, "no sluice_ep entry");
	cr_expect_eq(info.ifindex, 1, "ifindex %u", info.ifindex);
	cr_expect_eq(info.ep_id, json_integer_value(json_object_get(ep, "id")));
	cr_expect_eq(info.netns_cookie, 77);
	cr_expect(slot_holds("10.244.1.5"), "sluice_ep_slots slot not written");
	cr_expect_eq(info.mac[5], 5, "mac[5] %u", info.mac[5]);
	cr_expect_eq(info.host_mac[4], 1, "host_mac[4] %u", info.host_mac[4]);
	id = info.ep_id;
	cr_assert_lt(id, 1024, "endpoint id %u beyond the counters' array", id);
	cr_expect_eq(bpf_map_lookup_elem(ctl_map_fd(SL_MAP_EP_STATS), &id, st), 0,
		     "no ep_stats slot");
	cr_expect_eq(st[0].tx_packets + st[0].rx_packets + st[0].drop_packets, 0,
		     "a new endpoint's counters must start at zero");
	ik.addr.b[0] = 10, ik.addr.b[1] = 244, ik.addr.b[2] = 1, ik.addr.b[3] = 5;
	cr_assert_eq(bpf_map_lookup_elem(ctl_map_fd(SL_MAP_IPCACHE), &ik, &iv), 0,
		     "no ipcache entry");
	cr_expect_eq(iv.identity, SL_ID_UNLABELLED, "ipcache identity %u", iv.identity);
	cr_expect(iv.flags & SL_IPC_F_LOCAL, "ipcache flags %#x lack SL_IPC_F_LOCAL", iv.flags);
	snprintf(path, sizeof(path), "%s/endpoints/c1-eth0.json", state);
	cr_expect_eq(access(path, F_OK), 0, "record %s missing", path);
	cr_expect_eq(endpoints_count(), 1);
	json_decref(r);
}

struct bad_case {
	const char *desc;
	const char *json;
};

static const struct bad_case bad[] = {
    {"missing containerID",
     "{\"request\":\"endpoint.add\",\"ifname\":\"eth0\",\"ips\":[\"10.0.0.1\"],\"mac\":\"02:00:00:"
     "00:00:01\",\"hostIfname\":\"lo\",\"hostIfindex\":1,\"hostMac\":\"02:00:00:00:00:02\"}"},
    {"containerID with a slash",
     "{\"request\":\"endpoint.add\",\"containerID\":\"../"
     "x\",\"ifname\":\"eth0\",\"ips\":[\"10.0.0.1\"],\"mac\":\"02:00:00:00:00:01\",\"hostIfname\":"
     "\"lo\",\"hostIfindex\":1,\"hostMac\":\"02:00:00:00:00:02\"}"},
    {"bad MAC", "{\"request\":\"endpoint.add\",\"containerID\":\"c\",\"ifname\":\"eth0\",\"ips\":["
		"\"10.0.0.1\"],\"mac\":\"02:00:00:00:01\",\"hostIfname\":\"lo\",\"hostIfindex\":1,"
		"\"hostMac\":\"02:00:00:00:00:02\"}"},
    {"bad IP", "{\"request\":\"endpoint.add\",\"containerID\":\"c\",\"ifname\":\"eth0\",\"ips\":["
	       "\"10.0.0.300\"],\"mac\":\"02:00:00:00:00:01\",\"hostIfname\":\"lo\","
	       "\"hostIfindex\":1,\"hostMac\":\"02:00:00:00:00:02\"}"},
    {"no IPs", "{\"request\":\"endpoint.add\",\"containerID\":\"c\",\"ifname\":\"eth0\",\"ips\":[],"
	       "\"mac\":\"02:00:00:00:00:01\",\"hostIfname\":\"lo\",\"hostIfindex\":1,\"hostMac\":"
	       "\"02:00:00:00:00:02\"}"},
    {"two IPv4", "{\"request\":\"endpoint.add\",\"containerID\":\"c\",\"ifname\":\"eth0\",\"ips\":["
		 "\"10.0.0.1\",\"10.0.0.2\"],\"mac\":\"02:00:00:00:00:01\",\"hostIfname\":\"lo\","
		 "\"hostIfindex\":1,\"hostMac\":\"02:00:00:00:00:02\"}"},
    {"ifindex 0", "{\"request\":\"endpoint.add\",\"containerID\":\"c\",\"ifname\":\"eth0\",\"ips\":"
		  "[\"10.0.0.1\"],\"mac\":\"02:00:00:00:00:01\",\"hostIfname\":\"lo\","
		  "\"hostIfindex\":0,\"hostMac\":\"02:00:00:00:00:02\"}"},
    {"ifname too long",
     "{\"request\":\"endpoint.add\",\"containerID\":\"c\",\"ifname\":\"eth0123456789abcdef\","
     "\"ips\":[\"10.0.0.1\"],\"mac\":\"02:00:00:00:00:01\",\"hostIfname\":\"lo\",\"hostIfindex\":1,"
     "\"hostMac\":\"02:00:00:00:00:02\"}"},
    {"ifindex a string", "{\"request\":\"endpoint.add\",\"containerID\":\"c\",\"ifname\":\"eth0\","
			 "\"ips\":[\"10.0.0.1\"],\"mac\":\"02:00:00:00:00:01\",\"hostIfname\":"
			 "\"lo\",\"hostIfindex\":\"1\",\"hostMac\":\"02:00:00:00:00:02\"}"},
};

Test(endpoints, bad_requests_change_nothing)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[512];
		json_t *reply;
		int ret = call(bad[i].json, &reply, err, sizeof(err));

		cr_expect_eq(ret, -EINVAL, "%s: got %d (%s), want -EINVAL", bad[i].desc, ret, err);
		cr_expect_neq(err[0], 0, "%s: no error text", bad[i].desc);
		json_decref(reply);
	}
	cr_expect_eq(endpoints_count(), 0, "%zu endpoints after bad requests", endpoints_count());
	cr_expect_eq(count_keys(SL_MAP_EP, sizeof(struct ep_key)), 0, "sluice_ep not empty");
}

Test(endpoints, del_removes_everything_and_is_idempotent)
{
	char err[512], path[256];
	json_t *reply = add_ok("c1", "10.244.1.5", "lo", 1);
	struct ep_info info;
	__u32 id;

	json_decref(reply);
	cr_assert_eq(ep_lookup("10.244.1.5", &info), 0, "no sluice_ep entry");
	id = info.ep_id;
	stats_dirty_slot(id); /* as traffic would */
	for (int i = 0; i < 2; i++) {
		int ret = call(
		    "{\"request\":\"endpoint.del\",\"containerID\":\"c1\",\"ifname\":\"eth0\"}",
		    &reply, err, sizeof(err));

		cr_expect_eq(ret, 0, "del #%d: %d (%s)", i + 1, ret, err);
		json_decref(reply);
	}
	cr_expect_eq(ep_lookup("10.244.1.5", &info), -ENOENT, "sluice_ep entry left");
	cr_expect_eq(slot_of("10.244.1.5").info.ifindex, 0, "sluice_ep_slots slot left");
	cr_expect(stats_zero_slot(id), "ep_stats slot %u not zeroed", id);
	cr_expect_eq(count_keys(SL_MAP_IPCACHE, sizeof(struct ipcache_key)), 0,
		     "ipcache entry left");
	cr_expect_eq(count_keys(SL_MAP_LB_NETNS, 8), 0, "lb_netns entry left");
	snprintf(path, sizeof(path), "%s/endpoints/c1-eth0.json", state);
	cr_expect_neq(access(path, F_OK), 0, "record %s left", path);
}

Test(endpoints, restart_restores_and_resyncs)
{
	struct ep_key stale = {.family = SL_AF_INET, .addr.b = {10, 244, 1, 99}};
	struct ep_info v = {.ifindex = 42, .ep_id = 999}, info;
	json_int_t id1, id2;
	json_t *r;

	r = add_ok("c1", "10.244.1.5", "lo", 1);
	id1 = json_integer_value(json_object_get(json_object_get(r, "endpoint"), "id"));
	json_decref(r);
	r = add_ok("c2", "10.244.1.6", "lo", 1);
	id2 = json_integer_value(json_object_get(json_object_get(r, "endpoint"), "id"));
	json_decref(r);
	cr_expect_neq(id1, id2, "two endpoints share id %lld", id1);

	/* "Restart": forget the table, leave stale entries in the maps (a
	 * slot whose sluice_ep entry is gone, one whose value is outdated). */
	endpoints_fini();
	cr_assert_eq(bpf_map_update_elem(ctl_map_fd(SL_MAP_EP), &stale, &v, BPF_ANY), 0);
	{
		struct ep_slot gone = {.info = {.ifindex = 5, .ep_id = 77}}, old = slot_of("10.244.1.6");
		__u32 idx;

		inet_pton(AF_INET, "10.244.1.99", &gone.addr);
		idx = SL_EP_SLOT(ntohl(gone.addr));
		cr_assert_eq(bpf_map_update_elem(ctl_map_fd(SL_MAP_EP_SLOTS), &idx, &gone, BPF_ANY), 0);
		old.info.identity = 12345;
		inet_pton(AF_INET, "10.244.1.6", &gone.addr);
		idx = SL_EP_SLOT(ntohl(gone.addr));
		cr_assert_eq(bpf_map_update_elem(ctl_map_fd(SL_MAP_EP_SLOTS), &idx, &old, BPF_ANY), 0);
	}
	cr_assert_eq(endpoints_init(), 0);
	cr_expect_eq(slot_of("10.244.1.99").info.ifindex, 0, "slot of a gone address kept");
	cr_expect(slot_holds("10.244.1.6"), "outdated slot not rewritten");
	cr_expect(slot_holds("10.244.1.5"), "slot of a restored endpoint lost");

	cr_expect_eq(endpoints_count(), 2, "%zu endpoints restored, want 2", endpoints_count());
	cr_expect_eq(bpf_map_lookup_elem(ctl_map_fd(SL_MAP_EP), &stale, &info), -ENOENT,
		     "stale entry kept");
	cr_assert_eq(ep_lookup("10.244.1.5", &info), 0);
	cr_expect_eq(info.ep_id, id1, "id after restart %u, want %lld", info.ep_id, id1);
	cr_assert_eq(ep_lookup("10.244.1.6", &info), 0);
	cr_expect_eq(info.ep_id, id2, "id after restart %u, want %lld", info.ep_id, id2);

	/* A new endpoint gets an id no one holds. */
	r = add_ok("c3", "10.244.1.7", "lo", 1);
	json_int_t id3 = json_integer_value(json_object_get(json_object_get(r, "endpoint"), "id"));

	cr_expect(id3 != 0 && id3 != id1 && id3 != id2, "new id %lld clashes", id3);
	json_decref(r);
}

/* Two local addresses with the same low 16 bits share one slot: the
 * first keeps it, the other is in sluice_ep only; when the first goes,
 * the other gets the slot. */
Test(endpoints, slot_collision)
{
	char err[512];
	json_t *reply;

	json_decref(add_ok("c1", "10.244.1.5", "lo", 1));
	json_decref(add_ok("c2", "10.245.1.5", "lo", 1));
	cr_expect(slot_holds("10.244.1.5"), "first address lost its slot");
	cr_expect_eq(call("{\"request\":\"endpoint.del\",\"containerID\":\"c1\","
			  "\"ifname\":\"eth0\"}",
			  &reply, err, sizeof(err)),
		     0, "del c1: %s", err);
	json_decref(reply);
	cr_expect(slot_holds("10.245.1.5"), "slot not handed to the remaining address");
}

Test(endpoints, address_conflicts)
{
	char buf[1024], err[512];
	json_t *r = add_ok("c1", "10.244.1.5", "lo", 1);
	int ret;

	json_decref(r);
	/* The owner's veth (lo here) exists: the address is in use. */
	snprintf(buf, sizeof(buf),
		 "{\"request\":\"endpoint.add\",\"containerID\":\"c2\",\"ifname\":\"eth0\","
		 "\"ips\":[\"10.244.1.5\"],\"mac\":\"02:00:00:00:00:07\",\"hostIfname\":\"lo\","
		 "\"hostIfindex\":1,\"hostMac\":\"02:00:00:00:01:07\"}");
	ret = call(buf, &r, err, sizeof(err));
	cr_expect_eq(ret, -EADDRINUSE, "got %d (%s), want -EADDRINUSE", ret, err);
	json_decref(r);

	/* An owner whose veth is gone is a missed DEL: the address moves. */
	r = add_ok("c3", "10.244.1.8", "gone0", 999999);
	json_decref(r);
	r = add_ok("c4", "10.244.1.8", "lo", 1);
	json_decref(r);
	cr_expect_eq(endpoints_count(), 2, "%zu endpoints, want 2 (c1, c4)", endpoints_count());
}

Test(endpoints, get_and_list)
{
	char err[512];
	json_t *r;
	int ret;

	json_decref(add_ok("c1", "10.244.1.5", "lo", 1));
	json_decref(add_ok("c2", "10.244.1.6", "lo", 1));
	ret = call("{\"request\":\"endpoint.get\",\"namespace\":\"default\",\"pod\":\"pod-c2\"}",
		   &r, err, sizeof(err));
	cr_expect_eq(ret, 0, "get by pod: %d (%s)", ret, err);
	cr_expect_str_eq(
	    json_string_value(json_object_get(json_object_get(r, "endpoint"), "containerID")),
	    "c2");
	json_decref(r);
	ret = call("{\"request\":\"endpoint.get\",\"containerID\":\"c1\",\"ifname\":\"eth0\"}", &r,
		   err, sizeof(err));
	cr_expect_eq(ret, 0, "get by id: %d (%s)", ret, err);
	json_decref(r);
	ret = call("{\"request\":\"endpoint.get\",\"containerID\":\"nope\",\"ifname\":\"eth0\"}",
		   &r, err, sizeof(err));
	cr_expect_eq(ret, -ENOENT, "get unknown: %d", ret);
	json_decref(r);
	ret = call("{\"request\":\"endpoint.list\"}", &r, err, sizeof(err));
	cr_expect_eq(ret, 0);
	cr_expect_eq(json_array_size(json_object_get(r, "endpoints")), 2);
	json_decref(r);
	ret = call("{\"request\":\"no.such\"}", &r, err, sizeof(err));
	cr_expect_eq(ret, -EOPNOTSUPP, "unknown request: %d", ret);
	json_decref(r);
}

Test(endpoints, set_identity)
{
	struct ep_info info;

	json_decref(add_ok("c1", "10.244.1.5", "lo", 1));
	cr_assert_eq(endpoints_set_identity("default", "pod-c1", 300), 0);
	cr_assert_eq(ep_lookup("10.244.1.5", &info), 0);
	cr_expect_eq(info.identity, 300, "identity %u, want 300", info.identity);
	cr_assert_eq(endpoints_set_identity("default", "pod-c1", 0), 0);
	cr_assert_eq(ep_lookup("10.244.1.5", &info), 0);
	cr_expect_eq(info.identity, SL_ID_UNLABELLED, "identity %u, want unlabelled",
		     info.identity);
}
