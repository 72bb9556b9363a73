/* SPDX-License-Identifier: Apache-2.0 */
/* The model's object store: the latest accepted version of every object
 * the feed delivered, by kind, namespace and name (store.c, model). */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* The stored object (validated and defaulted) or NULL. ns is "" for
 * cluster-scoped kinds. Borrowed reference: valid until the next change. */
const json_t *store_get(const char *kind, const char *ns, const char *name);
/* Call fn for every stored object of a kind; stops when fn returns
 * non-zero and returns that value. */
int store_foreach(const char *kind, int (*fn)(const json_t *obj, void *arg), void *arg);
size_t store_count(const char *kind);

/* Identity of a pod (by namespace + name), 0 when the Pod is unknown.
 * Implemented in identity.c (model). */
uint32_t model_pod_identity(const char *ns, const char *name);
/* Labels of an identity as {"k8s:ns:..." ...}: a new reference or NULL. */
json_t *model_identity_labels(uint32_t identity);

#endif
