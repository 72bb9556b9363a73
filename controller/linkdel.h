/* SPDX-License-Identifier: Apache-2.0 */
/* Deleting host veths off the CNI's DEL path (linkdel.c). The kernel
 * spends ~15 ms unregistering a veth (RCU grace periods); the plugin hands
 * the deletion to this worker so DEL returns at once. */
#ifndef SLUICE_LINKDEL_H
#define SLUICE_LINKDEL_H

/* Queue the deletion of the host-side veth ifname (must carry the "sl"
 * prefix and exist in sluiced's network namespace). Returns 0 when queued,
 * -ENODEV when there is no such link here (the caller deletes it itself),
 * -EINVAL for a name that is not ours, -ENOMEM. */
int linkdel_queue(const char *ifname);
/* Deletions still pending (status, tests). */
unsigned int linkdel_pending(void);

#endif
