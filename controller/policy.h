/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NetworkPolicy compiler and map writer (policy.c, policy module).
 *
 * The compiler is pure: from a "world" (parsed policies, identities, pods)
 * and one target pod it produces exactly the entries the three policy maps
 * hold for that endpoint (include/sluice/policy.h). Unit tests drive it
 * without maps; the writer diffs its output against what it wrote before;
 * policy.trace evaluates the same entries with the datapath's lookup
 * algorithm (the hash lookups and the range LPM emulated on the entries).
 */
#ifndef SLUICE_CTL_POLICY_H
#define SLUICE_CTL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <sluice/policy.h>
#include "addr.h"

#define POLC_MAX_IPS 2

/* One port item of a rule (validated). */
struct polc_port {
	uint8_t proto;	  /* IPPROTO_TCP/UDP/SCTP */
	uint16_t port;	  /* 0 with name NULL: every port of proto */
	uint16_t end;	  /* endPort, 0 when absent */
	const char *name; /* named port (borrowed from the policy object) */
};

/* An ipBlock peer. */
struct polc_block {
	struct sl_cidr cidr;
	size_t n_except;
	struct sl_cidr *except;
};

/* One ingress or egress rule. */
struct polc_rule {
	uint32_t policy_id; /* SL_POL_ID(policy index, n) */
	bool any_peer;	    /* no from/to: every address */
	bool any_port;	    /* no ports: every protocol and port */
	size_t n_ports;
	struct polc_port *ports;
	size_t n_sel;		/* podSelector/namespaceSelector peers */
	const json_t **sel_pod; /* per peer: podSelector or NULL */
	const json_t **sel_ns;	/* per peer: namespaceSelector or NULL */
	size_t n_blocks;
	struct polc_block *blocks;
	/* Identities (indices into world.ids) the selector peers match:
	 * computed once per world on first use. */
	bool ids_done;
	size_t n_ids;
	uint32_t *ids;
};

/* A parsed NetworkPolicy. */
struct polc_policy {
	uint32_t index;	       /* allocated by policy.c, >= 1 */
	const char *ns, *name; /* borrowed from obj */
	const json_t *obj;     /* the stored (validated, defaulted) object */
	const json_t *pod_sel; /* spec.podSelector */
	bool isolates[2];      /* per enum sl_dir, from policyTypes */
	size_t n_rules[2];
	struct polc_rule *rules[2];
};

/* A security identity and what selectors see of it. */
struct polc_identity {
	uint32_t id;
	const char *ns;
	const json_t *labels;	 /* pod labels */
	const json_t *ns_labels; /* namespace labels */
	size_t n_pods;		 /* pods of the world holding it */
	size_t *pods;		 /* their indices in world.pods */
};

/* A pod of the cluster (any node). */
struct polc_pod {
	const char *ns, *name;
	const json_t *labels;	  /* metadata.labels */
	const json_t *containers; /* spec.containers (named ports) */
	uint32_t identity;
	int n_ips;
	struct sl_cidr ips[POLC_MAX_IPS];
};

struct polc_world {
	size_t n_policies, n_ids, n_pods;
	struct polc_policy *policies;
	struct polc_identity *ids;
	struct polc_pod *pods;
	/* Indexes built by polc_world_index so neither selecting policies for
	 * an endpoint nor resolving peers walks everything:
	 * "ns\x1fkey=value" -> [policy indices] whose podSelector's first
	 * matchLabels pair is key=value, "ns\x1f*" -> the others of ns;
	 * "ns\x1fkey=value" -> [identity indices] with that label,
	 * "ns\x1f*" -> every identity of ns. */
	json_t *pol_index;
	json_t *id_index;
	uint8_t *id_mark; /* scratch, n_ids bytes */
};

/* Entries of one endpoint, sorted by key, unique. */
struct polc_entry {
	struct pol_key key;
	struct pol_val val;
};
struct polc_cidr_entry {
	struct pol_cidr_key key;
	struct pol_cidr_val val;
};
struct polc_ep {
	uint32_t ep_id;
	/* flags == 0: nothing isolates it (no map entry); SL_POL_F_RANGE(dir)
	 * when entries hold port ranges of dir */
	struct pol_ep_val ep;
	size_t n_entries, cap_entries;
	struct polc_entry *entries;
	size_t n_cidrs, cap_cidrs;
	struct polc_cidr_entry *cidrs;
};

/* Parse a validated NetworkPolicy into p (which borrows from obj).
 * Returns 0, -EINVAL (err set) or -ENOMEM. */
int polc_policy_parse(const json_t *obj, uint32_t index, struct polc_policy *p, char *err,
		      size_t errlen);
void polc_policy_free(struct polc_policy *p);

/* Link identities to pods (fills ids[].pods from pods[].identity).
 * Returns 0 or -ENOMEM. */
int polc_world_index(struct polc_world *w);
/* Free what the world owns: parsed policies, identity pod lists (not the
 * arrays' borrowed JSON). */
void polc_world_free(struct polc_world *w);

/* Compile one endpoint: target is the pod (labels, namespace, containers),
 * ep_id the key its entries use. Returns 0 or -ENOMEM. */
int polc_compile_ep(struct polc_world *w, const struct polc_pod *target, uint32_t ep_id,
		    struct polc_ep *out);
void polc_ep_free(struct polc_ep *e);

/* Which map an entry goes to: false -> sluice_pol with key as is (a port
 * range); true -> sluice_pol_exact with *ek (the other prefix lengths). */
bool polc_entry_exact(const struct pol_key *key, struct pol_exact_key *ek);

/* The datapath's lookup (datapath/lib/policy.h) on compiled entries.
 * Returns SL_FORWARDED or SL_DROP_POLICY_{EGRESS,INGRESS}; *policy_id as
 * the datapath sets it; *match (may be NULL) gets "identity", "cidr",
 * "host", "unselected" or "none". */
int polc_lookup(const struct polc_ep *e, uint8_t dir, uint32_t peer_identity,
		const union sl_addr *peer, uint8_t family, uint8_t proto, uint16_t dport,
		uint32_t *policy_id, const char **match);

/* The policy with this index in the current state: "ns/name" into buf, or
 * NULL. */
const char *policy_name_by_index(uint32_t index, char *buf, size_t len);

/* Recompute every endpoint and write the maps now. Returns 0 or -errno
 * (logged). The debounce timer recomputes only what the recorded changes
 * may affect. */
int policy_sync(void);

/* A NetworkPolicy changed (old NULL on create, new NULL on delete): record
 * its namespace and podSelectors, so the debounced recompute redoes only
 * the endpoints they select, and schedule it. Any other change goes through
 * policy_mark_dirty (kinds.h), which recomputes every endpoint. */
void policy_netpol_changed(const json_t *old, const json_t *new);

#endif
