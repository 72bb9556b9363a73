// SPDX-License-Identifier: Apache-2.0
/* Validation helpers shared by the kind handlers; rules follow
 * k8s.io/apimachinery/pkg/util/validation. */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "k8s_util.h"

/* Copy at most 64 bytes of s, so a hostile name cannot flood the error. */
static const char *clip(const char *s, char *buf, size_t len)
{
	size_t n;

	if (!s || !*s)
		return "?";
	n = strlen(s);
	if (n < len)
		return s;
	snprintf(buf, len, "%.*s...", (int)(len - 4), s);
	return buf;
}

const char *k8s_kind(const json_t *obj)
{
	return json_string_value(json_object_get(obj, "kind"));
}

const char *k8s_api_version(const json_t *obj)
{
	return json_string_value(json_object_get(obj, "apiVersion"));
}

static const char *meta_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

const char *k8s_name(const json_t *obj)
{
	return meta_str(obj, "name");
}

const char *k8s_namespace(const json_t *obj)
{
	const char *ns = meta_str(obj, "namespace");

	return ns ? ns : "";
}

const char *k8s_resource_version(const json_t *obj)
{
	return meta_str(obj, "resourceVersion");
}

const json_t *k8s_labels(const json_t *obj)
{
	const json_t *l = json_object_get(json_object_get(obj, "metadata"), "labels");

	return json_is_object(l) ? l : NULL;
}

const char *k8s_obj_ref(const json_t *obj, char *buf, size_t len)
{
	char k[40], n[72], ns[72];
	const char *nsv = meta_str(obj, "namespace");

	if (nsv && *nsv)
		snprintf(buf, len, "%s %s/%s", clip(k8s_kind(obj), k, sizeof(k)),
			 clip(nsv, ns, sizeof(ns)), clip(k8s_name(obj), n, sizeof(n)));
	else
		snprintf(buf, len, "%s %s", clip(k8s_kind(obj), k, sizeof(k)),
			 clip(k8s_name(obj), n, sizeof(n)));
	return buf;
}

static int vfail(const struct k8s_vctx *v, int rc, const char *fmt, va_list ap)
{
	char ref[200];
	int n;

	if (!v->err || !v->errlen)
		return rc;
	n = snprintf(v->err, v->errlen, "%s: ", k8s_obj_ref(v->obj, ref, sizeof(ref)));
	if (n >= 0 && (size_t)n < v->errlen)
		vsnprintf(v->err + n, v->errlen - n, fmt, ap);
	return rc;
}

int k8s_fail(const struct k8s_vctx *v, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(v, -EINVAL, fmt, ap);
	va_end(ap);
	return rc;
}

int k8s_fail_errno(const struct k8s_vctx *v, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = vfail(v, rc, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- name rules ---------------------------------------------------------- */

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..n), any length */
static bool label_chars(const char *s, size_t n)
{
	if (n == 0)
		return false;
	if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool label_span(const char *s, size_t n)
{
	return n <= K8S_DNS1123_LABEL_MAX && label_chars(s, n);
}

bool k8s_is_dns1123_label(const char *s)
{
	return s && label_span(s, strlen(s));
}

/* As apimachinery's IsDNS1123Subdomain: the regex does not bound the
 * length of each dot-separated part, only the whole (253). */
static bool subdomain_span(const char *s, size_t n)
{
	size_t start = 0;

	if (n == 0 || n > K8S_DNS1123_SUBDOMAIN_MAX)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!label_chars(s + start, i - start))
				return false;
			start = i + 1;
		}
	}
	return true;
}

bool k8s_is_dns1123_subdomain(const char *s)
{
	return s && subdomain_span(s, strlen(s));
}

bool k8s_is_dns1035_label(const char *s)
{
	return k8s_is_dns1123_label(s) && s[0] >= 'a' && s[0] <= 'z';
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most max bytes */
static bool qualified_name_part(const char *s, size_t n)
{
	if (n == 0 || n > K8S_DNS1123_LABEL_MAX)
		return false;
	if (!is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

bool k8s_is_label_key(const char *s)
{
	const char *slash;

	if (!s)
		return false;
	slash = strchr(s, '/');
	if (!slash)
		return qualified_name_part(s, strlen(s));
	if (strchr(slash + 1, '/'))
		return false;
	return subdomain_span(s, (size_t)(slash - s)) &&
	       qualified_name_part(slash + 1, strlen(slash + 1));
}

bool k8s_is_label_value(const char *s)
{
	return s && (!*s || qualified_name_part(s, strlen(s)));
}

bool k8s_is_iana_svc_name(const char *s)
{
	size_t n;
	bool letter = false;

	if (!s)
		return false;
	n = strlen(s);
	if (n == 0 || n > K8S_IANA_SVC_NAME_MAX)
		return false;
	if (s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
	}
	return letter;
}

/* ---- metadata ------------------------------------------------------------ */

int k8s_validate_labels(const struct k8s_vctx *v, const json_t *labels, const char *path)
{
	const char *key;
	json_t *val;

	if (!labels || json_is_null(labels))
		return 0;
	if (!json_is_object(labels))
		return k8s_fail(v, "%s: must be an object", path);
	if (json_object_size(labels) > K8S_MAX_LABELS)
		return k8s_fail(v, "%s: must have at most %d entries", path, K8S_MAX_LABELS);
	json_object_foreach((json_t *)labels, key, val) {
		char kb[80];

		if (!k8s_is_label_key(key))
			return k8s_fail(v, "%s: key \"%s\": must be a qualified name ([prefix/]name, name <= 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric)",
					path, clip(key, kb, sizeof(kb)));
		if (!json_is_string(val))
			return k8s_fail(v, "%s[%s]: must be a string", path, clip(key, kb, sizeof(kb)));
		if (!k8s_is_label_value(json_string_value(val)))
			return k8s_fail(v, "%s[%s]: must be empty or <= 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric",
					path, clip(key, kb, sizeof(kb)));
	}
	return 0;
}

static int validate_annotations(const struct k8s_vctx *v, const json_t *ann)
{
	const char *key;
	json_t *val;
	size_t total = 0;

	if (!ann || json_is_null(ann))
		return 0;
	if (!json_is_object(ann))
		return k8s_fail(v, "metadata.annotations: must be an object");
	json_object_foreach((json_t *)ann, key, val) {
		char kb[80];

		if (!k8s_is_label_key(key))
			return k8s_fail(v, "metadata.annotations: key \"%s\": must be a qualified name",
					clip(key, kb, sizeof(kb)));
		if (!json_is_string(val))
			return k8s_fail(v, "metadata.annotations[%s]: must be a string",
					clip(key, kb, sizeof(kb)));
		total += strlen(key) + json_string_length(val);
		if (total > K8S_ANNOTATIONS_MAX_BYTES)
			return k8s_fail(v, "metadata.annotations: must have at most %u bytes",
					K8S_ANNOTATIONS_MAX_BYTES);
	}
	return 0;
}

int k8s_validate_metadata(const struct k8s_vctx *v, json_t *obj, bool namespaced,
			  bool (*name_rule)(const char *))
{
	json_t *meta = json_object_get(obj, "metadata");
	json_t *ns = json_object_get(meta, "namespace");
	const char *name;
	int rc;

	if (!json_is_object(meta))
		return k8s_fail(v, "metadata: %s", meta ? "must be an object" : "required");
	rc = k8s_get_string(v, meta, "name", "metadata", true, &name);
	if (rc)
		return rc;
	if (!name_rule)
		name_rule = k8s_is_dns1123_subdomain;
	if (!name_rule(name))
		return k8s_fail(v, "metadata.name: must be a %s",
				name_rule == k8s_is_dns1123_label   ? "DNS-1123 label" :
				name_rule == k8s_is_dns1035_label   ? "DNS-1035 label" :
								      "DNS-1123 subdomain");
	if (namespaced) {
		if (!ns || json_is_null(ns) || (json_is_string(ns) && !*json_string_value(ns))) {
			if (json_object_set_new(meta, "namespace", json_string("default")))
				return k8s_fail_errno(v, -ENOMEM, "metadata.namespace: out of memory");
		} else if (!json_is_string(ns)) {
			return k8s_fail(v, "metadata.namespace: must be a string");
		} else if (!k8s_is_dns1123_label(json_string_value(ns))) {
			return k8s_fail(v, "metadata.namespace: must be a DNS-1123 label");
		}
	} else if (ns) {
		if (json_is_null(ns) || (json_is_string(ns) && !*json_string_value(ns)))
			json_object_del(meta, "namespace");
		else
			return k8s_fail(v, "metadata.namespace: not allowed on a cluster-scoped object");
	}
	rc = k8s_validate_labels(v, json_object_get(meta, "labels"), "metadata.labels");
	if (rc)
		return rc;
	rc = validate_annotations(v, json_object_get(meta, "annotations"));
	if (rc)
		return rc;
	{
		json_t *rv = json_object_get(meta, "resourceVersion");

		if (rv && !json_is_string(rv) && !json_is_null(rv))
			return k8s_fail(v, "metadata.resourceVersion: must be a string");
		if (json_is_string(rv) && json_string_length(rv) > 64)
			return k8s_fail(v, "metadata.resourceVersion: must be at most 64 characters");
	}
	return 0;
}

int k8s_validate_label_selector(const struct k8s_vctx *v, const json_t *sel, const char *path)
{
	char p[256];
	json_t *exprs, *e;
	size_t i;
	int rc;

	if (!sel || json_is_null(sel))
		return 0;
	if (!json_is_object(sel))
		return k8s_fail(v, "%s: must be an object", path);
	snprintf(p, sizeof(p), "%s.matchLabels", path);
	rc = k8s_validate_labels(v, json_object_get(sel, "matchLabels"), p);
	if (rc)
		return rc;
	snprintf(p, sizeof(p), "%s.matchExpressions", path);
	rc = k8s_get_array(v, (json_t *)sel, "matchExpressions", p, false, K8S_MAX_LABELS, &exprs);
	if (rc || !exprs)
		return rc;
	json_array_foreach(exprs, i, e) {
		const char *key, *op;
		json_t *vals, *val;
		size_t j;
		bool set_op;

		snprintf(p, sizeof(p), "%s.matchExpressions[%zu]", path, i);
		if (!json_is_object(e))
			return k8s_fail(v, "%s: must be an object", p);
		rc = k8s_get_string(v, e, "key", p, true, &key);
		if (rc)
			return rc;
		if (!k8s_is_label_key(key))
			return k8s_fail(v, "%s.key: must be a qualified name", p);
		rc = k8s_get_string(v, e, "operator", p, true, &op);
		if (rc)
			return rc;
		if (!strcmp(op, "In") || !strcmp(op, "NotIn"))
			set_op = true;
		else if (!strcmp(op, "Exists") || !strcmp(op, "DoesNotExist"))
			set_op = false;
		else
			return k8s_fail(v, "%s.operator: must be In, NotIn, Exists or DoesNotExist", p);
		rc = k8s_get_array(v, e, "values", p, false, K8S_MAX_ITEMS, &vals);
		if (rc)
			return rc;
		if (set_op && (!vals || !json_array_size(vals)))
			return k8s_fail(v, "%s.values: must be non-empty for operator %s", p, op);
		if (!set_op && vals && json_array_size(vals))
			return k8s_fail(v, "%s.values: must be empty for operator %s", p, op);
		json_array_foreach(vals, j, val) {
			if (!json_is_string(val) || !k8s_is_label_value(json_string_value(val)))
				return k8s_fail(v, "%s.values[%zu]: must be a label value", p, j);
		}
	}
	return 0;
}

/* ---- typed access ------------------------------------------------------- */

/* "path.key" or "key" when path is empty. A path that already ends in
 * ".key" (a caller passing the member's own path) is used as it is. */
static const char *member_path(const char *path, const char *key, char *buf, size_t len)
{
	size_t pl, kl;

	if (!path || !*path)
		return key;
	pl = strlen(path);
	kl = strlen(key);
	if (pl >= kl && !strcmp(path + pl - kl, key) && (pl == kl || path[pl - kl - 1] == '.'))
		return path;
	snprintf(buf, len, "%s.%s", path, key);
	return buf;
}

/* The member, NULL when absent or JSON null (the API treats both as unset). */
static json_t *member(json_t *parent, const char *key)
{
	json_t *m = json_is_object(parent) ? json_object_get(parent, key) : NULL;

	return json_is_null(m) ? NULL : m;
}

int k8s_get_object(const struct k8s_vctx *v, json_t *parent, const char *key,
		   const char *path, bool required, json_t **out)
{
	json_t *m = member(parent, key);
	char p[256];

	*out = NULL;
	if (!m)
		return required ? k8s_fail(v, "%s: required", member_path(path, key, p, sizeof(p))) : 0;
	if (!json_is_object(m))
		return k8s_fail(v, "%s: must be an object", member_path(path, key, p, sizeof(p)));
	*out = m;
	return 0;
}

int k8s_get_array(const struct k8s_vctx *v, json_t *parent, const char *key,
		  const char *path, bool required, size_t max_items, json_t **out)
{
	json_t *m = member(parent, key);
	char p[256];

	*out = NULL;
	if (!m)
		return required ? k8s_fail(v, "%s: required", member_path(path, key, p, sizeof(p))) : 0;
	if (!json_is_array(m))
		return k8s_fail(v, "%s: must be an array", member_path(path, key, p, sizeof(p)));
	if (json_array_size(m) > max_items)
		return k8s_fail(v, "%s: must have at most %zu items",
				member_path(path, key, p, sizeof(p)), max_items);
	*out = m;
	return 0;
}

int k8s_get_string(const struct k8s_vctx *v, json_t *parent, const char *key,
		   const char *path, bool required, const char **out)
{
	json_t *m = member(parent, key);
	char p[256];

	*out = NULL;
	if (!m || (json_is_string(m) && !json_string_length(m) && required))
		return required ? k8s_fail(v, "%s: required", member_path(path, key, p, sizeof(p))) : 0;
	if (!json_is_string(m))
		return k8s_fail(v, "%s: must be a string", member_path(path, key, p, sizeof(p)));
	if (strlen(json_string_value(m)) != json_string_length(m))
		return k8s_fail(v, "%s: must not contain NUL", member_path(path, key, p, sizeof(p)));
	*out = json_string_value(m);
	return 0;
}

int k8s_get_bool(const struct k8s_vctx *v, json_t *parent, const char *key,
		 const char *path, bool dflt, bool *out)
{
	json_t *m = member(parent, key);
	char p[256];

	*out = dflt;
	if (!m)
		return 0;
	if (!json_is_boolean(m))
		return k8s_fail(v, "%s: must be a boolean", member_path(path, key, p, sizeof(p)));
	*out = json_is_true(m);
	return 0;
}

int k8s_get_int(const struct k8s_vctx *v, json_t *parent, const char *key,
		const char *path, bool required, long long min, long long max,
		long long dflt, long long *out)
{
	json_t *m = member(parent, key);
	char p[256];
	json_int_t x;

	*out = dflt;
	if (!m)
		return required ? k8s_fail(v, "%s: required", member_path(path, key, p, sizeof(p))) : 0;
	if (!json_is_integer(m))
		return k8s_fail(v, "%s: must be an integer", member_path(path, key, p, sizeof(p)));
	x = json_integer_value(m);
	if (x < min || x > max)
		return k8s_fail(v, "%s: must be %lld-%lld", member_path(path, key, p, sizeof(p)),
				min, max);
	*out = x;
	return 0;
}

/* ---- resourceVersion ------------------------------------------------------ */

int k8s_parse_resource_version(const char *s, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (!s || !*s || strlen(s) > 20)
		return -EINVAL;
	for (i = 0; s[i]; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		d = (unsigned)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -EINVAL;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

bool k8s_rv_older(const char *candidate, const char *stored)
{
	uint64_t c, s;

	if (k8s_parse_resource_version(candidate, &c) || k8s_parse_resource_version(stored, &s))
		return false;
	return c < s;
}

/* ---- ports and protocols ------------------------------------------------ */

int k8s_parse_protocol(const char *s, uint8_t *proto)
{
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "TCP"))
		*proto = IPPROTO_TCP;
	else if (!strcmp(s, "UDP"))
		*proto = IPPROTO_UDP;
	else if (!strcmp(s, "SCTP"))
		*proto = IPPROTO_SCTP;
	else
		return -EINVAL;
	return 0;
}

const char *k8s_protocol_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_SCTP:
		return "SCTP";
	}
	return "?";
}

int k8s_default_protocol(const struct k8s_vctx *v, json_t *parent, const char *key,
			 const char *path, uint8_t *proto)
{
	const char *s;
	uint8_t p8;
	char p[256];
	int rc;

	rc = k8s_get_string(v, parent, key, path, false, &s);
	if (rc)
		return rc;
	if (!s || !*s) {
		if (json_object_set_new(parent, key, json_string("TCP")))
			return k8s_fail_errno(v, -ENOMEM, "%s: out of memory",
					      member_path(path, key, p, sizeof(p)));
		s = "TCP";
	}
	if (k8s_parse_protocol(s, &p8))
		return k8s_fail(v, "%s: must be TCP, UDP or SCTP", member_path(path, key, p, sizeof(p)));
	if (proto)
		*proto = p8;
	return 0;
}

int k8s_get_port(const struct k8s_vctx *v, json_t *parent, const char *key,
		 const char *path, bool required, uint16_t *out)
{
	long long x;
	int rc;

	rc = k8s_get_int(v, parent, key, path, required, 1, 65535, 0, &x);
	*out = rc ? 0 : (uint16_t)x;
	return rc;
}

int k8s_get_int_or_string_port(const struct k8s_vctx *v, json_t *parent, const char *key,
			       const char *path, bool required, uint16_t *num,
			       const char **name)
{
	json_t *m = member(parent, key);
	char p[256];

	*num = 0;
	*name = NULL;
	if (!m)
		return required ? k8s_fail(v, "%s: required", member_path(path, key, p, sizeof(p))) : 0;
	if (json_is_integer(m))
		return k8s_get_port(v, parent, key, path, true, num);
	if (!json_is_string(m))
		return k8s_fail(v, "%s: must be a port number or name", member_path(path, key, p, sizeof(p)));
	if (!k8s_is_iana_svc_name(json_string_value(m)))
		return k8s_fail(v, "%s: must be a port name (IANA service name, <= 15 characters of [-a-z0-9] with a letter)",
				member_path(path, key, p, sizeof(p)));
	*name = json_string_value(m);
	return 0;
}

/* ---- addresses ---------------------------------------------------------- */

int k8s_check_ip(const struct k8s_vctx *v, const json_t *val, const char *path, struct sl_cidr *out)
{
	struct sl_cidr c = { 0 };

	if (!json_is_string(val))
		return k8s_fail(v, "%s: must be a string", path);
	if (sl_addr_parse(json_string_value(val), &c.addr, &c.family))
		return k8s_fail(v, "%s: must be a valid IP address", path);
	c.plen = c.family == SL_AF_INET ? 32 : 128;
	if (out)
		*out = c;
	return 0;
}

int k8s_check_cidr(const struct k8s_vctx *v, const json_t *val, const char *path, bool strict,
		   struct sl_cidr *out)
{
	struct sl_cidr c;
	const char *s;

	if (!json_is_string(val))
		return k8s_fail(v, "%s: must be a string", path);
	s = json_string_value(val);
	if (!strchr(s, '/'))
		return k8s_fail(v, "%s: must be a CIDR (address/prefix length)", path);
	if (sl_cidr_parse(s, &c, true))
		return k8s_fail(v, "%s: must be a valid CIDR", path);
	if (strict && sl_cidr_parse(s, &c, false))
		return k8s_fail(v, "%s: must not have host bits set (network address expected)", path);
	if (out)
		*out = c;
	return 0;
}

int k8s_get_ip(const struct k8s_vctx *v, json_t *parent, const char *key, const char *path,
	       bool required, struct sl_cidr *out, bool *present)
{
	json_t *m = member(parent, key);
	char p[256];

	memset(out, 0, sizeof(*out));
	if (present)
		*present = false;
	if (!m || (json_is_string(m) && !json_string_length(m)))
		return required ? k8s_fail(v, "%s: required", member_path(path, key, p, sizeof(p))) : 0;
	if (present)
		*present = true;
	return k8s_check_ip(v, m, member_path(path, key, p, sizeof(p)), out);
}

int k8s_get_cidr(const struct k8s_vctx *v, json_t *parent, const char *key, const char *path,
		 bool required, bool strict, struct sl_cidr *out, bool *present)
{
	json_t *m = member(parent, key);
	char p[256];

	memset(out, 0, sizeof(*out));
	if (present)
		*present = false;
	if (!m || (json_is_string(m) && !json_string_length(m)))
		return required ? k8s_fail(v, "%s: required", member_path(path, key, p, sizeof(p))) : 0;
	if (present)
		*present = true;
	return k8s_check_cidr(v, m, member_path(path, key, p, sizeof(p)), strict, out);
}
