// SPDX-License-Identifier: Apache-2.0
/* sluiced: the node controller. Loads and pins the datapath, restores the
 * endpoints and the model, then serves the socket in the foreground. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice/ct.h>
#include <sluice/lb.h>

#include "core.h"
#include "ctgc.h"
#include "ctl.h"
#include "policy.h"
#include "defaults.h"
#include "feed.h"
#include "log.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluiced [OPTIONS]\n"
		"\n"
		"The Sluice node controller. Loads the eBPF datapath once and pins it under\n"
		"the pin root, keeps endpoint records in the state dir, and serves the feed\n"
		"and request socket in the foreground until SIGTERM or SIGINT. Stopping it\n"
		"never detaches programs or empties maps: pod traffic goes on.\n"
		"\n"
		"Options:\n"
		"  --bpffs DIR          pin root, a bpffs (mounted there if it is not one)\n"
		"                       [$" SL_ENV_BPFFS " or " SL_DEFAULT_BPFFS "]\n"
		"  --socket PATH        UNIX socket to serve (mode 0600, root peers only)\n"
		"                       [$" SL_ENV_SOCKET " or " SL_DEFAULT_SOCKET "]\n"
		"  --state-dir DIR      endpoint records and model state [" SL_DEFAULT_STATE_DIR
		"]\n"
		"  --node-name NAME     this node's name [hostname]\n"
		"  --pod-cidr CIDR      this node's pod range [none: from the Node object]\n"
		"  --cluster-cidr CIDR  all pods of the cluster [" SL_DEFAULT_CLUSTER_CIDR "]\n"
		"  --service-cidr CIDR  Service cluster IPs [" SL_DEFAULT_SERVICE_CIDR "]\n"
		"  --cgroup DIR         cgroup v2 directory for the socket hooks [the cgroup2\n"
		"                       mount found in /proc/mounts]\n"
		"  --ct-max N           conntrack table entries [%u]; applied when the\n"
		"                       table is first created\n"
		"  --maglev-size M      Maglev table size, a prime <= %u [%u]\n"
		"  --attach MODE        how pod programs are attached to host veths: tc\n"
		"                       (clsact qdisc + cls_bpf) or tcx (kernel 6.6+: a\n"
		"                       little less per packet, but each attach waits\n"
		"                       for an RCU grace period) [tc]; pods already\n"
		"                       there are moved over at start\n"
		"  -v, --verbose        more logs (repeat for debug)\n"
		"  -h, --help           this help\n"
		"  --version            print the version\n"
		"\n"
		"Exit status: 0 after SIGTERM/SIGINT, 1 on a runtime failure, 2 on bad usage.\n",
		SL_CT_MAX_DEFAULT, SL_MAGLEV_M_MAX, SL_MAGLEV_M_DEFAULT);
}

static int bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "sluiced: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'sluiced --help'.\n");
	return 2;
}

static bool is_prime(unsigned long n)
{
	if (n < 2)
		return false;
	for (unsigned long d = 2; d * d <= n; d++)
		if (n % d == 0)
			return false;
	return true;
}

/* Parse a positive integer no larger than max. Returns 0 or -EINVAL. */
static int parse_uint(const char *s, unsigned long max, unsigned int *out)
{
	unsigned long v;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_path(const char *opt, const char *arg, const char **out)
{
	if (!*arg || strlen(arg) >= PATH_MAX)
		return bad_usage("%s needs a non-empty path", opt);
	*out = arg;
	return 0;
}

enum {
	OPT_BPFFS = 256,
	OPT_SOCKET,
	OPT_STATE_DIR,
	OPT_NODE_NAME,
	OPT_POD_CIDR,
	OPT_CLUSTER_CIDR,
	OPT_SERVICE_CIDR,
	OPT_CGROUP,
	OPT_CT_MAX,
	OPT_MAGLEV_SIZE,
	OPT_ATTACH,
	OPT_VERSION,
};

static const struct option options[] = {
    {"bpffs", required_argument, NULL, OPT_BPFFS},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"node-name", required_argument, NULL, OPT_NODE_NAME},
    {"pod-cidr", required_argument, NULL, OPT_POD_CIDR},
    {"cluster-cidr", required_argument, NULL, OPT_CLUSTER_CIDR},
    {"service-cidr", required_argument, NULL, OPT_SERVICE_CIDR},
    {"cgroup", required_argument, NULL, OPT_CGROUP},
    {"ct-max", required_argument, NULL, OPT_CT_MAX},
    {"maglev-size", required_argument, NULL, OPT_MAGLEV_SIZE},
    {"attach", required_argument, NULL, OPT_ATTACH},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {0},
};

/* Returns 0 to go on, 1 to exit 0 (help, version), 2 on bad usage. */
static int parse_flags(int argc, char **argv, int *verbosity)
{
	static char hostname[256];
	const char *env;
	int c, ret;

	ctl.bpffs = (env = getenv(SL_ENV_BPFFS)) && *env ? env : SL_DEFAULT_BPFFS;
	ctl.socket_path = (env = getenv(SL_ENV_SOCKET)) && *env ? env : SL_DEFAULT_SOCKET;
	ctl.state_dir = SL_DEFAULT_STATE_DIR;
	ctl.ct_max = SL_CT_MAX_DEFAULT;
	ctl.maglev_size = SL_MAGLEV_M_DEFAULT;
	if (sl_cidr_parse(SL_DEFAULT_CLUSTER_CIDR, &ctl.cluster_cidr, false) ||
	    sl_cidr_parse(SL_DEFAULT_SERVICE_CIDR, &ctl.service_cidr, false))
		return bad_usage("%s", "built-in default CIDRs do not parse");

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", options, NULL)) != -1) {
		ret = 0;
		switch (c) {
		case OPT_BPFFS:
			ret = parse_path("--bpffs", optarg, &ctl.bpffs);
			break;
		case OPT_SOCKET:
			ret = parse_path("--socket", optarg, &ctl.socket_path);
			if (!ret && strlen(optarg) >= 108)
				ret = bad_usage(
				    "--socket '%s': longer than a UNIX socket path can be (107)",
				    optarg);
			break;
		case OPT_STATE_DIR:
			ret = parse_path("--state-dir", optarg, &ctl.state_dir);
			break;
		case OPT_CGROUP:
			ret = parse_path("--cgroup", optarg, &ctl.cgroup);
			break;
		case OPT_NODE_NAME:
			if (!*optarg || strlen(optarg) > 253)
				return bad_usage("--node-name '%s': must be 1-253 characters",
						 optarg);
			ctl.node_name = optarg;
			break;
		case OPT_POD_CIDR:
			if (sl_cidr_parse(optarg, &ctl.pod_cidr, false))
				return bad_usage("--pod-cidr '%s': not a CIDR with host bits zero "
						 "(e.g. 10.244.1.0/24)",
						 optarg);
			ctl.have_pod_cidr = true;
			break;
		case OPT_CLUSTER_CIDR:
			if (sl_cidr_parse(optarg, &ctl.cluster_cidr, false))
				return bad_usage(
				    "--cluster-cidr '%s': not a CIDR with host bits zero", optarg);
			break;
		case OPT_SERVICE_CIDR:
			if (sl_cidr_parse(optarg, &ctl.service_cidr, false))
				return bad_usage(
				    "--service-cidr '%s': not a CIDR with host bits zero", optarg);
			break;
		case OPT_CT_MAX:
			if (parse_uint(optarg, 1u << 26, &ctl.ct_max))
				return bad_usage(
				    "--ct-max '%s': must be an integer from 1 to 67108864", optarg);
			break;
		case OPT_MAGLEV_SIZE:
			if (parse_uint(optarg, SL_MAGLEV_M_MAX, &ctl.maglev_size) ||
			    !is_prime(ctl.maglev_size))
				return bad_usage(
				    "--maglev-size '%s': must be a prime no larger than 65521",
				    optarg);
			break;
		case OPT_ATTACH:
			if (sl_attach_mode_parse(optarg, &ctl.attach_mode))
				return bad_usage("--attach '%s': must be tc or tcx", optarg);
			break;
		case 'v':
			(*verbosity)++;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case OPT_VERSION:
			printf("sluiced %s\n", SL_VERSION);
			return 1;
		case ':':
			return bad_usage("option '%s' needs an argument", argv[optind - 1]);
		default:
			return bad_usage("unknown option '%s'", argv[optind - 1]);
		}
		if (ret)
			return ret;
	}
	if (optind < argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	if (ctl.attach_mode == SL_ATTACH_TCX && !sl_tcx_supported())
		return bad_usage("--attach %s: this kernel has no tcx (6.6 or later has; "
				 "use tc)",
				 "tcx");
	if (ctl.pod_cidr.family && ctl.have_pod_cidr &&
	    ctl.pod_cidr.family == ctl.cluster_cidr.family &&
	    !sl_cidr_contains(&ctl.cluster_cidr, &ctl.pod_cidr.addr, ctl.pod_cidr.family))
		pr_warn("--pod-cidr is outside --cluster-cidr\n");
	if (!ctl.node_name) {
		if (gethostname(hostname, sizeof(hostname) - 1) < 0 || !hostname[0])
			return bad_usage("%s", "no --node-name and no hostname");
		ctl.node_name = hostname;
	}
	return 0;
}

/* sluice_backend came back empty (a new layout): backend ids start anew,
 * so the frontend entries kept in conntrack name ids that will mean other
 * backends. Their flows choose again on their next packet (Maglev gives
 * most the same backend; the connection entries stay). */
static void forget_backend_ids(void)
{
	int fd = ctl_map_fd(SL_MAP_CT);
	size_t n = 0;

	if (fd < 0 || ctgc_purge_fronts(fd, &n))
		return; /* logged; the datapath re-checks backends once a second */
	ctgc_count_purged(n);
	pr_info("%s was replaced: %zu conntrack frontend entries dropped\n", SL_MAP_BACKEND, n);
}

int main(int argc, char **argv)
{
	int verbosity = 0, ret;

	ret = parse_flags(argc, argv, &verbosity);
	if (ret)
		return ret == 1 ? 0 : 2;
	sl_log_init("sluiced", verbosity > 2 ? SL_LOG_DEBUG : SL_LOG_WARN + verbosity);
	sl_log_libbpf();
	ctl_start_time = time(NULL);

	ret = datapath_init();
	if (ret)
		goto out;
	/* On an upgrade the new programs are pinned but attached nowhere yet,
	 * and a map whose layout changed was replaced by an empty one. Every
	 * map the endpoints and the model fill (endpoints, ipcache, Services,
	 * policy) is refilled BEFORE datapath_commit() moves the cgroup hooks
	 * and the veths to the new programs: until then the old programs keep
	 * serving from the old maps, so no connection meets an empty map. */
	ret = endpoints_init();
	if (ret)
		goto out_dp;
	/* The model may tell the endpoints about identities while it loads,
	 * so it starts after them. */
	ret = model_init();
	if (ret) {
		pr_warn("couldn't initialise the model: %s\n", strerror(-ret));
		goto out_ep;
	}
	endpoints_refresh_identities();
	/* The policy maps are rewritten to match the model before we serve:
	 * nothing else would trigger a recompute after a restart. */
	if (policy_sync() < 0)
		pr_warn("policy maps not resynced at start; retried on the next change\n");
	/* Upgrade: move every hook to the new programs before saying the new
	 * build is in place. */
	ret = datapath_commit();
	if (ret)
		goto out_model;
	/* After the commit: until then the old programs kept adding entries
	 * that name the old backend ids. */
	if (datapath_map_replaced(SL_MAP_BACKEND) && !datapath_map_replaced(SL_MAP_CT))
		forget_backend_ids();
	ctl_ready = true;
	pr_info("ready: node %s, pin root %s, socket %s\n", ctl.node_name, ctl.bpffs,
		ctl.socket_path);
	ret = server_run();

	ctl_ready = false;
out_model:
	model_fini();
out_ep:
	endpoints_fini();
out_dp:
	/* A failed start leaves the previous programs on their maps (a no-op
	 * once datapath_commit() succeeded). */
	if (ret)
		datapath_abort();
	datapath_fini();
out:
	return ret ? 1 : 0;
}
