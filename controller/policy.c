// SPDX-License-Identifier: Apache-2.0
/*
 * NetworkPolicy compiler, map writer and requests. See policy.h for the
 * contract and include/sluice/policy.h for the map layout. The compiler
 * (polc_*) is pure; the rest connects it to the model, the maps, the
 * debounce timer and the socket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <sluice/metrics.h>
#include "policy.h"
#include "selector.h"

/* Labels of one pod looked up in the policy index (K8S_MAX_LABELS). */
#define K8S_MAX_LABELS_GUESS 64

/* ---- parsing ------------------------------------------------------------- */

static int parse_proto(const char *s, uint8_t *proto)
{
	if (!s || !strcmp(s, "TCP"))
		*proto = IPPROTO_TCP;
	else if (!strcmp(s, "UDP"))
		*proto = IPPROTO_UDP;
	else if (!strcmp(s, "SCTP"))
		*proto = IPPROTO_SCTP;
	else
		return -EINVAL;
	return 0;
}

static int parse_ports(const json_t *ports, struct polc_rule *r, char *err, size_t errlen)
{
	const json_t *pt;
	size_t i;

	r->any_port = !ports || !json_array_size(ports);
	if (r->any_port)
		return 0;
	r->ports = calloc(json_array_size(ports), sizeof(*r->ports));
	if (!r->ports)
		return -ENOMEM;
	json_array_foreach(ports, i, pt)
	{
		struct polc_port *pp = &r->ports[r->n_ports++];
		const json_t *port = json_object_get(pt, "port");
		const json_t *end = json_object_get(pt, "endPort");

		if (parse_proto(json_string_value(json_object_get(pt, "protocol")), &pp->proto)) {
			snprintf(err, errlen, "ports[%zu].protocol: unsupported", i);
			return -EINVAL;
		}
		if (json_is_string(port))
			pp->name = json_string_value(port);
		else if (json_is_integer(port))
			pp->port = (uint16_t)json_integer_value(port);
		if (json_is_integer(end))
			pp->end = (uint16_t)json_integer_value(end);
	}
	return 0;
}

static int parse_peers(const json_t *peers, struct polc_rule *r, char *err, size_t errlen)
{
	const json_t *peer;
	size_t i, n;

	r->any_peer = !peers || !json_array_size(peers);
	if (r->any_peer)
		return 0;
	n = json_array_size(peers);
	r->sel_pod = calloc(n, sizeof(*r->sel_pod));
	r->sel_ns = calloc(n, sizeof(*r->sel_ns));
	r->blocks = calloc(n, sizeof(*r->blocks));
	if (!r->sel_pod || !r->sel_ns || !r->blocks)
		return -ENOMEM;
	json_array_foreach(peers, i, peer)
	{
		const json_t *ipb = json_object_get(peer, "ipBlock");
		const json_t *ex, *e;
		struct polc_block *b;
		size_t j;

		if (!ipb) {
			r->sel_pod[r->n_sel] = json_object_get(peer, "podSelector");
			r->sel_ns[r->n_sel] = json_object_get(peer, "namespaceSelector");
			r->n_sel++;
			continue;
		}
		b = &r->blocks[r->n_blocks++];
		if (sl_cidr_parse(json_string_value(json_object_get(ipb, "cidr")) ?: "", &b->cidr,
				  true)) {
			snprintf(err, errlen, "peer %zu: ipBlock.cidr: not a CIDR", i);
			return -EINVAL;
		}
		ex = json_object_get(ipb, "except");
		if (!json_array_size(ex))
			continue;
		b->except = calloc(json_array_size(ex), sizeof(*b->except));
		if (!b->except)
			return -ENOMEM;
		json_array_foreach(ex, j, e)
		{
			if (sl_cidr_parse(json_string_value(e) ?: "", &b->except[b->n_except],
					  true)) {
				snprintf(err, errlen, "peer %zu: ipBlock.except[%zu]: not a CIDR",
					 i, j);
				return -EINVAL;
			}
			b->n_except++;
		}
	}
	return 0;
}

int polc_policy_parse(const json_t *obj, uint32_t index, struct polc_policy *p, char *err,
		      size_t errlen)
{
	static const char *const rule_key[2] = {"egress", "ingress"};
	static const char *const peer_key[2] = {"to", "from"};
	const json_t *spec = json_object_get(obj, "spec");
	const json_t *meta = json_object_get(obj, "metadata");
	const json_t *types, *t;
	size_t i;
	int rc;

	memset(p, 0, sizeof(*p));
	p->index = index;
	p->obj = obj;
	p->ns = json_string_value(json_object_get(meta, "namespace")) ?: "default";
	p->name = json_string_value(json_object_get(meta, "name")) ?: "";
	p->pod_sel = json_object_get(spec, "podSelector");
	types = json_object_get(spec, "policyTypes");
	if (json_array_size(types)) {
		json_array_foreach(types, i, t)
		{
			const char *s = json_string_value(t) ?: "";

			if (!strcmp(s, "Ingress"))
				p->isolates[SL_DIR_INGRESS] = true;
			else if (!strcmp(s, "Egress"))
				p->isolates[SL_DIR_EGRESS] = true;
		}
	} else {
		/* The API server's default (validation fills it in; this is
		 * for objects that bypassed it). */
		p->isolates[SL_DIR_INGRESS] = true;
		p->isolates[SL_DIR_EGRESS] = json_array_size(json_object_get(spec, "egress")) > 0;
	}
	for (int dir = 0; dir < 2; dir++) {
		const json_t *rules = json_object_get(spec, rule_key[dir]);
		const json_t *rule;

		if (!p->isolates[dir] || !json_array_size(rules))
			continue;
		if (json_array_size(rules) > SL_POL_MAX_RULES) {
			snprintf(err, errlen, "spec.%s: more than %u rules", rule_key[dir],
				 SL_POL_MAX_RULES);
			rc = -EINVAL;
			goto fail;
		}
		p->rules[dir] = calloc(json_array_size(rules), sizeof(*p->rules[dir]));
		if (!p->rules[dir]) {
			rc = -ENOMEM;
			goto fail;
		}
		json_array_foreach(rules, i, rule)
		{
			struct polc_rule *r = &p->rules[dir][p->n_rules[dir]++];

			r->policy_id = SL_POL_ID(index, i + 1);
			rc = parse_ports(json_object_get(rule, "ports"), r, err, errlen);
			if (!rc)
				rc = parse_peers(json_object_get(rule, peer_key[dir]), r, err,
						 errlen);
			if (rc)
				goto fail;
		}
	}
	return 0;
fail:
	polc_policy_free(p);
	return rc;
}

static void rule_free(struct polc_rule *r)
{
	free(r->ports);
	free(r->sel_pod);
	free(r->sel_ns);
	for (size_t i = 0; i < r->n_blocks; i++)
		free(r->blocks[i].except);
	free(r->blocks);
	free(r->ids);
}

void polc_policy_free(struct polc_policy *p)
{
	for (int dir = 0; dir < 2; dir++) {
		for (size_t i = 0; i < p->n_rules[dir]; i++)
			rule_free(&p->rules[dir][i]);
		free(p->rules[dir]);
		p->rules[dir] = NULL;
		p->n_rules[dir] = 0;
	}
}

/* ---- the world ----------------------------------------------------------- */

/* Append n to the array at index[key] (created on first use). */
static int index_add(json_t *index, const char *key, size_t n)
{
	json_t *a = json_object_get(index, key);

	if (!a) {
		a = json_array();
		if (!a || json_object_set_new(index, key, a))
			return -ENOMEM;
	}
	return json_array_append_new(a, json_integer((json_int_t)n)) ? -ENOMEM : 0;
}

static void index_key(char *buf, size_t len, const char *ns, const char *k, const char *v)
{
	if (k)
		snprintf(buf, len, "%s\x1f%s=%s", ns, k, v);
	else
		snprintf(buf, len, "%s\x1f*", ns);
}

/* The first matchLabels pair of a selector without which it cannot match,
 * or false when it has none. */
static bool selector_anchor(const json_t *sel, const char **k, const char **v)
{
	const json_t *ml = json_object_get(sel, "matchLabels");
	void *it = json_is_object(ml) ? json_object_iter((json_t *)ml) : NULL;

	if (!it || !json_is_string(json_object_iter_value(it)))
		return false;
	*k = json_object_iter_key(it);
	*v = json_string_value(json_object_iter_value(it));
	return true;
}

int polc_world_index(struct polc_world *w)
{
	char key[1024];
	int rc = 0;

	for (size_t i = 0; i < w->n_ids; i++) {
		free(w->ids[i].pods);
		w->ids[i].pods = NULL;
		w->ids[i].n_pods = 0;
	}
	json_decref(w->pol_index);
	json_decref(w->id_index);
	free(w->id_mark);
	w->pol_index = json_object();
	w->id_index = json_object();
	w->id_mark = calloc(w->n_ids + 1, 1);
	if (!w->pol_index || !w->id_index || !w->id_mark)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_policies && !rc; i++) {
		const char *k = NULL, *v = NULL;

		selector_anchor(w->policies[i].pod_sel, &k, &v);
		index_key(key, sizeof(key), w->policies[i].ns, k, v);
		rc = index_add(w->pol_index, key, i);
	}
	for (size_t i = 0; i < w->n_ids && !rc; i++) {
		const struct polc_identity *id = &w->ids[i];
		const char *k;
		json_t *v;

		index_key(key, sizeof(key), id->ns, NULL, NULL);
		rc = index_add(w->id_index, key, i);
		if (json_is_object(id->labels)) {
			json_object_foreach((json_t *)id->labels, k, v)
			{
				if (rc || !json_is_string(v))
					continue;
				index_key(key, sizeof(key), id->ns, k, json_string_value(v));
				rc = index_add(w->id_index, key, i);
			}
		}
	}
	if (rc)
		return rc;
	/* Pods of each identity (named ports on egress): sort-free two passes
	 * over a temporary id -> index lookup through the identity index. */
	for (size_t p = 0; p < w->n_pods; p++) {
		const json_t *a;
		size_t j;
		json_t *n;

		index_key(key, sizeof(key), w->pods[p].ns, NULL, NULL);
		a = json_object_get(w->id_index, key);
		json_array_foreach(a, j, n)
		{
			struct polc_identity *id = &w->ids[json_integer_value(n)];
			size_t *np;

			if (id->id != w->pods[p].identity)
				continue;
			np = realloc(id->pods, (id->n_pods + 1) * sizeof(*np));
			if (!np)
				return -ENOMEM;
			id->pods = np;
			id->pods[id->n_pods++] = p;
			break;
		}
	}
	return 0;
}

void polc_world_free(struct polc_world *w)
{
	for (size_t i = 0; i < w->n_policies; i++)
		polc_policy_free(&w->policies[i]);
	for (size_t i = 0; i < w->n_ids; i++) {
		free(w->ids[i].pods);
		w->ids[i].pods = NULL;
		w->ids[i].n_pods = 0;
	}
	json_decref(w->pol_index);
	json_decref(w->id_index);
	free(w->id_mark);
	w->pol_index = w->id_index = NULL;
	w->id_mark = NULL;
}

/* Namespace labels as selectors see them: the API server puts
 * kubernetes.io/metadata.name on every Namespace; objects fed without it
 * still match selectors on it. */
static bool ns_selector_matches(const json_t *sel, const char *ns, const json_t *ns_labels)
{
	json_t *tmp;
	bool ok;

	if (json_is_string(json_object_get(ns_labels, "kubernetes.io/metadata.name")))
		return selector_matches(sel, ns_labels);
	tmp =
	    ns_labels && json_is_object(ns_labels) ? json_copy((json_t *)ns_labels) : json_object();
	if (!tmp)
		return false;
	json_object_set_new(tmp, "kubernetes.io/metadata.name", json_string(ns));
	ok = selector_matches(sel, tmp);
	json_decref(tmp);
	return ok;
}

/* Does selector peer i of rule r (of a policy in namespace pol_ns) match
 * identity id? podSelector alone: pods of the policy's namespace;
 * namespaceSelector alone: every pod of the matching namespaces; both: AND. */
static bool peer_matches(const struct polc_rule *r, size_t i, const char *pol_ns,
			 const struct polc_identity *id)
{
	const json_t *ps = r->sel_pod[i], *nss = r->sel_ns[i];

	if (nss) {
		if (!ns_selector_matches(nss, id->ns, id->ns_labels))
			return false;
	} else if (strcmp(id->ns, pol_ns)) {
		return false;
	}
	return !ps || selector_matches(ps, id->labels);
}

/* Identity indices a selector peer may match: with a podSelector anchor
 * only those carrying that label, else all of the namespace. */
static const json_t *peer_candidates(const struct polc_world *w, const struct polc_rule *r,
				     size_t i, const char *ns)
{
	const char *k = NULL, *v = NULL;
	char key[1024];

	if (r->sel_pod[i] && selector_anchor(r->sel_pod[i], &k, &v))
		index_key(key, sizeof(key), ns, k, v);
	else
		index_key(key, sizeof(key), ns, NULL, NULL);
	return json_object_get(w->id_index, key);
}

static int rule_ids(struct polc_world *w, const struct polc_policy *pol, struct polc_rule *r)
{
	if (r->ids_done)
		return 0;
	if (r->n_sel && w->n_ids) {
		r->ids = calloc(w->n_ids, sizeof(*r->ids));
		if (!r->ids)
			return -ENOMEM;
	}
	for (size_t i = 0; i < r->n_sel && w->n_ids; i++) {
		const char *ns_key;
		json_t *nsa;
		void *it;

		/* Which namespaces: the policy's own, or those the
		 * namespaceSelector matches (judged once per namespace on the
		 * labels of its first identity: all share them). */
		for (it = json_object_iter(w->id_index); it;
		     it = json_object_iter_next(w->id_index, it)) {
			const struct polc_identity *first;
			const json_t *cand;
			char ns[256];
			const char *sep;
			size_t j;
			json_t *n;

			ns_key = json_object_iter_key(it);
			sep = strchr(ns_key, '\x1f');
			if (!sep || strcmp(sep + 1, "*"))
				continue;
			snprintf(ns, sizeof(ns), "%.*s", (int)(sep - ns_key), ns_key);
			nsa = json_object_iter_value(it);
			first = &w->ids[json_integer_value(json_array_get(nsa, 0))];
			if (r->sel_ns[i] ? !ns_selector_matches(r->sel_ns[i], ns, first->ns_labels)
					 : strcmp(ns, pol->ns))
				continue;
			cand = peer_candidates(w, r, i, ns);
			json_array_foreach(cand, j, n)
			{
				size_t k = (size_t)json_integer_value(n);

				/* The namespace matched above: only the podSelector is left. */
				if (!w->id_mark[k] &&
				    (!r->sel_pod[i] ||
				     selector_matches(r->sel_pod[i], w->ids[k].labels))) {
					w->id_mark[k] = 1;
					r->ids[r->n_ids++] = (uint32_t)k;
				}
			}
		}
	}
	for (size_t k = 0; k < r->n_ids; k++)
		w->id_mark[r->ids[k]] = 0;
	r->ids_done = true;
	return 0;
}

/* ---- emission ------------------------------------------------------------ */

static int add_entry(struct polc_ep *e, const struct pol_key *k, uint32_t policy_id)
{
	if (e->n_entries == e->cap_entries) {
		size_t cap = e->cap_entries ? e->cap_entries * 2 : 64;
		struct polc_entry *n = realloc(e->entries, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		e->entries = n;
		e->cap_entries = cap;
	}
	e->entries[e->n_entries].key = *k;
	e->entries[e->n_entries].val = (struct pol_val){.policy_id = policy_id};
	e->n_entries++;
	return 0;
}

/* [lo, hi] of proto as LPM prefixes of the port: at most 30 entries. */
static int add_range(struct polc_ep *e, struct pol_key *k, uint8_t proto, uint32_t lo, uint32_t hi,
		     uint32_t policy_id)
{
	int rc;

	k->proto = proto;
	while (lo <= hi) {
		int bits = 0;

		/* Largest aligned block starting at lo that fits in [lo, hi]. */
		while (bits < 16 && !(lo & ((2u << bits) - 1)) && lo + (2u << bits) - 1 <= hi)
			bits++;
		k->prefixlen = SL_POL_PREFIX_BASE + 8 + 16 - bits;
		k->dport = htons((uint16_t)lo);
		rc = add_entry(e, k, policy_id);
		if (rc)
			return rc;
		lo += 1u << bits;
	}
	return 0;
}

/* Resolve a named port on one pod: every container port with that name
 * and protocol. */
static int add_named(struct polc_ep *e, struct pol_key *k, const struct polc_port *pp,
		     const struct polc_pod *pod, uint32_t policy_id)
{
	const json_t *c, *cp;
	size_t i, j;
	int rc;

	json_array_foreach(pod->containers, i, c)
	{
		json_array_foreach(json_object_get(c, "ports"), j, cp)
		{
			const char *name = json_string_value(json_object_get(cp, "name"));
			json_int_t num = json_integer_value(json_object_get(cp, "containerPort"));
			uint8_t proto;

			if (!name || strcmp(name, pp->name) || num < 1 || num > 65535)
				continue;
			if (parse_proto(json_string_value(json_object_get(cp, "protocol")),
					&proto) ||
			    proto != pp->proto)
				continue;
			rc = add_range(e, k, proto, (uint32_t)num, (uint32_t)num, policy_id);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* Which pods resolve named ports of a rule for one peer: the target itself
 * on ingress, the peer identity's pods on egress. Egress to CIDR classes
 * (ipBlock, any peer) cannot resolve names (a class has no single
 * destination pod): there named ports are skipped and emitted per identity
 * instead (emit_named_cidr_egress). */
struct named_src {
	const struct polc_pod *target;	/* ingress */
	const struct polc_identity *id; /* egress, identity peer */
	bool skip_named;		/* egress, CIDR class */
	bool named_only;		/* emit only named ports */
};

static bool block_has(const struct polc_block *b, const struct sl_cidr *ip)
{
	if (b->cidr.family != ip->family || !sl_cidr_contains(&b->cidr, &ip->addr, ip->family))
		return false;
	for (size_t i = 0; i < b->n_except; i++) {
		if (b->except[i].family == ip->family &&
		    sl_cidr_contains(&b->except[i], &ip->addr, ip->family))
			return false;
	}
	return true;
}

static int emit_rule_ports(struct polc_world *w, struct polc_ep *e, uint8_t dir, uint32_t peer,
			   const struct polc_rule *r, const struct named_src *ns)
{
	struct pol_key k = {.ep_id = e->ep_id, .peer = peer, .dir = dir};
	int rc = 0;

	if (r->any_port) {
		if (ns->named_only)
			return 0;
		k.prefixlen = SL_POL_PREFIX_BASE;
		return add_entry(e, &k, r->policy_id);
	}
	for (size_t i = 0; i < r->n_ports && !rc; i++) {
		const struct polc_port *pp = &r->ports[i];

		if (pp->name) {
			if (ns->skip_named)
				continue;
			if (ns->target) {
				rc = add_named(e, &k, pp, ns->target, r->policy_id);
			} else if (ns->id) {
				for (size_t j = 0; !rc && j < ns->id->n_pods; j++)
					rc = add_named(e, &k, pp, &w->pods[ns->id->pods[j]],
						       r->policy_id);
			}
		} else if (ns->named_only) {
			continue;
		} else if (!pp->port) {
			k.proto = pp->proto;
			k.dport = 0;
			k.prefixlen = SL_POL_PREFIX_BASE + 8;
			rc = add_entry(e, &k, r->policy_id);
		} else {
			rc = add_range(e, &k, pp->proto, pp->port, pp->end ? pp->end : pp->port,
				       r->policy_id);
		}
	}
	return rc;
}

static bool rule_has_named(const struct polc_rule *r)
{
	for (size_t i = 0; i < r->n_ports; i++) {
		if (r->ports[i].name)
			return true;
	}
	return false;
}

/* Egress rule with named ports towards blocks (or any peer): the name is
 * resolved on each destination pod, so the entries are per identity: every
 * identity with a pod whose address the rule's blocks cover (and do not
 * except) gets the numbers its own pods give the name. */
static int emit_named_cidr_egress(struct polc_world *w, struct polc_ep *e,
				  const struct polc_rule *r)
{
	int rc = 0;

	for (size_t k = 0; k < w->n_ids && !rc; k++) {
		const struct polc_identity *id = &w->ids[k];
		struct named_src ns = {.id = id, .named_only = true};
		bool in = r->any_peer;

		for (size_t j = 0; !in && j < id->n_pods; j++) {
			const struct polc_pod *pod = &w->pods[id->pods[j]];

			for (int a = 0; !in && a < pod->n_ips; a++) {
				for (size_t b = 0; !in && b < r->n_blocks; b++)
					in = block_has(&r->blocks[b], &pod->ips[a]);
			}
		}
		if (in)
			rc = emit_rule_ports(w, e, SL_DIR_EGRESS, id->id, r, &ns);
	}
	return rc;
}

/* ---- CIDR classes ---------------------------------------------------------- */

/* One block of one rule that applies to the endpoint's direction. */
struct cidr_item {
	const struct polc_rule *rule;
	struct polc_block block; /* borrowed except array */
	bool any;		 /* from a rule without peers */
};

struct cidr_items {
	size_t n, cap;
	struct cidr_item *v;
};

static int items_add(struct cidr_items *it, const struct polc_rule *r, const struct polc_block *b,
		     bool any)
{
	if (it->n == it->cap) {
		size_t cap = it->cap ? it->cap * 2 : 16;
		struct cidr_item *n = realloc(it->v, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		it->v = n;
		it->cap = cap;
	}
	it->v[it->n++] = (struct cidr_item){.rule = r, .block = *b, .any = any};
	return 0;
}

static bool cidr_eq(const struct sl_cidr *a, const struct sl_cidr *b)
{
	return a->family == b->family && a->plen == b->plen && !memcmp(&a->addr, &b->addr, 16);
}

/* a contains b (b is equal to or inside a). */
static bool cidr_covers(const struct sl_cidr *a, const struct sl_cidr *b)
{
	return a->family == b->family && a->plen <= b->plen &&
	       sl_cidr_contains(a, &b->addr, b->family);
}

/* Build the classes of one direction: every prefix that is a block or an
 * except, valued with the set of items whose block covers it and none of
 * whose excepts does; an LPM lookup of an address then finds exactly the
 * items that allow it (see include/sluice/policy.h). */
static int emit_cidrs(struct polc_world *w, struct polc_ep *e, uint8_t dir,
		      const struct cidr_items *it, const struct polc_pod *target)
{
	struct sl_cidr *pfx = NULL;
	size_t n_pfx = 0, cap = 0;
	/* classes: sets of item indices, as bitmaps of it->n bits */
	size_t words = (it->n + 63) / 64, n_cls = 0;
	uint64_t *cls = NULL, *cur = NULL;
	int rc = 0;

	if (!it->n)
		return 0;
	for (size_t i = 0; i < it->n; i++) {
		const struct polc_block *b = &it->v[i].block;

		for (size_t j = 0; j <= b->n_except; j++) {
			const struct sl_cidr *c = j ? &b->except[j - 1] : &b->cidr;
			bool dup = false;

			for (size_t q = 0; q < n_pfx && !dup; q++)
				dup = cidr_eq(&pfx[q], c);
			if (dup)
				continue;
			if (n_pfx == cap) {
				struct sl_cidr *np;

				cap = cap ? cap * 2 : 16;
				np = realloc(pfx, cap * sizeof(*np));
				if (!np) {
					rc = -ENOMEM;
					goto out;
				}
				pfx = np;
			}
			pfx[n_pfx++] = *c;
		}
	}
	cls = calloc(n_pfx * words, sizeof(*cls));
	cur = calloc(words, sizeof(*cur));
	if (!cls || !cur) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t q = 0; q < n_pfx; q++) {
		struct polc_cidr_entry ce = {};
		bool empty = true;
		size_t c;

		memset(cur, 0, words * sizeof(*cur));
		for (size_t i = 0; i < it->n; i++) {
			const struct polc_block *b = &it->v[i].block;
			bool ok = cidr_covers(&b->cidr, &pfx[q]);

			for (size_t j = 0; ok && j < b->n_except; j++)
				ok = !cidr_covers(&b->except[j], &pfx[q]);
			if (ok) {
				cur[i / 64] |= 1ull << (i % 64);
				empty = false;
			}
		}
		ce.key.prefixlen = SL_POL_CIDR_PREFIX_BASE + pfx[q].plen;
		ce.key.ep_id = e->ep_id;
		ce.key.dir = dir;
		ce.key.family = pfx[q].family;
		ce.key.addr = pfx[q].addr;
		ce.val.peer = SL_POL_CLASS_NONE;
		if (!empty) {
			for (c = 0; c < n_cls; c++) {
				if (!memcmp(&cls[c * words], cur, words * sizeof(*cur)))
					break;
			}
			if (c == n_cls) {
				memcpy(&cls[c * words], cur, words * sizeof(*cur));
				n_cls++;
				/* New class c + 1: its port entries are the
				 * union of its items' rules. */
				for (size_t i = 0; i < it->n && !rc; i++) {
					struct named_src ns = {.target = target};

					if (!(cur[i / 64] & (1ull << (i % 64))))
						continue;
					if (dir == SL_DIR_EGRESS) {
						ns.target = NULL;
						ns.skip_named = true;
					}
					rc = emit_rule_ports(w, e, dir,
							     SL_POL_PEER_CIDR | (uint32_t)(c + 1),
							     it->v[i].rule, &ns);
				}
				if (rc)
					goto out;
			}
			ce.val.peer = SL_POL_PEER_CIDR | (uint32_t)(c + 1);
		}
		if (e->n_cidrs == e->cap_cidrs) {
			size_t ncap = e->cap_cidrs ? e->cap_cidrs * 2 : 16;
			struct polc_cidr_entry *n = realloc(e->cidrs, ncap * sizeof(*n));

			if (!n) {
				rc = -ENOMEM;
				goto out;
			}
			e->cidrs = n;
			e->cap_cidrs = ncap;
		}
		e->cidrs[e->n_cidrs++] = ce;
	}
out:
	free(pfx);
	free(cls);
	free(cur);
	return rc;
}

/* ---- compile --------------------------------------------------------------- */

/* The key's bytes as two big-endian words: comparing them orders keys as
 * memcmp does (the writer's diff relies on that order), without a call
 * per byte run; this sort is the hottest part of a full recompute. */
static inline void key_words(const struct pol_key *k, uint64_t w[2])
{
	memcpy(w, k, sizeof(*k));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	w[0] = __builtin_bswap64(w[0]);
	w[1] = __builtin_bswap64(w[1]);
#endif
}

static int entry_cmp(const void *a, const void *b)
{
	const struct polc_entry *x = a, *y = b;
	uint64_t kx[2], ky[2];

	_Static_assert(sizeof(struct pol_key) == 2 * sizeof(uint64_t), "pol_key is two words");
	key_words(&x->key, kx);
	key_words(&y->key, ky);
	if (kx[0] != ky[0])
		return kx[0] < ky[0] ? -1 : 1;
	if (kx[1] != ky[1])
		return kx[1] < ky[1] ? -1 : 1;
	return x->val.policy_id < y->val.policy_id ? -1 : x->val.policy_id > y->val.policy_id;
}

static bool entries_sorted(const struct polc_ep *e)
{
	for (size_t i = 1; i < e->n_entries; i++) {
		if (entry_cmp(&e->entries[i - 1], &e->entries[i]) > 0)
			return false;
	}
	return true;
}

static int cidr_entry_cmp(const void *a, const void *b)
{
	const struct polc_cidr_entry *x = a, *y = b;

	return memcmp(&x->key, &y->key, sizeof(x->key));
}

/* Sort and keep one entry per key: the lowest policy_id (sorted first). */
static void dedup(struct polc_ep *e)
{
	size_t n = 0;

	/* Emission order is often already key order (one rule, one peer):
	 * a linear check is cheaper than qsort's n log n compares. */
	if (e->n_entries && !entries_sorted(e))
		qsort(e->entries, e->n_entries, sizeof(*e->entries), entry_cmp);
	for (size_t i = 0; i < e->n_entries; i++) {
		if (n &&
		    !memcmp(&e->entries[n - 1].key, &e->entries[i].key, sizeof(struct pol_key)))
			continue;
		e->entries[n++] = e->entries[i];
	}
	e->n_entries = n;
	if (e->n_cidrs)
		qsort(e->cidrs, e->n_cidrs, sizeof(*e->cidrs), cidr_entry_cmp);
}

static const struct polc_block any_v4 = {.cidr = {.family = SL_AF_INET, .plen = 0}};
static const struct polc_block any_v6 = {.cidr = {.family = SL_AF_INET6, .plen = 0}};

static int size_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* Policies that may select target (its namespace's, anchored on one of its
 * labels or unanchored), in index order. Returns 0 or -ENOMEM. */
static int candidate_policies(const struct polc_world *w, const struct polc_pod *target,
			      size_t **out, size_t *n_out)
{
	size_t n = 0, cap = 0, *v = NULL;
	const json_t *lists[K8S_MAX_LABELS_GUESS + 1];
	size_t n_lists = 0;
	char key[1024];
	const char *k;
	json_t *val;

	index_key(key, sizeof(key), target->ns, NULL, NULL);
	lists[n_lists++] = json_object_get(w->pol_index, key);
	if (json_is_object(target->labels)) {
		json_object_foreach((json_t *)target->labels, k, val)
		{
			if (!json_is_string(val) || n_lists > K8S_MAX_LABELS_GUESS)
				continue;
			index_key(key, sizeof(key), target->ns, k, json_string_value(val));
			lists[n_lists++] = json_object_get(w->pol_index, key);
		}
	}
	for (size_t l = 0; l < n_lists; l++) {
		size_t j;
		json_t *e;

		json_array_foreach(lists[l], j, e)
		{
			if (n == cap) {
				size_t *nv;

				cap = cap ? cap * 2 : 16;
				nv = realloc(v, cap * sizeof(*v));
				if (!nv) {
					free(v);
					return -ENOMEM;
				}
				v = nv;
			}
			v[n++] = (size_t)json_integer_value(e);
		}
	}
	/* A policy is anchored on one pair only: no duplicates. */
	if (n)
		qsort(v, n, sizeof(*v), size_cmp);
	*out = v;
	*n_out = n;
	return 0;
}

int polc_compile_ep(struct polc_world *w, const struct polc_pod *target, uint32_t ep_id,
		    struct polc_ep *out)
{
	struct cidr_items items = {};
	size_t n_cand = 0, *cand = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->ep_id = ep_id;
	rc = candidate_policies(w, target, &cand, &n_cand);
	if (rc)
		return rc;
	for (uint8_t dir = 0; dir < 2; dir++) {
		items.n = 0;
		for (size_t ci = 0; ci < n_cand; ci++) {
			struct polc_policy *pol = &w->policies[cand[ci]];
			uint32_t deny = SL_POL_ID(pol->index, 0);

			if (!pol->isolates[dir] || strcmp(pol->ns, target->ns) ||
			    !selector_matches(pol->pod_sel, target->labels))
				continue;
			if (!(out->ep.flags & (1u << dir)) || deny < out->ep.deny_id[dir])
				out->ep.deny_id[dir] = deny;
			out->ep.flags |= 1u << dir;
			for (size_t ri = 0; ri < pol->n_rules[dir]; ri++) {
				struct polc_rule *r = &pol->rules[dir][ri];

				if (dir == SL_DIR_EGRESS && (r->any_peer || r->n_blocks) &&
				    rule_has_named(r)) {
					rc = emit_named_cidr_egress(w, out, r);
					if (rc)
						goto fail;
				}
				if (r->any_peer) {
					rc = items_add(&items, r, &any_v4, true);
					if (!rc)
						rc = items_add(&items, r, &any_v6, true);
					if (rc)
						goto fail;
					continue;
				}
				for (size_t b = 0; b < r->n_blocks; b++) {
					rc = items_add(&items, r, &r->blocks[b], false);
					if (rc)
						goto fail;
				}
				rc = rule_ids(w, pol, r);
				if (rc)
					goto fail;
				for (size_t k = 0; k < r->n_ids; k++) {
					const struct polc_identity *id = &w->ids[r->ids[k]];
					struct named_src ns = {.target = target};

					if (dir == SL_DIR_EGRESS) {
						ns.target = NULL;
						ns.id = id;
					}
					rc = emit_rule_ports(w, out, dir, id->id, r, &ns);
					if (rc)
						goto fail;
				}
			}
		}
		rc = emit_cidrs(w, out, dir, &items, target);
		if (rc)
			goto fail;
	}
	dedup(out);
	/* The datapath looks the range LPM up only for endpoints that have
	 * ranges (isolation flags are set by then: entries exist only for
	 * isolated directions). */
	for (size_t i = 0; i < out->n_entries; i++) {
		const struct pol_key *k = &out->entries[i].key;

		if (SL_POL_PREFIX_IS_RANGE(k->prefixlen))
			out->ep.flags |= SL_POL_F_RANGE(k->dir & 1);
	}
	free(items.v);
	free(cand);
	return 0;
fail:
	free(items.v);
	free(cand);
	polc_ep_free(out);
	return rc;
}

void polc_ep_free(struct polc_ep *e)
{
	free(e->entries);
	free(e->cidrs);
	e->entries = NULL;
	e->cidrs = NULL;
	e->n_entries = e->cap_entries = e->n_cidrs = e->cap_cidrs = 0;
}

/* ---- lookup (the datapath's algorithm) ------------------------------------ */

/* LPM match: the first plen bits of the key data (after prefixlen) equal. */
static bool lpm_match(const void *entry, const void *key, uint32_t plen)
{
	const uint8_t *a = (const uint8_t *)entry + 4, *b = (const uint8_t *)key + 4;
	uint32_t bytes = plen / 8, bits = plen % 8;

	if (memcmp(a, b, bytes))
		return false;
	if (!bits)
		return true;
	return !((a[bytes] ^ b[bytes]) & (uint8_t)(0xff00 >> bits));
}

bool polc_entry_exact(const struct pol_key *key, struct pol_exact_key *ek)
{
	if (SL_POL_PREFIX_IS_RANGE(key->prefixlen))
		return false;
	memset(ek, 0, sizeof(*ek));
	ek->ep_id = key->ep_id;
	ek->peer = key->peer;
	ek->dir = key->dir;
	if (key->prefixlen >= SL_POL_PREFIX_BASE + 8)
		ek->proto = key->proto;
	if (key->prefixlen >= SL_POL_PREFIX_FULL)
		ek->dport = key->dport;
	return true;
}

/* The entry sluice_pol_exact would return for ek, or NULL. */
static const struct polc_entry *pol_exact(const struct polc_ep *e, const struct pol_exact_key *ek)
{
	struct pol_exact_key c;

	for (size_t i = 0; i < e->n_entries; i++) {
		if (polc_entry_exact(&e->entries[i].key, &c) && !memcmp(&c, ek, sizeof(c)))
			return &e->entries[i];
	}
	return NULL;
}

/* The entry the sluice_pol LPM (ranges only) would return for k, or NULL. */
static const struct polc_entry *pol_lpm(const struct polc_ep *e, const struct pol_key *k)
{
	const struct polc_entry *best = NULL;

	for (size_t i = 0; i < e->n_entries; i++) {
		const struct polc_entry *c = &e->entries[i];

		if (SL_POL_PREFIX_IS_RANGE(c->key.prefixlen) &&
		    lpm_match(&c->key, k, c->key.prefixlen) &&
		    (!best || c->key.prefixlen > best->key.prefixlen))
			best = c;
	}
	return best;
}

/* datapath/lib/policy.h policy_ports(): exact port, ranges (if flagged),
 * any port of proto, any protocol. */
static const struct polc_entry *pol_ports(const struct polc_ep *e, uint8_t dir, uint32_t peer,
					  uint8_t proto, uint16_t dport)
{
	struct pol_exact_key ek = {
		.ep_id = e->ep_id, .peer = peer, .dir = dir, .proto = proto, .dport = htons(dport)};
	struct pol_key k = {.prefixlen = SL_POL_PREFIX_FULL,
			    .ep_id = e->ep_id,
			    .peer = peer,
			    .dir = dir,
			    .proto = proto,
			    .dport = htons(dport)};
	const struct polc_entry *v;

	v = pol_exact(e, &ek);
	if (v)
		return v;
	if (e->ep.flags & SL_POL_F_RANGE(dir & 1)) {
		v = pol_lpm(e, &k);
		if (v)
			return v;
	}
	ek.dport = 0;
	v = pol_exact(e, &ek);
	if (v)
		return v;
	ek.proto = 0;
	return pol_exact(e, &ek);
}

static const struct polc_cidr_entry *cidr_lpm(const struct polc_ep *e, const struct pol_cidr_key *k)
{
	const struct polc_cidr_entry *best = NULL;

	for (size_t i = 0; i < e->n_cidrs; i++) {
		const struct polc_cidr_entry *c = &e->cidrs[i];

		if (lpm_match(&c->key, k, c->key.prefixlen) &&
		    (!best || c->key.prefixlen > best->key.prefixlen))
			best = c;
	}
	return best;
}

int polc_lookup(const struct polc_ep *e, uint8_t dir, uint32_t peer_identity,
		const union sl_addr *peer, uint8_t family, uint8_t proto, uint16_t dport,
		uint32_t *policy_id, const char **match)
{
	int drop = dir == SL_DIR_EGRESS ? SL_DROP_POLICY_EGRESS : SL_DROP_POLICY_INGRESS;
	struct pol_cidr_key ck = {.ep_id = e->ep_id, .dir = dir, .family = family};
	const struct polc_cidr_entry *ce;
	const struct polc_entry *v;
	const char *dummy;

	if (!match)
		match = &dummy;
	*policy_id = 0;
	if (!(e->ep.flags & (1u << dir))) {
		*match = "unselected";
		return SL_FORWARDED;
	}
	if (dir == SL_DIR_INGRESS && peer_identity == SL_ID_HOST) {
		*match = "host";
		return SL_FORWARDED;
	}
	v = pol_ports(e, dir, peer_identity, proto, dport);
	if (v) {
		*policy_id = v->val.policy_id;
		*match = "identity";
		return SL_FORWARDED;
	}
	ck.prefixlen = SL_POL_CIDR_PREFIX_BASE + (family == SL_AF_INET6 ? 128 : 32);
	ck.addr = *peer;
	ce = cidr_lpm(e, &ck);
	if (ce) {
		v = pol_ports(e, dir, ce->val.peer, proto, dport);
		if (v) {
			*policy_id = v->val.policy_id;
			*match = "cidr";
			return SL_FORWARDED;
		}
	}
	*policy_id = e->ep.deny_id[dir & 1];
	*match = "none";
	return drop;
}

/* ==== the live state: model -> world -> maps ============================== */

#include <time.h>
#include <bpf/bpf.h>
#include "ctl.h"
#include "endpoints.h"
#include "identity.h"
#include "ipcache.h"
#include "kinds.h"
#include "log.h"
#include "requests.h"
#include "store.h"

/* Policy indexes: stable while a policy exists (they are in map values and
 * events), handed out in increasing order, never reused within a run. */
struct pol_index {
	char key[320]; /* "ns/name" */
	uint32_t index;
	bool seen;
	/* The policy parsed from obj (held: its address cannot be reused
	 * while we compare against it), reused while the store holds the same
	 * object; parsed_rc is what parsing it returned. */
	json_t *obj;
	int parsed_rc;
	struct polc_policy parsed;
};
static struct pol_index *indexes;
static size_t n_indexes;
static uint32_t next_index = 1;
/* "ns/name" -> position in indexes: world_build looks every policy up. */
static json_t *index_pos;
static bool index_pos_stale; /* an update of index_pos failed: scan */

/* What the maps hold (after the last successful sync), sorted by ep_id. */
static struct polc_ep *written;
static size_t n_written;
static bool need_full = true; /* sweep the maps for keys we did not write */

static bool dirty, timer_on;
static uint64_t dirty_since_ms, dirty_last_ms, retry_after_ms;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void index_uncache(struct pol_index *pi)
{
	if (pi->obj && !pi->parsed_rc)
		polc_policy_free(&pi->parsed);
	json_decref(pi->obj);
	pi->obj = NULL;
}

/* Position of ns/name in indexes (allocating an index when create), or
 * SIZE_MAX. */
static size_t index_slot(const char *ns, const char *name, bool create)
{
	char key[320];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	json_t *pos = json_object_get(index_pos, key);
	size_t at = pos ? (size_t)json_integer_value(pos) : n_indexes;

	if (at >= n_indexes || strcmp(indexes[at].key, key)) {
		/* Not in the hash, or the hash missed an update (no memory):
		 * then the array is the truth. */
		for (at = 0; index_pos_stale && at < n_indexes; at++) {
			if (!strcmp(indexes[at].key, key))
				break;
		}
		if (!index_pos_stale)
			at = n_indexes;
	}
	if (at < n_indexes) {
		indexes[at].seen = true;
		return at;
	}
	if (!create || next_index > SL_POL_MAX_INDEX)
		return SIZE_MAX;
	struct pol_index *n = realloc(indexes, (n_indexes + 1) * sizeof(*n));
	if (!n)
		return SIZE_MAX;
	indexes = n;
	memset(&indexes[n_indexes], 0, sizeof(indexes[n_indexes]));
	if (!index_pos)
		index_pos = json_object();
	if (!index_pos ||
	    json_object_set_new(index_pos, key, json_integer((json_int_t)n_indexes)))
		index_pos_stale = true;
	snprintf(indexes[n_indexes].key, sizeof(indexes[n_indexes].key), "%s", key);
	indexes[n_indexes].index = next_index++;
	indexes[n_indexes].seen = true;
	return n_indexes++;
}


/* Forget the indexes of policies world_build did not see (deleted). */
static void indexes_forget_unseen(void)
{
	for (size_t i = 0; i < n_indexes;) {
		if (indexes[i].seen) {
			i++;
			continue;
		}
		json_object_del(index_pos, indexes[i].key);
		index_uncache(&indexes[i]);
		indexes[i] = indexes[--n_indexes];
		/* The last one moved into i. */
		if (i < n_indexes &&
		    json_object_set_new(index_pos, indexes[i].key, json_integer((json_int_t)i)))
			index_pos_stale = true;
	}
}

const char *policy_name_by_index(uint32_t index, char *buf, size_t len)
{
	for (size_t i = 0; i < n_indexes; i++) {
		if (indexes[i].index == index) {
			snprintf(buf, len, "%s", indexes[i].key);
			return buf;
		}
	}
	return NULL;
}

/* ---- building the world from the model ---------------------------------- */

struct world_build {
	struct polc_world w;
	size_t cap_pol, cap_ids, cap_pods;
	int rc;
};

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *nv;

	if (n < *cap)
		return 0;
	*cap = *cap ? *cap * 2 : 64;
	nv = realloc(*v, *cap * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	return 0;
}

static int collect_policy(const json_t *obj, void *arg)
{
	struct world_build *b = arg;
	const json_t *meta = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace")) ?: "default";
	const char *name = json_string_value(json_object_get(meta, "name")) ?: "";
	char err[256] = "";
	struct pol_index *pi;
	size_t at;
	int rc;

	rc = grow((void **)&b->w.policies, &b->cap_pol, b->w.n_policies, sizeof(*b->w.policies));
	if (rc)
		return b->rc = rc;
	at = index_slot(ns, name, true);
	if (at == SIZE_MAX)
		return b->rc = -ENOSPC;
	pi = &indexes[at];
	/* Parse only what changed since the last world: the store replaces
	 * an object on every change, and the reference held keeps the old
	 * address from being reused. */
	if (pi->obj != obj) {
		index_uncache(pi);
		rc = polc_policy_parse(obj, pi->index, &pi->parsed, err, sizeof(err));
		if (rc == -EINVAL) {
			/* Validated objects parse; say so loudly (once) if one
			 * does not. */
			pr_warn("policy: NetworkPolicy %s/%s ignored: %s\n", ns, name, err);
		} else if (rc) {
			return b->rc = rc;
		}
		pi->obj = json_incref((json_t *)obj);
		pi->parsed_rc = rc;
	}
	if (pi->parsed_rc)
		return 0;
	/* The world borrows the parse; the identities the rules match are
	 * per world (indexes into its ids). */
	for (int dir = 0; dir < 2; dir++) {
		for (size_t i = 0; i < pi->parsed.n_rules[dir]; i++) {
			struct polc_rule *r = &pi->parsed.rules[dir][i];

			free(r->ids);
			r->ids = NULL;
			r->n_ids = 0;
			r->ids_done = false;
		}
	}
	b->w.policies[b->w.n_policies++] = pi->parsed;
	return 0;
}

static int collect_identity(uint32_t id, const char *ns, const json_t *pod_labels,
			    const json_t *ns_labels, size_t pods, void *arg)
{
	struct world_build *b = arg;
	int rc;

	if (!pods)
		return 0;
	rc = grow((void **)&b->w.ids, &b->cap_ids, b->w.n_ids, sizeof(*b->w.ids));
	if (rc)
		return b->rc = rc;
	b->w.ids[b->w.n_ids++] = (struct polc_identity){
	    .id = id,
	    .ns = ns,
	    .labels = pod_labels,
	    .ns_labels = ns_labels,
	};
	return 0;
}

static void pod_ips(const json_t *pod, struct polc_pod *p)
{
	const json_t *status = json_object_get(pod, "status");
	const json_t *ips = json_object_get(status, "podIPs"), *ip;
	const char *one = json_string_value(json_object_get(status, "podIP"));
	size_t i;

	json_array_foreach(ips, i, ip)
	{
		const char *s = json_string_value(json_object_get(ip, "ip"));

		if (s && p->n_ips < POLC_MAX_IPS && !sl_cidr_parse(s, &p->ips[p->n_ips], false))
			p->n_ips++;
	}
	if (!p->n_ips && one && !sl_cidr_parse(one, &p->ips[0], false))
		p->n_ips = 1;
}

static int collect_pod(const json_t *obj, void *arg)
{
	struct world_build *b = arg;
	const json_t *meta = json_object_get(obj, "metadata");
	struct polc_pod *p;
	int rc;

	rc = grow((void **)&b->w.pods, &b->cap_pods, b->w.n_pods, sizeof(*b->w.pods));
	if (rc)
		return b->rc = rc;
	p = &b->w.pods[b->w.n_pods++];
	memset(p, 0, sizeof(*p));
	p->ns = json_string_value(json_object_get(meta, "namespace")) ?: "default";
	p->name = json_string_value(json_object_get(meta, "name")) ?: "";
	p->labels = json_object_get(meta, "labels");
	p->containers = json_object_get(json_object_get(obj, "spec"), "containers");
	p->identity = model_pod_identity(p->ns, p->name);
	pod_ips(obj, p);
	return 0;
}

static int policy_index_cmp(const void *a, const void *b)
{
	const struct polc_policy *x = a, *y = b;

	return x->index < y->index ? -1 : x->index > y->index;
}

static void world_destroy(struct polc_world *w);

/* The world as the model has it now. Borrowed JSON stays valid until the
 * model changes, i.e. for the duration of one main-loop callback. */
static int world_build(struct polc_world *w)
{
	struct world_build b = {};
	int rc;

	for (size_t i = 0; i < n_indexes; i++)
		indexes[i].seen = false;
	store_foreach("NetworkPolicy", collect_policy, &b);
	if (!b.rc)
		identity_foreach(collect_identity, &b);
	if (!b.rc)
		store_foreach("Pod", collect_pod, &b);
	rc = b.rc;
	/* Index after sorting: the indexes hold positions in the arrays. */
	if (!rc && b.w.n_policies)
		qsort(b.w.policies, b.w.n_policies, sizeof(*b.w.policies), policy_index_cmp);
	if (!rc)
		rc = polc_world_index(&b.w);
	if (rc) {
		world_destroy(&b.w);
		pr_warn("policy: couldn't collect the model: %s\n", strerror(-rc));
		return rc;
	}
	indexes_forget_unseen();
	*w = b.w;
	return 0;
}

static void world_destroy(struct polc_world *w)
{
	/* The parsed policies belong to the cache in indexes. */
	w->n_policies = 0;
	polc_world_free(w);
	free(w->policies);
	free(w->ids);
	free(w->pods);
	memset(w, 0, sizeof(*w));
}

/* Pods of a world sorted by namespace/name, for endpoint_target: a sync
 * looks up every local endpoint's pod, so a scan per endpoint would be
 * O(pods x endpoints). Built by pod_order_build; NULL falls back to a scan. */
static const struct polc_pod **pod_order;
static size_t n_pod_order;

static int pod_name_cmp(const char *ns_a, const char *name_a, const char *ns_b,
			const char *name_b)
{
	int c = strcmp(ns_a, ns_b);

	return c ? c : strcmp(name_a, name_b);
}

static int pod_ptr_cmp(const void *a, const void *b)
{
	const struct polc_pod *x = *(const struct polc_pod *const *)a;
	const struct polc_pod *y = *(const struct polc_pod *const *)b;

	return pod_name_cmp(x->ns, x->name, y->ns, y->name);
}

static int pod_order_build(const struct polc_world *w)
{
	free(pod_order);
	n_pod_order = 0;
	pod_order = w->n_pods ? malloc(w->n_pods * sizeof(*pod_order)) : NULL;
	if (w->n_pods && !pod_order)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_pods; i++)
		pod_order[i] = &w->pods[i];
	n_pod_order = w->n_pods;
	if (n_pod_order)
		qsort(pod_order, n_pod_order, sizeof(*pod_order), pod_ptr_cmp);
	return 0;
}

static void pod_order_free(void)
{
	free(pod_order);
	pod_order = NULL;
	n_pod_order = 0;
}

static const struct polc_pod *world_pod(const struct polc_world *w, const char *ns,
					const char *name)
{
	if (pod_order) {
		size_t lo = 0, hi = n_pod_order;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = pod_name_cmp(ns, name, pod_order[mid]->ns, pod_order[mid]->name);

			if (!c)
				return pod_order[mid];
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		return NULL;
	}
	for (size_t i = 0; i < w->n_pods; i++) {
		if (!strcmp(w->pods[i].ns, ns) && !strcmp(w->pods[i].name, name))
			return &w->pods[i];
	}
	return NULL;
}

static const struct polc_identity *world_identity(const struct polc_world *w, uint32_t id)
{
	for (size_t i = 0; i < w->n_ids; i++) {
		if (w->ids[i].id == id)
			return &w->ids[i];
	}
	return NULL;
}

/* The target of a local endpoint: its Pod object, or (before the feed
 * delivered it) what its identity says about its labels. */
static void endpoint_target(const struct polc_world *w, const struct endpoint *ep,
			    struct polc_pod *t)
{
	const struct polc_pod *p = world_pod(w, ep->namespace_, ep->pod);
	const struct polc_identity *id;

	if (p) {
		*t = *p;
		return;
	}
	memset(t, 0, sizeof(*t));
	t->ns = ep->namespace_;
	t->name = ep->pod;
	t->identity = ep->identity;
	id = world_identity(w, ep->identity);
	if (id)
		t->labels = id->labels;
}

/* ---- compiling every local endpoint -------------------------------------- */

/* What changed since the last sync. A NetworkPolicy change can only alter
 * the entries of the endpoints its podSelector selects in its namespace
 * (before or after the change): the compiler takes an endpoint's entries
 * from the policies selecting it alone, and policy indexes of the others
 * stay. Every other change (pods, labels, namespaces, identities,
 * endpoints: policy_mark_dirty) may affect any endpoint: recompile all. */
static bool changed_all = true;
static json_t *changed_pols; /* [{"ns": NS, "sel": podSelector or null}] */

static void changes_reset(void)
{
	changed_all = false;
	json_decref(changed_pols);
	changed_pols = NULL;
}

static void changes_add_policy(const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *ns, *name;
	json_t *sel, *o;
	size_t at;

	if (!obj)
		return;
	ns = json_string_value(json_object_get(meta, "namespace"));
	name = json_string_value(json_object_get(meta, "name"));
	/* Parse it again even if the store kept the object (changed in place). */
	at = index_slot(ns ?: "default", name ?: "", false);
	if (at != SIZE_MAX)
		index_uncache(&indexes[at]);
	if (changed_all)
		return;
	sel = json_object_get(json_object_get(obj, "spec"), "podSelector");
	if (!changed_pols)
		changed_pols = json_array();
	/* The selector is copied: old objects are freed once applied. */
	o = json_pack("{s:s,s:o}", "ns", ns ?: "default", "sel",
		      sel ? json_deep_copy(sel) : json_null());
	if (!changed_pols || !o || json_array_append_new(changed_pols, o)) {
		/* Cannot remember what changed: recompile everything. */
		changed_all = true;
		return;
	}
}

/* May the last changes have altered the entries of target? */
static bool changes_affect(const struct polc_pod *target)
{
	const json_t *c;
	size_t i;

	if (changed_all)
		return true;
	json_array_foreach(changed_pols, i, c)
	{
		const json_t *sel = json_object_get(c, "sel");

		if (!strcmp(json_string_value(json_object_get(c, "ns")), target->ns) &&
		    selector_matches(json_is_null(sel) ? NULL : sel, target->labels))
			return true;
	}
	return false;
}

/* What a sync recompiles besides endpoints the maps do not have yet. */
enum sync_mode {
	SYNC_ALL,     /* every endpoint */
	SYNC_CHANGES, /* those the recorded changes may affect */
	SYNC_NEW,     /* none: the recorded changes stay for the timer */
};

struct compile_all {
	struct polc_world *w;
	struct polc_ep *eps;
	bool *reused; /* per eps[]: taken over from written, unchanged */
	size_t n, cap, cap_reused;
	enum sync_mode mode; /* SYNC_ALL when written cannot be trusted */
	size_t n_compiled;
	int rc;
};

static const struct polc_ep *eps_find(const struct polc_ep *eps, size_t n, uint32_t ep_id);

static int compile_one(const struct endpoint *ep, void *arg)
{
	struct compile_all *c = arg;
	struct polc_ep *old;
	struct polc_pod t;
	int rc;

	rc = grow((void **)&c->eps, &c->cap, c->n, sizeof(*c->eps));
	if (!rc)
		rc = grow((void **)&c->reused, &c->cap_reused, c->n, sizeof(*c->reused));
	if (rc)
		return c->rc = rc;
	endpoint_target(c->w, ep, &t);
	old = c->mode != SYNC_ALL ? (struct polc_ep *)eps_find(written, n_written, ep->id) : NULL;
	if (old && (c->mode == SYNC_NEW || !changes_affect(&t))) {
		/* Take the entries over: written is replaced by eps after the
		 * sync, and its copy must not free them. */
		c->eps[c->n] = *old;
		old->entries = NULL;
		old->cidrs = NULL;
		old->n_entries = old->cap_entries = old->n_cidrs = old->cap_cidrs = 0;
		c->reused[c->n++] = true;
		return 0;
	}
	rc = polc_compile_ep(c->w, &t, ep->id, &c->eps[c->n]);
	if (rc)
		return c->rc = rc;
	c->reused[c->n++] = false;
	c->n_compiled++;
	return 0;
}

static int ep_id_cmp(const void *a, const void *b)
{
	const struct polc_ep *x = a, *y = b;

	return x->ep_id < y->ep_id ? -1 : x->ep_id > y->ep_id;
}

static void eps_free(struct polc_ep *eps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		polc_ep_free(&eps[i]);
	free(eps);
}

static const struct polc_ep *eps_find(const struct polc_ep *eps, size_t n, uint32_t ep_id)
{
	struct polc_ep k = {.ep_id = ep_id};

	return n ? bsearch(&k, eps, n, sizeof(*eps), ep_id_cmp) : NULL;
}

/* ---- writing ------------------------------------------------------------- */

struct map_fds {
	int ep, pol, cidr, exact;
};

static int map_update(int fd, const void *k, const void *v, const char *map)
{
	if (bpf_map_update_elem(fd, k, v, BPF_ANY)) {
		int rc = -errno;

		pr_warn("policy: couldn't update %s: %s\n", map, strerror(-rc));
		return rc;
	}
	return 0;
}

static int map_delete(int fd, const void *k, const char *map)
{
	if (bpf_map_delete_elem(fd, k) && errno != ENOENT) {
		int rc = -errno;

		pr_warn("policy: couldn't delete from %s: %s\n", map, strerror(-rc));
		return rc;
	}
	return 0;
}

/* Port entries go to sluice_pol_exact or (ranges) sluice_pol. */
static int entry_update(const struct map_fds *f, const struct polc_entry *e)
{
	struct pol_exact_key ek;

	if (polc_entry_exact(&e->key, &ek))
		return map_update(f->exact, &ek, &e->val, SL_MAP_POL_EXACT);
	return map_update(f->pol, &e->key, &e->val, SL_MAP_POL);
}

static int entry_delete(const struct map_fds *f, const struct polc_entry *e)
{
	struct pol_exact_key ek;

	if (polc_entry_exact(&e->key, &ek))
		return map_delete(f->exact, &ek, SL_MAP_POL_EXACT);
	return map_delete(f->pol, &e->key, SL_MAP_POL);
}

/* Write new's entries that old lacks or holds with another value
 * (adds == true), or delete old's entries new lacks (adds == false).
 * Both arrays are sorted by key. */
static int diff_entries(const struct map_fds *f, const struct polc_ep *old,
			const struct polc_ep *new, bool adds)
{
	size_t i = 0, j = 0, no = old ? old->n_entries : 0, nn = new ? new->n_entries : 0;
	int rc = 0;

	while (!rc && (i < no || j < nn)) {
		int c = i >= no	  ? 1
			: j >= nn ? -1
				  : memcmp(&old->entries[i].key, &new->entries[j].key,
					   sizeof(struct pol_key));

		if (c < 0) {
			if (!adds)
				rc = entry_delete(f, &old->entries[i]);
			i++;
		} else if (c > 0) {
			if (adds)
				rc = entry_update(f, &new->entries[j]);
			j++;
		} else {
			if (adds && memcmp(&old->entries[i].val, &new->entries[j].val,
					   sizeof(struct pol_val)))
				rc = entry_update(f, &new->entries[j]);
			i++;
			j++;
		}
	}
	return rc;
}

static int diff_cidrs(int fd, const struct polc_ep *old, const struct polc_ep *new, bool adds)
{
	size_t i = 0, j = 0, no = old ? old->n_cidrs : 0, nn = new ? new->n_cidrs : 0;
	int rc = 0;

	while (!rc && (i < no || j < nn)) {
		int c = i >= no	  ? 1
			: j >= nn ? -1
				  : memcmp(&old->cidrs[i].key, &new->cidrs[j].key,
					   sizeof(struct pol_cidr_key));

		if (c < 0) {
			if (!adds)
				rc = map_delete(fd, &old->cidrs[i].key, SL_MAP_POL_CIDR);
			i++;
		} else if (c > 0) {
			if (adds)
				rc = map_update(fd, &new->cidrs[j].key, &new->cidrs[j].val,
						SL_MAP_POL_CIDR);
			j++;
		} else {
			if (adds && memcmp(&old->cidrs[i].val, &new->cidrs[j].val,
					   sizeof(struct pol_cidr_val)))
				rc = map_update(fd, &new->cidrs[j].key, &new->cidrs[j].val,
						SL_MAP_POL_CIDR);
			i++;
			j++;
		}
	}
	return rc;
}

/* One endpoint, old -> new (either may be NULL). Order keeps the datapath
 * consistent: allowing entries appear before isolation is switched on, and
 * go only after it is switched off or their replacements are in; likewise
 * the range flag is set only once the range entries are in, and cleared
 * before they go. */
static int write_ep(const struct map_fds *f, const struct polc_ep *old, const struct polc_ep *new)
{
	uint32_t id = new ? new->ep_id : old->ep_id;
	bool had = old && old->ep.flags, has = new &&new->ep.flags;
	int rc;

	rc = diff_entries(f, old, new, true);
	if (!rc)
		rc = diff_cidrs(f->cidr, old, new, true);
	if (!rc && has && (!had || memcmp(&old->ep, &new->ep, sizeof(new->ep))))
		rc = map_update(f->ep, &id, &new->ep, SL_MAP_POL_EP);
	if (!rc && had && !has)
		rc = map_delete(f->ep, &id, SL_MAP_POL_EP);
	if (!rc)
		rc = diff_cidrs(f->cidr, old, new, false);
	if (!rc)
		rc = diff_entries(f, old, new, false);
	return rc;
}

/* sluice_pol holds only the range entries. */
static bool want_pol(const struct polc_ep *eps, size_t n, const struct pol_key *k)
{
	const struct polc_ep *e = eps_find(eps, n, k->ep_id);

	if (!SL_POL_PREFIX_IS_RANGE(k->prefixlen))
		return false;
	for (size_t i = 0; e && i < e->n_entries; i++) {
		if (!memcmp(&e->entries[i].key, k, sizeof(*k)))
			return true;
	}
	return false;
}

static bool want_exact(const struct polc_ep *eps, size_t n, const struct pol_exact_key *k)
{
	const struct polc_ep *e = eps_find(eps, n, k->ep_id);
	struct pol_exact_key ek;

	for (size_t i = 0; e && i < e->n_entries; i++) {
		if (polc_entry_exact(&e->entries[i].key, &ek) && !memcmp(&ek, k, sizeof(*k)))
			return true;
	}
	return false;
}

static bool want_cidr(const struct polc_ep *eps, size_t n, const struct pol_cidr_key *k)
{
	const struct polc_ep *e = eps_find(eps, n, k->ep_id);

	for (size_t i = 0; e && i < e->n_cidrs; i++) {
		if (!memcmp(&e->cidrs[i].key, k, sizeof(*k)))
			return true;
	}
	return false;
}

static bool want_ep(const struct polc_ep *eps, size_t n, const uint32_t *k)
{
	const struct polc_ep *e = eps_find(eps, n, *k);

	return e && e->ep.flags;
}

/* Delete every key of a map that the desired state does not hold (after a
 * restart, or a failed write). */
static int sweep(int fd, size_t ksize, const char *map, const struct polc_ep *eps, size_t n,
		 bool (*want)(const struct polc_ep *, size_t, const void *))
{
	uint8_t key[64], next[64];
	uint8_t *dead = NULL;
	size_t n_dead = 0, cap = 0;
	void *prev = NULL;
	int rc = 0;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, ksize);
		prev = key;
		if (want(eps, n, key))
			continue;
		if (n_dead == cap) {
			uint8_t *nd;

			cap = cap ? cap * 2 : 64;
			nd = realloc(dead, cap * ksize);
			if (!nd) {
				rc = -ENOMEM;
				goto out;
			}
			dead = nd;
		}
		memcpy(dead + n_dead++ * ksize, key, ksize);
	}
	for (size_t i = 0; i < n_dead && !rc; i++)
		rc = map_delete(fd, dead + i * ksize, map);
out:
	free(dead);
	return rc;
}

static bool want_pol_v(const struct polc_ep *e, size_t n, const void *k)
{
	return want_pol(e, n, k);
}
static bool want_exact_v(const struct polc_ep *e, size_t n, const void *k)
{
	return want_exact(e, n, k);
}
static bool want_cidr_v(const struct polc_ep *e, size_t n, const void *k)
{
	return want_cidr(e, n, k);
}
static bool want_ep_v(const struct polc_ep *e, size_t n, const void *k)
{
	return want_ep(e, n, k);
}

static int open_maps(struct map_fds *f)
{
	static bool warned;

	f->ep = ctl_map_fd(SL_MAP_POL_EP);
	f->pol = ctl_map_fd(SL_MAP_POL);
	f->cidr = ctl_map_fd(SL_MAP_POL_CIDR);
	f->exact = ctl_map_fd(SL_MAP_POL_EXACT);
	if (f->ep < 0 || f->pol < 0 || f->cidr < 0 || f->exact < 0) {
		int rc = f->ep < 0 ? f->ep : f->pol < 0 ? f->pol : f->cidr < 0 ? f->cidr : f->exact;

		if (!warned)
			pr_warn("policy: policy maps are not available (%s): policies not enforced "
				"yet\n",
				strerror(-rc));
		warned = true;
		return rc;
	}
	warned = false;
	return 0;
}

struct ep_sorted {
	struct polc_ep e;
	bool reused;
};

static int ep_sorted_cmp(const void *a, const void *b)
{
	return ep_id_cmp(&((const struct ep_sorted *)a)->e, &((const struct ep_sorted *)b)->e);
}

/* Sort c->eps by ep_id (for eps_find), the reuse flags along. */
static int eps_sort(struct compile_all *c)
{
	struct ep_sorted *t;

	if (c->n < 2)
		return 0;
	t = malloc(c->n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < c->n; i++)
		t[i] = (struct ep_sorted){.e = c->eps[i], .reused = c->reused[i]};
	qsort(t, c->n, sizeof(*t), ep_sorted_cmp);
	for (size_t i = 0; i < c->n; i++) {
		c->eps[i] = t[i].e;
		c->reused[i] = t[i].reused;
	}
	free(t);
	return 0;
}

/* Recompute and write what mode says, plus endpoints not written yet. */
static int sync_changes(enum sync_mode mode)
{
	struct compile_all c = {};
	struct polc_world w;
	struct map_fds f;
	uint64_t t0 = mono_ms();
	int rc;

	rc = open_maps(&f);
	if (rc)
		return rc;
	rc = world_build(&w);
	if (rc)
		return rc;
	c.w = &w;
	/* Reuse needs the written state to be what the maps hold. */
	c.mode = need_full || (mode == SYNC_CHANGES && changed_all) ? SYNC_ALL : mode;
	if (pod_order_build(&w))
		pod_order_free(); /* the scan still works */
	endpoints_foreach(compile_one, &c);
	pod_order_free();
	rc = c.rc;
	world_destroy(&w);
	if (rc) {
		pr_warn("policy: couldn't compile: %s\n", strerror(-rc));
		/* Entries taken over from written are gone from it: rewrite
		 * everything next time. */
		if (c.mode != SYNC_ALL)
			need_full = true;
		eps_free(c.eps, c.n);
		free(c.reused);
		return rc;
	}
	/* Everything recorded so far is in c.eps now (SYNC_NEW leaves it to
	 * the timer, which is due: recording marked it dirty). */
	if (c.mode != SYNC_NEW)
		changes_reset();
	rc = eps_sort(&c);
	if (rc) {
		pr_warn("policy: couldn't sort the endpoints: %s\n", strerror(-rc));
		need_full = true;
		eps_free(c.eps, c.n);
		free(c.reused);
		return rc;
	}

	for (size_t i = 0; i < c.n && !rc; i++) {
		if (c.reused[i])
			continue; /* the maps hold exactly these */
		rc = write_ep(&f, need_full ? NULL : eps_find(written, n_written, c.eps[i].ep_id),
			      &c.eps[i]);
	}
	for (size_t i = 0; i < n_written && !rc && !need_full; i++) {
		if (!eps_find(c.eps, c.n, written[i].ep_id))
			rc = write_ep(&f, &written[i], NULL);
	}
	if (!rc && need_full) {
		rc = sweep(f.ep, sizeof(uint32_t), SL_MAP_POL_EP, c.eps, c.n, want_ep_v);
		if (!rc)
			rc = sweep(f.cidr, sizeof(struct pol_cidr_key), SL_MAP_POL_CIDR, c.eps, c.n,
				   want_cidr_v);
		if (!rc)
			rc = sweep(f.pol, sizeof(struct pol_key), SL_MAP_POL, c.eps, c.n,
				   want_pol_v);
		if (!rc)
			rc = sweep(f.exact, sizeof(struct pol_exact_key), SL_MAP_POL_EXACT, c.eps,
				   c.n, want_exact_v);
	}
	eps_free(written, n_written);
	free(c.reused);
	/* On failure the maps are somewhere between old and new: the next
	 * sync rewrites everything and sweeps. */
	written = c.eps;
	n_written = c.n;
	need_full = rc != 0;
	pr_debug("policy: synced %zu endpoints (%zu compiled) in %llu ms%s\n", c.n, c.n_compiled,
		 (unsigned long long)(mono_ms() - t0), rc ? " (with errors)" : "");
	return rc;
}

int policy_sync(void)
{
	/* Callers outside the timer: startup (nothing written yet: all) and
	 * a new endpoint before it is ready, which needs its own entries
	 * now. The other endpoints' entries do not depend on endpoints
	 * (peers are identities of Pod objects), and what the model changed
	 * meanwhile is recorded for the timer. */
	return sync_changes(SYNC_NEW);
}

/* ---- debounce ------------------------------------------------------------ */

#define POLICY_TICK_MS	    10	 /* timer period */
#define POLICY_QUIET_MS	    10	 /* wait for a burst of changes to settle ... */
#define POLICY_MAX_DELAY_MS 200	 /* ... but never longer than this */
#define POLICY_RETRY_MS	    1000 /* after a failure */

static void policy_tick(void)
{
	uint64_t now = mono_ms();

	if (!dirty || now < retry_after_ms)
		return;
	if (now - dirty_last_ms < POLICY_QUIET_MS && now - dirty_since_ms < POLICY_MAX_DELAY_MS)
		return;
	dirty = false;
	if (sync_changes(SYNC_CHANGES)) {
		dirty = true;
		dirty_since_ms = dirty_last_ms = now;
		retry_after_ms = mono_ms() + POLICY_RETRY_MS;
	}
}

static void mark_dirty(void);

void policy_mark_dirty(void)
{
	changed_all = true;
	mark_dirty();
}

void policy_netpol_changed(const json_t *old, const json_t *new)
{
	changes_add_policy(old);
	changes_add_policy(new);
	mark_dirty();
}

static void mark_dirty(void)
{
	uint64_t now = mono_ms();

	if (!timer_on) {
		int rc = ctl_add_timer(POLICY_TICK_MS, policy_tick);

		if (rc)
			pr_warn("policy: couldn't add the recompute timer: %s\n", strerror(-rc));
		else
			timer_on = true;
	}
	if (!dirty)
		dirty_since_ms = now;
	dirty_last_ms = now;
	retry_after_ms = 0;
	dirty = true;
}

/* ==== requests ============================================================== */

static json_t *ports_json(const struct polc_rule *r)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < r->n_ports; i++) {
		const struct polc_port *pp = &r->ports[i];
		json_t *o = json_pack("{s:s}", "protocol",
				      pp->proto == IPPROTO_UDP	  ? "UDP"
				      : pp->proto == IPPROTO_SCTP ? "SCTP"
								  : "TCP");

		if (!o)
			continue;
		if (pp->name)
			json_object_set_new(o, "port", json_string(pp->name));
		else if (pp->port)
			json_object_set_new(o, "port", json_integer(pp->port));
		if (pp->end)
			json_object_set_new(o, "endPort", json_integer(pp->end));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *cidr_json(const struct sl_cidr *c)
{
	char buf[SL_ADDR_STRLEN + 4];

	return json_string(sl_cidr_str(c, buf, sizeof(buf)));
}

/* The identities a selector peer matches, with their pods. */
static json_t *identities_json(const struct polc_world *w, const struct polc_policy *pol,
			       const struct polc_rule *r, size_t peer)
{
	json_t *a = json_array();

	for (size_t k = 0; a && k < w->n_ids; k++) {
		const struct polc_identity *id = &w->ids[k];
		json_t *pods, *o;

		if (!peer_matches(r, peer, pol->ns, id))
			continue;
		pods = json_array();
		for (size_t j = 0; pods && j < id->n_pods; j++)
			json_array_append_new(pods, json_sprintf("%s/%s", w->pods[id->pods[j]].ns,
								 w->pods[id->pods[j]].name));
		o = json_pack(
		    "{s:I,s:s,s:o,s:o*}", "id", (json_int_t)id->id, "namespace", id->ns, "labels",
		    id->labels ? json_incref((json_t *)id->labels) : json_object(), "pods", pods);
		if (o)
			json_array_append_new(a, o);
	}
	return a;
}

static json_t *rules_json(const struct polc_world *w, const struct polc_policy *pol, int dir)
{
	json_t *a = json_array();

	for (size_t ri = 0; a && ri < pol->n_rules[dir]; ri++) {
		const struct polc_rule *r = &pol->rules[dir][ri];
		json_t *peers = json_array(), *o;

		if (r->any_peer)
			json_array_append_new(peers, json_pack("{s:s}", "type", "any"));
		for (size_t i = 0; peers && i < r->n_sel; i++) {
			json_t *p = json_pack("{s:s}", "type", "selector");

			if (!p)
				continue;
			if (r->sel_pod[i])
				json_object_set(p, "podSelector", (json_t *)r->sel_pod[i]);
			if (r->sel_ns[i])
				json_object_set(p, "namespaceSelector", (json_t *)r->sel_ns[i]);
			json_object_set_new(p, "identities", identities_json(w, pol, r, i));
			json_array_append_new(peers, p);
		}
		for (size_t i = 0; peers && i < r->n_blocks; i++) {
			json_t *ex = json_array();

			for (size_t j = 0; ex && j < r->blocks[i].n_except; j++)
				json_array_append_new(ex, cidr_json(&r->blocks[i].except[j]));
			json_array_append_new(
			    peers, json_pack("{s:s,s:o,s:o*}", "type", "ipBlock", "cidr",
					     cidr_json(&r->blocks[i].cidr), "except", ex));
		}
		o = json_pack("{s:I,s:I,s:o*,s:o*}", "rule", (json_int_t)(ri + 1), "policyId",
			      (json_int_t)r->policy_id, "peers", peers, "ports",
			      r->any_port ? json_string("any") : ports_json(r));
		if (o)
			json_array_append_new(a, o);
	}
	return a;
}

static json_t *policy_json(const struct polc_world *w, const struct polc_policy *pol, bool full)
{
	json_t *types = json_array(), *sel = json_array(), *o;

	if (pol->isolates[SL_DIR_INGRESS])
		json_array_append_new(types, json_string("Ingress"));
	if (pol->isolates[SL_DIR_EGRESS])
		json_array_append_new(types, json_string("Egress"));
	for (size_t i = 0; sel && i < w->n_pods; i++) {
		const struct polc_pod *p = &w->pods[i];

		if (!strcmp(p->ns, pol->ns) && selector_matches(pol->pod_sel, p->labels))
			json_array_append_new(sel, json_sprintf("%s/%s", p->ns, p->name));
	}
	o = json_pack("{s:s,s:s,s:I,s:o*,s:o*,s:I,s:I}", "namespace", pol->ns, "name", pol->name,
		      "index", (json_int_t)pol->index, "policyTypes", types, "selectedPods", sel,
		      "ingressRules", (json_int_t)pol->n_rules[SL_DIR_INGRESS], "egressRules",
		      (json_int_t)pol->n_rules[SL_DIR_EGRESS]);
	if (o && full) {
		json_object_set(o, "podSelector",
				pol->pod_sel ? (json_t *)pol->pod_sel : json_object());
		json_object_set_new(o, "ingress", rules_json(w, pol, SL_DIR_INGRESS));
		json_object_set_new(o, "egress", rules_json(w, pol, SL_DIR_EGRESS));
	}
	return o;
}

static int req_policy_list(const json_t *req, json_t *reply, char *err, size_t errlen)
{
	struct polc_world w;
	json_t *a;
	int rc;

	(void)req;
	rc = world_build(&w);
	if (rc) {
		snprintf(err, errlen, "policy.list: couldn't read the model: %s", strerror(-rc));
		return rc;
	}
	a = json_array();
	for (size_t i = 0; a && i < w.n_policies; i++)
		json_array_append_new(a, policy_json(&w, &w.policies[i], false));
	world_destroy(&w);
	if (!a) {
		snprintf(err, errlen, "policy.list: out of memory");
		return -ENOMEM;
	}
	json_object_set_new(reply, "policies", a);
	return 0;
}

static int req_policy_get(const json_t *req, json_t *reply, char *err, size_t errlen)
{
	const char *ns = json_string_value(json_object_get(req, "namespace"));
	const char *name = json_string_value(json_object_get(req, "name"));
	struct polc_world w;
	json_t *o = NULL;
	int rc;

	if (!name || !*name) {
		snprintf(err, errlen, "policy.get: \"name\" (a string) is required");
		return -EINVAL;
	}
	if (!ns || !*ns)
		ns = "default";
	rc = world_build(&w);
	if (rc) {
		snprintf(err, errlen, "policy.get: couldn't read the model: %s", strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < w.n_policies; i++) {
		if (!strcmp(w.policies[i].ns, ns) && !strcmp(w.policies[i].name, name))
			o = policy_json(&w, &w.policies[i], true);
	}
	world_destroy(&w);
	if (!o) {
		snprintf(err, errlen, "policy.get: no NetworkPolicy %s/%s", ns, name);
		return -ENOENT;
	}
	json_object_set_new(reply, "policy", o);
	return 0;
}

/* One side of a trace: a pod (local or not) or a bare address. */
struct trace_end {
	char desc[320];
	const struct polc_pod *pod; /* NULL: not a pod */
	const struct endpoint *ep;  /* local endpoint, if any */
	uint32_t identity;
	union sl_addr addr;
	uint8_t family;
};

/* Identity of a non-pod address the way the datapath finds it: the longest
 * sluice_ipcache prefix (from the userspace mirror), else world. */
static uint32_t addr_identity(const union sl_addr *a, uint8_t family)
{
	int max = family == SL_AF_INET6 ? 128 : 32;

	for (int plen = max; plen >= 0; plen--) {
		struct sl_cidr c = {.addr = *a, .family = family, .plen = (uint8_t)plen};
		struct ipcache_val v;
		char buf[SL_ADDR_STRLEN + 4];

		/* Clear host bits by round-tripping through the parser. */
		if (sl_cidr_parse(sl_cidr_str(&c, buf, sizeof(buf)), &c, true))
			continue;
		if (!ipcache_lookup(&c, &v))
			return v.identity;
	}
	return SL_ID_WORLD;
}

static int trace_resolve(const struct polc_world *w, const char *s, const char *what,
			 struct trace_end *t, char *err, size_t errlen)
{
	const char *slash = strchr(s, '/');
	union sl_addr a;
	uint8_t fam;

	memset(t, 0, sizeof(*t));
	if (!sl_addr_parse(s, &a, &fam)) {
		t->addr = a;
		t->family = fam;
		t->ep = endpoints_by_ip(&a, fam);
		for (size_t i = 0; !t->pod && i < w->n_pods; i++) {
			for (int j = 0; j < w->pods[i].n_ips; j++) {
				if (w->pods[i].ips[j].family == fam &&
				    !memcmp(&w->pods[i].ips[j].addr, &a, sizeof(a)))
					t->pod = &w->pods[i];
			}
		}
		if (!t->pod && t->ep)
			t->pod = world_pod(w, t->ep->namespace_, t->ep->pod);
		if (t->pod) {
			snprintf(t->desc, sizeof(t->desc), "%s/%s", t->pod->ns, t->pod->name);
			t->identity = t->pod->identity;
		} else if (t->ep) {
			snprintf(t->desc, sizeof(t->desc), "%s/%s", t->ep->namespace_, t->ep->pod);
			t->identity = t->ep->identity;
		} else {
			snprintf(t->desc, sizeof(t->desc), "%s", s);
			t->identity = addr_identity(&a, fam);
		}
		return 0;
	}
	if (slash && slash != s && slash[1]) {
		char ns[256];

		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - s), s);
		t->pod = world_pod(w, ns, slash + 1);
		t->ep = endpoints_by_pod(ns, slash + 1);
		if (!t->pod && !t->ep) {
			snprintf(err, errlen, "policy.trace: %s: no pod %s", what, s);
			return -ENOENT;
		}
		snprintf(t->desc, sizeof(t->desc), "%s", s);
		if (t->pod && t->pod->n_ips) {
			t->addr = t->pod->ips[0].addr;
			t->family = t->pod->ips[0].family;
		} else if (t->ep && t->ep->n_ips) {
			t->addr = t->ep->ips[0].addr;
			t->family = t->ep->ips[0].family;
		} else {
			snprintf(err, errlen, "policy.trace: %s: pod %s has no IP yet", what, s);
			return -EINVAL;
		}
		t->identity = t->ep ? t->ep->identity : t->pod->identity;
		if (t->pod && t->pod->identity)
			t->identity = t->pod->identity;
		return 0;
	}
	snprintf(err, errlen, "policy.trace: %s: \"%s\" is neither NS/POD nor an IP address", what,
		 s);
	return -EINVAL;
}

/* Judge one direction for the pod end (self) against the other end. */
static json_t *trace_dir(struct polc_world *w, const struct trace_end *self,
			 const struct trace_end *peer, uint8_t dir, uint8_t proto, uint16_t port,
			 int *verdict)
{
	const struct polc_ep *local = NULL;
	struct polc_ep tmp = {};
	struct polc_pod target;
	uint32_t pid = 0;
	const char *match = "unselected";
	char name[320];
	json_t *o;

	*verdict = SL_FORWARDED;
	if (!self->pod && !self->ep)
		return json_pack("{s:s,s:b}", "verdict", "not-a-pod", "isolated", 0);
	/* A local endpoint: exactly what the maps hold. */
	if (self->ep)
		local = eps_find(written, n_written, self->ep->id);
	if (!local) {
		if (self->pod)
			target = *self->pod;
		else
			endpoint_target(w, self->ep, &target);
		if (polc_compile_ep(w, &target, self->ep ? self->ep->id : 0, &tmp))
			return NULL;
		local = &tmp;
	}
	*verdict = polc_lookup(local, dir, peer->identity, &peer->addr, peer->family, proto, port,
			       &pid, &match);
	o = json_pack("{s:s,s:b,s:s,s:I,s:I}", "verdict",
		      *verdict == SL_FORWARDED ? "allowed" : "denied", "isolated",
		      (local->ep.flags & (1u << dir)) != 0, "match", match, "policyId",
		      (json_int_t)pid, "peerIdentity", (json_int_t)peer->identity);
	if (o && pid) {
		json_object_set_new(o, "policy",
				    policy_name_by_index(SL_POL_ID_INDEX(pid), name, sizeof(name))
					? json_string(name)
					: json_null());
		json_object_set_new(o, "rule", json_integer(SL_POL_ID_RULE(pid)));
	}
	if (o)
		json_object_set_new(o, "source", json_string(local == &tmp ? "compiled" : "maps"));
	polc_ep_free(&tmp);
	return o;
}

static json_t *end_json(const struct trace_end *t)
{
	char buf[SL_ADDR_STRLEN];

	return json_pack("{s:s,s:s,s:I,s:b}", "name", t->desc, "ip",
			 sl_addr_str(&t->addr, t->family, buf, sizeof(buf)), "identity",
			 (json_int_t)t->identity, "local", t->ep != NULL);
}

static int req_policy_trace(const json_t *req, json_t *reply, char *err, size_t errlen)
{
	const char *from = json_string_value(json_object_get(req, "from"));
	const char *to = json_string_value(json_object_get(req, "to"));
	const char *ps = json_string_value(json_object_get(req, "protocol"));
	const json_t *pj = json_object_get(req, "port");
	struct trace_end src, dst;
	struct polc_world w;
	json_t *eg = NULL, *in = NULL, *tr;
	int ve, vi, rc;
	uint8_t proto;
	json_int_t port;

	if (!from || !to) {
		snprintf(err, errlen,
			 "policy.trace: \"from\" and \"to\" (NS/POD or IP) are required");
		return -EINVAL;
	}
	if (!json_is_integer(pj) || (port = json_integer_value(pj)) < 0 || port > 65535) {
		snprintf(err, errlen, "policy.trace: \"port\" must be a number 0-65535");
		return -EINVAL;
	}
	if (!ps || !strcasecmp(ps, "TCP"))
		proto = IPPROTO_TCP;
	else if (!strcasecmp(ps, "UDP"))
		proto = IPPROTO_UDP;
	else if (!strcasecmp(ps, "SCTP"))
		proto = IPPROTO_SCTP;
	else if (!strcasecmp(ps, "ICMP"))
		proto = IPPROTO_ICMP;
	else {
		snprintf(err, errlen,
			 "policy.trace: \"protocol\": %s is not TCP, UDP, SCTP or ICMP", ps);
		return -EINVAL;
	}
	rc = world_build(&w);
	if (rc) {
		snprintf(err, errlen, "policy.trace: couldn't read the model: %s", strerror(-rc));
		return rc;
	}
	rc = trace_resolve(&w, from, "from", &src, err, errlen);
	if (!rc)
		rc = trace_resolve(&w, to, "to", &dst, err, errlen);
	if (!rc && src.family != dst.family) {
		snprintf(err, errlen, "policy.trace: %s and %s are of different address families",
			 from, to);
		rc = -EINVAL;
	}
	if (!rc) {
		eg = trace_dir(&w, &src, &dst, SL_DIR_EGRESS, proto, (uint16_t)port, &ve);
		in = trace_dir(&w, &dst, &src, SL_DIR_INGRESS, proto, (uint16_t)port, &vi);
		if (!eg || !in) {
			snprintf(err, errlen, "policy.trace: out of memory");
			rc = -ENOMEM;
		}
	}
	if (rc) {
		json_decref(eg);
		json_decref(in);
		world_destroy(&w);
		return rc;
	}
	tr = json_pack("{s:s,s:s*,s:o,s:o,s:s,s:I,s:o,s:o}", "verdict",
		       ve == SL_FORWARDED && vi == SL_FORWARDED ? "allowed" : "denied", "decidedBy",
		       ve != SL_FORWARDED   ? "egress"
		       : vi != SL_FORWARDED ? "ingress"
					    : NULL,
		       "from", end_json(&src), "to", end_json(&dst), "protocol",
		       proto == IPPROTO_UDP    ? "UDP"
		       : proto == IPPROTO_SCTP ? "SCTP"
		       : proto == IPPROTO_ICMP ? "ICMP"
					       : "TCP",
		       "port", port, "egress", eg, "ingress", in);
	world_destroy(&w);
	if (!tr) {
		snprintf(err, errlen, "policy.trace: out of memory");
		return -ENOMEM;
	}
	json_object_set_new(reply, "trace", tr);
	return 0;
}

const struct request_handler policy_requests[] = {
    {"policy.list", req_policy_list},
    {"policy.get", req_policy_get},
    {"policy.trace", req_policy_trace},
    {NULL, NULL},
};
