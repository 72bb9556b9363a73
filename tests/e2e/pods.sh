#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pods added and deleted through the real sluice binary; ICMP, TCP and UDP
# between pods and between the node and pods; CHECK; DEL twice, DEL with a
# missing netns, DEL with an empty CNI_NETNS; anti-spoofing counters.
#
#   ┌───────────── node1 netns (sluiced, gw 10.244.1.1 on every sl* veth) ─────────────┐
#   │  sl…a        sl…b        sl…c        sl…d                                          │
#   └───┼───────────┼───────────┼───────────┼────────────────────────────────────────────┘
#     eth0        eth0        eth0        eth0
#   default/a   default/b   other/c     default/d      (pod netns, IP/32, default via gw)
source "$(dirname "$0")/lib.sh"

expect_ok "sluiced starts on node1" node_up node1 || e2e_finish
gw=$(node_gw node1)

for p in default/a default/b other/c default/d; do
	expect_ok "ADD $p" pod_add node1 "${p%/*}" "${p#*/}"
done
ipa=$(pod_ip default a) ipb=$(pod_ip default b) ipc=$(pod_ip other c) ipd=$(pod_ip default d)
e2e_log "a=$ipa b=$ipb c=$ipc d=$ipd gw=$gw"

# ---- the ADD result and the wiring ------------------------------------------------
res=$(pod_result default a)
expect_eq "result cniVersion is the request's" "$(jq -r .cniVersion "$res")" "1.1.0"
expect_match "a's address is in the node's pod CIDR" "$ipa" '^10\.244\.1\.[0-9]+$'
expect_eq "four distinct addresses" "$(printf '%s\n' "$ipa" "$ipb" "$ipc" "$ipd" | sort -u | grep -c .)" 4
expect_ne "the gateway is not handed out" "$ipa" "$gw"
expect_eq "result names the sandbox interface" \
	"$(jq -r --arg n "/run/netns/$(pod_netns default a)" '[.interfaces[] | select(.sandbox == $n) | .name][0]' "$res")" eth0
expect_eq "result gateway" "$(jq -r '.ips[0].gateway // empty' "$res")" "$gw"
expect_match "pod eth0 holds the address" "$(pod_exec default a ip -4 -o addr show dev eth0)" "inet $ipa/"
expect_match "pod default route via the gateway" "$(pod_exec default a ip -4 route show default)" "default via $gw dev eth0"
hostif=$(jq -r '[.interfaces[] | select(has("sandbox") | not) | .name][0] // empty' "$res")
expect_match "host veth named sl + 12 hex" "$hostif" '^sl[0-9a-f]{12}$'
expect_ok "host veth exists in node1" ip -n "$(node_netns node1)" link show dev "$hostif"
expect_eq "four host veths" "$(host_links node1)" 4
expect_eq "four leases" "$(leases node1)" 4
mode=$(node_attach node1)
expect_match "sluiced reports its attach mode" "$mode" '^tcx?$'
expect_match "the pinned from_pod runs at the host veth's ingress" \
	"$(pod_datapath node1 default a ingress)" "^$mode from_pod [0-9]+ current\$"
expect_match "the pinned to_pod runs at the host veth's egress" \
	"$(pod_datapath node1 default a egress)" "^$mode to_pod [0-9]+ current\$"

# ---- pod to pod ---------------------------------------------------------------------
expect_ok "ICMP a -> b" ping_from pod default a "$ipb"
expect_ok "ICMP b -> a" ping_from pod default b "$ipa"
expect_ok "ICMP a -> c (other namespace)" ping_from pod default a "$ipc"
serve pod default b tcp 8080 hello-b
serve pod default b udp 5353 udp-b
serve pod default a tcp 8080 hello-a
expect_reach "TCP a -> b" pod default a tcp "$ipb" 8080 hello-b
expect_reach "TCP c -> a" pod other c tcp "$ipa" 8080 hello-a
expect_reach "UDP a -> b" pod default a udp "$ipb" 5353 udp-b
expect_no_reach "TCP a -> b closed port is refused" pod default a tcp "$ipb" 9999

# Pod-to-pod must not depend on the node's IP forwarding: with forwarding off
# in the node netns the host stack cannot route between veths, only the BPF
# redirect can deliver.
nodens=$(node_netns node1)
fwd=$(ip netns exec "$nodens" sysctl -n net.ipv4.ip_forward)
ip netns exec "$nodens" sysctl -qw net.ipv4.ip_forward=0
expect_ok "ICMP a -> b with node forwarding off (BPF redirect)" ping_from pod default a "$ipb"
expect_reach "TCP c -> b with node forwarding off" pod other c tcp "$ipb" 8080 hello-b
ip netns exec "$nodens" sysctl -qw net.ipv4.ip_forward="$fwd"

# ---- node <-> pod -------------------------------------------------------------------
expect_ok "ICMP node -> a" ping_from node node1 "$ipa"
expect_reach "TCP node -> b" node node1 tcp "$ipb" 8080 hello-b
expect_reach "UDP node -> b" node node1 udp "$ipb" 5353 udp-b
serve node node1 tcp 10250 kubelet
serve node node1 udp 10251 node-udp
expect_ok "ICMP a -> gateway (node)" ping_from pod default a "$gw"
expect_reach "TCP a -> node" pod default a tcp "$gw" 10250 kubelet
expect_reach "UDP c -> node" pod other c udp "$gw" 10251 node-udp

# ---- controller view and maps ----------------------------------------------------------
eps=$(request node1 '{"request":"endpoint.list"}')
expect_eq "endpoint.list has the four pods" "$(jq '.endpoints | length' <<<"$eps")" 4
expect_eq "endpoint a carries namespace/pod" \
	"$(jq -r --arg ip "$ipa" '.endpoints[] | select(any(.ips[]?; startswith($ip))) | "\(.namespace)/\(.pod)"' <<<"$eps")" "default/a"
expect_eq "endpoint records on disk" "$(endpoint_records node1)" 4
epdump=$(cnictl_j node1 bpf map dump sluice_ep)
for ip in "$ipa" "$ipb" "$ipc" "$ipd"; do
	expect_match "sluice_ep has $ip" "$epdump" "\"$ip\""
done
expect_ge "forwarded packets counted (egress)" "$(metric node1 forwarded egress)" 1

# ---- CHECK ------------------------------------------------------------------------------
expect_ok "CHECK a" pod_check default a
pod_exec default d ip route del default
expect_fail "CHECK d without its default route fails" pod_check default d
expect_match "CHECK failure is a CNI error" "$(cni_code)" '^[0-9]+$'

# ---- anti-spoofing --------------------------------------------------------------------
spoof0=$(metric node1 spoofed-source-ip egress)
pod_exec default a ip addr add 10.244.1.250/32 dev eth0
expect_fail "a pinging with a forged source IP gets no reply" \
	pod_exec default a ping -n -c 2 -i 0.2 -W 1 -I 10.244.1.250 "$ipb"
expect_ge "forged source IP drops counted" "$(( $(metric node1 spoofed-source-ip egress) - spoof0 ))" 2
pod_exec default a ip addr del 10.244.1.250/32 dev eth0
expect_ok "a reaches b again with its own address" ping_from pod default a "$ipb"

mac0=$(pod_exec default a cat /sys/class/net/eth0/address)
smac0=$(metric node1 spoofed-source-mac egress)
pod_exec default a ip link set dev eth0 address 02:de:ad:be:ef:01
expect_fail "a with a forged MAC gets no reply" pod_exec default a ping -n -c 2 -i 0.2 -W 1 "$ipb"
expect_ge "forged source MAC drops counted" "$(( $(metric node1 spoofed-source-mac egress) - smac0 ))" 1
pod_exec default a ip link set dev eth0 address "$mac0"
expect_ok "a reaches b again with its own MAC" ping_from pod default a "$ipb"

# ---- DEL ----------------------------------------------------------------------------------
hostb=$(jq -r '[.interfaces[] | select(has("sandbox") | not) | .name][0]' "$(pod_result default b)")
expect_ok "DEL b" pod_del default b
expect_ok "b's host veth is gone" link_gone node1 "$hostb"
expect_eq "b's lease is released" "$(leases node1)" 3
expect_no_reach "a cannot reach b after DEL" pod default a tcp "$ipb" 8080
expect_fail "b's address is gone from sluice_ep" grep -q "\"$ipb\"" <<<"$(cnictl_j node1 bpf map dump sluice_ep)"
expect_eq "endpoint.list has three" "$(request node1 '{"request":"endpoint.list"}' | jq '.endpoints | length')" 3
expect_ok "DEL b again (idempotent)" pod_del default b
expect_ok "ADD b again" pod_add node1 default b
expect_ne "a released address is handed out last" "$(pod_ip default b)" "$ipb"
expect_ok "a -> new b" ping_from pod default a "$(pod_ip default b)"

# DEL when the runtime already removed the netns.
pod_destroy other c
expect_ok "DEL c with its netns gone" pod_del other c
expect_eq "c's host veth removed" "$(host_links_settled node1 3)" 3
expect_eq "c's lease released" "$(leases node1)" 3

# DEL with an empty CNI_NETNS (containerd's second and third DEL).
mapfile -t env < <(pod_env default d DEL | sed 's|^CNI_NETNS=.*|CNI_NETNS=|')
expect_ok "DEL d with empty CNI_NETNS" cni_exec node1 "$(node_conf node1)" "${env[@]}"
expect_eq "d's host veth removed" "$(host_links_settled node1 2)" 2
expect_eq "d's lease released" "$(leases node1)" 2
expect_ok "DEL d once more with empty CNI_NETNS" cni_exec node1 "$(node_conf node1)" "${env[@]}"

for p in default/a default/b; do
	expect_ok "DEL $p" pod_del "${p%/*}" "${p#*/}"
done
expect_eq "no host veth left" "$(host_links_settled node1 0)" 0
expect_eq "no lease left" "$(leases node1)" 0
expect_eq "no endpoint record left" "$(endpoint_records node1)" 0
expect_eq "sluiced still running" "$(sluiced_running node1 && echo yes)" yes

e2e_finish
