#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CNI 1.1 STATUS (sluiced up, down, pool full) and GC with
# cni.dev/valid-attachments (and the older spelling cni.dev/attachments).
#
#   ┌──────── node1 netns (sluiced, 10.244.1.0/24) ────────┐  ┌─ node2 (10.244.9.0/30) ─┐
#   │  sl…a   sl…b   sl…c   sl…d                            │  │  sl…x (pool now full)    │
#   └───┼──────┼──────┼──────┼──────────────────────────────┘  └───┼──────────────────────┘
#     a      b      c      d      GC keeps {a, c}, then {a}       default/x
source "$(dirname "$0")/lib.sh"

expect_ok "sluiced starts on node1" node_up node1 || e2e_finish
conf=$(node_conf node1)

status() { cni_exec "$1" "${2:-$(node_conf "$1")}" CNI_COMMAND=STATUS CNI_PATH="$E2E_CNI_PLUGINS"; }

# ---- STATUS ------------------------------------------------------------------------
expect_ok "STATUS with sluiced up: ready" status node1
sluiced_stop node1 KILL
expect_fail "STATUS with sluiced down fails" status node1
expect_eq "STATUS with sluiced down is error 50" "$(cni_code)" 50
expect_match "STATUS error says why" "$(jq -r .msg <<<"$CNI_OUT")" '..'
expect_ok "sluiced restarts" sluiced_start node1
expect_ok "STATUS ready again" status node1
f=$(mktemp "$E2E_ROOT/conf.XXXXXX"); jq '.cniVersion="1.0.0"' "$conf" >"$f"
expect_fail "STATUS in a 1.0.0 config (verb added in 1.1.0)" status node1 "$f"
expect_eq "STATUS in 1.0.0 is error 1" "$(cni_code)" 1

expect_ok "sluiced starts on node2 with a /30" node_up node2 10.244.9.0/30
expect_ok "STATUS node2 ready while the pool has room" status node2
expect_ok "ADD x takes node2's only address" pod_add node2 default x
expect_fail "STATUS node2 with the pool full" status node2
expect_eq "STATUS with the pool full is error 50" "$(cni_code)" 50
expect_ok "DEL x" pod_del default x
expect_ok "STATUS node2 ready again" status node2

# ---- GC ----------------------------------------------------------------------------
for p in a b c d; do expect_ok "ADD $p" pod_add node1 default $p; done
ipb=$(pod_ip default b)
expect_eq "four veths, four leases" "$(host_links node1) $(leases node1)" "4 4"

# gc_conf KEY POD...: node1's config with KEY listing the pods' attachments.
gc_conf() {
	local key=$1 p att="[]" out; shift
	for p in "$@"; do
		att=$(jq -c --arg c "$(pod_cid default "$p")" '. + [{containerID: $c, ifname: "eth0"}]' <<<"$att")
	done
	out=$(mktemp "$E2E_ROOT/conf.XXXXXX")
	jq --arg k "$key" --argjson a "$att" '.[$k] = $a' "$conf" >"$out"
	echo "$out"
}
gc() { cni_exec node1 "$1" CNI_COMMAND=GC CNI_PATH="$E2E_CNI_PLUGINS"; }

# d's netns vanishes without a DEL (a runtime crash): GC must still clean it.
pod_destroy default d
expect_ok "GC keeping a and c" gc "$(gc_conf cni.dev/valid-attachments a c)"
expect_eq "GC removed b's and d's host veths" "$(host_links_settled node1 2)" 2
expect_eq "GC released b's and d's leases" "$(leases node1)" 2
expect_eq "GC removed b and d from the controller" \
	"$(request node1 '{"request":"endpoint.list"}' | jq -c '[.endpoints[].pod] | sort')" '["a","c"]'
expect_fail "b's address is gone from sluice_ep" grep -q "\"$ipb\"" <<<"$(cnictl_j node1 bpf map dump sluice_ep)"
expect_ok "a still reaches c after GC" ping_from pod default a "$(pod_ip default c)"
expect_fail "a no longer reaches b's old address" ping_from pod default a "$ipb"

expect_ok "GC with cni.dev/attachments keeping a" gc "$(gc_conf cni.dev/attachments a)"
expect_eq "c collected too" "$(host_links_settled node1 1) $(leases node1)" "1 1"
expect_ok "GC again is a no-op" gc "$(gc_conf cni.dev/valid-attachments a)"
expect_eq "a survives repeated GC" "$(host_links node1) $(leases node1)" "1 1"
expect_ok "a is still CHECK-clean" pod_check default a

# GC without any list must never be read as "keep nothing".
gc "$conf"
e2e_log "GC without a list: exit $CNI_RC $CNI_OUT"
expect_eq "GC without a list keeps a" "$(host_links node1)" 1

# DEL of pods that GC already removed is still success.
expect_ok "DEL b after GC" pod_del default b
expect_ok "DEL a" pod_del default a
expect_ok "GC with an empty list" gc "$(gc_conf cni.dev/valid-attachments)"
expect_eq "nothing left" "$(host_links_settled node1 0) $(leases node1) $(endpoint_records node1)" "0 0 0"

e2e_finish
