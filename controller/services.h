/* SPDX-License-Identifier: Apache-2.0 */
/* Services (services.c): the model of Services and EndpointSlices, and the
 * writer that keeps sluice_svc, sluice_backend, sluice_maglev and
 * sluice_revnat equal to it (include/sluice/lb.h).
 *
 * The model is pure (svc_model_build): unit tests drive it without maps.
 * The writer applies only differences, in the order lb.h prescribes, so
 * the datapath never sees a frontend whose table or backends are missing. */
#ifndef SLUICE_SERVICES_H
#define SLUICE_SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "addr.h"

#define SVC_NAME_MAX 64	 /* Service names are DNS-1035 labels (<= 63) */
#define SVC_NS_MAX   64	 /* namespaces are DNS-1123 labels */
#define SVC_OBJ_MAX  254 /* other object names: DNS-1123 subdomains */
#define SVC_MAX_IPS  2	 /* one per family */

/* A port of a Service (validated and defaulted). */
struct svc_port {
	char name[SVC_NAME_MAX]; /* "" for the single unnamed port */
	uint8_t proto;		 /* IPPROTO_* */
	uint16_t port;		 /* host order */
};

/* A Service as the model needs it. */
struct svc_def {
	char ns[SVC_NS_MAX];
	char name[SVC_NAME_MAX];
	char type[16];	    /* ClusterIP, NodePort, LoadBalancer, ExternalName */
	bool load_balanced; /* false for headless and ExternalName */
	int n_ips;
	struct sl_cidr ips[SVC_MAX_IPS]; /* clusterIPs (plen = full) */
	size_t n_ports;
	struct svc_port *ports;
	bool affinity;		   /* sessionAffinity: ClientIP */
	uint32_t affinity_timeout; /* seconds */
	bool itp_local;		   /* internalTrafficPolicy: Local */
};

struct svc_slice_port {
	char name[SVC_NAME_MAX];
	uint8_t proto;
	uint16_t port; /* host order; 0 = unset (the port matches nothing) */
};

/* 100,000 of these live in a large cluster: keep it small (32 bytes on
 * x86-64). node points into a refcounted table of interned node names
 * (a cluster has few nodes and many endpoints per node). */
struct svc_slice_ep {
	struct sl_cidr addr; /* addresses[0]: consumers use the first one */
	bool ready;	     /* conditions with the API's nil rules applied */
	bool serving;
	bool terminating;
	const char *node; /* nodeName (interned), "" when absent; never NULL */
};

/* An EndpointSlice as the model needs it. Strings are owned by the slice
 * (freed by svc_slice_free) and never NULL. */
struct svc_slice {
	char *ns;
	char *name;
	char *service;	/* label kubernetes.io/service-name, "" none */
	uint8_t family; /* SL_AF_*; 0 for FQDN (never load-balanced) */
	size_t n_ports;
	struct svc_slice_port *ports;
	size_t n_eps;
	struct svc_slice_ep *eps;
};

/* A backend of one frontend, with the conditions that decided its fate.
 * One per endpoint and Service port (~140,000 in a large cluster): the
 * flags are bits and the order avoids padding (24 bytes on x86-64). */
struct svc_backend {
	struct sl_cidr addr;
	uint8_t proto;
	bool ready : 1, serving : 1, terminating : 1;
	bool local : 1;	 /* nodeName == this node */
	bool active : 1; /* in the Maglev table: receives new connections */
	uint16_t port;	 /* host order */
};

/* One frontend: a cluster IP, a Service port and protocol. */
struct svc_frontend {
	struct sl_cidr addr;
	uint8_t proto;
	uint16_t port;
	char port_name[SVC_NAME_MAX];
	size_t n_backends; /* every endpoint of the port (for display and ids) */
	struct svc_backend *backends;
	size_t n_active;
};

struct svc_model {
	size_t n_frontends;
	struct svc_frontend *frontends;
};

/* Parse a validated, defaulted Service / EndpointSlice (k8s_service.c has
 * checked it). Return 0 or -ENOMEM / -EINVAL; *out is freed with the
 * matching _free. */
int svc_def_parse(const json_t *obj, struct svc_def **out);
void svc_def_free(struct svc_def *d);
int svc_slice_parse(const json_t *obj, struct svc_slice **out);
void svc_slice_free(struct svc_slice *s);

/* Compute the frontends of a Service from its slices (those of the same
 * namespace whose service label names it; the caller selects them).
 * Rules (kube-proxy's): per Service port, the endpoints of slices of the
 * clusterIP's family whose port has the same name and protocol; one address
 * per endpoint (the first); duplicates across slices merged (conditions
 * OR'ed). internalTrafficPolicy Local first keeps endpoints on node_name.
 * Active = ready; when none is ready, serving-and-terminating ones.
 * Returns 0 or -ENOMEM. */
int svc_model_build(const struct svc_def *def, struct svc_slice *const *slices, size_t n_slices,
		    const char *node_name, struct svc_model *out);
void svc_model_free(struct svc_model *m);

/* The kind handlers' apply step (old == NULL: create, new == NULL: delete).
 * Either applies fully or leaves maps and model as they were (a failed
 * map write is rolled back). Return 0 or -errno with err set. */
int services_apply_service(const json_t *old, const json_t *new, char *err, size_t errlen);
int services_apply_slice(const json_t *old, const json_t *new, char *err, size_t errlen);

/* Use these map fds instead of ctl_map_fd() (unit tests create their own
 * maps); maglev_m is the table size the maglev map was made for;
 * affinity_fd may be -1. Passing -1 for svc_fd returns to the pinned maps.
 * Resets the writer's state. */
void services_use_maps(int svc_fd, int backend_fd, int maglev_fd, int revnat_fd, int affinity_fd,
		       unsigned int maglev_m);

/* Use this conntrack map (sluice_ct's layout) for services_flush_ct()
 * (tests; call after services_use_maps()); -1: none. Without it, injected
 * maps purge nothing and the pinned maps purge the pinned sluice_ct. */
void services_use_ct_map(int ct_fd);

/* Delete the conntrack frontend entries (SL_CT_F_FRONT) of every backend
 * deleted from sluice_backend since the last walk, in one walk of
 * sluice_ct. feed.c calls it once per applied feed value, so a List that
 * removes many backends costs one walk. Walks start at most every 250 ms:
 * a call sooner leaves the work to a services timer (also the one that
 * retries a failed walk, 3 tries in all). Nothing to do, model only or no
 * conntrack map: returns 0 at once. Returns 0 or -errno (logged). */
int services_flush_ct(void);

/* The JSON description of one Service (service.get), or NULL when the
 * Service is unknown. New reference. */
json_t *services_describe(const char *ns, const char *name);

/* After a restart: delete the map entries a previous run wrote that no
 * Service claimed since (the timer calls it once the model is restored).
 * Returns the number of entries removed. */
size_t services_gc_stale(void);

/* Drop every Service and slice (tests, shutdown). Map entries stay. */
void services_reset(void);

#endif
