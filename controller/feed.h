/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes feed (feed.c, model): the server hands it every value
 * that is not a request of ours. */
#ifndef SLUICE_FEED_H
#define SLUICE_FEED_H

#include <stddef.h>
#include <jansson.h>

/* Per-connection state (initial-list tracking for BOOKMARK GC). */
struct feed_conn;

struct feed_conn *feed_conn_new(void);
void feed_conn_free(struct feed_conn *fc);

/* Apply one feed value: a watch event, a bare object (upsert) or a List.
 * Returns 0, or -errno with err set to "what and where"; on error nothing
 * changed. A List applies every item or none. The value is modified in
 * place (objects get the API server's defaults and lose the fields nobody
 * reads, and the store may keep parts of it): pass a value you are done
 * with, and only read it again to drop your reference. */
int feed_apply(struct feed_conn *fc, json_t *value, char *err, size_t errlen);

/* Once at start-up, after the maps are open: load what the state dir
 * holds (objects, identities) and resync the maps with it. */
int model_init(void);
void model_fini(void);

#endif
