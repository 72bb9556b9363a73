// SPDX-License-Identifier: Apache-2.0
/* Security identities (controller/identity.c): allocation, refcounts,
 * delayed release, persistence. No root needed. */
#include <stdlib.h>
#include <unistd.h>

#include "model_test.h"

TestSuite(identity, .init = model_test_reset, .fini = model_test_reset);

static json_t *L(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	cr_assert_not_null(j, "bad test labels %s", text);
	return j;
}

static uint32_t pod_set(const char *ns, const char *pod, const char *labels)
{
	json_t *l = L(labels);
	int err = 0;
	uint32_t id = identity_pod_set(ns, pod, l, &err);

	json_decref(l);
	cr_assert_eq(err, 0, "identity_pod_set(%s/%s): %d", ns, pod, err);
	cr_assert_geq(id, SL_ID_FIRST_LOCAL, "identity %u below SL_ID_FIRST_LOCAL", id);
	return id;
}

Test(identity, same_labels_same_identity)
{
	uint32_t a = pod_set("default", "a", "{\"app\":\"web\",\"tier\":\"fe\"}");
	uint32_t b = pod_set("default", "b", "{\"tier\":\"fe\",\"app\":\"web\"}");
	uint32_t c = pod_set("default", "c", "{\"app\":\"db\"}");
	uint32_t d = pod_set("other", "a", "{\"app\":\"web\",\"tier\":\"fe\"}");

	cr_assert_eq(a, b, "same labels (any order) got %u and %u", a, b);
	cr_assert_neq(a, c, "different labels share identity %u", a);
	cr_assert_neq(a, d, "different namespaces share identity %u", a);
	cr_assert_eq(identity_of_pod("default", "b"), a);
	cr_assert_eq(model_pod_identity("default", "b"), a);
	cr_assert_eq(model_pod_identity("default", "nope"), 0);
	cr_assert_eq(identity_count(), 3);
}

Test(identity, labels_of_an_identity)
{
	json_t *ns = L("{\"kubernetes.io/metadata.name\":\"prod\",\"env\":\"prod\"}");
	uint32_t id;
	json_t *l;

	cr_assert_eq(identity_ns_set("prod", ns), 0);
	json_decref(ns);
	id = pod_set("prod", "a", "{\"app\":\"web\"}");
	l = model_identity_labels(id);
	cr_assert_not_null(l);
	cr_assert_str_eq(json_string_value(json_object_get(l, "k8s:app")), "web");
	cr_assert_str_eq(json_string_value(json_object_get(l, "k8s:ns:env")), "prod");
	cr_assert_str_eq(json_string_value(json_object_get(l, IDENTITY_NS_KEY)), "prod");
	json_decref(l);
	l = model_identity_labels(SL_ID_HOST);
	cr_assert_not_null(json_object_get(l, "reserved:host"));
	json_decref(l);
	cr_assert_null(model_identity_labels(99999));
}

Test(identity, relabel_moves_and_releases)
{
	uint32_t a = pod_set("default", "a", "{\"app\":\"web\"}");
	uint32_t b;

	pod_set("default", "b", "{\"app\":\"web\"}");
	b = pod_set("default", "a", "{\"app\":\"api\"}");
	cr_assert_neq(a, b, "relabel kept identity %u", a);
	cr_assert_eq(identity_of_pod("default", "a"), b);
	/* a is still held by pod b: gc must keep it */
	identity_gc(0);
	cr_assert_eq(identity_count(), 2);
	identity_pod_del("default", "b");
	/* unused but within the delay: kept, and handed back to the same labels */
	identity_gc(3600);
	cr_assert_eq(identity_count(), 2, "released before the delay");
	cr_assert_eq(pod_set("default", "c", "{\"app\":\"web\"}"), a,
		     "labels coming back within the delay got a new number");
	identity_pod_del("default", "c");
	identity_gc(0);
	cr_assert_eq(identity_count(), 1, "unused identity not released after the delay");
	/* a released number is not handed out again right away */
	cr_assert_neq(pod_set("default", "d", "{\"app\":\"web\"}"), a);
}

Test(identity, namespace_labels_change_identity)
{
	json_t *ns = L("{\"kubernetes.io/metadata.name\":\"prod\"}");
	uint32_t before, after;

	before = pod_set("prod", "a", "{\"app\":\"web\"}");
	/* the default label of an unknown namespace equals the API default: no move */
	cr_assert_eq(identity_ns_set("prod", ns), 0);
	json_decref(ns);
	cr_assert_eq(pod_set("prod", "a", "{\"app\":\"web\"}"), before,
		     "a Namespace with only its default label moved its pods");
	ns = L("{\"kubernetes.io/metadata.name\":\"prod\",\"env\":\"prod\"}");
	cr_assert_eq(identity_ns_set("prod", ns), 0);
	json_decref(ns);
	after = pod_set("prod", "a", "{\"app\":\"web\"}");
	cr_assert_neq(before, after, "namespace relabel did not move the pod");
}

Test(identity, reserved_pods)
{
	cr_assert_eq(identity_pod_set_reserved("kube-system", "proxy", SL_ID_HOST), 0);
	cr_assert_eq(model_pod_identity("kube-system", "proxy"), SL_ID_HOST);
	cr_assert_eq(identity_count(), 0);
	cr_assert_eq(identity_pod_set_reserved("kube-system", "proxy", 300), -EINVAL);
}

static int count_fn(uint32_t id, const char *ns, const json_t *pl, const json_t *nl, size_t pods,
		    void *arg)
{
	size_t *n = arg;

	cr_assert_geq(id, SL_ID_FIRST_LOCAL);
	cr_assert_not_null(ns);
	cr_assert(json_is_object(pl) && json_is_object(nl));
	*n += pods;
	return 0;
}

Test(identity, persistence)
{
	char dir[] = "/tmp/sluice-identity-XXXXXX";
	uint32_t a, b, c;
	size_t pods = 0;
	char cmd[128];

	cr_assert_not_null(mkdtemp(dir));
	a = pod_set("default", "a", "{\"app\":\"web\"}");
	b = pod_set("default", "b", "{\"app\":\"db\"}");
	cr_assert_eq(identity_save(dir), 0);
	identity_reset();
	cr_assert_eq(identity_load(dir), 0);
	cr_assert_eq(identity_count(), 2, "loaded %zu identities, want 2", identity_count());
	/* reverse order: numbers come from the file, not from allocation order */
	cr_assert_eq(pod_set("default", "b", "{\"app\":\"db\"}"), b);
	cr_assert_eq(pod_set("default", "a", "{\"app\":\"web\"}"), a);
	c = pod_set("default", "c", "{\"app\":\"new\"}");
	cr_assert_gt(c, b, "new identity %u reuses a number at or below %u", c, b);
	identity_foreach(count_fn, &pods);
	cr_assert_eq(pods, 3);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

Test(identity, request_list)
{
	extern const struct request_handler model_requests[];
	json_t *reply = json_object(), *ids, *e;
	char err[256];
	size_t i;
	bool found = false;

	pod_set("default", "a", "{\"app\":\"web\"}");
	cr_assert_str_eq(model_requests[0].name, "identity.list");
	cr_assert_eq(model_requests[0].fn(NULL, reply, err, sizeof(err)), 0, "%s", err);
	ids = json_object_get(reply, "identities");
	cr_assert(json_is_array(ids));
	json_array_foreach(ids, i, e) {
		if (json_integer_value(json_object_get(e, "id")) < SL_ID_FIRST_LOCAL)
			continue;
		found = true;
		cr_assert_str_eq(json_string_value(json_object_get(e, "namespace")), "default");
		cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "labels"), "app")), "web");
		cr_assert_str_eq(json_string_value(json_array_get(json_object_get(e, "pods"), 0)), "default/a");
		cr_assert(json_is_object(json_object_get(e, "namespaceLabels")));
	}
	cr_assert(found);
	json_decref(reply);
}
