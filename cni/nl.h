/* SPDX-License-Identifier: Apache-2.0 */
/* Netlink (rtnetlink through libmnl) for the plugin. One socket per network
 * namespace: a netlink socket acts on the namespace it was created in. */
#ifndef SLUICE_CNI_NL_H
#define SLUICE_CNI_NL_H

#include <stdbool.h>
#include <stdint.h>
#include <sluice/common.h>

struct mnl_socket;

struct cni_nl {
	struct mnl_socket *sock;
	uint32_t seq, portid;
};

struct cni_link {
	int ifindex;
	uint8_t mac[6];
	unsigned int flags; /* IFF_* */
	int mtu;
	char name[16];
};

/* Open a NETLINK_ROUTE socket in the current network namespace. */
int cni_nl_open(struct cni_nl *n);
void cni_nl_close(struct cni_nl *n);

/* One request creating the veth pair: host side (host_name, host_mac, up)
 * in this namespace, peer (peer_name, peer_mac, down) directly in the
 * namespace peer_netns_fd. Returns 0 or -errno (-EEXIST: a name is taken). */
int cni_nl_veth_create(struct cni_nl *n, const char *host_name, const uint8_t host_mac[6],
		       const char *peer_name, const uint8_t peer_mac[6], int peer_netns_fd,
		       int mtu);
/* Turn off IPv6 address generation on ifindex (IN6_ADDR_GEN_MODE_NONE),
 * then bring it up. Returns 0 or -errno. */
int cni_nl_link_up_no_ipv6(struct cni_nl *n, int ifindex);
/* Delete a link by name. Returns 0 or -errno (-ENODEV: no such link). */
int cni_nl_link_del(struct cni_nl *n, const char *name);
/* Look a link up by name. Returns 0 or -errno (-ENODEV). */
int cni_nl_link_get(struct cni_nl *n, const char *name, struct cni_link *l);
/* Call fn for every link of the namespace. */
int cni_nl_link_foreach(struct cni_nl *n, int (*fn)(const struct cni_link *l, void *arg),
			void *arg);
/* Add addr/plen on ifindex with scope (RT_SCOPE_*). */
int cni_nl_addr_add(struct cni_nl *n, int ifindex, __be32 addr, int plen, int scope);
/* 1 when ifindex carries addr/plen, 0 when not, or -errno. */
int cni_nl_addr_has(struct cni_nl *n, int ifindex, __be32 addr, int plen);
/* Replace the route dst/plen [via gw onlink] dev ifindex in the main table.
 * gw 0 means a link-scope route. */
int cni_nl_route_replace(struct cni_nl *n, __be32 dst, int plen, __be32 gw, int ifindex);
/* 1 when the main table has "default via gw dev ifindex", 0, or -errno. */
int cni_nl_route_default_has(struct cni_nl *n, int ifindex, __be32 gw);
/* Permanent neighbour ip -> mac on ifindex (replacing any entry). */
int cni_nl_neigh_replace(struct cni_nl *n, int ifindex, __be32 ip, const uint8_t mac[6]);

#endif
