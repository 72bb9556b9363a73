#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stopping sluiced (SIGKILL, then SIGTERM) never interrupts pod traffic; on
# restart it reuses the pinned programs and maps (same program ids, nothing
# emptied or detached) and restores its endpoints from the state dir.
#
#   ┌──────── node1 netns: sluiced  ✗ kill -9 … restart ✗ TERM … restart ────────┐
#   │  pinned: <bpffs>/progs/{from_pod,to_pod}, <bpffs>/sluice_*                  │
#   │  sl…a ─────────────── BPF redirect ─────────────── sl…b          sl…c (late) │
#   └───┼───────────────────────────────────────────────────┼──────────────┼───────┘
#     default/a  ── ping every 0.1 s, one long TCP conn ──▶ default/b   default/c
source "$(dirname "$0")/lib.sh"

expect_ok "sluiced starts" node_up node1 || e2e_finish
expect_ok "ADD a" pod_add node1 default a
expect_ok "ADD b" pod_add node1 default b
ipa=$(pod_ip default a) ipb=$(pod_ip default b)
bpffs=$(node_bpffs node1)

prog_id() { bpftool -j prog show pinned "$bpffs/progs/$1" 2>/dev/null | jq -r '.id // empty'; }
from_id=$(prog_id from_pod) to_id=$(prog_id to_pod)
expect_match "from_pod is pinned" "$from_id" '^[0-9]+$'
expect_match "to_pod is pinned" "$to_id" '^[0-9]+$'
expect_match "b's host veth runs the pinned from_pod" \
	"$(pod_datapath node1 default b ingress)" " from_pod $from_id current\$"

# An echo server on b and one long-lived TCP connection from a to it.
e2e_place pod default b
"${E2E_ARGV[@]}" socat TCP-LISTEN:7000,reuseaddr,fork EXEC:cat </dev/null >/dev/null 2>&1 &
E2E_PIDS+=($!)
serve pod default b tcp 8080 hello-b
retry_until 3 probe pod default a tcp "$ipb" 7000 >/dev/null
e2e_place pod default a
coproc CONN { "${E2E_ARGV[@]}" socat -T 60 - "TCP:$ipb:7000,connect-timeout=3" 2>/dev/null; }
E2E_PIDS+=("$CONN_PID")
# conn_echo WORD: the long connection echoes WORD within 3 s.
conn_echo() {
	local line
	printf '%s\n' "$1" >&"${CONN[1]}" || return 1
	IFS= read -r -t 3 line <&"${CONN[0]}" || return 1
	[ "$line" = "$1" ]
}
expect_ok "long TCP connection echoes before any restart" conn_echo before

# Continuous ping a -> b through every stop and start below: 0.1 s apart.
pinglog=$E2E_ROOT/ping.log
pod_exec default a ping -n -i 0.1 -w 40 "$ipb" >"$pinglog" 2>&1 &
pingpid=$!
E2E_PIDS+=("$pingpid")
sleep 1

for sig in KILL TERM; do
	expect_ok "sluiced stops with SIG$sig" sluiced_stop node1 "$sig"
	expect_fail "sluiced is gone" sluiced_running node1
	expect_ok "ICMP a -> b while sluiced is down ($sig)" ping_from pod default a "$ipb"
	expect_ok "established TCP connection works while down ($sig)" conn_echo "down-$sig"
	expect_reach "new TCP connection while down ($sig)" pod default a tcp "$ipb" 8080 hello-b
	expect_ok "node -> pod while down ($sig)" ping_from node node1 "$ipa"
	expect_match "cnictl reads sluice_ep from the pins while down ($sig)" \
		"$(cnictl_j node1 bpf map dump sluice_ep)" "\"$ipb\""
	sleep 1
	expect_ok "sluiced restarts after SIG$sig" sluiced_start node1
	expect_eq "same from_pod program after restart ($sig)" "$(prog_id from_pod)" "$from_id"
	expect_eq "same to_pod program after restart ($sig)" "$(prog_id to_pod)" "$to_id"
	expect_match "b's veth still runs the same program ($sig)" \
		"$(pod_datapath node1 default b ingress)" " from_pod $from_id current\$"
	expect_eq "endpoints restored from the state dir ($sig)" \
		"$(request node1 '{"request":"endpoint.list"}' | jq '.endpoints | length')" 2
	expect_match "sluice_ep kept b ($sig)" "$(cnictl_j node1 bpf map dump sluice_ep)" "\"$ipb\""
	expect_ok "established TCP connection works after restart ($sig)" conn_echo "after-$sig"
	expect_ok "ICMP a -> b after restart ($sig)" ping_from pod default a "$ipb"
done

kill -INT "$pingpid" 2>/dev/null
wait "$pingpid" 2>/dev/null
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$pinglog")
recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$pinglog")
e2e_log "continuous ping: sent=$sent received=$recv"
expect_ge "continuous ping sent packets" "${sent:-0}" 20
# One in flight at the moment ping is interrupted may be lost; nothing else.
expect_ge "continuous ping lost nothing across two stops and restarts" "${recv:-0}" $(( ${sent:-0} - 1 ))

# The restarted controller works for new pods.
expect_ok "ADD c after the restarts" pod_add node1 default c
expect_ok "a -> c" ping_from pod default a "$(pod_ip default c)"
expect_ok "CHECK a (registered before the restarts)" pod_check default a
for p in a b c; do expect_ok "DEL $p" pod_del default $p; done
expect_eq "nothing left" "$(host_links_settled node1 0) $(leases node1) $(endpoint_records node1)" "0 0 0"

e2e_finish
