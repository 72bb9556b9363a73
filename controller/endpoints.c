// SPDX-License-Identifier: Apache-2.0
/* Local endpoints: the pods the CNI plugin registered on this node.
 *
 * Each endpoint is a record in <state-dir>/endpoints/<containerID>-<ifname>.json
 * (written to a temporary file and renamed, so a crash leaves the old or the
 * new record, never half of one) and these map entries:
 *   sluice_ep[ip]                 one per address: delivery and anti-spoofing
 *   sluice_ep_slots[low ip bits]  the same without hashing (ep_slots.c)
 *   sluice_ep_stats[endpoint id]  zeroed counters (an array slot: ids stay
 *                                 below SL_EP_MAX)
 *   sluice_ipcache[ip/32|128]     identity, SL_IPC_F_LOCAL (claimed through
 *                                 ipcache.c when linked, else written here)
 *   sluice_lb_netns[netns cookie] when the cookie is known (socket LB)
 * The record is written first and the sluice_ep entries last, so the
 * datapath only accepts a pod's packets once everything else is in place;
 * at start the maps are resynced with the records (stale entries removed,
 * correct ones untouched). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <sluice/endpoint.h>
#include <sluice/ipcache.h>
#include <sluice/lb.h>
#include <sluice/metrics.h>

#include "core.h"
#include "ctl.h"
#include "endpoints.h"
#include "ep_slots.h"
#include "ipcache.h"
#include "linkdel.h"
#include "policy.h"
#include "kinds.h"
#include "log.h"
#include "requests.h"
#include "store.h"

#define EP_DIR "endpoints"

static struct endpoint **eps;
static size_t n_eps, cap_eps;

size_t endpoints_count(void)
{
	return n_eps;
}

int endpoints_foreach(int (*fn)(const struct endpoint *ep, void *arg), void *arg)
{
	for (size_t i = 0; i < n_eps; i++) {
		int ret = fn(eps[i], arg);

		if (ret)
			return ret;
	}
	return 0;
}

const struct endpoint *endpoints_by_pod(const char *ns, const char *pod)
{
	for (size_t i = 0; i < n_eps; i++)
		if (eps[i]->pod[0] && !strcmp(eps[i]->namespace_, ns) && !strcmp(eps[i]->pod, pod))
			return eps[i];
	return NULL;
}

const struct endpoint *endpoints_by_ip(const union sl_addr *addr, __u8 family)
{
	for (size_t i = 0; i < n_eps; i++)
		for (int j = 0; j < eps[i]->n_ips; j++)
			if (eps[i]->ips[j].family == family &&
			    !memcmp(&eps[i]->ips[j].addr, addr, sizeof(*addr)))
				return eps[i];
	return NULL;
}

static struct endpoint *find_ep(const char *cid, const char *ifname, size_t *idx)
{
	for (size_t i = 0; i < n_eps; i++) {
		if (!strcmp(eps[i]->container_id, cid) && !strcmp(eps[i]->ifname, ifname)) {
			if (idx)
				*idx = i;
			return eps[i];
		}
	}
	return NULL;
}

/* ---- names and files ---------------------------------------------------- */

/* Container IDs become file names: keep them to a safe alphabet. */
static bool valid_container_id(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= sizeof(((struct endpoint *)0)->container_id) || s[0] == '.' || s[0] == '-')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

/* A Linux interface name: 1-15 bytes, no '/', ':' or whitespace, not "." or "..". */
static bool valid_ifname(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= IF_NAMESIZE || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || *s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static int record_path(char *buf, size_t len, const char *cid, const char *ifname, bool tmp)
{
	int n = snprintf(buf, len, "%s/%s/%s%s-%s.json", ctl.state_dir, EP_DIR, tmp ? ".tmp-" : "",
			 cid, ifname);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void mac_str(const uint8_t *m, char *buf)
{
	sprintf(buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static int mac_parse(const char *s, uint8_t *m)
{
	unsigned int b[6];
	char tail;

	if (!s ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6 ||
	    strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		m[i] = b[i];
	return 0;
}

/* The record as JSON: the file format and the request replies. */
static json_t *ep_to_json(const struct endpoint *ep)
{
	char mac[18], hmac[18], buf[SL_ADDR_STRLEN];
	json_t *ips = json_array(), *o;

	if (!ips)
		return NULL;
	for (int i = 0; i < ep->n_ips; i++)
		json_array_append_new(ips,
				      json_string(sl_addr_str(&ep->ips[i].addr, ep->ips[i].family,
							      buf, sizeof(buf))));
	mac_str(ep->mac, mac);
	mac_str(ep->host_mac, hmac);
	o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:I,s:s,s:I,s:I}", "id",
		      (json_int_t)ep->id, "containerID", ep->container_id, "ifname", ep->ifname,
		      "namespace", ep->namespace_, "pod", ep->pod, "netns", ep->netns, "ips", ips,
		      "mac", mac, "hostIfname", ep->host_ifname, "hostIfindex",
		      (json_int_t)ep->host_ifindex, "hostMac", hmac, "netnsCookie",
		      (json_int_t)ep->netns_cookie, "identity", (json_int_t)ep->identity);
	return o;
}

static int copy_str(char *dst, size_t len, const json_t *obj, const char *key, bool required,
		    char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v)) {
		if (required) {
			snprintf(err, errlen, "%s: missing", key);
			return -EINVAL;
		}
		dst[0] = 0;
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "%s: must be a string", key);
		return -EINVAL;
	}
	if (json_string_length(v) >= len || strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "%s: longer than %zu bytes or holds NUL", key, len - 1);
		return -EINVAL;
	}
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int get_uint(const json_t *obj, const char *key, bool required, uint64_t max, uint64_t *out,
		    char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v)) {
		if (required) {
			snprintf(err, errlen, "%s: missing", key);
			return -EINVAL;
		}
		*out = 0;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max) {
		snprintf(err, errlen, "%s: must be an integer from 0 to %llu", key,
			 (unsigned long long)max);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	return 0;
}

/* Parse the endpoint.add arguments (or a record: with_id) into ep. */
static int ep_from_json(const json_t *o, struct endpoint *ep, bool with_id, char *err,
			size_t errlen)
{
	char mac[32];
	const json_t *ips, *ip;
	uint64_t v;
	size_t i;
	int ret;

	memset(ep, 0, sizeof(*ep));
	if ((ret = copy_str(ep->container_id, sizeof(ep->container_id), o, "containerID", true, err,
			    errlen)) ||
	    (ret = copy_str(ep->ifname, sizeof(ep->ifname), o, "ifname", true, err, errlen)) ||
	    (ret = copy_str(ep->namespace_, sizeof(ep->namespace_), o, "namespace", false, err,
			    errlen)) ||
	    (ret = copy_str(ep->pod, sizeof(ep->pod), o, "pod", false, err, errlen)) ||
	    (ret = copy_str(ep->netns, sizeof(ep->netns), o, "netns", false, err, errlen)) ||
	    (ret = copy_str(ep->host_ifname, sizeof(ep->host_ifname), o, "hostIfname", true, err,
			    errlen)))
		return ret;
	if (!valid_container_id(ep->container_id)) {
		snprintf(err, errlen,
			 "containerID '%s': only letters, digits, '-', '_' and '.' allowed",
			 ep->container_id);
		return -EINVAL;
	}
	if (!valid_ifname(ep->ifname) || !valid_ifname(ep->host_ifname)) {
		snprintf(err, errlen, "ifname '%s' / hostIfname '%s': not a valid interface name",
			 ep->ifname, ep->host_ifname);
		return -EINVAL;
	}
	if ((ret = get_uint(o, "hostIfindex", true, INT32_MAX, &v, err, errlen)))
		return ret;
	if (!v) {
		snprintf(err, errlen, "hostIfindex: must not be 0");
		return -EINVAL;
	}
	ep->host_ifindex = v;
	if ((ret = get_uint(o, "netnsCookie", false, INT64_MAX, &v, err, errlen)))
		return ret;
	ep->netns_cookie = v;
	if ((ret = copy_str(mac, sizeof(mac), o, "mac", true, err, errlen)))
		return ret;
	if (mac_parse(mac, ep->mac)) {
		snprintf(err, errlen, "mac '%s': not a MAC address (aa:bb:cc:dd:ee:ff)", mac);
		return -EINVAL;
	}
	if ((ret = copy_str(mac, sizeof(mac), o, "hostMac", true, err, errlen)))
		return ret;
	if (mac_parse(mac, ep->host_mac)) {
		snprintf(err, errlen, "hostMac '%s': not a MAC address (aa:bb:cc:dd:ee:ff)", mac);
		return -EINVAL;
	}
	ips = json_object_get(o, "ips");
	if (!json_is_array(ips) || json_array_size(ips) == 0 ||
	    json_array_size(ips) > SL_EP_MAX_IPS) {
		snprintf(err, errlen, "ips: must be an array of 1 to %d addresses", SL_EP_MAX_IPS);
		return -EINVAL;
	}
	json_array_foreach(ips, i, ip)
	{
		struct sl_cidr *c = &ep->ips[i];

		/* Accept "10.0.0.5" and "10.0.0.5/24" (a CNI result's form):
		 * the endpoint owns exactly the address. */
		char buf[SL_ADDR_STRLEN + 8], *slash;
		struct sl_cidr check;

		if (!json_is_string(ip) || json_string_length(ip) >= sizeof(buf)) {
			snprintf(err, errlen, "ips[%zu]: not an IP address", i);
			return -EINVAL;
		}
		strcpy(buf, json_string_value(ip));
		if (sl_cidr_parse(buf, &check, true) ||
		    ((slash = strchr(buf, '/')) && (*slash = 0)) ||
		    sl_addr_parse(buf, &c->addr, &c->family)) {
			snprintf(err, errlen, "ips[%zu]: '%s' is not an IP address", i,
				 json_string_value(ip));
			return -EINVAL;
		}
		c->plen = c->family == SL_AF_INET ? 32 : 128;
		for (size_t j = 0; j < i; j++)
			if (ep->ips[j].family == c->family) {
				snprintf(err, errlen, "ips[%zu]: at most one address per family",
					 i);
				return -EINVAL;
			}
		ep->n_ips++;
	}
	if (with_id) {
		if ((ret = get_uint(o, "id", true, UINT32_MAX, &v, err, errlen)))
			return ret;
		if (!v) {
			snprintf(err, errlen, "id: must not be 0");
			return -EINVAL;
		}
		ep->id = v;
		if ((ret = get_uint(o, "identity", false, UINT32_MAX, &v, err, errlen)))
			return ret;
		ep->identity = v ? v : SL_ID_UNLABELLED;
	}
	return 0;
}

/* Write the record atomically (temp file + rename). No fsync: a record
 * must survive a restart of sluiced, which rename alone guarantees; after a
 * machine crash the veths and netns it describes are gone too, and fsync
 * would cost every CNI ADD milliseconds. */
static int record_write(const struct endpoint *ep)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	json_t *o = ep_to_json(ep);
	int fd = -1, ret;
	char *s = NULL;
	size_t len, off = 0;

	if (!o)
		return -ENOMEM;
	s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return -ENOMEM;
	if ((ret = record_path(tmp, sizeof(tmp), ep->container_id, ep->ifname, true)) ||
	    (ret = record_path(path, sizeof(path), ep->container_id, ep->ifname, false)))
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		pr_warn("couldn't write %s: %s\n", tmp, strerror(errno));
		goto out;
	}
	len = strlen(s);
	s[len++] = '\n'; /* json_dumps leaves room: replaces the NUL */
	while (off < len) {
		ssize_t n = write(fd, s + off, len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			pr_warn("couldn't write %s: %s\n", tmp, strerror(errno));
			goto out_unlink;
		}
		off += n;
	}
	if (close(fd) < 0) {
		fd = -1;
		ret = -errno;
		pr_warn("couldn't write %s: %s\n", tmp, strerror(errno));
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		pr_warn("couldn't rename %s to %s: %s\n", tmp, path, strerror(errno));
		goto out_unlink;
	}
	ret = 0;
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(s);
	return ret;
}

static int record_remove(const struct endpoint *ep)
{
	char path[PATH_MAX];

	if (record_path(path, sizeof(path), ep->container_id, ep->ifname, false))
		return -ENAMETOOLONG;
	if (unlink(path) < 0 && errno != ENOENT) {
		pr_warn("couldn't remove %s: %s\n", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* ---- maps --------------------------------------------------------------- */

static void ep_key_of(const struct sl_cidr *ip, struct ep_key *k)
{
	memset(k, 0, sizeof(*k));
	k->addr = ip->addr;
	k->family = ip->family;
}

static void ep_info_of(const struct endpoint *ep, struct ep_info *v)
{
	memset(v, 0, sizeof(*v));
	v->ifindex = ep->host_ifindex;
	v->ep_id = ep->id;
	v->identity = ep->identity;
	memcpy(v->mac, ep->mac, 6);
	memcpy(v->host_mac, ep->host_mac, 6);
	v->netns_cookie = ep->netns_cookie;
}

static void ipc_owner(const struct endpoint *ep, char *buf, size_t len)
{
	snprintf(buf, len, "ep:%s/%s", ep->container_id, ep->ifname);
}

static int map_fd(const char *name, bool required)
{
	int fd = ctl_map_fd(name);

	if (fd < 0 && required)
		pr_warn("pinned map %s is not available: %s\n", name, strerror(-fd));
	return fd;
}

/* sluice_ipcache entries of the endpoint: through ipcache.c's claims when
 * it is linked (it arbitrates with the model's own entries), else direct. */
/* The pod's gateway (first address of the node's pod CIDR) sits on every
 * host veth: node-to-pod traffic (kubelet probes) comes from it, so it is
 * the host for policy. Claimed under one owner; claiming again is a no-op. */
static int ipc_claim_gateway(const struct endpoint *ep)
{
	struct ipcache_val val = {.identity = SL_ID_HOST};
	struct sl_cidr gw;
	bool inside = false;

	if (!ctl.have_pod_cidr || ctl.pod_cidr.family != SL_AF_INET)
		return 0;
	for (int i = 0; i < ep->n_ips; i++)
		inside |= sl_cidr_contains(&ctl.pod_cidr, &ep->ips[i].addr, ep->ips[i].family);
	if (!inside)
		return 0;
	gw = ctl.pod_cidr;
	gw.plen = 32;
	gw.addr.v4 = htonl(ntohl(gw.addr.v4) + 1);
	return ipcache_claim(&gw, "gateway", IPC_PRIO_NODE, &val);
}

static int ipc_set(const struct endpoint *ep)
{
	char owner[IPC_OWNER_MAX];
	struct ipcache_val val = {.identity = ep->identity, .flags = SL_IPC_F_LOCAL};
	int ret = 0;

	ipc_owner(ep, owner, sizeof(owner));
	for (int i = 0; i < ep->n_ips; i++) {
		ret = ipcache_claim(&ep->ips[i], owner, IPC_PRIO_ENDPOINT, &val);
		if (ret) {
			pr_warn("endpoint %s: couldn't write its ipcache entry: %s\n", owner,
				strerror(-ret));
			return ret;
		}
	}
	if ((ret = ipc_claim_gateway(ep)))
		pr_warn("couldn't claim the gateway's ipcache entry: %s\n", strerror(-ret));
	return ipcache_flush();
}

static void ipc_clear(const struct endpoint *ep)
{
	char owner[IPC_OWNER_MAX];

	ipc_owner(ep, owner, sizeof(owner));
	for (int i = 0; i < ep->n_ips; i++)
		ipcache_release(&ep->ips[i], owner);
	ipcache_flush();
}

/* Zero the counters of endpoint id (its array slot). Returns 0 or -errno. */
static int stats_zero(int fd, __u32 id)
{
	int ncpu = libbpf_num_possible_cpus(), ret = 0;
	void *zero;

	if (ncpu < 0)
		return ncpu;
	zero = calloc(ncpu, sizeof(struct ep_stats));
	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(fd, &id, zero, BPF_ANY)) {
		ret = -errno;
		pr_warn("couldn't zero %s[%u]: %s\n", SL_MAP_EP_STATS, id, strerror(errno));
	}
	free(zero);
	return ret;
}

/* Start ep's counters at zero, or keep what its slot holds (a
 * re-registration or a restart: the slot is the endpoint's own). */
static int stats_create(const struct endpoint *ep, bool keep_existing)
{
	int fd = map_fd(SL_MAP_EP_STATS, true);

	if (fd < 0)
		return fd;
	return keep_existing ? 0 : stats_zero(fd, ep->id);
}

/* A deleted endpoint's counters go with it (its id may be reused). */
static void stats_delete(const struct endpoint *ep)
{
	int fd = map_fd(SL_MAP_EP_STATS, false);

	if (fd >= 0)
		stats_zero(fd, ep->id);
}

static int netns_set(const struct endpoint *ep)
{
	__u64 key = ep->netns_cookie;
	__be32 pod_ip4 = 0;
	int fd;

	/* The value is the pod's IPv4: socket-level ClientIP affinity keys on
	 * the same client address as the tc path (include/sluice/lb.h). */
	for (int i = 0; i < ep->n_ips; i++)
		if (ep->ips[i].family == SL_AF_INET)
			pod_ip4 = ep->ips[i].addr.v4;
	if (!key || !pod_ip4)
		return 0;
	fd = map_fd(SL_MAP_LB_NETNS, false);
	if (fd < 0)
		return 0; /* services datapath not built: nothing to enable */
	if (bpf_map_update_elem(fd, &key, &pod_ip4, BPF_ANY)) {
		pr_warn("couldn't write %s: %s\n", SL_MAP_LB_NETNS, strerror(errno));
		return -errno;
	}
	return 0;
}

static void netns_clear(const struct endpoint *ep)
{
	__u64 key = ep->netns_cookie;
	int fd = map_fd(SL_MAP_LB_NETNS, false);

	if (key && fd >= 0)
		bpf_map_delete_elem(fd, &key);
}

static int ep_map_set(const struct endpoint *ep)
{
	int fd = map_fd(SL_MAP_EP, true);
	struct ep_info v;
	struct ep_key k;

	if (fd < 0)
		return fd;
	ep_info_of(ep, &v);
	for (int i = 0; i < ep->n_ips; i++) {
		int ret;

		ep_key_of(&ep->ips[i], &k);
		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY)) {
			ret = -errno;
			pr_warn("couldn't write %s for endpoint %s/%s: %s\n", SL_MAP_EP,
				ep->container_id, ep->ifname, strerror(errno));
			return ret;
		}
		/* After the authoritative entry: a slot never names an
		 * address sluice_ep does not have. */
		ret = ep_slots_set(&ep->ips[i].addr, ep->ips[i].family, &v);
		if (ret)
			return ret;
	}
	return 0;
}

/* Give the slot ip leaves to another endpoint's address that shares it
 * (it was served by sluice_ep alone). */
static void slot_promote(const struct endpoint *gone, const struct sl_cidr *ip)
{
	struct ep_info v;

	if (ip->family != SL_AF_INET)
		return;
	for (size_t i = 0; i < n_eps; i++) {
		if (eps[i] == gone)
			continue;
		for (int j = 0; j < eps[i]->n_ips; j++) {
			const struct sl_cidr *o = &eps[i]->ips[j];

			if (o->family != SL_AF_INET || o->addr.v4 == ip->addr.v4 ||
			    SL_EP_SLOT(ntohl(o->addr.v4)) != SL_EP_SLOT(ntohl(ip->addr.v4)))
				continue;
			ep_info_of(eps[i], &v);
			ep_slots_set(&o->addr, o->family, &v);
			return;
		}
	}
}

/* Remove our sluice_ep entries; an entry another endpoint now owns stays. */
static void ep_map_clear(const struct endpoint *ep)
{
	int fd = map_fd(SL_MAP_EP, false);
	struct ep_info v;
	struct ep_key k;

	if (fd < 0)
		return;
	for (int i = 0; i < ep->n_ips; i++) {
		ep_key_of(&ep->ips[i], &k);
		/* The slot first: it must never outlive the entry. */
		ep_slots_clear(&ep->ips[i].addr, ep->ips[i].family, ep->id);
		if (!bpf_map_lookup_elem(fd, &k, &v) && v.ep_id == ep->id)
			bpf_map_delete_elem(fd, &k);
		slot_promote(ep, &ep->ips[i]);
	}
}

static void ep_unwire(const struct endpoint *ep)
{
	ep_map_clear(ep);
	netns_clear(ep);
	ipc_clear(ep);
	stats_delete(ep);
}

/* All map state of an endpoint, sluice_ep last. On failure what was
 * written is removed again (except on a re-registration: keep_stats). */
static int ep_wire(const struct endpoint *ep, bool keep_stats)
{
	int ret;

	if ((ret = stats_create(ep, keep_stats)) || (ret = ipc_set(ep)) || (ret = netns_set(ep)) ||
	    (ret = ep_map_set(ep))) {
		ep_unwire(ep);
		return ret;
	}
	return 0;
}

/* ---- identities ---------------------------------------------------------- */

static uint32_t identity_for(const char *ns, const char *pod)
{
	uint32_t id = 0;

	if (pod[0])
		id = model_pod_identity(ns, pod);
	return id ? id : SL_ID_UNLABELLED;
}

static void notify_policy(void)
{
	policy_mark_dirty();
}

static int netpol_in_ns(const json_t *obj, void *arg)
{
	const char *ns = json_string_value(json_object_get(json_object_get(obj, "metadata"),
							   "namespace"));

	return ns && !strcmp(ns, arg);
}

/* Only policies of a pod's own namespace can select it. When one exists, a
 * new pod must not start open until the debounced recompute: compile now,
 * before the ADD returns. Pods of namespaces without policies pay nothing. */
static void policy_before_ready(const struct endpoint *ep)
{
	if (!store_foreach("NetworkPolicy", netpol_in_ns, (void *)ep->namespace_))
		return;
	if (policy_sync() < 0)
		pr_warn("endpoint %s/%s: policy not compiled yet; it is retried shortly\n",
			ep->namespace_, ep->pod);
}

static int set_identity(struct endpoint *ep, uint32_t identity)
{
	uint32_t old = ep->identity;
	int ret;

	if (old == identity)
		return 0;
	ep->identity = identity;
	if ((ret = ipc_set(ep)) || (ret = ep_map_set(ep))) {
		ep->identity = old;
		ipc_set(ep);
		ep_map_set(ep);
		return ret;
	}
	/* The maps are right; a stale record is fixed at the next start
	 * (identities are refreshed from the model then). */
	record_write(ep);
	notify_policy();
	return 0;
}

int endpoints_set_identity(const char *ns, const char *pod, uint32_t identity)
{
	int ret = 0;

	if (!identity)
		identity = SL_ID_UNLABELLED;
	/* One pod normally has one endpoint, but a pod with several
	 * interfaces has one per ifname. */
	for (size_t i = 0; i < n_eps; i++) {
		if (!eps[i]->pod[0] || strcmp(eps[i]->namespace_, ns) || strcmp(eps[i]->pod, pod))
			continue;
		int r = set_identity(eps[i], identity);

		if (r && !ret)
			ret = r;
	}
	return ret;
}

void endpoints_refresh_identities(void)
{
	/* Only what the model knows: a pod it has not heard of (yet) keeps
	 * the identity its record carries until the feed says otherwise. */
	for (size_t i = 0; i < n_eps; i++) {
		uint32_t id =
		    eps[i]->pod[0] ? model_pod_identity(eps[i]->namespace_, eps[i]->pod) : 0;

		if (id)
			set_identity(eps[i], id);
	}
}

/* ---- the table ------------------------------------------------------------ */

static uint32_t next_id = 1;

/* The next free endpoint id in [1, SL_EP_MAX) (the counters' array slot),
 * round-robin so a freed id is reused as late as possible; 0 when all are
 * taken. */
static uint32_t alloc_id(void)
{
	uint32_t next = next_id;

	for (uint64_t tries = 0; tries < SL_EP_MAX; tries++) {
		uint32_t id = next++;
		bool used = false;

		if (next >= SL_EP_MAX)
			next = 1;
		if (!id || id >= SL_EP_MAX)
			continue;
		for (size_t i = 0; i < n_eps && !used; i++)
			used = eps[i]->id == id;
		if (!used) {
			next_id = next;
			return id;
		}
	}
	return 0;
}

static int table_add(struct endpoint *ep)
{
	if (n_eps == cap_eps) {
		size_t cap = cap_eps ? cap_eps * 2 : 64;
		struct endpoint **n = realloc(eps, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		eps = n;
		cap_eps = cap;
	}
	eps[n_eps++] = ep;
	return 0;
}

static void table_remove(size_t idx)
{
	free(eps[idx]);
	eps[idx] = eps[--n_eps];
}

/* Does the host veth of a record still exist under its name? */
static bool veth_alive(const struct endpoint *ep)
{
	char name[IF_NAMESIZE];

	return if_indextoname(ep->host_ifindex, name) && !strcmp(name, ep->host_ifname);
}

/* ---- requests ------------------------------------------------------------- */

static int req_add(const json_t *req, json_t *reply, char *err, size_t errlen)
{
	struct endpoint *ep = NULL, *old;
	char e[256];
	size_t idx;
	bool existed;
	int ret;

	ep = malloc(sizeof(*ep));
	if (!ep) {
		snprintf(err, errlen, "endpoint.add: out of memory");
		return -ENOMEM;
	}
	ret = ep_from_json(req, ep, false, e, sizeof(e));
	if (ret) {
		snprintf(err, errlen, "endpoint.add: %s", e);
		goto fail;
	}
	/* An address held by another endpoint: refuse while that endpoint's
	 * veth lives (two pods cannot share an IP); a record whose veth is
	 * gone is a DEL sluiced missed, and gives the address up. */
	for (int i = 0; i < ep->n_ips; i++) {
		const struct endpoint *o = endpoints_by_ip(&ep->ips[i].addr, ep->ips[i].family);
		char ip[SL_ADDR_STRLEN];

		if (!o ||
		    (!strcmp(o->container_id, ep->container_id) && !strcmp(o->ifname, ep->ifname)))
			continue;
		if (veth_alive(o)) {
			snprintf(err, errlen,
				 "endpoint.add: address %s is in use by endpoint %s/%s (%s)",
				 sl_addr_str(&ep->ips[i].addr, ep->ips[i].family, ip, sizeof(ip)),
				 o->container_id, o->ifname, o->host_ifname);
			ret = -EADDRINUSE;
			goto fail;
		}
		pr_info("endpoint %s/%s: its veth %s is gone; dropping it for %s/%s\n",
			o->container_id, o->ifname, o->host_ifname, ep->container_id, ep->ifname);
		find_ep(o->container_id, o->ifname, &idx);
		ep_unwire(eps[idx]);
		record_remove(eps[idx]);
		table_remove(idx);
	}
	old = find_ep(ep->container_id, ep->ifname, &idx);
	existed = old != NULL;
	ep->id = existed ? old->id : alloc_id();
	if (!ep->id) {
		snprintf(err, errlen, "endpoint.add: no endpoint id left");
		ret = -ENOSPC;
		goto fail;
	}
	ep->identity = identity_for(ep->namespace_, ep->pod);

	ret = record_write(ep);
	if (ret) {
		snprintf(err, errlen, "endpoint.add: couldn't write the endpoint record: %s",
			 strerror(-ret));
		goto fail;
	}
	if (existed) {
		/* A repeated ADD (runtime retry): move the entries over; the
		 * counters stay when the veth is the same. */
		bool same_veth = old->host_ifindex == ep->host_ifindex;

		if (!same_veth)
			stats_delete(old);
		ep_map_clear(old);
		ipc_clear(old);
		if (old->netns_cookie != ep->netns_cookie)
			netns_clear(old);
		ret = ep_wire(ep, same_veth);
	} else {
		ret = ep_wire(ep, false);
	}
	if (ret) {
		snprintf(err, errlen, "endpoint.add: couldn't write the datapath maps: %s",
			 strerror(-ret));
		if (existed) {
			/* Put the previous registration back as it was. */
			record_write(old);
			ep_wire(old, true);
		} else {
			record_remove(ep);
		}
		goto fail;
	}
	if (existed) {
		free(old);
		eps[idx] = ep;
	} else if ((ret = table_add(ep))) {
		ep_unwire(ep);
		record_remove(ep);
		snprintf(err, errlen, "endpoint.add: out of memory");
		goto fail;
	}
	pr_info("endpoint %s/%s (%s/%s) registered: id %u, identity %u, veth %s\n",
		ep->container_id, ep->ifname, ep->namespace_, ep->pod, ep->id, ep->identity,
		ep->host_ifname);
	policy_before_ready(ep);
	notify_policy();
	json_object_set_new(reply, "endpoint", ep_to_json(ep));
	return 0;
fail:
	free(ep);
	return ret;
}

static int req_del(const json_t *req, json_t *reply, char *err, size_t errlen)
{
	const char *cid = json_string_value(json_object_get(req, "containerID"));
	const char *ifname = json_string_value(json_object_get(req, "ifname"));
	const char *del_link = json_string_value(json_object_get(req, "deleteLink"));
	struct endpoint *ep;
	size_t idx;

	if (!cid || !ifname) {
		snprintf(err, errlen,
			 "endpoint.del: containerID and ifname (strings) are required");
		return -EINVAL;
	}
	/* Optional: the plugin hands us its host veth to delete off its DEL
	 * path; "queued" tells it not to delete the link itself. */
	if (del_link)
		json_object_set_new(reply, "linkDeletion",
				    json_string(linkdel_queue(del_link) ? "caller" : "queued"));
	ep = find_ep(cid, ifname, &idx);
	if (!ep)
		return 0;
	ep_unwire(ep);
	if (record_remove(ep)) {
		snprintf(err, errlen, "endpoint.del: couldn't remove the record of %s/%s", cid,
			 ifname);
		/* The maps are already clean; the record goes at the next start
		 * (resync) or the next DEL. */
		return -EIO;
	}
	pr_info("endpoint %s/%s removed\n", cid, ifname);
	table_remove(idx);
	notify_policy();
	return 0;
}

static int req_get(const json_t *req, json_t *reply, char *err, size_t errlen)
{
	const char *cid = json_string_value(json_object_get(req, "containerID"));
	const char *ifname = json_string_value(json_object_get(req, "ifname"));
	const char *ns = json_string_value(json_object_get(req, "namespace"));
	const char *pod = json_string_value(json_object_get(req, "pod"));
	const struct endpoint *ep;
	json_t *o, *dp;

	if (cid) {
		ep = find_ep(cid, ifname ? ifname : "eth0", NULL);
		if (!ep) {
			snprintf(err, errlen, "endpoint.get: no endpoint %.128s/%.16s", cid,
				 ifname ? ifname : "eth0");
			return -ENOENT;
		}
	} else if (ns && pod) {
		ep = endpoints_by_pod(ns, pod);
		if (!ep) {
			snprintf(err, errlen, "endpoint.get: no endpoint for pod %.64s/%.254s", ns,
				 pod);
			return -ENOENT;
		}
	} else {
		snprintf(err, errlen,
			 "endpoint.get: give containerID (and ifname) or namespace and pod");
		return -EINVAL;
	}
	/* Not part of the record: what the host veth runs now (null when the
	 * veth is gone). */
	dp = datapath_veth_json(ep->host_ifindex, ep->host_ifname);
	o = ep_to_json(ep);
	if (!o) {
		json_decref(dp);
		goto oom;
	}
	/* json_object_set_new() takes the value even when it fails. */
	if (json_object_set_new(o, "datapath", dp ? dp : json_null())) {
		json_decref(o);
		goto oom;
	}
	if (json_object_set_new(reply, "endpoint", o))
		goto oom;
	return 0;
oom:
	snprintf(err, errlen, "endpoint.get: out of memory");
	return -ENOMEM;
}

static int req_list(const json_t *req, json_t *reply, char *err, size_t errlen)
{
	json_t *a = json_array();

	(void)req;
	if (!a)
		goto oom;
	for (size_t i = 0; i < n_eps; i++)
		if (json_array_append_new(a, ep_to_json(eps[i])))
			goto oom;
	if (json_object_set_new(reply, "endpoints", a))
		goto oom_noref;
	return 0;
oom:
	json_decref(a);
oom_noref:
	snprintf(err, errlen, "endpoint.list: out of memory");
	return -ENOMEM;
}

const struct request_handler endpoint_requests[] = {
    {"endpoint.add", req_add},
    {"endpoint.del", req_del},
    {"endpoint.get", req_get},
    {"endpoint.list", req_list},
    {NULL, NULL},
};

/* ---- start-up --------------------------------------------------------------- */

static int load_records(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct endpoint *dup_ids[64];
	struct dirent *de;
	int ret, n_dup = 0;
	bool renumber;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", ctl.state_dir, EP_DIR);
	if (mkdir(ctl.state_dir, 0700) < 0 && errno != EEXIST) {
		pr_warn("couldn't create state dir %s: %s\n", ctl.state_dir, strerror(errno));
		return -errno;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		pr_warn("couldn't create %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	d = opendir(dir);
	if (!d) {
		pr_warn("couldn't read %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d))) {
		char e[256], want[PATH_MAX];
		struct endpoint *ep;
		json_error_t jerr;
		json_t *o;
		size_t n = strlen(de->d_name);

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!strncmp(de->d_name, ".tmp-", 5)) {
			unlink(path); /* a write that never finished */
			continue;
		}
		if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".json"))
			continue;
		o = json_load_file(path, 0, &jerr);
		if (!o) {
			pr_warn("ignoring endpoint record %s: %s\n", path, jerr.text);
			continue;
		}
		ep = malloc(sizeof(*ep));
		ret = ep ? ep_from_json(o, ep, true, e, sizeof(e)) : -ENOMEM;
		json_decref(o);
		if (ret == -ENOMEM) {
			free(ep);
			closedir(d);
			return ret;
		}
		if (ret) {
			pr_warn("ignoring endpoint record %s: %s\n", path, e);
			free(ep);
			continue;
		}
		record_path(want, sizeof(want), ep->container_id, ep->ifname, false);
		if (strcmp(want, path) || find_ep(ep->container_id, ep->ifname, NULL)) {
			pr_warn(
			    "ignoring endpoint record %s: its name does not match its contents\n",
			    path);
			free(ep);
			continue;
		}
		/* Two records with one id (a hand edit), or an id from a build
		 * without the SL_EP_MAX bound: renumber. */
		renumber = ep->id >= SL_EP_MAX;
		for (size_t i = 0; i < n_eps && !renumber; i++)
			renumber = eps[i]->id == ep->id;
		if (renumber)
			dup_ids[n_dup < 64 ? n_dup++ : 63] = ep;
		if (table_add(ep)) {
			free(ep);
			closedir(d);
			return -ENOMEM;
		}
		if (!renumber && ep->id >= next_id)
			next_id = ep->id + 1 < SL_EP_MAX ? ep->id + 1 : 1;
	}
	closedir(d);
	for (int i = 0; i < n_dup; i++) {
		dup_ids[i]->id = 0; /* not "used" while searching */
		dup_ids[i]->id = alloc_id();
		record_write(dup_ids[i]);
	}
	return 0;
}

/* Make sluice_ep hold exactly the records' addresses: delete keys no
 * record has, write missing or differing values, leave equal ones alone.
 * Same for the netns cookies; counters of unknown ids are zeroed. */
/* Zero the counter slots no endpoint owns (endpoints deleted while
 * sluiced was down), so a dump shows only live endpoints and a reused id
 * starts from zero. Slots already zero are left alone. */
static void stats_zero_unowned(void)
{
	int fd = map_fd(SL_MAP_EP_STATS, false), ncpu = libbpf_num_possible_cpus();
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	struct ep_stats *v;
	bool *owned;

	if (fd < 0 || ncpu <= 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return;
	v = calloc(ncpu, sizeof(*v));
	owned = calloc(info.max_entries, sizeof(*owned));
	if (!v || !owned) {
		free(v);
		free(owned);
		return;
	}
	for (size_t i = 0; i < n_eps; i++)
		if (eps[i]->id < info.max_entries)
			owned[eps[i]->id] = true;
	for (__u32 id = 1; id < info.max_entries; id++) {
		bool used = false;

		if (owned[id] || bpf_map_lookup_elem(fd, &id, v))
			continue;
		for (int c = 0; c < ncpu && !used; c++)
			used = v[c].tx_packets || v[c].rx_packets || v[c].drop_packets;
		if (used)
			stats_zero(fd, id);
	}
	free(owned);
	free(v);
}

/* Is the __u64 key the netns cookie of a known endpoint? */
static bool cookie_owned(const void *key)
{
	__u64 k;

	memcpy(&k, key, sizeof(k));
	for (size_t i = 0; i < n_eps; i++)
		if (k && eps[i]->netns_cookie == k)
			return true;
	return false;
}

/* Delete every key (at most 8 bytes) of a pinned map that owned() rejects.
 * The walk restarts after a delete: the next key of a deleted one is not
 * defined. Maps not built into this datapath are skipped. */
static void delete_unowned(const char *map, size_t key_size, bool (*owned)(const void *key))
{
	__u64 k = 0, nk = 0;
	void *pk = NULL;
	int fd = map_fd(map, false);

	if (fd < 0 || key_size > sizeof(k))
		return;
	while (bpf_map_get_next_key(fd, pk, &nk) == 0) {
		memcpy(&k, &nk, key_size);
		pk = &k;
		if (!owned(&k) && !bpf_map_delete_elem(fd, &k))
			pk = NULL;
	}
}

static int resync_maps(void)
{
	int fd = map_fd(SL_MAP_EP, true), ret = 0, removed = 0, written = 0;
	struct ep_key key, next, *prev = NULL;
	struct ep_info cur, want;

	if (fd < 0)
		return fd;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		const struct endpoint *ep = endpoints_by_ip(&next.addr, next.family);

		key = next;
		prev = &key;
		if (!ep) {
			/* Deleting the current key restarts the walk from the
			 * start on some kernels: that only costs time. */
			if (key.family == SL_AF_INET) {
				struct ep_info stale;

				if (!bpf_map_lookup_elem(fd, &key, &stale))
					ep_slots_clear(&key.addr, key.family, stale.ep_id);
			}
			if (!bpf_map_delete_elem(fd, &key)) {
				removed++;
				prev = NULL;
			}
		}
	}
	for (size_t i = 0; i < n_eps; i++) {
		const struct endpoint *ep = eps[i];

		ep_info_of(ep, &want);
		/* Counters kept, ipcache claimed, entries (re)written. */
		ret = stats_create(ep, true);
		if (!ret)
			ret = ipc_set(ep);
		if (!ret)
			ret = netns_set(ep);
		if (ret)
			return ret;
		for (int j = 0; j < ep->n_ips; j++) {
			ep_key_of(&ep->ips[j], &key);
			if (bpf_map_lookup_elem(fd, &key, &cur) || memcmp(&cur, &want, sizeof(cur))) {
				if (bpf_map_update_elem(fd, &key, &want, BPF_ANY)) {
					ret = -errno;
					pr_warn("couldn't write %s: %s\n", SL_MAP_EP,
						strerror(errno));
					return ret;
				}
				written++;
			}
			ret = ep_slots_set(&ep->ips[j].addr, ep->ips[j].family, &want);
			if (ret)
				return ret;
		}
	}
	/* Slots of addresses sluice_ep no longer has (or has with another
	 * value): emptied before anything else could rely on them. */
	ret = ep_slots_prune();
	if (ret < 0)
		return ret;
	if (ret)
		pr_info("endpoints: %d stale %s slots emptied\n", ret, SL_MAP_EP_SLOTS);
	/* Counters of interfaces, and socket-LB netns, that no record has. */
	stats_zero_unowned();
	delete_unowned(SL_MAP_LB_NETNS, sizeof(__u64), cookie_owned);
	pr_info("endpoints: %zu restored, %d stale %s entries removed, %d rewritten\n", n_eps,
		removed, SL_MAP_EP, written);
	return 0;
}

int endpoints_init(void)
{
	int ret = load_records();

	if (ret)
		return ret;
	ret = resync_maps();
	if (ret)
		return ret;
	notify_policy();
	return 0;
}

void endpoints_fini(void)
{
	for (size_t i = 0; i < n_eps; i++)
		free(eps[i]);
	free(eps);
	eps = NULL;
	n_eps = cap_eps = 0;
}
