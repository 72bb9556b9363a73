// SPDX-License-Identifier: Apache-2.0
/* The object store: per kind, a jansson object "ns/name" (or "name" for
 * cluster-scoped kinds; names cannot contain '/') -> the latest accepted
 * object. Persisted per kind as <state-dir>/model/<Kind>.json, itself a
 * valid feed List, so a restart replays it through the normal path.
 *
 * Kinds whose handlers keep a parsed model of their own and never read the
 * store (Service, EndpointSlice: services.c) are kept as compact JSON text
 * instead of jansson trees: a tree costs ~10x its text (a 100,000-endpoint
 * cluster held 280 MB of EndpointSlice trees, the text is 25 MB). store_get
 * parses such an object on demand and keeps only the last one parsed;
 * store_foreach parses each for the duration of its call (see store.h).
 * The text itself is kept deflated with a preset dictionary of the fields
 * these objects repeat (text_pack): 5x smaller again, at ~20 us per object
 * written and less to inflate one. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "log.h"
#include "store.h"

#define STORE_MAX_KINDS 16

struct kind_store {
	char kind[32];
	json_t *objs; /* key -> object, or -> packed text (text_pack) when text */
	json_t *last; /* text kinds: the object store_get parsed last, for key */
	char last_key[320];
	bool text;
	bool dirty;
};

static struct kind_store kinds[STORE_MAX_KINDS];

/* Kinds stored as text: nobody but feed.c reads them from the store. */
static bool text_kind(const char *kind)
{
	return !strcmp(kind, "EndpointSlice") || !strcmp(kind, "Service");
}

/* ---- packed text ------------------------------------------------------- */

/* A text kind's slot is a jansson string used as a byte buffer (jansson
 * strings carry their length and may hold any byte): the text's length
 * (4 bytes, host order) then the text as a raw deflate stream. It is never
 * dumped as JSON: readers go through text_unpack.
 *
 * Deflating objects of a few hundred bytes one at a time finds little to
 * reuse within each; a dictionary of what they all repeat (keys, fixed
 * values), most frequent last, gives 5x on a generated cluster instead of
 * 2-3x. Only this process reads the packed form (files hold plain JSON), so
 * the dictionary may change freely between versions. */
static const char text_dict[] =
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"\",\"namespace\":"
	"\"\",\"uid\":\"\",\"resourceVersion\":\"\",\"creationTimestamp\":\"T00:00:00Z\","
	"\"labels\":{\"app\":\"\"}},\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"10.96.\","
	"\"clusterIPs\":[\"10.96.\"],\"selector\":{\"app\":\"\"},\"ports\":[{\"name\":\"http\","
	"\"protocol\":\"TCP\",\"port\":80,\"targetPort\":\"http\"},{\"name\":\"metrics\","
	"\"port\":9090,\"targetPort\":8080}],\"ipFamilies\":[\"IPv4\"],\"ipFamilyPolicy\":"
	"\"SingleStack\",\"internalTrafficPolicy\":\"Cluster\",\"sessionAffinity\":\"None\","
	"\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":10800}}},\"status\":"
	"{\"loadBalancer\":{}}}"
	"{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":"
	"{\"name\":\"\",\"uid\":\"\",\"resourceVersion\":\"\",\"creationTimestamp\":"
	"\"T00:00:00Z\",\"namespace\":\"\",\"labels\":{\"kubernetes.io/service-name\":\"\","
	"\"endpointslice.kubernetes.io/managed-by\":\"endpointslice-controller.k8s.io\"}},"
	"\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\","
	"\"port\":8080}],\"endpoints\":[{\"addresses\":[\"10.244.\"],\"nodeName\":\"node-\","
	"\"zone\":\"zone-\",\"conditions\":{\"ready\":true,\"serving\":true,\"terminating\":"
	"false}},{\"addresses\":[\"10.244.\"],\"nodeName\":\"node-\",\"zone\":\"zone-\","
	"\"conditions\":{\"ready\":true,\"serving\":true,\"terminating\":false}}]}";

/* One stream each way, reset per object: a deflate state is ~140 KB.
 * memLevel 6 keeps the hash table that every reset clears at 16 KB (the
 * default 8 clears 64 KB per object for the same ratio on texts this
 * small). */
static struct {
	z_stream def, inf;
	bool def_ok, inf_ok;
} Z;

#define TEXT_HDR 4

static void text_streams_free(void)
{
	if (Z.def_ok)
		deflateEnd(&Z.def);
	if (Z.inf_ok)
		inflateEnd(&Z.inf);
	memset(&Z, 0, sizeof(Z));
}

/* The slot holding text t (len bytes): a new reference, or NULL when out
 * of memory (zlib fails on nothing else here). */
static json_t *text_pack(const char *t, size_t len)
{
	uint32_t raw = (uint32_t)len;
	unsigned char *buf;
	json_t *slot = NULL;
	uLong bound;

	if (len > UINT32_MAX)
		return NULL;
	if (!Z.def_ok) {
		if (deflateInit2(&Z.def, 1, Z_DEFLATED, -15, 6, Z_DEFAULT_STRATEGY) != Z_OK)
			return NULL;
		Z.def_ok = true;
	} else if (deflateReset(&Z.def) != Z_OK) {
		return NULL;
	}
	if (deflateSetDictionary(&Z.def, (const Bytef *)text_dict, sizeof(text_dict) - 1) != Z_OK)
		return NULL;
	bound = deflateBound(&Z.def, (uLong)len);
	buf = malloc(TEXT_HDR + bound);
	if (!buf)
		return NULL;
	memcpy(buf, &raw, TEXT_HDR);
	Z.def.next_in = (Bytef *)(uintptr_t)t;
	Z.def.avail_in = (uInt)len;
	Z.def.next_out = buf + TEXT_HDR;
	Z.def.avail_out = (uInt)bound;
	if (deflate(&Z.def, Z_FINISH) == Z_STREAM_END)
		slot = json_stringn_nocheck((const char *)buf, TEXT_HDR + bound - Z.def.avail_out);
	free(buf);
	return slot;
}

/* Length of the text a slot holds. */
static size_t text_len(const json_t *slot)
{
	uint32_t raw = 0;

	if (json_string_length(slot) >= TEXT_HDR)
		memcpy(&raw, json_string_value(slot), TEXT_HDR);
	return raw;
}

/* The text a slot holds (malloc'd, NUL-terminated, length in *len), or
 * NULL when out of memory or the slot is damaged. */
static char *text_unpack(const json_t *slot, size_t *len)
{
	size_t n = json_string_length(slot), raw = text_len(slot);
	char *t;

	if (n < TEXT_HDR)
		return NULL;
	if (!Z.inf_ok) {
		if (inflateInit2(&Z.inf, -15) != Z_OK)
			return NULL;
		Z.inf_ok = true;
	} else if (inflateReset(&Z.inf) != Z_OK) {
		return NULL;
	}
	if (inflateSetDictionary(&Z.inf, (const Bytef *)text_dict, sizeof(text_dict) - 1) != Z_OK)
		return NULL;
	t = malloc(raw + 1);
	if (!t)
		return NULL;
	Z.inf.next_in = (Bytef *)(uintptr_t)(json_string_value(slot) + TEXT_HDR);
	Z.inf.avail_in = (uInt)(n - TEXT_HDR);
	Z.inf.next_out = (Bytef *)t;
	Z.inf.avail_out = (uInt)raw;
	if (inflate(&Z.inf, Z_FINISH) != Z_STREAM_END || Z.inf.avail_out) {
		free(t);
		return NULL;
	}
	t[raw] = '\0';
	*len = raw;
	return t;
}

/* Forget the parsed object a text kind handed out last. */
static void drop_parsed(struct kind_store *ks)
{
	json_decref(ks->last);
	ks->last = NULL;
	ks->last_key[0] = '\0';
}

/* Parse a text kind's stored text: a new reference or NULL (logged). */
static json_t *parse_slot(const struct kind_store *ks, const char *key, json_t *slot)
{
	json_error_t jerr;
	size_t len;
	char *t = text_unpack(slot, &len);
	json_t *o;

	if (!t) { /* we wrote it: only memory can fail here */
		pr_warn("store: %s %s: couldn't unpack the stored object\n", ks->kind, key);
		return NULL;
	}
	o = json_loadb(t, len, 0, &jerr);
	if (!o)
		pr_warn("store: %s %s: couldn't parse the stored object: %s\n", ks->kind, key,
			jerr.text);
	free(t);
	return o;
}

/* The object stored under key (borrowed), parsing text kinds. Only the
 * last one parsed is kept: a cache of every object read would grow back
 * to the trees the text replaces (a re-list reads every object once). */
static json_t *obj_at(struct kind_store *ks, const char *key, json_t *slot)
{
	json_t *o;

	if (!slot || !ks->text)
		return slot;
	if (ks->last && !strcmp(ks->last_key, key))
		return ks->last;
	o = parse_slot(ks, key, slot);
	if (!o)
		return NULL;
	drop_parsed(ks);
	ks->last = o;
	snprintf(ks->last_key, sizeof(ks->last_key), "%s", key);
	return o;
}

static struct kind_store *find_kind(const char *kind, bool create)
{
	for (int i = 0; i < STORE_MAX_KINDS; i++) {
		if (kinds[i].objs && !strcmp(kinds[i].kind, kind))
			return &kinds[i];
	}
	if (!create || strlen(kind) >= sizeof(kinds[0].kind))
		return NULL;
	for (int i = 0; i < STORE_MAX_KINDS; i++) {
		if (!kinds[i].objs) {
			kinds[i].objs = json_object();
			if (!kinds[i].objs)
				return NULL;
			strcpy(kinds[i].kind, kind);
			kinds[i].text = text_kind(kind);
			return &kinds[i];
		}
	}
	return NULL;
}

static int obj_key(const char *ns, const char *name, char *buf, size_t len)
{
	int n = ns && *ns ? snprintf(buf, len, "%s/%s", ns, name) : snprintf(buf, len, "%s", name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

const json_t *store_get(const char *kind, const char *ns, const char *name)
{
	struct kind_store *ks = find_kind(kind, false);
	char key[320];

	if (!ks || !name || obj_key(ns, name, key, sizeof(key)))
		return NULL;
	return obj_at(ks, key, json_object_get(ks->objs, key));
}

int store_foreach(const char *kind, int (*fn)(const json_t *obj, void *arg), void *arg)
{
	struct kind_store *ks = find_kind(kind, false);
	const char *key;
	json_t *obj;
	int rc;

	if (!ks)
		return 0;
	json_object_foreach(ks->objs, key, obj) {
		/* text kinds: parsed for the call only, so memory stays flat */
		json_t *o = ks->text ? parse_slot(ks, key, obj) : obj;

		if (!o)
			return -ENOMEM;
		rc = fn(o, arg);
		if (ks->text)
			json_decref(o);
		if (rc)
			return rc;
	}
	return 0;
}

int store_foreach_key(const char *kind, int (*fn)(const char *key, void *arg), void *arg)
{
	struct kind_store *ks = find_kind(kind, false);
	const char *key;
	json_t *obj;
	int rc;

	if (!ks)
		return 0;
	json_object_foreach(ks->objs, key, obj) {
		rc = fn(key, arg);
		if (rc)
			return rc;
	}
	return 0;
}

size_t store_count(const char *kind)
{
	struct kind_store *ks = find_kind(kind, false);

	return ks ? json_object_size(ks->objs) : 0;
}

bool store_same(const char *kind, const char *ns, const char *name, const json_t *obj)
{
	struct kind_store *ks = find_kind(kind, false);
	json_t *slot;
	char key[320], *t, *st = NULL;
	size_t len, slen = 0;
	bool same;

	if (!ks || !name || obj_key(ns, name, key, sizeof(key)) ||
	    !(slot = json_object_get(ks->objs, key)))
		return false;
	if (!ks->text)
		return json_equal(slot, (json_t *)obj);
	t = json_dumps(obj, JSON_COMPACT);
	if (!t)
		return false;
	len = strlen(t);
	/* the stored length rejects most changes without inflating */
	same = len == text_len(slot) && (st = text_unpack(slot, &slen)) && slen == len &&
	       !memcmp(t, st, len);
	free(st);
	free(t);
	return same;
}

int store_put(const char *kind, const char *ns, const char *name, json_t *obj)
{
	struct kind_store *ks = find_kind(kind, true);
	char key[320];

	if (!ks || obj_key(ns, name, key, sizeof(key))) {
		json_decref(obj);
		return ks ? -ENAMETOOLONG : -ENOMEM;
	}
	if (ks->text) {
		char *t = json_dumps(obj, JSON_COMPACT);

		json_decref(obj);
		if (!t)
			return -ENOMEM;
		obj = text_pack(t, strlen(t));
		free(t);
		if (!obj)
			return -ENOMEM;
	}
	if (json_object_set_new(ks->objs, key, obj))
		return -ENOMEM;
	drop_parsed(ks);
	ks->dirty = true;
	return 0;
}

json_t *store_take(const char *kind, const char *ns, const char *name)
{
	struct kind_store *ks = find_kind(kind, false);
	char key[320];
	json_t *obj, *slot;

	if (!ks || obj_key(ns, name, key, sizeof(key)))
		return NULL;
	slot = json_object_get(ks->objs, key);
	if (!slot)
		return NULL;
	/* gone from the store even if a text kind's parse fails (no memory) */
	obj = json_incref(obj_at(ks, key, slot));
	json_object_del(ks->objs, key);
	drop_parsed(ks);
	ks->dirty = true;
	return obj;
}

void store_reset(void)
{
	for (int i = 0; i < STORE_MAX_KINDS; i++) {
		json_decref(kinds[i].objs);
		json_decref(kinds[i].last);
		memset(&kinds[i], 0, sizeof(kinds[i]));
	}
	text_streams_free();
}

/* ---- persistence -------------------------------------------------------- */

static int fsync_dir(const char *path)
{
	char dir[4096];
	char *slash;
	int fd, rc = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

/* Write path atomically: body() fills a temporary file, which is fsynced
 * and renamed over path, then the directory is fsynced. body returns 0, or
 * -1 with errno set. Returns 0 or -errno (logged). */
static int write_atomic(const char *path, int (*body)(FILE *f, void *arg), void *arg)
{
	char tmp[4096];
	FILE *f;
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		pr_warn("couldn't create %s: %s\n", tmp, strerror(-rc));
		return rc;
	}
	f = fdopen(fd, "w");
	if (!f) {
		rc = -errno;
		close(fd);
		goto fail;
	}
	errno = 0;
	if (body(f, arg) || fflush(f) || fsync(fileno(f))) {
		rc = errno ? -errno : -EIO;
		fclose(f);
		goto fail;
	}
	if (fclose(f)) {
		rc = -errno;
		goto fail;
	}
	if (rename(tmp, path)) {
		rc = -errno;
		goto fail;
	}
	fsync_dir(path);
	return 0;
fail:
	pr_warn("couldn't write %s: %s\n", path, strerror(-rc));
	unlink(tmp);
	return rc;
}

static int json_body(FILE *f, void *v)
{
	return json_dumpf(v, f, JSON_COMPACT) || fputc('\n', f) == EOF ? -1 : 0;
}

int store_write_json_atomic(const char *path, json_t *v)
{
	return write_atomic(path, json_body, v);
}

static int model_dir(const char *state_dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/model", state_dir);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int mkdir_p(const char *dir)
{
	char buf[4096];

	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Write one object of ks (a tree, or a text kind's text) to f. */
static int write_item(FILE *f, const struct kind_store *ks, json_t *obj)
{
	if (ks->text) {
		size_t len;
		char *t = text_unpack(obj, &len);
		int rc;

		if (!t) {
			errno = ENOMEM;
			return -1;
		}
		rc = fwrite(t, 1, len, f) == len ? 0 : -1;
		free(t);
		return rc;
	}
	return json_dumpf(obj, f, JSON_COMPACT);
}

/* Stream ks as a List: text kinds are never parsed for it. */
static int list_body(FILE *f, void *arg)
{
	const struct kind_store *ks = arg;
	const char *key;
	json_t *obj;
	int n = 0;

	if (fputs("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[", f) == EOF)
		return -1;
	json_object_foreach(ks->objs, key, obj) {
		if ((n++ && fputc(',', f) == EOF) || write_item(f, ks, obj))
			return -1;
	}
	return fputs("]}\n", f) == EOF ? -1 : 0;
}

int store_save(const char *state_dir)
{
	char dir[4096], path[4200];
	int rc, first = 0;

	if (!state_dir)
		return 0;
	rc = model_dir(state_dir, dir, sizeof(dir));
	if (rc)
		return rc;
	for (int i = 0; i < STORE_MAX_KINDS; i++) {
		struct kind_store *ks = &kinds[i];

		if (!ks->objs || !ks->dirty)
			continue;
		rc = mkdir_p(dir);
		if (rc) {
			pr_warn("couldn't create %s: %s\n", dir, strerror(-rc));
			return rc;
		}
		if (snprintf(path, sizeof(path), "%s/%s.json", dir, ks->kind) >= (int)sizeof(path))
			rc = -ENAMETOOLONG;
		else
			rc = write_atomic(path, list_body, ks);
		if (!rc)
			ks->dirty = false;
		if (rc && !first)
			first = rc;
	}
	return first;
}

int store_load_items(const char *state_dir, const char *kind, json_t **items)
{
	char dir[4096], path[4200];
	json_error_t jerr;
	json_t *doc, *arr;
	int rc;

	*items = NULL;
	rc = model_dir(state_dir, dir, sizeof(dir));
	if (rc)
		return rc;
	if (snprintf(path, sizeof(path), "%s/%s.json", dir, kind) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	doc = json_load_file(path, 0, &jerr);
	if (!doc) {
		if (access(path, F_OK) && errno == ENOENT) {
			*items = json_array();
			return *items ? 0 : -ENOMEM;
		}
		pr_warn("couldn't read %s: %s (line %d); the feed will have to resend %s objects\n",
			path, jerr.text, jerr.line, kind);
		*items = json_array();
		return *items ? 0 : -ENOMEM;
	}
	arr = json_object_get(doc, "items");
	*items = json_is_array(arr) ? json_incref(arr) : json_array();
	json_decref(doc);
	return *items ? 0 : -ENOMEM;
}
