// SPDX-License-Identifier: Apache-2.0
/* v1 Namespace, Pod and Node: validation with the API server's defaults,
 * and their effect on identities and the ipcache.
 *
 * Every Pod claims its status.podIPs in the ipcache (owner "pod:ns/name")
 * with its identity; hostNetwork pods get the node's reserved identity.
 * Every Node claims its InternalIPs (owner "node:name"). Pods of other nodes
 * carry that node's InternalIP (IPv4) as node_ip. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "endpoints.h"
#include "identity.h"
#include "ipcache.h"
#include "k8s_util.h"
#include "kinds.h"
#include "log.h"
#include "store.h"

/* Per pod "ns/name" / per node "name": the IPs claimed (array of strings),
 * so a change releases exactly what is no longer there. */
static json_t *pod_claims, *node_claims;
/* node name -> its first IPv4 InternalIP (string) */
static json_t *node_ips;
/* -1 unknown, 0/1: whether ctl.pod_cidr came from --pod-cidr */
static int pod_cidr_from_flag = -1;
static bool pod_cidr_from_node;

static const char *local_node(void)
{
	return ctl.node_name;
}

static bool is_local(const char *node)
{
	const char *me = local_node();

	return node && me && *node && !strcmp(node, me);
}

static int tables(void)
{
	if (!pod_claims)
		pod_claims = json_object();
	if (!node_claims)
		node_claims = json_object();
	if (!node_ips)
		node_ips = json_object();
	return pod_claims && node_claims && node_ips ? 0 : -ENOMEM;
}

static void mark_policy(void)
{
	policy_mark_dirty();
}

/* ---- shared --------------------------------------------------------------- */

/* Bring the claims of owner from the IPs in *claimed (array) to want
 * (array of strings, already validated), all with val. On success *claimed
 * is replaced by want. */
static int sync_claims(json_t *table, const char *key, const char *owner, enum ipcache_prio prio,
		       json_t *want, const struct ipcache_val *val)
{
	json_t *have = json_object_get(table, key), *v, *w;
	size_t i, j;
	int rc;

	json_array_foreach(want, i, v) {
		struct sl_cidr c;

		if (sl_cidr_parse(json_string_value(v), &c, false))
			continue;
		rc = ipcache_claim(&c, owner, prio, val);
		if (rc)
			return rc;
	}
	json_array_foreach(have, i, v) {
		bool kept = false;
		struct sl_cidr c;

		json_array_foreach(want, j, w)
			if (json_equal(v, w))
				kept = true;
		if (kept || sl_cidr_parse(json_string_value(v), &c, false))
			continue;
		ipcache_release(&c, owner);
	}
	if (json_array_size(want))
		return json_object_set(table, key, want) ? -ENOMEM : 0;
	json_object_del(table, key);
	return 0;
}

/* ---- Namespace ------------------------------------------------------------ */

static int ns_validate(json_t *obj, char *err, size_t errlen)
{
	struct k8s_vctx v = K8S_VCTX(obj, err, errlen);
	json_t *meta, *labels, *spec, *status;
	const char *phase;
	int rc;

	rc = k8s_validate_metadata(&v, obj, false, k8s_is_dns1123_label);
	if (rc)
		return rc;
	/* API server default (1.21+): every namespace carries its name. */
	meta = json_object_get(obj, "metadata");
	labels = json_object_get(meta, "labels");
	if (!json_is_object(labels)) {
		labels = json_object();
		if (!labels || json_object_set_new(meta, "labels", labels))
			return k8s_fail_errno(&v, -ENOMEM, "metadata.labels: out of memory");
	}
	if (json_object_size(labels) >= K8S_MAX_LABELS &&
	    !json_object_get(labels, "kubernetes.io/metadata.name"))
		return k8s_fail(&v, "metadata.labels: must have at most %d entries", K8S_MAX_LABELS - 1);
	if (json_object_set_new(labels, "kubernetes.io/metadata.name", json_string(k8s_name(obj))))
		return k8s_fail_errno(&v, -ENOMEM, "metadata.labels: out of memory");
	rc = k8s_get_object(&v, obj, "spec", "", false, &spec);
	if (rc)
		return rc;
	rc = k8s_get_object(&v, obj, "status", "", false, &status);
	if (rc)
		return rc;
	rc = k8s_get_string(&v, status, "phase", "status", false, &phase);
	if (rc)
		return rc;
	if (phase && strcmp(phase, "Active") && strcmp(phase, "Terminating"))
		return k8s_fail(&v, "status.phase: must be Active or Terminating");
	return 0;
}

static int pod_sync(const json_t *pod, char *err, size_t errlen);
static void pod_forget(const char *ns, const char *name);

struct resync_ctx {
	const char *ns;   /* pods of this namespace, or */
	const char *node; /* pods on this node */
	char *err;
	size_t errlen;
};

static int resync_pod(const json_t *pod, void *arg)
{
	struct resync_ctx *c = arg;
	const char *node = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));

	if (c->ns && strcmp(k8s_namespace(pod), c->ns))
		return 0;
	if (c->node && (!node || strcmp(node, c->node)))
		return 0;
	return pod_sync(pod, c->err, c->errlen);
}

static int ns_apply(const json_t *old, const json_t *new, char *err, size_t errlen)
{
	const json_t *o = new ? new : old;
	const char *name = k8s_name(o);
	struct resync_ctx rc_ctx = { .ns = name, .err = err, .errlen = errlen };
	int rc;

	if (old && new && json_equal(k8s_labels(old), k8s_labels(new)))
		return 0;
	rc = identity_ns_set(name, new ? k8s_labels(new) : NULL);
	if (rc)
		goto fail;
	rc = store_foreach("Pod", resync_pod, &rc_ctx);
	if (rc)
		goto undo;
	mark_policy();
	return 0;
undo:
	/* put the previous labels back and move the pods back */
	identity_ns_set(name, old ? k8s_labels(old) : NULL);
	{
		char e2[64];
		struct resync_ctx back = { .ns = name, .err = e2, .errlen = sizeof(e2) };

		store_foreach("Pod", resync_pod, &back);
	}
	return rc;
fail:
	snprintf(err, errlen, "Namespace %s: %s", name, strerror(-rc));
	return rc;
}

const struct kind_ops kind_namespace = {
	.kind = "Namespace",
	.api_version = "v1",
	.namespaced = false,
	.validate = ns_validate,
	.apply = ns_apply,
};

/* ---- Pod ------------------------------------------------------------------ */

static int validate_containers(const struct k8s_vctx *v, json_t *spec, const char *key)
{
	char p[128], pp[160];
	json_t *arr, *c, *ports, *port;
	size_t i, j;
	int rc;

	rc = k8s_get_array(v, spec, key, "spec", false, K8S_MAX_ITEMS, &arr);
	if (rc || !arr)
		return rc;
	json_array_foreach(arr, i, c) {
		const char *name;

		snprintf(p, sizeof(p), "spec.%s[%zu]", key, i);
		if (!json_is_object(c))
			return k8s_fail(v, "%s: must be an object", p);
		rc = k8s_get_string(v, c, "name", p, false, &name);
		if (rc)
			return rc;
		if (name && !k8s_is_dns1123_label(name))
			return k8s_fail(v, "%s.name: must be a DNS-1123 label", p);
		rc = k8s_get_array(v, c, "ports", p, false, K8S_MAX_ITEMS, &ports);
		if (rc)
			return rc;
		json_array_foreach(ports, j, port) {
			const char *pname;
			long long x;
			uint16_t cp;

			snprintf(pp, sizeof(pp), "%s.ports[%zu]", p, j);
			if (!json_is_object(port))
				return k8s_fail(v, "%s: must be an object", pp);
			rc = k8s_get_port(v, port, "containerPort", pp, true, &cp);
			if (rc)
				return rc;
			rc = k8s_default_protocol(v, port, "protocol", pp, NULL);
			if (rc)
				return rc;
			rc = k8s_get_string(v, port, "name", pp, false, &pname);
			if (rc)
				return rc;
			if (pname && !k8s_is_iana_svc_name(pname))
				return k8s_fail(v, "%s.name: must be an IANA service name (<= 15 characters of [-a-z0-9] with a letter, no \"--\")",
						pp);
			rc = k8s_get_int(v, port, "hostPort", pp, false, 0, 65535, 0, &x);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int pod_validate(json_t *obj, char *err, size_t errlen)
{
	struct k8s_vctx v = K8S_VCTX(obj, err, errlen);
	static const char *const phases[] = { "Pending", "Running", "Succeeded", "Failed",
					      "Unknown" };
	json_t *spec, *status, *ips, *it;
	const char *node, *phase, *pod_ip;
	bool host_net, ok, fam_seen[2] = { false, false };
	struct sl_cidr first = { 0 };
	size_t i;
	int rc;

	rc = k8s_validate_metadata(&v, obj, true, NULL);
	if (rc)
		return rc;
	/* Lenient on purpose: a Pod without containers is accepted (only the
	 * parts the datapath uses are required to be right). */
	rc = k8s_get_object(&v, obj, "spec", "", false, &spec);
	if (rc)
		return rc;
	rc = k8s_get_string(&v, spec, "nodeName", "spec", false, &node);
	if (rc)
		return rc;
	if (node && *node && !k8s_is_dns1123_subdomain(node))
		return k8s_fail(&v, "spec.nodeName: must be a DNS-1123 subdomain");
	rc = k8s_get_bool(&v, spec, "hostNetwork", "spec", false, &host_net);
	if (rc)
		return rc;
	rc = validate_containers(&v, spec, "containers");
	if (!rc)
		rc = validate_containers(&v, spec, "initContainers");
	if (rc)
		return rc;

	rc = k8s_get_object(&v, obj, "status", "", false, &status);
	if (rc || !status)
		return rc;
	rc = k8s_get_string(&v, status, "phase", "status", false, &phase);
	if (rc)
		return rc;
	if (phase) {
		ok = false;
		for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
			ok |= !strcmp(phase, phases[i]);
		if (!ok)
			return k8s_fail(&v, "status.phase: must be Pending, Running, Succeeded, Failed or Unknown");
	}
	rc = k8s_get_ip(&v, status, "podIP", "status", false, &first, NULL);
	if (rc)
		return rc;
	pod_ip = json_string_value(json_object_get(status, "podIP"));
	rc = k8s_get_array(&v, status, "podIPs", "status", false, 2, &ips);
	if (rc)
		return rc;
	json_array_foreach(ips, i, it) {
		char p[48];
		struct sl_cidr c;

		snprintf(p, sizeof(p), "status.podIPs[%zu]", i);
		if (!json_is_object(it))
			return k8s_fail(&v, "%s: must be an object", p);
		rc = k8s_get_ip(&v, it, "ip", p, true, &c, NULL);
		if (rc)
			return rc;
		if (fam_seen[c.family == SL_AF_INET6]) {
			return k8s_fail(&v, "%s.ip: at most one address per family", p);
		}
		fam_seen[c.family == SL_AF_INET6] = true;
		if (i == 0 && pod_ip && *pod_ip && memcmp(&c, &first, sizeof(c)))
			return k8s_fail(&v, "status.podIPs[0].ip: must match status.podIP");
	}
	/* The API server keeps podIP and podIPs in step: fill either from the other. */
	if (pod_ip && *pod_ip && !json_array_size(ips)) {
		if (json_object_set_new(status, "podIPs", json_pack("[{ss}]", "ip", pod_ip)))
			return k8s_fail_errno(&v, -ENOMEM, "status.podIPs: out of memory");
	} else if ((!pod_ip || !*pod_ip) && json_array_size(ips)) {
		if (json_object_set(status, "podIP",
				    json_object_get(json_array_get(ips, 0), "ip")))
			return k8s_fail_errno(&v, -ENOMEM, "status.podIP: out of memory");
	}
	return 0;
}

static int pod_owner(const char *ns, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "pod:%s/%s", ns, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Make identities and ipcache match one Pod object. */
static int pod_sync(const json_t *pod, char *err, size_t errlen)
{
	const char *ns = k8s_namespace(pod), *name = k8s_name(pod);
	const json_t *spec = json_object_get(pod, "spec"), *status = json_object_get(pod, "status");
	const char *node = json_string_value(json_object_get(spec, "nodeName"));
	const char *phase = json_string_value(json_object_get(status, "phase"));
	bool host_net = json_is_true(json_object_get(spec, "hostNetwork"));
	bool local = is_local(node), done;
	uint32_t old_id = identity_of_pod(ns, name), id;
	struct ipcache_val val = { 0 };
	char owner[IPC_OWNER_MAX], key[320];
	json_t *want = NULL, *it;
	size_t i;
	int rc = 0;

	if (tables() || pod_owner(ns, name, owner, sizeof(owner)))
		return k8s_fail_errno(&K8S_VCTX(pod, err, errlen), -ENOMEM, "out of memory");
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (host_net) {
		id = local ? SL_ID_HOST : SL_ID_REMOTE_NODE;
		rc = identity_pod_set_reserved(ns, name, id);
	} else {
		id = identity_pod_set(ns, name, k8s_labels(pod), &rc);
	}
	if (rc)
		return k8s_fail_errno(&K8S_VCTX(pod, err, errlen), rc, "identity: %s", strerror(-rc));

	/* A finished pod's IPs go back to the node's IPAM and may be reused. */
	done = phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));
	want = json_array();
	if (!want)
		return k8s_fail_errno(&K8S_VCTX(pod, err, errlen), -ENOMEM, "out of memory");
	json_array_foreach(done ? NULL : json_object_get(status, "podIPs"), i, it)
		json_array_append(want, json_object_get(it, "ip"));
	val.identity = id;
	val.flags = local && !host_net ? SL_IPC_F_LOCAL : 0;
	if (node && !local) {
		const char *nip = json_string_value(json_object_get(node_ips, node));
		union sl_addr a;
		__u8 fam;

		if (nip && !sl_addr_parse(nip, &a, &fam) && fam == SL_AF_INET)
			val.node_ip = a.v4;
	}
	rc = sync_claims(pod_claims, key, owner, IPC_PRIO_POD, want, &val);
	json_decref(want);
	if (rc)
		return k8s_fail_errno(&K8S_VCTX(pod, err, errlen), rc, "ipcache: %s", strerror(-rc));
	if (id != old_id) {
		if (local) {
			int r = endpoints_set_identity(ns, name, id);

			if (r && r != -ENOENT)
				pr_warn("Pod %s/%s: couldn't give its endpoint identity %u: %s\n", ns,
					name, id, strerror(-r));
		}
		pr_debug("Pod %s/%s: identity %u -> %u\n", ns, name, old_id, id);
	}
	return 0;
}

static void pod_forget(const char *ns, const char *name)
{
	char owner[IPC_OWNER_MAX], key[320];
	json_t *none = json_array();

	if (!none || pod_owner(ns, name, owner, sizeof(owner)))
		goto out;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (pod_claims)
		sync_claims(pod_claims, key, owner, IPC_PRIO_POD, none, NULL);
	identity_pod_del(ns, name);
out:
	json_decref(none);
}

static int pod_apply(const json_t *old, const json_t *new, char *err, size_t errlen)
{
	int rc;

	if (!new) {
		pod_forget(k8s_namespace(old), k8s_name(old));
		mark_policy();
		return 0;
	}
	rc = pod_sync(new, err, errlen);
	if (rc) {
		char e2[64];

		if (old)
			pod_sync(old, e2, sizeof(e2));
		else
			pod_forget(k8s_namespace(new), k8s_name(new));
		return rc;
	}
	mark_policy();
	return 0;
}

const struct kind_ops kind_pod = {
	.kind = "Pod",
	.api_version = "v1",
	.namespaced = true,
	.validate = pod_validate,
	.apply = pod_apply,
};

/* ---- Node ----------------------------------------------------------------- */

static int node_validate(json_t *obj, char *err, size_t errlen)
{
	struct k8s_vctx v = K8S_VCTX(obj, err, errlen);
	json_t *spec, *status, *cidrs, *addrs, *it;
	struct sl_cidr first;
	bool have_first;
	size_t i;
	int rc;

	rc = k8s_validate_metadata(&v, obj, false, NULL);
	if (rc)
		return rc;
	rc = k8s_get_object(&v, obj, "spec", "", false, &spec);
	if (rc)
		return rc;
	rc = k8s_get_cidr(&v, spec, "podCIDR", "spec", false, true, &first, &have_first);
	if (rc)
		return rc;
	rc = k8s_get_array(&v, spec, "podCIDRs", "spec", false, 2, &cidrs);
	if (rc)
		return rc;
	json_array_foreach(cidrs, i, it) {
		char p[48];
		struct sl_cidr c;

		snprintf(p, sizeof(p), "spec.podCIDRs[%zu]", i);
		rc = k8s_check_cidr(&v, it, p, true, &c);
		if (rc)
			return rc;
		if (i == 0 && have_first && memcmp(&c, &first, sizeof(c)))
			return k8s_fail(&v, "spec.podCIDRs[0]: must match spec.podCIDR");
	}
	if (json_array_size(cidrs) == 2) {
		struct sl_cidr a, b;

		sl_cidr_parse(json_string_value(json_array_get(cidrs, 0)), &a, false);
		sl_cidr_parse(json_string_value(json_array_get(cidrs, 1)), &b, false);
		if (a.family == b.family)
			return k8s_fail(&v, "spec.podCIDRs: at most one per family");
	}
	if (have_first && !json_array_size(cidrs)) {
		if (json_object_set_new(spec, "podCIDRs",
					json_pack("[O]", json_object_get(spec, "podCIDR"))))
			return k8s_fail_errno(&v, -ENOMEM, "spec.podCIDRs: out of memory");
	} else if (!have_first && json_array_size(cidrs)) {
		if (json_object_set(spec, "podCIDR", json_array_get(cidrs, 0)))
			return k8s_fail_errno(&v, -ENOMEM, "spec.podCIDR: out of memory");
	}
	rc = k8s_get_object(&v, obj, "status", "", false, &status);
	if (rc)
		return rc;
	rc = k8s_get_array(&v, status, "addresses", "status", false, 64, &addrs);
	if (rc)
		return rc;
	json_array_foreach(addrs, i, it) {
		char p[48];
		const char *type, *addr;

		snprintf(p, sizeof(p), "status.addresses[%zu]", i);
		if (!json_is_object(it))
			return k8s_fail(&v, "%s: must be an object", p);
		rc = k8s_get_string(&v, it, "type", p, true, &type);
		if (!rc)
			rc = k8s_get_string(&v, it, "address", p, true, &addr);
		if (rc)
			return rc;
		if (!strcmp(type, "InternalIP") || !strcmp(type, "ExternalIP")) {
			rc = k8s_get_ip(&v, it, "address", p, true, &first, NULL);
			if (rc)
				return rc;
		} else if (strlen(addr) > K8S_DNS1123_SUBDOMAIN_MAX) {
			return k8s_fail(&v, "%s.address: must be at most 253 characters", p);
		}
	}
	return 0;
}

/* The Node's InternalIPs (array of strings, new ref). */
static json_t *internal_ips(const json_t *node)
{
	json_t *out = json_array(), *it;
	size_t i;

	if (!out)
		return NULL;
	json_array_foreach(json_object_get(json_object_get(node, "status"), "addresses"), i, it) {
		if (!strcmp(json_string_value(json_object_get(it, "type")), "InternalIP"))
			json_array_append(out, json_object_get(it, "address"));
	}
	return out;
}

static const char *first_v4(const json_t *ips)
{
	json_t *v;
	size_t i;

	json_array_foreach(ips, i, v) {
		union sl_addr a;
		__u8 fam;

		if (!sl_addr_parse(json_string_value(v), &a, &fam) && fam == SL_AF_INET)
			return json_string_value(v);
	}
	return NULL;
}

static void node_pod_cidr(const json_t *node)
{
	const json_t *spec = json_object_get(node, "spec");
	json_t *c;
	size_t i;

	if (pod_cidr_from_flag < 0)
		pod_cidr_from_flag = ctl.have_pod_cidr && !pod_cidr_from_node;
	if (pod_cidr_from_flag)
		return;
	/* the first CIDR of the cluster's family (the datapath is IPv4 for now) */
	json_array_foreach(json_object_get(spec, "podCIDRs"), i, c) {
		struct sl_cidr cidr;
		char a[SL_ADDR_STRLEN + 4], b[SL_ADDR_STRLEN + 4];

		if (sl_cidr_parse(json_string_value(c), &cidr, false) ||
		    (ctl.cluster_cidr.family && cidr.family != ctl.cluster_cidr.family))
			continue;
		if (ctl.have_pod_cidr && !memcmp(&cidr, &ctl.pod_cidr, sizeof(cidr)))
			return;
		pr_info("node %s: pod CIDR %s (was %s) from the Node object\n", ctl.node_name,
			sl_cidr_str(&cidr, a, sizeof(a)),
			ctl.have_pod_cidr ? sl_cidr_str(&ctl.pod_cidr, b, sizeof(b)) : "none");
		ctl.pod_cidr = cidr;
		ctl.have_pod_cidr = true;
		pod_cidr_from_node = true;
		return;
	}
}

static int node_sync(const json_t *node, char *err, size_t errlen)
{
	const char *name = k8s_name(node), *v4;
	char owner[IPC_OWNER_MAX];
	struct ipcache_val val = { 0 };
	json_t *ips = internal_ips(node), *prev;
	bool ip_changed;
	int rc;

	if (!ips || tables()) {
		json_decref(ips);
		return k8s_fail_errno(&K8S_VCTX(node, err, errlen), -ENOMEM, "out of memory");
	}
	snprintf(owner, sizeof(owner), "node:%s", name);
	v4 = first_v4(ips);
	val.identity = is_local(name) ? SL_ID_HOST : SL_ID_REMOTE_NODE;
	if (!is_local(name) && v4) {
		union sl_addr a;
		__u8 fam;

		sl_addr_parse(v4, &a, &fam);
		val.node_ip = a.v4;
	}
	rc = sync_claims(node_claims, name, owner, IPC_PRIO_NODE, ips, &val);
	json_decref(ips);
	if (rc)
		return k8s_fail_errno(&K8S_VCTX(node, err, errlen), rc, "ipcache: %s", strerror(-rc));
	prev = json_object_get(node_ips, name);
	ip_changed = !(prev && v4 && !strcmp(json_string_value(prev), v4)) && (prev || v4);
	if (ip_changed) {
		struct resync_ctx c = { .node = name, .err = err, .errlen = errlen };

		if (v4)
			rc = json_object_set_new(node_ips, name, json_string(v4)) ? -ENOMEM : 0;
		else
			json_object_del(node_ips, name);
		if (!rc)
			rc = store_foreach("Pod", resync_pod, &c);
		if (rc)
			return rc == -ENOMEM ? k8s_fail_errno(&K8S_VCTX(node, err, errlen), rc,
							      "out of memory")
					     : rc;
	}
	if (is_local(name))
		node_pod_cidr(node);
	return 0;
}

static void node_forget(const char *name)
{
	char owner[IPC_OWNER_MAX];
	json_t *none = json_array();

	if (!none)
		return;
	snprintf(owner, sizeof(owner), "node:%s", name);
	if (node_claims)
		sync_claims(node_claims, name, owner, IPC_PRIO_NODE, none, NULL);
	json_decref(none);
	if (node_ips && json_object_get(node_ips, name)) {
		char e2[64];
		struct resync_ctx c = { .node = name, .err = e2, .errlen = sizeof(e2) };

		json_object_del(node_ips, name);
		store_foreach("Pod", resync_pod, &c);
	}
}

static int node_apply(const json_t *old, const json_t *new, char *err, size_t errlen)
{
	int rc;

	if (!new) {
		node_forget(k8s_name(old));
		mark_policy();
		return 0;
	}
	rc = node_sync(new, err, errlen);
	if (rc) {
		char e2[64];

		if (old)
			node_sync(old, e2, sizeof(e2));
		else
			node_forget(k8s_name(new));
		return rc;
	}
	mark_policy();
	return 0;
}

const struct kind_ops kind_node = {
	.kind = "Node",
	.api_version = "v1",
	.namespaced = false,
	.validate = node_validate,
	.apply = node_apply,
};

/* For model_fini and tests. */
void k8s_core_reset(void)
{
	json_decref(pod_claims);
	json_decref(node_claims);
	json_decref(node_ips);
	pod_claims = node_claims = node_ips = NULL;
	pod_cidr_from_flag = -1;
	pod_cidr_from_node = false;
}
