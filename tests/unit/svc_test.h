/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the Service writer's unit tests (test_svc_writer,
 * test_svc_purge): maps of their own (unpinned, gone with the fd) and
 * validated feed objects. */
#ifndef SLUICE_TEST_SVC_H
#define SLUICE_TEST_SVC_H

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include <jansson.h>

#include "../../controller/kinds.h"

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

/* The object text of kind k, parsed and validated (the test fails if it
 * is not valid). */
static inline json_t *obj(const struct kind_ops *k, const char *text)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	char err[512];

	cr_assert(o, "JSON: %s", jerr.text);
	cr_assert_eq(k->validate(o, err, sizeof(err)), 0, "validate: %s", err);
	return o;
}

#endif
