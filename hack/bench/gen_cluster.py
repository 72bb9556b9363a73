#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generate a realistic Kubernetes cluster as a Sluice feed stream.

The output is what a feeder would pipe into sluiced's socket after a
streaming list: per kind, one watch event ADDED per object, then the
BOOKMARK with k8s.io/initial-events-end. Objects are in their real API JSON
form (metadata with uid/resourceVersion/creationTimestamp/ownerReferences,
pods with containers and their ports, multi-port Services, EndpointSlices
with conditions, NetworkPolicies with selectors, ipBlocks and ports).

Shape (defaults are the issue 3 benchmark):
  namespaces  50, labelled team/env
  nodes       50 (node-000..), podCIDR 10.244.<i>.0/24, InternalIP 172.18.<i/250>.<10+i%250>
  pods        5,000 in deployments of 10 replicas, spread over the nodes
  services    10,000; each selects one deployment; 1-3 ports (TCP, some UDP);
              2 % headless; some with sessionAffinity ClientIP
  endpoints   100,000 in 10,000 EndpointSlices (one per Service); 94 % ready,
              3 % not ready, 2 % serving+terminating, 1 % without conditions
  policies    1,000 NetworkPolicies: podSelector matchLabels/matchExpressions,
              ingress from pods/namespaces/ipBlocks with except, named and
              numeric ports with endPort, some egress with DNS and CIDR rules

Besides the stream it writes the expected map contents (--expect FILE) by
applying the rules the controller documents (ipcache: pod IPs + node IPs
+ the local gateway;
sluice_svc/sluice_revnat: one per (clusterIP, port) of a non-headless
Service; sluice_backend: one per distinct (address, port, protocol) of an
endpoint matching a Service port; sluice_maglev: frontends with an active
backend; sluice_pol_ep: local endpoints selected by a policy) and the local
endpoints to register (--endpoints FILE, endpoint.add requests).

Deterministic: the same arguments give the same bytes.
"""
import argparse
import json
import random
import sys

EPOCH = "2026-11-01T00:00:00Z"

APP_WORDS = ["api", "web", "auth", "cart", "search", "billing", "users", "catalog",
             "orders", "ledger", "mail", "notify", "feed", "media", "report", "gateway"]
TEAMS = ["payments", "storefront", "platform", "data", "identity"]
ENVS = ["prod", "staging", "dev"]

# Container ports every pod of a deployment exposes (name, port, protocol).
POD_PORTS = [("http", 8080, "TCP"), ("metrics", 9090, "TCP"), ("grpc", 9000, "TCP"),
             ("dns", 5353, "UDP")]
# Service port sets: (name, port, targetPort name, protocol), weighted.
SVC_PORT_SETS = [
    (60, [("http", 80, "http", "TCP")]),
    (30, [("http", 80, "http", "TCP"), ("metrics", 9090, "metrics", "TCP")]),
    (7, [("http", 80, "http", "TCP"), ("grpc", 9000, "grpc", "TCP"),
         ("metrics", 9090, "metrics", "TCP")]),
    (3, [("dns", 53, "dns", "UDP"), ("http", 80, "http", "TCP")]),
]


class RV:
    """Cluster-wide resourceVersion counter."""

    def __init__(self):
        self.v = 1000

    def next(self):
        self.v += 1
        return str(self.v)


def uid(rng):
    h = "%032x" % rng.getrandbits(128)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def meta(rng, rv, name, ns=None, labels=None, annotations=None, owner=None):
    m = {"name": name, "uid": uid(rng), "resourceVersion": rv.next(),
         "creationTimestamp": EPOCH}
    if ns is not None:
        m["namespace"] = ns
    if labels:
        m["labels"] = labels
    if annotations:
        m["annotations"] = annotations
    if owner:
        m["ownerReferences"] = [owner]
    return m


def ip4(a, b, c, d):
    return "%d.%d.%d.%d" % (a, b, c, d)


def selector_matches(sel, labels):
    """metav1.LabelSelector semantics (an empty selector matches all)."""
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def build(a):
    rng = random.Random(a.seed)
    rv = RV()
    out = {"Namespace": [], "Node": [], "Pod": [], "Service": [], "EndpointSlice": [],
           "NetworkPolicy": []}

    # ---- namespaces
    namespaces = []
    for i in range(a.namespaces):
        name = "ns-%03d" % i
        labels = {"kubernetes.io/metadata.name": name, "team": TEAMS[i % len(TEAMS)],
                  "env": ENVS[i % len(ENVS)]}
        namespaces.append((name, labels))
        out["Namespace"].append({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": meta(rng, rv, name, labels=labels),
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})

    # ---- nodes
    nodes = []
    for i in range(a.nodes):
        name = "node-%03d" % i
        nip = ip4(172, 18, i // 250, 10 + i % 250)
        nodes.append((name, nip, i))
        out["Node"].append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": meta(rng, rv, name, labels={
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "topology.kubernetes.io/zone": "zone-%c" % "abc"[i % 3]}),
            "spec": {"podCIDR": "10.244.%d.0/24" % i, "podCIDRs": ["10.244.%d.0/24" % i]},
            "status": {"addresses": [{"type": "InternalIP", "address": nip},
                                     {"type": "Hostname", "address": name}],
                       "conditions": [{"type": "Ready", "status": "True"}]}})
    local_node = nodes[0][0]

    # ---- deployments and pods
    replicas = a.replicas
    ndeploy = (a.pods + replicas - 1) // replicas
    deployments = []  # (ns, app, labels, [pod index...], ports)
    pods = []  # dict: ns, name, labels, ip, node, ports
    per_node = [0] * len(nodes)
    for d in range(ndeploy):
        ns, nsl = namespaces[d % len(namespaces)]
        app = "%s-%d" % (APP_WORDS[d % len(APP_WORDS)], d)
        tier = ["frontend", "backend", "cache", "worker"][d % 4]
        hash_ = "%010x" % rng.getrandbits(40)
        tmpl = {"app": app, "tier": tier, "version": "v%d" % (1 + d % 3),
                "pod-template-hash": hash_[:10]}
        ports = POD_PORTS[:2 + (d % 3 == 0)] + ([POD_PORTS[3]] if d % 10 == 0 else [])
        members = []
        for r in range(replicas):
            pi = len(pods)
            if pi >= a.pods:
                break
            # spread replicas over nodes; node n holds pod IPs 10.244.n.2..
            n = (d * replicas + r) % len(nodes)
            host = 2 + per_node[n]
            per_node[n] += 1
            if host > 254:
                sys.exit("gen_cluster: too many pods per node; raise --nodes")
            nname, nip, nidx = nodes[n]
            pip = ip4(10, 244, nidx, host)
            pname = "%s-%s-%05x" % (app, hash_[:8], rng.getrandbits(20))
            labels = dict(tmpl)
            pods.append({"ns": ns, "name": pname, "labels": labels, "ip": pip, "node": nname,
                         "ports": ports, "nsl": nsl})
            members.append(pi)
            out["Pod"].append({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": meta(rng, rv, pname, ns, labels=labels, owner={
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "%s-%s" % (app, hash_[:8]), "uid": uid(rng),
                    "controller": True, "blockOwnerDeletion": True}),
                "spec": {
                    "nodeName": nname, "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                    "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
                    "containers": [{
                        "name": "main", "image": "registry.example/%s:1.%d" % (app, d % 7),
                        "ports": [{"name": pn, "containerPort": pp, "protocol": pr}
                                  for pn, pp, pr in ports],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}}}]},
                "status": {
                    "phase": "Running", "hostIP": nip, "hostIPs": [{"ip": nip}],
                    "podIP": pip, "podIPs": [{"ip": pip}], "startTime": EPOCH,
                    "conditions": [{"type": "Ready", "status": "True"}]}})
        deployments.append((ns, app, tmpl, members, ports))

    # ---- services and their slices
    weights = [w for w, _ in SVC_PORT_SETS]
    frontends = 0
    maglev = 0
    backends = set()
    endpoints_total = 0
    eps_per_svc = a.endpoints // a.services
    extra = a.endpoints - eps_per_svc * a.services
    for s in range(a.services):
        ns, app, tmpl, members, dports = deployments[s % len(deployments)]
        name = "svc-%05d" % s
        pset = rng.choices(SVC_PORT_SETS, weights=weights)[0][1]
        pod_port_names = {pn for pn, _, _ in dports}
        pset = [p for p in pset if p[2] in pod_port_names] or [pset[0]]
        headless = s % 50 == 49
        cip = "None" if headless else ip4(10, 96 + s // 65000, (s // 254) % 256, 1 + s % 254)
        spec = {
            "type": "ClusterIP", "clusterIP": cip, "clusterIPs": [cip],
            "selector": {"app": app},
            "ports": [{"name": pn, "port": pp, "targetPort": tp, "protocol": pr}
                      for pn, pp, tp, pr in pset],
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster"}
        if s % 13 == 0:
            spec["sessionAffinity"] = "ClientIP"
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
        else:
            spec["sessionAffinity"] = "None"
        if s % 7 == 0:
            # as kubectl apply sends it: no protocol (the API server defaults TCP)
            for p in spec["ports"]:
                if p["protocol"] == "TCP":
                    del p["protocol"]
        out["Service"].append({
            "apiVersion": "v1", "kind": "Service",
            "metadata": meta(rng, rv, name, ns, labels={"app": app}),
            "spec": spec, "status": {"loadBalancer": {}}})

        # endpoints: the deployment's pods, repeated over the node's other
        # ready/terminating pods to reach the count (a Service may also
        # select pods of several deployments: take the next ones)
        want = eps_per_svc + (1 if s < extra else 0)
        cand = list(members)
        k = 1
        while len(cand) < want:
            cand += deployments[(s + k) % len(deployments)][3]
            k += 1
        chosen = cand[:want]
        slice_ports = [{"name": pn, "port": dict((n, p) for n, p, _ in dports)[tp],
                        "protocol": pr} for pn, _, tp, pr in pset]
        eps = []
        actives = []
        for j, pi in enumerate(chosen):
            p = pods[pi]
            roll = (s * 31 + j * 7) % 100
            ep = {"addresses": [p["ip"]], "nodeName": p["node"],
                  "targetRef": {"kind": "Pod", "namespace": p["ns"], "name": p["name"],
                                "uid": uid(rng)},
                  "zone": "zone-%c" % "abc"[int(p["node"][5:]) % 3]}
            if roll < 94:
                ep["conditions"] = {"ready": True, "serving": True, "terminating": False}
                state = "ready"
            elif roll < 97:
                ep["conditions"] = {"ready": False, "serving": False, "terminating": False}
                state = "down"
            elif roll < 99:
                ep["conditions"] = {"ready": False, "serving": True, "terminating": True}
                state = "term"
            else:
                state = "ready"  # nil ready means ready
            eps.append(ep)
            actives.append(state)
        endpoints_total += len(eps)
        out["EndpointSlice"].append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": meta(rng, rv, "%s-%05x" % (name, rng.getrandbits(20)), ns, labels={
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                owner={"apiVersion": "v1", "kind": "Service", "name": name, "uid": uid(rng),
                       "controller": True, "blockOwnerDeletion": True}),
            "addressType": "IPv4", "endpoints": eps, "ports": slice_ports})
        if headless:
            continue
        # the rules of services.h: every endpoint of a port is a backend;
        # active = ready, or serving+terminating when none is ready
        any_ready = "ready" in actives
        has_active = any_ready or "term" in actives
        for sp in slice_ports:
            frontends += 1
            if has_active:
                maglev += 1
            for pi in chosen:
                backends.add((pods[pi]["ip"], sp["port"], sp["protocol"]))

    # ---- network policies
    pol_selects = []
    for q in range(a.policies):
        ns, app, tmpl, members, dports = deployments[(q * 7) % len(deployments)]
        nsname, nsl = namespaces[[n for n, _ in namespaces].index(ns)]
        kind = q % 5
        if kind == 0:
            sel = {"matchLabels": {"app": app}}
        elif kind == 1:
            sel = {"matchLabels": {"tier": tmpl["tier"]},
                   "matchExpressions": [{"key": "version", "operator": "In",
                                         "values": [tmpl["version"], "v9"]}]}
        elif kind == 2:
            sel = {"matchExpressions": [{"key": "app", "operator": "In", "values": [app]},
                                        {"key": "canary", "operator": "DoesNotExist"}]}
        elif kind == 3:
            sel = {}  # every pod of the namespace (default-deny style)
        else:
            sel = {"matchLabels": {"app": app, "tier": tmpl["tier"]}}
        other = deployments[(q * 7 + 3) % len(deployments)]
        ingress = [{
            "from": [{"podSelector": {"matchLabels": {"app": other[1]}}},
                     {"namespaceSelector": {"matchLabels": {"team": TEAMS[q % len(TEAMS)]}},
                      "podSelector": {"matchLabels": {"tier": "frontend"}}}],
            "ports": [{"protocol": "TCP", "port": "http"}, {"port": 9090}]}]
        if q % 3 == 0:
            ingress.append({"from": [{"ipBlock": {
                "cidr": "192.168.%d.0/24" % (q % 256),
                "except": ["192.168.%d.128/25" % (q % 256)]}}],
                "ports": [{"protocol": "TCP", "port": 30000, "endPort": 30100}]})
        if q % 11 == 0:
            ingress.append({})  # allow all in (an empty rule)
        spec = {"podSelector": sel, "ingress": ingress}
        if q % 4 == 0:
            spec["egress"] = [
                {"to": [{"namespaceSelector": {"matchLabels": {
                    "kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                 "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0",
                                     "except": ["10.0.0.0/8", "172.16.0.0/12",
                                                "192.168.0.0/16"]}}],
                 "ports": [{"protocol": "TCP", "port": 443}]},
                {"to": [{"podSelector": {"matchLabels": {"app": other[1]}}}]}]
            spec["policyTypes"] = ["Ingress", "Egress"]
        elif q % 4 == 1:
            spec["policyTypes"] = ["Ingress"]
        # else: no policyTypes, as kubectl sends it (the API server defaults it)
        out["NetworkPolicy"].append({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta(rng, rv, "np-%04d-%s" % (q, app), ns,
                             labels={"app.kubernetes.io/part-of": app}),
            "spec": spec})
        pol_selects.append((ns, sel))

    # ---- local endpoints (pods of the local node, as the CNI registered them)
    local = [p for p in pods if p["node"] == local_node][:a.local_endpoints]
    ep_reqs = []
    for i, p in enumerate(local):
        ep_reqs.append({
            "request": "endpoint.add", "containerID": "bench%08x" % i, "ifname": "eth0",
            "namespace": p["ns"], "pod": p["name"], "netns": "/var/run/netns/bench-%d" % i,
            "ips": [p["ip"]], "mac": "02:42:ac:%02x:%02x:%02x" % (i >> 16 & 255, i >> 8 & 255, i & 255),
            "hostIfname": "slbench%05d" % i, "hostIfindex": 100000 + i,
            "hostMac": "02:fe:ac:%02x:%02x:%02x" % (i >> 16 & 255, i >> 8 & 255, i & 255),
            "netnsCookie": 1 << 40 | i})
    pol_ep = sum(1 for p in local if any(ns == p["ns"] and selector_matches(sel, p["labels"])
                                         for ns, sel in pol_selects))

    expect = {
        "local_node": local_node,
        "local_pod_cidr": "10.244.%d.0/24" % nodes[0][2],
        "objects": {k: len(v) for k, v in out.items()},
        "endpoints": endpoints_total,
        "local_endpoints": len(ep_reqs),
        "maps": {
            # pod IPs, node InternalIPs, and the local pod CIDR's gateway
            # (endpoints.c claims it for the node)
            "sluice_ipcache": len({p["ip"] for p in pods} | {n[1] for n in nodes}) + 1,
            "sluice_svc": frontends,
            "sluice_revnat": frontends,
            "sluice_maglev": maglev,
            "sluice_backend": len(backends),
            "sluice_pol_ep": pol_ep,
        },
    }
    return out, ep_reqs, expect


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--namespaces", type=int, default=50)
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--replicas", type=int, default=10)
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--endpoints", type=int, default=100000)
    ap.add_argument("--policies", type=int, default=1000)
    ap.add_argument("--local-endpoints", type=int, default=100)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--pretty", action="store_true",
                    help="indent values over many lines, like kubectl -o json")
    ap.add_argument("--out", required=True, help="the feed stream")
    ap.add_argument("--expect", required=True, help="expected map contents (JSON)")
    ap.add_argument("--endpoints-out", required=True, help="endpoint.add requests (stream)")
    a = ap.parse_args()
    if min(a.namespaces, a.nodes, a.pods, a.services, a.replicas) < 1 or a.endpoints < a.services:
        ap.error("counts must be positive and --endpoints >= --services")

    objs, ep_reqs, expect = build(a)
    indent = 2 if a.pretty else None
    sep = None if a.pretty else (",", ":")
    order = ["Namespace", "Node", "Pod", "Service", "EndpointSlice", "NetworkPolicy"]
    api = {"EndpointSlice": "discovery.k8s.io/v1", "NetworkPolicy": "networking.k8s.io/v1"}
    values = 0
    with open(a.out, "w") as f:
        for kind in order:
            for o in objs[kind]:
                f.write(json.dumps({"type": "ADDED", "object": o}, indent=indent,
                                   separators=sep))
                f.write("\n")
                values += 1
            f.write(json.dumps({"type": "BOOKMARK", "object": {
                "kind": kind, "apiVersion": api.get(kind, "v1"),
                "metadata": {"resourceVersion": str(10 ** 6),
                             "annotations": {"k8s.io/initial-events-end": "true"}}}},
                separators=(",", ":")))
            f.write("\n")
            values += 1
    with open(a.endpoints_out, "w") as f:
        for r in ep_reqs:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    expect["values"] = values
    with open(a.expect, "w") as f:
        json.dump(expect, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
