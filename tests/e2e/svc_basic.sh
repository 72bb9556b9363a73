#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ClusterIP Services through the BPF datapath: TCP and UDP to several
# backends, readiness changes, endpoint removal, a connection surviving a
# backend-set change, hairpin, a client in the node namespace, refusal
# without endpoints, ClientIP affinity, internalTrafficPolicy Local,
# conntrack listing and flushing.
#
#   ┌──────────────── node1 netns (sluiced; Services fed over the socket) ───────────────┐
#   │  sl…client     sl…web-a      sl…web-b      sl…web-c        (client: node1 itself)   │
#   └────┼─────────────┼─────────────┼─────────────┼────────────────────────────────────────┘
#      eth0          eth0          eth0          eth0
#   default/client  shop/web-a    shop/web-b    shop/web-c   (tcp 8080 "web-X", udp 5353
#                                                             "udp-X", tcp 9000 echo)
#   Service shop/web 10.96.0.10: http 80/TCP -> 8080, dns 53/UDP -> 5353, echo 9000/TCP
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-svc.sh"

CIP=10.96.0.10
PORTS='[{"name":"http","port":80,"targetPort":"web"},{"name":"dns","port":53,"protocol":"UDP","targetPort":5353},{"name":"echo","port":9000}]'
SLICE_PORTS='[{"name":"http","port":8080},{"name":"dns","port":5353,"protocol":"UDP"},{"name":"echo","port":9000}]'

expect_ok "sluiced starts on node1" node_up node1 || e2e_finish
for p in default/client shop/web-a shop/web-b shop/web-c; do
	expect_ok "ADD $p" pod_add node1 "${p%/*}" "${p#*/}" || e2e_finish
done
ipa=$(pod_ip shop web-a) ipb=$(pod_ip shop web-b) ipc=$(pod_ip shop web-c)
cli=$(pod_ip default client)
declare -A podip=([a]=$ipa [b]=$ipb [c]=$ipc)
e2e_log "web-a=$ipa web-b=$ipb web-c=$ipc client=$cli"
for x in a b c; do
	serve pod shop "web-$x" tcp 8080 "web-$x"
	serve pod shop "web-$x" udp 5353 "udp-$x"
	# Says who it is, then echoes: for the long-lived connection.
	at pod shop "web-$x" socat "TCP-LISTEN:9000,reuseaddr,fork" "SYSTEM:echo web-$x; cat" \
		</dev/null >/dev/null 2>&1 &
	E2E_PIDS+=("$!")
done
sleep 0.5

slice_v1=$(slice_obj shop web-1 web "$SLICE_PORTS" "$(ep "$ipa")" "$(ep "$ipb")")
slice_v2=$(slice_obj shop web-2 web "$SLICE_PORTS" "$(ep "$ipc")")
expect_ok "feed Service shop/web and two EndpointSlices" \
	apply node1 "$(svc_obj shop web $CIP "$PORTS")" "$slice_v1" "$slice_v2"

# ---- the model --------------------------------------------------------------------
got=$(cnictl_j node1 service get shop/web)
expect_eq "three frontends (http, dns, echo)" "$(jq '.frontends | length' <<<"$got")" 3
expect_eq "targetPort by name resolved through the slice port" \
	"$(jq -r '.frontends[] | select(.portName=="http") | .backends | map(.port) | unique | join(",")' <<<"$got")" 8080
expect_eq "three active backends on http" \
	"$(jq -r '.frontends[] | select(.portName=="http") | .activeBackends' <<<"$got")" 3
expect_match "service list shows it" "$(cnictl_t node1 service list)" "web +ClusterIP +$CIP"
expect_eq "sluice_svc has 3 frontends" "$(cnictl_j node1 bpf map dump sluice_svc | jq length)" 3
expect_eq "sluice_backend has 9 backends (3 pods x 3 ports)" \
	"$(cnictl_j node1 bpf map dump sluice_backend | jq length)" 9

# ---- traffic to several backends ---------------------------------------------------
tcp=$(answers 15 pod default client tcp $CIP 80)
e2e_log "TCP answers: $(oneline <<<"$tcp")"
expect_match "TCP to the ClusterIP is answered by backends only" "$(oneline <<<"$tcp")" '^(web-[abc] ?)+$'
expect_ge "TCP spreads over several backends" "$(wc -l <<<"$tcp")" 2
udp=$(answers 15 pod default client udp $CIP 53)
e2e_log "UDP answers: $(oneline <<<"$udp")"
expect_match "UDP to the ClusterIP is answered by backends only" "$(oneline <<<"$udp")" '^(udp-[abc] ?)+$'
expect_ge "UDP spreads over several backends" "$(wc -l <<<"$udp")" 2

# ---- an established connection survives a backend-set change --------------------
conn_open pod default client "$CIP" 9000
first=$(conn_line 1)
expect_match "long-lived connection reached a backend" "$first" '^web-[abc]$'
keep=${first#web-}
keep_ip=${podip[$keep]}
# Every other pod leaves the Service; the one serving us becomes
# terminating (draining): no new connection goes there, ours stays.
slice_drain=$(slice_obj shop web-1 web "$SLICE_PORTS" "$(ep "$keep_ip" false "" true true)")
expect_ok "backend set changes (others removed, ours draining)" \
	apply node1 "$slice_drain" "$(slice_obj shop web-2 web "$SLICE_PORTS")"
conn_echo still-here
expect_eq "established connection still answered by its backend" "$(conn_line 2)" still-here
conn_close

# Only the draining backend is left: kube-proxy's fallback sends new
# connections to serving terminating endpoints when nothing is ready.
expect_eq "terminating fallback: the draining backend is the only active one" \
	"$(svc_active node1 shop/web)" "$keep_ip:8080"
expect_eq "new connection goes to the draining backend (fallback)" \
	"$(answers 3 pod default client tcp $CIP 80)" "web-$keep"

# ---- readiness change and endpoint removal -----------------------------------------
expect_ok "back to three ready backends" apply node1 "$slice_v1" "$slice_v2"
expect_ok "web-c not ready" apply node1 \
	"$(slice_obj shop web-2 web "$SLICE_PORTS" "$(ep "$ipc" false)")"
tcp=$(answers 15 pod default client tcp $CIP 80)
expect_match "not-ready web-c gets no new connection" "$(oneline <<<"$tcp")" '^(web-[ab] ?)+$'
expect_eq "web-c is still a backend entry (existing flows)" \
	"$(cnictl_j node1 bpf map dump sluice_backend | jq --arg ip "$ipc" '[.[] | select(.value.address == $ip)] | length')" 3
expect_ok "web-b removed from its slice" apply node1 \
	"$(slice_obj shop web-1 web "$SLICE_PORTS" "$(ep "$ipa")")"
expect_eq "only web-a answers after web-b's removal" "$(answers 8 pod default client tcp $CIP 80)" web-a
expect_eq "web-b's backend entries are gone" \
	"$(cnictl_j node1 bpf map dump sluice_backend | jq --arg ip "$ipb" '[.[] | select(.value.address == $ip)] | length')" 0

# ---- hairpin: a pod reaching itself through its Service -----------------------------
expect_ok "Service shop/self with only web-a" apply node1 \
	"$(svc_obj shop self 10.96.0.11 '[{"port":80,"targetPort":8080}]')" \
	"$(slice_obj shop self-1 self '[{"port":8080}]' "$(ep "$ipa")")"
expect_reach "hairpin: web-a -> its own Service -> web-a" pod shop web-a tcp 10.96.0.11 80 web-a

# ---- node-namespace client ----------------------------------------------------------
expect_reach "node namespace reaches the ClusterIP" node node1 tcp 10.96.0.11 80 web-a

# ---- no endpoints: refused at once --------------------------------------------------
expect_ok "Service shop/empty without endpoints" apply node1 \
	"$(svc_obj shop empty 10.96.0.12 '[{"name":"t","port":80},{"name":"u","port":53,"protocol":"UDP"}]')"
t0=$(date +%s%N)
expect_no_reach "TCP to a Service without endpoints fails" pod default client tcp 10.96.0.12 80
ms=$((($(date +%s%N) - t0) / 1000000))
expect_ok "TCP refusal is fast (${ms} ms < 1000 ms: RST/unreachable, not a timeout)" test "$ms" -lt 1000
t0=$(date +%s%N)
out=$(echo hi | at pod default client timeout 5 socat -t 2 - UDP:10.96.0.12:53 2>&1)
ms=$((($(date +%s%N) - t0) / 1000000))
e2e_log "UDP to a Service without endpoints: $out ($ms ms)"
# ICMP port unreachable shows as ECONNREFUSED; the socket-level hook
# refuses connect() itself (EPERM) before any packet leaves.
expect_match "UDP to a Service without endpoints is refused" "$out" 'Connection refused|Operation not permitted'
expect_ok "UDP refusal is fast (${ms} ms < 1500 ms, not the 2 s read timeout)" test "$ms" -lt 1500

# ---- ClientIP affinity -------------------------------------------------------------
expect_ok "web ready on all three again" apply node1 "$slice_v1" "$slice_v2"
expect_ok "Service shop/sticky with ClientIP affinity" apply node1 \
	"$(svc_obj shop sticky 10.96.0.13 '[{"port":80,"targetPort":8080}]' '{"sessionAffinity":"ClientIP"}')" \
	"$(slice_obj shop sticky-1 sticky '[{"port":8080}]' "$(ep "$ipa")" "$(ep "$ipb")" "$(ep "$ipc")")"
sticky=$(answers 12 pod default client tcp 10.96.0.13 80)
expect_eq "ClientIP affinity: one backend for every connection" "$(wc -l <<<"$sticky")" 1
expect_match "  ... and it is a backend" "$sticky" '^web-[abc]$'
expect_eq "affinity timeout defaulted to 10800 s" \
	"$(cnictl_j node1 service get shop/sticky | jq .affinityTimeoutSeconds)" 10800
# The remembered backend stops being ready: affinity must not keep sending
# new connections there (kube-proxy only keeps affinity to ready endpoints).
s=${sticky#web-}
eps=()
for x in a b c; do
	if [ "$x" = "$s" ]; then eps+=("$(ep "${podip[$x]}" false)"); else eps+=("$(ep "${podip[$x]}")"); fi
done
expect_ok "the sticky backend web-$s becomes not ready" apply node1 \
	"$(slice_obj shop sticky-1 sticky '[{"port":8080}]' "${eps[@]}")"
moved=$(answers 6 pod default client tcp 10.96.0.13 80)
expect_eq "affinity moves to one ready backend" "$(wc -l <<<"$moved")" 1
expect_ne "  ... not the not-ready one" "$moved" "$sticky"

# ---- internalTrafficPolicy Local ---------------------------------------------------
expect_ok "Service shop/local: Local policy, only web-b on this node" apply node1 \
	"$(svc_obj shop local 10.96.0.14 '[{"port":80,"targetPort":8080}]' '{"internalTrafficPolicy":"Local"}')" \
	"$(slice_obj shop local-1 local '[{"port":8080}]' "$(ep "$ipa" true node2)" "$(ep "$ipb" true node1)" "$(ep "$ipc" true node2)")"
expect_eq "internalTrafficPolicy Local: only the local endpoint answers" \
	"$(answers 8 pod default client tcp 10.96.0.14 80)" web-b

# ---- the per-packet path (tc), without the socket hooks ----------------------------
# A process outside the node's cgroup is not seen by the cgroup socket hooks:
# its packets are translated by from_pod / to_pod instead.
tc_probe() { # PROTO IP PORT
	local o=TCP
	[ "$1" = udp ] && o=UDP
	echo hi | timeout 5 ip netns exec "$(pod_netns default client)" \
		socat -t 2 -T 2 - "$o:$2:$3${4:+,$4}" 2>&1
}
tcp=$(for _ in {1..10}; do tc_probe tcp $CIP 80 connect-timeout=3; done | sort -u)
e2e_log "tc path TCP answers: $(oneline <<<"$tcp")"
expect_match "tc path: TCP to the ClusterIP answered by backends (replies reverse-translated)" "$(oneline <<<"$tcp")" '^(web-[abc] ?)+$'
expect_ge "tc path: TCP spreads over several backends" "$(wc -l <<<"$tcp")" 2
expect_match "tc path: UDP to the ClusterIP" "$(tc_probe udp $CIP 53)" '^udp-[abc]$'
t0=$(date +%s%N)
out=$(tc_probe tcp 10.96.0.12 80 connect-timeout=3)
ms=$((($(date +%s%N) - t0) / 1000000))
expect_match "tc path: TCP without endpoints is refused (RST/unreachable)" "$out" 'Connection refused|No route to host|unreachable'
expect_ok "tc path: TCP refusal is fast (${ms} ms < 1000 ms)" test "$ms" -lt 1000
out=$(tc_probe udp 10.96.0.12 53)
expect_match "tc path: UDP without endpoints gets ICMP port unreachable" "$out" 'Connection refused'

# ---- deletion ------------------------------------------------------------------------
expect_ok "Service shop/web deleted" delete_obj node1 "$(svc_obj shop web $CIP "$PORTS")"
expect_no_reach "deleted Service no longer answers" pod default client tcp $CIP 80
expect_eq "its frontends left sluice_svc" \
	"$(cnictl_j node1 bpf map dump sluice_svc | jq --arg ip $CIP '[.[] | select(.key.frontend == $ip)] | length')" 0

# ---- conntrack ------------------------------------------------------------------------
# The client's flows to its backends (socket-level translation connects the
# pod straight to the backend, so the tuples may name backend addresses).
e2e_log "conntrack: $(cnictl_j node1 ct list --src "$cli" | jq -c '[.[].key | "\(.src):\(.sport)->\(.dst):\(.dport)/\(.proto)/\(.scope)"]')"
expect_ge "cnictl ct list --src CLIENT --port 8080 shows the client's flows" \
	"$(cnictl_j node1 ct list --src "$cli" --port 8080 | jq length)" 1
expect_eq "  ... and only matching ones" \
	"$(cnictl_j node1 ct list --src "$cli" --port 8080 | jq --arg c "$cli" '[.[] | select(.key.src != $c or (.key.sport != 8080 and .key.dport != 8080))] | length')" 0
expect_ok "cnictl ct flush --src CLIENT --proto tcp --port 8080" \
	cnictl_j node1 ct flush --src "$cli" --proto tcp --port 8080
expect_eq "  ... and they are gone" "$(cnictl_j node1 ct list --src "$cli" --proto tcp --port 8080 | jq length)" 0
expect_ge "ct stats count the flush" "$(cnictl_j node1 ct stats | jq .flushed)" 1
expect_ge "ct stats count created entries" "$(cnictl_j node1 ct stats | jq .created)" 1

e2e_finish
