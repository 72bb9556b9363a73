/* SPDX-License-Identifier: Apache-2.0 */
/* Socket-level Service translation (sock.bpf.c), end to end: the kernel
 * has no BPF_PROG_TEST_RUN for cgroup sock_addr programs, so each test
 * runs in a private network namespace, in a cgroup2 child cgroup of its
 * own (only this process) with the hooks attached there, and uses real
 * sockets on the loopback:
 *
 *   [test process, private netns, cgroup sluice-dp-sock-PID]
 *     client --connect 10.96.0.10:80--> (connect4) --> 10.244.0.11:8080 server (lo)
 *
 * The node cookie knob is set to this netns's cookie. Needs root and a
 * cgroup2 mount (SLUICE_TEST_CGROUP2, default /sys/fs/cgroup/unified). */
#include "dp_test.h"
#include "sock.skel.h"
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define VIP "10.96.0.10"
#define VIP_EMPTY "10.96.0.40"
#define BE_IP "10.244.0.11"

static struct sock *sk;
static char cg_dir[256];
static const char *cg_root;
static struct bpf_link *links[4];

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text), "write %s: %s", path,
		     strerror(errno));
	close(fd);
}

static void put_svc(const char *vip, uint16_t port, uint8_t proto, uint32_t id, uint16_t count,
		    uint32_t be_id, uint16_t be_port)
{
	struct svc_key k = { .port = htons(port), .proto = proto, .family = SL_AF_INET };
	struct svc_val v = { .svc_id = id, .backend_count = count, .rev_nat_id = id };
	struct backend_val b = { .port = htons(be_port), .proto = proto, .family = SL_AF_INET };
	uint32_t m = sk->rodata->maglev_m, *tbl, i;

	k.addr.v4 = tp_ip(vip);
	if (count) {
		b.addr.v4 = tp_ip(BE_IP);
		cr_assert_eq(bpf_map_update_elem(bpf_map__fd(sk->maps.sluice_backend), &be_id, &b, 0), 0);
		tbl = calloc(m, sizeof(*tbl));
		cr_assert_not_null(tbl);
		for (i = 0; i < m; i++)
			tbl[i] = be_id;
		cr_assert_eq(bpf_map_update_elem(bpf_map__fd(sk->maps.sluice_maglev), &id, tbl, 0), 0);
		free(tbl);
	}
	cr_assert_eq(bpf_map_update_elem(bpf_map__fd(sk->maps.sluice_svc), &k, &v, 0), 0);
}

static void setup(void)
{
	char pid[32];
	uint64_t cookie = 0;
	socklen_t cl = sizeof(cookie);
	int s, cgfd;

	cg_root = getenv("SLUICE_TEST_CGROUP2") ? getenv("SLUICE_TEST_CGROUP2")
						: "/sys/fs/cgroup/unified";
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s (needs root)", strerror(errno));
	cr_assert_eq(system("ip link set lo up && ip addr add " BE_IP "/32 dev lo"), 0,
		     "loopback set-up failed");
	s = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(s, 0);
	cr_assert_eq(getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &cl), 0,
		     "SO_NETNS_COOKIE: %s", strerror(errno));
	close(s);

	snprintf(cg_dir, sizeof(cg_dir), "%s/sluice-dp-sock-%d", cg_root, getpid());
	cr_assert_eq(mkdir(cg_dir, 0755), 0, "mkdir %s: %s (cgroup2 mounted there?)", cg_dir,
		     strerror(errno));
	snprintf(pid, sizeof(pid), "%d", getpid());
	snprintf(cg_dir + strlen(cg_dir), sizeof(cg_dir) - strlen(cg_dir), "/cgroup.procs");
	write_file(cg_dir, pid);
	*strrchr(cg_dir, '/') = 0;

	sk = sock__open();
	cr_assert_not_null(sk);
	tp_unpin(sk->obj);
	sk->rodata->node_netns_cookie = cookie;
	cr_assert_eq(sock__load(sk), 0, "load sock: %s", strerror(errno));
	cgfd = open(cg_dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(cgfd, 0);
	links[0] = bpf_program__attach_cgroup(sk->progs.sock_connect4, cgfd);
	links[1] = bpf_program__attach_cgroup(sk->progs.sock_sendmsg4, cgfd);
	links[2] = bpf_program__attach_cgroup(sk->progs.sock_recvmsg4, cgfd);
	links[3] = bpf_program__attach_cgroup(sk->progs.sock_getpeername4, cgfd);
	close(cgfd);
	for (s = 0; s < 4; s++)
		cr_assert_not_null(links[s], "attach hook %d: %s", s, strerror(errno));

	put_svc(VIP, 80, IPPROTO_TCP, 1, 1, 11, 8080);
	put_svc(VIP, 53, IPPROTO_UDP, 2, 1, 12, 5353);
	put_svc(VIP_EMPTY, 80, IPPROTO_TCP, 3, 0, 0, 0);
}

static void teardown(void)
{
	char procs[300], pid[32];
	int i;

	for (i = 0; i < 4; i++)
		bpf_link__destroy(links[i]);
	sock__destroy(sk);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg_root);
	snprintf(pid, sizeof(pid), "%d", getpid());
	write_file(procs, pid);
	rmdir(cg_dir);
}

TestSuite(dp_sock, .init = setup, .fini = teardown);

static struct sockaddr_in sin_of(const char *ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	a.sin_addr.s_addr = tp_ip(ip);
	return a;
}

Test(dp_sock, tcp_connect_to_clusterip)
{
	struct sockaddr_in be = sin_of(BE_IP, 8080), vip = sin_of(VIP, 80), peer;
	socklen_t pl = sizeof(peer);
	int one = 1, srv = socket(AF_INET, SOCK_STREAM, 0), cli = socket(AF_INET, SOCK_STREAM, 0);
	int acc;

	cr_assert(srv >= 0 && cli >= 0);
	setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(srv, (struct sockaddr *)&be, sizeof(be)), 0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(srv, 4), 0);
	cr_assert_eq(connect(cli, (struct sockaddr *)&vip, sizeof(vip)), 0,
		     "connect to the ClusterIP: %s", strerror(errno));
	acc = accept(srv, NULL, NULL);
	cr_assert_geq(acc, 0, "backend accepted nothing: %s", strerror(errno));
	cr_assert_eq(getpeername(cli, (struct sockaddr *)&peer, &pl), 0);
	cr_expect(peer.sin_addr.s_addr == vip.sin_addr.s_addr && peer.sin_port == htons(80),
		  "getpeername shows %s:%u, want " VIP ":80", inet_ntoa(peer.sin_addr),
		  ntohs(peer.sin_port));
	close(acc);
	close(cli);
	close(srv);
}

Test(dp_sock, udp_sendmsg_recvmsg)
{
	struct sockaddr_in be = sin_of(BE_IP, 5353), vip = sin_of(VIP, 53), from;
	socklen_t fl = sizeof(from);
	int srv = socket(AF_INET, SOCK_DGRAM, 0), cli = socket(AF_INET, SOCK_DGRAM, 0);
	struct timeval tv = { .tv_sec = 2 };
	char buf[16];

	cr_assert(srv >= 0 && cli >= 0);
	cr_assert_eq(bind(srv, (struct sockaddr *)&be, sizeof(be)), 0, "bind: %s", strerror(errno));
	setsockopt(srv, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(cli, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(sendto(cli, "ping", 4, 0, (struct sockaddr *)&vip, sizeof(vip)), 4,
		     "sendto ClusterIP: %s", strerror(errno));
	cr_assert_eq(recvfrom(srv, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl), 4,
		     "backend received nothing: %s", strerror(errno));
	cr_assert_eq(sendto(srv, "pong", 4, 0, (struct sockaddr *)&from, fl), 4);
	fl = sizeof(from);
	cr_assert_eq(recvfrom(cli, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl), 4,
		     "client got no reply: %s", strerror(errno));
	cr_expect(from.sin_addr.s_addr == vip.sin_addr.s_addr && from.sin_port == htons(53),
		  "reply from %s:%u, want " VIP ":53", inet_ntoa(from.sin_addr),
		  ntohs(from.sin_port));
	close(cli);
	close(srv);
}

Test(dp_sock, no_backend_refused_at_connect)
{
	struct sockaddr_in vip = sin_of(VIP_EMPTY, 80);
	int cli = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(cli, 0);
	cr_expect_eq(connect(cli, (struct sockaddr *)&vip, sizeof(vip)), -1,
		     "connect to a Service without backends succeeded");
	cr_expect_eq(errno, ECONNREFUSED, "errno %d (%s), want ECONNREFUSED", errno,
		     strerror(errno));
	close(cli);
}
