// SPDX-License-Identifier: Apache-2.0
/* Service and EndpointSlice validation and API-server defaulting
 * (controller/k8s_service.c), as a table of objects and outcomes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <jansson.h>

#include "../../controller/kinds.h"

/* Error rows leave the default-check columns out. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

struct vcase {
	const char *desc;
	const struct kind_ops *const *kind;
	const char *json;
	const char *err; /* NULL: must be accepted; else a substring of the error */
	/* For accepted objects: a JSON path check "a.b[0].c=VALUE" (a JSON text). */
	const char *path;
	const char *value;
};

static const struct kind_ops *const svc = &kind_service;
static const struct kind_ops *const eps = &kind_endpointslice;

#define SVC(spec)                                                                                  \
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","              \
	"\"namespace\":\"shop\"},\"spec\":" spec "}"
#define EPS(body)                                                                                  \
	"{\"apiVersion\":\"discovery.k8s.io/"                                                      \
	"v1\",\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"web-abc\",\"namespace\":"        \
	"\"shop\",\"labels\":{\"kubernetes.io/service-name\":\"web\"}}," body "}"

static const struct vcase cases[] = {
    /* Service: defaults */
    {"single port: protocol defaults to TCP", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80}]}"), NULL,
     "spec.ports[0].protocol", "\"TCP\""},
    {"targetPort defaults to port", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80}]}"), NULL,
     "spec.ports[0].targetPort", "80"},
    {"type defaults to ClusterIP", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80}]}"), NULL, "spec.type",
     "\"ClusterIP\""},
    {"clusterIPs defaults from clusterIP", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80}]}"), NULL, "spec.clusterIPs[0]",
     "\"10.96.0.10\""},
    {"clusterIP defaults from clusterIPs", &svc,
     SVC("{\"clusterIPs\":[\"10.96.0.11\"],\"ports\":[{\"port\":80}]}"), NULL, "spec.clusterIP",
     "\"10.96.0.11\""},
    {"sessionAffinity defaults to None", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80}]}"), NULL, "spec.sessionAffinity",
     "\"None\""},
    {"ClientIP affinity timeout defaults to 10800", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"sessionAffinity\":\"ClientIP\",\"ports\":[{\"port\":80}]"
	 "}"),
     NULL, "spec.sessionAffinityConfig.clientIP.timeoutSeconds", "10800"},
    {"internalTrafficPolicy defaults to Cluster", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80}]}"), NULL,
     "spec.internalTrafficPolicy", "\"Cluster\""},
    {"namespace defaults to default", &svc,
     "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"},\"spec\":{"
     "\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80}]}}",
     NULL, "metadata.namespace", "\"default\""},
    {"headless needs no ports", &svc, SVC("{\"clusterIP\":\"None\"}"), NULL, "spec.clusterIPs[0]",
     "\"None\""},
    {"named targetPort kept", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80,\"targetPort\":\"web\"}]}"), NULL,
     "spec.ports[0].targetPort", "\"web\""},
    {"dual stack", &svc,
     SVC("{\"clusterIPs\":[\"10.96.0.10\",\"fd00::10\"],\"ports\":[{\"port\":80}]}"), NULL,
     "spec.ipFamilyPolicy", "\"RequireDualStack\""},
    {"ExternalName", &svc, SVC("{\"type\":\"ExternalName\",\"externalName\":\"db.example.com\"}"),
     NULL, "spec.type", "\"ExternalName\""},
    {"UDP and TCP on the same port number", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"name\":\"dns\",\"port\":53,\"protocol\":"
	 "\"UDP\"},{\"name\":\"dns-tcp\",\"port\":53}]}"),
     NULL, "spec.ports[1].protocol", "\"TCP\""},
    /* Service: errors, with what and where */
    {"port 0", &svc, SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":0}]}"),
     "Service shop/web: spec.ports[0].port: must be 1-65535"},
    {"port 65536", &svc, SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":65536}]}"),
     "spec.ports[0].port: must be 1-65535"},
    {"missing port", &svc, SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"name\":\"a\"}]}"),
     "spec.ports[0].port: required"},
    {"bad protocol", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80,\"protocol\":\"ICMP\"}]}"),
     "spec.ports[0].protocol: must be TCP, UDP or SCTP"},
    {"multi-port needs names", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"name\":\"a\",\"port\":80},{\"port\":81}]}"),
     "spec.ports[1].name: required"},
    {"duplicate port names", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"name\":\"a\",\"port\":80},{\"name\":\"a\","
	 "\"port\":81}]}"),
     "spec.ports[1].name: duplicate"},
    {"duplicate port/protocol", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"name\":\"a\",\"port\":80},{\"name\":\"b\","
	 "\"port\":80}]}"),
     "spec.ports[1]: duplicate of spec.ports[0] (80/TCP)"},
    {"targetPort 0", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80,\"targetPort\":0}]}"),
     "spec.ports[0].targetPort: must be 1-65535"},
    {"targetPort bad name", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80,\"targetPort\":\"Web_Port\"}]}"),
     "spec.ports[0].targetPort: must be a port name"},
    {"bad type", &svc,
     SVC("{\"type\":\"Magic\",\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80}]}"),
     "spec.type: must be ClusterIP, NodePort, LoadBalancer or ExternalName"},
    {"bad clusterIP", &svc, SVC("{\"clusterIP\":\"10.96.0.300\",\"ports\":[{\"port\":80}]}"),
     "spec.clusterIPs[0]: must be a valid IP address"},
    {"clusterIP and clusterIPs disagree", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"clusterIPs\":[\"10.96.0.11\"],\"ports\":[{\"port\":80}]"
	 "}"),
     "spec.clusterIPs[0]: must equal spec.clusterIP"},
    {"no clusterIP", &svc, SVC("{\"ports\":[{\"port\":80}]}"), "spec.clusterIP: required"},
    {"no ports", &svc, SVC("{\"clusterIP\":\"10.96.0.10\"}"), "spec.ports: required"},
    {"affinity timeout 0", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":"
	 "{\"clientIP\":{\"timeoutSeconds\":0}},\"ports\":[{\"port\":80}]}"),
     "spec.sessionAffinityConfig.clientIP.timeoutSeconds: must be 1-86400"},
    {"affinity timeout 86401", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":"
	 "{\"clientIP\":{\"timeoutSeconds\":86401}},\"ports\":[{\"port\":80}]}"),
     "timeoutSeconds: must be 1-86400"},
    {"affinity config with None", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"sessionAffinityConfig\":{\"clientIP\":{"
	 "\"timeoutSeconds\":5}},\"ports\":[{\"port\":80}]}"),
     "spec.sessionAffinityConfig: must not be set when sessionAffinity is None"},
    {"bad affinity", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"sessionAffinity\":\"Cookie\",\"ports\":[{\"port\":80}]}"),
     "spec.sessionAffinity: must be None or ClientIP"},
    {"bad internalTrafficPolicy", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"internalTrafficPolicy\":\"Node\",\"ports\":[{\"port\":80}"
	 "]}"),
     "spec.internalTrafficPolicy: must be Cluster or Local"},
    {"Service name must be DNS-1035", &svc,
     "{\"kind\":\"Service\",\"metadata\":{\"name\":\"1web\"},\"spec\":{\"clusterIP\":\"10.96.0."
     "10\",\"ports\":[{\"port\":80}]}}",
     "metadata.name: must be a DNS-1035 label"},
    {"ExternalName with clusterIP", &svc,
     SVC("{\"type\":\"ExternalName\",\"externalName\":\"x.example.com\",\"clusterIP\":\"10.96.0."
	 "1\"}"),
     "spec.clusterIP: must be empty for type ExternalName"},
    {"nodePort on ClusterIP", &svc,
     SVC("{\"clusterIP\":\"10.96.0.10\",\"ports\":[{\"port\":80,\"nodePort\":30080}]}"),
     "spec.ports[0].nodePort: only allowed for type NodePort or LoadBalancer"},
    {"two IPv4 clusterIPs", &svc,
     SVC("{\"clusterIPs\":[\"10.96.0.10\",\"10.96.0.11\"],\"ports\":[{\"port\":80}]}"),
     "spec.clusterIPs: must be one IPv4 and one IPv6 address"},
    {"spec missing", &svc, "{\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"}}",
     "spec: required"},

    /* EndpointSlice */
    {"slice port protocol defaults to TCP", &eps,
     EPS("\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.244.0.5\"]}],\"ports\":[{"
	 "\"name\":\"http\",\"port\":8080}]"),
     NULL, "ports[0].protocol", "\"TCP\""},
    {"slice port name defaults to empty", &eps,
     EPS("\"addressType\":\"IPv4\",\"endpoints\":[],\"ports\":[{\"port\":8080}]"), NULL,
     "ports[0].name", "\"\""},
    {"null conditions are fine", &eps,
     EPS("\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.244.0.5\"],\"conditions\":{"
	 "\"ready\":null}}]"),
     NULL, "addressType", "\"IPv4\""},
    {"null port is fine", &eps,
     EPS("\"addressType\":\"IPv4\",\"endpoints\":[],\"ports\":[{\"name\":\"x\",\"port\":null}]"),
     NULL, "ports[0].name", "\"x\""},
    {"FQDN slice", &eps,
     EPS("\"addressType\":\"FQDN\",\"endpoints\":[{\"addresses\":[\"db.example.com\"]}]"), NULL,
     "addressType", "\"FQDN\""},
    {"bad addressType", &eps, EPS("\"addressType\":\"IPv5\",\"endpoints\":[]"),
     "EndpointSlice shop/web-abc: addressType: must be IPv4, IPv6 or FQDN"},
    {"missing addressType", &eps, EPS("\"endpoints\":[]"), "addressType: required"},
    {"IPv6 address in IPv4 slice", &eps,
     EPS("\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"fd00::5\"]}]"),
     "endpoints[0].addresses[0]: must be an IPv4 address"},
    {"bad address", &eps,
     EPS("\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.244.0.500\"]}]"),
     "endpoints[0].addresses[0]: must be a valid IP address"},
    {"no addresses", &eps, EPS("\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[]}]"),
     "endpoints[0].addresses: must have at least one address"},
    {"condition not a bool", &eps,
     EPS("\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.244.0.5\"],\"conditions\":{"
	 "\"ready\":\"yes\"}}]"),
     "endpoints[0].conditions.ready: must be a boolean or null"},
    {"slice port 0", &eps,
     EPS("\"addressType\":\"IPv4\",\"endpoints\":[],\"ports\":[{\"port\":0}]"),
     "ports[0].port: must be 1-65535"},
    {"slice duplicate port names", &eps,
     EPS("\"addressType\":\"IPv4\",\"endpoints\":[],\"ports\":[{\"name\":\"a\",\"port\":1},{"
	 "\"name\":\"a\",\"port\":2}]"),
     "ports[1].name: duplicate of ports[0]"},
    {"bad nodeName", &eps,
     EPS("\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.244.0.5\"],\"nodeName\":"
	 "\"Node_A\"}]"),
     "endpoints[0].nodeName: must be a DNS-1123 subdomain"},
    {"bad service-name label", &eps,
     "{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"s\",\"labels\":{\"kubernetes.io/"
     "service-name\":\"9web\"}},\"addressType\":\"IPv4\",\"endpoints\":[]}",
     "kubernetes.io/service-name: must name a Service"},
};

/* Follow "a.b[0].c" in v; NULL when absent. */
static json_t *at_path(json_t *v, const char *path)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save)) {
		char *br = strchr(tok, '[');

		if (br)
			*br = 0;
		v = json_object_get(v, tok);
		while (br && v) {
			v = json_array_get(v, strtoul(br + 1, NULL, 10));
			br = strchr(br + 1, '[');
		}
	}
	return v;
}

Test(svc_validate, table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct vcase *c = &cases[i];
		json_error_t jerr;
		json_t *obj = json_loads(c->json, 0, &jerr);
		char err[512] = "";
		int rc;

		cr_assert(obj, "case '%s': test JSON does not parse: %s", c->desc, jerr.text);
		rc = (*c->kind)->validate(obj, err, sizeof(err));
		if (!c->err) {
			cr_expect_eq(rc, 0, "case '%s': expected accepted, got %d: %s", c->desc, rc,
				     err);
			if (!rc && c->path) {
				json_t *want = json_loads(c->value, JSON_DECODE_ANY, NULL);
				json_t *got = at_path(obj, c->path);
				char *gs = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;

				cr_expect(got && json_equal(got, want),
					  "case '%s': %s is %s, expected %s", c->desc, c->path,
					  gs ? gs : "(absent)", c->value);
				free(gs);
				json_decref(want);
			}
		} else {
			cr_expect_eq(rc, -EINVAL, "case '%s': expected -EINVAL, got %d", c->desc,
				     rc);
			cr_expect(strstr(err, c->err) != NULL,
				  "case '%s': error is \"%s\", expected it to contain \"%s\"",
				  c->desc, err, c->err);
		}
		json_decref(obj);
	}
}

Test(svc_validate, kinds_are_declared)
{
	cr_expect_str_eq(kind_service.kind, "Service");
	cr_expect_str_eq(kind_service.api_version, "v1");
	cr_expect_str_eq(kind_endpointslice.kind, "EndpointSlice");
	cr_expect_str_eq(kind_endpointslice.api_version, "discovery.k8s.io/v1");
	cr_expect(kind_service.namespaced && kind_endpointslice.namespaced);
}
