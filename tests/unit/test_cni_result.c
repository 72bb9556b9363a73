// SPDX-License-Identifier: Apache-2.0
/* CNI plugin: result, error and version JSON; prevResult parsing; naming;
 * whole invocations through cni_run that need no root. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "../../cni/cni.h"
#include "log.h"

TestSuite(cni_result, .init = NULL);

static struct cni_result sample(void)
{
	struct cni_result r = {
	    .host_ifname = "sl0123456789ab",
	    .ifname = "eth0",
	    .sandbox = "/run/netns/p1",
	    .host_mac = {0x02, 0, 0, 0, 0, 1},
	    .mac = {0x02, 0, 0, 0, 0, 2},
	};

	sl_cidr_parse("10.244.0.5/32", &r.ip, false);
	sl_addr_parse("10.244.0.1", &r.gw, &(__u8){0});
	return r;
}

static char *dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(j);
	return s;
}

Test(cni_result, per_version)
{
	static const struct {
		int ver;
		const char *want;
	} cases[] = {
	    {CNI_V030, "\"cniVersion\":\"0.3.0\""}, {CNI_V031, "\"cniVersion\":\"0.3.1\""},
	    {CNI_V040, "\"cniVersion\":\"0.4.0\""}, {CNI_V100, "\"cniVersion\":\"1.0.0\""},
	    {CNI_V110, "\"cniVersion\":\"1.1.0\""},
	};
	struct cni_result r = sample();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = cni_result_json(cases[i].ver, &r), *ip;
		const char *v;

		cr_assert_not_null(j);
		ip = json_array_get(json_object_get(j, "ips"), 0);
		v = json_string_value(json_object_get(ip, "version"));
		if (cases[i].ver < CNI_V100)
			cr_expect(v && !strcmp(v, "4"), "%s: ips[0].version = %s, want \"4\"",
				  cni_versions[cases[i].ver], v ? v : "(none)");
		else
			cr_expect_null(v, "%s: ips[0].version must be absent, got %s",
				       cni_versions[cases[i].ver], v);
		char *s = dump(j);

		cr_expect(strstr(s, cases[i].want), "%s: %s lacks %s", cni_versions[cases[i].ver],
			  s, cases[i].want);
		free(s);
	}
}

Test(cni_result, exact_1_0_0)
{
	struct cni_result r = sample();
	char *s = dump(cni_result_json(CNI_V100, &r));
	const char *want =
	    "{\"cniVersion\":\"1.0.0\",\"dns\":{},"
	    "\"interfaces\":[{\"mac\":\"02:00:00:00:00:01\",\"name\":\"sl0123456789ab\"},"
	    "{\"mac\":\"02:00:00:00:00:02\",\"name\":\"eth0\",\"sandbox\":\"/run/netns/p1\"}],"
	    "\"ips\":[{\"address\":\"10.244.0.5/32\",\"gateway\":\"10.244.0.1\",\"interface\":1}],"
	    "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.244.0.1\"}]}";

	cr_expect_str_eq(s, want, "got  %s\nwant %s", s, want);
	free(s);
}

Test(cni_result, dns_passed_through)
{
	struct cni_result r = sample();
	json_t *dns = json_pack("{s:[s]}", "nameservers", "10.96.0.10");
	char *s;

	r.dns = dns;
	s = dump(cni_result_json(CNI_V040, &r));
	cr_expect(strstr(s, "\"dns\":{\"nameservers\":[\"10.96.0.10\"]}"), "got %s", s);
	free(s);
	json_decref(dns);
}

Test(cni_result, error_json)
{
	struct cni_err e = {0};
	char *s;

	sl_log_init("test", -1);
	cni_fail(&e, CNI_ERR_TRY_AGAIN, -ECONNREFUSED, "sluiced is not reachable at %s", "/x.sock");
	cni_fail(&e, SL_CNI_ERR_LINK, 0, "a later error must not win");
	s = dump(cni_error_json("0.4.0", &e));
	cr_expect_str_eq(s,
			 "{\"cniVersion\":\"0.4.0\",\"code\":11,\"details\":\"Connection refused\","
			 "\"msg\":\"sluiced is not reachable at /x.sock\"}",
			 "got %s", s);
	free(s);
	memset(&e, 0, sizeof(e));
	cni_fail(&e, CNI_ERR_DECODE, 0, "bad");
	s = dump(cni_error_json(NULL, &e));
	cr_expect_str_eq(s,
			 "{\"cniVersion\":\"1.1.0\",\"code\":6,\"details\":\"\",\"msg\":\"bad\"}",
			 "got %s", s);
	free(s);
}

Test(cni_result, version_json)
{
	char *s = dump(cni_version_json());

	cr_expect_str_eq(s,
			 "{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0."
			 "4.0\",\"1.0.0\",\"1.1.0\"]}",
			 "got %s", s);
	free(s);
}

Test(cni_result, prev_roundtrip)
{
	struct cni_result r = sample();
	struct cni_err e = {0};
	struct cni_prev p;
	char buf[64];

	for (int v = 0; v < CNI_V_COUNT; v++) {
		json_t *j = cni_result_json(v, &r);

		cr_assert_eq(cni_prev_parse(j, "eth0", &p, &e), 0, "%s: %s", cni_versions[v],
			     e.msg);
		cr_expect_str_eq(p.ifname, "eth0");
		cr_expect_str_eq(p.host_ifname, "sl0123456789ab");
		cr_expect_str_eq(sl_addr_str(&p.ip.addr, SL_AF_INET, buf, sizeof(buf)),
				 "10.244.0.5");
		cr_expect_eq(p.ip.plen, 32);
		cr_expect(p.has_gw);
		cr_expect_eq(p.gw.v4, r.gw.v4);
		json_decref(j);
	}
	/* host-local style: /24 with host bits, gateway only in routes */
	json_t *j = json_loads("{\"interfaces\":[{\"name\":\"eth1\",\"sandbox\":\"/n\"}],"
			       "\"ips\":[{\"address\":\"10.1.0.7/24\",\"interface\":0}],"
			       "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.1\"}]}",
			       0, NULL);
	cr_assert_eq(cni_prev_parse(j, "eth1", &p, &e), 0, "%s", e.msg);
	cr_expect_str_eq(sl_addr_str(&p.ip.addr, SL_AF_INET, buf, sizeof(buf)), "10.1.0.7");
	cr_expect_eq(p.ip.plen, 24);
	cr_expect(p.has_gw);
	sl_log_init("test", -1);
	cr_expect_neq(cni_prev_parse(j, "eth0", &p, &e), 0, "eth0 is not in this prevResult");
	cr_expect_eq(e.code, CNI_ERR_INVALID_CONFIG);
	json_decref(j);
}

Test(cni_result, host_ifname)
{
	char a[16], b[16], c[16];

	cni_host_ifname("0123456789abcdef", "eth0", a, sizeof(a));
	cni_host_ifname("0123456789abcdef", "eth1", b, sizeof(b));
	cni_host_ifname("0123456789abcdef", "eth0", c, sizeof(c));
	cr_expect_eq(strlen(a), 14, "got %s", a);
	cr_expect(cni_is_host_ifname(a), "%s", a);
	cr_expect_str_neq(a, b, "ifname must change the name");
	cr_expect_str_eq(a, c, "stable");
	cr_expect(!cni_is_host_ifname("eth0"));
	cr_expect(!cni_is_host_ifname("slXYZ456789abc"));
	cr_expect(!cni_is_host_ifname("sl0123456789abc"));
}

Test(cni_result, sha256_vectors)
{
	static const struct {
		const char *in, *hex;
	} v[] = {
	    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t h[32];
		char hex[65];

		sl_sha256(v[i].in, strlen(v[i].in), h);
		for (int k = 0; k < 32; k++)
			sprintf(hex + 2 * k, "%02x", h[k]);
		cr_expect_str_eq(hex, v[i].hex, "sha256(\"%s\") = %s, want %s", v[i].in, hex,
				 v[i].hex);
	}
}

/* Whole invocations: what the runtime sees on stdout and the exit status. */
static int run(const char *cmd, const char *conf, char *out, size_t outlen)
{
	FILE *in = fmemopen((void *)conf, strlen(conf), "r");
	FILE *o = fmemopen(out, outlen, "w");
	int rc;

	setenv("CNI_COMMAND", cmd, 1);
	setenv("CNI_CONTAINERID", "c1", 1);
	setenv("CNI_NETNS", "/run/netns/none", 1);
	setenv("CNI_IFNAME", "eth0", 1);
	setenv("CNI_PATH", "/usr/lib/cni", 1);
	rc = cni_run(in, o);
	fclose(in);
	fclose(o);
	return rc;
}

Test(cni_result, run_verbs)
{
	static const struct {
		const char *desc, *cmd, *conf;
		int rc, code;
	} cases[] = {
	    {"VERSION", "VERSION", "", 0, 0},
	    {"ADD, sluiced unreachable", "ADD",
	     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"socket\":\"/"
	     "nonexistent/s.sock\","
	     "\"podCIDR\":\"10.9.0.0/24\",\"stateDir\":\"/nonexistent/state\"}",
	     1, CNI_ERR_TRY_AGAIN},
	    {"ADD, malformed", "ADD", "{", 1, CNI_ERR_DECODE},
	    {"CHECK on 0.3.1", "CHECK",
	     "{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"type\":\"sluice\"}", 1,
	     CNI_ERR_INCOMPATIBLE},
	    {"STATUS on 1.0.0", "STATUS",
	     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\"}", 1,
	     CNI_ERR_INCOMPATIBLE},
	    {"GC on 0.4.0", "GC", "{\"cniVersion\":\"0.4.0\",\"name\":\"n\",\"type\":\"sluice\"}",
	     1, CNI_ERR_INCOMPATIBLE},
	    {"STATUS, sluiced down", "STATUS",
	     "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"sluice\",\"socket\":\"/"
	     "nonexistent/s.sock\"}",
	     1, CNI_ERR_NOT_AVAILABLE},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[4096] = {0};
		json_t *j;
		int rc = run(cases[i].cmd, cases[i].conf, out, sizeof(out));

		cr_expect_eq(rc, cases[i].rc, "%s: exit %d, want %d (%s)", cases[i].desc, rc,
			     cases[i].rc, out);
		j = json_loads(out, 0, NULL);
		cr_expect_not_null(j, "%s: stdout is not JSON: %s", cases[i].desc, out);
		if (cases[i].code)
			cr_expect_eq(json_integer_value(json_object_get(j, "code")), cases[i].code,
				     "%s: %s, want code %d", cases[i].desc, out, cases[i].code);
		else
			cr_expect(json_is_array(json_object_get(j, "supportedVersions")), "%s: %s",
				  cases[i].desc, out);
		json_decref(j);
	}
}
