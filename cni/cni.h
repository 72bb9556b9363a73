/* SPDX-License-Identifier: Apache-2.0 */
/* The sluice CNI plugin: shared declarations of its parts.
 *
 *   cmd.c     verbs (ADD, DEL, CHECK, VERSION, STATUS, GC), env, result output
 *   conf.c    network config parsing, versions, result and error JSON
 *   ipam.c    built-in file-backed IPAM and delegation to an IPAM plugin
 *   nl.c      libmnl netlink helpers (link, addr, route, neigh)
 *   tc.c      attaching the pinned TC programs
 *   sha256.c  host interface names
 *
 * Everything but main.c lives in libcni.a so unit tests can call it. */
#ifndef SLUICE_CNI_H
#define SLUICE_CNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "addr.h"
#include "attach.h"

/* Error codes written to stdout in {"code":N}. 1-99 are the CNI spec's; 100+
 * are ours.
 *
 *  code | meaning
 *  -----+-------------------------------------------------------------------
 *    1  | incompatible/unsupported cniVersion (or verb not in that version)
 *    3  | container unknown (CHECK: the pod interface/netns does not exist)
 *    4  | invalid or missing CNI_* environment variable / CNI_ARGS
 *    5  | I/O failure (reading stdin)
 *    6  | stdin is not valid JSON
 *    7  | invalid network config (missing name, bad podCIDR, bad mtu, ...)
 *   11  | try again later: sluiced unreachable or timed out (ADD rolls back;
 *       | DEL cleans up locally first, then reports 11 so the runtime retries)
 *   50  | STATUS: plugin not available (sluiced down, no pod CIDR, pool full)
 *  100  | internal error (out of memory, unexpected syscall failure)
 *  101  | IPAM pool exhausted (message names the range)
 *  102  | IPAM state error (state dir not writable, corrupt lease, no CIDR)
 *  103  | cannot open or enter CNI_NETNS
 *  104  | netlink configuration of the veth pair, address, route or
 *       | neighbour failed
 *  105  | interface name already in use (CNI_IFNAME in the pod netns or the
 *       | host-side name in the node netns)
 *  106  | datapath not available: pinned programs missing or tc attach failed
 *  107  | sluiced refused the request (its error text is the message)
 *  108  | delegated IPAM plugin failed or could not be run (its own error
 *       | code is passed through when it reports one)
 *  109  | CHECK found a difference from prevResult
 *  110  | GC could not remove everything (message lists what was left)
 */
enum cni_code {
	CNI_OK = 0,
	CNI_ERR_INCOMPATIBLE = 1,
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_INVALID_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_INVALID_CONFIG = 7,
	CNI_ERR_TRY_AGAIN = 11,
	CNI_ERR_NOT_AVAILABLE = 50,
	SL_CNI_ERR_INTERNAL = 100,
	SL_CNI_ERR_IPAM_EXHAUSTED = 101,
	SL_CNI_ERR_IPAM = 102,
	SL_CNI_ERR_NETNS = 103,
	SL_CNI_ERR_LINK = 104,
	SL_CNI_ERR_IFNAME_EXISTS = 105,
	SL_CNI_ERR_DATAPATH = 106,
	SL_CNI_ERR_CONTROLLER = 107,
	SL_CNI_ERR_DELEGATE = 108,
	SL_CNI_ERR_CHECK = 109,
	SL_CNI_ERR_GC = 110,
};

/* The first error of an operation, as the runtime will see it. */
struct cni_err {
	int code; /* 0: no error recorded yet */
	char msg[512];
	char details[512];
};

/* Record an error (only the first one sticks, so rollback failures do not
 * hide the cause) and log it. errnum is a negative errno (or 0) whose text
 * becomes "details". Returns errnum, or -EINVAL when errnum is 0. */
int cni_fail(struct cni_err *e, int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- versions ---------------------------------------------------------- */
enum cni_ver { CNI_V030, CNI_V031, CNI_V040, CNI_V100, CNI_V110, CNI_V_COUNT };
extern const char *const cni_versions[CNI_V_COUNT];
#define CNI_VERSION_LATEST "1.1.0"
/* Index of a supported version string, or -1. */
int cni_version_parse(const char *s);

/* ---- network config ------------------------------------------------------ */
struct cni_conf {
	json_t *root;	     /* the whole config (owned) */
	const char *version; /* cniVersion as given */
	int ver;	     /* enum cni_ver */
	const char *name, *type;
	const char *bpffs, *socket, *state_dir;
	bool has_pod_cidr;
	struct sl_cidr pod_cidr; /* from config "podCIDR" (or sluiced later) */
	int mtu;
	json_t *ipam;		   /* "ipam" object or NULL */
	const char *ipam_type;	   /* delegate plugin name, NULL = built-in */
	json_t *prev_result;	   /* or NULL */
	json_t *dns;		   /* or NULL */
	json_t *valid_attachments; /* GC list (array) or NULL */
};

/* Parse a network config. Returns 0, or -EINVAL with e set to code 6
 * (not JSON), 7 (invalid) or 1 (unsupported cniVersion). */
int cni_conf_parse(const char *buf, size_t len, struct cni_conf *c, struct cni_err *e);
void cni_conf_free(struct cni_conf *c);
/* Check the pod CIDR is usable for IPv4 pod addressing (plen <= 30).
 * Returns 0 or -EINVAL with e (code 7) set. */
int cni_pod_cidr_check(const struct sl_cidr *cidr, const char *what, struct cni_err *e);

/* ---- environment ------------------------------------------------------- */
enum cni_verb { CNI_ADD, CNI_DEL, CNI_CHECK, CNI_VERSION, CNI_STATUS, CNI_GC, CNI_VERB_COUNT };

struct cni_env {
	int verb;
	const char *command, *container_id, *netns, *ifname, *args, *path;
	char k8s_namespace[64];
	char k8s_pod[254];
};

/* Read and validate CNI_* for the verb in CNI_COMMAND. Returns 0 or -EINVAL
 * with e set (code 4). */
int cni_env_parse(struct cni_env *env, struct cni_err *e);
/* Look key up in a CNI_ARGS string ("K=V;K=V"). Returns 1 and copies the
 * value when found, 0 when absent, -EINVAL when args is malformed or the
 * value does not fit. */
int cni_args_get(const char *args, const char *key, char *val, size_t len);

/* ---- results ----------------------------------------------------------- */
struct cni_result {
	const char *host_ifname;
	uint8_t host_mac[6];
	const char *ifname;
	uint8_t mac[6];
	const char *sandbox; /* CNI_NETNS */
	struct sl_cidr ip;   /* the pod's address with its prefix length */
	union sl_addr gw;
	json_t *dns; /* borrowed, may be NULL */
};

/* The ADD result in the given version (0.3.x and 0.4.0 carry "version" in
 * ips). Returns a new reference or NULL on allocation failure. */
json_t *cni_result_json(int ver, const struct cni_result *r);
/* {"cniVersion","code","msg","details"}. New reference. */
json_t *cni_error_json(const char *version, const struct cni_err *e);
/* {"cniVersion","supportedVersions"}. New reference. */
json_t *cni_version_json(void);

/* "10.244.0.5/24" keeping the host bits. Returns 0 or -EINVAL. */
int cni_addr_prefix_parse(const char *s, struct sl_cidr *c);

/* What CHECK needs out of a prevResult. */
struct cni_prev {
	const char *ifname;	 /* pod interface (the entry with a sandbox) */
	const char *host_ifname; /* the entry without a sandbox, or NULL */
	struct sl_cidr ip;	 /* first IPv4 address of the pod interface */
	bool has_gw;
	union sl_addr gw; /* gateway of that address or default route */
};
/* Returns 0 or -EINVAL with e set (code 7) when prevResult lacks what CHECK
 * must verify. */
int cni_prev_parse(const json_t *prev, const char *ifname, struct cni_prev *p, struct cni_err *e);

/* ---- naming ------------------------------------------------------------ */
/* "sl" + 12 hex of sha256(containerID "/" ifname); buf >= 16 bytes. */
void cni_host_ifname(const char *container_id, const char *ifname, char *buf, size_t len);
bool cni_is_host_ifname(const char *name);
void sl_sha256(const void *data, size_t len, uint8_t out[32]);
/* "aa:bb:cc:dd:ee:ff"; buf >= 18. */
const char *cni_mac_str(const uint8_t mac[6], char *buf, size_t len);

/* ---- IPAM -------------------------------------------------------------- */
struct cni_ipam {
	int dirfd;	     /* <stateDir>/ipam/<network> */
	int lockfd;	     /* flock'ed while held */
	const char *network; /* for messages */
	struct sl_cidr cidr;
	uint32_t first, last, gw; /* host order: usable range and gateway */
};

/* Open (creating) the pool directory and take the lock. cidr NULL: only
 * release/foreach will be used (DEL, GC). Returns 0 or -errno with e set. */
int cni_ipam_open(struct cni_ipam *p, const char *state_dir, const char *network,
		  const struct sl_cidr *cidr, struct cni_err *e);
/* Unlock and close. */
void cni_ipam_close(struct cni_ipam *p);
/* Lease an address for (container_id, ifname): the existing lease if there
 * is one (*existed = true), else the next free one after the last handed
 * out. Returns 0, -ENOSPC (e code 101) or -errno (e code 102). */
int cni_ipam_alloc(struct cni_ipam *p, const char *container_id, const char *ifname,
		   union sl_addr *out, bool *existed, struct cni_err *e);
/* Release the lease of (container_id, ifname). No lease is success. */
int cni_ipam_release(struct cni_ipam *p, const char *container_id, const char *ifname,
		     struct cni_err *e);
/* Call fn for every lease; used by GC. fn may release the lease. */
typedef int (*cni_lease_fn)(struct cni_ipam *p, const char *ip, const char *container_id,
			    const char *ifname, void *arg);
int cni_ipam_foreach(struct cni_ipam *p, cni_lease_fn fn, void *arg);
/* Release the lease of address ip (a lease file name). */
int cni_ipam_release_ip(struct cni_ipam *p, const char *ip);
/* Number of addresses leased inside the pool's range and its size. */
int cni_ipam_usage(struct cni_ipam *p, uint32_t *used, uint32_t *size);

/* Run the delegated IPAM plugin conf->ipam_type with CNI_COMMAND=command
 * (NULL: keep the environment's) and the raw config on stdin. On success
 * *result (may be NULL for DEL) is its parsed stdout. A plugin error is
 * passed through in e. Returns 0 or -errno. */
int cni_ipam_exec(const struct cni_conf *conf, const char *cni_path, const char *command,
		  const char *stdin_buf, size_t stdin_len, json_t **result, struct cni_err *e);
/* The same with any environment entries replaced: set is a NULL-terminated
 * list of "KEY=VALUE" (GC passes CNI_CONTAINERID/CNI_IFNAME of each
 * attachment it removes). */
int cni_ipam_exec_env(const struct cni_conf *conf, const char *cni_path, const char *const *set,
		      const char *stdin_buf, size_t stdin_len, json_t **result, struct cni_err *e);
/* 1 when the delegated plugin lists version ver in its VERSION answer. */
int cni_ipam_supports(const struct cni_conf *conf, const char *cni_path, int ver);
/* The first IPv4 address (with prefix) and gateway of an IPAM result. */
int cni_ipam_result_ip(const json_t *result, struct sl_cidr *ip, bool *has_gw, union sl_addr *gw,
		       struct cni_err *e);

/* ---- datapath ---------------------------------------------------------- */
/* Attach <bpffs>/progs/from_pod at ingress and <bpffs>/progs/to_pod at
 * egress of ifindex through mode (the one sluiced reports; already loaded
 * programs: no verifier run). Returns 0 or -errno with e set (code 106). */
int cni_tc_attach(int ifindex, const char *bpffs, enum sl_attach_mode mode, struct cni_err *e);
/* 1 when both pinned programs are the ones attached to ifindex (through
 * tcx or tc), 0 when not (e says which), or -errno. */
int cni_tc_check(int ifindex, const char *bpffs, struct cni_err *e);

/* ---- running a command ------------------------------------------------- */
/* Run one CNI invocation: read the config from in, write the result or
 * error to out. Returns the process exit status (0 or 1). */
int cni_run(FILE *in, FILE *out);

#endif
