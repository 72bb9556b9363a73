// SPDX-License-Identifier: Apache-2.0
/* The Service (v1) and EndpointSlice (discovery.k8s.io/v1) kinds:
 * validation with the API server's defaulting, then services.c applies. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kinds.h"
#include "k8s_util.h"
#include "services.h"

#define SVC_MAX_PORTS	   K8S_MAX_ITEMS
#define SLICE_MAX_EPS	   1000 /* discovery/v1 maxEndpoints */
#define SLICE_MAX_PORTS	   100	/* discovery/v1 maxPorts */
#define SLICE_MAX_ADDRS	   100	/* per endpoint */
#define AFFINITY_DEFAULT_S 10800
#define AFFINITY_MAX_S	   86400

static bool one_of(const char *s, const char *const *vals)
{
	for (; *vals; vals++)
		if (!strcmp(s, *vals))
			return true;
	return false;
}

/* spec[key] must be one of vals; absent -> dflt written back (dflt NULL:
 * left absent). *out gets the value (or NULL). */
static int get_enum(const struct k8s_vctx *v, json_t *spec, const char *key, const char *path,
		    const char *const *vals, const char *dflt, const char **out)
{
	const char *s;
	int rc;

	rc = k8s_get_string(v, spec, key, path, false, &s);
	if (rc)
		return rc;
	if (!s || !*s) {
		*out = dflt;
		if (dflt && json_object_set_new(spec, key, json_string(dflt)))
			return k8s_fail_errno(v, -ENOMEM, "%s.%s: out of memory", path, key);
		return 0;
	}
	if (!one_of(s, vals)) {
		char list[128] = "";

		for (const char *const *p = vals; *p; p++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 p == vals ? ""
				 : p[1]	   ? ", "
					   : " or ",
				 *p);
		return k8s_fail(v, "%s.%s: must be %s, not '%.32s'", path, key, list, s);
	}
	*out = s;
	return 0;
}

/* clusterIP / clusterIPs: each defaults from the other, as the API server
 * does; "None" makes the Service headless. */
static int validate_cluster_ips(const struct k8s_vctx *v, json_t *spec, const char *type,
				bool *headless)
{
	const char *cip;
	json_t *ips;
	struct sl_cidr a[2];
	size_t n;
	int rc;

	*headless = false;
	rc = k8s_get_string(v, spec, "clusterIP", "spec.clusterIP", false, &cip);
	if (rc)
		return rc;
	rc = k8s_get_array(v, spec, "clusterIPs", "spec.clusterIPs", false, 2, &ips);
	if (rc)
		return rc;
	if (cip && !*cip)
		cip = NULL;
	if (!strcmp(type, "ExternalName")) {
		if (cip || json_array_size(ips))
			return k8s_fail(v, "spec.clusterIP: must be empty for type ExternalName");
		return 0;
	}
	if (ips && json_array_size(ips)) {
		const char *first = json_string_value(json_array_get(ips, 0));

		if (!first)
			return k8s_fail(v, "spec.clusterIPs[0]: must be a string");
		if (cip && strcmp(cip, first))
			return k8s_fail(
			    v, "spec.clusterIPs[0]: must equal spec.clusterIP ('%.46s')", cip);
		if (!cip) {
			cip = first;
			if (json_object_set_new(spec, "clusterIP", json_string(cip)))
				return k8s_fail_errno(v, -ENOMEM, "spec.clusterIP: out of memory");
		}
	} else if (cip) {
		ips = json_pack("[s]", cip);
		if (!ips || json_object_set_new(spec, "clusterIPs", ips))
			return k8s_fail_errno(v, -ENOMEM, "spec.clusterIPs: out of memory");
	} else {
		/* The API server allocates it; a node cannot invent the same one. */
		return k8s_fail(v, "spec.clusterIP: required (the API server allocates it; "
				   "use \"None\" for a headless Service)");
	}
	n = json_array_size(ips);
	if (!strcmp(cip, "None")) {
		if (n != 1)
			return k8s_fail(
			    v, "spec.clusterIPs: must be [\"None\"] for a headless Service");
		if (strcmp(type, "ClusterIP"))
			return k8s_fail(v, "spec.clusterIP: \"None\" needs type ClusterIP");
		*headless = true;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		char path[48];

		snprintf(path, sizeof(path), "spec.clusterIPs[%zu]", i);
		rc = k8s_check_ip(v, json_array_get(ips, i), path, &a[i]);
		if (rc)
			return rc;
	}
	if (n == 2 && a[0].family == a[1].family)
		return k8s_fail(v, "spec.clusterIPs: must be one IPv4 and one IPv6 address");
	if (!json_object_get(spec, "ipFamilies")) {
		json_t *fam = json_array();

		for (size_t i = 0; fam && i < n; i++)
			json_array_append_new(
			    fam, json_string(a[i].family == SL_AF_INET ? "IPv4" : "IPv6"));
		if (!fam || json_object_set_new(spec, "ipFamilies", fam))
			return k8s_fail_errno(v, -ENOMEM, "spec.ipFamilies: out of memory");
	}
	{
		static const char *const pol[] = {"SingleStack", "PreferDualStack",
						  "RequireDualStack", NULL};
		const char *p;

		rc = get_enum(v, spec, "ipFamilyPolicy", "spec", pol,
			      n == 2 ? "RequireDualStack" : "SingleStack", &p);
		if (rc)
			return rc;
		if (n == 2 && !strcmp(p, "SingleStack"))
			return k8s_fail(
			    v, "spec.ipFamilyPolicy: SingleStack allows one cluster IP, got 2");
	}
	return 0;
}

static int validate_service_ports(const struct k8s_vctx *v, json_t *spec, const char *type,
				  bool headless)
{
	json_t *ports, *p;
	size_t i, n;
	int rc;

	rc = k8s_get_array(v, spec, "ports", "spec.ports", false, SVC_MAX_PORTS, &ports);
	if (rc)
		return rc;
	n = json_array_size(ports);
	if (!n && !headless && strcmp(type, "ExternalName"))
		return k8s_fail(v, "spec.ports: required (at least one port)");
	json_array_foreach(ports, i, p)
	{
		char path[48];
		const char *name, *tname;
		uint16_t port, tnum;
		uint8_t proto;
		long long node_port;

		snprintf(path, sizeof(path), "spec.ports[%zu]", i);
		if (!json_is_object(p))
			return k8s_fail(v, "%s: must be an object", path);
		rc = k8s_get_string(v, p, "name", path, n > 1, &name);
		if (rc)
			return rc;
		if (name && *name && !k8s_is_dns1123_label(name))
			return k8s_fail(v, "%s.name: must be a DNS-1123 label, not '%.63s'", path,
					name);
		rc = k8s_default_protocol(v, p, "protocol", path, &proto);
		if (rc)
			return rc;
		rc = k8s_get_port(v, p, "port", path, true, &port);
		if (rc)
			return rc;
		rc = k8s_get_int_or_string_port(v, p, "targetPort", path, false, &tnum, &tname);
		if (rc)
			return rc;
		if (!tnum && !tname && json_object_set_new(p, "targetPort", json_integer(port)))
			return k8s_fail_errno(v, -ENOMEM, "%s.targetPort: out of memory", path);
		rc = k8s_get_int(v, p, "nodePort", path, false, 0, 65535, 0, &node_port);
		if (rc)
			return rc;
		if (node_port && strcmp(type, "NodePort") && strcmp(type, "LoadBalancer"))
			return k8s_fail(
			    v, "%s.nodePort: only allowed for type NodePort or LoadBalancer", path);
		/* Names and (port, protocol) pairs are unique. */
		for (size_t j = 0; j < i; j++) {
			json_t *q = json_array_get(ports, j);
			const char *qn = json_string_value(json_object_get(q, "name"));

			if (name && qn && !strcmp(name, qn))
				return k8s_fail(v, "%s.name: duplicate of spec.ports[%zu] ('%s')",
						path, j, name);
			if (json_integer_value(json_object_get(q, "port")) == port &&
			    !strcmp(json_string_value(json_object_get(q, "protocol")),
				    json_string_value(json_object_get(p, "protocol"))))
				return k8s_fail(v, "%s: duplicate of spec.ports[%zu] (%u/%s)", path,
						j, port,
						json_string_value(json_object_get(p, "protocol")));
		}
	}
	return 0;
}

static int validate_affinity(const struct k8s_vctx *v, json_t *spec)
{
	static const char *const vals[] = {"None", "ClientIP", NULL};
	json_t *cfg, *cip;
	const char *aff;
	long long t;
	int rc;

	rc = get_enum(v, spec, "sessionAffinity", "spec", vals, "None", &aff);
	if (rc)
		return rc;
	rc = k8s_get_object(v, spec, "sessionAffinityConfig", "spec", false, &cfg);
	if (rc)
		return rc;
	if (!strcmp(aff, "None")) {
		if (cfg && json_object_size(cfg))
			return k8s_fail(v, "spec.sessionAffinityConfig: must not be set when "
					   "sessionAffinity is None");
		return 0;
	}
	if (!cfg) {
		cfg = json_object();
		if (!cfg || json_object_set_new(spec, "sessionAffinityConfig", cfg))
			return k8s_fail_errno(v, -ENOMEM,
					      "spec.sessionAffinityConfig: out of memory");
	}
	rc = k8s_get_object(v, cfg, "clientIP", "spec.sessionAffinityConfig", false, &cip);
	if (rc)
		return rc;
	if (!cip) {
		cip = json_object();
		if (!cip || json_object_set_new(cfg, "clientIP", cip))
			return k8s_fail_errno(v, -ENOMEM,
					      "spec.sessionAffinityConfig: out of memory");
	}
	rc = k8s_get_int(v, cip, "timeoutSeconds", "spec.sessionAffinityConfig.clientIP", false, 1,
			 AFFINITY_MAX_S, AFFINITY_DEFAULT_S, &t);
	if (rc)
		return rc;
	if (json_object_set_new(cip, "timeoutSeconds", json_integer(t)))
		return k8s_fail_errno(v, -ENOMEM, "spec.sessionAffinityConfig: out of memory");
	return 0;
}

static int service_validate(json_t *obj, char *err, size_t errlen)
{
	static const char *const types[] = {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName",
					    NULL};
	static const char *const policies[] = {"Cluster", "Local", NULL};
	struct k8s_vctx v = K8S_VCTX(obj, err, errlen);
	json_t *spec, *ext_ips, *ip;
	const char *type, *s;
	bool headless;
	size_t i;
	int rc;

	rc = k8s_validate_metadata(&v, obj, true, k8s_is_dns1035_label);
	if (rc)
		return rc;
	rc = k8s_get_object(&v, obj, "spec", NULL, true, &spec);
	if (rc)
		return rc;
	rc = get_enum(&v, spec, "type", "spec", types, "ClusterIP", &type);
	if (rc)
		return rc;
	if (!strcmp(type, "ExternalName")) {
		rc = k8s_get_string(&v, spec, "externalName", "spec", true, &s);
		if (rc)
			return rc;
		if (!k8s_is_dns1123_subdomain(s))
			return k8s_fail(
			    &v, "spec.externalName: must be a DNS-1123 subdomain, not '%.64s'", s);
	}
	rc = validate_cluster_ips(&v, spec, type, &headless);
	if (rc)
		return rc;
	rc = validate_service_ports(&v, spec, type, headless);
	if (rc)
		return rc;
	rc = validate_affinity(&v, spec);
	if (rc)
		return rc;
	rc = k8s_validate_labels(&v, json_object_get(spec, "selector"), "spec.selector");
	if (rc)
		return rc;
	if (strcmp(type, "ExternalName")) {
		rc = get_enum(&v, spec, "internalTrafficPolicy", "spec", policies, "Cluster", &s);
		if (rc)
			return rc;
	}
	if (!strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer")) {
		rc = get_enum(&v, spec, "externalTrafficPolicy", "spec", policies, "Cluster", &s);
		if (rc)
			return rc;
	} else {
		rc = k8s_get_string(&v, spec, "externalTrafficPolicy", "spec", false, &s);
		if (rc)
			return rc;
		if (s && *s)
			return k8s_fail(&v, "spec.externalTrafficPolicy: only allowed for type "
					    "NodePort or LoadBalancer");
	}
	{
		bool b;

		rc = k8s_get_bool(&v, spec, "publishNotReadyAddresses", "spec", false, &b);
		if (rc)
			return rc;
	}
	rc = k8s_get_array(&v, spec, "externalIPs", "spec.externalIPs", false, K8S_MAX_ITEMS,
			   &ext_ips);
	if (rc)
		return rc;
	json_array_foreach(ext_ips, i, ip)
	{
		char path[64];

		snprintf(path, sizeof(path), "spec.externalIPs[%zu]", i);
		rc = k8s_check_ip(&v, ip, path, NULL);
		if (rc)
			return rc;
	}
	return 0;
}

static int validate_slice_endpoint(const struct k8s_vctx *v, json_t *ep, size_t i,
				   const char *atype)
{
	static const char *const conds[] = {"ready", "serving", "terminating", NULL};
	char path[48];
	json_t *addrs, *a, *c;
	const char *s;
	size_t j;
	int rc;

	snprintf(path, sizeof(path), "endpoints[%zu]", i);
	if (!json_is_object(ep))
		return k8s_fail(v, "%s: must be an object", path);
	rc = k8s_get_array(v, ep, "addresses", path, true, SLICE_MAX_ADDRS, &addrs);
	if (rc)
		return rc;
	if (!json_array_size(addrs))
		return k8s_fail(v, "%s.addresses: must have at least one address", path);
	json_array_foreach(addrs, j, a)
	{
		char ap[96];
		struct sl_cidr c4;

		snprintf(ap, sizeof(ap), "%s.addresses[%zu]", path, j);
		if (!strcmp(atype, "FQDN")) {
			if (!json_is_string(a) || !k8s_is_dns1123_subdomain(json_string_value(a)))
				return k8s_fail(
				    v, "%s: must be a DNS-1123 subdomain (addressType FQDN)", ap);
			continue;
		}
		rc = k8s_check_ip(v, a, ap, &c4);
		if (rc)
			return rc;
		if ((c4.family == SL_AF_INET) != !strcmp(atype, "IPv4"))
			return k8s_fail(v, "%s: must be an %s address (addressType), not '%.46s'",
					ap, atype, json_string_value(a));
	}
	rc = k8s_get_object(v, ep, "conditions", path, false, &c);
	if (rc)
		return rc;
	for (const char *const *k = conds; *k; k++) {
		json_t *b = json_object_get(c, *k);

		/* null and absent both mean "unknown" (services.c applies the
		 * API's reading of unknown); anything else must be a bool. */
		if (b && !json_is_null(b) && !json_is_boolean(b))
			return k8s_fail(v, "%s.conditions.%s: must be a boolean or null", path, *k);
	}
	rc = k8s_get_string(v, ep, "nodeName", path, false, &s);
	if (rc)
		return rc;
	if (s && *s && !k8s_is_dns1123_subdomain(s))
		return k8s_fail(v, "%s.nodeName: must be a DNS-1123 subdomain, not '%.64s'", path,
				s);
	rc = k8s_get_string(v, ep, "hostname", path, false, &s);
	if (rc)
		return rc;
	if (s && *s && !k8s_is_dns1123_label(s))
		return k8s_fail(v, "%s.hostname: must be a DNS-1123 label", path);
	rc = k8s_get_string(v, ep, "zone", path, false, &s);
	if (rc)
		return rc;
	rc = k8s_get_object(v, ep, "targetRef", path, false, &c);
	return rc;
}

static int slice_validate(json_t *obj, char *err, size_t errlen)
{
	static const char *const atypes[] = {"IPv4", "IPv6", "FQDN", NULL};
	struct k8s_vctx v = K8S_VCTX(obj, err, errlen);
	json_t *eps, *ports, *x;
	const char *atype, *svc;
	size_t i;
	int rc;

	rc = k8s_validate_metadata(&v, obj, true, NULL);
	if (rc)
		return rc;
	rc = k8s_get_string(&v, obj, "addressType", NULL, true, &atype);
	if (rc)
		return rc;
	if (!one_of(atype, atypes))
		return k8s_fail(&v, "addressType: must be IPv4, IPv6 or FQDN, not '%.32s'", atype);
	svc = json_string_value(json_object_get(k8s_labels(obj), "kubernetes.io/service-name"));
	if (svc && *svc && !k8s_is_dns1035_label(svc))
		return k8s_fail(&v,
				"metadata.labels.kubernetes.io/service-name: must name a Service "
				"(DNS-1035 label), not '%.63s'",
				svc);
	/* The API requires the member but real clients omit an empty list. */
	rc = k8s_get_array(&v, obj, "endpoints", NULL, false, SLICE_MAX_EPS, &eps);
	if (rc)
		return rc;
	if (!eps && json_object_set_new(obj, "endpoints", json_array()))
		return k8s_fail_errno(&v, -ENOMEM, "endpoints: out of memory");
	json_array_foreach(eps, i, x)
	{
		rc = validate_slice_endpoint(&v, x, i, atype);
		if (rc)
			return rc;
	}
	rc = k8s_get_array(&v, obj, "ports", NULL, false, SLICE_MAX_PORTS, &ports);
	if (rc)
		return rc;
	json_array_foreach(ports, i, x)
	{
		char path[48];
		const char *name;
		long long port;

		snprintf(path, sizeof(path), "ports[%zu]", i);
		if (!json_is_object(x))
			return k8s_fail(&v, "%s: must be an object", path);
		rc = k8s_get_string(&v, x, "name", path, false, &name);
		if (rc)
			return rc;
		if (name && *name && !k8s_is_dns1123_label(name))
			return k8s_fail(&v, "%s.name: must be a DNS-1123 label, not '%.63s'", path,
					name);
		if (!name && json_object_set_new(x, "name", json_string("")))
			return k8s_fail_errno(&v, -ENOMEM, "%s.name: out of memory", path);
		rc = k8s_default_protocol(&v, x, "protocol", path, NULL);
		if (rc)
			return rc;
		/* port may be null ("not restricted"): consumers skip it. */
		rc = k8s_get_int(&v, x, "port", path, false, 1, 65535, 0, &port);
		if (rc)
			return rc;
		for (size_t j = 0; j < i; j++) {
			const char *qn =
			    json_string_value(json_object_get(json_array_get(ports, j), "name"));

			if (!strcmp(qn ? qn : "", name ? name : ""))
				return k8s_fail(&v, "%s.name: duplicate of ports[%zu] ('%s')", path,
						j, name ? name : "");
		}
	}
	return 0;
}

static int service_apply(const json_t *old, const json_t *new, char *err, size_t errlen)
{
	return services_apply_service(old, new, err, errlen);
}

static int slice_apply(const json_t *old, const json_t *new, char *err, size_t errlen)
{
	return services_apply_slice(old, new, err, errlen);
}

const struct kind_ops kind_service = {
    .kind = "Service",
    .api_version = "v1",
    .namespaced = true,
    .validate = service_validate,
    .apply = service_apply,
};

const struct kind_ops kind_endpointslice = {
    .kind = "EndpointSlice",
    .api_version = "discovery.k8s.io/v1",
    .namespaced = true,
    .validate = slice_validate,
    .apply = slice_apply,
};
