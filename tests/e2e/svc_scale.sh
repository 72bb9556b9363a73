#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Thousands of Services: 2000 Services (each with its own EndpointSlice over
# the same two backend pods) fed as one List, then traffic to a few of them,
# one update among them, and deletion of all. Checks the maps hold exactly
# what the model says and that a backend shared by every Service has one id.
#
#   ┌──────────── node1 netns (sluiced) ────────────┐
#   │  sl…client      sl…be-1      sl…be-2           │
#   └────┼──────────────┼────────────┼───────────────┘
#   default/client   app/be-1     app/be-2   (tcp 8080 "be-N")
#   Services app/s0 .. app/s1999: 10.100.X.Y:80 -> 8080
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-svc.sh"

N=${SVC_SCALE_N:-2000}

expect_ok "sluiced starts on node1" node_up node1 || e2e_finish
for p in default/client app/be-1 app/be-2; do
	expect_ok "ADD $p" pod_add node1 "${p%/*}" "${p#*/}" || e2e_finish
done
ip1=$(pod_ip app be-1) ip2=$(pod_ip app be-2)
serve pod app be-1 tcp 8080 be-1
serve pod app be-2 tcp 8080 be-2

# cip I: the cluster IP of Service sI (10.100.0.1 upwards).
cip() { echo "10.100.$(($1 / 250)).$(($1 % 250 + 1))"; }

list=$E2E_ROOT/list.json
jq -cn --argjson n "$N" --arg ip1 "$ip1" --arg ip2 "$ip2" '
  {kind:"List", items: [range(0; $n) as $i |
    ({apiVersion:"v1", kind:"Service",
      metadata:{namespace:"app", name:"s\($i)"},
      spec:{clusterIP:"10.100.\($i / 250 | floor).\($i % 250 + 1)",
            ports:[{port:80, targetPort:8080}]}},
     {apiVersion:"discovery.k8s.io/v1", kind:"EndpointSlice",
      metadata:{namespace:"app", name:"s\($i)-1", labels:{"kubernetes.io/service-name":"s\($i)"}},
      addressType:"IPv4", ports:[{port:8080}],
      endpoints:[{addresses:[$ip1]}, {addresses:[$ip2]}]})]}' >"$list"

t0=$(date +%s%N)
out=$(feed node1 <"$list")
ms=$((($(date +%s%N) - t0) / 1000000))
e2e_log "fed $N Services + $N slices in $ms ms"
expect_eq "the List of $N Services and slices is accepted" "$out" '{"ok":true}'
expect_eq "sluice_svc holds $N frontends" "$(cnictl_j node1 bpf map dump sluice_svc | jq length)" "$N"
expect_eq "one backend id per endpoint, shared by every Service" \
	"$(cnictl_j node1 bpf map dump sluice_backend | jq length)" 2
expect_eq "one Maglev table per frontend" "$(cnictl_j node1 bpf map dump sluice_maglev | jq length)" "$N"
expect_eq "service list shows $N Services" "$(cnictl_j node1 service list | jq length)" "$N"

for i in 0 $((N / 2)) $((N - 1)); do
	got=$(probe pod default client tcp "$(cip $i)" 80)
	expect_match "Service s$i ($(cip $i)) answers" "$got" '^be-[12]$'
done

# One update among thousands: s7 loses be-2.
expect_ok "s7 loses be-2" apply node1 \
	"$(slice_obj app s7-1 s7 '[{"port":8080}]' "$(ep "$ip1")")"
expect_eq "s7 now only reaches be-1" "$(answers 6 pod default client tcp "$(cip 7)" 80)" be-1
expect_eq "be-2 keeps its one entry (other Services use it)" \
	"$(cnictl_j node1 bpf map dump sluice_backend | jq length)" 2

# Delete every Service: a List of DELETED events is not a thing, so a
# stream of watch events.
jq -c '.items[] | select(.kind == "Service") | {type:"DELETED", object:.}' "$list" >"$E2E_ROOT/del.json"
out=$(feed node1 <"$E2E_ROOT/del.json" | sort | uniq -c | awk '{print $1, $2}')
expect_eq "$N DELETED events accepted" "$out" "$N {\"ok\":true}"
expect_eq "sluice_svc is empty" "$(cnictl_j node1 bpf map dump sluice_svc | jq length)" 0
expect_eq "sluice_maglev is empty" "$(cnictl_j node1 bpf map dump sluice_maglev | jq length)" 0
expect_eq "sluice_revnat is empty" "$(cnictl_j node1 bpf map dump sluice_revnat | jq length)" 0
expect_eq "sluice_backend is empty" "$(cnictl_j node1 bpf map dump sluice_backend | jq length)" 0

e2e_finish
