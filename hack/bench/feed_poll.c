// SPDX-License-Identifier: Apache-2.0
/* feed_poll: watch pinned Sluice maps until they hold the expected number of
 * entries, for the feed benchmark (hack/bench/feed.sh).
 *
 *   feed_poll --bpffs DIR [--interval-ms N] [--timeout-ms N] [--stable-ms N]
 *             [--stop-file PATH [--settle-ms N] [--busy-interval-ms N]] MAP=COUNT|MAP=? ...
 *
 * Every pass counts the keys of each map (bpf_map_get_next_key: no values
 * are copied, so a 4 KiB Maglev table costs as little as a 16-byte entry).
 * A map with a COUNT has converged at the first pass that sees exactly that
 * many keys; a map with "?" (no prediction, e.g. compiled policy entries)
 * has converged at its last change once --stop-file exists (the feed is
 * over) and the count has held still for --stable-ms. Polling ends when
 * every map has converged (after the stable period, so a late change is
 * still seen), on timeout, or --settle-ms (30 s) after --stop-file appeared.
 * Until --stop-file appears, passes are --busy-interval-ms (250) apart, so
 * the poller does not compete with sluiced for the CPU; after it,
 * --interval-ms (5) apart.
 *
 * Output: one JSON object on stdout. Times are CLOCK_MONOTONIC nanoseconds
 * (Python's time.monotonic_ns() reads the same clock), so the feeder's
 * timestamps can be compared with them:
 *   {"maps":{NAME:{"want":N|null,"count":N,"reached_ns":T|null,
 *     "last_change_ns":T}},"passes":N,"pass_ns_max":T,"timed_out":bool}
 * Exit status: 0 when every map converged, 1 otherwise, 2 on bad usage. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#define MAX_MAPS 32

struct watched {
	char name[64];
	int fd;
	long long want;  /* -1: "?" */
	long long count; /* last pass */
	uint64_t reached_ns, last_change_ns;
	uint32_t key_size;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Number of keys in the map, or -errno. */
static long long count_keys(const struct watched *w)
{
	unsigned char a[256], b[256];
	void *prev = NULL, *next = a;
	long long n = 0;

	while (!bpf_map_get_next_key(w->fd, prev, next)) {
		n++;
		prev = next;
		next = next == a ? b : a;
	}
	return errno == ENOENT ? n : -errno;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: feed_poll --bpffs DIR [--interval-ms N] [--timeout-ms N] [--stable-ms N]\n"
		   "                 [--stop-file PATH [--settle-ms N] [--busy-interval-ms N]]\n"
		   "                 MAP=COUNT|MAP=? ...\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bpffs", required_argument, NULL, 'b' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "stable-ms", required_argument, NULL, 's' },
		{ "stop-file", required_argument, NULL, 'f' },
		{ "settle-ms", required_argument, NULL, 'S' },
		{ "busy-interval-ms", required_argument, NULL, 'I' },
		{ 0 },
	};
	struct watched maps[MAX_MAPS];
	const char *bpffs = NULL, *stop_file = NULL;
	long interval_ms = 5, busy_ms = 250, timeout_ms = 120000, stable_ms = 1000, settle_ms = 30000;
	uint64_t start, pass_max = 0, stop_seen = 0;
	unsigned long passes = 0;
	bool timed_out = false, all = false;
	int n = 0, c, rc = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': bpffs = optarg; break;
		case 'i': interval_ms = atol(optarg); break;
		case 't': timeout_ms = atol(optarg); break;
		case 's': stable_ms = atol(optarg); break;
		case 'f': stop_file = optarg; break;
		case 'S': settle_ms = atol(optarg); break;
		case 'I': busy_ms = atol(optarg); break;
		default: usage(stderr); return 2;
		}
	}
	if (!bpffs || optind >= argc || argc - optind > MAX_MAPS || interval_ms < 0 ||
	    timeout_ms <= 0 || stable_ms < 0) {
		usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++, n++) {
		struct watched *w = &maps[n];
		char *eq = strchr(argv[i], '='), path[PATH_MAX];
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);

		memset(w, 0, sizeof(*w));
		if (!eq || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof(w->name)) {
			fprintf(stderr, "feed_poll: '%s': want MAP=COUNT or MAP=?\n", argv[i]);
			return 2;
		}
		memcpy(w->name, argv[i], eq - argv[i]);
		w->want = !strcmp(eq + 1, "?") ? -1 : atoll(eq + 1);
		snprintf(path, sizeof(path), "%s/%s", bpffs, w->name);
		w->fd = bpf_obj_get(path);
		if (w->fd < 0) {
			fprintf(stderr, "feed_poll: couldn't open %s: %s\n", path, strerror(errno));
			return 1;
		}
		if (bpf_obj_get_info_by_fd(w->fd, &info, &len) || info.key_size > 256) {
			fprintf(stderr, "feed_poll: %s: unusable map info\n", path);
			return 1;
		}
		w->key_size = info.key_size;
		w->count = -1;
	}

	start = now_ns();
	for (;;) {
		uint64_t t0 = now_ns(), t1;

		all = true;
		for (int i = 0; i < n; i++) {
			struct watched *w = &maps[i];
			long long k = count_keys(w);

			if (k < 0) {
				fprintf(stderr, "feed_poll: %s: %s\n", w->name, strerror((int)-k));
				return 1;
			}
			if (k != w->count) {
				w->count = k;
				w->last_change_ns = t0;
				if (w->want < 0)
					w->reached_ns = 0;
			}
			if (w->want >= 0 && k == w->want && !w->reached_ns)
				w->reached_ns = t0;
			if (w->want >= 0 && k != w->want)
				w->reached_ns = 0; /* went past or back: not converged */
			/* no prediction: settled once the feed is over (stop file)
			 * and the count held still for the stable period */
			if (w->want < 0 && !w->reached_ns && (stop_seen || !stop_file) &&
			    (k > 0 || stop_seen) &&
			    t0 - w->last_change_ns >= (uint64_t)stable_ms * 1000000ull)
				w->reached_ns = w->last_change_ns;
			if (!w->reached_ns)
				all = false;
		}
		t1 = now_ns();
		passes++;
		if (t1 - t0 > pass_max)
			pass_max = t1 - t0;
		if (all) {
			/* converged: stay a stable period to catch a late change */
			bool late = false;

			for (int i = 0; i < n; i++)
				if (t1 - maps[i].last_change_ns < (uint64_t)stable_ms * 1000000ull)
					late = true;
			if (!late)
				break;
		}
		if (stop_file && !stop_seen && !access(stop_file, F_OK))
			stop_seen = t1;
		/* the feed is over: give the maps settle_ms to converge */
		if (stop_seen && t1 - stop_seen >= (uint64_t)settle_ms * 1000000ull)
			break;
		if (t1 - start >= (uint64_t)timeout_ms * 1000000ull) {
			timed_out = true;
			break;
		}
		/* A pass costs tens of ms of syscalls at this size: while the
		 * feed runs, poll rarely so the poller does not take a core
		 * from sluiced; after it, poll fast for a sharp convergence time. */
		if (stop_file && !stop_seen && busy_ms)
			usleep((useconds_t)busy_ms * 1000);
		else if (interval_ms)
			usleep((useconds_t)interval_ms * 1000);
	}

	printf("{\"maps\":{");
	for (int i = 0; i < n; i++) {
		const struct watched *w = &maps[i];

		printf("%s\"%s\":{\"want\":", i ? "," : "", w->name);
		if (w->want < 0)
			printf("null");
		else
			printf("%lld", w->want);
		printf(",\"count\":%lld,\"reached_ns\":", w->count);
		if (w->reached_ns)
			printf("%llu", (unsigned long long)w->reached_ns);
		else
			printf("null");
		printf(",\"last_change_ns\":%llu}", (unsigned long long)w->last_change_ns);
	}
	printf("},\"passes\":%lu,\"pass_ns_max\":%llu,\"timed_out\":%s}\n", passes,
	       (unsigned long long)pass_max, timed_out ? "true" : "false");
	rc = all ? 0 : 1;
	for (int i = 0; i < n; i++)
		close(maps[i].fd);
	return rc;
}
