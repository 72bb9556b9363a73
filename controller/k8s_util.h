/* SPDX-License-Identifier: Apache-2.0 */
/* Validation helpers for Kubernetes objects in the feed (k8s_util.c, model).
 * Shared by every kind handler (k8s_core.c, k8s_service.c, k8s_netpol.c).
 *
 * Error convention: every failing helper writes
 *   "<Kind> <ns>/<name>: <path>: <what>"   (cluster-scoped: "<Kind> <name>: ...")
 * into v->err and returns -EINVAL, so a handler can just `return rc;`.
 * Paths are the JSON path the API server would print: "spec.ports[0].port". */
#ifndef SLUICE_K8S_UTIL_H
#define SLUICE_K8S_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "addr.h"

/* Kubernetes' own limits (apimachinery validation). */
#define K8S_DNS1123_LABEL_MAX     63  /* namespace names, label name part */
#define K8S_DNS1123_SUBDOMAIN_MAX 253 /* most object names, label key prefix */
#define K8S_DNS1035_LABEL_MAX     63  /* Service names */
#define K8S_LABEL_VALUE_MAX       63
#define K8S_IANA_SVC_NAME_MAX     15  /* port names */
#define K8S_ANNOTATIONS_MAX_BYTES (256u * 1024) /* total keys+values */
/* Our bound (Kubernetes bounds labels only through object size): more labels
 * than this on one object are refused so identities stay small. */
#define K8S_MAX_LABELS 64
/* Our bound on list-valued fields we keep (containers, ports, addresses,
 * selector expressions and their values). */
#define K8S_MAX_ITEMS 1024

/* Where errors go, and which object they are about. */
struct k8s_vctx {
	const json_t *obj; /* the object being validated (for the prefix) */
	char *err;
	size_t errlen;
};
#define K8S_VCTX(o, e, l) ((struct k8s_vctx){ .obj = (o), .err = (e), .errlen = (l) })

/* Format "<Kind> <ns>/<name>: " + fmt into v->err; returns -EINVAL.
 * Kind/namespace/name are taken from v->obj as they are (truncated, with
 * "?" when missing), so it is usable before they are validated. */
int k8s_fail(const struct k8s_vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same with an explicit errno to return (e.g. -ENOMEM, -ENOSPC). */
int k8s_fail_errno(const struct k8s_vctx *v, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Just the prefix: "Pod default/web-1" (no colon). Returns buf. */
const char *k8s_obj_ref(const json_t *obj, char *buf, size_t len);

/* Object accessors; NULL (or "") when absent or not a string. */
const char *k8s_kind(const json_t *obj);
const char *k8s_api_version(const json_t *obj);
const char *k8s_name(const json_t *obj);      /* metadata.name */
const char *k8s_namespace(const json_t *obj); /* metadata.namespace, "" when none */
const char *k8s_resource_version(const json_t *obj); /* NULL when none */
/* metadata.labels (an object) or NULL. */
const json_t *k8s_labels(const json_t *obj);

/* Name rules, true when s conforms. */
bool k8s_is_dns1123_label(const char *s);     /* [a-z0-9]([-a-z0-9]*[a-z0-9])?, <= 63 */
bool k8s_is_dns1123_subdomain(const char *s); /* dot-separated label-like parts, <= 253 in all */
bool k8s_is_dns1035_label(const char *s);     /* like a label, starts with a letter */
bool k8s_is_label_key(const char *s);         /* [prefix/]name (qualified name) */
bool k8s_is_label_value(const char *s);       /* "" or name-like, <= 63 */
bool k8s_is_iana_svc_name(const char *s);     /* port names: <= 15, [-a-z0-9], a letter, no "--" */

/* metadata: must be an object; name a DNS-1123 subdomain (name_rule lets a
 * kind ask for a stricter one: Namespace/Service pass a label check);
 * namespaced kinds get namespace "default" when it is missing (what kubectl
 * does) and it must be a DNS-1123 label; cluster-scoped kinds must not carry
 * one (it is removed when empty). labels/annotations validated as below;
 * resourceVersion must be a string when present. */
int k8s_validate_metadata(const struct k8s_vctx *v, json_t *obj, bool namespaced,
			  bool (*name_rule)(const char *));
/* A label map (metadata.labels, Service spec.selector, matchLabels):
 * an object of string values, keys label keys, values label values, at most
 * K8S_MAX_LABELS. NULL is fine (absent). path is printed in errors. */
int k8s_validate_labels(const struct k8s_vctx *v, const json_t *labels, const char *path);
/* A metav1.LabelSelector (matchLabels + matchExpressions with operators In,
 * NotIn (values non-empty), Exists, DoesNotExist (values empty)). NULL is
 * fine. */
int k8s_validate_label_selector(const struct k8s_vctx *v, const json_t *sel, const char *path);

/* Typed member access: parent[key]. path is the PARENT's path ("spec",
 * "spec.ports[0]", "" for the top level); errors print "<path>.<key>" (a
 * path that already ends in ".<key>" is printed as it is).
 * Each returns 0 (with *out set; absent optional members give NULL / the
 * default), or -EINVAL with the error written. parent may be NULL (then the
 * member counts as absent); JSON null counts as absent. */
int k8s_get_object(const struct k8s_vctx *v, json_t *parent, const char *key,
		   const char *path, bool required, json_t **out);
/* max_items: larger arrays are refused ("must have at most N items"). */
int k8s_get_array(const struct k8s_vctx *v, json_t *parent, const char *key,
		  const char *path, bool required, size_t max_items, json_t **out);
int k8s_get_string(const struct k8s_vctx *v, json_t *parent, const char *key,
		   const char *path, bool required, const char **out);
int k8s_get_bool(const struct k8s_vctx *v, json_t *parent, const char *key,
		 const char *path, bool dflt, bool *out);
/* An integer in [min, max]; absent -> dflt unless required. */
int k8s_get_int(const struct k8s_vctx *v, json_t *parent, const char *key,
		const char *path, bool required, long long min, long long max,
		long long dflt, long long *out);

/* resourceVersion: Kubernetes says it is opaque, but every real API server
 * uses a decimal etcd revision. Returns 0 and *out when s is a plain decimal
 * (no sign, <= 20 digits, fits u64), else -EINVAL. */
int k8s_parse_resource_version(const char *s, uint64_t *out);
/* Is candidate older than stored? true only when both parse as integers and
 * candidate < stored; any unparsable or missing one is never "older" (the
 * update is then applied). */
bool k8s_rv_older(const char *candidate, const char *stored);

/* Protocols: "TCP"/"UDP"/"SCTP" (case-sensitive, as the API server) ->
 * IPPROTO_*. Returns 0 or -EINVAL. */
int k8s_parse_protocol(const char *s, uint8_t *proto);
const char *k8s_protocol_name(uint8_t proto); /* "TCP", ... or "?" */
/* parent[key] as a protocol; absent -> set to "TCP" in parent (API default).
 * *proto may be NULL. */
int k8s_default_protocol(const struct k8s_vctx *v, json_t *parent, const char *key,
			 const char *path, uint8_t *proto);
/* A port number 1..65535 (required or optional with *out = 0 when absent). */
int k8s_get_port(const struct k8s_vctx *v, json_t *parent, const char *key,
		 const char *path, bool required, uint16_t *out);
/* IntOrString (targetPort, NetworkPolicy port): a number 1..65535 sets
 * *num (and *name = NULL), a string must be an IANA service name and sets
 * *name (and *num = 0). Absent: both zero/NULL unless required. */
int k8s_get_int_or_string_port(const struct k8s_vctx *v, json_t *parent, const char *key,
			       const char *path, bool required, uint16_t *num,
			       const char **name);

/* Addresses: parent[key] must be a plain IP (either family) or a CIDR. For
 * CIDRs, strict refuses host bits (the API server does for podCIDR and
 * ipBlock.cidr). Optional ones leave *out zeroed and return 0 when absent;
 * *present (may be NULL) says whether it was there. */
int k8s_get_ip(const struct k8s_vctx *v, json_t *parent, const char *key, const char *path,
	       bool required, struct sl_cidr *out, bool *present);
int k8s_get_cidr(const struct k8s_vctx *v, json_t *parent, const char *key, const char *path,
		 bool required, bool strict, struct sl_cidr *out, bool *present);
/* Validate a string as IP / CIDR (for array elements). */
int k8s_check_ip(const struct k8s_vctx *v, const json_t *val, const char *path, struct sl_cidr *out);
int k8s_check_cidr(const struct k8s_vctx *v, const json_t *val, const char *path, bool strict,
		   struct sl_cidr *out);

#endif
