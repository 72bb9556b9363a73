#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Objects for the policy recompute benchmark (hack/bench/policy.sh).

A cluster of NNS namespaces ns0.. (label team=tN%3), PODS pods each
(pod J: labels app=a{J%10}, tier=t{J%4}, a container port named http 8080,
on NODE, IP 10.244.N.J+2) and POLS NetworkPolicies each (policy K of ns N:
selects app=a{K%10}; ingress from app=a{(K+1)%10} in the same namespace OR
tier=t{K%4} in namespaces with team=t{N%3}, TCP 8000+K; every 5th also
egress to an ipBlock 10.N.K.0/24 except its /28, TCP 443).

  policy_gen.py world NNS PODS POLS NODE       Namespaces, Pods, Policies
  policy_gen.py endpoints NNS PODS             endpoint.add requests
  policy_gen.py change PORT                    ns0/p0 with its ingress port
                                               set to PORT (a MODIFIED event)
One JSON value per line.
"""
import json
import sys


def out(o):
    sys.stdout.write(json.dumps(o, separators=(",", ":")) + "\n")


def pod_ip(n, j):
    return "10.244.%d.%d" % (n, j + 2)


def policy(n, k, port=None):
    spec = {
        "podSelector": {"matchLabels": {"app": "a%d" % (k % 10)}},
        "policyTypes": ["Ingress"],
        "ingress": [{
            "from": [
                {"podSelector": {"matchLabels": {"app": "a%d" % ((k + 1) % 10)}}},
                {"namespaceSelector": {"matchLabels": {"team": "t%d" % (n % 3)}},
                 "podSelector": {"matchExpressions": [
                     {"key": "tier", "operator": "In", "values": ["t%d" % (k % 4)]}]}},
            ],
            "ports": [{"protocol": "TCP", "port": port if port else 8000 + k}],
        }],
    }
    if k % 5 == 0:
        spec["policyTypes"].append("Egress")
        spec["egress"] = [{
            "to": [{"ipBlock": {"cidr": "10.%d.%d.0/24" % (n, k % 256),
                                "except": ["10.%d.%d.0/28" % (n, k % 256)]}}],
            "ports": [{"protocol": "TCP", "port": 443}],
        }]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"namespace": "ns%d" % n, "name": "p%d" % k}, "spec": spec}


def world(nns, pods, pols, node):
    for n in range(nns):
        out({"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "ns%d" % n,
                          "labels": {"kubernetes.io/metadata.name": "ns%d" % n,
                                     "team": "t%d" % (n % 3)}}})
    for n in range(nns):
        for j in range(pods):
            out({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"namespace": "ns%d" % n, "name": "pod%d" % j,
                              "labels": {"app": "a%d" % (j % 10), "tier": "t%d" % (j % 4)}},
                 "spec": {"nodeName": node, "containers": [{
                     "name": "c", "image": "bench",
                     "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]},
                 "status": {"phase": "Running", "podIP": pod_ip(n, j),
                            "podIPs": [{"ip": pod_ip(n, j)}]}})
    for n in range(nns):
        for k in range(pols):
            out(policy(n, k))


def endpoints(nns, pods):
    for n in range(nns):
        for j in range(pods):
            i = n * pods + j
            out({"request": "endpoint.add", "containerID": "bench%06d" % i, "ifname": "eth0",
                 "namespace": "ns%d" % n, "pod": "pod%d" % j,
                 "netns": "/run/netns/bench-none", "ips": [pod_ip(n, j) + "/24"],
                 "mac": "02:bb:00:00:%02x:%02x" % (i >> 8, i & 255),
                 "hostIfname": "slb%06d" % i, "hostIfindex": 100000 + i,
                 "hostMac": "02:cc:00:00:%02x:%02x" % (i >> 8, i & 255)})


def main(argv):
    if len(argv) == 6 and argv[1] == "world":
        world(int(argv[2]), int(argv[3]), int(argv[4]), argv[5])
    elif len(argv) == 4 and argv[1] == "endpoints":
        endpoints(int(argv[2]), int(argv[3]))
    elif len(argv) == 3 and argv[1] == "change":
        out({"type": "MODIFIED", "object": policy(0, 0, int(argv[2]))})
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
