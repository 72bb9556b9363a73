// SPDX-License-Identifier: Apache-2.0
/* CNI plugin: the built-in file-backed IPAM. Runs in a temp dir, no root. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include "../../cni/cni.h"
#include "log.h"

static char dir[64];

static void setup(void)
{
	sl_log_init("test", -1);
	strcpy(dir, "/tmp/test_cni_ipam.XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(cni_ipam, .init = setup, .fini = teardown);

static struct sl_cidr cidr(const char *s)
{
	struct sl_cidr c;

	cr_assert_eq(sl_cidr_parse(s, &c, false), 0, "bad test CIDR %s", s);
	return c;
}

/* Open, allocate for cid/eth0, close: what one plugin process does. */
static int alloc1(const char *net, const char *cidr_s, const char *cid, char *ip, bool *existed,
		  struct cni_err *e)
{
	struct sl_cidr c = cidr(cidr_s);
	struct cni_ipam p;
	union sl_addr a;
	bool ex;
	int err;

	err = cni_ipam_open(&p, dir, net, &c, e);
	if (err)
		return err;
	err = cni_ipam_alloc(&p, cid, "eth0", &a, existed ? existed : &ex, e);
	cni_ipam_close(&p);
	if (!err)
		inet_ntop(AF_INET, &a.v4, ip, INET_ADDRSTRLEN);
	return err;
}

static int release1(const char *net, const char *cid)
{
	struct cni_err e = {0};
	struct cni_ipam p;
	int err = cni_ipam_open(&p, dir, net, NULL, &e);

	if (!err)
		err = cni_ipam_release(&p, cid, "eth0", &e);
	cni_ipam_close(&p);
	return err;
}

Test(cni_ipam, skips_reserved_and_exhausts)
{
	/* /29: .0 network, .1 gateway, .7 broadcast: .2-.6 usable */
	const char *want[] = {"10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6"};
	struct cni_err e = {0};
	char ip[INET_ADDRSTRLEN], cid[16];

	for (int i = 0; i < 5; i++) {
		snprintf(cid, sizeof(cid), "c%d", i);
		cr_assert_eq(alloc1("net", "10.1.0.0/29", cid, ip, NULL, &e), 0, "alloc %d: %s", i,
			     e.msg);
		cr_expect_str_eq(ip, want[i], "alloc %d: got %s, want %s", i, ip, want[i]);
	}
	cr_expect_eq(alloc1("net", "10.1.0.0/29", "c5", ip, NULL, &e), -ENOSPC);
	cr_expect_eq(e.code, SL_CNI_ERR_IPAM_EXHAUSTED, "code %d", e.code);
	cr_expect(strstr(e.msg, "10.1.0.2-10.1.0.6") && strstr(e.msg, "10.1.0.0/29"),
		  "message must name the range: %s", e.msg);
}

Test(cni_ipam, released_addresses_come_last)
{
	struct cni_err e = {0};
	char ip[INET_ADDRSTRLEN], cid[16];

	/* /28: .2-.14 usable (13 addresses) */
	cr_assert_eq(alloc1("net", "10.2.0.0/28", "a", ip, NULL, &e), 0, "%s", e.msg);
	cr_expect_str_eq(ip, "10.2.0.2");
	cr_assert_eq(alloc1("net", "10.2.0.0/28", "b", ip, NULL, &e), 0, "%s", e.msg);
	cr_expect_str_eq(ip, "10.2.0.3");
	cr_assert_eq(release1("net", "a"), 0);
	cr_assert_eq(alloc1("net", "10.2.0.0/28", "c", ip, NULL, &e), 0, "%s", e.msg);
	cr_expect_str_eq(ip, "10.2.0.4", "a released address must not be reused first, got %s", ip);
	for (int i = 5; i <= 14; i++) {
		snprintf(cid, sizeof(cid), "d%d", i);
		cr_assert_eq(alloc1("net", "10.2.0.0/28", cid, ip, NULL, &e), 0, "%s", e.msg);
	}
	cr_expect_str_eq(ip, "10.2.0.14");
	cr_assert_eq(alloc1("net", "10.2.0.0/28", "last", ip, NULL, &e), 0, "%s", e.msg);
	cr_expect_str_eq(ip, "10.2.0.2", "after wrapping the released .2 is handed out, got %s",
			 ip);
}

Test(cni_ipam, same_container_same_address)
{
	struct cni_err e = {0};
	char ip1[INET_ADDRSTRLEN], ip2[INET_ADDRSTRLEN], ip3[INET_ADDRSTRLEN];
	bool existed;

	cr_assert_eq(alloc1("net", "10.3.0.0/24", "x", ip1, &existed, &e), 0, "%s", e.msg);
	cr_expect(!existed);
	cr_assert_eq(alloc1("net", "10.3.0.0/24", "x", ip2, &existed, &e), 0, "%s", e.msg);
	cr_expect(existed, "second ADD must find the lease");
	cr_expect_str_eq(ip1, ip2, "same container, got %s then %s", ip1, ip2);
	cr_assert_eq(alloc1("net", "10.3.0.0/24", "y", ip3, &existed, &e), 0, "%s", e.msg);
	cr_expect_str_neq(ip1, ip3);
	/* another network is another pool */
	cr_assert_eq(alloc1("other", "10.3.0.0/24", "x", ip3, &existed, &e), 0, "%s", e.msg);
	cr_expect(!existed);
	cr_expect_str_eq(ip3, "10.3.0.2");
}

Test(cni_ipam, release_is_idempotent_and_survives_missing_index)
{
	struct cni_err e = {0};
	char ip[INET_ADDRSTRLEN], path[256];
	struct sl_cidr c = cidr("10.4.0.0/24");
	struct cni_ipam p;
	uint32_t used, size;

	cr_expect_eq(release1("net", "never"), 0, "unknown lease is success");
	cr_assert_eq(alloc1("net", "10.4.0.0/24", "a", ip, NULL, &e), 0, "%s", e.msg);
	cr_assert_eq(alloc1("net", "10.4.0.0/24", "b", ip, NULL, &e), 0, "%s", e.msg);
	/* a crash between writing the lease and its index: release must scan */
	snprintf(path, sizeof(path), "%s/ipam/net", dir);
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -f %s/lease-*", path);
	cr_assert_eq(system(cmd), 0);
	cr_expect_eq(release1("net", "a"), 0);
	cr_expect_eq(release1("net", "a"), 0);
	cr_assert_eq(cni_ipam_open(&p, dir, "net", &c, &e), 0);
	cr_assert_eq(cni_ipam_usage(&p, &used, &size), 0);
	cni_ipam_close(&p);
	cr_expect_eq(used, 1, "only b is left, used=%u", used);
	cr_expect_eq(size, 253);
}

Test(cni_ipam, persists_across_restart)
{
	struct cni_err e = {0};
	char ip1[INET_ADDRSTRLEN], ip2[INET_ADDRSTRLEN], ip3[INET_ADDRSTRLEN];
	bool existed;

	/* each alloc1 is a fresh open: nothing is kept in memory */
	cr_assert_eq(alloc1("net", "10.5.0.0/24", "a", ip1, NULL, &e), 0, "%s", e.msg);
	cr_assert_eq(alloc1("net", "10.5.0.0/24", "b", ip2, NULL, &e), 0, "%s", e.msg);
	cr_assert_eq(release1("net", "a"), 0);
	cr_assert_eq(alloc1("net", "10.5.0.0/24", "b", ip3, &existed, &e), 0, "%s", e.msg);
	cr_expect(existed);
	cr_expect_str_eq(ip3, ip2, "b keeps %s, got %s", ip2, ip3);
	cr_assert_eq(alloc1("net", "10.5.0.0/24", "c", ip3, NULL, &e), 0, "%s", e.msg);
	cr_expect_str_eq(ip3, "10.5.0.4", "the cursor survived: got %s", ip3);
}

struct seen {
	char ips[64][INET_ADDRSTRLEN];
	int n;
};

static int collect(struct cni_ipam *p, const char *ip, const char *cid, const char *ifname,
		   void *arg)
{
	struct seen *s = arg;

	(void)p, (void)cid, (void)ifname;
	if (s->n < 64)
		strcpy(s->ips[s->n++], ip);
	return 0;
}

Test(cni_ipam, fifty_concurrent_processes)
{
	enum { N = 50 };
	struct sl_cidr c = cidr("10.6.0.0/24");
	struct cni_err e = {0};
	struct seen s = {0};
	struct cni_ipam p;
	pid_t pids[N];
	int failed = 0;

	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0, "fork: %s", strerror(errno));
		if (pids[i] == 0) {
			char cid[16], ip[INET_ADDRSTRLEN];

			snprintf(cid, sizeof(cid), "pod%d", i);
			_exit(alloc1("net", "10.6.0.0/24", cid, ip, NULL, &e) ? 1 : 0);
		}
	}
	for (int i = 0; i < N; i++) {
		int st;

		cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			failed++;
	}
	cr_expect_eq(failed, 0, "%d allocators failed", failed);
	cr_assert_eq(cni_ipam_open(&p, dir, "net", &c, &e), 0, "%s", e.msg);
	cr_assert_eq(cni_ipam_foreach(&p, collect, &s), 0);
	cni_ipam_close(&p);
	cr_expect_eq(s.n, N, "leases: %d, want %d", s.n, N);
	for (int i = 0; i < s.n; i++)
		for (int j = i + 1; j < s.n; j++)
			cr_expect_str_neq(s.ips[i], s.ips[j], "duplicate lease %s", s.ips[i]);
}
