#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Services across a sluiced restart: while sluiced is down the pinned maps
# keep serving (new and established connections); when it comes back it
# adopts the ids it wrote (frontend svc ids, backend ids unchanged, nothing
# rewritten that traffic depends on), and the Service is still known.
#
#   ┌──────────── node1 netns (sluiced stopped and started) ────────────┐
#   │  sl…client      sl…web-a      sl…web-b                             │
#   └────┼──────────────┼─────────────┼─────────────────────────────────┘
#   default/client   shop/web-a    shop/web-b   (tcp 8080 "web-X", 9000 echo)
#   Service shop/web 10.96.0.10: 80 -> 8080, 9000 -> 9000
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-svc.sh"

CIP=10.96.0.10
PORTS='[{"name":"http","port":80,"targetPort":8080},{"name":"echo","port":9000}]'
SLICE_PORTS='[{"name":"http","port":8080},{"name":"echo","port":9000}]'

expect_ok "sluiced starts on node1" node_up node1 || e2e_finish
for p in default/client shop/web-a shop/web-b; do
	expect_ok "ADD $p" pod_add node1 "${p%/*}" "${p#*/}" || e2e_finish
done
ipa=$(pod_ip shop web-a) ipb=$(pod_ip shop web-b)
for x in a b; do
	serve pod shop "web-$x" tcp 8080 "web-$x"
	at pod shop "web-$x" socat "TCP-LISTEN:9000,reuseaddr,fork" "SYSTEM:echo web-$x; cat" \
		</dev/null >/dev/null 2>&1 &
	E2E_PIDS+=("$!")
done
sleep 0.5
expect_ok "feed Service and slice" apply node1 "$(svc_obj shop web $CIP "$PORTS")" \
	"$(slice_obj shop web-1 web "$SLICE_PORTS" "$(ep "$ipa")" "$(ep "$ipb")")"

ids() {
	{
		cnictl_j node1 bpf map dump sluice_svc | jq -c 'map([.key.frontend, .key.port, .value.svcId]) | sort'
		cnictl_j node1 bpf map dump sluice_backend | jq -c 'map([.key.backendId, .value.address, .value.port]) | sort'
		cnictl_j node1 bpf map dump sluice_maglev | jq -c 'map([.key.svcId, .value.slotsPerBackend]) | sort'
	} | tr '\n' ' '
}
before=$(ids)

conn_open pod default client "$CIP" 9000
expect_match "long-lived connection established" "$(conn_line 1)" '^web-[ab]$'

expect_ok "sluiced stops" sluiced_stop node1
expect_match "new connections work while sluiced is down" "$(probe pod default client tcp $CIP 80)" '^web-[ab]$'
conn_echo during-downtime
expect_eq "established connection works while sluiced is down" "$(conn_line 2)" during-downtime

expect_ok "sluiced starts again" sluiced_start node1
sleep 3 # past the first services timer tick (stale-entry GC)
expect_eq "ids and tables unchanged by the restart" "$(ids)" "$before"
expect_eq "the Service is known again (model restored)" \
	"$(cnictl_j node1 service get shop/web | jq '.frontends[0].activeBackends')" 2
conn_echo after-restart
expect_eq "established connection survives the restart" "$(conn_line 3)" after-restart
expect_match "new connections work after the restart" "$(probe pod default client tcp $CIP 80)" '^web-[ab]$'
conn_close

# The restored model owns the adopted entries: deleting the Service clears them.
expect_ok "Service deleted" delete_obj node1 "$(svc_obj shop web $CIP "$PORTS")"
expect_eq "maps empty after deletion" \
	"$(cnictl_j node1 bpf map dump sluice_svc | jq length)/$(cnictl_j node1 bpf map dump sluice_backend | jq length)" 0/0

e2e_finish
