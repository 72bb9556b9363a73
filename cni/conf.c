// SPDX-License-Identifier: Apache-2.0
/* Pure logic of the plugin (no syscalls beyond getenv): config and
 * environment parsing, versions, result/error JSON. Unit-tested without root. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cni.h"
#include "client.h"
#include "defaults.h"
#include "log.h"

const char *const cni_versions[CNI_V_COUNT] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

int cni_fail(struct cni_err *e, int code, int errnum, const char *fmt, ...)
{
	char msg[sizeof(e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (errnum)
		pr_warn("%s: %s\n", msg, strerror(-errnum));
	else
		pr_warn("%s\n", msg);
	if (e && !e->code) {
		e->code = code;
		snprintf(e->msg, sizeof(e->msg), "%s", msg);
		snprintf(e->details, sizeof(e->details), "%s", errnum ? strerror(-errnum) : "");
	}
	return errnum ? errnum : -EINVAL;
}

int cni_version_parse(const char *s)
{
	for (int i = 0; s && i < CNI_V_COUNT; i++)
		if (!strcmp(s, cni_versions[i]))
			return i;
	return -1;
}

/* CNI network names and container IDs: [a-zA-Z0-9][a-zA-Z0-9_.-]* */
static bool valid_id(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n > max || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

static bool valid_ifname(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 15 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || isspace((unsigned char)s[i]))
			return false;
	return true;
}

/* An optional string member: absent/null -> def; non-string or empty -> error. */
static int opt_string(json_t *root, const char *key, const char *def, const char **out,
		      struct cni_err *e)
{
	json_t *v = json_object_get(root, key);

	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_string(v) || !*json_string_value(v))
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, 0,
				"invalid network config: \"%s\" must be a non-empty string", key);
	*out = json_string_value(v);
	return 0;
}

/* An optional object member: absent/null -> NULL. */
static int opt_object(json_t *root, const char *key, json_t **out, struct cni_err *e)
{
	json_t *v = json_object_get(root, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, 0,
				"invalid network config: \"%s\" must be an object", key);
	*out = v;
	return 0;
}

int cni_pod_cidr_check(const struct sl_cidr *cidr, const char *what, struct cni_err *e)
{
	char buf[SL_ADDR_STRLEN + 4];

	if (cidr->family != SL_AF_INET)
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, 0,
				"%s %s: only IPv4 pod CIDRs are supported", what,
				sl_cidr_str(cidr, buf, sizeof(buf)));
	if (cidr->plen < 8)
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, 0, "%s %s: prefix shorter than /8", what,
				sl_cidr_str(cidr, buf, sizeof(buf)));
	if (cidr->plen > 30)
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, 0,
				"%s %s: prefix too long, a pod CIDR needs room for a gateway and "
				"pods (/30 or shorter)",
				what, sl_cidr_str(cidr, buf, sizeof(buf)));
	return 0;
}

static const char *const attach_keys[] = {"cni.dev/valid-attachments", "cni.dev/attachments"};

/* GC's list of attachments to keep: in runtimeConfig (libcni) or at the top
 * level (as the spec's example shows). */
static int parse_attachments(struct cni_conf *c, json_t *rc, struct cni_err *e)
{
	json_t *where[2] = {rc, c->root};

	for (int w = 0; w < 2; w++) {
		for (size_t k = 0; k < 2; k++) {
			json_t *v = where[w] ? json_object_get(where[w], attach_keys[k]) : NULL;
			size_t i;
			json_t *it;

			if (!v)
				continue;
			if (!json_is_array(v))
				return cni_fail(e, CNI_ERR_INVALID_CONFIG, 0,
						"invalid network config: \"%s\" must be a list",
						attach_keys[k]);
			json_array_foreach(v, i, it)
			{
				if (!json_is_string(json_object_get(it, "containerID")) ||
				    !json_is_string(json_object_get(it, "ifname")))
					return cni_fail(e, CNI_ERR_INVALID_CONFIG, 0,
							"invalid network config: \"%s\"[%zu] needs "
							"string containerID and ifname",
							attach_keys[k], i);
			}
			c->valid_attachments = v;
			return 0;
		}
	}
	return 0;
}

int cni_conf_parse(const char *buf, size_t len, struct cni_conf *c, struct cni_err *e)
{
	json_error_t jerr;
	json_t *v, *rc;
	int err;

	memset(c, 0, sizeof(*c));
	c->ver = -1;
	c->root = json_loadb(buf, len, 0, &jerr);
	if (!c->root)
		return cni_fail(e, CNI_ERR_DECODE, 0,
				"network config is not valid JSON: %s (line %d, column %d)",
				jerr.text, jerr.line, jerr.column);
	if (!json_is_object(c->root))
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, 0,
				"invalid network config: not a JSON object");

	v = json_object_get(c->root, "cniVersion");
	if (v && !json_is_string(v))
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, 0,
				"invalid network config: \"cniVersion\" must be a string");
	/* Like libcni: no cniVersion means 0.1.0, which we do not speak. */
	c->version = v ? json_string_value(v) : "0.1.0";
	c->ver = cni_version_parse(c->version);
	if (c->ver < 0)
		return cni_fail(e, CNI_ERR_INCOMPATIBLE, 0,
				"incompatible CNI version %s: sluice supports 0.3.0, 0.3.1, 0.4.0, "
				"1.0.0, 1.1.0",
				c->version);

	v = json_object_get(c->root, "name");
	if (!json_is_string(v) || !valid_id(json_string_value(v), 128))
		return cni_fail(
		    e, CNI_ERR_INVALID_CONFIG, 0,
		    "invalid network config: \"name\" missing or not [a-zA-Z0-9][a-zA-Z0-9_.-]*");
	c->name = json_string_value(v);
	v = json_object_get(c->root, "type");
	if (!json_is_string(v) || !*json_string_value(v))
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, 0,
				"invalid network config: \"type\" missing");
	c->type = json_string_value(v);

	if ((err = opt_string(c->root, "bpffs", NULL, &c->bpffs, e)) ||
	    (err = opt_string(c->root, "socket", NULL, &c->socket, e)) ||
	    (err = opt_string(c->root, "stateDir", SL_DEFAULT_STATE_DIR, &c->state_dir, e)))
		return err;
	c->bpffs = sl_bpffs_path(c->bpffs);
	c->socket = sl_socket_path(c->socket);

	v = json_object_get(c->root, "podCIDR");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || sl_cidr_parse(json_string_value(v), &c->pod_cidr, false))
			return cni_fail(e, CNI_ERR_INVALID_CONFIG, 0,
					"invalid network config: \"podCIDR\" %s is not a CIDR with "
					"zero host bits",
					json_is_string(v) ? json_string_value(v)
							  : "(not a string)");
		if ((err = cni_pod_cidr_check(&c->pod_cidr, "invalid network config: podCIDR", e)))
			return err;
		c->has_pod_cidr = true;
	}

	c->mtu = 1500;
	v = json_object_get(c->root, "mtu");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 68 ||
		    json_integer_value(v) > 65535)
			return cni_fail(
			    e, CNI_ERR_INVALID_CONFIG, 0,
			    "invalid network config: \"mtu\" must be an integer in 68..65535");
		c->mtu = (int)json_integer_value(v);
	}

	if ((err = opt_object(c->root, "ipam", &c->ipam, e)))
		return err;
	if (c->ipam && (v = json_object_get(c->ipam, "type")) && !json_is_null(v)) {
		const char *t = json_string_value(v);

		if (!t || !*t || strchr(t, '/') || !strcmp(t, ".") || !strcmp(t, ".."))
			return cni_fail(
			    e, CNI_ERR_INVALID_CONFIG, 0,
			    "invalid network config: \"ipam.type\" must be a plugin name");
		c->ipam_type = t;
	}
	if ((err = opt_object(c->root, "prevResult", &c->prev_result, e)) ||
	    (err = opt_object(c->root, "dns", &c->dns, e)) ||
	    (err = opt_object(c->root, "runtimeConfig", &rc, e)))
		return err;
	return parse_attachments(c, rc, e);
}

void cni_conf_free(struct cni_conf *c)
{
	json_decref(c->root);
	memset(c, 0, sizeof(*c));
}

/* ---- environment ---------------------------------------------------------- */

static const char *const verb_names[CNI_VERB_COUNT] = {"ADD",	  "DEL",    "CHECK",
						       "VERSION", "STATUS", "GC"};

int cni_args_get(const char *args, const char *key, char *val, size_t len)
{
	size_t klen = strlen(key);
	const char *p = args;

	if (!args)
		return 0;
	while (*p) {
		const char *end = strchr(p, ';'), *eq;
		size_t n;

		if (!end)
			end = p + strlen(p);
		n = (size_t)(end - p);
		if (n) {
			eq = memchr(p, '=', n);
			if (!eq || eq == p)
				return -EINVAL;
			if ((size_t)(eq - p) == klen && !memcmp(p, key, klen)) {
				size_t vlen = (size_t)(end - eq - 1);

				if (vlen >= len)
					return -EINVAL;
				memcpy(val, eq + 1, vlen);
				val[vlen] = '\0';
				return 1;
			}
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

int cni_env_parse(struct cni_env *env, struct cni_err *e)
{
	/* Which variables each verb needs (spec 1.1.0 "Parameters"). */
	enum { C = 1, N = 2, I = 4, P = 8 };
	static const int need[CNI_VERB_COUNT] = {
	    [CNI_ADD] = C | N | I | P, [CNI_DEL] = C | I | P, [CNI_CHECK] = C | N | I | P,
	    [CNI_VERSION] = 0,	       [CNI_STATUS] = 0,      [CNI_GC] = 0,
	};
	int r;

	memset(env, 0, sizeof(*env));
	env->verb = -1;
	env->command = getenv("CNI_COMMAND");
	if (!env->command || !*env->command)
		return cni_fail(e, CNI_ERR_INVALID_ENV, 0, "CNI_COMMAND is not set");
	for (int i = 0; i < CNI_VERB_COUNT; i++)
		if (!strcmp(env->command, verb_names[i]))
			env->verb = i;
	if (env->verb < 0)
		return cni_fail(e, CNI_ERR_INVALID_ENV, 0, "unknown CNI_COMMAND %s", env->command);

	env->container_id = getenv("CNI_CONTAINERID");
	env->netns = getenv("CNI_NETNS");
	env->ifname = getenv("CNI_IFNAME");
	env->args = getenv("CNI_ARGS");
	env->path = getenv("CNI_PATH");
	if (env->netns && !*env->netns)
		env->netns = NULL;

	if ((need[env->verb] & C) && (!env->container_id || !*env->container_id))
		return cni_fail(e, CNI_ERR_INVALID_ENV, 0, "CNI_CONTAINERID is required for %s",
				env->command);
	if ((need[env->verb] & N) && !env->netns)
		return cni_fail(e, CNI_ERR_INVALID_ENV, 0, "CNI_NETNS is required for %s",
				env->command);
	if ((need[env->verb] & I) && (!env->ifname || !*env->ifname))
		return cni_fail(e, CNI_ERR_INVALID_ENV, 0, "CNI_IFNAME is required for %s",
				env->command);
	if ((need[env->verb] & P) && (!env->path || !*env->path))
		return cni_fail(e, CNI_ERR_INVALID_ENV, 0, "CNI_PATH is required for %s",
				env->command);
	if (!need[env->verb])
		return 0;
	if (!valid_id(env->container_id, 127))
		return cni_fail(e, CNI_ERR_INVALID_ENV, 0,
				"invalid CNI_CONTAINERID \"%s\": want [a-zA-Z0-9][a-zA-Z0-9_.-]*, "
				"at most 127 chars",
				env->container_id);
	if (!valid_ifname(env->ifname))
		return cni_fail(e, CNI_ERR_INVALID_ENV, 0,
				"invalid CNI_IFNAME \"%s\": 1-15 chars, no '/', ':' or spaces",
				env->ifname);
	/* Unknown keys are fine (containerd sends several, IgnoreUnknown or not). */
	r = cni_args_get(env->args, "K8S_POD_NAMESPACE", env->k8s_namespace,
			 sizeof(env->k8s_namespace));
	if (r >= 0)
		r = cni_args_get(env->args, "K8S_POD_NAME", env->k8s_pod, sizeof(env->k8s_pod));
	if (r < 0)
		return cni_fail(e, CNI_ERR_INVALID_ENV, 0,
				"invalid CNI_ARGS \"%s\": want KEY=VALUE pairs separated by ';'",
				env->args);
	return 0;
}

/* ---- JSON out ----------------------------------------------------------- */

const char *cni_mac_str(const uint8_t mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	return buf;
}

json_t *cni_result_json(int ver, const struct cni_result *r)
{
	char mac[18], hmac[18], ip[SL_ADDR_STRLEN + 4], gw[SL_ADDR_STRLEN];
	json_t *ipj;

	cni_mac_str(r->mac, mac, sizeof(mac));
	cni_mac_str(r->host_mac, hmac, sizeof(hmac));
	sl_cidr_str(&r->ip, ip, sizeof(ip));
	sl_addr_str(&r->gw, r->ip.family, gw, sizeof(gw));
	ipj = json_pack("{s:s, s:s, s:i}", "address", ip, "gateway", gw, "interface", 1);
	if (ipj && ver < CNI_V100)
		json_object_set_new(ipj, "version",
				    json_string(r->ip.family == SL_AF_INET6 ? "6" : "4"));
	/* "o" steals: the new ips entry and dns (a new reference either way) */
	return json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s, s:s}], s:[o], s:[{s:s, s:s}], s:o}",
			 "cniVersion", cni_versions[ver], "interfaces", "name", r->host_ifname,
			 "mac", hmac, "name", r->ifname, "mac", mac, "sandbox",
			 r->sandbox ? r->sandbox : "", "ips", ipj, "routes", "dst",
			 r->ip.family == SL_AF_INET6 ? "::/0" : "0.0.0.0/0", "gw", gw, "dns",
			 r->dns ? json_incref(r->dns) : json_object());
}

json_t *cni_error_json(const char *version, const struct cni_err *e)
{
	return json_pack(
	    "{s:s, s:i, s:s, s:s}", "cniVersion", version ? version : CNI_VERSION_LATEST, "code",
	    e->code ? e->code : SL_CNI_ERR_INTERNAL, "msg", e->msg, "details", e->details);
}

json_t *cni_version_json(void)
{
	json_t *list = json_array();

	for (int i = 0; i < CNI_V_COUNT; i++)
		json_array_append_new(list, json_string(cni_versions[i]));
	return json_pack("{s:s, s:o}", "cniVersion", CNI_VERSION_LATEST, "supportedVersions", list);
}

int cni_addr_prefix_parse(const char *s, struct sl_cidr *c)
{
	char abuf[SL_ADDR_STRLEN];
	const char *slash = s ? strchr(s, '/') : NULL;
	size_t n;

	/* sl_cidr_parse clears host bits; here they are the point. */
	if (!slash || sl_cidr_parse(s, c, true))
		return -EINVAL;
	n = (size_t)(slash - s);
	if (n >= sizeof(abuf))
		return -EINVAL;
	memcpy(abuf, s, n);
	abuf[n] = '\0';
	return sl_addr_parse(abuf, &c->addr, &c->family);
}

int cni_prev_parse(const json_t *prev, const char *ifname, struct cni_prev *p, struct cni_err *e)
{
	json_t *ifs = json_object_get(prev, "interfaces"), *ips = json_object_get(prev, "ips");
	json_t *it, *routes;
	long pod_idx = -1;
	size_t i;

	memset(p, 0, sizeof(*p));
	json_array_foreach(ifs, i, it)
	{
		const char *name = json_string_value(json_object_get(it, "name"));
		const char *sb = json_string_value(json_object_get(it, "sandbox"));

		if (!name)
			continue;
		if (sb && *sb && !strcmp(name, ifname) && pod_idx < 0) {
			pod_idx = (long)i;
			p->ifname = name;
		} else if ((!sb || !*sb) && !p->host_ifname) {
			p->host_ifname = name;
		}
	}
	if (pod_idx < 0)
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, 0,
				"prevResult has no interface %s with a sandbox", ifname);
	json_array_foreach(ips, i, it)
	{
		json_t *idx = json_object_get(it, "interface");
		const char *a = json_string_value(json_object_get(it, "address"));
		struct sl_cidr c;

		if (idx && json_integer_value(idx) != pod_idx)
			continue;
		if (!a || cni_addr_prefix_parse(a, &c) || c.family != SL_AF_INET)
			continue;
		p->ip = c;
		a = json_string_value(json_object_get(it, "gateway"));
		if (a && !sl_addr_parse(a, &p->gw, &(__u8){0}))
			p->has_gw = true;
		break;
	}
	if (!p->ip.family)
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, 0,
				"prevResult has no IPv4 address for %s", ifname);
	routes = json_object_get(prev, "routes");
	json_array_foreach(routes, i, it)
	{
		const char *dst = json_string_value(json_object_get(it, "dst"));
		const char *gw = json_string_value(json_object_get(it, "gw"));

		if (!p->has_gw && dst && gw && !strcmp(dst, "0.0.0.0/0") &&
		    !sl_addr_parse(gw, &p->gw, &(__u8){0}))
			p->has_gw = true;
	}
	return 0;
}

void cni_host_ifname(const char *container_id, const char *ifname, char *buf, size_t len)
{
	size_t a = strlen(container_id), b = strlen(ifname);
	char in[a + b + 2];
	uint8_t h[32];

	memcpy(in, container_id, a);
	in[a] = '/';
	memcpy(in + a + 1, ifname, b);
	sl_sha256(in, a + b + 1, h);
	snprintf(buf, len, "sl%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3], h[4], h[5]);
}

bool cni_is_host_ifname(const char *name)
{
	if (strlen(name) != 14 || name[0] != 's' || name[1] != 'l')
		return false;
	for (int i = 2; i < 14; i++)
		if (!isxdigit((unsigned char)name[i]) || isupper((unsigned char)name[i]))
			return false;
	return true;
}
