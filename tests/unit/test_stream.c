// SPDX-License-Identifier: Apache-2.0
/* The socket's JSON value splitter (controller/stream.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "../../controller/stream.h"

#define MAXV 16

struct split_result {
	int n;
	char *vals[MAXV];
	int err; /* first negative return of next/finish, 0 if none */
	size_t max_buffered;
};

static void collect(struct sl_stream *s, struct split_result *r, int ret, const char *v, size_t len)
{
	if (ret == 1) {
		cr_assert_lt(r->n, MAXV, "too many values");
		r->vals[r->n++] = strndup(v, len);
	} else if (ret < 0 && !r->err) {
		r->err = ret;
	}
	(void)s;
}

/* Feed input in chunks of chunk bytes (0 = all at once), then finish. */
static void split(const char *in, size_t inlen, size_t chunk, size_t max_bytes,
		  unsigned int max_depth, struct split_result *r)
{
	struct sl_stream s;
	const char *v;
	size_t len, off = 0;
	int ret;

	memset(r, 0, sizeof(*r));
	sl_stream_init(&s, max_bytes, max_depth);
	if (!chunk)
		chunk = inlen ? inlen : 1;
	while (off < inlen && !r->err) {
		size_t n = inlen - off < chunk ? inlen - off : chunk;

		ret = sl_stream_feed(&s, in + off, n);
		if (ret < 0) {
			r->err = ret;
			break;
		}
		off += n;
		while ((ret = sl_stream_next(&s, &v, &len)) == 1)
			collect(&s, r, ret, v, len);
		collect(&s, r, ret, NULL, 0);
		if (sl_stream_buffered(&s) > r->max_buffered)
			r->max_buffered = sl_stream_buffered(&s);
	}
	if (!r->err) {
		ret = sl_stream_finish(&s, &v, &len);
		collect(&s, r, ret, v, len);
	}
	sl_stream_free(&s);
}

static void free_result(struct split_result *r)
{
	for (int i = 0; i < r->n; i++)
		free(r->vals[i]);
}

struct split_case {
	const char *desc;
	const char *in;
	int n;
	const char *want[8];
	int err;
};

static const struct split_case cases[] = {
    {"one object", "{\"a\":1}", 1, {"{\"a\":1}"}, 0},
    {"many values in one chunk",
     "{\"a\":1} {\"b\":[1,2]}\n[3]\"s\" 42 true\tnull",
     7,
     {"{\"a\":1}", "{\"b\":[1,2]}", "[3]", "\"s\"", "42", "true", "null"},
     0},
    {"pretty-printed over many lines",
     "{\n  \"kind\": \"Pod\",\n  \"metadata\": {\n    \"name\": \"x\"\n  }\n}\n",
     1,
     {"{\n  \"kind\": \"Pod\",\n  \"metadata\": {\n    \"name\": \"x\"\n  }\n}"},
     0},
    {"brackets and escaped quotes inside strings",
     "{\"a\":\"}{[\\\"]\",\"b\":\"\\\\\"}{}",
     2,
     {"{\"a\":\"}{[\\\"]\",\"b\":\"\\\\\"}", "{}"},
     0},
    {"values with no separator", "{}[]{\"x\":{}}", 3, {"{}", "[]", "{\"x\":{}}"}, 0},
    {"scalar ended by a container", "12{}", 2, {"12", "{}"}, 0},
    {"whitespace only", " \n\r\t ", 0, {NULL}, 0},
    {"truncated object at EOF", "{\"a\":1} {\"a\":", 1, {"{\"a\":1}"}, -EPIPE},
    {"truncated string at EOF", "\"abc", 0, {NULL}, -EPIPE},
    {"truncated escape at EOF", "{\"a\":\"\\", 0, {NULL}, -EPIPE},
    {"scalar complete at EOF", "42", 1, {"42"}, 0},
};

/* Every case must split the same way whatever the chunking. */
Test(stream, table_all_chunkings)
{
	static const size_t chunks[] = {0, 1, 2, 3, 7};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct split_case *c = &cases[i];

		for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
			struct split_result r;

			split(c->in, strlen(c->in), chunks[k], 0, 0, &r);
			cr_expect_eq(r.n, c->n, "%s (chunk %zu): %d values, want %d", c->desc,
				     chunks[k], r.n, c->n);
			for (int j = 0; j < r.n && j < c->n && j < 8; j++)
				cr_expect_str_eq(r.vals[j], c->want[j],
						 "%s (chunk %zu): value %d is '%s', want '%s'",
						 c->desc, chunks[k], j, r.vals[j], c->want[j]);
			cr_expect_eq(r.err, c->err, "%s (chunk %zu): error %d, want %d", c->desc,
				     chunks[k], r.err, c->err);
			free_result(&r);
		}
	}
}

/* A value larger than the limit is refused while it streams in, without
 * buffering it whole. */
Test(stream, huge_value_refused_early)
{
	size_t n = 1 << 20;
	char *in = malloc(n);
	struct split_result r;

	cr_assert_not_null(in);
	memset(in, ' ', n);
	in[0] = '{';
	memcpy(in + 1, "\"a\":\"", 5);
	memset(in + 6, 'x', n - 6);
	split(in, n, 100, 4096, 0, &r);
	cr_expect_eq(r.err, -EMSGSIZE, "error %d, want -EMSGSIZE", r.err);
	cr_expect_leq(r.max_buffered, 4096 + 100, "buffered %zu bytes, limit 4096", r.max_buffered);
	cr_expect_eq(r.n, 0, "%d values", r.n);
	free_result(&r);
	free(in);
}

/* The default limit is SL_MAX_VALUE_BYTES: a 17 MiB value fails, fed in
 * 64 KiB chunks as the server does, before 16 MiB + one chunk is held. */
Test(stream, default_limit)
{
	size_t n = SL_MAX_VALUE_BYTES + (1 << 20);
	char *in = malloc(n);
	struct split_result r;

	cr_assert_not_null(in);
	in[0] = '[';
	for (size_t i = 1; i < n; i++)
		in[i] = i % 2 ? '1' : ',';
	split(in, n, 65536, 0, 0, &r);
	cr_expect_eq(r.err, -EMSGSIZE, "error %d, want -EMSGSIZE", r.err);
	cr_expect_leq(r.max_buffered, (size_t)SL_MAX_VALUE_BYTES + 65536, "buffered %zu",
		      r.max_buffered);
	free_result(&r);
	free(in);
}

/* Exactly the limit is accepted. */
Test(stream, value_at_limit_accepted)
{
	char in[64];
	struct split_result r;

	memset(in, 0, sizeof(in));
	strcpy(in, "[\"");
	memset(in + 2, 'y', 10);
	strcat(in, "\"]"); /* 14 bytes */
	split(in, strlen(in), 1, 14, 0, &r);
	cr_expect_eq(r.err, 0, "error %d", r.err);
	cr_expect_eq(r.n, 1, "%d values", r.n);
	free_result(&r);
	split(in, strlen(in), 1, 13, 0, &r);
	cr_expect_eq(r.err, -EMSGSIZE, "error %d at limit-1", r.err);
	free_result(&r);
}

static char *nested(int depth)
{
	char *s = malloc(2 * depth + 1);

	for (int i = 0; i < depth; i++) {
		s[i] = '[';
		s[2 * depth - 1 - i] = ']';
	}
	s[2 * depth] = 0;
	return s;
}

Test(stream, nesting_limit)
{
	struct split_result r;
	char *ok = nested(SL_STREAM_MAX_DEPTH), *deep = nested(SL_STREAM_MAX_DEPTH + 1);

	split(ok, strlen(ok), 0, 0, 0, &r);
	cr_expect_eq(r.err, 0, "depth %d: error %d", SL_STREAM_MAX_DEPTH, r.err);
	cr_expect_eq(r.n, 1, "depth %d: %d values", SL_STREAM_MAX_DEPTH, r.n);
	free_result(&r);
	split(deep, strlen(deep), 5, 0, 0, &r);
	cr_expect_eq(r.err, -ELOOP, "depth %d: error %d, want -ELOOP", SL_STREAM_MAX_DEPTH + 1,
		     r.err);
	free_result(&r);
	free(ok);
	free(deep);
}

/* Errors are sticky: nothing more comes out after one. */
Test(stream, error_is_sticky)
{
	struct sl_stream s;
	const char *v;
	size_t len;

	sl_stream_init(&s, 8, 0);
	cr_assert_eq(sl_stream_feed(&s, "\"0123456789\" {}", 15), 0);
	cr_expect_eq(sl_stream_next(&s, &v, &len), -EMSGSIZE);
	cr_expect_eq(sl_stream_next(&s, &v, &len), -EMSGSIZE);
	cr_expect_eq(sl_stream_feed(&s, "{}", 2), -EMSGSIZE);
	cr_expect_not_null(s.errmsg);
	sl_stream_free(&s);
}

struct decode_case {
	const char *desc;
	const char *in;
	size_t len; /* 0 = strlen */
	int want;
};

static const struct decode_case dcases[] = {
    {"object", "{\"kind\":\"Pod\"}", 0, 0},
    {"array is a wrong type", "[1,2]", 0, -EINVAL},
    {"string is a wrong type", "\"x\"", 0, -EINVAL},
    {"number is a wrong type", "42", 0, -EINVAL},
    {"null is a wrong type", "null", 0, -EINVAL},
    {"true is a wrong type", "true", 0, -EINVAL},
    {"invalid UTF-8 in a string", "{\"a\":\"\xc3\x28\"}", 0, -EBADMSG},
    {"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}", 0, -EBADMSG},
    {"NUL byte", "{\"a\":\"x\0\"}", 10, -EBADMSG},
    {"bad syntax", "{\"a\" 1}", 0, -EBADMSG},
    {"bare word", "hello", 0, -EBADMSG},
    {"mismatched brackets", "{\"a\":[1}", 0, -EBADMSG},
};

Test(stream, decode_table)
{
	for (size_t i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++) {
		const struct decode_case *c = &dcases[i];
		char err[256] = "";
		json_t *v = NULL;
		int ret =
		    sl_stream_decode(c->in, c->len ? c->len : strlen(c->in), &v, err, sizeof(err));

		cr_expect_eq(ret, c->want, "%s: got %d (%s), want %d", c->desc, ret, err, c->want);
		if (ret == 0)
			cr_expect(json_is_object(v), "%s: not an object", c->desc);
		else
			cr_expect_neq(err[0], 0, "%s: no error text", c->desc);
		json_decref(v);
	}
}

/* A split UTF-8 sequence across chunks is reassembled untouched. */
Test(stream, utf8_split_across_chunks)
{
	const char *in = "{\"name\":\"caf\xc3\xa9\"}";
	struct split_result r;
	json_t *v;
	char err[128];

	split(in, strlen(in), 1, 0, 0, &r);
	cr_assert_eq(r.n, 1);
	cr_expect_eq(sl_stream_decode(r.vals[0], strlen(r.vals[0]), &v, err, sizeof(err)), 0, "%s",
		     err);
	json_decref(v);
	free_result(&r);
}
