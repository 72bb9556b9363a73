// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target for the whole feed path without maps: bytes -> the
 * socket's stream splitter (controller/stream.c) -> jansson
 * (sl_stream_decode) -> feed_apply() (controller/feed.c: watch events,
 * Lists, BOOKMARK GC, resourceVersion ordering) -> every linked kind's
 * validate and apply (model, services, policy), exactly as server.c routes
 * a value that is not a request of ours.
 *
 * The model runs as in the unit tests (tests/unit/model_test.h): no pin
 * root, so ipcache stays a mirror and the services module is model-only.
 * Every input starts from an empty model, so a crash reproduces from its
 * input alone (the policy module keeps its index table across inputs: it
 * has no reset).
 *
 * Checked properties besides ASan/UBSan:
 *  - feed_apply returns 0 or a negative errno, and an error always comes
 *    with a message;
 *  - a value that fails changes nothing: the object counts of every kind
 *    and the ipcache mirror are what they were before it (DESIGN.md:
 *    "nothing a client sends can ... leave half-applied state");
 *  - a value applied twice in a row is accepted the second time too (an
 *    upsert of what is stored is a no-op), unless it is a BOOKMARK/ERROR;
 *  - after the model is torn down nothing is left allocated (LeakSanitizer,
 *    checked by libFuzzer per input). */
#include <assert.h>
#include <stdbool.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../controller/ctl.h"
#include "../../controller/feed.h"
#include "../../controller/identity.h"
#include "../../controller/ipcache.h"
#include "../../controller/services.h"
#include "../../controller/store.h"
#include "../../controller/stream.h"
#include "log.h"

#define MAX_VALUES 64

static const char *const kinds[] = { "Namespace", "Node", "Pod", "Service", "EndpointSlice",
				     "NetworkPolicy" };
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

struct snapshot {
	size_t objs[N_KINDS];
	size_t ipc;
};

static void snap(struct snapshot *s)
{
	for (size_t i = 0; i < N_KINDS; i++)
		s->objs[i] = store_count(kinds[i]);
	s->ipc = ipcache_count();
}

static void model_reset(void)
{
	store_reset();
	identity_reset();
	ipcache_reset();
	k8s_core_reset();
	services_reset();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	sl_log_init("fuzz_feed_apply", -1); /* quiet: invalid input is the norm */
	ctl.node_name = "node-a";
	ctl.state_dir = NULL;
	ctl.bpffs = NULL;
	sl_cidr_parse("10.244.0.0/24", &ctl.pod_cidr, false);
	ctl.have_pod_cidr = true;
	sl_cidr_parse("10.244.0.0/16", &ctl.cluster_cidr, false);
	sl_cidr_parse("10.96.0.0/12", &ctl.service_cidr, false);
	return 0;
}

/* Apply one decoded value the way server.c does; check the properties. */
static void apply_one(struct feed_conn *fc, json_t *v)
{
	const char *type = json_string_value(json_object_get(v, "type"));
	struct snapshot before, after;
	char err[1024];
	int rc;

	if (json_is_string(json_object_get(v, "request")))
		return; /* a request of ours: not the feed */
	snap(&before);
	err[0] = '\0';
	rc = feed_apply(fc, v, err, sizeof(err));
	assert(rc <= 0);
	if (rc) {
		assert(err[0] != '\0');
		assert(memchr(err, '\0', sizeof(err)));
		snap(&after);
		for (size_t i = 0; i < N_KINDS; i++)
			if (before.objs[i] != after.objs[i]) {
				fprintf(stderr, "a failed value (%s) changed the %s count: %zu -> %zu\n",
					err, kinds[i], before.objs[i], after.objs[i]);
				abort();
			}
		if (before.ipc != after.ipc) {
			fprintf(stderr, "a failed value (%s) changed the ipcache: %zu -> %zu keys\n",
				err, before.ipc, after.ipc);
			abort();
		}
		return;
	}
	if (type && (!strcmp(type, "BOOKMARK") || !strcmp(type, "ERROR")))
		return;
	err[0] = '\0';
	rc = feed_apply(fc, v, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "a value accepted once was refused the second time: %s\n", err);
		abort();
	}
}

/* One complete value from the splitter. Returns false when the server
 * would close the connection (not JSON). */
static bool handle(struct feed_conn *fc, const char *val, size_t len)
{
	char err[512];
	json_t *v = NULL;
	int rc = sl_stream_decode(val, len, &v, err, sizeof(err));

	assert(rc == 0 || rc == -EINVAL || rc == -EBADMSG);
	if (rc == -EBADMSG)
		return false;
	if (v) {
		apply_one(fc, v);
		json_decref(v);
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feed_conn *fc = feed_conn_new();
	struct sl_stream s;
	const char *val;
	size_t len;
	bool open = true;
	int n = 0, ret;

	assert(fc);
	sl_stream_init(&s, 65536, 64);
	ret = sl_stream_feed(&s, (const char *)data, size);
	while (ret == 0 && open && n++ < MAX_VALUES) {
		ret = sl_stream_next(&s, &val, &len);
		if (ret == 1) {
			open = handle(fc, val, len);
			ret = 0;
		} else if (ret == 0) {
			if (sl_stream_finish(&s, &val, &len) == 1)
				handle(fc, val, len);
			break;
		}
	}
	sl_stream_free(&s);
	feed_conn_free(fc);
	model_reset();
	return 0;
}
