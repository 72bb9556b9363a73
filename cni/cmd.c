// SPDX-License-Identifier: Apache-2.0
/* The CNI verbs. Contract (CNI spec 1.1.0):
 *   env   CNI_COMMAND ADD|DEL|CHECK|VERSION|STATUS|GC; CNI_CONTAINERID,
 *         CNI_IFNAME, CNI_PATH for ADD/DEL/CHECK; CNI_NETNS for ADD/CHECK
 *         (optional, may be empty, for DEL); CNI_ARGS K8S_POD_NAMESPACE,
 *         K8S_POD_NAME (other keys ignored).
 *   stdin the network config (cni.h struct cni_conf for the keys).
 *   stdout the result (ADD), version info (VERSION), nothing (DEL, CHECK,
 *         STATUS, GC), or the error JSON with exit status 1. Logs go to
 *         stderr (SLUICE_CNI_DEBUG=1 for debug logs). */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>

#include "cni.h"
#include "client.h"
#include "log.h"
#include "nl.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define SLUICED_TIMEOUT_MS 5000

struct ctx {
	struct cni_conf conf;
	struct cni_env env;
	struct cni_err *e;
	const char *raw;
	size_t raw_len;
	char host_ifname[16];
};

/* ---- sluiced ------------------------------------------------------------ */

/* One request to sluiced. Unreachable -> code 11 (retry later); an error
 * reply -> code 107 with its text. Returns 0 or -errno. */
static int ctl_call(struct ctx *c, json_t *req, json_t **reply)
{
	const char *what = json_string_value(json_object_get(req, "request"));
	char *msg = NULL;
	int err;

	if (!req)
		return cni_fail(c->e, SL_CNI_ERR_INTERNAL, -ENOMEM, "couldn't build a request");
	err = sl_call(c->conf.socket, req, reply, &msg, SLUICED_TIMEOUT_MS);
	if (err == -EREMOTEIO)
		cni_fail(c->e, SL_CNI_ERR_CONTROLLER, 0, "sluiced refused %s: %s", what, msg);
	else if (err)
		cni_fail(c->e, CNI_ERR_TRY_AGAIN, err, "sluiced is not reachable at %s (%s)",
			 c->conf.socket, what);
	free(msg);
	json_decref(req);
	return err;
}

/* The pod CIDR: the config's, else the one sluiced was started with. */
static int pod_cidr(struct ctx *c, json_t *config_reply, struct sl_cidr *out)
{
	const char *s;

	if (c->conf.has_pod_cidr) {
		*out = c->conf.pod_cidr;
		return 0;
	}
	s = json_string_value(json_object_get(config_reply, "podCIDR"));
	if (!s)
		return cni_fail(c->e, CNI_ERR_INVALID_CONFIG, 0,
				"no pod CIDR: set \"podCIDR\" in the CNI config or start sluiced "
				"with --pod-cidr");
	if (sl_cidr_parse(s, out, false))
		return cni_fail(c->e, CNI_ERR_INVALID_CONFIG, 0,
				"sluiced's podCIDR %s is not a CIDR", s);
	return cni_pod_cidr_check(out, "sluiced's podCIDR", c->e);
}

/* How sluiced's config reply says to attach the programs: "tcx" or "tc"
 * (a sluiced from before tcx says nothing: tc). */
static int attach_mode(struct ctx *c, json_t *config_reply, enum sl_attach_mode *out)
{
	const char *s = json_string_value(json_object_get(config_reply, "attach"));

	*out = SL_ATTACH_TC;
	if (s && sl_attach_mode_parse(s, out))
		return cni_fail(c->e, SL_CNI_ERR_DATAPATH, 0,
				"sluiced attaches programs through \"%s\", which this plugin "
				"does not know (a newer sluiced than plugin?)",
				s);
	return 0;
}

/* ---- namespaces --------------------------------------------------------- */

/* Create, inside the netns netns_fd, a netlink socket and read the netns
 * cookie, then come back. The main thread is the only thread. */
static int in_netns_open(struct ctx *c, int netns_fd, struct cni_nl *pod_nl, uint64_t *cookie)
{
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), err = 0, s;
	socklen_t len = sizeof(*cookie);

	*cookie = 0;
	if (self < 0)
		return cni_fail(c->e, SL_CNI_ERR_NETNS, -errno, "couldn't open our own netns");
	if (setns(netns_fd, CLONE_NEWNET) < 0) {
		err = cni_fail(c->e, SL_CNI_ERR_NETNS, -errno, "couldn't enter netns %s",
			       c->env.netns);
		close(self);
		return err;
	}
	err = cni_nl_open(pod_nl);
	if (err)
		cni_fail(c->e, SL_CNI_ERR_NETNS, err, "couldn't open netlink in netns %s",
			 c->env.netns);
	/* Socket load balancing tells pods apart by their netns cookie. */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s >= 0) {
		if (getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len) < 0)
			*cookie = 0;
		close(s);
	}
	if (setns(self, CLONE_NEWNET) < 0) {
		/* Going on in the pod's netns would configure the wrong node. */
		pr_warn("couldn't return to our netns: %s\n", strerror(errno));
		abort();
	}
	close(self);
	return err;
}

static int open_netns(struct ctx *c, int code)
{
	int fd = open(c->env.netns, O_RDONLY | O_CLOEXEC), type;

	if (fd < 0)
		return cni_fail(c->e, code, -errno, "couldn't open netns %s", c->env.netns);
	/* A regular file would otherwise only fail deep inside the veth request. */
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type != CLONE_NEWNET) {
		int err = type < 0 ? -errno : -EINVAL;

		close(fd);
		return cni_fail(c->e, code, err, "%s is not a network namespace", c->env.netns);
	}
	return fd;
}

/* ---- IPAM glue ---------------------------------------------------------- */

static int ipam_release(struct ctx *c)
{
	struct cni_ipam p;
	int err;

	if (c->conf.ipam_type)
		return cni_ipam_exec(&c->conf, c->env.path, "DEL", c->raw, c->raw_len, NULL, c->e);
	err = cni_ipam_open(&p, c->conf.state_dir, c->conf.name, NULL, c->e);
	if (err)
		return err;
	err = cni_ipam_release(&p, c->env.container_id, c->env.ifname, c->e);
	cni_ipam_close(&p);
	return err;
}

/* ---- ADD ---------------------------------------------------------------- */

static int cmd_add(struct ctx *c, json_t **result)
{
	struct cni_nl nl = {0}, pod_nl = {0};
	struct sl_cidr cidr = {0}, ip = {0};
	union sl_addr gw = {0};
	bool have_cidr = false, leased = false, existed = false, link = false;
	int netns_fd = -1, host_ifindex = 0, pod_ifindex, err;
	enum sl_attach_mode mode;
	uint8_t macs[12];
	uint64_t cookie = 0;
	json_t *reply = NULL, *ipres = NULL;
	char mac[18], hmac[18], ipbuf[SL_ADDR_STRLEN];

	/* sluiced first: without it the pod could not be registered anyway. */
	err = ctl_call(c, json_pack("{s:s}", "request", "config"), &reply);
	if (err)
		return err;
	err = attach_mode(c, reply, &mode);
	if (err)
		goto out;
	if (c->conf.has_pod_cidr || json_is_string(json_object_get(reply, "podCIDR"))) {
		err = pod_cidr(c, reply, &cidr);
		if (err)
			goto out;
		have_cidr = true;
	}

	if (c->conf.ipam_type) {
		bool has_gw;

		err = cni_ipam_exec(&c->conf, c->env.path, NULL, c->raw, c->raw_len, &ipres, c->e);
		if (err)
			goto out;
		leased = true;
		err = cni_ipam_result_ip(ipres, &ip, &has_gw, &gw, c->e);
		if (err)
			goto rollback;
		if (have_cidr) {
			gw.v4 = htonl(ntohl(cidr.addr.v4) + 1);
		} else if (!has_gw) {
			uint32_t mask = ip.plen ? ~0u << (32 - ip.plen) : 0;

			gw.v4 = htonl((ntohl(ip.addr.v4) & mask) + 1);
		}
	} else {
		struct cni_ipam p;

		if (!have_cidr) {
			err = pod_cidr(c, reply, &cidr);
			goto out; /* always fails: neither config nor sluiced has one */
		}
		err = cni_ipam_open(&p, c->conf.state_dir, c->conf.name, &cidr, c->e);
		if (err)
			goto out;
		err = cni_ipam_alloc(&p, c->env.container_id, c->env.ifname, &ip.addr, &existed,
				     c->e);
		cni_ipam_close(&p);
		if (err)
			goto out;
		leased = true;
		ip.family = SL_AF_INET;
		gw.v4 = htonl(ntohl(cidr.addr.v4) + 1);
	}
	ip.plen = 32; /* the pod gets a /32: everything goes through the gateway */

	netns_fd = open_netns(c, SL_CNI_ERR_NETNS);
	if (netns_fd < 0) {
		err = netns_fd;
		goto rollback;
	}
	if (getrandom(macs, sizeof(macs), 0) != sizeof(macs)) {
		err = cni_fail(c->e, SL_CNI_ERR_INTERNAL, -errno, "getrandom failed");
		goto rollback;
	}
	for (int i = 0; i < 12; i += 6)
		macs[i] = (uint8_t)((macs[i] & 0xfe) | 0x02); /* unicast, locally administered */
	err = cni_nl_open(&nl);
	if (err) {
		cni_fail(c->e, SL_CNI_ERR_LINK, err, "couldn't open netlink");
		goto rollback;
	}
	err = cni_nl_veth_create(&nl, c->host_ifname, macs, c->env.ifname, macs + 6, netns_fd,
				 c->conf.mtu);
	if (err == -EEXIST) {
		cni_fail(c->e, SL_CNI_ERR_IFNAME_EXISTS, err,
			 "couldn't create veth %s <-> %s: %s already exists in netns %s or %s on "
			 "the node",
			 c->host_ifname, c->env.ifname, c->env.ifname, c->env.netns,
			 c->host_ifname);
		goto rollback;
	}
	if (err) {
		cni_fail(c->e, SL_CNI_ERR_LINK, err, "couldn't create veth %s <-> %s in %s",
			 c->host_ifname, c->env.ifname, c->env.netns);
		goto rollback;
	}
	link = true;
	host_ifindex = (int)if_nametoindex(c->host_ifname);
	if (!host_ifindex) {
		err = cni_fail(c->e, SL_CNI_ERR_LINK, -errno, "couldn't find %s", c->host_ifname);
		goto rollback;
	}

	/* Pod side, through a socket made inside its netns. */
	err = in_netns_open(c, netns_fd, &pod_nl, &cookie);
	if (err)
		goto rollback;
	{
		struct cni_link l;

		err = cni_nl_link_get(&pod_nl, c->env.ifname, &l);
		if (err) {
			cni_fail(c->e, SL_CNI_ERR_LINK, err, "couldn't find %s in %s",
				 c->env.ifname, c->env.netns);
			goto rollback;
		}
		pod_ifindex = l.ifindex;
	}
	sl_addr_str(&ip.addr, SL_AF_INET, ipbuf, sizeof(ipbuf));
	if ((err = cni_nl_link_up_no_ipv6(&pod_nl, pod_ifindex))) {
		cni_fail(c->e, SL_CNI_ERR_LINK, err, "couldn't bring %s up in %s", c->env.ifname,
			 c->env.netns);
		goto rollback;
	}
	if ((err = cni_nl_addr_add(&pod_nl, pod_ifindex, ip.addr.v4, 32, RT_SCOPE_UNIVERSE))) {
		cni_fail(c->e, SL_CNI_ERR_LINK, err, "couldn't add %s/32 to %s", ipbuf,
			 c->env.ifname);
		goto rollback;
	}
	if ((err = cni_nl_route_replace(&pod_nl, 0, 0, gw.v4, pod_ifindex))) {
		cni_fail(c->e, SL_CNI_ERR_LINK, err, "couldn't add the default route in %s",
			 c->env.netns);
		goto rollback;
	}
	if ((err = cni_nl_neigh_replace(&pod_nl, pod_ifindex, gw.v4, macs))) {
		cni_fail(c->e, SL_CNI_ERR_LINK, err, "couldn't add the gateway neighbour in %s",
			 c->env.netns);
		goto rollback;
	}

	/* Host side. */
	if ((err = cni_nl_addr_add(&nl, host_ifindex, gw.v4, 32, RT_SCOPE_LINK))) {
		cni_fail(c->e, SL_CNI_ERR_LINK, err, "couldn't add the gateway address to %s",
			 c->host_ifname);
		goto rollback;
	}
	if ((err = cni_nl_route_replace(&nl, ip.addr.v4, 32, 0, host_ifindex))) {
		cni_fail(c->e, SL_CNI_ERR_LINK, err, "couldn't route %s/32 to %s", ipbuf,
			 c->host_ifname);
		goto rollback;
	}
	if ((err = cni_nl_neigh_replace(&nl, host_ifindex, ip.addr.v4, macs + 6))) {
		cni_fail(c->e, SL_CNI_ERR_LINK, err, "couldn't add the neighbour %s on %s", ipbuf,
			 c->host_ifname);
		goto rollback;
	}
	if ((err = cni_tc_attach(host_ifindex, c->conf.bpffs, mode, c->e)))
		goto rollback;

	cni_mac_str(macs + 6, mac, sizeof(mac));
	cni_mac_str(macs, hmac, sizeof(hmac));
	json_decref(reply);
	reply = NULL;
	err = ctl_call(c,
		       json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:s, s:s, s:i, s:s, s:I}",
				 "request", "endpoint.add", "containerID", c->env.container_id,
				 "ifname", c->env.ifname, "namespace", c->env.k8s_namespace, "pod",
				 c->env.k8s_pod, "netns", c->env.netns, "ips", ipbuf, "mac", mac,
				 "hostIfname", c->host_ifname, "hostIfindex", host_ifindex,
				 "hostMac", hmac, "netnsCookie", (json_int_t)cookie),
		       &reply);
	if (err)
		goto rollback;

	{
		struct cni_result r = {
		    .host_ifname = c->host_ifname,
		    .ifname = c->env.ifname,
		    .sandbox = c->env.netns,
		    .ip = ip,
		    .gw = gw,
		    .dns = c->conf.dns,
		};

		memcpy(r.host_mac, macs, 6);
		memcpy(r.mac, macs + 6, 6);
		*result = cni_result_json(c->conf.ver, &r);
		if (!*result) {
			err = cni_fail(c->e, SL_CNI_ERR_INTERNAL, -ENOMEM,
				       "couldn't build the result");
			/* registered: undo that too */
			json_t *rep = NULL;

			if (!sl_call(c->conf.socket,
				     json_pack("{s:s, s:s, s:s}", "request", "endpoint.del",
					       "containerID", c->env.container_id, "ifname",
					       c->env.ifname),
				     &rep, NULL, SLUICED_TIMEOUT_MS))
				json_decref(rep);
			goto rollback;
		}
	}
	goto out;

rollback:
	/* Deleting the host end removes the peer, its addresses, routes,
	 * neighbours and the tc filters with it. */
	if (link) {
		int e2 = cni_nl_link_del(&nl, c->host_ifname);

		if (e2 && e2 != -ENODEV)
			pr_warn("rollback: couldn't delete %s: %s\n", c->host_ifname,
				strerror(-e2));
	}
	if (leased && !existed) {
		struct cni_err ignore = {0};
		struct cni_err *saved = c->e;

		c->e = &ignore; /* the original error is what the runtime must see */
		ipam_release(c);
		c->e = saved;
	}
out:
	cni_nl_close(&pod_nl);
	cni_nl_close(&nl);
	if (netns_fd >= 0)
		close(netns_fd);
	json_decref(reply);
	json_decref(ipres);
	return err;
}

/* ---- DEL ---------------------------------------------------------------- */

/* Whether sluiced keeps a record of this endpoint
 * (<stateDir>/endpoints/<containerID>-<ifname>.json, see controller/endpoints.c).
 * When unsure, says yes. */
static bool ep_record_exists(struct ctx *c)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/endpoints/%s-%s.json", c->conf.state_dir,
			 c->env.container_id, c->env.ifname);

	if (n < 0 || (size_t)n >= sizeof(path))
		return true;
	return access(path, F_OK) == 0 || errno != ENOENT;
}

static int cmd_del(struct ctx *c)
{
	struct cni_nl nl;
	json_t *reply = NULL;
	const char *link;
	bool queued;
	int err, ctl_err;

	/* Deregister first so the datapath stops using the ifindex; go on with
	 * the local clean-up when sluiced is away and report that last. The
	 * kernel takes ~15 ms to unregister a veth: sluiced deletes it off our
	 * path when it can see it ("queued"), otherwise we do. */
	ctl_err = ctl_call(c,
			   json_pack("{s:s, s:s, s:s, s:s}", "request", "endpoint.del",
				     "containerID", c->env.container_id, "ifname", c->env.ifname,
				     "deleteLink", c->host_ifname),
			   &reply);
	link = json_string_value(json_object_get(reply, "linkDeletion"));
	queued = !ctl_err && link && !strcmp(link, "queued");
	json_decref(reply);
	if (ctl_err && ctl_err != -EREMOTEIO && !ep_record_exists(c)) {
		/* sluiced is away but holds no record of this endpoint (the ADD
		 * failed before registering, or this DEL repeats one that
		 * completed): there is nothing to deregister, so the DEL is
		 * complete once the local clean-up is. */
		memset(c->e, 0, sizeof(*c->e));
		ctl_err = 0;
	}

	if (queued) {
		err = 0;
	} else if ((err = cni_nl_open(&nl))) {
		cni_fail(c->e, SL_CNI_ERR_LINK, err, "couldn't open netlink");
	} else {
		/* The peer goes with it; a pod netns already gone took both. */
		err = cni_nl_link_del(&nl, c->host_ifname);
		if (err && err != -ENODEV)
			cni_fail(c->e, SL_CNI_ERR_LINK, err, "couldn't delete %s", c->host_ifname);
		cni_nl_close(&nl);
	}
	ipam_release(c);
	return c->e->code ? (ctl_err ? ctl_err : -EIO) : 0;
}

/* ---- CHECK -------------------------------------------------------------- */

static int cmd_check(struct ctx *c)
{
	struct cni_nl nl = {0}, pod_nl = {0};
	struct cni_prev prev;
	struct cni_link hl, pl;
	json_t *reply = NULL, *ips;
	char ipbuf[SL_ADDR_STRLEN], gwbuf[SL_ADDR_STRLEN];
	uint64_t cookie;
	int netns_fd = -1, err, r;
	bool ip_found = false;
	size_t i;
	json_t *it;

	if (!c->conf.prev_result)
		return cni_fail(c->e, CNI_ERR_INVALID_CONFIG, 0,
				"CHECK needs prevResult in the config");
	err = cni_prev_parse(c->conf.prev_result, c->env.ifname, &prev, c->e);
	if (err)
		return err;
	sl_addr_str(&prev.ip.addr, SL_AF_INET, ipbuf, sizeof(ipbuf));
	if (prev.host_ifname && strcmp(prev.host_ifname, c->host_ifname))
		return cni_fail(c->e, SL_CNI_ERR_CHECK, 0,
				"prevResult names host interface %s, expected %s", prev.host_ifname,
				c->host_ifname);

	if ((err = cni_nl_open(&nl))) {
		cni_fail(c->e, SL_CNI_ERR_LINK, err, "couldn't open netlink");
		goto out;
	}
	err = cni_nl_link_get(&nl, c->host_ifname, &hl);
	if (err) {
		cni_fail(c->e, SL_CNI_ERR_CHECK, err, "host veth %s is missing", c->host_ifname);
		goto out;
	}
	if (!(hl.flags & IFF_UP)) {
		err = cni_fail(c->e, SL_CNI_ERR_CHECK, 0, "host veth %s is down", c->host_ifname);
		goto out;
	}
	r = cni_tc_check(hl.ifindex, c->conf.bpffs, c->e);
	if (r <= 0) {
		err = r ? r : -EINVAL;
		goto out;
	}

	netns_fd = open_netns(c, CNI_ERR_UNKNOWN_CONTAINER);
	if (netns_fd < 0) {
		err = netns_fd;
		goto out;
	}
	if ((err = in_netns_open(c, netns_fd, &pod_nl, &cookie)))
		goto out;
	err = cni_nl_link_get(&pod_nl, c->env.ifname, &pl);
	if (err) {
		cni_fail(c->e, SL_CNI_ERR_CHECK, err, "interface %s is missing in %s",
			 c->env.ifname, c->env.netns);
		goto out;
	}
	r = cni_nl_addr_has(&pod_nl, pl.ifindex, prev.ip.addr.v4, prev.ip.plen);
	if (r <= 0) {
		err = cni_fail(c->e, SL_CNI_ERR_CHECK, r, "%s in %s does not have address %s/%u",
			       c->env.ifname, c->env.netns, ipbuf, prev.ip.plen);
		goto out;
	}
	if (prev.has_gw) {
		r = cni_nl_route_default_has(&pod_nl, pl.ifindex, prev.gw.v4);
		if (r <= 0) {
			err = cni_fail(c->e, SL_CNI_ERR_CHECK, r,
				       "%s has no default route via %s dev %s", c->env.netns,
				       sl_addr_str(&prev.gw, SL_AF_INET, gwbuf, sizeof(gwbuf)),
				       c->env.ifname);
			goto out;
		}
	}

	err = ctl_call(c,
		       json_pack("{s:s, s:s, s:s}", "request", "endpoint.get", "containerID",
				 c->env.container_id, "ifname", c->env.ifname),
		       &reply);
	if (err == -EREMOTEIO) {
		c->e->code = SL_CNI_ERR_CHECK; /* a missing record is a CHECK failure */
		goto out;
	}
	if (err)
		goto out;
	ips = json_object_get(json_object_get(reply, "endpoint"), "ips");
	json_array_foreach(ips, i, it)
	{
		const char *s = json_string_value(it);
		size_t n = strlen(ipbuf);

		if (s && !strncmp(s, ipbuf, n) && (!s[n] || s[n] == '/'))
			ip_found = true;
	}
	if (!ip_found)
		err = cni_fail(c->e, SL_CNI_ERR_CHECK, 0,
			       "sluiced's endpoint %s/%s does not have address %s",
			       c->env.container_id, c->env.ifname, ipbuf);
out:
	json_decref(reply);
	if (netns_fd >= 0)
		close(netns_fd);
	cni_nl_close(&pod_nl);
	cni_nl_close(&nl);
	return err;
}

/* ---- STATUS ------------------------------------------------------------- */

static int cmd_status(struct ctx *c)
{
	struct cni_err sub = {0}, *saved = c->e;
	struct sl_cidr cidr;
	struct cni_ipam p;
	uint32_t used, size;
	json_t *reply = NULL;
	int err;

	c->e = &sub;
	err = ctl_call(c, json_pack("{s:s}", "request", "config"), &reply);
	if (!err) {
		if (c->conf.ipam_type) {
			/* A plugin older than 1.1.0 has no STATUS: that it answers
			 * VERSION is all we can know. */
			if (cni_ipam_supports(&c->conf, c->env.path, CNI_V110))
				err = cni_ipam_exec(&c->conf, c->env.path, "STATUS", c->raw,
						    c->raw_len, NULL, c->e);
		} else if (!(err = pod_cidr(c, reply, &cidr)) &&
			   !(err =
				 cni_ipam_open(&p, c->conf.state_dir, c->conf.name, &cidr, c->e))) {
			err = cni_ipam_usage(&p, &used, &size);
			cni_ipam_close(&p);
			if (err)
				cni_fail(c->e, SL_CNI_ERR_IPAM, err, "couldn't read the IPAM pool");
			else if (used >= size)
				err = cni_fail(
				    c->e, SL_CNI_ERR_IPAM_EXHAUSTED, 0,
				    "address pool of network %s is exhausted (%u of %u leased)",
				    c->conf.name, used, size);
		}
	}
	json_decref(reply);
	c->e = saved;
	if (err) {
		cni_fail(c->e, CNI_ERR_NOT_AVAILABLE, 0, "sluice is not ready: %s", sub.msg);
		snprintf(c->e->details, sizeof(c->e->details), "%s", sub.details);
		return err;
	}
	return 0;
}

/* ---- GC ----------------------------------------------------------------- */

struct gc {
	json_t *keep;	     /* the valid attachments */
	char (*keep_if)[16]; /* their host interface names */
	size_t n_keep;
	char (*del)[16]; /* our links to delete */
	size_t n_del;
	int failed;
	char why[400];
};

static bool gc_keep(struct gc *g, const char *cid, const char *ifname)
{
	size_t i;
	json_t *it;

	json_array_foreach(g->keep, i, it)
	{
		if (!strcmp(json_string_value(json_object_get(it, "containerID")), cid) &&
		    !strcmp(json_string_value(json_object_get(it, "ifname")), ifname))
			return true;
	}
	return false;
}

/* Log a GC failure and add it to the summary; GC carries on. */
static void gc_error(struct gc *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gc_error(struct gc *g, const char *fmt, ...)
{
	size_t n = strlen(g->why);
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	g->failed++;
	pr_warn("GC: %s\n", msg);
	if (n < sizeof(g->why) - 2)
		snprintf(g->why + n, sizeof(g->why) - n, "%s%s", n ? "; " : "", msg);
}

static int gc_link(const struct cni_link *l, void *arg)
{
	struct gc *g = arg;
	char(*d)[16];

	if (!cni_is_host_ifname(l->name))
		return 0;
	for (size_t i = 0; i < g->n_keep; i++)
		if (!strcmp(g->keep_if[i], l->name))
			return 0;
	d = realloc(g->del, (g->n_del + 1) * sizeof(*d));
	if (!d)
		return -ENOMEM;
	g->del = d;
	snprintf(g->del[g->n_del++], 16, "%s", l->name);
	return 0;
}

static int gc_lease(struct cni_ipam *p, const char *ip, const char *cid, const char *ifname,
		    void *arg)
{
	struct gc *g = arg;
	int err;

	if (gc_keep(g, cid, ifname))
		return 0;
	err = cni_ipam_release_ip(p, ip);
	if (err)
		gc_error(g, "couldn't release %s: %s", ip, strerror(-err));
	else
		pr_info("GC: released %s of %s/%s\n", ip, cid, ifname);
	return 0;
}

static int cmd_gc(struct ctx *c)
{
	struct gc g = {0};
	json_t *reply = NULL, *eps, *it;
	struct cni_err sub = {0}, *saved = c->e;
	struct cni_nl nl;
	bool legacy;
	size_t i;
	int err;

	/* No list is not "keep nothing": a runtime that forgot it must not
	 * wipe the node. An empty list is "keep nothing". */
	if (!c->conf.valid_attachments) {
		pr_warn("GC without cni.dev/valid-attachments: nothing to do\n");
		return 0;
	}
	g.keep = c->conf.valid_attachments;
	c->e = &sub;

	/* A delegated IPAM plugin older than 1.1.0 has no GC: release the
	 * addresses of the endpoints we remove one by one with its DEL. */
	legacy = c->conf.ipam_type && !cni_ipam_supports(&c->conf, c->env.path, CNI_V110);

	/* 1. endpoints sluiced knows */
	err = ctl_call(c, json_pack("{s:s}", "request", "endpoint.list"), &reply);
	if (err) {
		gc_error(&g, "%s", sub.msg);
		memset(&sub, 0, sizeof(sub));
	}
	eps = json_object_get(reply, "endpoints");
	json_array_foreach(eps, i, it)
	{
		const char *cid = json_string_value(json_object_get(it, "containerID"));
		const char *ifn = json_string_value(json_object_get(it, "ifname"));
		json_t *r2 = NULL;

		if (!cid || !ifn || gc_keep(&g, cid, ifn))
			continue;
		err = ctl_call(c,
			       json_pack("{s:s, s:s, s:s}", "request", "endpoint.del",
					 "containerID", cid, "ifname", ifn),
			       &r2);
		json_decref(r2);
		if (err) {
			gc_error(&g, "%s", sub.msg);
			memset(&sub, 0, sizeof(sub));
		} else {
			pr_info("GC: removed endpoint %s/%s\n", cid, ifn);
		}
		if (legacy) {
			char ecid[160], eif[32];
			const char *set[] = {"CNI_COMMAND=DEL", ecid, eif, "CNI_NETNS=", NULL};

			snprintf(ecid, sizeof(ecid), "CNI_CONTAINERID=%s", cid);
			snprintf(eif, sizeof(eif), "CNI_IFNAME=%s", ifn);
			if (cni_ipam_exec_env(&c->conf, c->env.path, set, c->raw, c->raw_len, NULL,
					      c->e)) {
				gc_error(&g, "%s", sub.msg);
				memset(&sub, 0, sizeof(sub));
			}
		}
	}

	/* 2. host links: delete every "sl" link that is not a valid attachment's */
	g.keep_if = calloc(json_array_size(g.keep) + 1, sizeof(*g.keep_if));
	if (g.keep_if) {
		json_array_foreach(g.keep, i, it) cni_host_ifname(
		    json_string_value(json_object_get(it, "containerID")),
		    json_string_value(json_object_get(it, "ifname")), g.keep_if[g.n_keep++], 16);
	}
	err = g.keep_if ? cni_nl_open(&nl) : -ENOMEM;
	if (!err) {
		err = cni_nl_link_foreach(&nl, gc_link, &g);
		for (size_t k = 0; k < g.n_del; k++) {
			int e2 = cni_nl_link_del(&nl, g.del[k]);

			if (e2 && e2 != -ENODEV)
				gc_error(&g, "couldn't delete %s: %s", g.del[k], strerror(-e2));
			else
				pr_info("GC: deleted %s\n", g.del[k]);
		}
		cni_nl_close(&nl);
	}
	if (err)
		gc_error(&g, "couldn't list host links: %s", strerror(-err));

	/* 3. leases */
	if (c->conf.ipam_type) {
		if (!legacy &&
		    cni_ipam_exec(&c->conf, c->env.path, "GC", c->raw, c->raw_len, NULL, c->e))
			gc_error(&g, "%s", sub.msg);
	} else {
		struct cni_ipam p;

		err = cni_ipam_open(&p, c->conf.state_dir, c->conf.name, NULL, c->e);
		if (!err) {
			err = cni_ipam_foreach(&p, gc_lease, &g);
			cni_ipam_close(&p);
		}
		if (err)
			gc_error(&g, "couldn't walk the IPAM leases: %s", strerror(-err));
	}

	free(g.keep_if);
	free(g.del);
	json_decref(reply);
	c->e = saved;
	if (g.failed)
		return cni_fail(c->e, SL_CNI_ERR_GC, 0, "GC left things behind (%d errors): %s",
				g.failed, g.why);
	return 0;
}

/* ---- the entry point ---------------------------------------------------- */

static char *read_all(FILE *in, size_t *len)
{
	size_t cap = 8192, n = 0;
	char *buf = malloc(cap);

	while (buf) {
		size_t r = fread(buf + n, 1, cap - n - 1, in);

		n += r;
		if (r == 0) {
			if (ferror(in)) {
				free(buf);
				return NULL;
			}
			break;
		}
		if (n + 1 == cap) {
			char *nb = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (buf)
		buf[n] = '\0';
	*len = n;
	return buf;
}

static void emit(FILE *out, json_t *j)
{
	if (j) {
		json_dumpf(j, out, JSON_COMPACT);
		fputc('\n', out);
	}
	fflush(out);
}

int cni_run(FILE *in, FILE *out)
{
	struct cni_err err = {0}, cerr = {0};
	struct ctx c = {.e = &err};
	json_t *result = NULL, *ej;
	const char *version = NULL;
	char *raw = NULL;
	size_t len = 0;
	int rc = 0;

	sl_log_init("sluice", getenv("SLUICE_CNI_DEBUG") ? SL_LOG_DEBUG : SL_LOG_WARN);
	sl_log_libbpf();
	if (cni_env_parse(&c.env, &err) == 0 && c.env.verb == CNI_VERSION) {
		emit(out, result = cni_version_json());
		json_decref(result);
		return 0;
	}
	raw = read_all(in, &len);
	if (!raw) {
		cni_fail(&err, CNI_ERR_IO, -EIO, "couldn't read the network config from stdin");
		goto done;
	}
	c.raw = raw;
	c.raw_len = len;
	cni_conf_parse(raw, len, &c.conf, &cerr);
	if (c.conf.ver >= 0)
		version = c.conf.version;
	if (err.code)
		goto done;
	if (cerr.code) {
		err = cerr;
		goto done;
	}
	if (c.env.verb == CNI_CHECK && c.conf.ver < CNI_V040) {
		cni_fail(&err, CNI_ERR_INCOMPATIBLE, 0,
			 "CHECK needs cniVersion 0.4.0 or later, config has %s", c.conf.version);
		goto done;
	}
	if ((c.env.verb == CNI_STATUS || c.env.verb == CNI_GC) && c.conf.ver < CNI_V110) {
		cni_fail(&err, CNI_ERR_INCOMPATIBLE, 0, "%s needs cniVersion 1.1.0, config has %s",
			 c.env.command, c.conf.version);
		goto done;
	}
	if (c.env.container_id && c.env.ifname)
		cni_host_ifname(c.env.container_id, c.env.ifname, c.host_ifname,
				sizeof(c.host_ifname));

	switch (c.env.verb) {
	case CNI_ADD:
		cmd_add(&c, &result);
		break;
	case CNI_DEL:
		cmd_del(&c);
		break;
	case CNI_CHECK:
		cmd_check(&c);
		break;
	case CNI_STATUS:
		cmd_status(&c);
		break;
	case CNI_GC:
		cmd_gc(&c);
		break;
	}
done:
	if (err.code) {
		ej = cni_error_json(version, &err);
		emit(out, ej);
		json_decref(ej);
		rc = 1;
	} else if (result) {
		emit(out, result);
	}
	json_decref(result);
	cni_conf_free(&c.conf);
	free(raw);
	return rc;
}
