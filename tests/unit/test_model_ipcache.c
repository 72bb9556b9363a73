// SPDX-License-Identifier: Apache-2.0
/* ipcache diffing against a real LPM trie (controller/ipcache.c). NEEDS
 * ROOT (or CAP_BPF): the map is created by the test with bpf_map_create,
 * never pinned, and gone when the test ends. Fails, not skips, without. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <unistd.h>

#include "model_test.h"

static int map = -1;

static void setup(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);

	model_test_reset();
	map = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "test_ipcache", sizeof(struct ipcache_key),
			     sizeof(struct ipcache_val), 1024, &opts);
	cr_assert_geq(map, 0, "this test needs root/CAP_BPF to create an LPM trie: %s",
		      strerror(errno));
	ipcache_set_map_fd(map);
}

static void teardown(void)
{
	model_test_reset();
	if (map >= 0)
		close(map);
	map = -1;
}

TestSuite(ipcache, .init = setup, .fini = teardown);

static struct ipcache_val V(uint32_t id, uint32_t flags)
{
	return (struct ipcache_val){ .identity = id, .flags = flags };
}

/* The map's value for an address/prefix; false when absent. */
static bool map_get(const char *cidr, struct ipcache_val *out)
{
	struct sl_cidr c = test_ip(cidr);
	struct ipcache_key k;

	ipcache_key_from_cidr(&c, &k);
	return !bpf_map_lookup_elem(map, &k, out);
}

static void map_put(const char *cidr, struct ipcache_val v)
{
	struct sl_cidr c = test_ip(cidr);
	struct ipcache_key k;

	ipcache_key_from_cidr(&c, &k);
	cr_assert_eq(bpf_map_update_elem(map, &k, &v, BPF_ANY), 0);
}

static size_t map_count(void)
{
	struct ipcache_key k, next;
	void *prev = NULL;
	size_t n = 0;

	while (!bpf_map_get_next_key(map, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

static void claim(const char *ip, const char *owner, enum ipcache_prio prio, struct ipcache_val v)
{
	struct sl_cidr c = test_ip(ip);

	cr_assert_eq(ipcache_claim(&c, owner, prio, &v), 0, "claim %s by %s", ip, owner);
}

static void release(const char *ip, const char *owner)
{
	struct sl_cidr c = test_ip(ip);

	cr_assert_eq(ipcache_release(&c, owner), 0);
}

Test(ipcache, writes_only_changes)
{
	struct ipcache_val v;

	claim("10.0.0.1", "pod:a/x", IPC_PRIO_POD, V(300, 0));
	claim("10.0.0.2", "pod:a/y", IPC_PRIO_POD, V(301, 0));
	cr_assert_eq(map_count(), 0, "written before the flush");
	cr_assert_eq(ipcache_pending(), 2);
	cr_assert_eq(ipcache_flush(), 0);
	cr_assert_eq(ipcache_pending(), 0);
	cr_assert(map_get("10.0.0.1", &v) && v.identity == 300, "got %u want 300", v.identity);
	cr_assert(map_get("10.0.0.2", &v) && v.identity == 301);

	/* tamper behind the mirror's back: an unchanged claim must not rewrite
	 * the key, so the tampered value survives (proves no write happened) */
	map_put("10.0.0.1", V(999, 0));
	claim("10.0.0.1", "pod:a/x", IPC_PRIO_POD, V(300, 0));
	cr_assert_eq(ipcache_pending(), 0, "an unchanged claim became pending");
	cr_assert_eq(ipcache_flush(), 0);
	cr_assert(map_get("10.0.0.1", &v) && v.identity == 999, "unchanged key rewritten");

	/* a changed one is written, a released one deleted */
	claim("10.0.0.2", "pod:a/y", IPC_PRIO_POD, V(302, 0));
	release("10.0.0.1", "pod:a/x");
	cr_assert_eq(ipcache_pending(), 2);
	cr_assert_eq(ipcache_flush(), 0);
	cr_assert(!map_get("10.0.0.1", &v), "released key still in the map");
	cr_assert(map_get("10.0.0.2", &v) && v.identity == 302);
	cr_assert_eq(ipcache_count(), 1);
}

Test(ipcache, claims_arbitrate)
{
	struct ipcache_val v;

	/* a local endpoint and its Pod object claim one IP */
	claim("10.0.0.5", "pod:d/web", IPC_PRIO_POD, V(300, SL_IPC_F_LOCAL));
	claim("10.0.0.5", "ep:abc/eth0", IPC_PRIO_ENDPOINT, V(4, SL_IPC_F_LOCAL));
	cr_assert_eq(ipcache_flush(), 0);
	cr_assert(map_get("10.0.0.5", &v) && v.identity == 4, "endpoint claim lost: %u", v.identity);
	/* the endpoint goes: the pod's claim takes over, the key stays */
	release("10.0.0.5", "ep:abc/eth0");
	cr_assert_eq(ipcache_flush(), 0);
	cr_assert(map_get("10.0.0.5", &v) && v.identity == 300, "got %u want 300", v.identity);
	/* pod comes back as endpoint, pod object goes: key stays */
	claim("10.0.0.5", "ep:abc/eth0", IPC_PRIO_ENDPOINT, V(300, SL_IPC_F_LOCAL));
	release("10.0.0.5", "pod:d/web");
	cr_assert_eq(ipcache_flush(), 0);
	cr_assert(map_get("10.0.0.5", &v) && v.identity == 300);
	release("10.0.0.5", "ep:abc/eth0");
	cr_assert_eq(ipcache_flush(), 0);
	cr_assert(!map_get("10.0.0.5", &v));

	/* same priority: the newest claim wins (an IP reused by a new pod) */
	claim("10.0.0.6", "pod:d/old", IPC_PRIO_POD, V(310, 0));
	claim("10.0.0.6", "pod:d/new", IPC_PRIO_POD, V(311, 0));
	cr_assert_eq(ipcache_flush(), 0);
	cr_assert(map_get("10.0.0.6", &v) && v.identity == 311);
	release("10.0.0.6", "pod:d/new");
	cr_assert_eq(ipcache_flush(), 0);
	cr_assert(map_get("10.0.0.6", &v) && v.identity == 310);

	/* the node outranks a hostNetwork pod on its IP */
	claim("192.168.0.2", "node:b", IPC_PRIO_NODE, V(SL_ID_REMOTE_NODE, 0));
	claim("192.168.0.2", "pod:k/proxy", IPC_PRIO_POD, V(SL_ID_HOST, 0));
	cr_assert_eq(ipcache_flush(), 0);
	cr_assert(map_get("192.168.0.2", &v) && v.identity == SL_ID_REMOTE_NODE);
}

Test(ipcache, prefixes_and_lpm)
{
	struct ipcache_val v;
	struct ipcache_key k;
	struct sl_cidr c = test_ip("10.9.0.0/16");

	claim("10.9.0.0/16", "cidr:x", IPC_PRIO_CIDR, V(SL_ID_CIDR_FLAG | 1, 0));
	claim("10.9.1.1", "pod:a/b", IPC_PRIO_POD, V(300, 0));
	cr_assert_eq(ipcache_flush(), 0);
	cr_assert_eq(map_count(), 2);
	/* an LPM lookup of another address in the /16 finds the CIDR entry */
	c = test_ip("10.9.200.3");
	ipcache_key_from_cidr(&c, &k);
	cr_assert_eq(bpf_map_lookup_elem(map, &k, &v), 0);
	cr_assert_eq(v.identity, SL_ID_CIDR_FLAG | 1);
	cr_assert_eq(k.prefixlen, SL_IPCACHE_PREFIX_BASE + 32);
	/* IPv6 works the same */
	claim("fd00::5", "pod:a/v6", IPC_PRIO_POD, V(301, 0));
	cr_assert_eq(ipcache_flush(), 0);
	cr_assert(map_get("fd00::5", &v) && v.identity == 301);
}

Test(ipcache, resync_removes_stale_keeps_equal)
{
	struct ipcache_val v;

	/* the map as a previous sluiced left it */
	map_put("10.0.0.1", V(300, 0)); /* still wanted, same value */
	map_put("10.0.0.2", V(301, 0)); /* still wanted, value changed */
	map_put("10.0.0.3", V(302, 0)); /* stale */
	/* the rebuilt model */
	claim("10.0.0.1", "pod:a/x", IPC_PRIO_POD, V(300, 0));
	claim("10.0.0.2", "pod:a/y", IPC_PRIO_POD, V(305, 0));
	claim("10.0.0.4", "pod:a/z", IPC_PRIO_POD, V(306, 0)); /* new */
	cr_assert_eq(ipcache_resync(), 0);
	cr_assert_eq(ipcache_pending(), 0);
	cr_assert(map_get("10.0.0.1", &v) && v.identity == 300);
	cr_assert(map_get("10.0.0.2", &v) && v.identity == 305, "changed key not rewritten");
	cr_assert(!map_get("10.0.0.3", &v), "stale key survived the resync");
	cr_assert(map_get("10.0.0.4", &v) && v.identity == 306, "missing key not written");
	cr_assert_eq(map_count(), 3);
	/* after the resync the mirror knows 10.0.0.1 is in the map: an
	 * unchanged claim is not rewritten */
	map_put("10.0.0.1", V(777, 0));
	claim("10.0.0.1", "pod:a/x", IPC_PRIO_POD, V(300, 0));
	cr_assert_eq(ipcache_flush(), 0);
	cr_assert(map_get("10.0.0.1", &v) && v.identity == 777);
}

Test(ipcache, failed_writes_stay_pending)
{
	struct ipcache_val v;
	int full;

	/* a map with room for one entry: the second write fails (E2BIG) */
	full = bpf_map_create(BPF_MAP_TYPE_HASH, "test_full", sizeof(struct ipcache_key),
			      sizeof(struct ipcache_val), 1, NULL);
	cr_assert_geq(full, 0, "bpf_map_create: %s", strerror(errno));
	ipcache_set_map_fd(full);
	claim("10.0.0.1", "pod:a/x", IPC_PRIO_POD, V(300, 0));
	claim("10.0.0.2", "pod:a/y", IPC_PRIO_POD, V(301, 0));
	cr_assert_lt(ipcache_flush(), 0, "a flush into a full map succeeded");
	cr_assert_eq(ipcache_pending(), 1, "pending after a partial failure: %zu, want 1",
		     ipcache_pending());
	/* the map gets room (here: the real map, resynced): everything converges */
	close(full);
	ipcache_set_map_fd(map);
	cr_assert_eq(ipcache_resync(), 0);
	cr_assert_eq(ipcache_pending(), 0);
	cr_assert(map_get("10.0.0.1", &v) && v.identity == 300);
	cr_assert(map_get("10.0.0.2", &v) && v.identity == 301);
}

Test(ipcache, feed_reaches_the_map)
{
	struct feed_conn *fc = feed_conn_new();
	struct ipcache_val v;
	uint32_t id;

	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"labels\":{\"app\":\"web\"}},"
		    "\"spec\":{\"nodeName\":\"node-a\"},\"status\":{\"podIP\":\"10.244.0.5\"}}");
	id = model_pod_identity("default", "web");
	cr_assert(map_get("10.244.0.5", &v), "feed_apply did not flush to the map");
	cr_assert_eq(v.identity, id);
	cr_assert_eq(v.flags, SL_IPC_F_LOCAL);
	FEED_OK(fc, "{\"type\":\"DELETED\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"}}}");
	cr_assert(!map_get("10.244.0.5", &v));
	feed_conn_free(fc);
}
