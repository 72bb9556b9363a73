// SPDX-License-Identifier: Apache-2.0
/* The model behind the feed: identities and ipcache entries of Pods, Nodes
 * and Namespaces; restart from the state dir. The ipcache is checked in its
 * userspace mirror (no maps, no root needed; test_model_ipcache covers the
 * map writes). */
#include <arpa/inet.h>
#include <stdlib.h>

#include "model_test.h"

static struct feed_conn *fc;

static void setup(void)
{
	model_test_reset();
	fc = feed_conn_new();
	cr_assert_not_null(fc);
}

static void teardown(void)
{
	feed_conn_free(fc);
	model_test_reset();
}

TestSuite(model, .init = setup, .fini = teardown);

static struct ipcache_val ipc(const char *ip)
{
	struct sl_cidr c = test_ip(ip);
	struct ipcache_val v;

	cr_assert_eq(ipcache_lookup(&c, &v), 0, "no ipcache entry for %s", ip);
	return v;
}

static bool ipc_has(const char *ip)
{
	struct sl_cidr c = test_ip(ip);
	struct ipcache_val v;

	return ipcache_lookup(&c, &v) == 0;
}

static void pod(const char *ns, const char *name, const char *labels, const char *node,
		const char *ip, const char *extra_spec)
{
	char buf[2048];

	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\",\"labels\":%s},"
		 "\"spec\":{\"nodeName\":\"%s\"%s},\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\"}}",
		 name, ns, labels, node, extra_spec, ip);
	FEED_OK(fc, buf);
}

Test(model, pods_get_identities_and_ipcache)
{
	uint32_t a, b, c;

	pod("default", "web-1", "{\"app\":\"web\"}", "node-a", "10.244.0.5", "");
	pod("default", "web-2", "{\"app\":\"web\"}", "node-b", "10.244.1.7", "");
	pod("default", "db", "{\"app\":\"db\"}", "node-a", "10.244.0.6", "");
	a = model_pod_identity("default", "web-1");
	b = model_pod_identity("default", "web-2");
	c = model_pod_identity("default", "db");
	cr_assert_geq(a, SL_ID_FIRST_LOCAL);
	cr_assert_eq(a, b, "same labels, identities %u and %u", a, b);
	cr_assert_neq(a, c);
	cr_assert_eq(ipc("10.244.0.5").identity, a);
	cr_assert_eq(ipc("10.244.0.5").flags, SL_IPC_F_LOCAL, "local pod without the LOCAL flag");
	cr_assert_eq(ipc("10.244.1.7").flags, 0, "remote pod flagged LOCAL");
	cr_assert_eq(ipc("10.244.0.6").identity, c);
	cr_assert_eq(ipcache_count(), 3);
}

Test(model, relabel_pod_moves_identity_and_ipcache)
{
	uint32_t before, after;

	pod("default", "web-1", "{\"app\":\"web\"}", "node-a", "10.244.0.5", "");
	before = model_pod_identity("default", "web-1");
	pod("default", "web-1", "{\"app\":\"web\",\"v\":\"2\"}", "node-a", "10.244.0.5", "");
	after = model_pod_identity("default", "web-1");
	cr_assert_neq(before, after, "relabel kept identity %u", before);
	cr_assert_eq(ipc("10.244.0.5").identity, after, "ipcache still has %u, want %u",
		     ipc("10.244.0.5").identity, after);
}

Test(model, namespace_relabel_moves_pods)
{
	uint32_t before, after;

	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\"}}");
	pod("prod", "a", "{\"app\":\"web\"}", "node-a", "10.244.0.5", "");
	pod("prod", "b", "{\"app\":\"web\"}", "node-b", "10.244.1.5", "");
	pod("default", "c", "{\"app\":\"web\"}", "node-a", "10.244.0.9", "");
	before = model_pod_identity("prod", "a");
	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\",\"labels\":{\"env\":\"prod\"}}}");
	after = model_pod_identity("prod", "a");
	cr_assert_neq(before, after, "namespace relabel did not move pod a");
	cr_assert_eq(model_pod_identity("prod", "b"), after);
	cr_assert_eq(ipc("10.244.0.5").identity, after);
	cr_assert_eq(ipc("10.244.1.5").identity, after);
	cr_assert_neq(model_pod_identity("default", "c"), after, "another namespace's pod moved");
	/* the namespace goes: pods fall back to the default namespace labels */
	FEED_OK(fc, "{\"type\":\"DELETED\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\"}}}");
	cr_assert_eq(model_pod_identity("prod", "a"), before);
}

Test(model, nodes_and_remote_pods)
{
	struct ipcache_val v;

	pod("default", "r", "{\"app\":\"web\"}", "node-b", "10.244.1.7", "");
	cr_assert_eq(ipc("10.244.1.7").node_ip, 0, "node_ip before the Node is known");
	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-b\"},"
		    "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.168.0.2\"}]}}");
	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-a\"},"
		    "\"spec\":{\"podCIDR\":\"10.244.0.0/24\"},"
		    "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.168.0.1\"}]}}");
	v = ipc("192.168.0.2");
	cr_assert_eq(v.identity, SL_ID_REMOTE_NODE);
	cr_assert_eq(v.node_ip, htonl(0xc0a80002));
	v = ipc("192.168.0.1");
	cr_assert_eq(v.identity, SL_ID_HOST);
	cr_assert_eq(v.node_ip, 0);
	cr_assert_eq(ipc("10.244.1.7").node_ip, htonl(0xc0a80002), "remote pod's node_ip not set");
	/* the node's pod CIDR becomes ours (no --pod-cidr given) */
	cr_assert(ctl.have_pod_cidr, "pod CIDR not taken from the local Node");
	{
		char b[64];

		cr_assert_str_eq(sl_cidr_str(&ctl.pod_cidr, b, sizeof(b)), "10.244.0.0/24");
	}
	/* the node moves: its pods follow */
	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-b\"},"
		    "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.168.0.3\"}]}}");
	cr_assert(!ipc_has("192.168.0.2"), "old node IP kept");
	cr_assert_eq(ipc("10.244.1.7").node_ip, htonl(0xc0a80003));
	FEED_OK(fc, "{\"type\":\"DELETED\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-b\"}}}");
	cr_assert(!ipc_has("192.168.0.3"));
	cr_assert_eq(ipc("10.244.1.7").node_ip, 0);
}

Test(model, pod_cidr_flag_wins)
{
	char b[64];

	sl_cidr_parse("10.244.9.0/24", &ctl.pod_cidr, false);
	ctl.have_pod_cidr = true;
	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-a\"},"
		    "\"spec\":{\"podCIDR\":\"10.244.0.0/24\"}}");
	cr_assert_str_eq(sl_cidr_str(&ctl.pod_cidr, b, sizeof(b)), "10.244.9.0/24");
}

Test(model, host_network_pods)
{
	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-b\"},"
		    "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.168.0.2\"}]}}");
	pod("kube-system", "proxy-a", "{\"app\":\"proxy\"}", "node-a", "192.168.0.1", ",\"hostNetwork\":true");
	pod("kube-system", "proxy-b", "{\"app\":\"proxy\"}", "node-b", "192.168.0.2", ",\"hostNetwork\":true");
	cr_assert_eq(model_pod_identity("kube-system", "proxy-a"), SL_ID_HOST);
	cr_assert_eq(model_pod_identity("kube-system", "proxy-b"), SL_ID_REMOTE_NODE);
	cr_assert_eq(ipc("192.168.0.1").identity, SL_ID_HOST);
	cr_assert_eq(ipc("192.168.0.2").identity, SL_ID_REMOTE_NODE);
	cr_assert_eq(identity_count(), 0, "hostNetwork pods allocated identities");
	/* the pod goes, the node's claim on the same IP stays */
	FEED_OK(fc, "{\"type\":\"DELETED\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"proxy-b\",\"namespace\":\"kube-system\"}}}");
	cr_assert_eq(ipc("192.168.0.2").identity, SL_ID_REMOTE_NODE);
	cr_assert(ipc_has("192.168.0.1"));
}

Test(model, finished_and_deleted_pods_leave_ipcache)
{
	pod("default", "job", "{\"app\":\"job\"}", "node-a", "10.244.0.8", "");
	cr_assert(ipc_has("10.244.0.8"));
	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"job\",\"namespace\":\"default\",\"labels\":{\"app\":\"job\"}},"
		    "\"spec\":{\"nodeName\":\"node-a\"},\"status\":{\"phase\":\"Succeeded\",\"podIP\":\"10.244.0.8\"}}");
	cr_assert(!ipc_has("10.244.0.8"), "a Succeeded pod keeps its IP");
	pod("default", "x", "{\"app\":\"x\"}", "node-a", "10.244.0.9", "");
	FEED_OK(fc, "{\"type\":\"DELETED\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\",\"namespace\":\"default\"}}}");
	cr_assert(!ipc_has("10.244.0.9"));
	cr_assert_eq(model_pod_identity("default", "x"), 0);
	/* the pod IP changes */
	pod("default", "y", "{\"app\":\"x\"}", "node-a", "10.244.0.10", "");
	pod("default", "y", "{\"app\":\"x\"}", "node-a", "10.244.0.11", "");
	cr_assert(!ipc_has("10.244.0.10"));
	cr_assert(ipc_has("10.244.0.11"));
}

Test(model, initial_list_gc_releases_identities)
{
	struct feed_conn *fc2 = feed_conn_new();

	pod("default", "gone", "{\"app\":\"gone\"}", "node-a", "10.244.0.20", "");
	FEED_OK(fc2, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":"
		     "{\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}");
	cr_assert(!ipc_has("10.244.0.20"));
	cr_assert_eq(model_pod_identity("default", "gone"), 0);
	feed_conn_free(fc2);
}

Test(model, restart_from_state_dir)
{
	char dir[] = "/tmp/sluice-model-XXXXXX", cmd[128];
	uint32_t a, b;

	cr_assert_not_null(mkdtemp(dir));
	ctl.state_dir = dir;
	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\",\"labels\":{\"env\":\"prod\"}}}");
	pod("prod", "a", "{\"app\":\"web\"}", "node-a", "10.244.0.5", "");
	pod("prod", "b", "{\"app\":\"db\"}", "node-b", "10.244.1.5", "");
	a = model_pod_identity("prod", "a");
	b = model_pod_identity("prod", "b");
	cr_assert_eq(model_save(), 0);

	/* "restart": forget everything, then load in the other order of
	 * allocation (b's labels first) to prove numbers come from the file */
	feed_conn_free(fc);
	model_test_reset();
	ctl.state_dir = dir;
	cr_assert_eq(model_init(), 0);
	cr_assert_eq(store_count("Pod"), 2, "restored %zu pods, want 2", store_count("Pod"));
	cr_assert_eq(store_count("Namespace"), 1);
	cr_assert_eq(model_pod_identity("prod", "a"), a);
	cr_assert_eq(model_pod_identity("prod", "b"), b);
	cr_assert_eq(ipc("10.244.0.5").identity, a);

	/* the feed reconciles: a new initial list without b collects b */
	fc = feed_conn_new();
	FEED_OK(fc, "{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\",\"namespace\":\"prod\",\"labels\":{\"app\":\"web\"}},"
		    "\"spec\":{\"nodeName\":\"node-a\"},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.244.0.5\"}}}");
	FEED_OK(fc, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":"
		    "{\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}");
	cr_assert_eq(store_count("Pod"), 1);
	cr_assert(!ipc_has("10.244.1.5"));
	cr_assert_eq(model_save(), 0);
	model_fini();
	model_test_reset();
	ctl.state_dir = dir;
	cr_assert_eq(model_init(), 0);
	cr_assert_eq(store_count("Pod"), 1, "the collected pod came back after a restart");
	model_fini();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}
