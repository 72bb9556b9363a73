// SPDX-License-Identifier: Apache-2.0
/* The splitter only tracks what decides where a value ends: nesting depth,
 * strings (a bracket inside a string does not count) and escapes (an escaped
 * quote does not end a string). Whether the value is valid JSON is jansson's
 * job once the value is complete. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "stream.h"

void sl_stream_init(struct sl_stream *s, size_t max_bytes, unsigned int max_depth)
{
	memset(s, 0, sizeof(*s));
	s->max_bytes = max_bytes ? max_bytes : SL_MAX_VALUE_BYTES;
	s->max_depth = max_depth ? max_depth : SL_STREAM_MAX_DEPTH;
}

void sl_stream_free(struct sl_stream *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = s->pos = s->consumed = s->vstart = 0;
}

size_t sl_stream_buffered(const struct sl_stream *s)
{
	return s->len - s->consumed;
}

static int fail(struct sl_stream *s, int err, const char *msg)
{
	s->err = err;
	s->errmsg = msg;
	/* Nothing will be read from it again: give the memory back now. */
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = s->pos = s->consumed = s->vstart = 0;
	return err;
}

int sl_stream_feed(struct sl_stream *s, const char *data, size_t n)
{
	size_t keep;

	if (s->err)
		return s->err;
	if (!n)
		return 0;
	/* Drop what was already handed out or skipped, so the buffer only ever
	 * holds the value being assembled plus the new chunk. */
	if (s->consumed) {
		keep = s->len - s->consumed;
		memmove(s->buf, s->buf + s->consumed, keep);
		s->len = keep;
		s->pos -= s->consumed;
		if (s->in_value)
			s->vstart -= s->consumed;
		s->consumed = 0;
	}
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *nb;

		while (cap < s->len + n)
			cap *= 2;
		nb = realloc(s->buf, cap);
		if (!nb)
			return fail(s, -ENOMEM, "out of memory buffering input");
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	return 0;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Characters that end a bare top-level scalar (true, 42, ...). */
static bool ends_scalar(char c)
{
	return is_ws(c) || c == '{' || c == '}' || c == '[' || c == ']' || c == '"' || c == ',' ||
	       c == ':';
}

static int fail(struct sl_stream *s, int err, const char *msg);

static int emit(struct sl_stream *s, size_t end, const char **val, size_t *len)
{
	if (end - s->vstart > s->max_bytes)
		return fail(s, -EMSGSIZE, "value too large");
	*val = s->buf + s->vstart;
	*len = end - s->vstart;
	s->in_value = s->in_scalar = s->in_str = s->esc = false;
	s->depth = 0;
	s->pos = end;
	s->consumed = end;
	return 1;
}

int sl_stream_next(struct sl_stream *s, const char **val, size_t *len)
{
	if (s->err)
		return s->err;
	while (s->pos < s->len) {
		char c = s->buf[s->pos];

		if (!s->in_value) {
			if (is_ws(c)) {
				s->pos++;
				s->consumed = s->pos;
				continue;
			}
			s->in_value = true;
			s->vstart = s->pos;
			if (c == '{' || c == '[')
				s->depth = 1;
			else if (c == '"')
				s->in_str = true;
			else
				s->in_scalar = true;
			s->pos++;
		} else if (s->in_scalar) {
			if (ends_scalar(c))
				return emit(s, s->pos, val, len);
			s->pos++;
		} else if (s->in_str) {
			/* Skip plain string bytes in bulk: strings are most of
			 * a Kubernetes object. */
			const char *p = s->buf + s->pos, *end = s->buf + s->len;

			if (s->esc) {
				s->esc = false;
				p++;
			} else {
				while (p < end && *p != '"' && *p != '\\')
					p++;
				if (p < end) {
					if (*p == '\\')
						s->esc = true;
					else
						s->in_str = false;
					p++;
				}
			}
			s->pos = p - s->buf;
			if (!s->in_str && s->depth == 0)
				return emit(s, s->pos, val, len);
		} else {
			s->pos++;
			if (c == '"') {
				s->in_str = true;
			} else if (c == '{' || c == '[') {
				if (++s->depth > s->max_depth)
					return fail(s, -ELOOP, "value nested too deeply");
			} else if (c == '}' || c == ']') {
				if (--s->depth == 0)
					return emit(s, s->pos, val, len);
			}
		}
		if (s->pos - s->vstart > s->max_bytes)
			return fail(s, -EMSGSIZE, "value too large");
	}
	if (s->in_value && s->pos - s->vstart > s->max_bytes)
		return fail(s, -EMSGSIZE, "value too large");
	return 0;
}

int sl_stream_finish(struct sl_stream *s, const char **val, size_t *len)
{
	int ret = sl_stream_next(s, val, len);

	if (ret)
		return ret;
	if (!s->in_value)
		return 0;
	if (s->in_scalar)
		return emit(s, s->len, val, len);
	return fail(s, -EPIPE, "value cut off at end of input");
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	default:
		return "an object";
	}
}

int sl_stream_decode(const char *val, size_t len, json_t **out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *v;

	*out = NULL;
	/* JSON_DECODE_ANY so a scalar is reported as a wrong type rather than
	 * as a syntax error: it is valid JSON, and the connection may go on. */
	v = json_loadb(val, len, JSON_DECODE_ANY, &jerr);
	if (!v) {
		snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line,
			 jerr.column, jerr.text);
		return -EBADMSG;
	}
	if (!json_is_object(v)) {
		snprintf(err, errlen, "expected a JSON object, got %s", json_type_name(v));
		json_decref(v);
		return -EINVAL;
	}
	*out = v;
	return 0;
}
