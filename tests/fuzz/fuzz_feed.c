// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target for the feed parser: the socket's value splitter
 * (controller/stream.c), the JSON decoding the server does on each value,
 * and the validation/defaulting of every Kubernetes kind that is linked.
 *
 * The first input byte picks how the rest is chunked, so the fuzzer also
 * explores values split at every possible place. Checked properties:
 *  - chunked and one-shot splitting give the same values (or the same error);
 *  - every value that decodes is found again, whole, when its own
 *    serialisation is split (the splitter agrees with jansson on where a
 *    value ends);
 *  - nothing crashes, leaks or reads out of bounds (ASan). */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../controller/kinds.h"
#include "../../controller/stream.h"

#define MAX_VALUES 256

struct split {
	int n, err;
	size_t off[MAX_VALUES], len[MAX_VALUES];
	char *copy[MAX_VALUES];
};

static void split(const uint8_t *data, size_t size, size_t chunk, size_t max_bytes,
		  unsigned int max_depth, struct split *r)
{
	struct sl_stream s;
	const char *v;
	size_t len, off = 0;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	sl_stream_init(&s, max_bytes, max_depth);
	while (off < size && r->n < MAX_VALUES) {
		size_t n = size - off < chunk ? size - off : chunk;

		ret = sl_stream_feed(&s, (const char *)data + off, n);
		off += n;
		while (ret == 0 && r->n < MAX_VALUES && (ret = sl_stream_next(&s, &v, &len)) == 1) {
			r->copy[r->n] = malloc(len ? len : 1);
			memcpy(r->copy[r->n], v, len);
			r->len[r->n++] = len;
			ret = 0;
		}
		if (ret < 0) {
			r->err = ret;
			break;
		}
	}
	if (!r->err && r->n < MAX_VALUES) {
		ret = sl_stream_finish(&s, &v, &len);
		if (ret == 1) {
			r->copy[r->n] = malloc(len ? len : 1);
			memcpy(r->copy[r->n], v, len);
			r->len[r->n++] = len;
		} else if (ret < 0) {
			r->err = ret;
		}
	}
	sl_stream_free(&s);
}

static void split_free(struct split *r)
{
	for (int i = 0; i < r->n; i++)
		free(r->copy[i]);
}

static const struct kind_ops *find_kind(const char *kind)
{
	const struct kind_ops *all[] = {&kind_namespace, &kind_pod,	      &kind_node,
					&kind_service,	 &kind_endpointslice, &kind_networkpolicy};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i] && all[i]->kind && kind && !strcmp(all[i]->kind, kind))
			return all[i];
	return NULL;
}

static void validate(json_t *obj)
{
	const char *kind = json_string_value(json_object_get(obj, "kind"));
	const struct kind_ops *k;
	char err[512];
	json_t *inner, *items, *it;
	size_t i;

	/* A watch event wraps the object; a List carries items. */
	inner = json_object_get(obj, "object");
	if (json_is_object(inner))
		validate(inner);
	items = json_object_get(obj, "items");
	if (json_is_array(items))
		json_array_foreach(items, i, it) if (json_is_object(it)) validate(it);
	k = find_kind(kind);
	if (k && k->validate)
		k->validate(obj, err, sizeof(err));
}

/* The splitter must find exactly the serialisation of a decoded value. */
static void roundtrip(json_t *v, size_t flags)
{
	char *s = json_dumps(v, flags | JSON_ENCODE_ANY);
	struct split r;

	if (!s)
		return;
	split((const uint8_t *)s, strlen(s), 7, 0, 0, &r);
	assert(r.err == 0 || r.err == -ELOOP);
	if (r.err == 0) {
		assert(r.n == 1);
		assert(r.len[0] == strlen(s));
	}
	split_free(&r);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct split whole, chunked;
	size_t chunk;
	char err[512];

	if (size < 1)
		return 0;
	chunk = data[0] % 64 + 1;
	data++;
	size--;

	split(data, size, size ? size : 1, 4096, 32, &whole);
	split(data, size, chunk, 4096, 32, &chunked);
	assert(whole.n == chunked.n);
	for (int i = 0; i < whole.n; i++)
		assert(whole.len[i] == chunked.len[i] &&
		       !memcmp(whole.copy[i], chunked.copy[i], whole.len[i]));
	/* The error may be detected at a different value only if both hit
	 * the same limit; the kind of error is the same. */
	assert((whole.err == 0) == (chunked.err == 0));

	for (int i = 0; i < whole.n; i++) {
		json_t *v = NULL;
		int ret = sl_stream_decode(whole.copy[i], whole.len[i], &v, err, sizeof(err));

		assert(ret == 0 || ret == -EINVAL || ret == -EBADMSG);
		if (ret == 0) {
			roundtrip(v, JSON_COMPACT);
			roundtrip(v, JSON_INDENT(2));
			validate(v);
			json_decref(v);
		}
	}
	split_free(&whole);
	split_free(&chunked);
	return 0;
}
