/* SPDX-License-Identifier: Apache-2.0 */
/* Security identities (identity.c, model). Every distinct (namespace, pod
 * labels, namespace labels) gets a number from SL_ID_FIRST_LOCAL up, shared
 * by all pods with that set. Numbers are refcounted by pods; an unused one is
 * kept IDENTITY_RELEASE_DELAY_S seconds (a pod coming back gets it again,
 * and datapath state still naming it stays meaningful) before the number can
 * be handed out again, and the table is persisted in
 * <state-dir>/identities.json so numbers survive restarts.
 *
 * The model (k8s_core.c) drives it; others read it (model_pod_identity and
 * model_identity_labels in store.h, and identity_foreach below). */
#ifndef SLUICE_IDENTITY_H
#define SLUICE_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <sluice/common.h>

#define IDENTITY_RELEASE_DELAY_S 300
/* Allocated numbers stay below the CIDR flag bit. */
#define IDENTITY_MAX (SL_ID_CIDR_FLAG - 1)

/* The label keys in model_identity_labels(): pod labels as "k8s:<key>",
 * namespace labels as "k8s:ns:<key>" (label keys cannot hold ':'), and the
 * namespace name as "sluice:namespace". */
#define IDENTITY_NS_KEY "sluice:namespace"

/* Namespace labels changed (labels NULL: the Namespace is gone; pods then
 * see {"kubernetes.io/metadata.name": ns}, the labels the API server puts
 * on every namespace). Does not move pods: the caller re-syncs them. */
int identity_ns_set(const char *ns, const json_t *labels);
/* The identity for a pod with these labels in ns, taking a reference for
 * (ns, pod) and dropping the one it held before. Returns the identity (>=
 * SL_ID_FIRST_LOCAL) or 0 with *err (-ENOMEM, -ENOSPC) set. */
uint32_t identity_pod_set(const char *ns, const char *pod, const json_t *labels, int *err);
/* A pod that holds a reserved identity (hostNetwork pods: SL_ID_HOST or
 * SL_ID_REMOTE_NODE) instead of an allocated one; drops any it held. */
int identity_pod_set_reserved(const char *ns, const char *pod, uint32_t id);
/* The pod is gone (or holds no identity any more): drop its reference. */
void identity_pod_del(const char *ns, const char *pod);
/* Identity currently held by a pod, 0 when none. */
uint32_t identity_of_pod(const char *ns, const char *pod);

/* Every allocated identity (in use or waiting out its delay). pods is the
 * refcount. Stops when fn returns non-zero and returns that value. */
int identity_foreach(int (*fn)(uint32_t id, const char *ns, const json_t *pod_labels,
			       const json_t *ns_labels, size_t pods, void *arg),
		     void *arg);
size_t identity_count(void);

/* Load <dir>/identities.json (missing file: empty table). Must run before
 * any pod takes an identity. Returns 0 or -errno. */
int identity_load(const char *state_dir);
/* Write <dir>/identities.json atomically when something changed. */
int identity_save(const char *state_dir);
/* Free identities unused for longer than the delay (delay_s: tests). */
void identity_gc(unsigned int delay_s);
/* Forget everything (model_fini, tests). */
void identity_reset(void);

#endif
