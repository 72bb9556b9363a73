// SPDX-License-Identifier: Apache-2.0
/* cnictl monitor: decoded datapath events from the sluice_events ring
 * buffer, one line (or one JSON document) per event, until SIGINT. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <sluice/events.h>
#include "cnictl.h"
#include "decode.h"
#include "print.h"
#include "reasons.h"

static volatile sig_atomic_t monitor_stop;

static void on_signal(int sig)
{
	(void)sig;
	monitor_stop = 1;
}

const char *cnictl_event_type_name(unsigned int type)
{
	switch (type) {
	case SL_EV_DROP:
		return "drop";
	case SL_EV_POLICY_VERDICT:
		return "policy";
	case SL_EV_TRACE:
		return "trace";
	}
	return "?";
}

/* Wall-clock "HH:MM:SS.uuuuuu" for a bpf_ktime_get_ns() stamp. */
static void pr_event_time(const char *key, __u64 ts_ns)
{
	struct timespec rt, mono;
	__s64 wall_ns;
	time_t sec;
	struct tm tm;
	char buf[32];

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	wall_ns = (__s64)rt.tv_sec * 1000000000ll + rt.tv_nsec -
		  ((__s64)mono.tv_sec * 1000000000ll + mono.tv_nsec - (__s64)ts_ns);
	sec = (time_t)(wall_ns / 1000000000ll);
	localtime_r(&sec, &tm);
	strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
	pr_strf(key, "%s.%06lld", buf, (long long)(wall_ns % 1000000000ll) / 1000);
}

void cnictl_pr_event(const struct sl_event *ev, bool with_time)
{
	pr_line_begin(NULL);
	if (with_time)
		pr_event_time("time", ev->ts_ns);
	pr_str("type", cnictl_event_type_name(ev->type));
	/* A verdict's reason says allowed (forwarded) or which policy drop. */
	pr_str("reason", sl_reason_name(ev->reason));
	pr_str("dir", sl_dir_name(ev->dir));
	pr_str("proto", sl_proto_name(ev->proto));
	cnictl_pr_addr("src", &ev->saddr, ev->family);
	pr_u64("sport", ntohs(ev->sport));
	cnictl_pr_addr("dst", &ev->daddr, ev->family);
	pr_u64("dport", ntohs(ev->dport));
	pr_u64("ifindex", ev->ifindex);
	pr_u64("srcIdentity", ev->src_identity);
	pr_u64("dstIdentity", ev->dst_identity);
	pr_u64("len", ev->len);
	pr_u64("policy", ev->policy_id);
	pr_line_end();
}

struct mon_ctx {
	unsigned int types; /* bit per enum sl_event_type; 0 = all */
	unsigned long count, seen;
};

static int on_event(void *arg, void *data, size_t size)
{
	struct mon_ctx *m = arg;
	struct sl_event ev;

	if (size < sizeof(ev))
		return 0; /* a record of another layout: not ours to guess */
	memcpy(&ev, data, sizeof(ev));
	if (m->types && (ev.type >= 32 || !(m->types & (1u << ev.type))))
		return 0;
	cnictl_pr_event(&ev, true);
	if (m->count && ++m->seen >= m->count) {
		monitor_stop = 1;
		return -ECANCELED; /* stop this poll's batch: --count is exact */
	}
	return 0;
}

/* "drop,policy" -> type bits. Returns 0 or -EINVAL. */
static int parse_types(const char *s, unsigned int *bits)
{
	char *dup = strdup(s), *save = NULL;
	int err = 0;

	if (!dup)
		return -ENOMEM;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "drop"))
			*bits |= 1u << SL_EV_DROP;
		else if (!strcmp(t, "policy") || !strcmp(t, "policy-verdict"))
			*bits |= 1u << SL_EV_POLICY_VERDICT;
		else if (!strcmp(t, "trace"))
			*bits |= 1u << SL_EV_TRACE;
		else
			err = -EINVAL;
	}
	free(dup);
	return err;
}

static int monitor(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"type", required_argument, NULL, 't'},
	    {"count", required_argument, NULL, 'c'},
	    {0},
	};
	struct mon_ctx m = {0};
	struct sigaction sa = {.sa_handler = on_signal};
	struct ring_buffer *rb = NULL;
	struct bpf_map_info info;
	int fd, opt, err, r = CNICTL_OK;
	char *end;

	while ((opt = getopt_long(argc, argv, "t:c:", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (parse_types(optarg, &m.types))
				return cnictl_usage("monitor: --type takes drop, policy, trace "
						    "(comma-separated), not '%s'",
						    optarg);
			break;
		case 'c':
			m.count = strtoul(optarg, &end, 10);
			if (*end || !*optarg)
				return cnictl_usage("monitor: --count takes a number, not '%s'",
						    optarg);
			break;
		default:
			return cnictl_usage(
			    "usage: cnictl monitor [--type drop|policy|trace] [--count N]");
		}
	}
	if (optind < argc)
		return cnictl_usage("monitor: unexpected argument '%s'", argv[optind]);
	fd = cnictl_map_open(SL_MAP_EVENTS, &info, false);
	if (fd < 0)
		return CNICTL_FAIL;
	if (info.type != BPF_MAP_TYPE_RINGBUF) {
		close(fd);
		return cnictl_fail("%s is a %s, not a ring buffer", SL_MAP_EVENTS,
				   libbpf_bpf_map_type_str(info.type));
	}
	rb = ring_buffer__new(fd, on_event, &m, NULL);
	if (!rb) {
		err = -errno;
		close(fd);
		return cnictl_fail("couldn't read ring buffer %s: %s", SL_MAP_EVENTS,
				   strerror(-err));
	}
	/* No SA_RESTART: the signal has to interrupt epoll_wait. */
	monitor_stop = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!pr_is_json() && isatty(fileno(cnictl_opts.err)))
		fprintf(cnictl_opts.err, "listening for %s events on %s/%s (Ctrl-C to stop)\n",
			m.types ? "selected" : "all", cnictl_opts.bpffs, SL_MAP_EVENTS);
	while (!monitor_stop) {
		err = ring_buffer__poll(rb, 500);
		if (err < 0 && err != -EINTR && err != -ECANCELED) {
			r = cnictl_fail("reading %s failed: %s", SL_MAP_EVENTS, strerror(-err));
			break;
		}
	}
	ring_buffer__free(rb);
	close(fd);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	return r;
}

CNICTL_COMMAND(cnictl_cmd_monitor) = {
    .name = "monitor",
    .args = "[--type drop|policy|trace[,...]] [--count N]",
    .help = "live datapath events (drops, policy verdicts, traces) until Ctrl-C",
    .run = monitor,
};
