// SPDX-License-Identifier: Apache-2.0
/* Security identities: one number per distinct (namespace, pod labels,
 * namespace labels), refcounted by pods, released after a delay, persisted.
 *
 * The tables are jansson objects used as string maps: by_key (canonical
 * label set -> entry), by_id ("<id>" -> the same entry), pods ("ns/name" ->
 * id) and nss (namespace -> labels). Entries are objects {"id", "namespace",
 * "labels", "namespaceLabels"} plus the unpersisted "refs" and
 * "releasedAt" (CLOCK_MONOTONIC seconds). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "identity.h"
#include "log.h"
#include "requests.h"
#include "store.h"

static json_t *by_key, *by_id, *pods, *nss;
static uint32_t next_id = SL_ID_FIRST_LOCAL;
static bool dirty;

static long long now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int tables(void)
{
	if (!by_key)
		by_key = json_object();
	if (!by_id)
		by_id = json_object();
	if (!pods)
		pods = json_object();
	if (!nss)
		nss = json_object();
	return by_key && by_id && pods && nss ? 0 : -ENOMEM;
}

void identity_reset(void)
{
	json_decref(by_key);
	json_decref(by_id);
	json_decref(pods);
	json_decref(nss);
	by_key = by_id = pods = nss = NULL;
	next_id = SL_ID_FIRST_LOCAL;
	dirty = false;
}

static json_t *entry_of(uint32_t id)
{
	char k[16];

	snprintf(k, sizeof(k), "%u", id);
	return by_id ? json_object_get(by_id, k) : NULL;
}

static uint32_t entry_id(const json_t *e)
{
	return (uint32_t)json_integer_value(json_object_get(e, "id"));
}

static int pod_key(const char *ns, const char *pod, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", ns, pod);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Labels a namespace's pods see: the Namespace's, or the API server's
 * default label while the Namespace object is unknown (so the identity does
 * not change when the object arrives with only the default). New ref. */
static json_t *ns_labels(const char *ns)
{
	json_t *l = nss ? json_object_get(nss, ns) : NULL;

	if (l)
		return json_incref(l);
	return json_pack("{ss}", "kubernetes.io/metadata.name", ns);
}

/* ns \n sorted pod labels \n sorted namespace labels. malloc'd. */
static char *canonical_key(const char *ns, const json_t *labels, const json_t *nsl)
{
	char *a = NULL, *b = NULL, *k = NULL;
	json_t *empty = json_object();

	if (!empty)
		return NULL;
	a = json_dumps(labels ? labels : empty, JSON_COMPACT | JSON_SORT_KEYS);
	b = json_dumps(nsl ? nsl : empty, JSON_COMPACT | JSON_SORT_KEYS);
	if (a && b && asprintf(&k, "%s\n%s\n%s", ns, a, b) < 0)
		k = NULL;
	free(a);
	free(b);
	json_decref(empty);
	return k;
}

static uint32_t alloc_number(void)
{
	uint32_t span = IDENTITY_MAX - SL_ID_FIRST_LOCAL + 1, cand = next_id;

	for (uint32_t i = 0; i < span; i++, cand++) {
		if (cand > IDENTITY_MAX || cand < SL_ID_FIRST_LOCAL)
			cand = SL_ID_FIRST_LOCAL;
		if (!entry_of(cand)) {
			next_id = cand + 1;
			return cand;
		}
	}
	return 0;
}

static void unref(uint32_t id)
{
	json_t *e;
	long long refs;

	if (id < SL_ID_FIRST_LOCAL || !(e = entry_of(id)))
		return;
	refs = json_integer_value(json_object_get(e, "refs")) - 1;
	if (refs <= 0) {
		refs = 0;
		json_object_set_new(e, "releasedAt", json_integer(now_s()));
	}
	json_object_set_new(e, "refs", json_integer(refs));
}

static int set_pod(const char *ns, const char *pod, uint32_t id)
{
	char pk[320];
	json_t *cur;
	uint32_t old = 0;
	int rc;

	rc = pod_key(ns, pod, pk, sizeof(pk));
	if (rc)
		return rc;
	cur = json_object_get(pods, pk);
	if (cur)
		old = (uint32_t)json_integer_value(cur);
	if (old == id)
		return 0;
	if (json_object_set_new(pods, pk, json_integer(id)))
		return -ENOMEM;
	if (id >= SL_ID_FIRST_LOCAL) {
		json_t *e = entry_of(id);

		json_object_set_new(e, "refs",
				    json_integer(json_integer_value(json_object_get(e, "refs")) + 1));
		json_object_del(e, "releasedAt");
	}
	unref(old);
	return 0;
}

int identity_ns_set(const char *ns, const json_t *labels)
{
	json_t *c;

	if (tables())
		return -ENOMEM;
	if (!labels) {
		json_object_del(nss, ns);
		return 0;
	}
	c = json_deep_copy(labels);
	if (!c || json_object_set_new(nss, ns, c))
		return -ENOMEM;
	return 0;
}

/* Find or create the entry for a label set; NULL with *err set. */
static json_t *find_or_create(const char *ns, const json_t *labels, int *err)
{
	json_t *nsl = NULL, *e = NULL, *lab = NULL;
	char *key = NULL, idk[16];
	uint32_t id;

	*err = -ENOMEM;
	nsl = ns_labels(ns);
	if (!nsl)
		goto out;
	key = canonical_key(ns, labels, nsl);
	if (!key)
		goto out;
	e = json_object_get(by_key, key);
	if (e)
		goto out;
	id = alloc_number();
	if (!id) {
		*err = -ENOSPC;
		pr_warn("identities: no free number left for namespace %s\n", ns);
		goto out;
	}
	lab = labels ? json_deep_copy(labels) : json_object();
	e = json_pack("{sI ss so sO sI}", "id", (json_int_t)id, "namespace", ns, "labels", lab,
		      "namespaceLabels", nsl, "refs", (json_int_t)0);
	if (!e)
		goto out;
	snprintf(idk, sizeof(idk), "%u", id);
	if (json_object_set(by_key, key, e) || json_object_set(by_id, idk, e)) {
		json_object_del(by_key, key);
		json_object_del(by_id, idk);
		json_decref(e);
		e = NULL;
		goto out;
	}
	json_decref(e); /* the maps hold it */
	json_object_set_new(e, "releasedAt", json_integer(now_s()));
	dirty = true;
	pr_debug("identity %u allocated for namespace %s\n", id, ns);
out:
	if (e)
		*err = 0;
	json_decref(nsl);
	free(key);
	return e;
}

uint32_t identity_pod_set(const char *ns, const char *pod, const json_t *labels, int *err)
{
	json_t *e;
	uint32_t id;
	int rc;

	*err = 0;
	if (tables()) {
		*err = -ENOMEM;
		return 0;
	}
	e = find_or_create(ns, labels, err);
	if (!e)
		return 0;
	id = entry_id(e);
	rc = set_pod(ns, pod, id);
	if (rc) {
		*err = rc;
		return 0;
	}
	return id;
}

int identity_pod_set_reserved(const char *ns, const char *pod, uint32_t id)
{
	if (id >= SL_ID_FIRST_LOCAL)
		return -EINVAL;
	if (tables())
		return -ENOMEM;
	return set_pod(ns, pod, id);
}

void identity_pod_del(const char *ns, const char *pod)
{
	char pk[320];
	json_t *cur;

	if (!pods || pod_key(ns, pod, pk, sizeof(pk)))
		return;
	cur = json_object_get(pods, pk);
	if (!cur)
		return;
	unref((uint32_t)json_integer_value(cur));
	json_object_del(pods, pk);
}

uint32_t identity_of_pod(const char *ns, const char *pod)
{
	char pk[320];

	if (!pods || pod_key(ns, pod, pk, sizeof(pk)))
		return 0;
	return (uint32_t)json_integer_value(json_object_get(pods, pk));
}

uint32_t model_pod_identity(const char *ns, const char *name)
{
	return identity_of_pod(ns ? ns : "", name ? name : "");
}

static const char *reserved_name(uint32_t id)
{
	switch (id) {
	case SL_ID_HOST:
		return "host";
	case SL_ID_WORLD:
		return "world";
	case SL_ID_REMOTE_NODE:
		return "remote-node";
	}
	return NULL;
}

json_t *model_identity_labels(uint32_t identity)
{
	const char *key, *rn = reserved_name(identity);
	json_t *e, *out, *v;
	char buf[320];

	if (rn) {
		snprintf(buf, sizeof(buf), "reserved:%s", rn);
		return json_pack("{ss}", buf, "");
	}
	e = entry_of(identity);
	if (!e)
		return NULL;
	out = json_pack("{sO}", IDENTITY_NS_KEY, json_object_get(e, "namespace"));
	if (!out)
		return NULL;
	json_object_foreach(json_object_get(e, "labels"), key, v) {
		snprintf(buf, sizeof(buf), "k8s:%s", key);
		json_object_set(out, buf, v);
	}
	json_object_foreach(json_object_get(e, "namespaceLabels"), key, v) {
		snprintf(buf, sizeof(buf), "k8s:ns:%s", key);
		json_object_set(out, buf, v);
	}
	return out;
}

int identity_foreach(int (*fn)(uint32_t id, const char *ns, const json_t *pod_labels,
			       const json_t *ns_labels, size_t pods, void *arg),
		     void *arg)
{
	const char *k;
	json_t *e;
	int rc;

	if (!by_id)
		return 0;
	json_object_foreach(by_id, k, e) {
		rc = fn(entry_id(e), json_string_value(json_object_get(e, "namespace")),
			json_object_get(e, "labels"), json_object_get(e, "namespaceLabels"),
			(size_t)json_integer_value(json_object_get(e, "refs")), arg);
		if (rc)
			return rc;
	}
	return 0;
}

size_t identity_count(void)
{
	return by_id ? json_object_size(by_id) : 0;
}

/* For status.c. */
size_t model_identity_count(void);
size_t model_identity_count(void)
{
	return identity_count();
}

void identity_gc(unsigned int delay_s)
{
	long long now = now_s();
	const char *k;
	json_t *e, *tmp;
	char *key;

	if (!by_id)
		return;
	json_object_foreach_safe(by_id, tmp, k, e) {
		json_t *rel = json_object_get(e, "releasedAt");

		if (json_integer_value(json_object_get(e, "refs")) > 0 || !rel ||
		    now - json_integer_value(rel) < (long long)delay_s)
			continue;
		key = canonical_key(json_string_value(json_object_get(e, "namespace")),
				    json_object_get(e, "labels"),
				    json_object_get(e, "namespaceLabels"));
		if (!key)
			return; /* out of memory: try again next time */
		pr_debug("identity %u released\n", entry_id(e));
		json_object_del(by_key, key);
		free(key);
		json_object_del(by_id, k); /* last: e dies here */
		dirty = true;
	}
}

/* ---- persistence -------------------------------------------------------- */

static int identities_path(const char *dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/identities.json", dir);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int identity_save(const char *state_dir)
{
	char path[4096];
	json_t *doc, *arr, *e;
	const char *k;
	int rc;

	if (!dirty || !state_dir)
		return 0;
	rc = identities_path(state_dir, path, sizeof(path));
	if (rc)
		return rc;
	arr = json_array();
	doc = json_pack("{sI so}", "nextId", (json_int_t)next_id, "identities", arr);
	if (!doc)
		return -ENOMEM;
	json_object_foreach(by_id, k, e) {
		if (json_array_append_new(arr, json_pack("{sO sO sO sO}", "id", json_object_get(e, "id"),
							 "namespace", json_object_get(e, "namespace"),
							 "labels", json_object_get(e, "labels"),
							 "namespaceLabels",
							 json_object_get(e, "namespaceLabels")))) {
			json_decref(doc);
			return -ENOMEM;
		}
	}
	rc = store_write_json_atomic(path, doc);
	json_decref(doc);
	if (!rc)
		dirty = false;
	return rc;
}

int identity_load(const char *state_dir)
{
	json_error_t jerr;
	char path[4096], idk[16];
	json_t *doc, *arr, *it;
	size_t i;
	int rc;

	identity_reset();
	rc = tables();
	if (rc || !state_dir)
		return rc;
	rc = identities_path(state_dir, path, sizeof(path));
	if (rc)
		return rc;
	doc = json_load_file(path, 0, &jerr);
	if (!doc) {
		if (access(path, F_OK) && errno == ENOENT)
			return 0;
		pr_warn("couldn't read %s: %s (line %d); identities start afresh\n", path, jerr.text,
			jerr.line);
		return 0;
	}
	arr = json_object_get(doc, "identities");
	json_array_foreach(arr, i, it) {
		json_int_t id = json_integer_value(json_object_get(it, "id"));
		const char *ns = json_string_value(json_object_get(it, "namespace"));
		json_t *lab = json_object_get(it, "labels"), *nsl = json_object_get(it, "namespaceLabels");
		json_t *e;
		char *key;

		if (id < SL_ID_FIRST_LOCAL || id > IDENTITY_MAX || !ns || !json_is_object(lab) ||
		    !json_is_object(nsl) || entry_of((uint32_t)id)) {
			pr_warn("%s: identities[%zu] malformed or duplicate, skipped\n", path, i);
			continue;
		}
		key = canonical_key(ns, lab, nsl);
		if (!key) {
			rc = -ENOMEM;
			break;
		}
		if (json_object_get(by_key, key)) {
			pr_warn("%s: identities[%zu] duplicates a label set, skipped\n", path, i);
			free(key);
			continue;
		}
		e = json_pack("{sI ss sO sO sI sI}", "id", id, "namespace", ns, "labels", lab,
			      "namespaceLabels", nsl, "refs", (json_int_t)0, "releasedAt",
			      (json_int_t)now_s());
		snprintf(idk, sizeof(idk), "%u", (uint32_t)id);
		if (!e || json_object_set(by_key, key, e) || json_object_set(by_id, idk, e)) {
			json_decref(e);
			free(key);
			rc = -ENOMEM;
			break;
		}
		json_decref(e);
		free(key);
	}
	{
		json_int_t n = json_integer_value(json_object_get(doc, "nextId"));

		if (n >= SL_ID_FIRST_LOCAL && n <= IDENTITY_MAX + 1)
			next_id = (uint32_t)n;
	}
	json_decref(doc);
	pr_info("loaded %zu identities from %s\n", identity_count(), path);
	return rc;
}

/* ---- requests ------------------------------------------------------------ */

static json_t *reserved_entry(uint32_t id)
{
	return json_pack("{sI sn so so sI so}", "id", (json_int_t)id, "namespace", "labels",
			 model_identity_labels(id), "namespaceLabels", json_object(), "refs",
			 (json_int_t)0, "pods", json_array());
}

/* identity.list: {"identities":[{id, namespace, labels, namespaceLabels,
 * pods: ["ns/name", ...]}]}, reserved identities first (namespace null). */
static int req_identity_list(const json_t *req, json_t *reply, char *err, size_t errlen)
{
	static const uint32_t reserved[] = { SL_ID_HOST, SL_ID_WORLD, SL_ID_REMOTE_NODE };
	json_t *arr = json_array(), *podlists = json_object(), *e, *v;
	const char *k;

	(void)req;
	if (!arr || !podlists)
		goto oom;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (json_array_append_new(arr, reserved_entry(reserved[i])))
			goto oom;
	json_object_foreach(pods, k, v) {
		char idk[16];
		json_t *l;

		snprintf(idk, sizeof(idk), "%u", (uint32_t)json_integer_value(v));
		l = json_object_get(podlists, idk);
		if (!l && json_object_set_new(podlists, idk, l = json_array()))
			goto oom;
		if (json_array_append_new(l, json_string(k)))
			goto oom;
	}
	json_object_foreach(by_id, k, e) {
		json_t *pl = json_object_get(podlists, k);
		json_t *o = json_pack("{sO sO sO sO sO}", "id", json_object_get(e, "id"), "namespace",
				      json_object_get(e, "namespace"), "labels",
				      json_object_get(e, "labels"), "namespaceLabels",
				      json_object_get(e, "namespaceLabels"), "refs",
				      json_object_get(e, "refs"));

		if (!o || json_object_set_new(o, "pods", pl ? json_incref(pl) : json_array()) ||
		    json_array_append_new(arr, o))
			goto oom;
	}
	/* reserved pods (hostNetwork) are listed under their reserved entries */
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		char idk[16];
		json_t *pl;

		snprintf(idk, sizeof(idk), "%u", reserved[i]);
		pl = json_object_get(podlists, idk);
		if (pl)
			json_object_set(json_array_get(arr, i), "pods", pl);
	}
	json_decref(podlists);
	if (json_object_set_new(reply, "identities", arr))
		goto oom_reply;
	return 0;
oom:
	json_decref(arr);
	json_decref(podlists);
oom_reply:
	snprintf(err, errlen, "identity.list: out of memory");
	return -ENOMEM;
}

const struct request_handler model_requests[] = {
	{ "identity.list", req_identity_list },
	{ NULL, NULL },
};
