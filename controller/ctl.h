/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's process-wide settings, filled by main.c from flags. */
#ifndef SLUICE_CTL_H
#define SLUICE_CTL_H

#include <stdbool.h>
#include "addr.h"
#include "attach.h"

struct ctl_config {
	const char *bpffs;      /* pin root */
	const char *socket_path;
	const char *state_dir;
	const char *node_name;  /* --node-name, default: hostname */
	const char *cgroup;     /* cgroup2 dir for socket hooks; NULL = auto */
	struct sl_cidr pod_cidr;     /* this node's pod range */
	bool have_pod_cidr;          /* from --pod-cidr or the Node object */
	struct sl_cidr cluster_cidr; /* all pods of the cluster */
	struct sl_cidr service_cidr;
	unsigned int maglev_size;    /* Maglev table size M (prime) */
	unsigned int ct_max;         /* conntrack entries */
	enum sl_attach_mode attach_mode; /* tcx or tc, for the host veths */
};

extern struct ctl_config ctl;

/* Open a pinned map "<bpffs>/<name>" (cached; do not close).
 * Returns an fd or -errno. Implemented in controller/datapath.c. */
int ctl_map_fd(const char *name);

/* Run fn every interval_ms from the main loop (GC, debounced recomputes).
 * At most 16 timers. Returns 0 or -ENOSPC. */
int ctl_add_timer(unsigned int interval_ms, void (*fn)(void));

#endif
