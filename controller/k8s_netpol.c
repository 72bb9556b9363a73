// SPDX-License-Identifier: Apache-2.0
/* networking.k8s.io/v1 NetworkPolicy: validation and defaulting as the API
 * server does them, and the hook that makes a change reach the maps (the
 * compiler in policy.c reads the stored objects). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sluice/policy.h>
#include "k8s_util.h"
#include "kinds.h"
#include "policy.h"

/* Paths in error messages are short; truncation would only shorten one. */
static void __attribute__((format(printf, 3, 4))) pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* a covers b strictly: b lies inside a and is smaller. */
static bool strict_subset(const struct sl_cidr *a, const struct sl_cidr *b)
{
	return a->family == b->family && b->plen > a->plen &&
	       sl_cidr_contains(a, &b->addr, b->family);
}

static int validate_ip_block(const struct k8s_vctx *v, json_t *ipb, const char *path)
{
	struct sl_cidr cidr, ex;
	char p[320];
	json_t *excepts, *e;
	size_t i;
	int rc;

	if (!json_is_object(ipb))
		return k8s_fail(v, "%s: must be an object", path);
	rc = k8s_get_cidr(v, ipb, "cidr", path, true, false, &cidr, NULL);
	if (rc)
		return rc;
	pathf(p, sizeof(p), "%s.except", path);
	rc = k8s_get_array(v, ipb, "except", path, false, K8S_MAX_ITEMS, &excepts);
	if (rc || !excepts)
		return rc;
	json_array_foreach(excepts, i, e)
	{
		char ep[340];

		pathf(ep, sizeof(ep), "%s[%zu]", p, i);
		rc = k8s_check_cidr(v, e, ep, false, &ex);
		if (rc)
			return rc;
		if (!strict_subset(&cidr, &ex))
			return k8s_fail(v, "%s: %s must be a strict subset of cidr %s", ep,
					json_string_value(e),
					json_string_value(json_object_get(ipb, "cidr")));
	}
	return 0;
}

static int validate_peer(const struct k8s_vctx *v, json_t *peer, const char *path)
{
	json_t *ps = json_object_get(peer, "podSelector");
	json_t *nss = json_object_get(peer, "namespaceSelector");
	json_t *ipb = json_object_get(peer, "ipBlock");
	char p[320];
	int rc;

	if (!json_is_object(peer))
		return k8s_fail(v, "%s: must be an object", path);
	if (json_is_null(ps))
		ps = NULL;
	if (json_is_null(nss))
		nss = NULL;
	if (json_is_null(ipb))
		ipb = NULL;
	if (!ps && !nss && !ipb)
		return k8s_fail(
		    v, "%s: must specify a peer (podSelector, namespaceSelector or ipBlock)", path);
	if (ipb && (ps || nss))
		return k8s_fail(
		    v, "%s: ipBlock may not be combined with podSelector or namespaceSelector",
		    path);
	if (ipb) {
		pathf(p, sizeof(p), "%s.ipBlock", path);
		return validate_ip_block(v, ipb, p);
	}
	pathf(p, sizeof(p), "%s.podSelector", path);
	rc = k8s_validate_label_selector(v, ps, p);
	if (rc)
		return rc;
	pathf(p, sizeof(p), "%s.namespaceSelector", path);
	return k8s_validate_label_selector(v, nss, p);
}

static int validate_port(const struct k8s_vctx *v, json_t *pt, const char *path)
{
	const char *name;
	uint16_t num, end;
	int rc;

	if (!json_is_object(pt))
		return k8s_fail(v, "%s: must be an object", path);
	rc = k8s_default_protocol(v, pt, "protocol", path, NULL);
	if (rc)
		return rc;
	rc = k8s_get_int_or_string_port(v, pt, "port", path, false, &num, &name);
	if (rc)
		return rc;
	rc = k8s_get_port(v, pt, "endPort", path, false, &end);
	if (rc)
		return rc;
	if (end && name)
		return k8s_fail(v, "%s.endPort: may not be set when port is a name (%s)", path,
				name);
	if (end && !num)
		return k8s_fail(v, "%s.endPort: may not be set without a numeric port", path);
	if (end && end < num)
		return k8s_fail(v, "%s.endPort: %u must be greater than or equal to port %u", path,
				end, num);
	return 0;
}

static int validate_rules(const struct k8s_vctx *v, json_t *spec, const char *key,
			  const char *peer_key)
{
	json_t *rules, *rule, *arr, *it;
	char path[128], p[256], ip[320];
	size_t i, j;
	int rc;

	pathf(path, sizeof(path), "spec.%s", key);
	rc = k8s_get_array(v, spec, key, "spec", false, SL_POL_MAX_RULES, &rules);
	if (rc || !rules)
		return rc;
	json_array_foreach(rules, i, rule)
	{
		pathf(p, sizeof(p), "%s[%zu]", path, i);
		if (!json_is_object(rule))
			return k8s_fail(v, "%s: must be an object", p);
		rc = k8s_get_array(v, rule, "ports", p, false, K8S_MAX_ITEMS, &arr);
		if (rc)
			return rc;
		json_array_foreach(arr, j, it)
		{
			pathf(ip, sizeof(ip), "%s.ports[%zu]", p, j);
			rc = validate_port(v, it, ip);
			if (rc)
				return rc;
		}
		rc = k8s_get_array(v, rule, peer_key, p, false, K8S_MAX_ITEMS, &arr);
		if (rc)
			return rc;
		json_array_foreach(arr, j, it)
		{
			pathf(ip, sizeof(ip), "%s.%s[%zu]", p, peer_key, j);
			rc = validate_peer(v, it, ip);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int netpol_validate(json_t *obj, char *err, size_t errlen)
{
	struct k8s_vctx v = K8S_VCTX(obj, err, errlen);
	json_t *spec, *sel, *types, *t;
	bool seen[2] = {false, false};
	size_t i;
	int rc;

	rc = k8s_validate_metadata(&v, obj, true, NULL);
	if (rc)
		return rc;
	rc = k8s_get_object(&v, obj, "spec", "", true, &spec);
	if (rc)
		return rc;
	rc = k8s_get_object(&v, spec, "podSelector", "spec", false, &sel);
	if (rc)
		return rc;
	if (!sel && json_object_set_new(spec, "podSelector", json_object()))
		return k8s_fail_errno(&v, -ENOMEM, "spec.podSelector: out of memory");
	rc = k8s_validate_label_selector(&v, json_object_get(spec, "podSelector"),
					 "spec.podSelector");
	if (rc)
		return rc;
	rc = validate_rules(&v, spec, "ingress", "from");
	if (!rc)
		rc = validate_rules(&v, spec, "egress", "to");
	if (rc)
		return rc;
	rc = k8s_get_array(&v, spec, "policyTypes", "spec", false, 2, &types);
	if (rc)
		return rc;
	if (types && json_array_size(types)) {
		json_array_foreach(types, i, t)
		{
			const char *s = json_string_value(t);
			int k = s && !strcmp(s, "Ingress") ? 0 : s && !strcmp(s, "Egress") ? 1 : -1;

			if (k < 0)
				return k8s_fail(
				    &v, "spec.policyTypes[%zu]: must be Ingress or Egress", i);
			if (seen[k])
				return k8s_fail(&v, "spec.policyTypes[%zu]: %s given twice", i, s);
			seen[k] = true;
		}
		return 0;
	}
	/* Default: Ingress always, Egress when there are egress rules. */
	types = json_array();
	if (!types || json_array_append_new(types, json_string("Ingress")) ||
	    (json_array_size(json_object_get(spec, "egress")) &&
	     json_array_append_new(types, json_string("Egress"))) ||
	    json_object_set_new(spec, "policyTypes", types))
		return k8s_fail_errno(&v, -ENOMEM, "spec.policyTypes: out of memory");
	return 0;
}

static int netpol_apply(const json_t *old, const json_t *new, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	/* The compiler reads the store; recompute soon (debounced), only the
	 * endpoints the policy selects before or after the change. */
	policy_netpol_changed(old, new);
	return 0;
}

const struct kind_ops kind_networkpolicy = {
    .kind = "NetworkPolicy",
    .api_version = "networking.k8s.io/v1",
    .namespaced = true,
    .validate = netpol_validate,
    .apply = netpol_apply,
};
