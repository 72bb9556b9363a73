/* SPDX-License-Identifier: Apache-2.0 */
/* The model's object store: the latest accepted version of every object
 * the feed delivered, by kind, namespace and name (store.c, model). */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* The stored object (validated and defaulted) or NULL. ns is "" for
 * cluster-scoped kinds. Borrowed reference: valid until the next change,
 * except for the kinds kept serialised (Service, EndpointSlice: store.c),
 * where it is valid until the next store_get of that kind: json_incref it
 * to keep it longer. */
const json_t *store_get(const char *kind, const char *ns, const char *name);
/* Call fn for every stored object of a kind; stops when fn returns
 * non-zero and returns that value. obj is valid until the next change
 * (serialised kinds: during the call only). */
int store_foreach(const char *kind, int (*fn)(const json_t *obj, void *arg), void *arg);
size_t store_count(const char *kind);
/* Call fn with the key ("ns/name", or "name" for cluster-scoped kinds) of
 * every stored object of a kind, without materialising the objects (some
 * kinds are kept serialised, see store.c); same stop rule as store_foreach. */
int store_foreach_key(const char *kind, int (*fn)(const char *key, void *arg), void *arg);

/* Identity of a pod (by namespace + name), 0 when the Pod is unknown.
 * Implemented in identity.c (model). */
uint32_t model_pod_identity(const char *ns, const char *name);
/* Labels of an identity as {"k8s:ns:..." ...}: a new reference or NULL. */
json_t *model_identity_labels(uint32_t identity);

/* ---- model-internal (feed.c, k8s_core.c, identity.c) ------------------- */

/* Is obj exactly what is stored under kind/ns/name? For the kinds kept
 * serialised this compares obj's compact text with the stored text, without
 * parsing it (a re-list re-sends every object unchanged); false when
 * nothing is stored or the texts differ (json_equal may still find them
 * equal: a false "different" only costs a parse). */
bool store_same(const char *kind, const char *ns, const char *name, const json_t *obj);
/* Put obj (reference stolen, also on error) under kind/ns/name, replacing
 * what was there. Returns 0 or -ENOMEM. */
int store_put(const char *kind, const char *ns, const char *name, json_t *obj);
/* Remove and return the stored object (a reference the caller owns), or
 * NULL when there is none. */
json_t *store_take(const char *kind, const char *ns, const char *name);
/* Write v to path atomically (tmp file, fsync, rename, fsync dir).
 * Returns 0 or -errno (logged). */
int store_write_json_atomic(const char *path, json_t *v);
/* Write <state_dir>/model/<Kind>.json for every kind changed since the last
 * save. Returns 0 or the first -errno (logged; retried next time). */
int store_save(const char *state_dir);
/* Read <state_dir>/model/<kind>.json: its items (new reference, an array;
 * empty when there is no file). Returns 0 or -errno. */
int store_load_items(const char *state_dir, const char *kind, json_t **items);
/* Forget everything (model_fini, tests); files are not touched. */
void store_reset(void);
/* Persist the store and the identities to ctl.state_dir now (feed.c; the
 * model timer does it once a second after changes). Returns 0 or -errno. */
int model_save(void);
/* Forget k8s_core.c's per-pod/per-node bookkeeping (model_fini, tests). */
void k8s_core_reset(void);

#endif
