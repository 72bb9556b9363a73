#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An upgrade from a build whose pinned maps have another layout: sluice_ct
# with the previous build's 40-byte key, sluice_ep_stats as a per-CPU hash.
# libbpf cannot reuse such pins; sluiced replaces them with fresh maps (one
# warning each), keeps every compatible map (sluice_ep: same map, same
# entries), moves the pods' veths to the new programs, and traffic goes on.
# The previous build is simulated by pinning maps of its layout in place of
# the current ones (the attached programs keep using theirs) and removing the
# build marker.
#
#   ┌──────── node1 netns: sluiced ✗ kill -9 … old-layout pins … start … restart ──┐
#   │  <bpffs>/sluice_ct (key 40 B → 16 B)  sluice_ep_stats (hash → array)           │
#   │  sl…a ─────────────── BPF redirect ─────────────── sl…b                        │
#   └───┼───────────────────────────────────────────────────┼────────────────────────┘
#     default/a  ──────── ping every 0.1 s ────────────▶  default/b
source "$(dirname "$0")/lib.sh"

expect_ok "sluiced starts" node_up node1 || e2e_finish
expect_ok "ADD a" pod_add node1 default a || e2e_finish
expect_ok "ADD b" pod_add node1 default b || e2e_finish
ipb=$(pod_ip default b)
bpffs=$(node_bpffs node1)
log=$(node_dir node1)/sluiced.log

map_json() { bpftool -j map show pinned "$bpffs/$1" 2>/dev/null; }
map_id() { map_json "$1" | jq -r '.id // empty'; }
map_field() { map_json "$1" | jq -r ".$2 // empty"; }
map_entries() { bpftool -j map dump pinned "$bpffs/$1" 2>/dev/null | jq 'length'; }

expect_ok "a -> b before the upgrade" ping_from pod default a "$ipb"
expect_eq "sluice_ct has this build's 16-byte key" "$(map_field sluice_ct bytes_key)" 16
ep_map=$(map_id sluice_ep)
ct_entries=$(map_field sluice_ct max_entries)

pinglog=$E2E_ROOT/ping.log
pod_exec default a ping -n -i 0.1 -w 20 "$ipb" >"$pinglog" 2>&1 &
pingpid=$!
E2E_PIDS+=("$pingpid")
sleep 1

expect_ok "sluiced stops with SIGKILL" sluiced_stop node1 KILL
rmdir "$bpffs"/progs/build-* 2>/dev/null
# The previous build's layouts, pinned where this build's maps are.
rm -f "$bpffs/sluice_ct" "$bpffs/sluice_ep_stats"
expect_ok "pin a sluice_ct with a 40-byte key" bpftool map create "$bpffs/sluice_ct" \
	type lru_hash key 40 value 64 entries "$ct_entries" name sluice_ct
expect_ok "pin a sluice_ep_stats as a per-CPU hash" bpftool map create "$bpffs/sluice_ep_stats" \
	type percpu_hash key 4 value 48 entries 1024 name sluice_ep_stats
old_ct=$(map_id sluice_ct)

expect_ok "sluiced starts over the old layouts" sluiced_start node1
expect_match "the sluice_ct replacement is logged" "$(cat "$log")" \
	'sluice_ct: pinned layout key 40 B/value 64 B differs from this build.s key 16 B/value 64 B: replacing it'
expect_match "the sluice_ep_stats replacement is logged" "$(cat "$log")" \
	'sluice_ep_stats: pinned layout percpu_hash key 4 B/value 48 B differs from this build.s percpu_array'
expect_eq "sluice_ct now has the 16-byte key" "$(map_field sluice_ct bytes_key)" 16
expect_ne "sluice_ct is a new map" "$(map_id sluice_ct)" "$old_ct"
expect_eq "sluice_ct kept its size" "$(map_field sluice_ct max_entries)" "$ct_entries"
expect_eq "sluice_ep_stats is a per-CPU array again" "$(map_field sluice_ep_stats type)" \
	percpu_array
expect_eq "sluice_ep is the same map" "$(map_id sluice_ep)" "$ep_map"
expect_match "sluice_ep still holds b" "$(cnictl_j node1 bpf map dump sluice_ep)" "\"$ipb\""
expect_eq "no old-* pins left" "$(compgen -G "$bpffs/old-*" | wc -l)" 0
expect_match "the new build marker is pinned" "$(ls "$bpffs/progs")" 'build-[0-9a-f]{16}'
expect_ok "a -> b after the upgrade" ping_from pod default a "$ipb"
expect_ge "the new programs track connections in the new sluice_ct" \
	"$(map_entries sluice_ct)" 1

new_ct=$(map_id sluice_ct)
expect_ok "sluiced stops (TERM)" sluiced_stop node1 TERM
expect_ok "sluiced restarts" sluiced_start node1
expect_eq "a restart keeps the new sluice_ct" "$(map_id sluice_ct)" "$new_ct"

kill -INT "$pingpid" 2>/dev/null
wait "$pingpid" 2>/dev/null
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$pinglog")
recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$pinglog")
e2e_log "continuous ping: sent=$sent received=$recv"
expect_ge "continuous ping sent packets" "${sent:-0}" 10
expect_ge "continuous ping lost at most one packet across the upgrade" "${recv:-0}" \
	$((${sent:-0} - 1))

for p in a b; do expect_ok "DEL $p" pod_del default $p; done
expect_eq "nothing left" "$(host_links_settled node1 0) $(endpoint_records node1)" "0 0"

e2e_finish
