/* SPDX-License-Identifier: Apache-2.0 */
/* Attaching the pod programs to a host veth, shared by the CNI plugin (ADD,
 * CHECK) and sluiced (re-attach on upgrade). Two kernel interfaces:
 *   tc:  a clsact qdisc with a cls_bpf filter at SL_TC_HANDLE/SL_TC_PRIORITY
 *        (the default: attaching costs microseconds);
 *   tcx: BPF_PROG_ATTACH at BPF_TCX_INGRESS/EGRESS (kernel 6.6+): no qdisc,
 *        no classifier layer per packet, and no `tc qdisc del` can remove it,
 *        but every attach waits for an RCU grace period under the RTNL lock
 *        (milliseconds to tens of them; other netlink users wait too).
 * Our program at a hook is known by its name (from_pod, to_pod): an attach
 * replaces an earlier version of it in place and removes it from the other
 * interface, so a node can move between the two without a gap. */
#ifndef SLUICE_ATTACH_H
#define SLUICE_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

enum sl_attach_mode {
	SL_ATTACH_TC = 0,
	SL_ATTACH_TCX = 1,
};

/* "tc" / "tcx". */
const char *sl_attach_mode_name(enum sl_attach_mode m);
/* Parses "tc" or "tcx". 0 or -EINVAL. */
int sl_attach_mode_parse(const char *s, enum sl_attach_mode *m);
/* Whether this kernel has tcx (asks about the loopback device). */
bool sl_tcx_supported(void);

/* Attaches prog_fd at ifindex's ingress or egress through mode: replaces
 * a program of the same name already there (either interface), does
 * nothing when prog_fd itself is attached. 0 or -errno; *what (when not
 * NULL) names the step that failed. */
int sl_attach(int ifindex, bool ingress, int prog_fd, enum sl_attach_mode mode,
	      const char **what);

/* The program called name attached at ifindex's ingress or egress: tcx is
 * asked first (it runs first), then the tc filter. 1 with *id and *mode
 * set, 0 when none is, or -errno. */
int sl_attached(int ifindex, bool ingress, const char *name, uint32_t *id,
		enum sl_attach_mode *mode);

#endif
