#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bad inputs to the real sluice binary: each must fail with the right CNI
# error code, a message, and leave nothing behind (no host veth in the node
# netns, no lease, no interface in the pod netns). Also VERSION, results in
# every supported version, pool exhaustion, sluiced unreachable.
#
#   ┌──── node1 netns (sluiced, 10.244.1.0/24) ────┐   ┌── node2 (10.244.9.0/30) ──┐
#   │   (no veth may be left after a failed ADD)   │   │  sl…x: the only address   │
#   └──────────────────────────────────────────────┘   └───┼───────────────────────┘
#     default/bad (pod netns, stays empty)               default/x   default/y (no room)
source "$(dirname "$0")/lib.sh"

expect_ok "sluiced starts on node1" node_up node1 || e2e_finish
pod_netns_create node1 default bad
badns=$(pod_netns default bad)
conf=$(node_conf node1)
work=$(mktemp -d "$E2E_ROOT/cases.XXXXXX")

# ENV: the environment of the next case, edited by env_set/env_drop.
env_reset() { mapfile -t ENV < <(pod_env default bad "${1:-ADD}"); }
env_drop() {
	local v; local -a keep=()
	for v in "${ENV[@]}"; do [[ $v == "$1="* ]] || keep+=("$v"); done
	ENV=("${keep[@]}")
}
env_set() { env_drop "${1%%=*}"; ENV+=("$1"); }
# conf_with JQ-FILTER: a config file derived from node1's.
conf_with() { local f; f=$(mktemp "$work/conf.XXXXXX"); jq "$1" "$conf" >"$f"; echo "$f"; }
raw_conf() { local f; f=$(mktemp "$work/conf.XXXXXX"); printf '%s' "$1" >"$f"; echo "$f"; }

# bad_case DESC CODE CONF: runs the plugin with ENV and CONF; checks the exit
# status, the code, a message, and that nothing leaked.
bad_case() {
	local desc=$1 code=$2 cf=$3 links0 leases0 podlinks
	links0=$(host_links node1) leases0=$(leases node1)
	cni_exec node1 "$cf" "${ENV[@]}"
	if [ "$CNI_RC" -ne 0 ] && [ "$(cni_code)" = "$code" ]; then
		e2e_pass "$desc: error code $code"
	else
		e2e_failed "$desc: error code $code" "exit $CNI_RC, stdout '$CNI_OUT', stderr '${CNI_ERR:0:300}'"
	fi
	expect_match "$desc: message says what" "$(jq -r '.msg // empty' <<<"$CNI_OUT" 2>/dev/null)" '..'
	podlinks=$(ip -n "$badns" -o link show 2>/dev/null | grep -vc ': lo:' || true)
	expect_eq "$desc: nothing left behind (host veths, leases, pod links)" \
		"$(host_links_settled node1 "$links0") $(leases node1) $podlinks" "$links0 $leases0 ${EXPECT_PODLINKS:-0}"
}

# ---- the table ------------------------------------------------------------------
env_reset; bad_case "malformed JSON" 6 "$(raw_conf '{"cniVersion":"1.1.0","name":')"
env_reset; bad_case "empty stdin" 6 "$(raw_conf '')"
env_reset; bad_case "unsupported cniVersion 9.9.9" 1 "$(conf_with '.cniVersion="9.9.9"')"
env_reset; bad_case "cniVersion 0.2.0 (not declared)" 1 "$(conf_with '.cniVersion="0.2.0"')"
env_reset; env_drop CNI_COMMAND; bad_case "missing CNI_COMMAND" 4 "$conf"
env_reset; env_set CNI_COMMAND=FROB; bad_case "unknown CNI_COMMAND" 4 "$conf"
env_reset; env_drop CNI_CONTAINERID; bad_case "missing CNI_CONTAINERID" 4 "$conf"
env_reset; env_drop CNI_NETNS; bad_case "missing CNI_NETNS" 4 "$conf"
env_reset; env_drop CNI_IFNAME; bad_case "missing CNI_IFNAME" 4 "$conf"
env_reset; env_set "CNI_ARGS=K8S_POD_NAME"; bad_case "malformed CNI_ARGS" 4 "$conf"
env_reset; env_set "CNI_NETNS=/run/netns/$E2E_PFX-does-not-exist"; bad_case "CNI_NETNS does not exist" 103 "$conf"
env_reset; env_set "CNI_NETNS=/etc/hostname"; bad_case "CNI_NETNS is not a netns" 103 "$conf"
env_reset; bad_case "podCIDR not a CIDR" 7 "$(conf_with '.podCIDR="banana"')"
env_reset; bad_case "podCIDR prefix /33" 7 "$(conf_with '.podCIDR="10.244.1.0/33"')"
env_reset; bad_case "podCIDR with host bits" 7 "$(conf_with '.podCIDR="10.244.1.7/24"')"
env_reset; bad_case "missing network name" 7 "$(conf_with 'del(.name)')"
env_reset; bad_case "config is not an object" 7 "$(raw_conf '[1,2]')"
env_reset; bad_case "mtu out of range" 7 "$(conf_with '.mtu=10')"

# The pod already has an interface called eth0 (a veth pair: the dummy
# module may be missing).
ip -n "$badns" link add eth0 type veth peer name peer0
env_reset; EXPECT_PODLINKS=2 bad_case "duplicate ifname in the pod" 105 "$conf"
expect_ok "the pod's own eth0 is untouched" ip -n "$badns" link show dev eth0 type veth
ip -n "$badns" link del eth0

# Unknown keys are ignored (not an error).
env_reset
cni_exec node1 "$(conf_with '.someFutureKey={"x":1}')" "${ENV[@]}"
expect_eq "unknown config keys are ignored" "$CNI_RC" 0
env_reset DEL; cni_exec node1 "$conf" "${ENV[@]}"
expect_eq "DEL after it" "$CNI_RC" 0

# ---- VERSION and results per version ----------------------------------------------
cni_exec node1 "$conf" CNI_COMMAND=VERSION
expect_eq "VERSION lists the supported versions" \
	"$(jq -c '.supportedVersions | sort' <<<"$CNI_OUT")" '["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]'
for v in 0.3.0 0.3.1 0.4.0 1.0.0; do
	f=$(conf_with ".cniVersion=\"$v\"")
	expect_ok "ADD with cniVersion $v" pod_add node1 default "v${v//./}" eth0 "$f"
	r=$(pod_result default "v${v//./}")
	expect_eq "result written in $v" "$(jq -r .cniVersion "$r")" "$v"
	case $v in
	0.3.* | 0.4.*) expect_eq "$v result has ips[].version" "$(jq -r '.ips[0].version' "$r")" 4 ;;
	*) expect_eq "$v result has no ips[].version" "$(jq -r '.ips[0] | has("version")' "$r")" false ;;
	esac
	expect_ok "DEL with cniVersion $v" pod_del default "v${v//./}"
done

# ---- pool exhaustion: a /30 has exactly one pod address ---------------------------------
expect_ok "sluiced starts on node2 with a /30" node_up node2 10.244.9.0/30
expect_ok "ADD x takes the only address" pod_add node2 default x
expect_eq "x got 10.244.9.2" "$(pod_ip default x)" 10.244.9.2
links2=$(host_links node2)
expect_fail "ADD y: pool exhausted" pod_add node2 default y
expect_eq "exhausted pool is error 101" "$(cni_code)" 101
expect_match "the message names the range" "$(jq -r .msg <<<"$CNI_OUT")" '10\.244\.9\.0/30'
expect_eq "failed ADD y left no host veth" "$(host_links_settled node2 "$links2")" "$links2"
expect_ok "DEL x" pod_del default x
expect_ok "ADD y after x is gone" pod_add node2 default y
expect_ok "DEL y" pod_del default y

# ---- sluiced unreachable: ADD is error 11 and rolls back -------------------------------
sluiced_stop node1 KILL
env_reset; bad_case "ADD with sluiced down" 11 "$conf"
expect_ok "sluiced restarts" sluiced_start node1
env_reset; cni_exec node1 "$conf" "${ENV[@]}"
expect_eq "ADD works again after sluiced is back" "$CNI_RC" 0
env_reset DEL; cni_exec node1 "$conf" "${ENV[@]}"
expect_eq "final DEL" "$CNI_RC" 0
expect_eq "nothing left on node1" "$(host_links_settled node1 0) $(leases node1)" "0 0"

e2e_finish
