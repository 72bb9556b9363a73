/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the unit tests that give the controller maps of their own
 * (test_svc_writer, test_svc_purge): unpinned BPF maps, gone with the fd. */
#ifndef SLUICE_TEST_MAP_H
#define SLUICE_TEST_MAP_H

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>

/* A map of type t, key and value sizes k and v, max entries and flags;
 * fails the test (root or CAP_BPF is needed) when it cannot be made. */
static inline int mk_map(enum bpf_map_type t, size_t k, size_t v, unsigned int max,
			 unsigned int flags, const char *name)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);
	int fd = bpf_map_create(t, name, k, v, max, &o);

	cr_assert(fd >= 0, "bpf_map_create(%s): %s (this test needs root/CAP_BPF)", name,
		  strerror(errno));
	return fd;
}

#endif
