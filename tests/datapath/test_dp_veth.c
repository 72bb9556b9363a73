/* SPDX-License-Identifier: Apache-2.0 */
/* from_pod/to_pod attached to real veths, with real traffic: what
 * BPF_PROG_TEST_RUN cannot show (bpf_redirect_peer delivering, the node
 * stack in between, how the pod's kernel takes a refusal).
 *
 *   pod p1 (netns dpv-PID-p1)        pod p2 (netns dpv-PID-p2)
 *   eth0 10.244.0.10/32              eth0 10.244.0.11/32
 *     |                                |
 *   hv1 --------- node (this test process's private netns) --------- hv2
 *   10.244.0.1/32 scope link; lo: 192.168.50.1 (a "node" backend)
 *
 * Services: 10.96.0.10:80/tcp, :53/udp -> p2; 10.96.0.50:80 -> node
 * 192.168.50.1:9090; 10.96.0.40:80 tcp+udp without backends.
 * Needs root, iproute2, ping, socat, python3. The pod namespaces are
 * deleted and the servers (started by the test, killed by pid) stopped in
 * the fini, also when a test fails. */
#include "dp_test.h"
#include "from_pod.skel.h"
#include "to_pod.skel.h"
#include <signal.h>
#include <sys/wait.h>

static struct from_pod *fp;
static struct to_pod *tpod;
static char ns1[64], ns2[64];
static pid_t servers[4];
static int n_servers;

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ret = system(cmd);
	cr_assert_eq(ret, 0, "`%s` failed (%d)", cmd, ret);
}

/* Output of a shell command (trimmed to buf). */
static const char *sh_out(char *buf, size_t sz, const char *cmd)
{
	FILE *f = popen(cmd, "r");
	size_t n;

	cr_assert_not_null(f, "popen %s", cmd);
	n = fread(buf, 1, sz - 1, f);
	buf[n] = 0;
	pclose(f);
	return buf;
}

/* Start a server in the background (bounded by timeout), remember its pid. */
static void server(const char *ns, const char *cmd)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (ns)
			execlp("timeout", "timeout", "30", "ip", "netns", "exec", ns, "sh", "-c", cmd,
			       (char *)NULL);
		else
			execlp("timeout", "timeout", "30", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	servers[n_servers++] = pid;
}

/* MAC of dev in namespace ns (NULL: ours). Through iproute2, not /sys:
 * this process's /sys shows the namespace it was mounted in. */
static void read_mac(const char *ns, const char *dev, uint8_t mac[6])
{
	char cmd[160], out[256];

	snprintf(cmd, sizeof(cmd), "ip %s%s -br link show dev %s | awk '{print $3}'",
		 ns ? "-n " : "", ns ? ns : "", dev);
	sh_out(out, sizeof(out), cmd);
	cr_assert_eq(sscanf(out, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", mac, mac + 1, mac + 2, mac + 3,
			    mac + 4, mac + 5), 6, "MAC of %s: '%s'", dev, out);
}

static void attach(const char *dev, const char *ns, const char *ip, uint32_t identity)
{
	uint32_t idx = if_nametoindex(dev);
	uint8_t mac[6], hmac[6];
	LIBBPF_OPTS(bpf_tc_hook, h, .ifindex = idx, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, oi, .prog_fd = bpf_program__fd(fp->progs.from_pod));
	LIBBPF_OPTS(bpf_tc_opts, oe, .prog_fd = bpf_program__fd(tpod->progs.to_pod));

	cr_assert_neq(idx, 0, "no %s", dev);
	read_mac(ns, "eth0", mac);
	read_mac(NULL, dev, hmac);
	TP_ADD_EP(fp, ip, idx, identity, mac, hmac);
	tp_add_ep_stats(bpf_map__fd(fp->maps.sluice_ep_stats), idx);
	cr_assert_eq(bpf_tc_hook_create(&h), 0, "clsact on %s", dev);
	cr_assert_eq(bpf_tc_attach(&h, &oi), 0, "from_pod on %s ingress", dev);
	h.attach_point = BPF_TC_EGRESS;
	cr_assert_eq(bpf_tc_attach(&h, &oe), 0, "to_pod on %s egress", dev);
}

static void put_svc(const char *vip, uint16_t port, uint8_t proto, uint32_t id,
		    const char *be_ip, uint16_t be_port)
{
	struct svc_key k = { .port = htons(port), .proto = proto, .family = SL_AF_INET };
	struct svc_val v = { .svc_id = id, .backend_count = be_ip ? 1 : 0, .rev_nat_id = id };
	struct revnat_val rn = { .port = htons(port), .family = SL_AF_INET };
	struct backend_val b = { .port = htons(be_port), .proto = proto, .family = SL_AF_INET };
	uint32_t m = fp->rodata->maglev_m, *tbl, i, be_id = 100 + id;

	k.addr.v4 = rn.addr.v4 = tp_ip(vip);
	if (be_ip) {
		b.addr.v4 = tp_ip(be_ip);
		cr_assert_eq(bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_backend), &be_id, &b, 0), 0);
		tbl = calloc(m, sizeof(*tbl));
		cr_assert_not_null(tbl);
		for (i = 0; i < m; i++)
			tbl[i] = be_id;
		cr_assert_eq(bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_maglev), &id, tbl, 0), 0);
		free(tbl);
	}
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_revnat), &id, &rn, 0), 0);
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(fp->maps.sluice_svc), &k, &v, 0), 0);
}

static void cleanup_env(void);

static void setup(void)
{
	const char *nss[2] = { ns1, ns2 };
	int i;

	snprintf(ns1, sizeof(ns1), "dpv-%d-p1", getpid());
	snprintf(ns2, sizeof(ns2), "dpv-%d-p2", getpid());
	atexit(cleanup_env);
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s (needs root)", strerror(errno));
	sh("ip link set lo up && ip addr add 192.168.50.1/32 dev lo");
	for (i = 0; i < 2; i++) {
		const char *ip = i ? "10.244.0.11" : "10.244.0.10";
		uint8_t hmac[6];

		sh("ip netns add %s", nss[i]);
		sh("ip link add hv%d type veth peer name eth0 netns %s", i + 1, nss[i]);
		sh("ip link set hv%d up && ip addr add 10.244.0.1/32 dev hv%d scope link && "
		   "ip route add %s/32 dev hv%d", i + 1, i + 1, ip, i + 1);
		sh("ip -n %s link set lo up && ip -n %s link set eth0 up && "
		   "ip -n %s addr add %s/32 dev eth0 && "
		   "ip -n %s route add default via 10.244.0.1 dev eth0 onlink",
		   nss[i], nss[i], nss[i], ip, nss[i]);
		read_mac(NULL, i ? "hv2" : "hv1", hmac);
		sh("ip -n %s neigh add 10.244.0.1 lladdr %02x:%02x:%02x:%02x:%02x:%02x dev eth0 nud permanent",
		   nss[i], hmac[0], hmac[1], hmac[2], hmac[3], hmac[4], hmac[5]);
		sh("ip neigh add %s lladdr $(ip -n %s -br link show dev eth0 | awk '{print $3}') "
		   "dev hv%d nud permanent", ip, nss[i], i + 1);
	}

	fp = from_pod__open();
	cr_assert_not_null(fp);
	tp_unpin(fp->obj);
	cr_assert_eq(from_pod__load(fp), 0, "load from_pod: %s", strerror(errno));
	tpod = to_pod__open();
	cr_assert_not_null(tpod);
	tp_unpin(tpod->obj);
	tp_share_maps(tpod->obj, fp->obj);
	cr_assert_eq(to_pod__load(tpod), 0, "load to_pod: %s", strerror(errno));
	attach("hv1", ns1, "10.244.0.10", 300);
	attach("hv2", ns2, "10.244.0.11", 301);

	put_svc("10.96.0.10", 80, IPPROTO_TCP, 1, "10.244.0.11", 8080);
	put_svc("10.96.0.10", 53, IPPROTO_UDP, 2, "10.244.0.11", 5353);
	put_svc("10.96.0.50", 80, IPPROTO_TCP, 3, "192.168.50.1", 9090);
	put_svc("10.96.0.40", 80, IPPROTO_TCP, 4, NULL, 0);
	put_svc("10.96.0.40", 80, IPPROTO_UDP, 5, NULL, 0);

	server(ns2, "exec socat TCP-LISTEN:8080,reuseaddr,fork EXEC:'echo hello-p2' 2>/dev/null");
	server(ns2, "exec socat UDP-RECVFROM:5353,fork EXEC:'echo pong-p2' 2>/dev/null");
	server(NULL, "exec socat TCP-LISTEN:9090,bind=192.168.50.1,reuseaddr,fork EXEC:'echo hello-node' 2>/dev/null");
	usleep(300000);
}

/* Stop our servers, delete the pod namespaces. Idempotent; also an
 * atexit handler, since a failed set-up skips the suite's fini. */
static void cleanup_env(void)
{
	char cmd[256];
	int i;

	for (i = 0; i < n_servers; i++) {
		kill(servers[i], SIGTERM);
		waitpid(servers[i], NULL, 0);
	}
	n_servers = 0;
	if (!ns1[0])
		return;
	snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", ns1,
		 ns2);
	if (system(cmd) < 0)
		perror("ip netns del");
	ns1[0] = 0;
}

static void teardown(void)
{
	cleanup_env();
	/* The node netns (ours) and what is attached there go with the process. */
	to_pod__destroy(tpod);
	from_pod__destroy(fp);
	tpod = NULL;
	fp = NULL;
}

TestSuite(dp_veth, .init = setup, .fini = teardown, .timeout = 60);

#define PY_REFUSED_TCP                                                                             \
	"python3 -c 'import socket,time\n"                                                          \
	"s=socket.socket(); s.settimeout(3); t=time.time()\n"                                      \
	"try:\n s.connect((\"10.96.0.40\",80)); print(\"connected\")\n"                           \
	"except ConnectionRefusedError: print(\"refused in %.1f s\" % (time.time()-t))\n"         \
	"except Exception as e: print(repr(e))'"
#define PY_REFUSED_UDP                                                                             \
	"python3 -c 'import socket\n"                                                               \
	"s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2)\n"                     \
	"s.connect((\"10.96.0.40\",80)); s.send(b\"x\")\n"                                          \
	"try:\n s.recv(9); print(\"answered\")\n"                                                 \
	"except ConnectionRefusedError: print(\"refused\")\n"                                      \
	"except Exception as e: print(repr(e))'"

struct veth_case {
	const char *desc;
	int from;         /* 0: node, 1: p1, 2: p2 */
	const char *cmd;  /* run in that namespace */
	const char *want; /* substring of its output */
};

static const struct veth_case veth_cases[] = {
	{ "pod to pod on the node (bpf_redirect_peer)", 1, "ping -c2 -i0.2 -W2 10.244.0.11", " 2 received" },
	{ "pod to its gateway (node stack)", 1, "ping -c1 -W2 10.244.0.1", " 1 received" },
	{ "node to pod (to_pod)", 0, "ping -c1 -W2 10.244.0.10", " 1 received" },
	{ "TCP pod to pod", 1, "timeout 5 socat - TCP:10.244.0.11:8080 </dev/null", "hello-p2" },
	{ "TCP to a ClusterIP, backend a local pod", 1, "timeout 5 socat - TCP:10.96.0.10:80 </dev/null", "hello-p2" },
	{ "UDP to a ClusterIP, reply from the ClusterIP", 1, "echo ping | timeout 5 socat -t2 - UDP:10.96.0.10:53", "pong-p2" },
	{ "hairpin: a pod reaching itself through its Service", 2, "timeout 5 socat - TCP:10.96.0.10:80 </dev/null", "hello-p2" },
	{ "ClusterIP with a backend behind the node stack (reverse NAT in to_pod)", 1,
	  "timeout 5 socat - TCP:10.96.0.50:80 </dev/null", "hello-node" },
	{ "TCP to a Service without backends is refused at once (reset)", 1, PY_REFUSED_TCP, "refused in 0." },
	{ "UDP to a Service without backends gets port unreachable", 1, PY_REFUSED_UDP, "refused" },
};

Test(dp_veth, traffic)
{
	size_t i;

	for (i = 0; i < sizeof(veth_cases) / sizeof(veth_cases[0]); i++) {
		const struct veth_case *c = &veth_cases[i];
		char cmd[1024], out[2048];

		if (c->from)
			snprintf(cmd, sizeof(cmd), "ip netns exec %s sh -c '%s' 2>&1",
				 c->from == 1 ? ns1 : ns2, "eval \"$CMD\"");
		else
			snprintf(cmd, sizeof(cmd), "sh -c 'eval \"$CMD\"' 2>&1");
		setenv("CMD", c->cmd, 1);
		sh_out(out, sizeof(out), cmd);
		cr_expect(strstr(out, c->want) != NULL, "[%s] output lacks '%s':\n%s", c->desc, c->want,
			  out);
	}
	cr_expect_gt(tp_metric(bpf_map__fd(fp->maps.sluice_metrics), SL_FORWARDED, SL_DIR_EGRESS), 0);
	cr_expect_gt(tp_metric(bpf_map__fd(fp->maps.sluice_metrics), SL_DROP_NO_BACKEND, SL_DIR_EGRESS),
		     0);
	cr_expect_gt(tp_ep_stats(bpf_map__fd(fp->maps.sluice_ep_stats), if_nametoindex("hv2")).rx_packets,
		     0, "p2 rx counter");
}

Test(dp_veth, spoofed_source_dropped)
{
	char cmd[256], out[1024];
	int metrics = bpf_map__fd(fp->maps.sluice_metrics);
	uint64_t before = tp_metric(metrics, SL_DROP_SPOOF_IP, SL_DIR_EGRESS);

	sh("ip -n %s addr add 10.244.0.99/32 dev eth0", ns1);
	snprintf(cmd, sizeof(cmd), "ip netns exec %s ping -c1 -W1 -I 10.244.0.99 10.244.0.11 2>&1",
		 ns1);
	sh_out(out, sizeof(out), cmd);
	cr_expect(strstr(out, " 0 received") != NULL, "spoofed ping answered:\n%s", out);
	cr_expect_gt(tp_metric(metrics, SL_DROP_SPOOF_IP, SL_DIR_EGRESS), before,
		     "SPOOF_IP counter did not move");
}
