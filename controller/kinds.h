/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes kinds the feed understands, one handler each. feed.c does
 * the generic work (event types, resourceVersion ordering, initial-list GC,
 * the object store) and calls these for the kind-specific part. */
#ifndef SLUICE_KINDS_H
#define SLUICE_KINDS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

struct kind_ops {
	const char *kind;        /* "Pod" */
	const char *api_version; /* "v1", "discovery.k8s.io/v1", "networking.k8s.io/v1" */
	bool namespaced;
	/* Check obj and fill in the API server's defaults (obj is modified in
	 * place). Returns 0, or -EINVAL with err set to "what and where", e.g.
	 * "Service default/web: spec.ports[0].port: must be 1-65535". */
	int (*validate)(json_t *obj, char *err, size_t errlen);
	/* Make the model and the maps reflect the change; old == NULL on
	 * create, new == NULL on delete. Either fully applies or changes
	 * nothing. Returns 0 or -errno with err set. */
	int (*apply)(const json_t *old, const json_t *new, char *err, size_t errlen);
};

extern const struct kind_ops kind_namespace; /* k8s_core.c (model) */
extern const struct kind_ops kind_pod;
extern const struct kind_ops kind_node;
extern const struct kind_ops kind_service;       /* k8s_service.c (services) */
extern const struct kind_ops kind_endpointslice;
extern const struct kind_ops kind_networkpolicy; /* k8s_netpol.c (policy) */

/* The policy module recomputes when labels, pods, namespaces or endpoints
 * change: callers mark it dirty, a timer in policy.c does the work. */
void policy_mark_dirty(void);

#endif
