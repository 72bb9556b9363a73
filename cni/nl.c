// SPDX-License-Identifier: Apache-2.0
/* rtnetlink through libmnl: just the link/addr/route/neigh operations the
 * plugin needs. No fork/exec of ip(8): each call is one request and its ack. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <net/if.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>

#include "nl.h"

#define NL_BUF 32768 /* dumps fill whatever the reader offers; 32K as libmnl advises */

int cni_nl_open(struct cni_nl *n)
{
	int one = 1, err;

	memset(n, 0, sizeof(*n));
	n->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!n->sock)
		return -errno;
	/* Ask for errors without the echoed request, and extended ack text. */
	mnl_socket_setsockopt(n->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(n->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	if (mnl_socket_bind(n->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		mnl_socket_close(n->sock);
		n->sock = NULL;
		return err;
	}
	n->portid = mnl_socket_get_portid(n->sock);
	n->seq = (uint32_t)time(NULL);
	return 0;
}

void cni_nl_close(struct cni_nl *n)
{
	if (n->sock)
		mnl_socket_close(n->sock);
	n->sock = NULL;
}

/* Send one request and read until its ack (or the end of the dump), passing
 * data messages to cb. Returns 0 or -errno from the kernel. */
static int talk(struct cni_nl *n, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[NL_BUF];
	uint32_t seq = ++n->seq;
	ssize_t r;
	int ret;

	nlh->nlmsg_seq = seq;
	/* A dump ends with NLMSG_DONE; everything else (a single GET too)
	 * ends with the ack. NLM_F_DUMP's bits are NLM_F_REPLACE|NLM_F_EXCL
	 * in NEW requests, hence the type test (RTM_GET* are 2 mod 4). */
	if ((nlh->nlmsg_type & 3) != 2 || (nlh->nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP)
		nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(n->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		r = mnl_socket_recvfrom(n->sock, buf, sizeof(buf));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		ret = mnl_cb_run(buf, (size_t)r, seq, n->portid, cb, data);
		if (ret < 0)
			return errno ? -errno : -EIO;
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

static struct nlmsghdr *put_hdr(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

int cni_nl_veth_create(struct cni_nl *n, const char *host_name, const uint8_t host_mac[6],
		       const char *peer_name, const uint8_t peer_mac[6], int peer_netns_fd, int mtu)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_hdr(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm)), *pifm;
	struct nlattr *linkinfo, *data, *peer;

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_flags = IFF_UP; /* the host side comes up at creation */
	ifm->ifi_change = IFF_UP;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, host_name);
	mnl_attr_put(nlh, IFLA_ADDRESS, 6, host_mac);
	mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)mtu);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	/* VETH_INFO_PEER carries an ifinfomsg followed by the peer's attributes. */
	pifm = mnl_nlmsg_get_payload_tail(nlh);
	memset(pifm, 0, sizeof(*pifm));
	pifm->ifi_family = AF_UNSPEC;
	nlh->nlmsg_len += MNL_ALIGN(sizeof(*pifm));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name);
	mnl_attr_put(nlh, IFLA_ADDRESS, 6, peer_mac);
	mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)mtu);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	return talk(n, nlh, NULL, NULL);
}

int cni_nl_link_up_no_ipv6(struct cni_nl *n, int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_hdr(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	struct nlattr *af, *in6;
	int err;

	/* Before the link goes up, so no link-local address is ever made. */
	ifm->ifi_index = ifindex;
	af = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	in6 = mnl_attr_nest_start(nlh, AF_INET6);
	mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
	mnl_attr_nest_end(nlh, in6);
	mnl_attr_nest_end(nlh, af);
	err = talk(n, nlh, NULL, NULL);
	/* A kernel without IPv6 has nothing to turn off. */
	if (err && err != -EAFNOSUPPORT && err != -EOPNOTSUPP)
		return err;

	nlh = put_hdr(buf, RTM_NEWLINK, 0);
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_index = ifindex;
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	return talk(n, nlh, NULL, NULL);
}

int cni_nl_link_del(struct cni_nl *n, const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_hdr(buf, RTM_DELLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return talk(n, nlh, NULL, NULL);
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	struct cni_link *l = data;

	switch (mnl_attr_get_type(a)) {
	case IFLA_ADDRESS:
		if (mnl_attr_get_payload_len(a) == 6)
			memcpy(l->mac, mnl_attr_get_payload(a), 6);
		break;
	case IFLA_MTU:
		if (mnl_attr_get_payload_len(a) == 4)
			l->mtu = (int)mnl_attr_get_u32(a);
		break;
	case IFLA_IFNAME:
		snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(a));
		break;
	}
	return MNL_CB_OK;
}

static void parse_link(const struct nlmsghdr *nlh, struct cni_link *l)
{
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);

	memset(l, 0, sizeof(*l));
	l->ifindex = ifm->ifi_index;
	l->flags = ifm->ifi_flags;
	mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, l);
}

static int link_get_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type == RTM_NEWLINK)
		parse_link(nlh, data);
	return MNL_CB_OK;
}

int cni_nl_link_get(struct cni_nl *n, const char *name, struct cni_link *l)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_hdr(buf, RTM_GETLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	memset(l, 0, sizeof(*l));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return talk(n, nlh, link_get_cb, l);
}

struct link_walk {
	int (*fn)(const struct cni_link *l, void *arg);
	void *arg;
	int err;
};

static int link_walk_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_walk *w = data;
	struct cni_link l;

	if (nlh->nlmsg_type != RTM_NEWLINK || w->err)
		return MNL_CB_OK;
	parse_link(nlh, &l);
	w->err = w->fn(&l, w->arg);
	return MNL_CB_OK; /* read the dump to its end either way */
}

int cni_nl_link_foreach(struct cni_nl *n, int (*fn)(const struct cni_link *l, void *arg), void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_hdr(buf, RTM_GETLINK, NLM_F_DUMP);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	struct link_walk w = {fn, arg, 0};
	int err;

	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	err = talk(n, nlh, link_walk_cb, &w);
	return err ? err : w.err;
}

int cni_nl_addr_add(struct cni_nl *n, int ifindex, __be32 addr, int plen, int scope)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_hdr(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));

	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (uint8_t)plen;
	ifa->ifa_scope = (uint8_t)scope;
	ifa->ifa_index = (uint32_t)ifindex;
	mnl_attr_put_u32(nlh, IFA_LOCAL, addr);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, addr);
	return talk(n, nlh, NULL, NULL);
}

struct addr_find {
	int ifindex, plen, found;
	__be32 addr;
};

static int addr_find_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct addr_find *f = data;
	struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWADDR || ifa->ifa_family != AF_INET ||
	    (int)ifa->ifa_index != f->ifindex || ifa->ifa_prefixlen != f->plen)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*ifa))
	{
		if (mnl_attr_get_type(a) == IFA_LOCAL && mnl_attr_get_payload_len(a) == 4 &&
		    mnl_attr_get_u32(a) == f->addr)
			f->found = 1;
	}
	return MNL_CB_OK;
}

int cni_nl_addr_has(struct cni_nl *n, int ifindex, __be32 addr, int plen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_hdr(buf, RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	struct addr_find f = {ifindex, plen, 0, addr};
	int err;

	ifa->ifa_family = AF_INET;
	err = talk(n, nlh, addr_find_cb, &f);
	return err ? err : f.found;
}

int cni_nl_route_replace(struct cni_nl *n, __be32 dst, int plen, __be32 gw, int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_hdr(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = (uint8_t)plen;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	/* The gateway is not on any subnet of the pod's /32: onlink says it is
	 * directly reachable through this device anyway. */
	rtm->rtm_flags = gw ? RTNH_F_ONLINK : 0;
	if (plen)
		mnl_attr_put_u32(nlh, RTA_DST, dst);
	if (gw)
		mnl_attr_put_u32(nlh, RTA_GATEWAY, gw);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	return talk(n, nlh, NULL, NULL);
}

struct route_find {
	int ifindex, found;
	__be32 gw;
};

static int route_find_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct route_find *f = data;
	uint32_t table = rtm->rtm_table, oif = 0;
	__be32 gw = 0;
	struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWROUTE || rtm->rtm_family != AF_INET || rtm->rtm_dst_len)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*rtm))
	{
		if (mnl_attr_get_payload_len(a) != 4)
			continue;
		switch (mnl_attr_get_type(a)) {
		case RTA_TABLE:
			table = mnl_attr_get_u32(a);
			break;
		case RTA_OIF:
			oif = mnl_attr_get_u32(a);
			break;
		case RTA_GATEWAY:
			gw = mnl_attr_get_u32(a);
			break;
		}
	}
	if (table == RT_TABLE_MAIN && (int)oif == f->ifindex && gw == f->gw)
		f->found = 1;
	return MNL_CB_OK;
}

int cni_nl_route_default_has(struct cni_nl *n, int ifindex, __be32 gw)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_hdr(buf, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	struct route_find f = {ifindex, 0, gw};
	int err;

	rtm->rtm_family = AF_INET;
	err = talk(n, nlh, route_find_cb, &f);
	return err ? err : f.found;
}

int cni_nl_neigh_replace(struct cni_nl *n, int ifindex, __be32 ip, const uint8_t mac[6])
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_hdr(buf, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));

	nd->ndm_family = AF_INET;
	nd->ndm_ifindex = ifindex;
	nd->ndm_state = NUD_PERMANENT;
	nd->ndm_type = RTN_UNICAST;
	mnl_attr_put_u32(nlh, NDA_DST, ip);
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	return talk(n, nlh, NULL, NULL);
}
