// SPDX-License-Identifier: Apache-2.0
/* CNI plugin: network config, environment and CNI_ARGS parsing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "../../cni/cni.h"
#include "log.h"

static void quiet(void)
{
	sl_log_init("test", -1); /* the failures below are expected */
	unsetenv("SLUICE_SOCKET");
	unsetenv("SLUICE_BPFFS");
}

TestSuite(cni_conf, .init = quiet);

static const struct {
	const char *desc, *json;
	int code;
} conf_cases[] = {
    {"minimal 1.0.0", "{\"cniVersion\":\"1.0.0\",\"name\":\"k8s-pod-network\",\"type\":\"sluice\"}",
     0},
    {"every version: 0.3.0", "{\"cniVersion\":\"0.3.0\",\"name\":\"n\",\"type\":\"sluice\"}", 0},
    {"0.3.1", "{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"type\":\"sluice\"}", 0},
    {"0.4.0", "{\"cniVersion\":\"0.4.0\",\"name\":\"n\",\"type\":\"sluice\"}", 0},
    {"1.1.0", "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"sluice\"}", 0},
    {"all keys",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"bpffs\":\"/run/x/bpf\","
     "\"socket\":\"/run/x/s.sock\",\"stateDir\":\"/run/x/st\",\"podCIDR\":\"10.244.3.0/24\","
     "\"mtu\":9000,\"ipam\":{},\"dns\":{\"nameservers\":[\"10.96.0.10\"]},"
     "\"runtimeConfig\":{\"portMappings\":[]},\"args\":{\"cni\":{}}}",
     0},
    {"unknown keys ignored",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"foo\":{\"bar\":1}}", 0},
    {"delegated ipam",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"ipam\":{\"type\":\"host-"
     "local\"}}",
     0},
    {"null podCIDR",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"podCIDR\":null}", 0},
    {"prevResult",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"prevResult\":{\"ips\":[]}}",
     0},
    {"GC attachments",
     "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"sluice\","
     "\"cni.dev/valid-attachments\":[{\"containerID\":\"a\",\"ifname\":\"eth0\"}]}",
     0},
    {"GC attachments (old key, runtimeConfig)",
     "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"sluice\","
     "\"runtimeConfig\":{\"cni.dev/attachments\":[]}}",
     0},

    {"malformed JSON", "{\"cniVersion\":\"1.0.0\",", CNI_ERR_DECODE},
    {"empty input", "", CNI_ERR_DECODE},
    {"trailing garbage", "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\"} x",
     CNI_ERR_DECODE},
    {"not an object", "[1,2]", CNI_ERR_INVALID_CONFIG},
    {"cniVersion not a string", "{\"cniVersion\":1,\"name\":\"n\",\"type\":\"sluice\"}",
     CNI_ERR_INVALID_CONFIG},
    {"missing cniVersion (0.1.0)", "{\"name\":\"n\",\"type\":\"sluice\"}", CNI_ERR_INCOMPATIBLE},
    {"unsupported 0.2.0", "{\"cniVersion\":\"0.2.0\",\"name\":\"n\",\"type\":\"sluice\"}",
     CNI_ERR_INCOMPATIBLE},
    {"unsupported 2.0.0", "{\"cniVersion\":\"2.0.0\",\"name\":\"n\",\"type\":\"sluice\"}",
     CNI_ERR_INCOMPATIBLE},
    {"missing name", "{\"cniVersion\":\"1.0.0\",\"type\":\"sluice\"}", CNI_ERR_INVALID_CONFIG},
    {"bad name", "{\"cniVersion\":\"1.0.0\",\"name\":\"../x\",\"type\":\"sluice\"}",
     CNI_ERR_INVALID_CONFIG},
    {"missing type", "{\"cniVersion\":\"1.0.0\",\"name\":\"n\"}", CNI_ERR_INVALID_CONFIG},
    {"bad CIDR",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"podCIDR\":\"10.244.0.0/33\"}",
     CNI_ERR_INVALID_CONFIG},
    {"CIDR host bits",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"podCIDR\":\"10.244.0.1/24\"}",
     CNI_ERR_INVALID_CONFIG},
    {"CIDR too small",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"podCIDR\":\"10.244.0.0/31\"}",
     CNI_ERR_INVALID_CONFIG},
    {"IPv6 CIDR",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"podCIDR\":\"fd00::/64\"}",
     CNI_ERR_INVALID_CONFIG},
    {"CIDR not a string",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"podCIDR\":5}",
     CNI_ERR_INVALID_CONFIG},
    {"mtu too small", "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"mtu\":10}",
     CNI_ERR_INVALID_CONFIG},
    {"mtu a string",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"mtu\":\"1500\"}",
     CNI_ERR_INVALID_CONFIG},
    {"ipam not an object",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"ipam\":\"host-local\"}",
     CNI_ERR_INVALID_CONFIG},
    {"ipam type with a slash",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"ipam\":{\"type\":\"../../bin/"
     "sh\"}}",
     CNI_ERR_INVALID_CONFIG},
    {"empty socket",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"socket\":\"\"}",
     CNI_ERR_INVALID_CONFIG},
    {"stateDir not a string",
     "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"stateDir\":[]}",
     CNI_ERR_INVALID_CONFIG},
    {"attachments not a list",
     "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"sluice\",\"cni.dev/"
     "valid-attachments\":{}}",
     CNI_ERR_INVALID_CONFIG},
    {"attachment without ifname",
     "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"sluice\",\"cni.dev/"
     "valid-attachments\":[{\"containerID\":\"a\"}]}",
     CNI_ERR_INVALID_CONFIG},
};

Test(cni_conf, table)
{
	for (size_t i = 0; i < sizeof(conf_cases) / sizeof(conf_cases[0]); i++) {
		struct cni_err e = {0};
		struct cni_conf c;
		int ret = cni_conf_parse(conf_cases[i].json, strlen(conf_cases[i].json), &c, &e);

		cr_expect_eq(e.code, conf_cases[i].code, "%s: code %d, want %d (%s)",
			     conf_cases[i].desc, e.code, conf_cases[i].code, e.msg);
		cr_expect_eq(ret == 0, conf_cases[i].code == 0, "%s: return %d", conf_cases[i].desc,
			     ret);
		if (conf_cases[i].code)
			cr_expect(e.msg[0], "%s: error without a message", conf_cases[i].desc);
		cni_conf_free(&c);
	}
}

Test(cni_conf, values_and_defaults)
{
	const char *j = "{\"cniVersion\":\"0.4.0\",\"name\":\"net1\",\"type\":\"sluice\","
			"\"podCIDR\":\"10.1.2.0/24\","
			"\"mtu\":1400,\"ipam\":{\"type\":\"host-local\"},\"socket\":\"/x.sock\"}";
	struct cni_err e = {0};
	struct cni_conf c;
	char buf[64];

	cr_assert_eq(cni_conf_parse(j, strlen(j), &c, &e), 0, "%s", e.msg);
	cr_expect_eq(c.ver, CNI_V040);
	cr_expect_str_eq(c.name, "net1");
	cr_expect_eq(c.mtu, 1400);
	cr_expect(c.has_pod_cidr);
	cr_expect_str_eq(sl_cidr_str(&c.pod_cidr, buf, sizeof(buf)), "10.1.2.0/24");
	cr_expect_str_eq(c.ipam_type, "host-local");
	cr_expect_str_eq(c.socket, "/x.sock");
	cr_expect_str_eq(c.bpffs, "/sys/fs/bpf/sluice", "default bpffs, got %s", c.bpffs);
	cr_expect_str_eq(c.state_dir, "/var/lib/sluice");
	cni_conf_free(&c);

	/* environment overrides the defaults, the config overrides both */
	setenv("SLUICE_BPFFS", "/run/env/bpf", 1);
	setenv("SLUICE_SOCKET", "/run/env/s.sock", 1);
	j = "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"sluice\",\"socket\":\"/"
	    "cfg.sock\"}";
	cr_assert_eq(cni_conf_parse(j, strlen(j), &c, &e), 0, "%s", e.msg);
	cr_expect_str_eq(c.bpffs, "/run/env/bpf");
	cr_expect_str_eq(c.socket, "/cfg.sock");
	cr_expect_eq(c.mtu, 1500);
	cr_expect(!c.has_pod_cidr);
	cr_expect_null(c.ipam_type);
	cni_conf_free(&c);
}

static void set_env(const char *cmd, const char *cid, const char *netns, const char *ifname,
		    const char *path, const char *args)
{
#define SET(k, v) ((v) ? setenv(k, v, 1) : unsetenv(k))
	SET("CNI_COMMAND", cmd);
	SET("CNI_CONTAINERID", cid);
	SET("CNI_NETNS", netns);
	SET("CNI_IFNAME", ifname);
	SET("CNI_PATH", path);
	SET("CNI_ARGS", args);
#undef SET
}

static const struct {
	const char *desc, *cmd, *cid, *netns, *ifname, *path, *args;
	int code;
} env_cases[] = {
    {"ADD complete", "ADD", "abc", "/run/netns/x", "eth0", "/opt/cni/bin", NULL, 0},
    {"ADD containerd args", "ADD", "abc", "/run/netns/x", "eth0", "/opt/cni/bin",
     "K8S_POD_UID=1;IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID="
     "abc",
     0},
    {"ADD podman args", "ADD", "abc", "/run/netns/x", "eth0", "/opt/cni/bin",
     "IgnoreUnknown=1;K8S_POD_NAME=web", 0},
    {"DEL empty netns", "DEL", "abc", "", "eth0", "/opt/cni/bin", NULL, 0},
    {"DEL no netns", "DEL", "abc", NULL, "eth0", "/opt/cni/bin", NULL, 0},
    {"VERSION alone", "VERSION", NULL, NULL, NULL, NULL, NULL, 0},
    {"STATUS alone", "STATUS", NULL, NULL, NULL, NULL, NULL, 0},
    {"GC alone", "GC", NULL, NULL, NULL, "/opt/cni/bin", NULL, 0},
    {"no command", NULL, "abc", "/n", "eth0", "/p", NULL, CNI_ERR_INVALID_ENV},
    {"unknown command", "FOO", "abc", "/n", "eth0", "/p", NULL, CNI_ERR_INVALID_ENV},
    {"ADD no container", "ADD", NULL, "/n", "eth0", "/p", NULL, CNI_ERR_INVALID_ENV},
    {"ADD no netns", "ADD", "abc", NULL, "eth0", "/p", NULL, CNI_ERR_INVALID_ENV},
    {"ADD empty netns", "ADD", "abc", "", "eth0", "/p", NULL, CNI_ERR_INVALID_ENV},
    {"ADD no ifname", "ADD", "abc", "/n", NULL, "/p", NULL, CNI_ERR_INVALID_ENV},
    {"ADD no path", "ADD", "abc", "/n", "eth0", NULL, NULL, CNI_ERR_INVALID_ENV},
    {"CHECK no netns", "CHECK", "abc", NULL, "eth0", "/p", NULL, CNI_ERR_INVALID_ENV},
    {"DEL no container", "DEL", NULL, NULL, "eth0", "/p", NULL, CNI_ERR_INVALID_ENV},
    {"bad container id", "ADD", "a/b", "/n", "eth0", "/p", NULL, CNI_ERR_INVALID_ENV},
    {"ifname too long", "ADD", "abc", "/n", "eth0123456789abc", "/p", NULL, CNI_ERR_INVALID_ENV},
    {"ifname with slash", "ADD", "abc", "/n", "a/b", "/p", NULL, CNI_ERR_INVALID_ENV},
    {"ifname dot", "ADD", "abc", "/n", ".", "/p", NULL, CNI_ERR_INVALID_ENV},
    {"malformed CNI_ARGS", "ADD", "abc", "/n", "eth0", "/p", "K8S_POD_NAME", CNI_ERR_INVALID_ENV},
};

Test(cni_conf, env_table)
{
	for (size_t i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++) {
		struct cni_err e = {0};
		struct cni_env env;

		set_env(env_cases[i].cmd, env_cases[i].cid, env_cases[i].netns, env_cases[i].ifname,
			env_cases[i].path, env_cases[i].args);
		cni_env_parse(&env, &e);
		cr_expect_eq(e.code, env_cases[i].code, "%s: code %d, want %d (%s)",
			     env_cases[i].desc, e.code, env_cases[i].code, e.msg);
	}
}

Test(cni_conf, pod_from_args)
{
	struct cni_err e = {0};
	struct cni_env env;

	set_env(
	    "ADD", "abc", "/n", "eth0", "/p",
	    "K8S_POD_UID=1;IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-1;");
	cr_assert_eq(cni_env_parse(&env, &e), 0, "%s", e.msg);
	cr_expect_str_eq(env.k8s_namespace, "kube-system");
	cr_expect_str_eq(env.k8s_pod, "coredns-1");
	cr_expect_eq(env.verb, CNI_ADD);

	set_env("ADD", "abc", "/n", "eth0", "/p", "IgnoreUnknown=1;K8S_POD_NAME=web");
	cr_assert_eq(cni_env_parse(&env, &e), 0, "%s", e.msg);
	cr_expect_str_eq(env.k8s_namespace, "", "podman sends no namespace");
	cr_expect_str_eq(env.k8s_pod, "web");
}

Test(cni_conf, args_get)
{
	char v[8];

	cr_expect_eq(cni_args_get("A=1;B=22", "B", v, sizeof(v)), 1);
	cr_expect_str_eq(v, "22");
	cr_expect_eq(cni_args_get("A=1;B=22", "C", v, sizeof(v)), 0);
	cr_expect_eq(cni_args_get("AB=1;B=2", "B", v, sizeof(v)), 1, "prefix must not match");
	cr_expect_str_eq(v, "2");
	cr_expect_eq(cni_args_get("A=", "A", v, sizeof(v)), 1);
	cr_expect_str_eq(v, "");
	cr_expect_eq(cni_args_get(NULL, "A", v, sizeof(v)), 0);
	cr_expect_eq(cni_args_get("A=123456789", "A", v, sizeof(v)), -EINVAL, "value too long");
	cr_expect_eq(cni_args_get("=1", "A", v, sizeof(v)), -EINVAL, "empty key");
}
