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
# Then a second upgrade replaces maps the model fills: sluice_svc and the
# policy's sluice_pol_ep (larger values). A first attempt fails after the
# load (no such cgroup): the previous maps are pinned again, no build marker
# is left, Service and policy work on. The next start must refill the maps
# before any hook runs a program reading them: it is held inside model_init
# (the model's Service file is a FIFO that the test feeds late), and while
# it is held a new connection to the ClusterIP, and one established before
# the upgrade, must work, and b's ingress policy must still refuse port
# 7000: the hooks still run the previous programs on their (full) maps.
#
#   ┌──────── node1 netns: sluiced ✗ kill -9 … old-layout pins … start … restart ──┐
#   │  <bpffs>/sluice_ct (key 40 B → 16 B)  sluice_ep_stats (hash → array)           │
#   │  sl…a ─────────────── BPF redirect ─────────────── sl…b                        │
#   └───┼───────────────────────────────────────────────────┼────────────────────────┘
#     default/a  ──────── ping every 0.1 s ────────────▶  default/b
#                ──── Service default/web 10.96.0.10:80 → b:8080, :9000 echo ──▶
#                ──── b:7000 ✗ (NetworkPolicy: b's ingress allows 8080, 9000) ──▶
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-svc.sh"

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

# ---- second upgrade: a model-filled map (sluice_svc) is replaced ----------
CIP=10.96.0.10
expect_ok "b serves tcp 8080" serve pod default b tcp 8080 web-b
at pod default b socat "TCP-LISTEN:9000,reuseaddr,fork" "SYSTEM:echo web-b; cat" \
	</dev/null >/dev/null 2>&1 &
E2E_PIDS+=("$!")
sleep 0.5
expect_ok "feed Service default/web and its slice" apply node1 \
	"$(svc_obj default web $CIP '[{"name":"http","port":80,"targetPort":8080},{"name":"echo","port":9000}]')" \
	"$(slice_obj default web-1 web '[{"name":"http","port":8080},{"name":"echo","port":9000}]' "$(ep "$ipb")")"
expect_reach "a -> Service before the second upgrade" pod default a tcp $CIP 80 web-b
svc_key=$(map_field sluice_svc bytes_key)
svc_value=$(map_field sluice_svc bytes_value)
svc_max=$(map_field sluice_svc max_entries)
svc_n=$(map_entries sluice_svc)
expect_ge "sluice_svc holds the Service's frontends" "${svc_n:-0}" 2

# b isolated for ingress: only 8080 and 9000 (from anywhere) are allowed.
expect_ok "b serves tcp 7000" serve pod default b tcp 7000 b-7000
expect_ok "feed Namespace default, Pod b and b's NetworkPolicy" apply node1 \
	"$(jq -cn '{apiVersion:"v1",kind:"Namespace",metadata:{name:"default",
		labels:{"kubernetes.io/metadata.name":"default"}}}')" \
	"$(jq -cn --arg ip "$ipb" '{apiVersion:"v1",kind:"Pod",
		metadata:{namespace:"default",name:"b",labels:{pod:"b"}},
		spec:{nodeName:"node1",containers:[{name:"c",image:"busybox"}]},
		status:{phase:"Running",podIP:$ip,podIPs:[{ip:$ip}]}}')" \
	"$(jq -cn '{apiVersion:"networking.k8s.io/v1",kind:"NetworkPolicy",
		metadata:{namespace:"default",name:"b-in"},
		spec:{podSelector:{matchLabels:{pod:"b"}},policyTypes:["Ingress"],
		      ingress:[{ports:[{port:8080},{port:9000}]}]}}')"
sleep 1 # the policy contract: in the datapath within one second
expect_no_reach "a -> b:7000 refused by b's policy before the upgrade" pod default a tcp "$ipb" 7000
expect_reach "a -> b:8080 allowed by b's policy" pod default a tcp "$ipb" 8080 web-b
pol_key=$(map_field sluice_pol_ep bytes_key)
pol_value=$(map_field sluice_pol_ep bytes_value)
pol_max=$(map_field sluice_pol_ep max_entries)
pol_n=$(map_entries sluice_pol_ep)
expect_ge "sluice_pol_ep isolates b" "${pol_n:-0}" 1

# A connection through the ClusterIP, open across the whole upgrade.
conn_open pod default a "$CIP" 9000
expect_eq "long-lived Service connection established" "$(conn_line 1)" web-b

# TERM: the model is saved to the state dir, as on a real upgrade.
expect_ok "sluiced stops (TERM) for the second upgrade" sluiced_stop node1 TERM
model=$(node_state node1)/model/Service.json
expect_ok "the model's Services are saved" test -s "$model" || e2e_finish
rmdir "$bpffs"/progs/build-* 2>/dev/null
rm -f "$bpffs/sluice_svc"
expect_ok "pin a sluice_svc with a value 8 bytes larger" bpftool map create \
	"$bpffs/sluice_svc" type hash key "$svc_key" value $((svc_value + 8)) \
	entries "$svc_max" name sluice_svc
old_svc=$(map_id sluice_svc)
rm -f "$bpffs/sluice_pol_ep"
expect_ok "pin a sluice_pol_ep with a value 8 bytes larger" bpftool map create \
	"$bpffs/sluice_pol_ep" type hash key "$pol_key" value $((pol_value + 8)) \
	entries "$pol_max" name sluice_pol_ep
old_pol=$(map_id sluice_pol_ep)

# A start that fails after the load (here: the socket hooks' cgroup does
# not exist) gives the replaced maps back and leaves the previous programs
# attached, with no build marker (whichever build starts next loads again).
d=$(node_dir node1)
e2e_argv "$(node_netns node1)" "$(node_cgroup node1)"
rc=0
timeout 60 "${E2E_ARGV[@]}" "$SLUICED_BIN" --bpffs "$bpffs" --socket "$d/sluiced.sock" \
	--state-dir "$(node_state node1)" --node-name node1 --pod-cidr "$(node_cidr node1)" \
	--cgroup "$E2E_ROOT/no-such-cgroup" >>"$log" 2>&1 || rc=$?
expect_eq "a start with a missing cgroup fails" "$rc" 1
expect_match "the rollback is logged" "$(cat "$log")" \
	'start failed before the new programs were attached: the previous programs keep running'
expect_eq "the failed start pinned the previous sluice_svc again" "$(map_id sluice_svc)" "$old_svc"
expect_eq "the failed start pinned the previous sluice_pol_ep again" \
	"$(map_id sluice_pol_ep)" "$old_pol"
expect_eq "no old-* pins after the failed start" "$(compgen -G "$bpffs/old-*" | wc -l)" 0
expect_eq "no build marker after the failed start" "$(compgen -G "$bpffs/progs/build-*" | wc -l)" 0
expect_reach "a -> Service after the failed start" pod default a tcp $CIP 80 web-b
expect_no_reach "a -> b:7000 refused after the failed start" pod default a tcp "$ipb" 7000

# Hold the start inside model_init: sluiced opens the FIFO (we hold a
# writer end, so the open returns) and waits for the data we give it late,
# then for the end of file when we close that end (sluiced must not
# inherit it).
mv "$model" "$model.saved"
mkfifo "$model"
exec {hold}<>"$model"
logged=$(wc -l <"$log")
rm -f "$d/sluiced.sock"
e2e_argv "$(node_netns node1)" "$(node_cgroup node1)"
# shellcheck disable=SC2086
"${E2E_ARGV[@]}" "$SLUICED_BIN" --bpffs "$bpffs" --socket "$d/sluiced.sock" \
	--state-dir "$(node_state node1)" --node-name node1 --pod-cidr "$(node_cidr node1)" \
	--cgroup "$(node_cgroup node1)" ${E2E_SLUICED_ARGS:-} >>"$log" 2>&1 {hold}>&- &
spid=$!
disown "$spid" 2>/dev/null
E2E_PIDS+=("$spid")
# shellcheck disable=SC2034,SC2154 # lib.sh's table: sluiced_stop and the EXIT trap use it
NODE_PID[node1]=$spid
# Once sluiced itself runs (not the fork that still holds our fd before
# the redirection closes it), an open fd on the FIFO is its own.
reads_model() {
	local f
	[ "$(readlink /proc/"$spid"/exe 2>/dev/null)" = "$(realpath "$SLUICED_BIN")" ] || return 1
	for f in /proc/"$spid"/fd/*; do
		[ "$(readlink "$f" 2>/dev/null)" = "$model" ] && return 0
	done
	return 1
}
expect_ok "sluiced starts and reads the model (held)" retry_until 30 reads_model
expect_match "the sluice_svc replacement is logged" "$(tail -n +$((logged + 1)) "$log")" \
	"sluice_svc: pinned layout key $svc_key B/value $((svc_value + 8)) B.* differs from this build.s key $svc_key B/value $svc_value B"
expect_match "the sluice_pol_ep replacement is logged" "$(tail -n +$((logged + 1)) "$log")" \
	"sluice_pol_ep: pinned layout key $pol_key B/value $((pol_value + 8)) B differs"
expect_reach "a -> Service while sluiced refills the maps" pod default a tcp $CIP 80 web-b
expect_no_reach "a -> b:7000 still refused while sluiced refills the maps" \
	pod default a tcp "$ipb" 7000
conn_echo during-refill
expect_eq "the established Service connection works during the refill" "$(conn_line 2)" \
	during-refill
cat "$model.saved" >&$hold
exec {hold}>&-
expect_ok "sluiced is ready after the held start" retry_until 30 test -S "$d/sluiced.sock"
# Right after ready: the replacement holds the model's entries.
expect_ne "sluice_svc is a new map" "$(map_id sluice_svc)" "$old_svc"
expect_eq "sluice_svc has this build's value size" "$(map_field sluice_svc bytes_value)" \
	"$svc_value"
expect_eq "sluice_svc holds its entries right after ready" "$(map_entries sluice_svc)" "$svc_n"
expect_ne "sluice_pol_ep is a new map" "$(map_id sluice_pol_ep)" "$old_pol"
expect_eq "sluice_pol_ep holds its entries right after ready" "$(map_entries sluice_pol_ep)" \
	"$pol_n"
expect_eq "no old-* pins left after the second upgrade" "$(compgen -G "$bpffs/old-*" | wc -l)" 0
rm -f "$model.saved"
expect_reach "a -> Service after the second upgrade" pod default a tcp $CIP 80 web-b
conn_echo after-upgrade
expect_eq "the established Service connection survives the upgrade" "$(conn_line 3)" \
	after-upgrade
conn_close
expect_no_reach "a -> b:7000 refused after the upgrade" pod default a tcp "$ipb" 7000
expect_ok "Service deleted" delete_obj node1 \
	"$(svc_obj default web $CIP '[{"name":"http","port":80,"targetPort":8080},{"name":"echo","port":9000}]')"

for p in a b; do expect_ok "DEL $p" pod_del default $p; done
expect_eq "nothing left" "$(host_links_settled node1 0) $(endpoint_records node1)" "0 0"

e2e_finish
