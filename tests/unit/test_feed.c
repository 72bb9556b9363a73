// SPDX-License-Identifier: Apache-2.0
/* The feed (controller/feed.c, k8s_core.c): value shapes, validation and
 * defaults, resourceVersion ordering, initial-list GC, List atomicity. No
 * maps, no root needed. */
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

TestSuite(feed, .init = setup, .fini = teardown);

#define POD(ns, name, extra)                                                                \
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"" name                \
	"\",\"namespace\":\"" ns "\"" extra "}}"

struct value_case {
	const char *desc;
	const char *input;
	const char *err; /* NULL: ok; else a substring of the error */
};

static const struct value_case value_cases[] = {
	{ "bare object", POD("default", "web-1", ""), NULL },
	{ "watch ADDED", "{\"type\":\"ADDED\",\"object\":" POD("default", "web-1", "") "}", NULL },
	{ "watch MODIFIED", "{\"type\":\"MODIFIED\",\"object\":" POD("default", "web-1", "") "}", NULL },
	{ "watch DELETED of an unknown object", "{\"type\":\"DELETED\",\"object\":" POD("default", "nope", "") "}", NULL },
	{ "BOOKMARK without initial-events-end",
	  "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"12\"}}}", NULL },
	{ "List", "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[" POD("default", "a", "") "," POD("default", "b", "") "]}", NULL },
	{ "typed list, items without kind",
	  "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":[{\"metadata\":{\"name\":\"a\",\"namespace\":\"x\"}}]}", NULL },
	{ "empty List", "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[]}", NULL },
	{ "Namespace", "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\"}}", NULL },
	{ "Node", "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-b\"},\"spec\":{\"podCIDR\":\"10.244.2.0/24\"},\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.168.0.2\"},{\"type\":\"Hostname\",\"address\":\"node-b\"}]}}", NULL },
	{ "no apiVersion on a bare object", "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}", NULL },

	{ "unknown kind", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"}}", "unknown kind apps/v1 Deployment" },
	{ "known kind, other group", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"d\"}}", "unknown kind apps/v1 Pod" },
	{ "known kind, other version", "{\"apiVersion\":\"v2\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"d\"}}", "apiVersion v2 is not supported" },
	{ "unknown kind in a List", "{\"kind\":\"List\",\"items\":[" POD("default", "a", "") ",{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"}}]}", "items[1]: unknown kind v1 Secret" },
	{ "not an object", "[1,2]", "must be a JSON object" },
	{ "a string", "\"Pod\"", "must be a JSON object" },
	{ "no kind", "{\"metadata\":{\"name\":\"a\"}}", "no \"kind\"" },
	{ "kind not a string", "{\"kind\":7}", "kind: must be a string" },
	{ "list item without kind in a generic List", "{\"kind\":\"List\",\"items\":[{\"metadata\":{\"name\":\"a\"}}]}", "items[0]: kind: required" },
	{ "items not an array", "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":{}}", "items: must be an array" },
	{ "watch ERROR", "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"too old resource version: 5 (40)\",\"code\":410}}", "watch ERROR: too old resource version: 5 (40) (code 410)" },
	{ "unknown event type", "{\"type\":\"CHANGED\",\"object\":" POD("default", "a", "") "}", "type CHANGED" },
	{ "event object not an object", "{\"type\":\"ADDED\",\"object\":[]}", "object: must be a JSON object" },
	{ "metadata missing", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}", "Pod ?: metadata: required" },
	{ "metadata wrong type", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":\"x\"}", "metadata: must be an object" },
	{ "name missing", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"namespace\":\"default\"}}", "metadata.name: required" },
	{ "name wrong type", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":5}}", "metadata.name: must be a string" },
	{ "bad pod name", POD("default", "Web_1", ""), "Pod default/Web_1: metadata.name: must be a DNS-1123 subdomain" },
	{ "name too long", POD("default", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ""), "metadata.name: must be a DNS-1123 subdomain" },
	{ "bad namespace", POD("Default", "a", ""), "Pod Default/a: metadata.namespace: must be a DNS-1123 label" },
	{ "namespace on a Node", "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n\",\"namespace\":\"x\"}}", "not allowed on a cluster-scoped object" },
	{ "Namespace name with a dot", "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a.b\"}}", "Namespace a.b: metadata.name: must be a DNS-1123 label" },
	{ "bad label key", POD("default", "a", ",\"labels\":{\"-app\":\"x\"}"), "Pod default/a: metadata.labels: key \"-app\"" },
	{ "bad label key prefix", POD("default", "a", ",\"labels\":{\"Example.com/app\":\"x\"}"), "metadata.labels: key" },
	{ "bad label value", POD("default", "a", ",\"labels\":{\"app\":\"a b\"}"), "metadata.labels[app]: must be empty or" },
	{ "label value not a string", POD("default", "a", ",\"labels\":{\"app\":1}"), "metadata.labels[app]: must be a string" },
	{ "label value too long", POD("default", "a", ",\"labels\":{\"app\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"), "metadata.labels[app]" },
	{ "labels not an object", POD("default", "a", ",\"labels\":[]"), "metadata.labels: must be an object" },
	{ "annotation not a string", POD("default", "a", ",\"annotations\":{\"a\":true}"), "metadata.annotations[a]: must be a string" },
	{ "resourceVersion not a string", POD("default", "a", ",\"resourceVersion\":12"), "metadata.resourceVersion: must be a string" },
	{ "containerPort missing", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"protocol\":\"TCP\"}]}]}}", "Pod default/a: spec.containers[0].ports[0].containerPort: required" },
	{ "containerPort wrong type", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":\"80\"}]}]}}", "containerPort: must be an integer" },
	{ "containerPort out of range", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":70000}]}]}}", "containerPort: must be 1-65535" },
	{ "bad protocol", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80,\"protocol\":\"tcp\"}]}]}}", "spec.containers[0].ports[0].protocol: must be TCP, UDP or SCTP" },
	{ "bad port name", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80,\"name\":\"http--x\"}]}]}}", "ports[0].name: must be an IANA service name" },
	{ "hostNetwork not a bool", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"hostNetwork\":\"yes\"}}", "spec.hostNetwork: must be a boolean" },
	{ "bad nodeName", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"nodeName\":\"Node_1\"}}", "spec.nodeName: must be a DNS-1123 subdomain" },
	{ "bad podIP", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},\"status\":{\"podIP\":\"10.0.0.300\"}}", "status.podIP: must be a valid IP address" },
	{ "podIPs not matching podIP", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},\"status\":{\"podIP\":\"10.0.0.1\",\"podIPs\":[{\"ip\":\"10.0.0.2\"}]}}", "status.podIPs[0].ip: must match status.podIP" },
	{ "two podIPs of one family", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},\"status\":{\"podIPs\":[{\"ip\":\"10.0.0.1\"},{\"ip\":\"10.0.0.2\"}]}}", "at most one address per family" },
	{ "bad phase", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},\"status\":{\"phase\":\"Done\"}}", "status.phase: must be" },
	{ "spec not an object", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"},\"spec\":[]}", "spec: must be an object" },
	{ "Node podCIDR with host bits", "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n\"},\"spec\":{\"podCIDR\":\"10.244.1.1/24\"}}", "Node n: spec.podCIDR: must not have host bits set" },
	{ "Node podCIDR not a CIDR", "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n\"},\"spec\":{\"podCIDR\":\"banana\"}}", "spec.podCIDR: must be a CIDR" },
	{ "Node bad InternalIP", "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n\"},\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"x\"}]}}", "status.addresses[0].address: must be a valid IP address" },
	{ "Node address without type", "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n\"},\"status\":{\"addresses\":[{\"address\":\"1.2.3.4\"}]}}", "status.addresses[0].type: required" },
	{ "DELETED without a name", "{\"type\":\"DELETED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{}}}", "DELETED: Pod ?: metadata.name: required" },
	{ "BOOKMARK of an unknown kind", "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Widget\",\"apiVersion\":\"v1\",\"metadata\":{}}}", "unknown kind v1 Widget" },
	{ "list as a watch object", "{\"type\":\"ADDED\",\"object\":{\"kind\":\"PodList\",\"items\":[]}}", "is not an object" },
};

#define N_VALUE_CASES (sizeof(value_cases) / sizeof(value_cases[0]))

/* Criterion may run each case in a freshly exec'd process, where pointers
 * into our data differ: pass indexes, not case pointers. */
ParameterizedTestParameters(feed, values)
{
	static size_t idx[N_VALUE_CASES];

	for (size_t i = 0; i < N_VALUE_CASES; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, N_VALUE_CASES);
}

ParameterizedTest(size_t *i, feed, values)
{
	const struct value_case *c = &value_cases[*i];
	char err[1024];
	int rc = feed_text(fc, c->input, err, sizeof(err));

	if (!c->err) {
		cr_assert_eq(rc, 0, "%s: got %d (%s), want ok", c->desc, rc, err);
		return;
	}
	cr_assert_lt(rc, 0, "%s: got ok, want an error with \"%s\"", c->desc, c->err);
	cr_assert(strstr(err, c->err), "%s: error \"%s\" lacks \"%s\"", c->desc, err, c->err);
	/* a wrong value changes nothing */
	cr_assert_eq(store_count("Pod") + store_count("Node") + store_count("Namespace"), 0,
		     "%s: the store changed: %zu pods, %zu nodes, %zu namespaces", c->desc,
		     store_count("Pod"), store_count("Node"), store_count("Namespace"));
}

Test(feed, typed_list_items_get_kind)
{
	const json_t *p;

	FEED_OK(fc, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":[{\"metadata\":{\"name\":\"a\",\"namespace\":\"x\"}}]}");
	p = store_get("Pod", "x", "a");
	cr_assert_not_null(p, "Pod x/a not stored");
	cr_assert_str_eq(k8s_kind(p), "Pod");
	cr_assert_str_eq(k8s_api_version(p), "v1");
}

Test(feed, defaults)
{
	const json_t *p, *port, *st, *ns, *node;

	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\"},"
		    "\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80},{\"containerPort\":53,\"protocol\":\"UDP\"}]}]},"
		    "\"status\":{\"podIP\":\"10.244.0.5\"}}");
	p = store_get("Pod", "default", "web");
	cr_assert_not_null(p, "namespace should default to \"default\"");
	port = json_array_get(json_object_get(json_array_get(json_object_get(json_object_get(p, "spec"), "containers"), 0), "ports"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(port, "protocol")), "TCP",
			 "protocol default: got %s", json_string_value(json_object_get(port, "protocol")));
	port = json_array_get(json_object_get(json_array_get(json_object_get(json_object_get(p, "spec"), "containers"), 0), "ports"), 1);
	cr_assert_str_eq(json_string_value(json_object_get(port, "protocol")), "UDP");
	st = json_object_get(p, "status");
	cr_assert_eq(json_array_size(json_object_get(st, "podIPs")), 1, "podIPs filled from podIP");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(st, "podIPs"), 0), "ip")), "10.244.0.5");

	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"w2\"},\"status\":{\"podIPs\":[{\"ip\":\"10.244.0.6\"}]}}");
	st = json_object_get(store_get("Pod", "default", "w2"), "status");
	cr_assert_str_eq(json_string_value(json_object_get(st, "podIP")), "10.244.0.6", "podIP filled from podIPs");

	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\",\"labels\":{\"team\":\"a\"}}}");
	ns = store_get("Namespace", "", "prod");
	cr_assert_not_null(ns);
	cr_assert_str_eq(json_string_value(json_object_get(k8s_labels(ns), "kubernetes.io/metadata.name")), "prod");
	cr_assert_str_eq(json_string_value(json_object_get(k8s_labels(ns), "team")), "a");

	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"},\"spec\":{\"podCIDR\":\"10.244.1.0/24\"}}");
	node = store_get("Node", "", "n1");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(json_object_get(node, "spec"), "podCIDRs"), 0)), "10.244.1.0/24");
}

Test(feed, resource_version_ordering)
{
	const json_t *p;

	FEED_OK(fc, POD("default", "a", ",\"resourceVersion\":\"10\",\"labels\":{\"v\":\"ten\"}"));
	FEED_OK(fc, POD("default", "a", ",\"resourceVersion\":\"9\",\"labels\":{\"v\":\"nine\"}"));
	p = store_get("Pod", "default", "a");
	cr_assert_str_eq(json_string_value(json_object_get(k8s_labels(p), "v")), "ten",
			 "an older resourceVersion overwrote a newer one");
	/* integers, not strings: "100" > "99" */
	FEED_OK(fc, POD("default", "a", ",\"resourceVersion\":\"100\",\"labels\":{\"v\":\"hundred\"}"));
	FEED_OK(fc, POD("default", "a", ",\"resourceVersion\":\"99\",\"labels\":{\"v\":\"ninety-nine\"}"));
	p = store_get("Pod", "default", "a");
	cr_assert_str_eq(json_string_value(json_object_get(k8s_labels(p), "v")), "hundred",
			 "resourceVersions compared as strings");
	/* an unparsable one is applied (never counts as older) */
	FEED_OK(fc, POD("default", "a", ",\"resourceVersion\":\"abc\",\"labels\":{\"v\":\"opaque\"}"));
	p = store_get("Pod", "default", "a");
	cr_assert_str_eq(json_string_value(json_object_get(k8s_labels(p), "v")), "opaque");
	FEED_OK(fc, POD("default", "a", ",\"resourceVersion\":\"200\",\"labels\":{\"v\":\"new\"}"));
	/* a stale DELETED is ignored, a current one removes */
	FEED_OK(fc, "{\"type\":\"DELETED\",\"object\":" POD("default", "a", ",\"resourceVersion\":\"150\"") "}");
	cr_assert_not_null(store_get("Pod", "default", "a"), "stale DELETED removed the pod");
	FEED_OK(fc, "{\"type\":\"DELETED\",\"object\":" POD("default", "a", ",\"resourceVersion\":\"201\"") "}");
	cr_assert_null(store_get("Pod", "default", "a"), "DELETED did not remove the pod");
	FEED_OK(fc, "{\"type\":\"DELETED\",\"object\":" POD("default", "a", ",\"resourceVersion\":\"202\"") "}");
}

Test(feed, list_is_atomic)
{
	FEED_OK(fc, POD("default", "keep", ",\"labels\":{\"v\":\"1\"}"));
	FEED_ERR(fc,
		 "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":["
		 POD("default", "keep", ",\"labels\":{\"v\":\"2\"}") ","
		 POD("default", "new-1", "") ","
		 POD("default", "BAD", "") "]}",
		 "items[2]: Pod default/BAD: metadata.name");
	cr_assert_eq(store_count("Pod"), 1, "a failed List left %zu pods, want 1", store_count("Pod"));
	cr_assert_str_eq(json_string_value(json_object_get(k8s_labels(store_get("Pod", "default", "keep")), "v")), "1",
			 "a failed List changed an existing pod");
	cr_assert_eq(ipcache_count(), 0);
}

static const char *const bookmark_end =
	"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":"
	"{\"resourceVersion\":\"50\",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}";

Test(feed, initial_list_gc)
{
	struct feed_conn *fc2;

	FEED_OK(fc, POD("default", "a", ""));
	FEED_OK(fc, POD("default", "b", ""));
	FEED_OK(fc, POD("other", "c", ""));
	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"other\"}}");

	/* a new connection lists a and c, then ends the list */
	fc2 = feed_conn_new();
	FEED_OK(fc2, "{\"type\":\"ADDED\",\"object\":" POD("default", "a", "") "}");
	FEED_OK(fc2, "{\"type\":\"ADDED\",\"object\":" POD("other", "c", "") "}");
	/* a BOOKMARK without the annotation ends nothing */
	FEED_OK(fc2, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"40\"}}}");
	cr_assert_eq(store_count("Pod"), 3);
	FEED_OK(fc2, bookmark_end);
	cr_assert_eq(store_count("Pod"), 2, "after the initial list: %zu pods, want 2", store_count("Pod"));
	cr_assert_null(store_get("Pod", "default", "b"), "unlisted pod b survived");
	cr_assert_not_null(store_get("Pod", "default", "a"));
	cr_assert_not_null(store_get("Pod", "other", "c"));
	cr_assert_eq(store_count("Namespace"), 1, "a Pod BOOKMARK touched Namespaces");

	/* after the end, a new list starts with the next object: a re-list
	 * with only c, then the end, removes a */
	FEED_OK(fc2, "{\"type\":\"ADDED\",\"object\":" POD("other", "c", "") "}");
	FEED_OK(fc2, bookmark_end);
	cr_assert_eq(store_count("Pod"), 1);
	cr_assert_not_null(store_get("Pod", "other", "c"));

	/* an empty list (only the BOOKMARK) means: there are none */
	FEED_OK(fc2, bookmark_end);
	cr_assert_eq(store_count("Pod"), 0);
	feed_conn_free(fc2);
}

Test(feed, initial_list_gc_counts_stale_and_deleted)
{
	struct feed_conn *fc2 = feed_conn_new();

	FEED_OK(fc, POD("default", "a", ",\"resourceVersion\":\"10\""));
	FEED_OK(fc, POD("default", "b", ",\"resourceVersion\":\"10\""));
	/* a stale copy still counts as listed */
	FEED_OK(fc2, "{\"type\":\"ADDED\",\"object\":" POD("default", "a", ",\"resourceVersion\":\"5\"") "}");
	FEED_OK(fc2, "{\"type\":\"ADDED\",\"object\":" POD("default", "b", ",\"resourceVersion\":\"11\"") "}");
	FEED_OK(fc2, "{\"type\":\"DELETED\",\"object\":" POD("default", "b", ",\"resourceVersion\":\"12\"") "}");
	FEED_OK(fc2, bookmark_end);
	cr_assert_not_null(store_get("Pod", "default", "a"), "a stale listed object was collected");
	cr_assert_null(store_get("Pod", "default", "b"));
	feed_conn_free(fc2);
}

Test(feed, same_object_twice_in_a_list)
{
	FEED_OK(fc, "{\"kind\":\"List\",\"items\":[" POD("default", "a", ",\"labels\":{\"v\":\"1\"}") ","
		    POD("default", "a", ",\"labels\":{\"v\":\"2\"}") "]}");
	cr_assert_str_eq(json_string_value(json_object_get(k8s_labels(store_get("Pod", "default", "a")), "v")), "2");
}

Test(feed, too_many_labels)
{
	char buf[8192];
	size_t n = 0;

	n += snprintf(buf + n, sizeof(buf) - n, "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\",\"labels\":{");
	for (int i = 0; i < K8S_MAX_LABELS + 1; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%s\"k%d\":\"v\"", i ? "," : "", i);
	snprintf(buf + n, sizeof(buf) - n, "}}}");
	FEED_ERR(fc, buf, "metadata.labels: must have at most");
}

/* An item that validates but cannot be applied (the ipcache is full) rolls
 * back the items before it: store, identities and ipcache as before. */
Test(feed, list_apply_failure_rolls_back)
{
	FEED_OK(fc, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"old\",\"labels\":{\"app\":\"x\"}},\"status\":{\"podIP\":\"10.244.0.1\"}}");
	ipcache_set_limit(3);
	FEED_ERR(fc,
		 "{\"kind\":\"List\",\"items\":["
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"old\",\"labels\":{\"app\":\"y\"}},\"status\":{\"podIP\":\"10.244.0.9\"}},"
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\",\"labels\":{\"app\":\"b\"}},\"status\":{\"podIP\":\"10.244.0.2\"}},"
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"c\",\"labels\":{\"app\":\"c\"}},\"status\":{\"podIP\":\"10.244.0.3\"}},"
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"d\",\"labels\":{\"app\":\"d\"}},\"status\":{\"podIP\":\"10.244.0.4\"}}]}",
		 "items[3]: Pod default/d: ipcache");
	cr_assert_eq(store_count("Pod"), 1, "pods after rollback: %zu, want 1", store_count("Pod"));
	cr_assert_str_eq(json_string_value(json_object_get(k8s_labels(store_get("Pod", "default", "old")), "app")), "x");
	cr_assert_eq(ipcache_count(), 1, "ipcache keys after rollback: %zu, want 1", ipcache_count());
	{
		struct sl_cidr c = test_ip("10.244.0.1");
		struct ipcache_val v;

		cr_assert_eq(ipcache_lookup(&c, &v), 0, "the old pod's entry is gone");
		cr_assert_eq(v.identity, model_pod_identity("default", "old"));
	}
	cr_assert_eq(model_pod_identity("default", "b"), 0, "rolled-back pod kept an identity");
}
