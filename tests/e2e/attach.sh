#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# How the pod programs are attached: `sluiced --attach tc` (clsact qdisc +
# cls_bpf filter, the default) and `--attach tcx` (6.6+); a restart with
# the other mode moves the pods already there without cutting a
# connection; CHECK sees a program someone detached, and a sluiced restart
# puts it back.
#
#   ┌──────── node1 netns: sluiced --attach tc → tcx → tc ─────────────┐
#   │  sl…a ──────────────── BPF redirect ─────────────── sl…b   sl…c  │
#   └───┼─────────────────────────────────────────────────┼──────┼─────┘
#     default/a  ─────── one long TCP connection ──────▶ default/b  default/c
source "$(dirname "$0")/lib.sh"

# restart_with MODE: sluiced stopped and started again with --attach MODE.
restart_with() {
	sluiced_stop node1 TERM
	E2E_SLUICED_ARGS="--attach $1" sluiced_start node1
}
# runs POD MODE: both hooks of POD run the pinned programs through MODE.
runs() {
	local i e
	i=$(pod_datapath node1 default "$1" ingress) e=$(pod_datapath node1 default "$1" egress)
	[[ $i =~ ^$2\ from_pod\ [0-9]+\ current$ && $e =~ ^$2\ to_pod\ [0-9]+\ current$ ]] ||
		{ echo "$1: ingress '$i', egress '$e' (wanted $2)" >&2; return 1; }
}
# tc_filters POD: the tc filters on POD's host veth, both directions.
tc_filters() {
	local dev
	dev=$(jq -r '[.interfaces[] | select(has("sandbox") | not) | .name][0]' "$(pod_result default "$1")")
	ip netns exec "$(node_netns node1)" tc filter show dev "$dev" ingress 2>/dev/null
	ip netns exec "$(node_netns node1)" tc filter show dev "$dev" egress 2>/dev/null
}

# ---- tc --------------------------------------------------------------------------------
expect_ok "sluiced starts (tc, the default)" node_up node1 || e2e_finish
expect_eq "status says tc" "$(node_attach node1)" tc
expect_ok "ADD a" pod_add node1 default a
expect_ok "ADD b" pod_add node1 default b
ipb=$(pod_ip default b)
expect_ok "a's veth runs the pinned programs through tc" runs a tc
expect_match "tc itself lists a's filter" "$(tc_filters a)" 'from_pod.* direct-action'
expect_ok "ICMP a -> b (tc)" ping_from pod default a "$ipb"
expect_ok "CHECK a (tc)" pod_check default a
e2e_place pod default b
"${E2E_ARGV[@]}" socat TCP-LISTEN:7000,reuseaddr,fork EXEC:cat </dev/null >/dev/null 2>&1 &
E2E_PIDS+=($!)
retry_until 3 probe pod default a tcp "$ipb" 7000 >/dev/null
conn_open pod default a "$ipb" 7000 # an echo server: nothing comes until we send
expect_ok "a long TCP connection a -> b echoes (tc)" conn_echo through-tc

# ---- tc -> tcx -------------------------------------------------------------------------
# tcx came with Linux 6.6; on an older kernel sluiced must refuse it.
if ! printf '%s\n' 6.6 "$(uname -r | cut -d- -f1)" | sort -V -C; then
	echo "NOTE: kernel $(uname -r) has no tcx: only tc is tested here"
	sluiced_stop node1 TERM
	out=$(ip netns exec "$(node_netns node1)" "$SLUICED_BIN" --attach tcx 2>&1)
	expect_match "--attach tcx is refused on this kernel" "$out" 'this kernel has no tcx'
	expect_ok "sluiced restarts with --attach tc" restart_with tc
else
	expect_ok "sluiced restarts with --attach tcx" restart_with tcx || e2e_finish
	expect_eq "status says tcx" "$(node_attach node1)" tcx
	expect_ok "a was moved to tcx" runs a tcx
	expect_ok "b was moved to tcx" runs b tcx
	expect_eq "no tc filter is left on a's veth" "$(tc_filters a)" ""
	expect_ok "the connection lived through the move" conn_echo through-tcx
	expect_ok "ICMP a -> b (tcx)" ping_from pod default a "$ipb"
	expect_ok "CHECK a (tcx)" pod_check default a
	expect_ok "ADD c (tcx)" pod_add node1 default c
	expect_ok "c's veth runs them through tcx" runs c tcx
	expect_ok "TCP c -> b" probe pod default c tcp "$ipb" 7000
	expect_ok "a restart in the same mode keeps everything" restart_with tcx
	expect_ok "a still on tcx" runs a tcx
	expect_ok "the connection still echoes" conn_echo same-mode
	expect_ok "sluiced restarts with --attach tc" restart_with tc
fi

# ---- tcx -> tc, and repairs ------------------------------------------------------------
[ -n "${POD_NETNS[default/c]:-}" ] || expect_ok "ADD c (tc)" pod_add node1 default c
for p in a b c; do expect_ok "$p back on tc" runs $p tc; done
expect_ok "the connection lived through the move back" conn_echo back-to-tc
dev_a=$(jq -r '[.interfaces[] | select(has("sandbox") | not) | .name][0]' "$(pod_result default a)")
expect_ok "an operator deletes a's ingress filter" \
	ip netns exec "$(node_netns node1)" tc filter del dev "$dev_a" ingress
expect_eq "endpoint get shows nothing at a's ingress" "$(pod_datapath node1 default a ingress)" ""
expect_fail "CHECK a sees it" pod_check default a
expect_eq "CHECK error code 109" "$(cni_code)" 109
expect_match "CHECK names the program" "$CNI_OUT" 'from_pod is not attached'
expect_ok "sluiced restarts" restart_with tc
expect_ok "the restart put it back" runs a tc
expect_ok "CHECK a passes again" pod_check default a
expect_ok "the connection echoes" conn_echo repaired

# ---- a veth that is gone ------------------------------------------------------------------
expect_ok "c's netns goes away without a DEL" pod_destroy default c
dp_c() { cnictl_j node1 endpoint get default/c | jq -c '.datapath'; }
dp_c_gone() { [ "$(dp_c)" = null ]; }
retry_until 5 dp_c_gone
expect_eq "endpoint get c still answers, with no datapath" "$(dp_c)" null

# ---- bad flags -------------------------------------------------------------------------
out=$("$SLUICED_BIN" --attach xdp 2>&1)
expect_eq "--attach xdp: usage error (exit 2)" "$?" 2
expect_match "it says what is allowed" "$out" 'must be tc or tcx'

conn_close
for p in a b c; do expect_ok "DEL $p" pod_del default $p; done
expect_eq "nothing left" "$(host_links_settled node1 0) $(leases node1) $(endpoint_records node1)" "0 0 0"
e2e_finish
