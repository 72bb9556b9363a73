// SPDX-License-Identifier: Apache-2.0
/* The Kubernetes feed: watch events, bare objects and Lists in, the object
 * store and the kind handlers (kinds.h) out.
 *
 * Semantics (the README's feed section should say the same):
 * - Every value is all-or-nothing. A List is validated item by item first,
 *   then applied in order; if an item fails to apply, the ones already
 *   applied are rolled back (handler apply(new, old), store restored).
 * - resourceVersion: an upsert or DELETED whose resourceVersion is older
 *   than the stored one (both decimal, compared as integers) is stale: it is
 *   ignored and answered ok, because it is not wrong, only late (a watch
 *   re-established on an older revision, a second feeder lagging behind).
 *   Unparsable versions never count as older. An update identical to the
 *   stored object is a no-op.
 * - Initial lists: from the first object of a kind a connection sends (and
 *   again after each initial-events-end BOOKMARK), the connection remembers
 *   every object of that kind it sent (stale ones included, DELETED ones
 *   forgotten). A BOOKMARK with k8s.io/initial-events-end: "true" deletes
 *   every stored object of that kind the connection did not send.
 * - Kinds are matched on kind + the apiVersion's group; a version of a known
 *   group other than the one we implement is refused. An object without
 *   apiVersion is taken to be of the handler's version. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "feed.h"
#include "identity.h"
#include "ipcache.h"
#include "k8s_util.h"
#include "kinds.h"
#include "log.h"
#include "services.h"
#include "store.h"

#define INITIAL_EVENTS_END "k8s.io/initial-events-end"

struct feed_conn {
	json_t *listing; /* kind -> {"ns/name": true} objects sent since the list began */
};

/* One applied change, kept for rollback. */
struct op {
	const struct kind_ops *ops;
	json_t *old; /* owned, NULL on create */
	json_t *new; /* owned, NULL on delete */
};

struct txn {
	struct op *ops;
	size_t n, cap;
	json_t *seen; /* kind -> ["key"...] to add to the connection's listing on commit */
	json_t *unseen; /* kind -> ["key"...] to forget (DELETED) */
};

static bool model_changed;

/* ---- kinds ---------------------------------------------------------------- */

/* Every kind the feed understands, in the order a restart replays them
 * (namespaces and nodes before the pods that refer to them). */
static const struct kind_ops *const kinds[] = {
	&kind_namespace, &kind_node, &kind_pod, &kind_service, &kind_endpointslice,
	&kind_networkpolicy,
};
#define N_KINDS ((int)(sizeof(kinds) / sizeof(kinds[0])))

/* "group/version" -> group length (0 for the core group "v1"). */
static size_t group_len(const char *api_version)
{
	const char *slash = strchr(api_version, '/');

	return slash ? (size_t)(slash - api_version) : 0;
}

static bool same_group(const char *a, const char *b)
{
	size_t la = group_len(a), lb = group_len(b);

	return la == lb && !strncmp(a, b, la);
}

/* The handler for obj's kind/apiVersion, or NULL with err set. */
static const struct kind_ops *lookup_kind(const char *kind, const char *api_version, char *err,
					  size_t errlen)
{
	char k[64], av[64];

	for (int i = 0; i < N_KINDS; i++) {
		const struct kind_ops *ops = kinds[i];

		if (strcmp(kind, ops->kind))
			continue;
		if (api_version && !same_group(api_version, ops->api_version))
			continue;
		if (api_version && strcmp(api_version, ops->api_version)) {
			snprintf(err, errlen, "%s: apiVersion %.40s is not supported (want %s)", kind,
				 api_version, ops->api_version);
			return NULL;
		}
		return ops;
	}
	snprintf(k, sizeof(k), "%.60s", kind);
	snprintf(av, sizeof(av), "%.60s", api_version ? api_version : "");
	snprintf(err, errlen, "unknown kind %s%s%s: not one of v1 Namespace, Pod, Node, Service, discovery.k8s.io/v1 EndpointSlice, networking.k8s.io/v1 NetworkPolicy",
		 av[0] ? av : "", av[0] ? " " : "", k);
	return NULL;
}

/* ---- connections ------------------------------------------------------------ */

struct feed_conn *feed_conn_new(void)
{
	struct feed_conn *fc = calloc(1, sizeof(*fc));

	if (!fc)
		return NULL;
	fc->listing = json_object();
	if (!fc->listing) {
		free(fc);
		return NULL;
	}
	return fc;
}

void feed_conn_free(struct feed_conn *fc)
{
	if (!fc)
		return;
	json_decref(fc->listing);
	free(fc);
}

/* ---- transactions -------------------------------------------------------- */

static void txn_init(struct txn *t)
{
	memset(t, 0, sizeof(*t));
}

static void txn_free(struct txn *t)
{
	for (size_t i = 0; i < t->n; i++) {
		json_decref(t->ops[i].old);
		json_decref(t->ops[i].new);
	}
	free(t->ops);
	json_decref(t->seen);
	json_decref(t->unseen);
	memset(t, 0, sizeof(*t));
}

static int key_of(const struct kind_ops *ops, const json_t *obj, char *buf, size_t len)
{
	const char *ns = ops->namespaced ? k8s_namespace(obj) : "";
	const char *name = k8s_name(obj);
	int n = *ns ? snprintf(buf, len, "%s/%s", ns, name) : snprintf(buf, len, "%s", name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int txn_note(json_t **where, const struct kind_ops *ops, const json_t *obj)
{
	char key[320];
	json_t *arr;

	if (key_of(ops, obj, key, sizeof(key)))
		return -ENAMETOOLONG;
	if (!*where && !(*where = json_object()))
		return -ENOMEM;
	arr = json_object_get(*where, ops->kind);
	if (!arr && json_object_set_new(*where, ops->kind, arr = json_array()))
		return -ENOMEM;
	return json_array_append_new(arr, json_string(key)) ? -ENOMEM : 0;
}

/* Make the handler and the store reflect old -> new. On success the op
 * (with its references) is recorded in t for rollback. */
static int do_op(struct txn *t, const struct kind_ops *ops, json_t *old, json_t *new,
		 char *err, size_t errlen)
{
	const json_t *o = new ? new : old;
	const char *ns = ops->namespaced ? k8s_namespace(o) : "";
	const char *name = k8s_name(o);
	int rc;

	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 8;
		struct op *p = realloc(t->ops, nc * sizeof(*p));

		if (!p)
			goto oom;
		t->ops = p;
		t->cap = nc;
	}
	if (ops->apply) {
		rc = ops->apply(old, new, err, errlen);
		if (rc)
			goto fail;
	}
	if (new)
		rc = store_put(ops->kind, ns, name, json_incref(new));
	else
		json_decref(store_take(ops->kind, ns, name)), rc = 0;
	if (rc) {
		char e2[64];

		if (ops->apply)
			ops->apply(new, old, e2, sizeof(e2));
		goto oom;
	}
	t->ops[t->n++] = (struct op){ .ops = ops, .old = old, .new = new };
	model_changed = true;
	return 0;
oom:
	rc = -ENOMEM;
	snprintf(err, errlen, "%s %s%s%s: out of memory", ops->kind, ns, *ns ? "/" : "", name);
fail:
	json_decref(old);
	json_decref(new);
	return rc;
}

/* Undo every op, newest first. Best effort: an undo failing is logged. */
static void txn_rollback(struct txn *t)
{
	while (t->n) {
		struct op *op = &t->ops[--t->n];
		const json_t *o = op->old ? op->old : op->new;
		const char *ns = op->ops->namespaced ? k8s_namespace(o) : "";
		char err[256];

		if (op->ops->apply && op->ops->apply(op->new, op->old, err, sizeof(err)))
			pr_warn("feed: rollback of %s %s/%s failed: %s\n", op->ops->kind, ns,
				k8s_name(o), err);
		if (op->old)
			store_put(op->ops->kind, ns, k8s_name(o), json_incref(op->old));
		else
			json_decref(store_take(op->ops->kind, ns, k8s_name(o)));
		json_decref(op->old);
		json_decref(op->new);
	}
}

static void txn_commit(struct feed_conn *fc, struct txn *t)
{
	const char *kind;
	json_t *arr, *v;
	size_t i;

	if (!fc)
		return;
	json_object_foreach(t->seen, kind, arr) {
		json_t *set = json_object_get(fc->listing, kind);

		if (!set && json_object_set_new(fc->listing, kind, set = json_object()))
			continue; /* out of memory: the GC keeps more, never less */
		json_array_foreach(arr, i, v)
			json_object_set(set, json_string_value(v), json_true());
	}
	json_object_foreach(t->unseen, kind, arr) {
		json_t *set = json_object_get(fc->listing, kind);

		json_array_foreach(arr, i, v)
			json_object_del(set, json_string_value(v));
	}
}

/* ---- values ---------------------------------------------------------------- */

/* Delete every key of obj not in keep (NULL-terminated). */
static void keep_only(json_t *obj, const char *const *keep)
{
	const char *key;
	json_t *v, *tmp;

	json_object_foreach_safe(obj, tmp, key, v) {
		const char *const *k = keep;

		while (*k && strcmp(*k, key))
			k++;
		if (!*k)
			json_object_del(obj, key);
	}
}

static void del_keys(json_t *obj, const char *const *keys)
{
	for (; *keys; keys++)
		json_object_del(obj, *keys);
}

/* Drop what no handler, request or restart reads and what is often the
 * bulk of an object, before it is compared and stored: the store keeps
 * every object of the cluster, so each byte here counts 5,000 or 100,000
 * times against the RSS budget (issue 3: <= 100 MB). Validation has run
 * already, and what is left still validates when the store is replayed.
 * Whoever starts reading one of these fields must stop dropping it here. */
static void prune(const struct kind_ops *ops, json_t *obj)
{
	static const char *const meta_drop[] = { "managedFields", "ownerReferences", NULL };
	static const char *const pod_spec_drop[] = {
		"volumes", "affinity", "tolerations", "topologySpreadConstraints", "readinessGates",
		"imagePullSecrets", "securityContext", "dnsConfig", "hostAliases", "overhead",
		"schedulingGates", "resourceClaims", NULL
	};
	/* named ports (NetworkPolicy) are all a container is read for;
	 * restartPolicy marks sidecar init containers */
	static const char *const container_keep[] = { "name", "ports", "restartPolicy", NULL };
	static const char *const pod_status_drop[] = {
		"conditions", "containerStatuses", "initContainerStatuses",
		"ephemeralContainerStatuses", "resourceClaimStatuses", NULL
	};
	static const char *const ep_drop[] = { "targetRef", "deprecatedTopology", NULL };
	static const char *const containers[] = { "containers", "initContainers",
						  "ephemeralContainers", NULL };
	json_t *meta = json_object_get(obj, "metadata"), *spec, *v;
	size_t i;

	del_keys(meta, meta_drop);
	json_object_del(json_object_get(meta, "annotations"),
			"kubectl.kubernetes.io/last-applied-configuration");
	if (!strcmp(ops->kind, "Pod")) {
		spec = json_object_get(obj, "spec");
		del_keys(spec, pod_spec_drop);
		for (const char *const *k = containers; *k; k++)
			json_array_foreach(json_object_get(spec, *k), i, v)
				keep_only(v, container_keep);
		del_keys(json_object_get(obj, "status"), pod_status_drop);
	} else if (!strcmp(ops->kind, "EndpointSlice")) {
		json_array_foreach(json_object_get(obj, "endpoints"), i, v)
			del_keys(v, ep_drop);
	}
}

/* obj validated, defaulted and pruned in place (kind/apiVersion filled
 * from the defaults given): a new reference, or NULL with err set (obj may
 * then be half-defaulted: the value is refused as a whole). *ops_out is
 * its handler. */
static json_t *prepare(const json_t *obj, const char *dflt_kind, const char *dflt_av,
		       const struct kind_ops **ops_out, char *err, size_t errlen)
{
	const char *kind, *av;
	const struct kind_ops *ops;
	json_t *c;
	int rc;

	if (!json_is_object(obj)) {
		snprintf(err, errlen, "object: must be a JSON object");
		return NULL;
	}
	kind = k8s_kind(obj);
	av = k8s_api_version(obj);
	if (json_object_get(obj, "kind") && !kind) {
		snprintf(err, errlen, "kind: must be a string");
		return NULL;
	}
	if (json_object_get(obj, "apiVersion") && !av) {
		snprintf(err, errlen, "apiVersion: must be a string");
		return NULL;
	}
	if (!kind || !*kind) {
		kind = dflt_kind;
		if (!av)
			av = dflt_av;
	}
	if (!kind || !*kind) {
		snprintf(err, errlen, "kind: required");
		return NULL;
	}
	ops = lookup_kind(kind, av && *av ? av : NULL, err, errlen);
	if (!ops)
		return NULL;
	/* In place, not a copy: the caller is done with the value (feed.h),
	 * and a deep copy of every object was a fifth of the feed's CPU. */
	c = json_incref((json_t *)obj);
	if (!c || json_object_set_new(c, "kind", json_string(ops->kind)) ||
	    json_object_set_new(c, "apiVersion", json_string(ops->api_version))) {
		json_decref(c);
		snprintf(err, errlen, "%s: out of memory", kind);
		return NULL;
	}
	rc = ops->validate(c, err, errlen);
	if (rc) {
		json_decref(c);
		return NULL;
	}
	prune(ops, c);
	*ops_out = ops;
	return c;
}

/* Upsert a validated object (reference stolen). */
static int upsert(struct txn *t, const struct kind_ops *ops, json_t *obj, char *err, size_t errlen)
{
	const char *ns = ops->namespaced ? k8s_namespace(obj) : "";
	const json_t *cur;
	int rc;

	rc = txn_note(&t->seen, ops, obj);
	if (rc) {
		json_decref(obj);
		snprintf(err, errlen, "%s: out of memory", ops->kind);
		return rc;
	}
	/* the common no-op (a re-list) without parsing a serialised object */
	if (store_same(ops->kind, ns, k8s_name(obj), obj)) {
		json_decref(obj);
		return 0;
	}
	cur = store_get(ops->kind, ns, k8s_name(obj));
	if (cur && (k8s_rv_older(k8s_resource_version(obj), k8s_resource_version(cur)) ||
		    json_equal(cur, obj))) {
		if (!json_equal(cur, obj))
			pr_debug("feed: %s %s/%s resourceVersion %s older than %s: ignored\n",
				 ops->kind, ns, k8s_name(obj), k8s_resource_version(obj),
				 k8s_resource_version(cur));
		json_decref(obj);
		return 0;
	}
	/* stored objects are never modified in place: sharing cur is safe */
	return do_op(t, ops, cur ? json_incref((json_t *)cur) : NULL, obj, err, errlen);
}

/* Delete by a (metadata-validated) object, reference stolen. */
static int delete(struct txn *t, const struct kind_ops *ops, json_t *obj, char *err, size_t errlen)
{
	const char *ns = ops->namespaced ? k8s_namespace(obj) : "";
	const json_t *cur = store_get(ops->kind, ns, k8s_name(obj));
	json_t *old;
	int rc;

	rc = txn_note(&t->unseen, ops, obj);
	if (rc) {
		json_decref(obj);
		snprintf(err, errlen, "%s: out of memory", ops->kind);
		return rc;
	}
	if (!cur || k8s_rv_older(k8s_resource_version(obj), k8s_resource_version(cur))) {
		json_decref(obj);
		return 0;
	}
	json_decref(obj);
	old = json_incref((json_t *)cur);
	return do_op(t, ops, old, NULL, err, errlen);
}

/* DELETED objects only need to name what goes: their metadata is checked,
 * not the rest (the last state of an object may predate our rules). */
static json_t *prepare_delete(const json_t *obj, const struct kind_ops **ops_out, char *err,
			      size_t errlen)
{
	const struct kind_ops *ops;
	const char *kind = k8s_kind(obj), *av = k8s_api_version(obj);
	json_t *c;
	int rc;

	if (!json_is_object(obj)) {
		snprintf(err, errlen, "object: must be a JSON object");
		return NULL;
	}
	if (!kind || !*kind) {
		snprintf(err, errlen, "kind: required");
		return NULL;
	}
	ops = lookup_kind(kind, av && *av ? av : NULL, err, errlen);
	if (!ops)
		return NULL;
	c = json_incref((json_t *)obj); /* in place, as prepare() */
	rc = k8s_validate_metadata(&K8S_VCTX(c, err, errlen), c, ops->namespaced, NULL);
	if (rc) {
		json_decref(c);
		return NULL;
	}
	*ops_out = ops;
	return c;
}

struct gc_ctx {
	const struct kind_ops *ops;
	json_t *set, *victims;
};

/* By key: the objects themselves are only needed for the victims (the
 * store keeps some kinds serialised; parsing every one to compare names
 * would cost time and, until the next change, memory). */
static int gc_collect(const char *key, void *arg)
{
	struct gc_ctx *c = arg;

	if (c->set && json_object_get(c->set, key))
		return 0;
	return json_array_append_new(c->victims, json_string(key)) ? -ENOMEM : 0;
}

static int gc_listing(struct feed_conn *fc, struct txn *t, const struct kind_ops *ops,
		      char *err, size_t errlen)
{
	json_t *victims = json_array();
	struct gc_ctx ctx = { ops, fc ? json_object_get(fc->listing, ops->kind) : NULL, victims };
	size_t i;
	json_t *v;
	int rc = 0;

	if (!victims)
		goto oom;
	if (store_foreach_key(ops->kind, gc_collect, &ctx))
		goto oom;
	json_array_foreach(victims, i, v) {
		const char *key = json_string_value(v), *slash = strchr(key, '/');
		char ns[256] = "";
		const json_t *obj;

		if (slash && (size_t)(slash - key) < sizeof(ns))
			memcpy(ns, key, slash - key), ns[slash - key] = '\0';
		obj = store_get(ops->kind, ns, slash ? slash + 1 : key);
		if (!obj)
			goto oom; /* it was just listed: only parsing can fail */
		pr_info("feed: %s %s not in the initial list: deleted\n", ops->kind, key);
		rc = do_op(t, ops, json_incref((json_t *)obj), NULL, err, errlen);
		if (rc)
			break;
	}
	json_decref(victims);
	return rc;
oom:
	json_decref(victims);
	snprintf(err, errlen, "%s: initial-list cleanup: out of memory", ops->kind);
	return -ENOMEM;
}

static int apply_bookmark(struct feed_conn *fc, struct txn *t, const json_t *obj, bool *ended,
			  const struct kind_ops **ended_kind, char *err, size_t errlen)
{
	const char *kind = k8s_kind(obj), *av = k8s_api_version(obj), *end;
	const struct kind_ops *ops;

	*ended = false;
	if (!json_is_object(obj) || !kind) {
		snprintf(err, errlen, "BOOKMARK: object.kind: required");
		return -EINVAL;
	}
	ops = lookup_kind(kind, av && *av ? av : NULL, err, errlen);
	if (!ops)
		return -EINVAL;
	end = json_string_value(json_object_get(
		json_object_get(json_object_get(obj, "metadata"), "annotations"), INITIAL_EVENTS_END));
	if (!end || strcmp(end, "true"))
		return 0;
	*ended = true;
	*ended_kind = ops;
	return gc_listing(fc, t, ops, err, errlen);
}

static bool is_list_kind(const char *kind)
{
	size_t n = kind ? strlen(kind) : 0;

	return n >= 4 && !strcmp(kind + n - 4, "List");
}

static int apply_list(struct txn *t, const json_t *list, char *err, size_t errlen)
{
	const char *lkind = k8s_kind(list), *lav = k8s_api_version(list);
	json_t *items = json_object_get(list, "items"), *it, *prepared = NULL;
	const struct kind_ops **ops = NULL;
	char dk[64] = "", e2[1024];
	size_t i, n;
	int rc = 0;

	if (!json_is_array(items) && !json_is_null(items) && items) {
		snprintf(err, errlen, "%s: items: must be an array", lkind);
		return -EINVAL;
	}
	n = json_array_size(items);
	/* a typed list (PodList) names its items' kind */
	if (strcmp(lkind, "List") && strlen(lkind) - 4 < sizeof(dk))
		snprintf(dk, sizeof(dk), "%.*s", (int)(strlen(lkind) - 4), lkind);
	prepared = json_array();
	ops = calloc(n ? n : 1, sizeof(*ops));
	if (!prepared || !ops) {
		snprintf(err, errlen, "%s: out of memory", lkind);
		rc = -ENOMEM;
		goto out;
	}
	json_array_foreach(items, i, it) {
		json_t *c = prepare(it, dk[0] ? dk : NULL, dk[0] ? lav : NULL, &ops[i], e2, sizeof(e2));

		if (!c) {
			snprintf(err, errlen, "items[%zu]: %s", i, e2);
			rc = -EINVAL;
			goto out;
		}
		if (json_array_append_new(prepared, c)) {
			snprintf(err, errlen, "%s: out of memory", lkind);
			rc = -ENOMEM;
			goto out;
		}
	}
	json_array_foreach(prepared, i, it) {
		rc = upsert(t, ops[i], json_incref(it), e2, sizeof(e2));
		if (rc) {
			snprintf(err, errlen, "items[%zu]: %s", i, e2);
			goto out;
		}
	}
out:
	free(ops);
	json_decref(prepared);
	return rc;
}

static int apply_event(struct feed_conn *fc, struct txn *t, const json_t *value, bool *ended,
		       const struct kind_ops **ended_kind, char *err, size_t errlen)
{
	const char *type = json_string_value(json_object_get(value, "type"));
	const json_t *obj = json_object_get(value, "object");
	const struct kind_ops *ops;
	char e2[1024];
	json_t *c;
	int rc;

	if (!type) {
		snprintf(err, errlen, "watch event: type: must be a string");
		return -EINVAL;
	}
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "watch event %.20s: object: must be a JSON object", type);
		return -EINVAL;
	}
	if (!strcmp(type, "ERROR")) {
		const char *msg = json_string_value(json_object_get(obj, "message"));
		json_int_t code = json_integer_value(json_object_get(obj, "code"));

		snprintf(err, errlen, "watch ERROR: %.900s%s", msg ? msg : "(no message)",
			 code ? "" : "");
		if (code) {
			size_t l = strlen(err);

			snprintf(err + l, errlen - l, " (code %lld)", (long long)code);
		}
		return -EPROTO;
	}
	if (!strcmp(type, "BOOKMARK"))
		return apply_bookmark(fc, t, obj, ended, ended_kind, err, errlen);
	if (!strcmp(type, "DELETED")) {
		c = prepare_delete(obj, &ops, e2, sizeof(e2));
		if (!c)
			goto bad;
		rc = delete(t, ops, c, e2, sizeof(e2));
		if (rc)
			goto bad_rc;
		return 0;
	}
	if (strcmp(type, "ADDED") && strcmp(type, "MODIFIED")) {
		snprintf(err, errlen, "watch event: type %.40s: must be ADDED, MODIFIED, DELETED, BOOKMARK or ERROR",
			 type);
		return -EINVAL;
	}
	if (is_list_kind(k8s_kind(obj))) {
		snprintf(err, errlen, "watch event %s: object: a %.60s is not an object", type,
			 k8s_kind(obj));
		return -EINVAL;
	}
	c = prepare(obj, NULL, NULL, &ops, e2, sizeof(e2));
	if (!c)
		goto bad;
	rc = upsert(t, ops, c, e2, sizeof(e2));
	if (rc)
		goto bad_rc;
	return 0;
bad:
	rc = -EINVAL;
bad_rc:
	snprintf(err, errlen, "%s: %s", type, e2);
	return rc;
}

int feed_apply(struct feed_conn *fc, json_t *value, char *err, size_t errlen)
{
	const struct kind_ops *ended_kind = NULL;
	bool ended = false;
	struct txn t;
	int rc;

	txn_init(&t);
	if (!json_is_object(value)) {
		snprintf(err, errlen, "value: must be a JSON object (a watch event, an object or a List)");
		return -EINVAL;
	}
	if (json_object_get(value, "type") && json_object_get(value, "object") &&
	    !json_object_get(value, "kind")) {
		rc = apply_event(fc, &t, value, &ended, &ended_kind, err, errlen);
	} else if (!json_object_get(value, "kind")) {
		snprintf(err, errlen, "value: neither a watch event ({\"type\",\"object\"}) nor a Kubernetes object (no \"kind\")");
		rc = -EINVAL;
	} else if (!k8s_kind(value)) {
		snprintf(err, errlen, "kind: must be a string");
		rc = -EINVAL;
	} else if (is_list_kind(k8s_kind(value))) {
		rc = apply_list(&t, value, err, errlen);
	} else {
		const struct kind_ops *ops;
		json_t *c = prepare(value, NULL, NULL, &ops, err, errlen);

		rc = c ? upsert(&t, ops, c, err, errlen) : -EINVAL;
	}
	if (rc) {
		txn_rollback(&t);
	} else {
		txn_commit(fc, &t);
		if (ended && fc)
			json_object_del(fc->listing, ended_kind->kind);
	}
	txn_free(&t);
	/* maps converge after every value; failures stay pending and retry */
	ipcache_flush();
	/* conntrack entries of backends the value removed: one walk per value */
	services_flush_ct();
	return rc;
}

/* ---- start-up, persistence -------------------------------------------------- */

static unsigned int ticks, unsaved_ticks;
static bool unsaved;

int model_save(void)
{
	int rc = 0, r;

	if (!ctl.state_dir)
		return 0;
	r = store_save(ctl.state_dir);
	if (r)
		rc = r;
	r = identity_save(ctl.state_dir);
	if (r && !rc)
		rc = r;
	return rc;
}

/* Every 500 ms: persist once the feed has been quiet for a tick (or every
 * 5 s under constant churn, so a large store is not rewritten per value),
 * release identities unused for their delay, retry failed map writes. */
static void model_tick(void)
{
	bool quiet = !model_changed;

	if (++ticks % 20 == 0) {
		size_t before = identity_count();

		identity_gc(IDENTITY_RELEASE_DELAY_S);
		if (identity_count() != before)
			unsaved = true;
	}
	if (model_changed) {
		model_changed = false;
		unsaved = true;
	}
	if (unsaved && (quiet || ++unsaved_ticks >= 10)) {
		if (!model_save()) {
			unsaved = false;
			unsaved_ticks = 0;
		}
	}
	if (ipcache_pending())
		ipcache_flush();
}

int model_init(void)
{
	int rc;

	rc = identity_load(ctl.state_dir);
	if (rc) {
		pr_warn("model: couldn't load identities: %s\n", strerror(-rc));
		return rc;
	}
	for (int i = 0; ctl.state_dir && i < N_KINDS; i++) {
		const struct kind_ops *ops = kinds[i];
		size_t loaded = 0, k;
		json_t *items, *it;

		rc = store_load_items(ctl.state_dir, ops->kind, &items);
		if (rc)
			return rc;
		json_array_foreach(items, k, it) {
			const struct kind_ops *o;
			char err[1024];
			struct txn t;
			json_t *c = prepare(it, ops->kind, ops->api_version, &o, err, sizeof(err));

			if (!c || o != ops) {
				pr_warn("model: %s/model/%s.json: items[%zu] dropped: %s\n", ctl.state_dir,
					ops->kind, k, c ? "wrong kind" : err);
				json_decref(c);
				continue;
			}
			txn_init(&t);
			if (upsert(&t, ops, c, err, sizeof(err))) {
				pr_warn("model: %s/model/%s.json: items[%zu] dropped: %s\n", ctl.state_dir,
					ops->kind, k, err);
				txn_rollback(&t);
			} else {
				loaded++;
			}
			txn_free(&t);
		}
		json_decref(items);
		if (loaded)
			pr_info("model: restored %zu %s objects\n", loaded, ops->kind);
	}
	rc = ipcache_resync();
	if (rc)
		pr_warn("model: ipcache resync: %s; pending writes are retried\n", strerror(-rc));
	rc = ctl_add_timer(500, model_tick);
	if (rc) {
		pr_warn("model: couldn't add the model timer: %s\n", strerror(-rc));
		return rc;
	}
	model_changed = false;
	return 0;
}

void model_fini(void)
{
	int rc = model_save();

	if (rc)
		pr_warn("model: couldn't save the model: %s\n", strerror(-rc));
	ipcache_flush();
	store_reset();
	identity_reset();
	ipcache_reset();
	k8s_core_reset();
}
