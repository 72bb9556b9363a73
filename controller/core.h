/* SPDX-License-Identifier: Apache-2.0 */
/* Internal seams of the sluiced core (main, server, datapath, endpoints,
 * requests, status). Other modules use ctl.h, endpoints.h and friends. */
#ifndef SLUICE_CORE_H
#define SLUICE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

#ifndef SL_VERSION
#define SL_VERSION "0.1.0"
#endif

/* Set by main before anything else runs. */
extern time_t ctl_start_time;
/* True once the datapath is loaded and the model initialised. */
extern bool ctl_ready;

/* datapath.c: load (or reuse) and pin every program and map; attaches
 * nothing. Returns 0 or -errno (logged). */
int datapath_init(void);
/* After the maps are filled (endpoints, model, policy): attach the cgroup
 * hooks and, if datapath_init loaded new programs, re-attach them on every
 * endpoint's host veth; then record the build as pinned. Returns 0 or
 * -errno (then call datapath_abort()). */
int datapath_commit(void);
/* A start that fails between datapath_init and a successful
 * datapath_commit: put back the maps an upgrade replaced and drop the build
 * marker (the previous programs stay attached). No-op after a commit. */
void datapath_abort(void);
/* Close our fds; pins and attachments stay (traffic goes on without us). */
void datapath_fini(void);
/* Whether datapath_init replaced the pinned map name (its layout differed
 * from this build's): it started empty. */
bool datapath_map_replaced(const char *name);

/* veth_attach.c */
/* Attach the pinned from_pod/to_pod programs to a host veth (ingress /
 * egress) through ctl.attach_mode, replacing earlier versions of them
 * (through either interface). Returns 0 or -errno (logged). */
int datapath_attach_veth(uint32_t ifindex, const char *ifname);
/* What runs at the host veth ifindex, which must still be called ifname:
 * {"ingress": {"program", "id", "via", "current"} or null, "egress": ...}
 * ("current": the pinned program of that name); NULL when the veth is gone
 * or on no memory. */
json_t *datapath_veth_json(uint32_t ifindex, const char *ifname);
/* Names of the maps under the pin root ("sluice_*"), for status. Calls fn
 * for each; returns 0 or -errno. */
int datapath_foreach_map(int (*fn)(const char *name, int fd, void *arg), void *arg);

/* endpoints.c */
int endpoints_init(void);
void endpoints_fini(void);
size_t endpoints_count(void);
/* Ask the model for every endpoint's identity again (after model_init). */
void endpoints_refresh_identities(void);

/* requests.c: dispatch {"request":NAME,...}. Returns 0 or -errno with err set. */
int requests_dispatch(const json_t *req, json_t *reply, char *err, size_t errlen);

/* server.c: serve the socket until SIGTERM/SIGINT. Returns 0 or -errno. */
int server_run(void);

#endif
