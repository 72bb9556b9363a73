/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers for the model's unit tests (test_feed*, test_model*,
 * test_identity*): reset the model, feed JSON text. */
#ifndef SLUICE_TEST_MODEL_H
#define SLUICE_TEST_MODEL_H

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "../../controller/ctl.h"
#include "../../controller/feed.h"
#include "../../controller/identity.h"
#include "../../controller/ipcache.h"
#include "../../controller/k8s_util.h"
#include "../../controller/requests.h"
#include "../../controller/store.h"

/* No pinned maps in these tests: ipcache stays a mirror unless a test
 * gives it a map of its own. */
static inline void model_test_reset(void)
{
	store_reset();
	identity_reset();
	ipcache_reset();
	k8s_core_reset();
	ctl.node_name = "node-a";
	ctl.state_dir = NULL;
	ctl.bpffs = "/nonexistent/sluice-model-test";
	ctl.have_pod_cidr = false;
	memset(&ctl.pod_cidr, 0, sizeof(ctl.pod_cidr));
	sl_cidr_parse("10.244.0.0/16", &ctl.cluster_cidr, false);
}

/* Feed one JSON text; returns feed_apply's result, err filled. */
static inline int feed_text(struct feed_conn *fc, const char *text, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
	int rc;

	cr_assert_not_null(v, "test input is not JSON: %s: %s", jerr.text, text);
	err[0] = '\0';
	rc = feed_apply(fc, v, err, errlen);
	json_decref(v);
	return rc;
}

#define FEED_OK(fc, text)                                                                  \
	do {                                                                               \
		char e_[1024];                                                             \
		int r_ = feed_text((fc), (text), e_, sizeof(e_));                          \
		cr_assert_eq(r_, 0, "feed %s: got %d (%s), want ok", (text), r_, e_);      \
	} while (0)

#define FEED_ERR(fc, text, substr)                                                         \
	do {                                                                               \
		char e_[1024];                                                             \
		int r_ = feed_text((fc), (text), e_, sizeof(e_));                          \
		cr_assert_lt(r_, 0, "feed %s: got ok, want an error with \"%s\"", (text), (substr)); \
		cr_assert(strstr(e_, (substr)), "feed %s: error \"%s\" lacks \"%s\"", (text), e_, \
			  (substr));                                                       \
	} while (0)

static inline struct sl_cidr test_ip(const char *s)
{
	struct sl_cidr c;

	cr_assert_eq(sl_cidr_parse(s, &c, false), 0, "bad test address %s", s);
	return c;
}

#endif
