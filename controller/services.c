// SPDX-License-Identifier: Apache-2.0
/* Services: the model (Services + EndpointSlices -> frontends and their
 * backends) and the LB map writer. See services.h for the contract and
 * include/sluice/lb.h for the maps and their update order. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>

#include <sluice/ct.h>
#include <sluice/lb.h>

#include "core.h"
#include "ctgc.h"
#include "ctl.h"
#include "k8s_util.h"
#include "log.h"
#include "maglev.h"
#include "requests.h"
#include "services.h"

#define SVC_LABEL "kubernetes.io/service-name"

/* ---- a small string-keyed hash table ------------------------------------ */

struct smap_ent {
	char *key;
	void *val;
	struct smap_ent *next;
};

struct smap {
	struct smap_ent **b;
	size_t nb, n;
};

static uint64_t smap_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static void *smap_get(const struct smap *m, const char *key)
{
	if (!m->nb)
		return NULL;
	for (struct smap_ent *e = m->b[smap_hash(key) & (m->nb - 1)]; e; e = e->next)
		if (!strcmp(e->key, key))
			return e->val;
	return NULL;
}

/* Insert or replace. Returns 0 or -ENOMEM (nothing changed). */
static int smap_put(struct smap *m, const char *key, void *val)
{
	struct smap_ent *e;
	size_t i;

	if (m->n + 1 > m->nb) {
		size_t nb = m->nb ? m->nb * 2 : 64;
		struct smap_ent **b = calloc(nb, sizeof(*b));

		if (!b)
			return -ENOMEM;
		for (size_t j = 0; j < m->nb; j++) {
			while (m->b[j]) {
				e = m->b[j];
				m->b[j] = e->next;
				i = smap_hash(e->key) & (nb - 1);
				e->next = b[i];
				b[i] = e;
			}
		}
		free(m->b);
		m->b = b;
		m->nb = nb;
	}
	i = smap_hash(key) & (m->nb - 1);
	for (e = m->b[i]; e; e = e->next) {
		if (!strcmp(e->key, key)) {
			e->val = val;
			return 0;
		}
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return -ENOMEM;
	}
	e->val = val;
	e->next = m->b[i];
	m->b[i] = e;
	m->n++;
	return 0;
}

static void smap_del(struct smap *m, const char *key)
{
	if (!m->nb)
		return;
	for (struct smap_ent **p = &m->b[smap_hash(key) & (m->nb - 1)]; *p; p = &(*p)->next) {
		if (!strcmp((*p)->key, key)) {
			struct smap_ent *e = *p;

			*p = e->next;
			free(e->key);
			free(e);
			m->n--;
			return;
		}
	}
}

/* Call fn for every value (the table must not change meanwhile). */
static void smap_each(const struct smap *m, void (*fn)(const char *key, void *val, void *arg),
		      void *arg)
{
	for (size_t j = 0; j < m->nb; j++)
		for (struct smap_ent *e = m->b[j]; e; e = e->next)
			fn(e->key, e->val, arg);
}

static void smap_clear(struct smap *m)
{
	for (size_t j = 0; j < m->nb; j++) {
		while (m->b[j]) {
			struct smap_ent *e = m->b[j];

			m->b[j] = e->next;
			free(e->key);
			free(e);
		}
	}
	free(m->b);
	memset(m, 0, sizeof(*m));
}

/* ---- interned node names --------------------------------------------------- */

/* Every endpoint names its node; a cluster has few nodes, so endpoints
 * share one refcounted copy of each name instead of carrying their own. */
struct node_name {
	unsigned int refs;
	char name[];
};

static struct smap node_names; /* name -> struct node_name */

/* A reference to the interned copy of name ("" for NULL or empty, which
 * needs no reference), or NULL when out of memory. */
static const char *node_intern(const char *name)
{
	struct node_name *nn;
	size_t len;

	if (!name || !*name)
		return "";
	nn = smap_get(&node_names, name);
	if (!nn) {
		len = strlen(name);
		nn = malloc(sizeof(*nn) + len + 1);
		if (!nn)
			return NULL;
		nn->refs = 0;
		memcpy(nn->name, name, len + 1);
		if (smap_put(&node_names, nn->name, nn)) {
			free(nn);
			return NULL;
		}
	}
	nn->refs++;
	return nn->name;
}

static void node_release(const char *name)
{
	struct node_name *nn;

	if (!name || !*name)
		return;
	nn = (struct node_name *)(void *)(name - offsetof(struct node_name, name));
	if (--nn->refs)
		return;
	smap_del(&node_names, nn->name);
	free(nn);
	if (!node_names.n)
		smap_clear(&node_names); /* nothing left behind once no slice remains */
}

/* ---- parsing validated objects ------------------------------------------ */

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static uint8_t proto_of(const json_t *port)
{
	uint8_t p = IPPROTO_TCP;

	if (k8s_parse_protocol(json_string_value(json_object_get(port, "protocol")), &p))
		p = IPPROTO_TCP;
	return p;
}

void svc_def_free(struct svc_def *d)
{
	if (!d)
		return;
	free(d->ports);
	free(d);
}

int svc_def_parse(const json_t *obj, struct svc_def **out)
{
	const json_t *spec = json_object_get(obj, "spec"), *ips, *ports, *v;
	struct svc_def *d;
	const char *s;
	size_t i;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	copy_str(d->ns, sizeof(d->ns), k8s_namespace(obj));
	copy_str(d->name, sizeof(d->name), k8s_name(obj));
	s = json_string_value(json_object_get(spec, "type"));
	copy_str(d->type, sizeof(d->type), s ? s : "ClusterIP");
	d->load_balanced = strcmp(d->type, "ExternalName") != 0;
	ips = json_object_get(spec, "clusterIPs");
	json_array_foreach(ips, i, v)
	{
		s = json_string_value(v);
		if (!s || !strcmp(s, "None")) {
			d->load_balanced = false;
			continue;
		}
		if (d->n_ips >= SVC_MAX_IPS)
			break;
		if (sl_cidr_parse(s, &d->ips[d->n_ips], false))
			goto inval;
		d->n_ips++;
	}
	if (!d->n_ips)
		d->load_balanced = false;
	ports = json_object_get(spec, "ports");
	if (json_array_size(ports)) {
		d->ports = calloc(json_array_size(ports), sizeof(*d->ports));
		if (!d->ports) {
			svc_def_free(d);
			return -ENOMEM;
		}
	}
	json_array_foreach(ports, i, v)
	{
		struct svc_port *p = &d->ports[d->n_ports++];

		copy_str(p->name, sizeof(p->name), json_string_value(json_object_get(v, "name")));
		p->proto = proto_of(v);
		p->port = (uint16_t)json_integer_value(json_object_get(v, "port"));
	}
	s = json_string_value(json_object_get(spec, "sessionAffinity"));
	if (s && !strcmp(s, "ClientIP")) {
		json_int_t t = json_integer_value(json_object_get(
		    json_object_get(json_object_get(spec, "sessionAffinityConfig"), "clientIP"),
		    "timeoutSeconds"));

		d->affinity = true;
		d->affinity_timeout = t > 0 ? (uint32_t)t : 10800;
	}
	s = json_string_value(json_object_get(spec, "internalTrafficPolicy"));
	d->itp_local = s && !strcmp(s, "Local");
	*out = d;
	return 0;
inval:
	svc_def_free(d);
	return -EINVAL;
}

void svc_slice_free(struct svc_slice *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_eps; i++)
		node_release(s->eps[i].node);
	free(s->ns);
	free(s->name);
	free(s->service);
	free(s->ports);
	free(s->eps);
	free(s);
}

/* A condition with the API's nil rule: absent or null means dflt. */
static bool cond(const json_t *conds, const char *key, bool dflt)
{
	const json_t *v = json_object_get(conds, key);

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

int svc_slice_parse(const json_t *obj, struct svc_slice **out)
{
	const json_t *ports = json_object_get(obj, "ports"),
		     *eps = json_object_get(obj, "endpoints");
	const char *at = json_string_value(json_object_get(obj, "addressType"));
	const json_t *v;
	struct svc_slice *s;
	size_t i;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ns = strdup(str_or_empty(k8s_namespace(obj)));
	s->name = strdup(str_or_empty(k8s_name(obj)));
	s->service =
	    strdup(str_or_empty(json_string_value(json_object_get(k8s_labels(obj), SVC_LABEL))));
	if (!s->ns || !s->name || !s->service) {
		svc_slice_free(s);
		return -ENOMEM;
	}
	s->family = at && !strcmp(at, "IPv4")	? SL_AF_INET
		    : at && !strcmp(at, "IPv6") ? SL_AF_INET6
						: 0;
	if ((json_array_size(ports) &&
	     !(s->ports = calloc(json_array_size(ports), sizeof(*s->ports)))) ||
	    (json_array_size(eps) && !(s->eps = calloc(json_array_size(eps), sizeof(*s->eps))))) {
		svc_slice_free(s);
		return -ENOMEM;
	}
	json_array_foreach(ports, i, v)
	{
		struct svc_slice_port *p = &s->ports[s->n_ports++];
		json_int_t n = json_integer_value(json_object_get(v, "port"));

		copy_str(p->name, sizeof(p->name), json_string_value(json_object_get(v, "name")));
		p->proto = proto_of(v);
		p->port = n > 0 && n <= 65535 ? (uint16_t)n : 0;
	}
	json_array_foreach(eps, i, v)
	{
		const json_t *conds = json_object_get(v, "conditions");
		const char *addr =
		    json_string_value(json_array_get(json_object_get(v, "addresses"), 0));
		struct svc_slice_ep *e;

		/* FQDN slices carry names, which this datapath does not resolve. */
		if (!s->family || !addr)
			continue;
		e = &s->eps[s->n_eps];
		if (sl_cidr_parse(addr, &e->addr, false) || e->addr.family != s->family) {
			svc_slice_free(s);
			return -EINVAL;
		}
		e->node = node_intern(json_string_value(json_object_get(v, "nodeName")));
		if (!e->node) {
			svc_slice_free(s);
			return -ENOMEM;
		}
		s->n_eps++;
		/* ready: nil means ready; serving: nil defers to ready;
		 * terminating: nil means not terminating (discovery/v1 docs). */
		e->ready = cond(conds, "ready", true);
		e->serving = cond(conds, "serving", e->ready);
		e->terminating = cond(conds, "terminating", false);
	}
	*out = s;
	return 0;
}

/* ---- the model ------------------------------------------------------------ */

/* Memory per endpoint matters at 100,000 endpoints (services.h). */
_Static_assert(sizeof(struct svc_slice_ep) <= 32, "svc_slice_ep grew");
_Static_assert(sizeof(struct svc_backend) <= 24, "svc_backend grew");

void svc_model_free(struct svc_model *m)
{
	for (size_t i = 0; i < m->n_frontends; i++)
		free(m->frontends[i].backends);
	free(m->frontends);
	memset(m, 0, sizeof(*m));
}

static int cmp_backend(const void *a, const void *b)
{
	const struct svc_backend *x = a, *y = b;
	int c = memcmp(&x->addr.addr, &y->addr.addr, sizeof(x->addr.addr));

	if (c)
		return c;
	return (int)x->port - (int)y->port;
}

/* Fill f->backends from the slices; returns 0 or -ENOMEM. */
static int frontend_build(const struct svc_def *def, const struct svc_port *sp,
			  struct svc_slice *const *slices, size_t n_slices, const char *node,
			  struct svc_frontend *f)
{
	size_t cap = 0, n = 0, any_ready = 0;

	for (size_t i = 0; i < n_slices; i++)
		if (slices[i]->family == f->addr.family)
			cap += slices[i]->n_eps;
	if (cap && !(f->backends = calloc(cap, sizeof(*f->backends))))
		return -ENOMEM;
	for (size_t i = 0; i < n_slices; i++) {
		const struct svc_slice *s = slices[i];
		const struct svc_slice_port *port = NULL;

		if (s->family != f->addr.family)
			continue;
		/* Slice ports carry the resolved targetPort under the
		 * Service port's name: that is how a named targetPort maps. */
		for (size_t j = 0; j < s->n_ports; j++) {
			if (s->ports[j].port && s->ports[j].proto == sp->proto &&
			    !strcmp(s->ports[j].name, sp->name)) {
				port = &s->ports[j];
				break;
			}
		}
		if (!port)
			continue;
		for (size_t j = 0; j < s->n_eps; j++) {
			const struct svc_slice_ep *e = &s->eps[j];
			struct svc_backend *b = &f->backends[n++];

			b->addr = e->addr;
			b->proto = sp->proto;
			b->port = port->port;
			b->ready = e->ready;
			b->serving = e->serving;
			b->terminating = e->terminating;
			b->local = node && *node && !strcmp(e->node, node);
		}
	}
	/* Sort, then merge an endpoint listed by several slices. */
	if (n)
		qsort(f->backends, n, sizeof(*f->backends), cmp_backend);
	f->n_backends = 0;
	for (size_t i = 0; i < n; i++) {
		struct svc_backend *last = f->n_backends ? &f->backends[f->n_backends - 1] : NULL;

		if (last && !cmp_backend(last, &f->backends[i])) {
			last->ready |= f->backends[i].ready;
			last->serving |= f->backends[i].serving;
			last->terminating &= f->backends[i].terminating;
			last->local |= f->backends[i].local;
			continue;
		}
		f->backends[f->n_backends++] = f->backends[i];
	}
	/* cap counted every endpoint of the family, matching port or not. */
	if (!f->n_backends) {
		free(f->backends);
		f->backends = NULL;
	} else if (f->n_backends < cap) {
		struct svc_backend *fit = realloc(f->backends, f->n_backends * sizeof(*fit));

		if (fit)
			f->backends = fit;
	}
	/* kube-proxy's selection: the pool is every endpoint, or only the
	 * local ones with internalTrafficPolicy Local; ready ones take new
	 * connections; with none ready, serving terminating ones do. */
	for (size_t i = 0; i < f->n_backends; i++) {
		struct svc_backend *b = &f->backends[i];

		if ((!def->itp_local || b->local) && b->ready)
			any_ready++;
	}
	f->n_active = 0;
	for (size_t i = 0; i < f->n_backends; i++) {
		struct svc_backend *b = &f->backends[i];

		if (def->itp_local && !b->local)
			continue;
		b->active = any_ready ? b->ready : (b->serving && b->terminating);
		f->n_active += b->active;
	}
	return 0;
}

int svc_model_build(const struct svc_def *def, struct svc_slice *const *slices, size_t n_slices,
		    const char *node_name, struct svc_model *out)
{
	size_t n;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!def->load_balanced || !def->n_ips || !def->n_ports)
		return 0;
	n = (size_t)def->n_ips * def->n_ports;
	out->frontends = calloc(n, sizeof(*out->frontends));
	if (!out->frontends)
		return -ENOMEM;
	for (int i = 0; i < def->n_ips; i++) {
		for (size_t p = 0; p < def->n_ports; p++) {
			struct svc_frontend *f = &out->frontends[out->n_frontends++];

			f->addr = def->ips[i];
			f->proto = def->ports[p].proto;
			f->port = def->ports[p].port;
			copy_str(f->port_name, sizeof(f->port_name), def->ports[p].name);
			ret = frontend_build(def, &def->ports[p], slices, n_slices, node_name, f);
			if (ret) {
				svc_model_free(out);
				return ret;
			}
		}
	}
	return 0;
}

/* ---- the store -------------------------------------------------------- */

/* A backend the maps hold: one id per (address, port, proto). */
struct be_ref {
	char key[SL_ADDR_STRLEN + 16];
	uint32_t id;
	unsigned int refs;	 /* frontends whose backend list names it */
	unsigned int ready_refs; /* of which see it ready */
	bool in_map;		 /* sluice_backend[id] written */
	struct backend_val val;	 /* what is written */
};

/* A frontend as written. */
struct fe_inst {
	struct svc_key key;
	char key_str[SL_ADDR_STRLEN + 16];
	struct svc_val val;
	size_t n_ids;
	uint32_t *ids; /* backend refs held, parallel to the frontend's backends */
	bool *ready;   /* readiness each ref was taken with */
	size_t n_active;
	uint32_t *active; /* ids in the table, sorted */
};

/* Everything known under one Service key (namespace/name). Exists while
 * the Service or any slice naming it does. */
struct svc_entry {
	char *key; /* "ns/name", owned */
	struct svc_def *def;
	struct svc_slice **slices;
	size_t n_slices, cap_slices;
	struct svc_model model; /* last successfully written */
	struct fe_inst *fe;
	size_t n_fe;
};

static struct {
	struct smap entries;	/* "ns/service" -> svc_entry */
	struct smap slices;	/* "ns/slice" -> svc_slice */
	struct smap backends;	/* "addr:port/PROTO" -> be_ref */
	struct smap frontends;	/* "addr:port/PROTO" -> svc_entry owning it */
	struct smap adopted_fe; /* restart: "addr:port/PROTO" -> struct adopted */
	struct smap be_by_id;	/* "id" -> be_ref */
	uint32_t next_be_id, next_fe_id;
	bool init_done;
	bool gc_done;
	bool model_only; /* no pin root: keep the model, write no map */
	int fd_svc, fd_be, fd_maglev, fd_revnat;
	int fd_affinity; /* optional: stale ClientIP entries are purged when present */
	bool fds_injected;
	/* Backends deleted from sluice_backend whose conntrack frontend
	 * entries are not purged yet (services_flush_ct()). */
	uint32_t *purge_ids;
	size_t n_purge, cap_purge;
	bool purge_orphans;	  /* out of memory for purge_ids: purge by the model instead */
	unsigned int purge_fails; /* failed purges in a row */
	uint64_t last_purge_ns;	  /* CLOCK_MONOTONIC start of the last walk; 0 none */
	int fd_ct;		  /* injected sluice_ct (tests); -1 */
	bool ct_injected;
	bool ct_warned;
	unsigned int m;
	uint32_t *table;      /* scratch, m slots */
	uint32_t *prev_table; /* scratch: the table being replaced, for rollback */
} S = {.fd_svc = -1, .fd_be = -1, .fd_maglev = -1, .fd_revnat = -1, .fd_affinity = -1, .fd_ct = -1};

static const char *proto_str(uint8_t p)
{
	return k8s_protocol_name(p);
}

static void endpoint_key(char *buf, size_t len, const struct sl_cidr *a, uint16_t port,
			 uint8_t proto)
{
	char ab[SL_ADDR_STRLEN];

	sl_addr_str(&a->addr, a->family, ab, sizeof(ab));
	snprintf(buf, len, a->family == SL_AF_INET6 ? "[%s]:%u/%s" : "%s:%u/%s", ab, port,
		 proto_str(proto));
}

static void svc_key_str(char *buf, size_t len, const struct svc_key *k)
{
	struct sl_cidr a = {.addr = k->addr, .family = k->family};

	endpoint_key(buf, len, &a, ntohs(k->port), k->proto);
}

static void be_key_str(char *buf, size_t len, const struct backend_val *v)
{
	struct sl_cidr a = {.addr = v->addr, .family = v->family};

	endpoint_key(buf, len, &a, ntohs(v->port), v->proto);
}

/* ---- map access ------------------------------------------------------- */

/* A frontend found in sluice_svc at start-up (written by a previous run). */
struct adopted {
	struct svc_key key;
	struct svc_val val;
};

static int be_index(struct be_ref *r)
{
	char k[16];

	snprintf(k, sizeof(k), "%u", r->id);
	return smap_put(&S.be_by_id, k, r);
}

static void be_unindex(struct be_ref *r)
{
	char k[16];

	snprintf(k, sizeof(k), "%u", r->id);
	smap_del(&S.be_by_id, k);
}

static void free_adopted(const char *key, void *val, void *arg)
{
	(void)key;
	(void)arg;
	free(val);
}

/* Open the maps and, on the first call, adopt what a previous sluiced
 * wrote: frontends keep their svc_id and backends their id, so a restart
 * rewrites nothing that traffic depends on. Returns 0 or -errno (err set). */
static int writer_init(char *err, size_t errlen)
{
	struct bpf_map_info info = {0};
	__u32 info_len = sizeof(info);
	struct svc_key sk, *prev = NULL;
	__u32 id, *prev_id = NULL;
	int ret;

	if (S.init_done)
		return 0;
	if (!S.fds_injected) {
		if (!ctl.bpffs) {
			/* No pin root (unit tests of other modules): model only. */
			S.model_only = true;
			S.init_done = true;
			return 0;
		}
		S.fd_svc = ctl_map_fd(SL_MAP_SVC);
		S.fd_be = ctl_map_fd(SL_MAP_BACKEND);
		S.fd_maglev = ctl_map_fd(SL_MAP_MAGLEV);
		S.fd_revnat = ctl_map_fd(SL_MAP_REVNAT);
		S.fd_affinity = ctl_map_fd(SL_MAP_AFFINITY);
		if (S.fd_affinity < 0)
			pr_warn("services: %s unavailable (%s): affinity to backends that stop "
				"being ready is not purged\n",
				SL_MAP_AFFINITY, strerror(-S.fd_affinity));
		if (S.fd_svc < 0 || S.fd_be < 0 || S.fd_maglev < 0 || S.fd_revnat < 0) {
			ret = S.fd_svc < 0	? S.fd_svc
			      : S.fd_be < 0	? S.fd_be
			      : S.fd_maglev < 0 ? S.fd_maglev
						: S.fd_revnat;
			snprintf(err, errlen, "couldn't open the service maps under %s: %s",
				 ctl.bpffs, strerror(-ret));
			pr_warn("%s\n", err);
			return ret;
		}
		ret = bpf_obj_get_info_by_fd(S.fd_maglev, &info, &info_len);
		if (ret) {
			ret = -errno;
			snprintf(err, errlen, "couldn't read %s's layout: %s", SL_MAP_MAGLEV,
				 strerror(errno));
			pr_warn("%s\n", err);
			return ret;
		}
		/* The map is authoritative: it may predate a --maglev-size change. */
		S.m = info.value_size / sizeof(__u32);
		if (ctl.maglev_size && S.m != ctl.maglev_size)
			pr_warn("%s holds tables of %u slots, not --maglev-size %u: using %u\n",
				SL_MAP_MAGLEV, S.m, ctl.maglev_size, S.m);
	}
	if (!maglev_is_prime(S.m)) {
		snprintf(err, errlen, "%s: table size %u is not prime", SL_MAP_MAGLEV, S.m);
		pr_warn("%s\n", err);
		return -EINVAL;
	}
	free(S.table);
	free(S.prev_table);
	S.table = calloc(S.m, sizeof(*S.table));
	S.prev_table = calloc(S.m, sizeof(*S.prev_table));
	if (!S.table || !S.prev_table) {
		snprintf(err, errlen, "out of memory for a Maglev table");
		return -ENOMEM;
	}
	S.next_be_id = S.next_fe_id = 1;
	while (!bpf_map_get_next_key(S.fd_svc, prev, &sk)) {
		struct adopted *a = malloc(sizeof(*a));
		char ks[SL_ADDR_STRLEN + 16];

		if (!a)
			goto oom;
		a->key = sk;
		if (bpf_map_lookup_elem(S.fd_svc, &sk, &a->val)) {
			free(a);
		} else {
			svc_key_str(ks, sizeof(ks), &sk);
			if (smap_put(&S.adopted_fe, ks, a)) {
				free(a);
				goto oom;
			}
			if (a->val.svc_id >= S.next_fe_id)
				S.next_fe_id = a->val.svc_id + 1;
			if (a->val.rev_nat_id >= S.next_fe_id)
				S.next_fe_id = a->val.rev_nat_id + 1;
		}
		prev = &sk;
	}
	while (!bpf_map_get_next_key(S.fd_be, prev_id, &id)) {
		struct be_ref *r = calloc(1, sizeof(*r));

		if (!r)
			goto oom;
		if (bpf_map_lookup_elem(S.fd_be, &id, &r->val)) {
			free(r);
		} else {
			r->id = id;
			r->in_map = true;
			be_key_str(r->key, sizeof(r->key), &r->val);
			if (smap_get(&S.backends, r->key)) {
				free(r); /* a duplicate address: the GC removes the extra id */
			} else if (smap_put(&S.backends, r->key, r)) {
				free(r);
				goto oom;
			} else if (be_index(r)) {
				smap_del(&S.backends, r->key);
				free(r);
				goto oom;
			}
			if (id >= S.next_be_id)
				S.next_be_id = id + 1;
		}
		prev_id = &id;
	}
	if (S.adopted_fe.n || S.backends.n)
		pr_info("services: adopted %zu frontends and %zu backends from the pinned maps\n",
			S.adopted_fe.n, S.backends.n);
	S.init_done = true;
	return 0;
oom:
	snprintf(err, errlen, "out of memory while reading the service maps");
	pr_warn("%s\n", err);
	return -ENOMEM;
}

static int map_err(char *err, size_t errlen, const char *what, const char *map, const char *key)
{
	int ret = -errno;

	snprintf(err, errlen, "couldn't %s %s entry %s: %s", what, map, key, strerror(errno));
	pr_warn("%s\n", err);
	return ret ? ret : -EIO;
}

/* ---- conntrack purge of deleted backends -------------------------------- */

/* The datapath translates a Service flow's packets from its frontend entry
 * in sluice_ct (include/sluice/ct.h) and re-checks that the recorded
 * backend exists only about once a second: a deleted backend's frontend
 * entries must go with it, or its flows keep being sent to an address that
 * no longer serves them (kube-proxy clears conntrack likewise). Deletions
 * are collected here and purged in one walk of sluice_ct per feed value
 * (services_flush_ct()), not one walk per backend, and at most one walk
 * per SVC_PURGE_MIN_GAP_MS. */

/* The conntrack map to purge, or -1: none (model only, injected maps
 * without an injected ct map, or sluice_ct not pinned: warned once). */
static int ct_fd(void)
{
	int fd;

	if (S.ct_injected)
		return S.fd_ct;
	if (S.model_only || S.fds_injected || !ctl.bpffs)
		return -1;
	fd = ctl_map_fd(SL_MAP_CT);
	if (fd < 0) {
		if (!S.ct_warned)
			pr_warn("services: %s unavailable (%s): flows of removed backends are "
				"moved only by the datapath's periodic check\n",
				SL_MAP_CT, strerror(-fd));
		S.ct_warned = true;
		return -1;
	}
	return fd;
}

/* Remember that backend id left sluice_backend. */
static void purge_note(uint32_t id)
{
	if (S.model_only || (S.fds_injected && !S.ct_injected))
		return;
	if (S.n_purge == S.cap_purge) {
		size_t cap = S.cap_purge ? S.cap_purge * 2 : 64;
		uint32_t *p = realloc(S.purge_ids, cap * sizeof(*p));

		if (!p) {
			S.purge_orphans = true; /* the next flush finds them by the model */
			return;
		}
		S.purge_ids = p;
		S.cap_purge = cap;
	}
	S.purge_ids[S.n_purge++] = id;
}

static void purge_clear(void)
{
	free(S.purge_ids);
	S.purge_ids = NULL;
	S.n_purge = S.cap_purge = 0;
	S.purge_orphans = false;
	S.purge_fails = 0;
}

static struct be_ref *be_by_id(uint32_t id);

/* A frontend entry whose backend the model does not know (any more). */
static bool match_front_orphan(const struct ct_key *key, const struct ct_entry *val, void *arg)
{
	(void)key;
	(void)arg;
	return (val->flags & SL_CT_F_FRONT) && val->backend_id && !be_by_id(val->backend_id);
}

/* A failing purge is retried by the timer this many times; after that the
 * datapath's own check moves the flows (within about a second each). */
#define SVC_PURGE_TRIES 3
/* A walk of a full sluice_ct takes ~80 ms: under EndpointSlice churn, one
 * walk per value would keep a core busy. Walks start at most this often;
 * values in between leave their backends pending for the purge timer
 * (SVC_PURGE_TICK_MS), so a purge is at most ~0.5 s late, about the
 * datapath's own re-check period. */
#define SVC_PURGE_MIN_GAP_MS 250
#define SVC_PURGE_TICK_MS    250

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool purge_pending(void)
{
	return S.n_purge || S.purge_orphans;
}

static bool purge_too_soon(void)
{
	return S.last_purge_ns && mono_ns() - S.last_purge_ns < SVC_PURGE_MIN_GAP_MS * 1000000ull;
}

/* One walk for everything pending. Returns 0 or -errno (logged). */
static int purge_run(void)
{
	size_t purged = 0, n = S.n_purge;
	bool orphans = S.purge_orphans;
	uint64_t start;
	int fd, ret;

	fd = ct_fd();
	if (fd < 0) {
		purge_clear();
		return 0;
	}
	start = mono_ns();
	S.last_purge_ns = start;
	if (orphans)
		ret = ctgc_purge(fd, match_front_orphan, NULL, &purged);
	else
		ret = ctgc_purge_backends(fd, S.purge_ids, n, &purged);
	ctgc_count_purged(purged); /* also what a failed walk deleted */
	if (ret && ++S.purge_fails < SVC_PURGE_TRIES)
		return ret; /* kept: the services timer retries */
	if (ret)
		pr_warn("services: gave up purging the conntrack entries of %zu removed backends "
			"after %u tries\n",
			n, S.purge_fails);
	else
		pr_debug("services: purged %zu conntrack frontend entries of %s%zu removed "
			 "backends in %.1f ms\n",
			 purged, orphans ? "at least " : "", n, (double)(mono_ns() - start) / 1e6);
	purge_clear();
	return ret;
}

int services_flush_ct(void)
{
	if (!purge_pending() || purge_too_soon())
		return 0;
	return purge_run();
}

/* Timer: what services_flush_ct() deferred, and retries of failed walks. */
static void services_purge_tick(void)
{
	if (purge_pending() && !purge_too_soon())
		purge_run();
}

/* ---- backends: refcounted ids ----------------------------------------- */

static uint32_t alloc_id(uint32_t *next)
{
	uint32_t id = (*next)++;

	if (!*next)
		*next = 1; /* 0 is "none" in every map */
	return id;
}

/* Take a reference on the backend b; creates and writes it on first use,
 * updates its state/flags when they change. Returns 0 with *id, or -errno. */
static int be_acquire(const struct svc_backend *b, uint32_t *id, char *err, size_t errlen)
{
	char key[SL_ADDR_STRLEN + 16];
	struct be_ref *r;
	struct backend_val v = {0};
	bool created = false;

	endpoint_key(key, sizeof(key), &b->addr, b->port, b->proto);
	r = smap_get(&S.backends, key);
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r) {
			snprintf(err, errlen, "out of memory for backend %s", key);
			return -ENOMEM;
		}
		copy_str(r->key, sizeof(r->key), key);
		r->id = alloc_id(&S.next_be_id);
		if (smap_put(&S.backends, key, r) || be_index(r)) {
			smap_del(&S.backends, key);
			free(r);
			snprintf(err, errlen, "out of memory for backend %s", key);
			return -ENOMEM;
		}
		created = true;
	}
	v.addr = b->addr.addr;
	v.port = htons(b->port);
	v.proto = b->proto;
	v.family = b->addr.family;
	v.state = (r->ready_refs + b->ready) ? SL_BE_ACTIVE : SL_BE_TERMINATING;
	v.flags = b->local ? SL_BE_F_LOCAL : 0;
	if (!S.model_only && (!r->in_map || memcmp(&v, &r->val, sizeof(v)))) {
		if (bpf_map_update_elem(S.fd_be, &r->id, &v, BPF_ANY)) {
			int ret = map_err(err, errlen, "write", SL_MAP_BACKEND, key);

			if (created) {
				be_unindex(r);
				smap_del(&S.backends, key);
				free(r);
			}
			return ret;
		}
		r->in_map = true;
	}
	r->val = v;
	r->refs++;
	r->ready_refs += b->ready;
	*id = r->id;
	return 0;
}

/* Drop a reference; the last one deletes the map entry. Only called once
 * no written table names the backend any more. */
static void be_release(uint32_t id, bool ready)
{
	struct be_ref *r = be_by_id(id);

	if (!r)
		return;
	if (r->refs)
		r->refs--;
	if (ready && r->ready_refs)
		r->ready_refs--;
	if (r->refs) {
		/* The last reference seeing it ready went: existing flows only. */
		if (!r->ready_refs && r->val.state != SL_BE_TERMINATING) {
			struct backend_val v = r->val;

			v.state = SL_BE_TERMINATING;
			if (S.model_only || !bpf_map_update_elem(S.fd_be, &r->id, &v, BPF_ANY))
				r->val = v;
			else
				pr_warn("couldn't update %s entry %u (%s): %s\n", SL_MAP_BACKEND,
					r->id, r->key, strerror(errno));
		}
		return;
	}
	if (!S.model_only && r->in_map) {
		if (bpf_map_delete_elem(S.fd_be, &r->id) && errno != ENOENT)
			pr_warn("couldn't delete %s entry %u (%s): %s\n", SL_MAP_BACKEND, r->id,
				r->key, strerror(errno));
		purge_note(r->id);
	}
	be_unindex(r);
	smap_del(&S.backends, r->key);
	free(r);
}

static struct be_ref *be_by_id(uint32_t id)
{
	char k[16];

	snprintf(k, sizeof(k), "%u", id);
	return smap_get(&S.be_by_id, k);
}

/* ---- frontends -------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void fe_inst_free(struct fe_inst *fi)
{
	free(fi->ids);
	free(fi->ready);
	free(fi->active);
	memset(fi, 0, sizeof(*fi));
}

static void fe_inst_release(struct fe_inst *fi)
{
	for (size_t i = 0; i < fi->n_ids; i++)
		be_release(fi->ids[i], fi->ready[i]);
	fe_inst_free(fi);
}

static void make_svc_key(const struct svc_frontend *f, struct svc_key *k)
{
	memset(k, 0, sizeof(*k));
	k->addr = f->addr.addr;
	k->port = htons(f->port);
	k->proto = f->proto;
	k->family = f->addr.family;
}

/* Build the Maglev table for the active backends of f (ids parallel to
 * f->backends) into S.table. Returns 0 or -errno. */
static int build_table(const struct svc_frontend *f, const uint32_t *ids)
{
	struct maglev_backend *mb = calloc(f->n_active ? f->n_active : 1, sizeof(*mb));
	char(*names)[SL_ADDR_STRLEN + 16] = calloc(f->n_active ? f->n_active : 1, sizeof(*names));
	size_t n = 0;
	int ret = -ENOMEM;

	if (!mb || !names)
		goto out;
	for (size_t i = 0; i < f->n_backends; i++) {
		const struct svc_backend *b = &f->backends[i];

		if (!b->active)
			continue;
		endpoint_key(names[n], sizeof(names[n]), &b->addr, b->port, b->proto);
		mb[n].name = names[n];
		mb[n].id = ids[i];
		n++;
	}
	ret = maglev_build(mb, n, S.table, S.m);
out:
	free(mb);
	free(names);
	return ret;
}

/* ClientIP affinity remembers a backend per client; once that backend is
 * out of the table (not ready, removed) new connections must not follow the
 * memory, so drop those entries. Keys are collected first: deleting during
 * a get_next_key walk restarts it. */
static void affinity_purge(uint32_t svc_id, const uint32_t *active, size_t n_active)
{
	struct affinity_key k, *prev = NULL, *stale = NULL;
	struct affinity_val v;
	size_t n = 0, cap = 0;

	if (S.fd_affinity < 0)
		return;
	while (!bpf_map_get_next_key(S.fd_affinity, prev, &k)) {
		if (k.svc_id == svc_id && !bpf_map_lookup_elem(S.fd_affinity, &k, &v) &&
		    !bsearch(&v.backend_id, active, n_active, sizeof(*active), cmp_u32)) {
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 64;
				struct affinity_key *p = realloc(stale, nc * sizeof(*p));

				if (!p)
					break; /* best effort: the rest expire by timeout */
				stale = p;
				cap = nc;
			}
			stale[n++] = k;
		}
		prev = &k;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(S.fd_affinity, &stale[i]);
	if (n)
		pr_debug("services: svc_id %u: dropped %zu affinity entries to backends out of the "
			 "table\n",
			 svc_id, n);
	free(stale);
}

/* Does sorted old[] hold an id that sorted new[] lacks? */
static bool ids_removed(const uint32_t *old, size_t n_old, const uint32_t *new, size_t n_new)
{
	size_t j = 0;

	for (size_t i = 0; i < n_old; i++) {
		while (j < n_new && new[j] < old[i])
			j++;
		if (j == n_new || new[j] != old[i])
			return true;
	}
	return false;
}

/* Write one frontend of the new model. old is its previous state (NULL
 * when new). On success *fi holds the new state and the old refs are
 * released; on failure the maps hold what they held before (best effort)
 * and *fi is unchanged. */
static int fe_write(const struct svc_def *def, const struct svc_frontend *f, struct fe_inst *fi,
		    bool is_new, char *err, size_t errlen)
{
	struct fe_inst n = {0};
	const struct adopted *adopted;
	bool table_changed, wrote_revnat = false, wrote_table = false, had_table = false;
	int ret = 0;
	size_t k = 0;

	make_svc_key(f, &n.key);
	svc_key_str(n.key_str, sizeof(n.key_str), &n.key);
	n.ids = calloc(f->n_backends ? f->n_backends : 1, sizeof(*n.ids));
	n.ready = calloc(f->n_backends ? f->n_backends : 1, sizeof(*n.ready));
	n.active = calloc(f->n_active ? f->n_active : 1, sizeof(*n.active));
	if (!n.ids || !n.ready || !n.active) {
		snprintf(err, errlen, "out of memory for frontend %s", n.key_str);
		ret = -ENOMEM;
		goto fail;
	}
	/* 1. backends (new ones written, existing ones refcounted) */
	for (; n.n_ids < f->n_backends; n.n_ids++) {
		ret = be_acquire(&f->backends[n.n_ids], &n.ids[n.n_ids], err, errlen);
		if (ret)
			goto fail;
		n.ready[n.n_ids] = f->backends[n.n_ids].ready;
		if (f->backends[n.n_ids].active)
			n.active[k++] = n.ids[n.n_ids];
	}
	n.n_active = k;
	qsort(n.active, n.n_active, sizeof(*n.active), cmp_u32);

	if (is_new) {
		adopted = smap_get(&S.adopted_fe, n.key_str);
		n.val.svc_id = adopted ? adopted->val.svc_id : alloc_id(&S.next_fe_id);
	} else {
		n.val.svc_id = fi->val.svc_id;
	}
	n.val.rev_nat_id = n.val.svc_id;
	n.val.backend_count = (uint16_t)(n.n_active > 0xffff ? 0xffff : n.n_active);
	n.val.flags =
	    (def->affinity ? SL_SVC_F_AFFINITY : 0) | (def->itp_local ? SL_SVC_F_LOCAL : 0);
	n.val.affinity_timeout = def->affinity ? def->affinity_timeout : 0;
	table_changed = is_new || n.n_active != fi->n_active ||
			memcmp(n.active, fi->active, n.n_active * sizeof(*n.active));

	if (!S.model_only) {
		/* 2. revnat (before any frontend can produce a reply) */
		if (is_new) {
			struct revnat_val rv = {
			    .addr = n.key.addr, .port = n.key.port, .family = n.key.family};

			if (bpf_map_update_elem(S.fd_revnat, &n.val.rev_nat_id, &rv, BPF_ANY)) {
				ret = map_err(err, errlen, "write", SL_MAP_REVNAT, n.key_str);
				goto fail;
			}
			wrote_revnat = true;
		}
		/* 3. the table, swapped in one element update. A frontend going
		 * to zero backends is first told to refuse (4.), and the
		 * table is dropped after. */
		if (table_changed && n.n_active) {
			ret = build_table(f, n.ids);
			if (ret) {
				snprintf(err, errlen, "couldn't build the Maglev table of %s: %s",
					 n.key_str, strerror(-ret));
				goto fail;
			}
			had_table = !is_new && fi->n_active &&
				    !bpf_map_lookup_elem(S.fd_maglev, &n.val.svc_id, S.prev_table);
			if (bpf_map_update_elem(S.fd_maglev, &n.val.svc_id, S.table, BPF_ANY)) {
				ret = map_err(err, errlen, "write", SL_MAP_MAGLEV, n.key_str);
				goto fail;
			}
			wrote_table = true;
		}
		/* 4. the frontend */
		if (is_new || memcmp(&n.val, &fi->val, sizeof(n.val))) {
			if (bpf_map_update_elem(S.fd_svc, &n.key, &n.val, BPF_ANY)) {
				ret = map_err(err, errlen, "write", SL_MAP_SVC, n.key_str);
				goto fail;
			}
		}
		if (table_changed && !n.n_active && !is_new &&
		    bpf_map_delete_elem(S.fd_maglev, &n.val.svc_id) && errno != ENOENT)
			pr_warn("couldn't delete %s entry %u (%s): %s\n", SL_MAP_MAGLEV,
				n.val.svc_id, n.key_str, strerror(errno));
		if (is_new && !n.n_active)
			bpf_map_delete_elem(S.fd_maglev, &n.val.svc_id); /* adopted leftovers */
	}
	if (is_new) {
		struct adopted *a = smap_get(&S.adopted_fe, n.key_str);

		smap_del(&S.adopted_fe, n.key_str);
		free(a);
	}
	/* Only a backend leaving the table can strand affinity entries; a
	 * walk of the (preallocated LRU) map costs ~1 ms even when empty, and
	 * endpoints arriving one slice at a time would pay it per slice. */
	if (!S.model_only && !is_new && def->affinity && table_changed &&
	    ids_removed(fi->active, fi->n_active, n.active, n.n_active))
		affinity_purge(n.val.svc_id, n.active, n.n_active);
	/* 5. old refs go only now: no written table names them any more. */
	if (!is_new)
		fe_inst_release(fi);
	*fi = n;
	return 0;
fail:
	/* Put the previous table back before the new one's backends go. */
	if (wrote_table && had_table) {
		if (bpf_map_update_elem(S.fd_maglev, &n.val.svc_id, S.prev_table, BPF_ANY))
			pr_warn("frontend %s: couldn't restore its previous table: %s\n", n.key_str,
				strerror(errno));
	} else if (wrote_table) {
		bpf_map_delete_elem(S.fd_maglev, &n.val.svc_id);
	}
	if (wrote_revnat)
		bpf_map_delete_elem(S.fd_revnat, &n.val.rev_nat_id);
	for (size_t i = 0; i < n.n_ids; i++)
		be_release(n.ids[i], n.ready[i]);
	fe_inst_free(&n);
	return ret;
}

/* Remove a written frontend: frontend, table, revnat, then its backends. */
static void fe_remove(struct fe_inst *fi)
{
	if (!S.model_only) {
		if (bpf_map_delete_elem(S.fd_svc, &fi->key) && errno != ENOENT)
			pr_warn("couldn't delete %s entry %s: %s\n", SL_MAP_SVC, fi->key_str,
				strerror(errno));
		if (bpf_map_delete_elem(S.fd_maglev, &fi->val.svc_id) && errno != ENOENT)
			pr_warn("couldn't delete %s entry %u: %s\n", SL_MAP_MAGLEV, fi->val.svc_id,
				strerror(errno));
		if (bpf_map_delete_elem(S.fd_revnat, &fi->val.rev_nat_id) && errno != ENOENT)
			pr_warn("couldn't delete %s entry %u: %s\n", SL_MAP_REVNAT,
				fi->val.rev_nat_id, strerror(errno));
	}
	smap_del(&S.frontends, fi->key_str);
	fe_inst_release(fi);
}

/* Make the maps hold model m for entry e. Frontends of m are written in
 * order; a failure stops there and returns -errno (err set) with e->fe
 * describing exactly what is written. */
static int entry_write(struct svc_entry *e, const struct svc_model *m, char *err, size_t errlen)
{
	struct fe_inst *nfe = NULL;
	bool *kept = NULL;
	size_t nn = 0;
	int ret = 0;

	/* A frontend key belongs to one Service. */
	for (size_t i = 0; i < m->n_frontends; i++) {
		struct svc_key k;
		char ks[SL_ADDR_STRLEN + 16];
		struct svc_entry *owner;

		make_svc_key(&m->frontends[i], &k);
		svc_key_str(ks, sizeof(ks), &k);
		owner = smap_get(&S.frontends, ks);
		if (owner && owner != e) {
			snprintf(err, errlen,
				 "Service %s: frontend %s is already used by Service %s", e->key,
				 ks, owner->key);
			return -EEXIST;
		}
	}
	nfe = calloc(m->n_frontends + e->n_fe + 1, sizeof(*nfe));
	kept = calloc(e->n_fe + 1, sizeof(*kept));
	if (!nfe || !kept) {
		snprintf(err, errlen, "Service %s: out of memory", e->key);
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m->n_frontends; i++) {
		struct svc_key k;
		struct fe_inst *old = NULL;

		make_svc_key(&m->frontends[i], &k);
		for (size_t j = 0; j < e->n_fe; j++) {
			if (!kept[j] && !memcmp(&e->fe[j].key, &k, sizeof(k))) {
				old = &e->fe[j];
				kept[j] = true;
				break;
			}
		}
		if (old) {
			nfe[nn] = *old;
			memset(old, 0, sizeof(*old));
		}
		ret = fe_write(e->def, &m->frontends[i], &nfe[nn], !old, err, errlen);
		if (ret) {
			/* keep what is written: the old state of this one (if any) */
			if (old)
				nn++;
			goto partial;
		}
		if (smap_put(&S.frontends, nfe[nn].key_str, e)) {
			nn++;
			snprintf(err, errlen, "Service %s: out of memory", e->key);
			ret = -ENOMEM;
			goto partial;
		}
		nn++;
	}
	/* Frontends the model no longer has. */
	for (size_t j = 0; j < e->n_fe; j++)
		if (!kept[j])
			fe_remove(&e->fe[j]);
	goto adopt;
partial:
	/* e->fe keeps the untouched old frontends (moved ones are zeroed);
	 * append them so e->fe lists everything written. */
	for (size_t j = 0; j < e->n_fe; j++)
		if (e->fe[j].ids || e->fe[j].val.svc_id)
			nfe[nn++] = e->fe[j];
adopt:
	free(e->fe);
	/* nfe was sized for the worst case (old + new): 10,000 Services
	 * would keep megabytes of empty slots. */
	if (!nn) {
		free(nfe);
		nfe = NULL;
	} else {
		struct fe_inst *fit = realloc(nfe, nn * sizeof(*nfe));

		if (fit)
			nfe = fit;
	}
	e->fe = nfe;
	e->n_fe = nn;
	nfe = NULL;
out:
	free(nfe);
	free(kept);
	return ret;
}

/* ---- entries ------------------------------------------------------------ */

static struct svc_entry *entry_get(const char *ns, const char *name, bool create)
{
	char key[SVC_NS_MAX + SVC_OBJ_MAX + 1];
	struct svc_entry *e;

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	e = smap_get(&S.entries, key);
	if (e || !create)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = strdup(key);
	if (!e->key || smap_put(&S.entries, key, e)) {
		free(e->key);
		free(e);
		return NULL;
	}
	return e;
}

static void entry_maybe_free(struct svc_entry *e)
{
	if (e->def || e->n_slices || e->n_fe)
		return;
	smap_del(&S.entries, e->key);
	svc_model_free(&e->model);
	free(e->fe);
	free(e->slices);
	free(e->key);
	free(e);
}

static int entry_add_slice(struct svc_entry *e, struct svc_slice *s)
{
	if (e->n_slices == e->cap_slices) {
		size_t cap = e->cap_slices ? e->cap_slices * 2 : 4;
		struct svc_slice **p = realloc(e->slices, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		e->slices = p;
		e->cap_slices = cap;
	}
	e->slices[e->n_slices++] = s;
	return 0;
}

static void entry_del_slice(struct svc_entry *e, struct svc_slice *s)
{
	for (size_t i = 0; i < e->n_slices; i++) {
		if (e->slices[i] == s) {
			e->slices[i] = e->slices[--e->n_slices];
			return;
		}
	}
}

/* Recompute e's model and write it. On failure the previous model is
 * written back (best effort) and -errno returned with err set. */
static int entry_sync(struct svc_entry *e, char *err, size_t errlen)
{
	struct svc_model m = {0};
	char err2[256];
	int ret;

	ret = writer_init(err, errlen);
	if (ret)
		return ret;
	if (e->def) {
		ret = svc_model_build(e->def, e->slices, e->n_slices, ctl.node_name, &m);
		if (ret) {
			snprintf(err, errlen, "Service %s: out of memory", e->key);
			return ret;
		}
	}
	ret = entry_write(e, &m, err, errlen);
	if (ret) {
		if (entry_write(e, &e->model, err2, sizeof(err2)))
			pr_warn("Service %s: couldn't restore the previous state (%s); the next "
				"change retries\n",
				e->key, err2);
		svc_model_free(&m);
		return ret;
	}
	svc_model_free(&e->model);
	e->model = m;
	return 0;
}

int services_apply_service(const json_t *old, const json_t *new, char *err, size_t errlen)
{
	const json_t *obj = new ? new : old;
	struct svc_def *def = NULL, *prev;
	struct svc_entry *e;
	int ret;

	if (new) {
		ret = svc_def_parse(new, &def);
		if (ret) {
			snprintf(err, errlen, "Service %s/%s: %s", k8s_namespace(new),
				 k8s_name(new),
				 ret == -ENOMEM ? "out of memory" : "cannot be parsed");
			return ret;
		}
	}
	e = entry_get(k8s_namespace(obj), k8s_name(obj), new != NULL);
	if (!e) {
		svc_def_free(def);
		if (!new)
			return 0;
		snprintf(err, errlen, "Service %s/%s: out of memory", k8s_namespace(obj),
			 k8s_name(obj));
		return -ENOMEM;
	}
	prev = e->def;
	e->def = def;
	ret = entry_sync(e, err, errlen);
	if (ret) {
		e->def = prev;
		svc_def_free(def);
		entry_maybe_free(e);
		return ret;
	}
	svc_def_free(prev);
	entry_maybe_free(e);
	return 0;
}

int services_apply_slice(const json_t *old, const json_t *new, char *err, size_t errlen)
{
	const json_t *obj = new ? new : old;
	char key[SVC_NS_MAX + SVC_OBJ_MAX + 1];
	struct svc_slice *prev, *s = NULL;
	struct svc_entry *pe = NULL, *ne = NULL;
	int ret;

	snprintf(key, sizeof(key), "%s/%s", k8s_namespace(obj), k8s_name(obj));
	if (new) {
		ret = svc_slice_parse(new, &s);
		if (ret) {
			snprintf(err, errlen, "EndpointSlice %s: %s", key,
				 ret == -ENOMEM ? "out of memory" : "cannot be parsed");
			return ret;
		}
	}
	prev = smap_get(&S.slices, key);
	if (prev && prev->service[0])
		pe = entry_get(prev->ns, prev->service, false);
	if (s && s->service[0]) {
		ne = entry_get(s->ns, s->service, true);
		if (!ne) {
			svc_slice_free(s);
			snprintf(err, errlen, "EndpointSlice %s: out of memory", key);
			return -ENOMEM;
		}
	}
	if (s) {
		ret = smap_put(&S.slices, key, s);
		if (ret) {
			snprintf(err, errlen, "EndpointSlice %s: out of memory", key);
			goto undo_entry;
		}
	} else {
		smap_del(&S.slices, key);
	}
	if (pe)
		entry_del_slice(pe, prev);
	if (ne) {
		ret = entry_add_slice(ne, s);
		if (ret) {
			snprintf(err, errlen, "EndpointSlice %s: out of memory", key);
			goto undo_store;
		}
	}
	if (pe && pe != ne) {
		ret = entry_sync(pe, err, errlen);
		if (ret)
			goto undo_add;
	}
	if (ne) {
		ret = entry_sync(ne, err, errlen);
		if (ret) {
			if (pe && pe != ne) {
				char e2[256];

				entry_add_slice(pe, prev); /* space is there: it was just removed */
				entry_del_slice(ne, s);
				if (entry_sync(pe, e2, sizeof(e2)))
					pr_warn("%s\n", e2);
				goto undo_store_only;
			}
			goto undo_add;
		}
	}
	svc_slice_free(prev);
	if (pe && pe != ne)
		entry_maybe_free(pe);
	return 0;

undo_add:
	if (ne)
		entry_del_slice(ne, s);
undo_store:
	if (pe)
		entry_add_slice(pe, prev);
undo_store_only:
	if (prev)
		smap_put(&S.slices, key, prev); /* replaces an existing key: cannot fail */
	else
		smap_del(&S.slices, key);
undo_entry:
	svc_slice_free(s);
	if (ne)
		entry_maybe_free(ne);
	return ret;
}

/* ---- restart GC ------------------------------------------------------- */

struct gc_ctx {
	uint32_t *ids;
	size_t n, cap;
};

static void gc_adopted_fe(const char *key, void *val, void *arg)
{
	struct adopted *a = val;

	(void)arg;
	bpf_map_delete_elem(S.fd_svc, &a->key);
	bpf_map_delete_elem(S.fd_maglev, &a->val.svc_id);
	bpf_map_delete_elem(S.fd_revnat, &a->val.rev_nat_id);
	pr_info("services: removed stale frontend %s (svc_id %u)\n", key, a->val.svc_id);
	free(a);
}

static void gc_collect_be(const char *key, void *val, void *arg)
{
	struct be_ref *r = val;
	struct gc_ctx *g = arg;

	(void)key;
	if (r->refs || g->n == g->cap)
		return;
	g->ids[g->n++] = r->id;
}

/* Once the model has been restored after a restart, remove what the
 * previous run wrote and nobody claimed. Returns the number removed. */
size_t services_gc_stale(void)
{
	struct gc_ctx g = {0};
	size_t removed = S.adopted_fe.n;

	if (!S.init_done || S.model_only)
		return 0;
	smap_each(&S.adopted_fe, gc_adopted_fe, NULL);
	smap_clear(&S.adopted_fe);
	g.cap = S.backends.n;
	g.ids = calloc(g.cap ? g.cap : 1, sizeof(*g.ids));
	if (g.ids) {
		smap_each(&S.backends, gc_collect_be, &g);
		for (size_t i = 0; i < g.n; i++) {
			struct be_ref *r = be_by_id(g.ids[i]);

			if (!r)
				continue;
			bpf_map_delete_elem(S.fd_be, &r->id);
			purge_note(r->id);
			be_unindex(r);
			smap_del(&S.backends, r->key);
			free(r);
		}
		removed += g.n;
		free(g.ids);
	}
	/* Backend ids in the map that lost a duplicate-address race. */
	{
		__u32 id, *prev = NULL, stale[256];
		size_t ns = 0;

		while (!bpf_map_get_next_key(S.fd_be, prev, &id) && ns < 256) {
			if (!be_by_id(id))
				stale[ns++] = id;
			prev = &id;
		}
		for (size_t i = 0; i < ns; i++) {
			bpf_map_delete_elem(S.fd_be, &stale[i]);
			purge_note(stale[i]);
		}
		removed += ns;
	}
	return removed;
}

/* Timer: the first tick after the controller is ready (the model has
 * replayed its state) garbage-collects what a previous run left. */
static void services_timer(void)
{
	char err[256];
	size_t n;

	if (S.gc_done || !ctl_ready)
		return;
	if (writer_init(err, sizeof(err)))
		return;
	S.gc_done = true;
	if (S.model_only)
		return;
	n = services_gc_stale();
	if (n)
		pr_info("services: removed %zu stale entries left by a previous run\n", n);
	services_flush_ct();
}

__attribute__((constructor)) static void services_register_timer(void)
{
	ctl_add_timer(2000, services_timer);
	ctl_add_timer(SVC_PURGE_TICK_MS, services_purge_tick);
}

/* ---- injection, reset ----------------------------------------------------- */

static void free_entry(const char *key, void *val, void *arg)
{
	struct svc_entry *e = val;

	(void)key;
	(void)arg;
	for (size_t i = 0; i < e->n_fe; i++)
		fe_inst_free(&e->fe[i]);
	free(e->fe);
	svc_def_free(e->def);
	svc_model_free(&e->model);
	free(e->slices);
	free(e->key);
	free(e);
}

static void free_slice(const char *key, void *val, void *arg)
{
	(void)key;
	(void)arg;
	svc_slice_free(val);
}

static void free_be(const char *key, void *val, void *arg)
{
	(void)key;
	(void)arg;
	free(val);
}

void services_reset(void)
{
	smap_each(&S.entries, free_entry, NULL);
	smap_clear(&S.entries);
	smap_each(&S.slices, free_slice, NULL);
	smap_clear(&S.slices);
	smap_each(&S.backends, free_be, NULL);
	smap_clear(&S.backends);
	smap_clear(&S.be_by_id);
	smap_clear(&S.frontends);
	smap_each(&S.adopted_fe, free_adopted, NULL);
	smap_clear(&S.adopted_fe);
	free(S.table);
	free(S.prev_table);
	S.table = S.prev_table = NULL;
	purge_clear();
	S.last_purge_ns = 0;
	S.init_done = false;
	S.gc_done = false;
	S.model_only = false;
}

void services_use_maps(int svc_fd, int backend_fd, int maglev_fd, int revnat_fd, int affinity_fd,
		       unsigned int maglev_m)
{
	services_reset();
	S.fds_injected = svc_fd >= 0;
	if (!S.fds_injected) {
		S.ct_injected = false;
		S.fd_ct = -1;
	}
	S.fd_svc = svc_fd;
	S.fd_be = backend_fd;
	S.fd_maglev = maglev_fd;
	S.fd_revnat = revnat_fd;
	S.fd_affinity = affinity_fd;
	S.m = maglev_m;
}

void services_use_ct_map(int ct_fd)
{
	purge_clear();
	S.ct_injected = ct_fd >= 0;
	S.fd_ct = ct_fd;
}

/* ---- description (requests) ------------------------------------------- */

static json_t *addr_json(const struct sl_cidr *a)
{
	char b[SL_ADDR_STRLEN];

	return json_string(sl_addr_str(&a->addr, a->family, b, sizeof(b)));
}

static const char *backend_state(const struct svc_backend *b)
{
	if (b->ready)
		return "ready";
	if (b->terminating)
		return b->serving ? "terminating" : "terminating-not-serving";
	return "not-ready";
}

static uint32_t inst_id(const struct svc_entry *e, const struct svc_frontend *f, size_t bi,
			uint32_t *svc_id)
{
	struct svc_key k;

	make_svc_key(f, &k);
	for (size_t j = 0; j < e->n_fe; j++) {
		if (!memcmp(&e->fe[j].key, &k, sizeof(k))) {
			if (svc_id)
				*svc_id = e->fe[j].val.svc_id;
			return bi < e->fe[j].n_ids ? e->fe[j].ids[bi] : 0;
		}
	}
	return 0;
}

static json_t *describe_entry(const struct svc_entry *e)
{
	const struct svc_def *d = e->def;
	json_t *o, *ips, *fes, *ports;

	o = json_object();
	ips = json_array();
	fes = json_array();
	ports = json_array();
	if (!o || !ips || !fes || !ports)
		goto oom;
	json_object_set_new(o, "namespace", json_string(d->ns));
	json_object_set_new(o, "name", json_string(d->name));
	json_object_set_new(o, "type", json_string(d->type));
	for (int i = 0; i < d->n_ips; i++)
		json_array_append_new(ips, addr_json(&d->ips[i]));
	json_object_set_new(o, "clusterIPs", ips);
	json_object_set_new(o, "loadBalanced", json_boolean(d->load_balanced));
	json_object_set_new(o, "sessionAffinity", json_string(d->affinity ? "ClientIP" : "None"));
	if (d->affinity)
		json_object_set_new(o, "affinityTimeoutSeconds", json_integer(d->affinity_timeout));
	json_object_set_new(o, "internalTrafficPolicy",
			    json_string(d->itp_local ? "Local" : "Cluster"));
	for (size_t i = 0; i < d->n_ports; i++)
		json_array_append_new(ports, json_pack("{s:s,s:s,s:i}", "name", d->ports[i].name,
						       "protocol", proto_str(d->ports[i].proto),
						       "port", d->ports[i].port));
	json_object_set_new(o, "ports", ports);
	json_object_set_new(o, "slices", json_integer((json_int_t)e->n_slices));
	for (size_t i = 0; i < e->model.n_frontends; i++) {
		const struct svc_frontend *f = &e->model.frontends[i];
		json_t *fo = json_object(), *bes = json_array();
		uint32_t svc_id = 0;

		if (!fo || !bes) {
			json_decref(fo);
			json_decref(bes);
			goto oom;
		}
		inst_id(e, f, 0, &svc_id);
		json_object_set_new(fo, "address", addr_json(&f->addr));
		json_object_set_new(fo, "port", json_integer(f->port));
		json_object_set_new(fo, "protocol", json_string(proto_str(f->proto)));
		json_object_set_new(fo, "portName", json_string(f->port_name));
		json_object_set_new(fo, "svcId", json_integer(svc_id));
		json_object_set_new(fo, "activeBackends", json_integer((json_int_t)f->n_active));
		for (size_t b = 0; b < f->n_backends; b++) {
			const struct svc_backend *be = &f->backends[b];

			json_array_append_new(
			    bes, json_pack("{s:o,s:i,s:s,s:I,s:s,s:b,s:b,s:b,s:b,s:b}", "address",
					   addr_json(&be->addr), "port", be->port, "protocol",
					   proto_str(be->proto), "id",
					   (json_int_t)inst_id(e, f, b, NULL), "state",
					   backend_state(be), "ready", be->ready, "serving",
					   be->serving, "terminating", be->terminating, "local",
					   be->local, "active", be->active));
		}
		json_object_set_new(fo, "backends", bes);
		json_array_append_new(fes, fo);
	}
	json_object_set_new(o, "frontends", fes);
	return o;
oom:
	json_decref(o);
	json_decref(ips);
	json_decref(fes);
	json_decref(ports);
	return NULL;
}

json_t *services_describe(const char *ns, const char *name)
{
	struct svc_entry *e = entry_get(ns, name, false);

	if (!e || !e->def)
		return NULL;
	return describe_entry(e);
}

struct list_ctx {
	struct svc_entry **v;
	size_t n;
};

static void list_cb(const char *key, void *val, void *arg)
{
	struct list_ctx *l = arg;

	(void)key;
	if (((struct svc_entry *)val)->def)
		l->v[l->n++] = val;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp((*(struct svc_entry *const *)a)->key, (*(struct svc_entry *const *)b)->key);
}

static int req_list(const json_t *req, json_t *reply, char *err, size_t errlen)
{
	struct list_ctx l = {0};
	const char *ns = json_string_value(json_object_get(req, "namespace"));
	json_t *arr = json_array();

	l.v = calloc(S.entries.n + 1, sizeof(*l.v));
	if (!arr || !l.v) {
		json_decref(arr);
		free(l.v);
		snprintf(err, errlen, "service.list: out of memory");
		return -ENOMEM;
	}
	smap_each(&S.entries, list_cb, &l);
	qsort(l.v, l.n, sizeof(*l.v), cmp_entry);
	for (size_t i = 0; i < l.n; i++) {
		json_t *o;

		if (ns && *ns && strcmp(l.v[i]->def->ns, ns))
			continue;
		o = describe_entry(l.v[i]);
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			free(l.v);
			snprintf(err, errlen, "service.list: out of memory");
			return -ENOMEM;
		}
	}
	free(l.v);
	json_object_set_new(reply, "services", arr);
	return 0;
}

static int req_get(const json_t *req, json_t *reply, char *err, size_t errlen)
{
	const char *ns = json_string_value(json_object_get(req, "namespace"));
	const char *name = json_string_value(json_object_get(req, "name"));
	json_t *o;

	if (!name || !*name) {
		snprintf(err, errlen, "name: required");
		return -EINVAL;
	}
	if (!ns || !*ns)
		ns = "default";
	o = services_describe(ns, name);
	if (!o) {
		snprintf(err, errlen, "Service %.63s/%.63s not found", ns, name);
		return -ENOENT;
	}
	json_object_set_new(reply, "service", o);
	return 0;
}

const struct request_handler service_requests[] = {
    {"service.list", req_list},
    {"service.get", req_get},
    {NULL, NULL},
};
