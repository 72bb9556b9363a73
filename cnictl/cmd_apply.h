/* SPDX-License-Identifier: Apache-2.0 */
/* cnictl apply/delete internals, exposed for the unit tests. */
#ifndef CNICTL_CMD_APPLY_H
#define CNICTL_CMD_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/*
 * Parse a manifest: a stream of JSON values (objects, watch events, Lists),
 * or YAML documents (separated by ---) when the first non-blank character is
 * not '{' or '['. Lists (kind "List" or "FooList" with items) are expanded
 * into their items; items of a typed list get the kind and apiVersion the
 * API server leaves out. Empty YAML documents are skipped.
 * Returns 0 and *objs (a JSON array the caller decrefs), or -EINVAL with
 * *err a malloc'd message naming source and position.
 */
int cnictl_manifest_parse(const char *buf, size_t len, const char *source, json_t **objs,
			  char **err);

/* The value to send for one parsed object: apply sends objects and watch
 * events unchanged; delete sends {"type":"DELETED","object":obj}. Returns a
 * new reference or NULL. */
json_t *cnictl_manifest_wrap(json_t *obj, bool del);

/* Kind, namespace and name of an object or watch event (pointers into v;
 * NULL when absent). */
void cnictl_manifest_ident(const json_t *v, const char **kind, const char **ns, const char **name);

/*
 * Send values over one connection to the socket at path, writing and
 * reading at once (poll), so no amount of input can deadlock against
 * sluiced's replies. replies[i] receives the reply to values[i] (a new
 * reference), or a synthesized {"ok":false,"error":...} when the value was
 * not sent or no reply came. Returns 0, or -errno when the socket could not
 * be opened (replies untouched).
 */
int cnictl_feed_pipeline(const char *path, json_t *values, json_t *replies, int timeout_ms);

#endif
