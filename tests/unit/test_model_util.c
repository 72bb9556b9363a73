// SPDX-License-Identifier: Apache-2.0
/* Validation helpers (controller/k8s_util.c): Kubernetes name rules,
 * resourceVersion ordering, protocols, ports, addresses. No root needed. */
#include <netinet/in.h>

#include "model_test.h"

struct name_case {
	const char *s;
	bool label, subdomain, dns1035, key, value, svc;
};

static const struct name_case names[] = {
	/*  s                 label  subdom 1035   key    value  svc */
	{ "web",              true,  true,  true,  true,  true,  true },
	{ "web-1",            true,  true,  true,  true,  true,  true },
	{ "1web",             true,  true,  false, true,  true,  true },
	{ "a.b",              false, true,  false, true,  true,  false },
	{ "Web",              false, false, false, true,  true,  false },
	{ "-web",             false, false, false, false, false, false },
	{ "web-",             false, false, false, false, false, false },
	{ "we_b",             false, false, false, true,  true,  false },
	{ "",                 false, false, false, false, true,  false },
	{ "a..b",             false, false, false, true,  true,  false },
	{ "example.com/app",  false, false, false, true,  false, false },
	{ "Example.com/app",  false, false, false, false, false, false },
	{ "example.com/",     false, false, false, false, false, false },
	{ "/app",             false, false, false, false, false, false },
	{ "a/b/c",            false, false, false, false, false, false },
	{ "http--x",          true,  true,  true,  true,  true,  false },
	{ "123",              true,  true,  false, true,  true,  false },
	{ "sixteen-chars-xx", true,  true,  true,  true,  true,  false },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true, true, true, true, true, false },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, true, false, false, false, false },
};

Test(k8s_util, name_rules)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct name_case *c = &names[i];

		cr_expect_eq(k8s_is_dns1123_label(c->s), c->label, "dns1123 label \"%s\": got %d", c->s, !c->label);
		cr_expect_eq(k8s_is_dns1123_subdomain(c->s), c->subdomain, "subdomain \"%s\": got %d", c->s, !c->subdomain);
		cr_expect_eq(k8s_is_dns1035_label(c->s), c->dns1035, "dns1035 \"%s\": got %d", c->s, !c->dns1035);
		cr_expect_eq(k8s_is_label_key(c->s), c->key, "label key \"%s\": got %d", c->s, !c->key);
		cr_expect_eq(k8s_is_label_value(c->s), c->value, "label value \"%s\": got %d", c->s, !c->value);
		cr_expect_eq(k8s_is_iana_svc_name(c->s), c->svc, "IANA svc name \"%s\": got %d", c->s, !c->svc);
	}
}

Test(k8s_util, resource_versions)
{
	uint64_t v;

	cr_assert_eq(k8s_parse_resource_version("12345", &v), 0);
	cr_assert_eq(v, 12345);
	cr_assert_eq(k8s_parse_resource_version("18446744073709551615", &v), 0);
	cr_assert_eq(k8s_parse_resource_version("18446744073709551616", &v), -EINVAL, "overflow accepted");
	cr_assert_eq(k8s_parse_resource_version("-1", &v), -EINVAL);
	cr_assert_eq(k8s_parse_resource_version("", &v), -EINVAL);
	cr_assert_eq(k8s_parse_resource_version("1a", &v), -EINVAL);
	cr_assert(k8s_rv_older("99", "100"));
	cr_assert(!k8s_rv_older("100", "99"));
	cr_assert(!k8s_rv_older("100", "100"));
	cr_assert(!k8s_rv_older("abc", "100"), "an opaque version counted as older");
	cr_assert(!k8s_rv_older(NULL, "100"));
	cr_assert(!k8s_rv_older("5", NULL));
}

Test(k8s_util, protocols_ports_addresses)
{
	json_t *obj = json_pack("{ss s{ss ss}}", "kind", "Service", "metadata", "name", "web",
				"namespace", "default");
	json_t *port = json_pack("{si ss s{}}", "port", 80, "targetPort", "http", "x", "");
	char err[256];
	struct k8s_vctx v = K8S_VCTX(obj, err, sizeof(err));
	uint8_t proto;
	uint16_t num;
	const char *name;
	struct sl_cidr c;
	json_t *s;

	cr_assert_eq(k8s_default_protocol(&v, port, "protocol", "spec.ports[0]", &proto), 0);
	cr_assert_eq(proto, IPPROTO_TCP);
	cr_assert_str_eq(json_string_value(json_object_get(port, "protocol")), "TCP");
	cr_assert_eq(k8s_get_port(&v, port, "port", "spec.ports[0]", true, &num), 0);
	cr_assert_eq(num, 80);
	cr_assert_eq(k8s_get_int_or_string_port(&v, port, "targetPort", "spec.ports[0]", true, &num, &name), 0);
	cr_assert_str_eq(name, "http");
	cr_assert_eq(num, 0);
	cr_assert_eq(k8s_get_port(&v, port, "nodePort", "spec.ports[0]", true, &num), -EINVAL);
	cr_assert_str_eq(err, "Service default/web: spec.ports[0].nodePort: required");
	/* a caller passing the member's own path gets it printed once */
	cr_assert_eq(k8s_get_port(&v, port, "nodePort", "spec.ports[0].nodePort", true, &num), -EINVAL);
	cr_assert_str_eq(err, "Service default/web: spec.ports[0].nodePort: required");
	cr_assert_eq(k8s_get_string(&v, port, "port", "spec.ports[0]", false, &name), -EINVAL);
	cr_assert_str_eq(err, "Service default/web: spec.ports[0].port: must be a string");
	cr_assert_eq(k8s_parse_protocol("udp", &proto), -EINVAL, "protocols are case-sensitive");
	cr_assert_str_eq(k8s_protocol_name(IPPROTO_SCTP), "SCTP");

	s = json_string("10.0.0.0/8");
	cr_assert_eq(k8s_check_cidr(&v, s, "x", true, &c), 0);
	cr_assert_eq(c.plen, 8);
	json_decref(s);
	s = json_string("10.0.0.1/8");
	cr_assert_eq(k8s_check_cidr(&v, s, "x", true, &c), -EINVAL);
	cr_assert_eq(k8s_check_cidr(&v, s, "x", false, &c), 0, "host bits refused when allowed");
	json_decref(s);
	s = json_string("fd00::1");
	cr_assert_eq(k8s_check_ip(&v, s, "x", &c), 0);
	cr_assert_eq(c.family, SL_AF_INET6);
	cr_assert_eq(c.plen, 128);
	cr_assert_eq(k8s_check_cidr(&v, s, "x", true, &c), -EINVAL, "a bare address taken as CIDR");
	json_decref(s);
	json_decref(port);
	json_decref(obj);
}

Test(k8s_util, label_selector)
{
	json_t *obj = json_pack("{ss s{ss}}", "kind", "NetworkPolicy", "metadata", "name", "np");
	char err[256];
	struct k8s_vctx v = K8S_VCTX(obj, err, sizeof(err));
	json_t *ok = json_loads("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"a\",\"b\"]},{\"key\":\"x\",\"operator\":\"Exists\"}]}", 0, NULL);
	json_t *bad_op = json_loads("{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"Like\"}]}", 0, NULL);
	json_t *no_vals = json_loads("{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[]}]}", 0, NULL);
	json_t *vals_exists = json_loads("{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"Exists\",\"values\":[\"a\"]}]}", 0, NULL);

	cr_assert_eq(k8s_validate_label_selector(&v, ok, "spec.podSelector"), 0, "%s", err);
	cr_assert_eq(k8s_validate_label_selector(&v, NULL, "spec.podSelector"), 0);
	cr_assert_eq(k8s_validate_label_selector(&v, bad_op, "spec.podSelector"), -EINVAL);
	cr_assert(strstr(err, "spec.podSelector.matchExpressions[0].operator"), "%s", err);
	cr_assert_eq(k8s_validate_label_selector(&v, no_vals, "spec.podSelector"), -EINVAL);
	cr_assert(strstr(err, "values: must be non-empty"), "%s", err);
	cr_assert_eq(k8s_validate_label_selector(&v, vals_exists, "spec.podSelector"), -EINVAL);
	cr_assert(strstr(err, "values: must be empty"), "%s", err);
	json_decref(ok);
	json_decref(bad_op);
	json_decref(no_vals);
	json_decref(vals_exists);
	json_decref(obj);
}
