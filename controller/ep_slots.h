/* SPDX-License-Identifier: Apache-2.0 */
/* sluice_ep_slots: the hash-free copy of sluice_ep the datapath reads
 * first (include/sluice/endpoint.h). endpoints.c calls these right after
 * writing a sluice_ep entry and right before deleting one. Without the
 * pinned map (a datapath built without it, unit tests) they do nothing. */
#ifndef SLUICE_CTL_EP_SLOTS_H
#define SLUICE_CTL_EP_SLOTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sluice/common.h>
#include <sluice/endpoint.h>

/* Give addr (family SL_AF_INET; others are ignored) its slot with value v,
 * unless the slot serves another local address that sluice_ep still has
 * (then addr is served by sluice_ep alone). Returns 0 or -errno. */
int ep_slots_set(const union sl_addr *addr, uint8_t family, const struct ep_info *v);

/* Empty addr's slot if it holds addr for endpoint ep_id. */
void ep_slots_clear(const union sl_addr *addr, uint8_t family, uint32_t ep_id);

/* Empty every slot whose address sluice_ep does not hold with the same
 * value (state left by endpoints deleted while sluiced was down). Returns
 * the number of slots emptied, or -errno. */
int ep_slots_prune(void);

#endif
