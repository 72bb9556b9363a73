// SPDX-License-Identifier: Apache-2.0
/* feed_inproc: the controller's feed path without the socket and without
 * maps, for profiling (perf, valgrind --tool=massif/callgrind):
 * file -> stream splitter -> jansson -> feed_apply(), exactly as server.c
 * does per value, with the model set up like the unit tests do
 * (tests/unit/model_test.h: no pin root, so ipcache stays a mirror and the
 * services module runs model-only; policy recomputes are timer-driven and
 * do not run here).
 *
 *   feed_inproc FEED_FILE [NODE_NAME]
 *
 * Prints per kind the values applied, the CPU time spent and the RSS after
 * them, then the totals. Built by hack/bench/feed.sh (BENCH_INPROC=1) or:
 *   cc $(CFLAGS) hack/bench/feed_inproc.c -Wl,--whole-archive $B/libctl.a \
 *      -Wl,--no-whole-archive $B/libsluice.a $(LDLIBS) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../controller/ctl.h"
#include "../../controller/feed.h"
#include "../../controller/identity.h"
#include "../../controller/ipcache.h"
#include "../../controller/store.h"
#include "../../controller/stream.h"
#include "log.h"

static double now_s(void)
{
	struct timespec ts;

	/* CPU time: the machine is shared, wall time would measure the others */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kb(const char *what)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, what, strlen(what)))
			v = atol(line + strlen(what));
	fclose(f);
	return v;
}

/* The kind a value is about (its object's, for a watch event). */
static const char *kind_of(json_t *v)
{
	json_t *o = json_object_get(v, "object");
	const char *k = json_string_value(json_object_get(o ? o : v, "kind"));

	return k ? k : "?";
}

int main(int argc, char **argv)
{
	struct sl_stream s;
	struct feed_conn *fc;
	char kind[64] = "", err[1024];
	size_t n_kind = 0, n_all = 0, n_err = 0;
	double t_kind = 0, t_all = 0;
	FILE *f;
	char buf[1 << 16];
	size_t got;

	if (argc < 2) {
		fprintf(stderr, "Usage: feed_inproc FEED_FILE [NODE_NAME]\n");
		return 2;
	}
	sl_log_init("feed_inproc", SL_LOG_WARN);
	ctl.node_name = argc > 2 ? argv[2] : "node-000";
	ctl.state_dir = NULL;
	ctl.bpffs = NULL; /* services: model only; ipcache: mirror only */
	sl_cidr_parse("10.244.0.0/16", &ctl.cluster_cidr, false);
	sl_cidr_parse("10.96.0.0/12", &ctl.service_cidr, false);
	f = fopen(argv[1], "r");
	if (!f) {
		fprintf(stderr, "feed_inproc: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	fc = feed_conn_new();
	sl_stream_init(&s, 0, 0);
	printf("%-16s %8s %10s %10s\n", "kind", "values", "CPU s", "RSS MB");
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
		const char *val;
		size_t len;
		int rc = sl_stream_feed(&s, buf, got);

		while (rc == 0 && (rc = sl_stream_next(&s, &val, &len)) == 1) {
			json_t *v = NULL;
			double t0 = now_s(), dt;

			rc = sl_stream_decode(val, len, &v, err, sizeof(err));
			if (rc == 0) {
				if (strcmp(kind, kind_of(v))) {
					if (n_kind)
						printf("%-16s %8zu %10.3f %10.1f\n", kind, n_kind, t_kind,
						       rss_kb("VmRSS:") / 1024.0);
					snprintf(kind, sizeof(kind), "%s", kind_of(v));
					n_kind = 0;
					t_kind = 0;
				}
				if (feed_apply(fc, v, err, sizeof(err)) && n_err++ < 5)
					fprintf(stderr, "value %zu: %s\n", n_all, err);
				json_decref(v);
			} else if (n_err++ < 5) {
				fprintf(stderr, "value %zu: %s\n", n_all, err);
			}
			dt = now_s() - t0;
			t_kind += dt;
			t_all += dt;
			n_kind++;
			n_all++;
			rc = 0;
		}
		if (rc < 0) {
			fprintf(stderr, "feed_inproc: stream error: %s\n", s.errmsg);
			return 1;
		}
	}
	printf("%-16s %8zu %10.3f %10.1f\n", kind, n_kind, t_kind, rss_kb("VmRSS:") / 1024.0);
	printf("%-16s %8zu %10.3f %10.1f (peak %.1f MB), %zu errors, %zu identities, %zu ipcache keys\n",
	       "total", n_all, t_all, rss_kb("VmRSS:") / 1024.0, rss_kb("VmHWM:") / 1024.0, n_err,
	       identity_count(), ipcache_count());
	fclose(f);
	sl_stream_free(&s);
	feed_conn_free(fc);
	if (getenv("FEED_INPROC_FINI"))
		model_fini();
	return n_err ? 1 : 0;
}
