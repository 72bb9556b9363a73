#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An upgrade of sluiced (programs built from different objects) replaces the
# pinned programs atomically and moves every pod's host veth and every
# cgroup link to them in place, without interrupting traffic or touching the
# pinned maps. The upgrade is simulated by removing the build marker
# (<bpffs>/progs/build-<hash>): sluiced then treats the pinned programs as
# another build's.
#
#   ┌────────── node1 netns: sluiced ✗ kill -9 … "upgrade" start … restart ───────┐
#   │  <bpffs>/progs/{from_pod,to_pod,sock_*}  links/sock_*  sluice_* (kept)      │
#   │  sl…a ─────────────── BPF redirect ─────────────── sl…b                     │
#   └───┼───────────────────────────────────────────────────┼─────────────────────┘
#     default/a  ──────── ping every 0.1 s ────────────▶  default/b
source "$(dirname "$0")/lib.sh"

expect_ok "sluiced starts" node_up node1 || e2e_finish
expect_ok "ADD a" pod_add node1 default a || e2e_finish
expect_ok "ADD b" pod_add node1 default b || e2e_finish
ipb=$(pod_ip default b)
bpffs=$(node_bpffs node1)

prog_id() { bpftool -j prog show pinned "$bpffs/progs/$1" 2>/dev/null | jq -r '.id // empty'; }
map_id() { bpftool -j map show pinned "$bpffs/$1" 2>/dev/null | jq -r '.id // empty'; }
link_prog() { bpftool -j link show pinned "$bpffs/links/$1" 2>/dev/null | jq -r '.prog_id // empty'; }
# attached POD DIR: id of the program on POD's host veth at DIR (ingress/egress).
attached() { pod_datapath node1 default "$1" "$2" | cut -d' ' -f3; }
links() { ls "$bpffs/links" 2>/dev/null; }

from_id=$(prog_id from_pod) to_id=$(prog_id to_pod) ep_map=$(map_id sluice_ep)
expect_match "from_pod is pinned" "$from_id" '^[0-9]+$'
expect_eq "b's ingress runs the pinned from_pod" "$(attached b ingress)" "$from_id"
expect_match "a build marker is pinned" "$(ls "$bpffs/progs")" 'build-[0-9a-f]{16}'
declare -A link_before
for l in $(links); do link_before[$l]=$(link_prog "$l"); done
expect_ge "cgroup links are pinned" "${#link_before[@]}" 1

pinglog=$E2E_ROOT/ping.log
pod_exec default a ping -n -i 0.1 -w 20 "$ipb" >"$pinglog" 2>&1 &
pingpid=$!
E2E_PIDS+=("$pingpid")
sleep 1

expect_ok "sluiced stops with SIGKILL" sluiced_stop node1 KILL
rmdir "$bpffs"/progs/build-* 2>/dev/null
expect_ok "sluiced starts as another build" sluiced_start node1
new_from=$(prog_id from_pod) new_to=$(prog_id to_pod)
expect_ne "from_pod was replaced" "$new_from" "$from_id"
expect_ne "to_pod was replaced" "$new_to" "$to_id"
for p in a b; do
	expect_eq "$p's ingress runs the new from_pod" "$(attached "$p" ingress)" "$new_from"
	expect_eq "$p's egress runs the new to_pod" "$(attached "$p" egress)" "$new_to"
done
for l in "${!link_before[@]}"; do
	expect_eq "link $l runs the new pinned program" "$(link_prog "$l")" "$(prog_id "$l")"
	expect_ne "link $l changed program" "$(link_prog "$l")" "${link_before[$l]}"
done
expect_eq "sluice_ep is the same map" "$(map_id sluice_ep)" "$ep_map"
expect_match "sluice_ep still holds b" "$(cnictl_j node1 bpf map dump sluice_ep)" "\"$ipb\""
expect_match "the new build marker is pinned" "$(ls "$bpffs/progs")" 'build-[0-9a-f]{16}'
expect_eq "no temporary pins left" "$(ls "$bpffs/progs" "$bpffs/links" | grep -c '^new-')" 0
expect_ok "a -> b after the upgrade" ping_from pod default a "$ipb"

expect_ok "sluiced stops (TERM)" sluiced_stop node1 TERM
expect_ok "sluiced restarts" sluiced_start node1
expect_eq "restart after the upgrade keeps from_pod" "$(prog_id from_pod)" "$new_from"
expect_eq "restart after the upgrade keeps b's program" "$(attached b ingress)" "$new_from"

kill -INT "$pingpid" 2>/dev/null
wait "$pingpid" 2>/dev/null
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$pinglog")
recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$pinglog")
e2e_log "continuous ping: sent=$sent received=$recv"
expect_ge "continuous ping sent packets" "${sent:-0}" 10
expect_ge "continuous ping lost nothing across the upgrade" "${recv:-0}" $(( ${sent:-0} - 1 ))

for p in a b; do expect_ok "DEL $p" pod_del default $p; done
expect_eq "nothing left" "$(host_links_settled node1 0) $(endpoint_records node1)" "0 0"

e2e_finish
