#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Objects for the Service benchmark (hack/bench/svc.sh).

  svc_gen.py feed FROM TO
      Service + EndpointSlice JSON values (one per line) for the filler
      Services FROM..TO-1 of namespace bench: filler-I on 10.100.I/250.I%250+1
      port 80 -> two ready endpoints 10.245.x.y:8080 on another node (the
      same scheme as hack/bench/pktcost.c).
  svc_gen.py target NAME VIP BACKEND PORT NODE
      A Service under test, bench/NAME VIP:80 -> BACKEND:PORT (one ready
      endpoint on NODE), and its EndpointSlice.
  svc_gen.py iptables N TARGET_VIP TARGET_BACKEND:PORT CLUSTER_CIDR
      iptables-restore input for the nat and filter tables that kube-proxy's
      iptables mode writes for the same N Services (N-1 fillers and the
      Service under test bench/target TARGET_VIP:80 -> TARGET_BACKEND:PORT):
      KUBE-SERVICES -> KUBE-SVC-* -> KUBE-SEP-* with statistic --mode random
      and DNAT, KUBE-MARK-MASQ, KUBE-POSTROUTING, KUBE-NODEPORTS last. The
      Service under test sits in the middle of KUBE-SERVICES: kube-proxy's
      order is its map iteration order, so on average a Service is halfway.
"""
import base64
import hashlib
import json
import sys


def filler(i):
    vip = "10.100.%d.%d" % (i // 250, i % 250 + 1)
    eps = ["10.245.%d.%d" % (i // 120, (i % 120) * 2 + 1),
           "10.245.%d.%d" % (i // 120, (i % 120) * 2 + 2)]
    return "filler-%d" % i, vip, eps


def objects(name, vip, eps, node, port=8080):
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"namespace": "bench", "name": name},
           "spec": {"clusterIP": vip, "ports": [
               {"name": "http", "port": 80, "targetPort": port, "protocol": "TCP"}]}}
    sl = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
          "metadata": {"namespace": "bench", "name": name,
                       "labels": {"kubernetes.io/service-name": name}},
          "addressType": "IPv4",
          "endpoints": [{"addresses": [a], "conditions": {"ready": True},
                         "nodeName": node} for a in eps],
          "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}
    for o in (svc, sl):
        sys.stdout.write(json.dumps(o, separators=(",", ":")) + "\n")


def feed(lo, hi):
    for i in range(lo, hi):
        name, vip, eps = filler(i)
        objects(name, vip, eps, "other")


def chain(prefix, *parts):
    # kube-proxy: prefix + first 16 chars of base32(sha256(...)).
    h = hashlib.sha256("".join(parts).encode()).digest()
    return prefix + base64.b32encode(h).decode()[:16]


def iptables(n, vip, backend, cluster_cidr):
    services = []
    for i in range(1, n):
        name, fvip, eps = filler(i)
        services.append(("bench/%s:http" % name, fvip, ["%s:8080" % e for e in eps]))
    services.insert(len(services) // 2, ("bench/target:http", vip, [backend]))

    chains, nat = [], []
    for spn, svip, eps in services:
        svc = chain("KUBE-SVC-", spn, "tcp")
        chains.append(svc)
        nat.append('-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment "%s cluster IP" '
                   '-m tcp --dport 80 -j %s' % (svip, spn, svc))
        nat.append('-A %s ! -s %s -d %s/32 -p tcp -m comment --comment "%s cluster IP" '
                   '-m tcp --dport 80 -j KUBE-MARK-MASQ' % (svc, cluster_cidr, svip, spn))
        for k, ep in enumerate(eps):
            sep = chain("KUBE-SEP-", spn, "tcp", ep)
            chains.append(sep)
            left = len(eps) - k
            prob = ("-m statistic --mode random --probability %.11f " % (1.0 / left)
                    if left > 1 else "")
            nat.append('-A %s -m comment --comment "%s -> %s" %s-j %s'
                       % (svc, spn, ep, prob, sep))
            nat.append('-A %s -s %s/32 -m comment --comment "%s" -j KUBE-MARK-MASQ'
                       % (sep, ep.split(":")[0], spn))
            nat.append('-A %s -p tcp -m comment --comment "%s" -m tcp -j DNAT '
                       '--to-destination %s' % (sep, spn, ep))
    nat.append('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: '
               'this must be the last rule in this chain" -m addrtype --dst-type LOCAL '
               '-j KUBE-NODEPORTS')

    w = sys.stdout.write
    w("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
      ":KUBE-FORWARD - [0:0]\n:KUBE-SERVICES - [0:0]\n")
    w('-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" '
      '-j KUBE-SERVICES\n')
    w('-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD\n')
    w('-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" '
      '-j KUBE-SERVICES\n')
    w("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n")
    w('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" '
      '-m mark --mark 0x4000/0x4000 -j ACCEPT\n')
    w('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
      '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n')
    w("COMMIT\n")
    w("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
      ":POSTROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n"
      ":KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n")
    for c in chains:
        w(":%s - [0:0]\n" % c)
    w('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n')
    w('-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n')
    w('-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING\n')
    w("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n")
    w("-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n")
    w("-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n")
    w('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
      '-j MASQUERADE --random-fully\n')
    w("\n".join(nat) + "\n")
    w("COMMIT\n")


def main(argv):
    if len(argv) == 4 and argv[1] == "feed":
        feed(int(argv[2]), int(argv[3]))
    elif len(argv) == 7 and argv[1] == "target":
        objects(argv[2], argv[3], [argv[4]], argv[6], int(argv[5]))
    elif len(argv) == 6 and argv[1] == "iptables":
        iptables(int(argv[2]), argv[3], argv[4], argv[5])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
