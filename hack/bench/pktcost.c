// SPDX-License-Identifier: Apache-2.0
/*
 * pktcost: per-packet cost of from_pod through BPF_PROG_TEST_RUN, against
 * an empty tc program (tests/datapath/bench_empty.bpf.c).
 *
 *   pktcost [-n CALLS] svc      plain pod-to-pod and ClusterIP packets with
 *                               1, 1000 and 10000 Services in the maps
 *   pktcost [-n CALLS] policy   pod-to-pod with 0, 1, 100 and 10000
 *                               NetworkPolicies compiled into the maps
 *
 * The maps are filled by the controller's own code, in process: Services
 * and EndpointSlices go through kind_service/kind_endpointslice (validate
 * + apply, i.e. controller/services.c's writer), NetworkPolicies through
 * kind_networkpolicy.validate and the policy compiler (polc_*) of
 * controller/policy.c, whose entries are written as policy_sync writes them.
 *
 * Method: one BPF_PROG_TEST_RUN per packet (repeat = 1) and the kernel's
 * `duration` of that run, CALLS times per case. Every configuration (1,
 * 1000, 10000 Services; 0, 1, 100, 10000 policies) is its own from_pod
 * instance with its own maps, so all cases run interleaved in ROUNDS
 * rounds: load from other work falls on every case alike (see run_cases). repeat > 1
 * cannot be used: the kernel runs the program again on the same buffer,
 * which from_pod has rewritten (DNAT, MACs, TTL - 1), so iterations after
 * the first would measure another path (and hit TTL exceeded). The empty
 * program is measured the same way, so the delta excludes the test-run
 * harness (timer reads, bh disable) and only the program's work remains.
 *
 * Runs in a private network namespace (unshare; it dies with the process)
 * holding two veth pairs, so the skb can arrive "on" a pod's host veth.
 * Maps are not pinned: nothing outside this process is touched.
 * Output: one line per case, "case=<name> n=<N> best_ns=<x> median_ns=<y>
 * vs_<ref>=<paired ratio> ..." (parsed by hack/bench/svc.sh and policy.sh).
 * PKTCOST_ONLY=<case> runs only that case (for profiling with perf record).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include <sluice/common.h>
#include <sluice/endpoint.h>
#include <sluice/ipcache.h>
#include <sluice/metrics.h>
#include <sluice/lb.h>
#include <sluice/policy.h>

#include "controller/ctl.h"
#include "controller/kinds.h"
#include "controller/policy.h"
#include "controller/services.h"

#include "from_pod.skel.h"
#include "bench_empty.skel.h"

#define A_IP "10.244.0.10" /* client pod, host veth hva */
#define B_IP "10.244.0.11" /* server pod, host veth hvb */
#define A_EP 10
#define B_EP 11
#define A_ID 300
#define B_ID 301
#define VIP "10.96.0.10" /* the Service under test: port 80 -> B:8080 */
static const uint8_t A_MAC[6] = { 0x02, 0xaa, 0, 0, 0, 0x0a };
static const uint8_t A_HMAC[6] = { 0x02, 0xee, 0, 0, 0, 0x0a };
static const uint8_t B_MAC[6] = { 0x02, 0xaa, 0, 0, 0, 0x0b };
static const uint8_t B_HMAC[6] = { 0x02, 0xee, 0, 0, 0, 0x0b };

#define FRAME_MAX 256
#define WARMUP 2000

static unsigned int n_calls = 100000;
static struct from_pod *fp; /* the instance the helpers below act on */
static struct bench_empty *empty;
static uint32_t a_if, b_if;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("pktcost: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		die("bad address %s", s);
	return a.s_addr;
}

/* ---- packets ---------------------------------------------------------- */

static uint32_t sum16(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An Ethernet/IPv4/TCP frame from pod A (valid checksums, 6 bytes of
 * payload) into buf; returns its length. Ports in host order. */
static size_t frame(uint8_t *buf, uint32_t daddr, uint16_t sport, uint16_t dport, uint8_t flags)
{
	uint8_t f[FRAME_MAX] __attribute__((aligned(4)));
	struct ethhdr *eth = (struct ethhdr *)(f + 2);
	struct iphdr *ip = (struct iphdr *)(f + 2 + ETH_HLEN);
	struct tcphdr *th = (struct tcphdr *)(ip + 1);
	size_t l4len = sizeof(*th) + 6;
	uint32_t ps;

	memset(f, 0, sizeof(f));
	memcpy(eth->h_dest, A_HMAC, 6);
	memcpy(eth->h_source, A_MAC, 6);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->tot_len = htons(sizeof(*ip) + l4len);
	ip->saddr = ip4(A_IP);
	ip->daddr = daddr;
	ip->check = htons(fold(sum16(ip, sizeof(*ip), 0)));
	th->source = htons(sport);
	th->dest = htons(dport);
	th->seq = htonl(1000);
	th->ack_seq = htonl(flags & 0x10 ? 2000 : 0);
	th->doff = 5;
	((uint8_t *)th)[13] = flags;
	th->window = htons(65535);
	memcpy((uint8_t *)(th + 1), "benchy", 6);
	ps = sum16(&ip->saddr, 8, 0) + IPPROTO_TCP + l4len;
	th->check = htons(fold(sum16(th, l4len, ps)));
	memcpy(buf, eth, ETH_HLEN + sizeof(*ip) + l4len);
	return ETH_HLEN + sizeof(*ip) + l4len;
}

/* ---- measuring -------------------------------------------------------- */

struct pkt_gen {
	uint32_t daddr;
	uint16_t dport;
	uint16_t sport;      /* fixed source port (established flows) */
	bool vary_sport;     /* a new connection per packet */
	uint16_t sport_base; /* first source port when varying */
	uint8_t flags;       /* TCP flags */
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

#define ROUNDS 10
#define MAX_CASES 24
#define MAX_FIRST 30000 /* new connections per case (source ports, conntrack room) */

/* One measured case: a program, a packet generator, and the durations. */
struct bcase {
	char name[48];
	const struct bpf_program *prog;
	struct pkt_gen g;
	int want;                   /* expected verdict of every run */
	unsigned int calls, done;   /* total calls, calls made so far */
	uint32_t *d;                /* kernel duration of every call (ns) */
	unsigned int med[ROUNDS];   /* median of each round */
	const struct bcase *ref;    /* compared round by round with this one, or NULL */
};

static struct bcase cases[MAX_CASES];
static unsigned int n_cases;

static struct bcase *add_case(const char *name, const struct bpf_program *prog,
			      const struct pkt_gen *g, int want)
{
	struct bcase *c = &cases[n_cases++];

	if (n_cases > MAX_CASES)
		die("too many cases");
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->prog = prog;
	c->g = *g;
	c->want = want;
	c->calls = g->vary_sport && n_calls > MAX_FIRST ? MAX_FIRST : n_calls;
	c->calls -= c->calls % ROUNDS;
	c->d = calloc(c->calls, sizeof(*c->d));
	if (!c->d)
		die("out of memory");
	return c;
}

/* Run prog n times on packets from g (arriving on pod A's host veth); every
 * run must return want. Durations go to d (may be NULL). Source ports of
 * varying generators continue from *next. */
static void run_calls(const char *name, const struct bpf_program *prog, const struct pkt_gen *g,
		      int want, unsigned int n, uint32_t *d, unsigned int *next)
{
	uint8_t in[FRAME_MAX], out[FRAME_MAX];
	struct __sk_buff ctx = { .ifindex = a_if };
	size_t len = 0;

	if (!g->vary_sport)
		len = frame(in, g->daddr, g->sport, g->dport, g->flags);
	for (unsigned int i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_out = out,
			    .data_size_out = sizeof(out), .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
			    .repeat = 1);

		if (g->vary_sport) {
			if (g->sport_base + *next > 65535)
				die("%s: out of source ports", name);
			len = frame(in, g->daddr, (uint16_t)(g->sport_base + (*next)++), g->dport,
				    g->flags);
		}
		o.data_size_in = (uint32_t)len;
		if (bpf_prog_test_run_opts(bpf_program__fd(prog), &o))
			die("%s: BPF_PROG_TEST_RUN of %s: %s", name, bpf_program__name(prog),
			    strerror(errno));
		if ((int)o.retval != want)
			die("%s: run returned %d, want %d (wrong path: the figures would lie)", name,
			    (int)o.retval, want);
		if (d)
			d[i] = o.duration;
	}
}

/* Send one packet (a SYN setting up an established case). */
static void run_once(const char *name, const struct bpf_program *prog, const struct pkt_gen *g,
		     int want)
{
	unsigned int next = 0;

	run_calls(name, prog, g, want, 1, NULL, &next);
}

static unsigned int median_of(uint32_t *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_u32);
	return v[n / 2];
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Run every case in ROUNDS rounds, the cases interleaved inside each round,
 * so that load from other work on the machine falls on all cases alike.
 * Prints one line per case:
 *   best_ns     lowest round median (the least disturbed round): the cost
 *   median_ns   median of all calls
 *   vs_REF      median over rounds of (this case's round median / its
 *               reference case's round median in the same round): a paired
 *               ratio, robust against drifting load (e.g. 10000 Services
 *               against 1 Service)
 * PKTCOST_ONLY=CASE runs only that case (e.g. under perf record).
 */
static void run_cases(void)
{
	const char *only = getenv("PKTCOST_ONLY");
	unsigned int next[MAX_CASES] = { 0 };

	for (unsigned int c = 0; c < n_cases; c++) /* warm caches and the JIT */
		if (!only || !strcmp(only, cases[c].name))
			run_calls(cases[c].name, cases[c].prog, &cases[c].g, cases[c].want,
				  cases[c].g.vary_sport ? 200 : WARMUP, NULL, &next[c]);
	for (unsigned int r = 0; r < ROUNDS; r++) {
		for (unsigned int c = 0; c < n_cases; c++) {
			struct bcase *k = &cases[c];
			unsigned int per = k->calls / ROUNDS;
			uint32_t *tmp;

			if (only && strcmp(only, k->name))
				continue;
			run_calls(k->name, k->prog, &k->g, k->want, per, k->d + k->done, &next[c]);
			tmp = malloc(per * sizeof(*tmp));
			if (!tmp)
				die("out of memory");
			memcpy(tmp, k->d + k->done, per * sizeof(*tmp));
			k->med[r] = median_of(tmp, per);
			free(tmp);
			k->done += per;
		}
	}
	for (unsigned int c = 0; c < n_cases; c++) {
		struct bcase *k = &cases[c];
		unsigned int best = UINT32_MAX;
		double ratio[ROUNDS];
		char vs[96] = "";

		if (only && strcmp(only, k->name))
			continue;
		for (unsigned int r = 0; r < ROUNDS; r++) {
			if (k->med[r] < best)
				best = k->med[r];
			ratio[r] = k->ref && k->ref->med[r] ? (double)k->med[r] / k->ref->med[r] : 0;
		}
		qsort(ratio, ROUNDS, sizeof(*ratio), cmp_double);
		if (k->ref && !only)
			snprintf(vs, sizeof(vs), " vs_%s=%.3f", k->ref->name, ratio[ROUNDS / 2]);
		qsort(k->d, k->calls, sizeof(*k->d), cmp_u32);
		printf("case=%s n=%u best_ns=%u median_ns=%u p10_ns=%u p90_ns=%u%s\n", k->name,
		       k->calls, best, k->d[k->calls / 2], k->d[k->calls / 10],
		       k->d[k->calls * 9 / 10], vs);
	}
	for (unsigned int c = 0; c < n_cases; c++)
		free(cases[c].d);
	fflush(stdout);
}

/* ---- the world -------------------------------------------------------- */

static uint32_t veth(const char *host, const char *peer)
{
	char cmd[160];
	uint32_t idx;

	snprintf(cmd, sizeof(cmd), "ip link add %s type veth peer name %s", host, peer);
	if (system(cmd))
		die("'%s' failed (needs root)", cmd);
	idx = if_nametoindex(host);
	if (!idx)
		die("if_nametoindex(%s): %s", host, strerror(errno));
	return idx;
}

static void add_ep(const char *ip, uint32_t ifindex, uint32_t ep_id, uint32_t identity,
		   const uint8_t mac[6], const uint8_t hmac[6])
{
	struct ep_key k = { .family = SL_AF_INET };
	struct ep_info v = { .ifindex = ifindex, .ep_id = ep_id, .identity = identity };
	struct ipcache_key ik = { .prefixlen = SL_IPCACHE_PREFIX_BASE + 32, .family = SL_AF_INET };
	struct ipcache_val iv = { .identity = identity, .flags = SL_IPC_F_LOCAL };
	int ncpu = libbpf_num_possible_cpus();
	struct ep_stats *st = calloc(ncpu, sizeof(*st));
	struct ep_slot slot;
	uint32_t idx;

	k.addr.v4 = ip4(ip);
	ik.addr.v4 = k.addr.v4;
	memcpy(v.mac, mac, 6);
	memcpy(v.host_mac, hmac, 6);
	/* As sluiced's endpoints module writes them: sluice_ep, then the slot. */
	slot = (struct ep_slot){ .addr = k.addr.v4, .info = v };
	idx = SL_EP_SLOT(ntohl(k.addr.v4));
	if (!st || bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_ep), &k, &v, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_ep_slots), &idx, &slot, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_ipcache), &ik, &iv, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_ep_stats), &ep_id, st, BPF_ANY))
		die("endpoint %s: %s", ip, strerror(errno));
	free(st);
}

/* Delete every key of a map (conntrack between cases, policy maps
 * between policy counts). */
static void map_clear(const struct bpf_map *m)
{
	int fd = bpf_map__fd(m);
	size_t ks = bpf_map__key_size(m);
	uint8_t *keys = NULL, k[64];
	size_t n = 0, cap = 0;

	while (!bpf_map_get_next_key(fd, n ? keys + (n - 1) * ks : NULL, k)) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			keys = realloc(keys, cap * ks);
			if (!keys)
				die("out of memory");
		}
		memcpy(keys + n++ * ks, k, ks);
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, keys + i * ks);
	free(keys);
}

/* A loaded from_pod with its own (unpinned) maps and the two pods;
 * becomes the current instance (fp). */
static struct from_pod *inst_new(void)
{
	struct bpf_map *m;

	fp = from_pod__open();
	if (!fp)
		die("open from_pod: %s", strerror(errno));
	bpf_object__for_each_map(m, fp->obj)
		bpf_map__set_pin_path(m, NULL);
	if (from_pod__load(fp))
		die("load from_pod: %s", strerror(errno));
	add_ep(A_IP, a_if, A_EP, A_ID, A_MAC, A_HMAC);
	add_ep(B_IP, b_if, B_EP, B_ID, B_MAC, B_HMAC);
	return fp;
}

static void setup(void)
{
	if (unshare(CLONE_NEWNET))
		die("unshare(CLONE_NEWNET): %s (needs root)", strerror(errno));
	a_if = veth("hva", "pa");
	b_if = veth("hvb", "pb");
	empty = bench_empty__open_and_load();
	if (!empty)
		die("load bench_empty: %s", strerror(errno));
}

/* ---- Services --------------------------------------------------------- */

static json_t *validated(const struct kind_ops *k, json_t *o)
{
	char err[512] = "";

	if (!o || k->validate(o, err, sizeof(err)))
		die("%s: invalid object: %s", k->kind, err);
	return o;
}

static json_t **objs;
static size_t n_objs, cap_objs;

/* Apply a new object through the kind's handler; kept until exit. */
static void apply_new(const struct kind_ops *k, json_t *o)
{
	char err[512] = "";

	validated(k, o);
	if (k->apply(NULL, o, err, sizeof(err)))
		die("%s apply: %s", k->kind, err);
	if (n_objs == cap_objs) {
		cap_objs = cap_objs ? cap_objs * 2 : 1024;
		objs = realloc(objs, cap_objs * sizeof(*objs));
		if (!objs)
			die("out of memory");
	}
	objs[n_objs++] = o;
}

static void add_service(const char *name, const char *vip, const char *ep1, const char *ep2)
{
	json_t *eps = json_array();

	json_array_append_new(eps, json_pack("{s:[s],s:{s:b}}", "addresses", ep1, "conditions",
					     "ready", 1));
	if (ep2)
		json_array_append_new(eps, json_pack("{s:[s],s:{s:b}}", "addresses", ep2,
						     "conditions", "ready", 1));
	apply_new(&kind_service,
		  json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:[{s:s,s:i,s:i,s:s}]}}", "apiVersion", "v1",
			    "kind", "Service", "metadata", "namespace", "bench", "name", name, "spec",
			    "clusterIP", vip, "ports", "name", "http", "port", 80, "targetPort", 8080,
			    "protocol", "TCP"));
	apply_new(&kind_endpointslice,
		  json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:s,s:o,s:[{s:s,s:i,s:s}]}", "apiVersion",
			    "discovery.k8s.io/v1", "kind", "EndpointSlice", "metadata", "namespace",
			    "bench", "name", name, "labels", "kubernetes.io/service-name", name,
			    "addressType", "IPv4", "endpoints", eps, "ports", "name", "http", "port",
			    8080, "protocol", "TCP"));
}

static unsigned int n_services;

/* Install n Services (the one under test included) into the maps of the
 * current instance, through controller/services.c. */
static void services_install(unsigned int n)
{
	char name[32], vip[32], e1[32], e2[32];

	ctl.node_name = "bench-node";
	/* Resets the writer's model: every instance gets its own set. */
	services_use_maps(bpf_map__fd(fp->maps.sluice_svc), bpf_map__fd(fp->maps.sluice_backend),
			  bpf_map__fd(fp->maps.sluice_maglev), bpf_map__fd(fp->maps.sluice_revnat),
			  bpf_map__fd(fp->maps.sluice_affinity), fp->rodata->maglev_m);
	n_services = 0;
	if (!n_services) {
		add_service("target", VIP, B_IP, NULL);
		n_services = 1;
	}
	for (; n_services < n; n_services++) {
		unsigned int i = n_services;

		snprintf(name, sizeof(name), "filler-%u", i);
		snprintf(vip, sizeof(vip), "10.100.%u.%u", i / 250, i % 250 + 1);
		snprintf(e1, sizeof(e1), "10.245.%u.%u", i / 120, (i % 120) * 2 + 1);
		snprintf(e2, sizeof(e2), "10.245.%u.%u", i / 120, (i % 120) * 2 + 2);
		add_service(name, vip, e1, e2);
	}
}

/* ---- NetworkPolicies -------------------------------------------------- */

/* Policy i: every pod of namespace bench, both directions; ingress from
 * app=client on TCP 10000+i, egress to app=server on TCP 10000+i. Every
 * 10th also has ipBlock peers (CIDR classes in sluice_pol_cidr); policy 0's
 * egress block covers B's address except B itself, so a denied packet to B
 * walks all four lookups of datapath/lib/policy.h. */
static json_t *policy_obj(unsigned int i)
{
	char name[32], cidr[32], exc[32];
	json_t *from, *to, *o;

	snprintf(name, sizeof(name), "p%u", i);
	from = json_pack("[{s:{s:{s:s}}}]", "podSelector", "matchLabels", "app", "client");
	to = json_pack("[{s:{s:{s:s}}}]", "podSelector", "matchLabels", "app", "server");
	if (i % 10 == 0) {
		snprintf(cidr, sizeof(cidr), "10.%u.%u.0/24", i / 2560, (i / 10) % 256);
		snprintf(exc, sizeof(exc), "10.%u.%u.0/28", i / 2560, (i / 10) % 256);
		json_array_append_new(from, json_pack("{s:{s:s,s:[s]}}", "ipBlock", "cidr", cidr,
						      "except", exc));
		json_array_append_new(to, json_pack("{s:{s:s}}", "ipBlock", "cidr", cidr));
	}
	if (i == 0)
		json_array_append_new(to, json_pack("{s:{s:s,s:[s]}}", "ipBlock", "cidr",
						    "10.244.0.0/16", "except", B_IP "/32"));
	o = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:{},s:[s,s],s:[{s:o,s:[{s:s,s:i}]}],"
		      "s:[{s:o,s:[{s:s,s:i}]}]}}",
		      "apiVersion", "networking.k8s.io/v1", "kind", "NetworkPolicy", "metadata",
		      "namespace", "bench", "name", name, "spec", "podSelector", "policyTypes",
		      "Ingress", "Egress", "ingress", "from", from, "ports", "protocol", "TCP", "port",
		      10000 + i, "egress", "to", to, "ports", "protocol", "TCP", "port", 10000 + i);
	return validated(&kind_networkpolicy, o);
}

static void write_compiled(const struct polc_ep *e, size_t *n_pol, size_t *n_exact, size_t *n_cidr)
{
	int fd_pol = bpf_map__fd(fp->maps.sluice_pol), fd_cidr = bpf_map__fd(fp->maps.sluice_pol_cidr);
	int fd_exact = bpf_map__fd(fp->maps.sluice_pol_exact);
	int fd_ep = bpf_map__fd(fp->maps.sluice_pol_ep);

	/* policy_sync's order: allowing entries before isolation; ports and
	 * "any" entries in the hash, ranges in the LPM (polc_entry_exact). */
	for (size_t i = 0; i < e->n_entries; i++) {
		struct pol_exact_key ek;

		if (polc_entry_exact(&e->entries[i].key, &ek)) {
			if (bpf_map_update_elem(fd_exact, &ek, &e->entries[i].val, BPF_ANY))
				die("sluice_pol_exact update: %s", strerror(errno));
			(*n_exact)++;
		} else {
			if (bpf_map_update_elem(fd_pol, &e->entries[i].key, &e->entries[i].val,
						BPF_ANY))
				die("sluice_pol update: %s", strerror(errno));
			(*n_pol)++;
		}
	}
	for (size_t i = 0; i < e->n_cidrs; i++)
		if (bpf_map_update_elem(fd_cidr, &e->cidrs[i].key, &e->cidrs[i].val, BPF_ANY))
			die("sluice_pol_cidr update: %s", strerror(errno));
	if (e->ep.flags && bpf_map_update_elem(fd_ep, &e->ep_id, &e->ep, BPF_ANY))
		die("sluice_pol_ep update: %s", strerror(errno));
	*n_cidr += e->n_cidrs;
}

/* Compile n policies for pods A and B (namespace bench) and write them. */
static void policies_install(unsigned int n)
{
	json_t *ns_labels = json_pack("{s:s}", "kubernetes.io/metadata.name", "bench");
	json_t *la = json_pack("{s:s}", "app", "client"), *lb = json_pack("{s:s}", "app", "server");
	json_t **pj = calloc(n + 1, sizeof(*pj));
	struct polc_identity ids[2] = {
		{ .id = A_ID, .ns = "bench", .labels = la, .ns_labels = ns_labels },
		{ .id = B_ID, .ns = "bench", .labels = lb, .ns_labels = ns_labels },
	};
	struct polc_pod pods[2] = {
		{ .ns = "bench", .name = "a", .labels = la, .identity = A_ID, .n_ips = 1 },
		{ .ns = "bench", .name = "b", .labels = lb, .identity = B_ID, .n_ips = 1 },
	};
	struct polc_world w = { .ids = ids, .n_ids = 2, .pods = pods, .n_pods = 2 };
	struct polc_ep ea = { 0 }, eb = { 0 };
	size_t n_pol = 0, n_exact = 0, n_cidr = 0;
	struct timespec t0, t1;
	char err[512];

	if (!pj || sl_cidr_parse(A_IP, &pods[0].ips[0], false) ||
	    sl_cidr_parse(B_IP, &pods[1].ips[0], false))
		die("policy world setup failed");
	w.policies = calloc(n + 1, sizeof(*w.policies));
	if (!w.policies)
		die("out of memory");
	map_clear(fp->maps.sluice_pol_ep);
	map_clear(fp->maps.sluice_pol);
	map_clear(fp->maps.sluice_pol_exact);
	map_clear(fp->maps.sluice_pol_cidr);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned int i = 0; i < n; i++) {
		pj[i] = policy_obj(i);
		if (polc_policy_parse(pj[i], i + 1, &w.policies[i], err, sizeof(err)))
			die("policy %u: %s", i, err);
		w.n_policies++;
	}
	if (polc_world_index(&w) || polc_compile_ep(&w, &pods[0], A_EP, &ea) ||
	    polc_compile_ep(&w, &pods[1], B_EP, &eb))
		die("policy compile failed");
	write_compiled(&ea, &n_pol, &n_exact, &n_cidr);
	write_compiled(&eb, &n_pol, &n_exact, &n_cidr);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# policies=%u sluice_pol_exact=%zu sluice_pol=%zu sluice_pol_cidr=%zu (compiled by "
	       "controller/policy.c and written in %.2f s)\n",
	       n, n_exact, n_pol, n_cidr, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	polc_ep_free(&ea);
	polc_ep_free(&eb);
	polc_world_free(&w);
	free(w.policies);
	for (unsigned int i = 0; i < n; i++)
		json_decref(pj[i]);
	free(pj);
	json_decref(la);
	json_decref(lb);
	json_decref(ns_labels);
}

static long map_count(const struct bpf_map *m)
{
	uint8_t k[64], prev[64];
	long n = 0;

	while (!bpf_map_get_next_key(bpf_map__fd(m), n ? prev : NULL, k)) {
		memcpy(prev, k, sizeof(k));
		n++;
	}
	return n;
}

static double secs_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The ClusterIP SYN must leave translated to B:8080 (the path is right). */
static void check_translated(void)
{
	uint8_t in[FRAME_MAX], out[FRAME_MAX];
	struct __sk_buff ctx = { .ifindex = a_if };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		    .repeat = 1);
	struct iphdr ip;

	o.data_size_in = (uint32_t)frame(in, ip4(VIP), 39999, 80, 0x02);
	if (bpf_prog_test_run_opts(bpf_program__fd(fp->progs.from_pod), &o) ||
	    o.retval != TC_ACT_REDIRECT)
		die("ClusterIP SYN: error %s, verdict %u", strerror(errno), o.retval);
	memcpy(&ip, out + ETH_HLEN, sizeof(ip));
	if (ip.daddr != ip4(B_IP))
		die("ClusterIP SYN was not translated to %s", B_IP);
}

static void run_svc(void)
{
	static const unsigned int sizes[] = { 1, 1000, 10000 };
	struct pkt_gen p_est = { .daddr = ip4(B_IP), .dport = 8080, .sport = 40000, .flags = 0x10 };
	struct pkt_gen p_syn = { .daddr = ip4(B_IP), .dport = 8080, .sport = 40000, .flags = 0x02 };
	struct pkt_gen p_first = { .daddr = ip4(B_IP), .dport = 8080, .vary_sport = true,
				   .sport_base = 1024, .flags = 0x02 };
	struct pkt_gen est = { .daddr = ip4(VIP), .dport = 80, .sport = 41000, .flags = 0x10 };
	struct pkt_gen syn = { .daddr = ip4(VIP), .dport = 80, .sport = 41000, .flags = 0x02 };
	struct pkt_gen first = { .daddr = ip4(VIP), .dport = 80, .vary_sport = true,
				 .sport_base = 1024, .flags = 0x02 };
	struct bcase *p2p_est = NULL, *p2p_first = NULL, *est1 = NULL, *first1 = NULL, *k;
	struct from_pod *inst[3];
	char name[64];

	add_case("empty", empty->progs.bench_empty, &p_est, TC_ACT_OK);
	for (size_t s = 0; s < 3; s++) {
		struct timespec t0;

		inst[s] = inst_new();
		clock_gettime(CLOCK_MONOTONIC, &t0);
		services_install(sizes[s]);
		printf("# services=%u sluice_svc=%ld sluice_backend=%ld sluice_maglev=%ld "
		       "(installed through controller/services.c in %.2f s)\n",
		       sizes[s], map_count(fp->maps.sluice_svc), map_count(fp->maps.sluice_backend),
		       map_count(fp->maps.sluice_maglev), secs_since(&t0));
		check_translated();
		if (s == 0) { /* plain pod-to-pod, on the 1-Service instance */
			run_once("p2p_syn", fp->progs.from_pod, &p_syn, TC_ACT_REDIRECT);
			p2p_est = add_case("p2p_est", fp->progs.from_pod, &p_est, TC_ACT_REDIRECT);
			p2p_first = add_case("p2p_first", fp->progs.from_pod, &p_first, TC_ACT_REDIRECT);
		}
		run_once("svc_syn", fp->progs.from_pod, &syn, TC_ACT_REDIRECT);
		snprintf(name, sizeof(name), "svc%u_est", sizes[s]);
		k = add_case(name, fp->progs.from_pod, &est, TC_ACT_REDIRECT);
		k->ref = s == 0 ? p2p_est : est1;
		if (s == 0)
			est1 = k;
		snprintf(name, sizeof(name), "svc%u_first", sizes[s]);
		/* Other source ports than p2p_first, which shares the instance. */
		first.sport_base = s == 0 ? 1024 + MAX_FIRST + 400 : 1024;
		k = add_case(name, fp->progs.from_pod, &first, TC_ACT_REDIRECT);
		k->ref = s == 0 ? p2p_first : first1;
		if (s == 0)
			first1 = k;
	}
	fflush(stdout);
	run_cases();
	services_reset();
	for (size_t s = 0; s < 3; s++)
		from_pod__destroy(inst[s]);
}

static void run_policy(void)
{
	static const unsigned int counts[] = { 0, 1, 100, 10000 };
	struct pkt_gen p_est = { .daddr = ip4(B_IP), .dport = 8080, .sport = 40000, .flags = 0x10 };
	struct bcase *ref[3] = { NULL }, *k; /* first, est, denied of the previous count */
	struct bcase *one[3] = { NULL };     /* ... of 1 policy */
	struct from_pod *inst[4];
	char name[64];

	add_case("empty", empty->progs.bench_empty, &p_est, TC_ACT_OK);
	for (size_t c = 0; c < 4; c++) {
		unsigned int n = counts[c];
		uint16_t port = (uint16_t)(10000 + n / 2);
		struct pkt_gen first = { .daddr = ip4(B_IP), .dport = port, .vary_sport = true,
					 .sport_base = 1024, .flags = 0x02 };
		struct pkt_gen syn = { .daddr = ip4(B_IP), .dport = port, .sport = 42000,
				       .flags = 0x02 };
		struct pkt_gen est = { .daddr = ip4(B_IP), .dport = port, .sport = 42000,
				       .flags = 0x10 };
		struct pkt_gen deny = { .daddr = ip4(B_IP), .dport = 9999, .sport = 42001,
					.flags = 0x02 };

		inst[c] = inst_new();
		policies_install(n);
		run_once("pol_syn", fp->progs.from_pod, &syn, TC_ACT_REDIRECT);
		/* References: 1 policy against 0, more against 1. */
		snprintf(name, sizeof(name), "pol%u_first", n);
		k = add_case(name, fp->progs.from_pod, &first, TC_ACT_REDIRECT);
		k->ref = n <= 1 ? ref[0] : one[0];
		ref[0] = k;
		snprintf(name, sizeof(name), "pol%u_est", n);
		k = add_case(name, fp->progs.from_pod, &est, TC_ACT_REDIRECT);
		k->ref = n <= 1 ? ref[1] : one[1];
		ref[1] = k;
		if (n) {
			/* Denied: nothing is created, every packet is a new connection. */
			snprintf(name, sizeof(name), "pol%u_denied", n);
			k = add_case(name, fp->progs.from_pod, &deny, TC_ACT_SHOT);
			k->ref = n <= 1 ? NULL : one[2];
			ref[2] = k;
		}
		if (n == 1)
			memcpy(one, ref, sizeof(one));
	}
	fflush(stdout);
	run_cases();
	for (size_t c = 0; c < 4; c++)
		from_pod__destroy(inst[c]);
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

int main(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c != 'n')
			goto usage;
		n_calls = (unsigned int)strtoul(optarg, NULL, 10);
		if (n_calls < 1000 || n_calls > 10000000)
			die("-n %s: must be 1000..10000000", optarg);
	}
	if (optind != argc - 1)
		goto usage;
	libbpf_set_print(libbpf_quiet);
	setup();
	if (!strcmp(argv[optind], "svc"))
		run_svc();
	else if (!strcmp(argv[optind], "policy"))
		run_policy();
	else
		goto usage;
	bench_empty__destroy(empty);
	for (size_t i = 0; i < n_objs; i++)
		json_decref(objs[i]);
	free(objs);
	return 0;
usage:
	fprintf(stderr, "usage: pktcost [-n CALLS] svc|policy\n");
	return 2;
}
