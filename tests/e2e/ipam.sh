#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# IPAM through the real binary: 50 concurrent ADDs and DELs (distinct
# addresses, nothing lost or leaked), leases surviving a sluiced restart, and
# delegation to Debian's host-local plugin when the config has an "ipam"
# section.
#
#   ┌──────────── node1 netns (sluiced, built-in IPAM 10.244.1.0/24) ─────────────┐
#   │  sl…×50 (ADD in parallel, then DEL in parallel)     sl…h1  sl…h2           │
#   └───┼─────────────────────────────────────────────────────┼──────┼───────────┘
#     bulk/p1 … bulk/p50                          hl/h1, hl/h2: host-local 10.250.7.0/24
source "$(dirname "$0")/lib.sh"

expect_ok "sluiced starts" node_up node1 || e2e_finish
N=50

# ---- 50 concurrent ADDs --------------------------------------------------------
for ((i = 1; i <= N; i++)); do pod_netns_create node1 bulk "p$i"; done
# Each ADD in its own background job; results and exit codes to files.
mkdir -p "$E2E_ROOT/bulk"
for ((i = 1; i <= N; i++)); do
	(
		mapfile -t env < <(pod_env bulk "p$i" ADD)
		cni_exec node1 "$(node_conf node1)" "${env[@]}"
		printf '%s\n' "$CNI_OUT" >"$(pod_result bulk "p$i")"
		echo "$CNI_RC" >"$E2E_ROOT/bulk/p$i.rc"
	) &
done
wait
ok=$(cat "$E2E_ROOT"/bulk/*.rc | grep -cx 0)
expect_eq "$N concurrent ADDs succeed" "$ok" "$N"
ips=$(for ((i = 1; i <= N; i++)); do pod_ip bulk "p$i"; done | sort -u)
expect_eq "$N distinct addresses" "$(grep -c . <<<"$ips")" "$N"
expect_eq "$N leases" "$(leases node1)" "$N"
expect_eq "$N host veths" "$(host_links node1)" "$N"
expect_eq "$N endpoints registered" \
	"$(request node1 '{"request":"endpoint.list"}' | jq '.endpoints | length')" "$N"
expect_ok "p1 -> p$N" ping_from pod bulk p1 "$(pod_ip bulk "p$N")"

# ---- leases and endpoints survive a restart ---------------------------------------
sluiced_stop node1 KILL
expect_ok "sluiced restarts" sluiced_start node1
expect_eq "endpoints restored" "$(request node1 '{"request":"endpoint.list"}' | jq '.endpoints | length')" "$N"
expect_ok "ADD after restart" pod_add node1 bulk extra
expect_eq "the new pod gets an unused address" "$(grep -cx "$(pod_ip bulk extra)" <<<"$ips")" 0
expect_ok "DEL extra" pod_del bulk extra

# ---- 50 concurrent DELs ------------------------------------------------------------
rm -f "$E2E_ROOT"/bulk/*.rc
for ((i = 1; i <= N; i++)); do
	(
		pod_del bulk "p$i" 2>/dev/null
		echo "$CNI_RC" >"$E2E_ROOT/bulk/p$i.rc"
	) &
done
wait
expect_eq "$N concurrent DELs succeed" "$(cat "$E2E_ROOT"/bulk/*.rc | grep -cx 0)" "$N"
expect_eq "no lease, veth or record left" "$(leases node1) $(host_links_settled node1 0) $(endpoint_records node1)" "0 0 0"

# ---- delegation to host-local ----------------------------------------------------------
hlconf=$E2E_ROOT/hl.conf
jq --arg d "$E2E_ROOT/host-local" '. + {ipam: {type: "host-local", dataDir: $d,
	ranges: [[{subnet: "10.250.7.0/24", gateway: "10.250.7.1"}]]}}' "$(node_conf node1)" >"$hlconf"
expect_ok "ADD h1 with host-local IPAM" pod_add node1 hl h1 eth0 "$hlconf"
expect_ok "ADD h2 with host-local IPAM" pod_add node1 hl h2 eth0 "$hlconf"
expect_match "h1's address comes from host-local's range" "$(pod_ip hl h1)" '^10\.250\.7\.[0-9]+$'
expect_eq "host-local keeps the lease" "$(find "$E2E_ROOT/host-local" -name "$(pod_ip hl h1)" | wc -l)" 1
expect_eq "the built-in IPAM leased nothing" "$(leases node1)" 0
expect_ok "h1 -> h2 (delegated addresses are routed by BPF too)" ping_from pod hl h1 "$(pod_ip hl h2)"
expect_ok "DEL h1 (delegated)" pod_cni hl h1 DEL
expect_eq "host-local released h1's address" "$(find "$E2E_ROOT/host-local" -name "$(pod_ip hl h1)" | wc -l)" 0
expect_ok "DEL h2" pod_cni hl h2 DEL
expect_eq "nothing left" "$(host_links_settled node1 0) $(endpoint_records node1)" "0 0"

e2e_finish
