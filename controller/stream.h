/* SPDX-License-Identifier: Apache-2.0 */
/* Incremental JSON value splitter for the socket: finds where each value of
 * a stream ends without parsing it, so values can arrive in arbitrary chunks
 * and be handed to jansson whole. Bounded in value size and nesting depth. */
#ifndef SLUICE_STREAM_H
#define SLUICE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#define SL_STREAM_MAX_DEPTH 512

struct sl_stream {
	char *buf; /* bytes from the current value's start (or scan point) */
	size_t len, cap;
	size_t pos;	  /* next byte to scan */
	size_t vstart;	  /* start of the value being scanned (valid if in_value) */
	size_t consumed;  /* bytes before this are done (dropped at next feed) */
	size_t max_bytes; /* largest value accepted */
	unsigned int max_depth;
	unsigned int depth; /* open { and [ */
	bool in_value, in_scalar, in_str, esc;
	int err;	    /* sticky: once set, every call returns it */
	const char *errmsg; /* static text describing err */
};

/* max_bytes 0 means SL_MAX_VALUE_BYTES, max_depth 0 SL_STREAM_MAX_DEPTH. */
void sl_stream_init(struct sl_stream *s, size_t max_bytes, unsigned int max_depth);
void sl_stream_free(struct sl_stream *s);
/* Append a chunk. Pointers returned by sl_stream_next() become invalid.
 * Returns 0 or -ENOMEM (or the sticky error). */
int sl_stream_feed(struct sl_stream *s, const char *data, size_t n);
/* The next complete value: returns 1 with *val and *len set (not NUL-terminated),
 * 0 when more input is needed, or a negative errno, sticky, with
 * s->errmsg set: -EMSGSIZE (value larger than max_bytes; detected as soon
 * as it grows past it, not after buffering it whole), -ELOOP (nesting
 * deeper than max_depth). */
int sl_stream_next(struct sl_stream *s, const char **val, size_t *len);
/* End of input: a top-level scalar still open is complete ("42" then EOF).
 * Returns 1 with the value, 0 when nothing is pending, -EPIPE (errmsg set)
 * when a value was cut off. */
int sl_stream_finish(struct sl_stream *s, const char **val, size_t *len);
/* Parse one complete value from sl_stream_next(). Returns 0 with *out set
 * to an object (caller decrefs); -EBADMSG when it is not valid JSON (bad
 * syntax, invalid UTF-8, NUL bytes: the connection must be closed);
 * -EINVAL when it is valid JSON but not an object (answer an error, go on).
 * err gets "what and where" on failure. */
int sl_stream_decode(const char *val, size_t len, json_t **out, char *err, size_t errlen);
/* Bytes currently held (for tests and accounting). */
size_t sl_stream_buffered(const struct sl_stream *s);

#endif
