// SPDX-License-Identifier: Apache-2.0
/* The object store's two representations (controller/store.c): trees for
 * kinds others read (Pod, Namespace, ...), compact text for kinds only the
 * feed reads (Service, EndpointSlice), and the feed's pruning of fields
 * nobody reads. Both must behave the same through the store API, the
 * initial-list GC and a save/load round trip. */
#include <stdlib.h>
#include <unistd.h>

#include "model_test.h"
#include "../../controller/services.h"

static const char *const svc_json =
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\","
	"\"resourceVersion\":\"5\"},\"spec\":{\"clusterIP\":\"10.96.0.10\",\"selector\":{\"app\":\"web\"},"
	"\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}]}}";

static json_t *slice(const char *name, const char *rv)
{
	json_error_t e;
	char buf[1024];
	json_t *v;

	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"%s\","
		 "\"namespace\":\"default\",\"resourceVersion\":\"%s\",\"labels\":{\"kubernetes.io/service-name\":\"web\"},"
		 "\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"name\":\"web\",\"uid\":\"u1\"}]},"
		 "\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}],"
		 "\"endpoints\":[{\"addresses\":[\"10.244.0.5\"],\"conditions\":{\"ready\":true},"
		 "\"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-1\",\"namespace\":\"default\"},\"zone\":\"a\"}]}",
		 name, rv);
	v = json_loads(buf, 0, &e);
	cr_assert_not_null(v, "test slice is not JSON: %s", e.text);
	return v;
}

static void setup(void)
{
	model_test_reset();
	services_reset();
	ctl.bpffs = NULL; /* services: model only */
}

static void teardown(void)
{
	model_test_reset();
	services_reset();
}

TestSuite(model_store, .init = setup, .fini = teardown);

Test(model_store, text_kind_round_trips_through_the_api)
{
	json_t *s = slice("web-abc", "7"), *copy = json_deep_copy(s), *taken;
	const json_t *got;

	cr_assert_eq(store_put("EndpointSlice", "default", "web-abc", s), 0);
	got = store_get("EndpointSlice", "default", "web-abc");
	cr_assert_not_null(got, "stored EndpointSlice not found");
	cr_assert(json_equal((json_t *)got, copy), "stored EndpointSlice differs from what was put");
	cr_assert_eq(store_get("EndpointSlice", "default", "web-abc"), got,
		     "a second get before any change must return the same object");
	cr_assert_eq(store_count("EndpointSlice"), 1);
	cr_assert(store_same("EndpointSlice", "default", "web-abc", copy),
		  "store_same: the object just stored compares different");
	json_object_set_new(json_object_get(copy, "metadata"), "resourceVersion", json_string("8"));
	cr_assert(!store_same("EndpointSlice", "default", "web-abc", copy),
		  "store_same: a changed resourceVersion compares equal");
	cr_assert(!store_same("EndpointSlice", "default", "nope", copy),
		  "store_same: an unknown name compares equal");
	json_object_set_new(json_object_get(copy, "metadata"), "resourceVersion", json_string("7"));
	taken = store_take("EndpointSlice", "default", "web-abc");
	cr_assert(json_equal(taken, copy), "store_take returned another object");
	cr_assert_null(store_get("EndpointSlice", "default", "web-abc"), "taken object still stored");
	cr_assert_eq(store_count("EndpointSlice"), 0, "count after take: %zu, want 0",
		     store_count("EndpointSlice"));
	json_decref(taken);
	json_decref(copy);
}

static int count_fn(const json_t *obj, void *arg)
{
	cr_assert(json_is_object(obj), "store_foreach handed a non-object");
	(*(int *)arg)++;
	return 0;
}

static int key_fn(const char *key, void *arg)
{
	cr_assert(strchr(key, '/'), "key %s lacks the namespace", key);
	(*(int *)arg)++;
	return 0;
}

Test(model_store, foreach_and_keys_see_every_text_object)
{
	int n = 0, k = 0;

	cr_assert_eq(store_put("EndpointSlice", "default", "a", slice("a", "1")), 0);
	cr_assert_eq(store_put("EndpointSlice", "default", "b", slice("b", "1")), 0);
	store_foreach("EndpointSlice", count_fn, &n);
	store_foreach_key("EndpointSlice", key_fn, &k);
	cr_assert_eq(n, 2, "store_foreach saw %d objects, want 2", n);
	cr_assert_eq(k, 2, "store_foreach_key saw %d keys, want 2", k);
}

Test(model_store, feed_prunes_unread_fields_and_gc_works_on_text_kinds)
{
	struct feed_conn *fc = feed_conn_new(), *fc2 = feed_conn_new();
	json_t *ja = slice("a", "10"), *jb = slice("b", "11");
	char *sa = json_dumps(ja, 0), *sb = json_dumps(jb, 0);
	const json_t *got, *ep;

	json_decref(ja);
	json_decref(jb);

	FEED_OK(fc, svc_json);
	FEED_OK(fc, sa);
	FEED_OK(fc, sb);
	got = store_get("EndpointSlice", "default", "a");
	cr_assert_not_null(got);
	ep = json_array_get(json_object_get(got, "endpoints"), 0);
	cr_assert_null(json_object_get(ep, "targetRef"), "endpoints[0].targetRef was kept");
	cr_assert_not_null(json_object_get(ep, "zone"), "endpoints[0].zone was dropped");
	cr_assert_null(json_object_get(json_object_get(got, "metadata"), "ownerReferences"),
		       "metadata.ownerReferences was kept");
	/* same object again: a no-op, accepted */
	FEED_OK(fc, sa);
	/* a second connection lists only "a": "b" goes */
	FEED_OK(fc2, sa);
	FEED_OK(fc2, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"EndpointSlice\",\"apiVersion\":"
		     "\"discovery.k8s.io/v1\",\"metadata\":{\"resourceVersion\":\"12\",\"annotations\":"
		     "{\"k8s.io/initial-events-end\":\"true\"}}}}");
	cr_assert_not_null(store_get("EndpointSlice", "default", "a"), "listed slice a was deleted");
	cr_assert_null(store_get("EndpointSlice", "default", "b"), "unlisted slice b survived");
	free(sa);
	free(sb);
	feed_conn_free(fc);
	feed_conn_free(fc2);
}

Test(model_store, save_and_load_round_trip_both_representations)
{
	char dir[] = "/tmp/sluice-store-test-XXXXXX", cmd[128];
	json_t *items, *svc;
	json_error_t e;

	cr_assert_not_null(mkdtemp(dir));
	svc = json_loads(svc_json, 0, &e);
	cr_assert_eq(store_put("Service", "default", "web", svc), 0);
	cr_assert_eq(store_put("Namespace", "", "default",
			       json_pack("{ss ss s{ss}}", "apiVersion", "v1", "kind", "Namespace",
					 "metadata", "name", "default")), 0);
	cr_assert_eq(store_save(dir), 0, "store_save failed");
	cr_assert_eq(store_load_items(dir, "Service", &items), 0);
	cr_assert_eq(json_array_size(items), 1, "Service.json holds %zu items, want 1",
		     json_array_size(items));
	cr_assert(json_equal(json_array_get(items, 0),
			     (json_t *)store_get("Service", "default", "web")),
		  "saved Service differs from the stored one");
	json_decref(items);
	cr_assert_eq(store_load_items(dir, "Namespace", &items), 0);
	cr_assert_eq(json_array_size(items), 1, "Namespace.json holds %zu items, want 1",
		     json_array_size(items));
	json_decref(items);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}
