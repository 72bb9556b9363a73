#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# NetworkPolicy conformance, in the style of the upstream Kubernetes e2e
# suite (test/e2e/network/netpol): namespaces x, y, z with pods a, b, c each
# serving TCP and UDP on ports 80 and 81; every case applies policies
# through the feed, waits the 1 s the contract allows, then probes the full
# 9x9 matrix (client row -> server column) with real traffic and compares
# it with the expected reachability. Cases carried over from upstream keep
# their upstream names; ours are marked [sluice].
#
#   root netns (untouched)
#   ┌──────────────────── node netns <pfx>-node1 (sluiced) ────────────────────┐
#   │  sl.. ─veth─ eth0 [x/a]   sl.. ─veth─ eth0 [y/a]   sl.. ─veth─ eth0 [z/a] │
#   │  sl.. ─veth─ eth0 [x/b]   sl.. ─veth─ eth0 [y/b]   sl.. ─veth─ eth0 [z/b] │
#   │  sl.. ─veth─ eth0 [x/c]   sl.. ─veth─ eth0 [y/c]   sl.. ─veth─ eth0 [z/c] │
#   └───────────────────────────────────────────────────────────────────────────┘
#   every pod: socat TCP 80, TCP 81, UDP 80, UDP 81 answering "<ns>-<pod>"
#   container ports: serve-80-tcp 80, serve-81-tcp 81, serve-80-udp 80,
#   serve-81-udp 81, and "web" = 80 in x and z but 81 in y (named ports
#   resolved per destination pod).
#
# Environment: NETPOL_ONLY=REGEX runs only the cases whose name matches.

source "$(dirname "$0")/../lib.sh"

NODE=node1
PODS=(x/a x/b x/c y/a y/b y/c z/a z/b z/c)
declare -A IP=() R=()
declare -a APPLIED=()
NETPOL_ONLY=${NETPOL_ONLY:-}
CASE=""

# ---- cluster objects ----------------------------------------------------------

# ns_json NS [EXTRA_LABELS_JSON]: the Namespace object.
ns_json() {
	jq -cn --arg n "$1" --argjson extra "${2:-{\}}" \
		'{apiVersion:"v1",kind:"Namespace",metadata:{name:$n,
		  labels:({ns:$n,"kubernetes.io/metadata.name":$n} + $extra)}}'
}

# pod_json NS POD [EXTRA_LABELS_JSON]: the Pod object (IP from its ADD result).
pod_json() {
	local web=80
	[ "$1" = y ] && web=81
	jq -cn --arg ns "$1" --arg p "$2" --arg ip "${IP[$1/$2]}" --arg node "$NODE" \
		--argjson web "$web" --argjson extra "${3:-{\}}" \
		'{apiVersion:"v1",kind:"Pod",metadata:{namespace:$ns,name:$p,labels:({pod:$p} + $extra)},
		  spec:{nodeName:$node,containers:[{name:"c",image:"busybox",ports:[
		    {name:"serve-80-tcp",containerPort:80,protocol:"TCP"},
		    {name:"serve-81-tcp",containerPort:81,protocol:"TCP"},
		    {name:"serve-80-udp",containerPort:80,protocol:"UDP"},
		    {name:"serve-81-udp",containerPort:81,protocol:"UDP"},
		    {name:"web",containerPort:$web,protocol:"TCP"}]}]},
		  status:{phase:"Running",podIP:$ip,podIPs:[{ip:$ip}]}}'
}

# feed_ok DESC JSON...: feeds the values, every reply must be ok.
feed_ok() {
	local desc=$1 out bad; shift
	out=$(printf '%s\n' "$@" | feed "$NODE")
	bad=$(printf '%s\n' "$out" | jq -c 'select(.ok != true)' 2>/dev/null)
	if [ -z "$bad" ] && [ "$(printf '%s\n' "$out" | grep -c .)" -eq $# ]; then
		return 0
	fi
	e2e_failed "$desc" "feed replied: $out"
	return 1
}

# np NS NAME SPEC_JSON: a NetworkPolicy object.
np() {
	jq -cn --arg ns "$1" --arg n "$2" --argjson spec "$3" \
		'{apiVersion:"networking.k8s.io/v1",kind:"NetworkPolicy",
		  metadata:{namespace:$ns,name:$n},spec:$spec}'
}

# apply NS NAME SPEC_JSON: create or replace a policy (remembered for cleanup).
apply() {
	local key=$1/$2 k
	feed_ok "$CASE: apply $key" "$(np "$1" "$2" "$3")" || return 1
	for k in "${APPLIED[@]}"; do [ "$k" = "$key" ] && return 0; done
	APPLIED+=("$key")
}

# delete_policy NS NAME
delete_policy() {
	feed_ok "$CASE: delete $1/$2" "$(jq -cn --arg ns "$1" --arg n "$2" \
		'{type:"DELETED",object:{apiVersion:"networking.k8s.io/v1",kind:"NetworkPolicy",
		  metadata:{namespace:$ns,name:$n}}}')"
	local -a keep=() k
	for k in "${APPLIED[@]}"; do [ "$k" = "$1/$2" ] || keep+=("$k"); done
	APPLIED=("${keep[@]}")
}

# settle: the contract: changes reach the datapath within one second.
settle() { sleep 1; }

# ---- reachability -------------------------------------------------------------

# match PATTERN POD: "x/a", "x/*", "*/a", "*/*" or "*".
match() {
	local pat=$1 pod=$2
	[ "$pat" = "*" ] && return 0
	[[ ${pod%/*} == ${pat%/*} ]] && [[ ${pod#*/} == ${pat#*/} ]]
}

# reach_all 1|0: every cell; reach FROM TO 1|0: matching cells (patterns);
# loopback: a pod always reaches itself (the packets never leave it).
reach_all() { local f t; for f in "${PODS[@]}"; do for t in "${PODS[@]}"; do R[$f,$t]=$1; done; done; }
reach() {
	local f t
	for f in "${PODS[@]}"; do
		match "$1" "$f" || continue
		for t in "${PODS[@]}"; do match "$2" "$t" && R[$f,$t]=$3; done
	done
}
loopback() { local p; for p in "${PODS[@]}"; do R[$p,$p]=1; done; }

# probe_cell FROM TO PROTO PORT TIMEOUT: prints 1 if TO answered, else 0.
probe_cell() {
	local from=$1 to=$2 proto=$3 port=$4 t=$5 out want=${2/\//-}
	local netns
	netns=$(pod_netns "${from%/*}" "${from#*/}")
	case $proto in
	tcp) out=$(echo hi | timeout $((t + 2)) nsenter --net="/run/netns/$netns" \
			socat -t "$t" -T "$t" - "TCP:${IP[$to]}:$port,connect-timeout=$t" 2>/dev/null) ;;
	udp) out=$(echo hi | timeout $((t + 2)) nsenter --net="/run/netns/$netns" \
			socat -t "$t" -T "$t" - "UDP:${IP[$to]}:$port" 2>/dev/null) ;;
	esac
	[ "$(printf '%s' "$out" | head -n1)" = "$want" ] && echo 1 || echo 0
}

# table FILE_PREFIX: a 9x9 table of ". / X" like upstream's truth tables.
print_table() {
	local -n m=$1
	local f t line
	printf '#        %s\n' "${PODS[*]}"
	for f in "${PODS[@]}"; do
		line=""
		for t in "${PODS[@]}"; do
			[ "${m[$f,$t]}" = 1 ] && line+="  . " || line+="  X "
		done
		printf '#   %s %s\n' "$f" "$line"
	done
}

# check PROTO PORT: probes the 9x9 matrix and compares it with R.
check() {
	local proto=$1 port=$2 dir f t
	local -a pids=()
	declare -gA A=()
	dir=$(mktemp -d "$E2E_ROOT/matrix.XXXXXX")
	for f in "${PODS[@]}"; do
		for t in "${PODS[@]}"; do
			probe_cell "$f" "$t" "$proto" "$port" 1 >"$dir/${f/\//-}_${t/\//-}" &
			pids+=($!)
		done
	done
	# Only our probes: the servers are children of this shell too.
	wait "${pids[@]}"
	for f in "${PODS[@]}"; do
		for t in "${PODS[@]}"; do
			A[$f,$t]=$(cat "$dir/${f/\//-}_${t/\//-}")
			# A missed answer where one is expected may be the machine's
			# load (81 probes at once): ask again, slowly. An answer
			# where none is expected is never retried.
			if [ "${A[$f,$t]}" = 0 ] && [ "${R[$f,$t]}" = 1 ]; then
				A[$f,$t]=$(probe_cell "$f" "$t" "$proto" "$port" 3)
			fi
		done
	done
	rm -rf "$dir"
	local bad=0
	for f in "${PODS[@]}"; do for t in "${PODS[@]}"; do
		[ "${A[$f,$t]}" = "${R[$f,$t]}" ] || bad=$((bad + 1))
	done; done
	if [ $bad -eq 0 ]; then
		e2e_pass "$CASE: $proto/$port reachability"
	else
		e2e_failed "$CASE: $proto/$port reachability" "$bad of 81 cells differ"
		echo "#   expected (rows: from, columns: to):"; print_table R
		echo "#   actual:"; print_table A
	fi
}

# ---- cases --------------------------------------------------------------------

# begin NAME: starts a case (skipped unless it matches NETPOL_ONLY).
begin() {
	CASE=$1
	[ -z "$NETPOL_ONLY" ] || [[ $CASE =~ $NETPOL_ONLY ]]
}

# finish: delete the case's policies, put labels back, wait for it to apply.
finish() {
	local k
	for k in "${APPLIED[@]}"; do delete_policy "${k%/*}" "${k#*/}"; done
	[ -n "${RELABELLED:-}" ] && reset_labels
	settle
}

RELABELLED=""
reset_labels() {
	local n p objs=()
	for n in x y z; do objs+=("$(ns_json $n)"); done
	for p in "${PODS[@]}"; do objs+=("$(pod_json "${p%/*}" "${p#*/}")"); done
	feed_ok "$CASE: restore labels" "${objs[@]}"
	RELABELLED=""
}

setup() {
	local p n objs=()
	expect_ok "node up" node_up "$NODE" 10.244.1.0/24 || return 1
	for p in "${PODS[@]}"; do
		pod_add "$NODE" "${p%/*}" "${p#*/}" >/dev/null || { e2e_failed "add pod $p" "$CNI_ERR"; return 1; }
		IP[$p]=$(pod_ip "${p%/*}" "${p#*/}")
	done
	e2e_pass "9 pods added"
	for n in x y z; do objs+=("$(ns_json $n)"); done
	for p in "${PODS[@]}"; do objs+=("$(pod_json "${p%/*}" "${p#*/}")"); done
	feed_ok "feed namespaces and pods" "${objs[@]}" && e2e_pass "namespaces and pods fed"
	for p in "${PODS[@]}"; do
		for port in 80 81; do
			serve pod "${p%/*}" "${p#*/}" tcp "$port" "${p/\//-}" ||
				{ e2e_failed "serve $p tcp/$port"; return 1; }
		done
		udp_serve "$p" || { e2e_failed "serve $p udp/80,81"; return 1; }
	done
	e2e_pass "36 servers up"
}

# udp_serve NS/POD: one process answering datagrams on UDP 80 and 81 with
# "<ns>-<pod>". (A forking socat per datagram loses its listener under 81
# concurrent probes; a single select loop does not.)
udp_serve() {
	local p=$1 pid i
	cat >"$E2E_ROOT/udp_server.py" <<'PY'
import select, socket, sys
reply = sys.argv[1].encode() + b"\n"
socks = []
for port in (80, 81):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    socks.append(s)
while True:
    ready, _, _ = select.select(socks, [], [])
    for s in ready:
        try:
            _, peer = s.recvfrom(2048)
            s.sendto(reply, peer)
        except OSError:
            pass
PY
	nsenter --net="/run/netns/$(pod_netns "${p%/*}" "${p#*/}")" \
		python3 "$E2E_ROOT/udp_server.py" "${p/\//-}" </dev/null >/dev/null 2>&1 &
	pid=$!
	E2E_PIDS+=("$pid")
	for ((i = 0; i < 50; i++)); do
		[ "$(nsenter --net="/run/netns/$(pod_netns "${p%/*}" "${p#*/}")" ss -Hlnu \
			'( sport = :80 or sport = :81 )' 2>/dev/null | grep -c .)" -ge 2 ] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

setup || e2e_finish

CIDR=$(node_cidr "$NODE")

# Baseline: nothing isolates anything.
if begin "baseline: no policies"; then
	reach_all 1
	check tcp 80; check udp 81
fi

if begin "should support a 'default-deny-ingress' policy"; then
	apply x deny-ingress '{"podSelector":{},"policyTypes":["Ingress"]}'
	settle
	reach_all 1; reach "*" "x/*" 0; loopback
	check tcp 80; check udp 80
	finish
fi

if begin "should support a 'default-deny-all' policy"; then
	apply x deny-all '{"podSelector":{},"policyTypes":["Ingress","Egress"]}'
	settle
	reach_all 1; reach "*" "x/*" 0; reach "x/*" "*" 0; loopback
	check tcp 80; check udp 81
	finish
fi

if begin "should enforce policy to allow traffic from pods within server namespace based on PodSelector"; then
	apply x allow-x-via-pod-selector '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; reach "x/b" "x/a" 1; loopback
	check tcp 80
	finish
fi

if begin "should enforce policy to allow ingress traffic for a target"; then
	apply x deny-ingress-via-label-selector '{"podSelector":{},"policyTypes":["Ingress"]}'
	apply x allow-all-to-a '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{}]}'
	settle
	reach_all 1; reach "*" "x/b" 0; reach "*" "x/c" 0; loopback
	check tcp 80
	finish
fi

if begin "should enforce policy to allow ingress traffic from pods in all namespaces"; then
	apply x allow-from-another-ns '{"podSelector":{"matchLabels":{}},"ingress":[{"from":[{"namespaceSelector":{}}]}]}'
	settle
	reach_all 1
	check tcp 80
	finish
fi

if begin "should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector"; then
	apply x allow-client-a-via-ns-selector '{"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns":"y"}}}]}]}'
	settle
	reach_all 1; reach "x/*" "x/*" 0; reach "z/*" "x/*" 0; loopback
	check tcp 80
	finish
fi

if begin "should enforce policy based on PodSelector with MatchExpressions"; then
	apply x allow-client-a-via-pod-selector-with-match-expressions '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchExpressions":[{"key":"pod","operator":"In","values":["b"]}]}}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; reach "x/b" "x/a" 1; loopback
	check tcp 80
	finish
fi

if begin "should enforce policy based on NamespaceSelector with MatchExpressions"; then
	apply x allow-ns-y-match-selector '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchExpressions":[{"key":"ns","operator":"In","values":["y"]}]}}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; reach "y/*" "x/a" 1; loopback
	check tcp 80
	finish
fi

if begin "should enforce policy based on PodSelector or NamespaceSelector"; then
	apply x allow-ns-y-match-selector '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchExpressions":[{"key":"ns","operator":"NotIn","values":["x"]}]}},{"podSelector":{"matchLabels":{"pod":"b"}}}]}]}'
	settle
	reach_all 1; reach "x/c" "x/a" 0
	check tcp 80
	finish
fi

if begin "should enforce policy based on PodSelector and NamespaceSelector"; then
	apply x allow-ns-y-podselector-and-nsselector '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchExpressions":[{"key":"ns","operator":"NotIn","values":["x"]}]},"podSelector":{"matchLabels":{"pod":"b"}}}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; reach "y/b" "x/a" 1; reach "z/b" "x/a" 1; loopback
	check tcp 80
	finish
fi

if begin "should enforce policy based on Multiple PodSelectors and NamespaceSelectors"; then
	apply x allow-z-ns-or-multiple-pods '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchExpressions":[{"key":"ns","operator":"NotIn","values":["x"]}]},"podSelector":{"matchExpressions":[{"key":"pod","operator":"In","values":["b","c"]}]}}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; reach "*/b" "x/a" 1; reach "*/c" "x/a" 1
	reach "x/b" "x/a" 0; reach "x/c" "x/a" 0; loopback
	check tcp 80
	finish
fi

if begin "should enforce policy based on any PodSelectors"; then
	apply x allow-ns-x-pod-b-or-c '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}},{"podSelector":{"matchLabels":{"pod":"c"}}}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; reach "x/b" "x/a" 1; reach "x/c" "x/a" 1; loopback
	check tcp 80
	finish
fi

if begin "should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector"; then
	apply x allow-ns-y-pod-a-via-namespace-pod-selector '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns":"y"}},"podSelector":{"matchLabels":{"pod":"a"}}}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; reach "y/a" "x/a" 1; loopback
	check tcp 80
	finish
fi

if begin "should enforce policy based on Ports"; then
	apply x allow-ingress-on-port-81-ns-x '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns":"y"}}}],"ports":[{"port":81,"protocol":"TCP"}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; loopback
	check tcp 80
	reach "y/*" "x/a" 1
	check tcp 81
	finish
fi

if begin "should enforce multiple, stacked policies with overlapping podSelectors"; then
	apply x allow-ingress-on-port-80 '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns":"y"}}}],"ports":[{"port":80,"protocol":"TCP"}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; loopback
	check tcp 81
	apply x allow-ingress-on-port-81 '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns":"y"}}}],"ports":[{"port":81,"protocol":"TCP"}]}]}'
	settle
	reach "y/*" "x/a" 1
	check tcp 81
	finish
fi

if begin "should support allow-all policy"; then
	apply x allow-all '{"podSelector":{},"ingress":[{}]}'
	settle
	reach_all 1
	check tcp 80; check tcp 81
	finish
fi

if begin "should allow ingress access on one named port"; then
	apply x allow-all '{"podSelector":{},"ingress":[{"ports":[{"port":"serve-81-tcp"}]}]}'
	settle
	reach_all 1
	check tcp 81
	reach "*" "x/*" 0; loopback
	check tcp 80
	finish
fi

if begin "should allow ingress access from namespace on one named port"; then
	apply x allow-client-in-ns-y-on-named-port '{"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns":"y"}}}],"ports":[{"port":"serve-80-tcp"}]}]}'
	settle
	reach_all 1; reach "x/*" "x/*" 0; reach "z/*" "x/*" 0; loopback
	check tcp 80
	reach "y/*" "x/*" 0; loopback
	check tcp 81
	finish
fi

if begin "should allow egress access on one named port"; then
	apply x allow-egress '{"podSelector":{},"policyTypes":["Egress"],"egress":[{"ports":[{"port":"serve-80-udp","protocol":"UDP"}]}]}'
	settle
	reach_all 1
	check udp 80
	reach "x/*" "*" 0; loopback
	check udp 81
	finish
fi

if begin "[sluice] named port resolved per destination pod (egress)"; then
	# "web" is 80 on x and z pods but 81 on y pods.
	apply x egress-web '{"podSelector":{"matchLabels":{"pod":"a"}},"policyTypes":["Egress"],"egress":[{"ports":[{"port":"web"}]}]}'
	settle
	reach_all 1; reach "x/a" "y/*" 0; loopback
	check tcp 80
	reach_all 1; reach "x/a" "*" 0; reach "x/a" "y/*" 1; loopback
	check tcp 81
	finish
fi

if begin "[sluice] named port resolved on each server pod (ingress)"; then
	apply x ingress-web '{"podSelector":{},"ingress":[{"ports":[{"port":"web"}]}]}'
	apply y ingress-web '{"podSelector":{},"ingress":[{"ports":[{"port":"web"}]}]}'
	settle
	reach_all 1; reach "*" "y/*" 0; loopback
	check tcp 80
	reach_all 1; reach "*" "x/*" 0; loopback
	check tcp 81
	finish
fi

if begin "should enforce updated policy"; then
	apply x allow-all-mutate-to-deny-all '{"podSelector":{},"ingress":[{}]}'
	settle
	reach_all 1
	check tcp 81
	apply x allow-all-mutate-to-deny-all '{"podSelector":{},"ingress":[]}'
	settle
	reach "*" "x/*" 0; loopback
	check tcp 81
	finish
fi

if begin "should allow ingress access from updated namespace"; then
	apply x allow-client-a-via-ns-selector '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns2":"updated"}}}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; loopback
	check tcp 80
	RELABELLED=1
	feed_ok "$CASE: relabel y" "$(ns_json y '{"ns2":"updated"}')"
	settle
	reach "y/*" "x/a" 1
	check tcp 80
	finish
fi

if begin "should allow ingress access from updated pod"; then
	apply x allow-client-a-via-pod-selector '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b","pod2":"updated"}}}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; loopback
	check tcp 80
	RELABELLED=1
	feed_ok "$CASE: relabel x/b" "$(pod_json x b '{"pod2":"updated"}')"
	settle
	reach "x/b" "x/a" 1
	check tcp 80
	finish
fi

if begin "should deny ingress from pods on other namespaces"; then
	apply x deny-empty-policy '{"podSelector":{},"ingress":[{"from":[{"podSelector":{}}]}]}'
	settle
	reach_all 1; reach "y/*" "x/*" 0; reach "z/*" "x/*" 0
	check tcp 80
	finish
fi

if begin "should deny ingress access to updated pod"; then
	apply x deny-ingress-via-isolated-label-selector '{"podSelector":{"matchLabels":{"target":"isolated"}},"policyTypes":["Ingress"]}'
	settle
	reach_all 1
	check tcp 80
	RELABELLED=1
	feed_ok "$CASE: relabel x/a" "$(pod_json x a '{"target":"isolated"}')"
	settle
	reach "*" "x/a" 0; loopback
	check tcp 80
	finish
fi

if begin "should deny egress from pods based on PodSelector"; then
	apply x deny-egress-pod-a '{"podSelector":{"matchLabels":{"pod":"a"}},"policyTypes":["Egress"]}'
	settle
	reach_all 1; reach "x/a" "*" 0; loopback
	check tcp 80
	finish
fi

if begin "should deny egress from all pods in a namespace"; then
	apply x deny-egress-ns-x '{"podSelector":{},"policyTypes":["Egress"]}'
	settle
	reach_all 1; reach "x/*" "*" 0; loopback
	check tcp 80
	finish
fi

if begin "should work with Ingress, Egress specified together"; then
	apply x allow-client-a-via-pod-selector '{"podSelector":{"matchLabels":{"pod":"a"}},"policyTypes":["Ingress","Egress"],"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}}]}],"egress":[{"ports":[{"port":80,"protocol":"TCP"}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; reach "x/b" "x/a" 1; loopback
	check tcp 80
	reach "x/a" "*" 0; loopback
	check tcp 81
	finish
fi

if begin "should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)"; then
	apply y allow-all-ingress '{"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{}}]}]}'
	apply x allow-egress-to-z '{"podSelector":{"matchLabels":{"pod":"a"}},"policyTypes":["Egress"],"egress":[{"to":[{"namespaceSelector":{"matchLabels":{"ns":"z"}}}]}]}'
	settle
	reach_all 1; reach "x/a" "*" 0; reach "x/a" "z/*" 1; loopback
	check tcp 80
	finish
fi

if begin "should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector"; then
	apply x allow-to-ns-y-pod-a '{"podSelector":{"matchLabels":{"pod":"a"}},"policyTypes":["Egress"],"egress":[{"to":[{"namespaceSelector":{"matchLabels":{"ns":"y"}},"podSelector":{"matchLabels":{"pod":"a"}}}]}]}'
	settle
	reach_all 1; reach "x/a" "*" 0; reach "x/a" "y/a" 1; loopback
	check tcp 80
	finish
fi

if begin "should enforce ingress policy allowing any port traffic to a server on a specific protocol"; then
	apply x allow-ingress-by-proto '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"ports":[{"protocol":"TCP"}]}]}'
	settle
	reach_all 1
	check tcp 80; check tcp 81
	reach "*" "x/a" 0; loopback
	check udp 80
	finish
fi

if begin "should enforce multiple ingress policies with ingress allow-all policy taking precedence"; then
	apply x allow-only-port-80 '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"ports":[{"port":80,"protocol":"TCP"}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; loopback
	check tcp 81
	apply x allow-all '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{}]}'
	settle
	reach_all 1
	check tcp 81
	finish
fi

if begin "should enforce multiple egress policies with egress allow-all policy taking precedence"; then
	apply x allow-egress-port-80 '{"podSelector":{"matchLabels":{"pod":"a"}},"policyTypes":["Egress"],"egress":[{"ports":[{"port":80,"protocol":"TCP"}]}]}'
	settle
	reach_all 1; reach "x/a" "*" 0; loopback
	check tcp 81
	apply x allow-all-egress '{"podSelector":{"matchLabels":{"pod":"a"}},"policyTypes":["Egress"],"egress":[{}]}'
	settle
	reach_all 1
	check tcp 81
	finish
fi

if begin "should stop enforcing policies after they are deleted"; then
	apply x deny-all '{"podSelector":{},"policyTypes":["Ingress","Egress"]}'
	settle
	reach_all 1; reach "*" "x/*" 0; reach "x/*" "*" 0; loopback
	check tcp 80
	delete_policy x deny-all
	settle
	reach_all 1
	check tcp 80
	finish
fi

if begin "should allow egress access to server in CIDR block"; then
	apply x allow-client-a-via-cidr-egress-rule "$(jq -cn --arg c "${IP[y/b]}/32" \
		'{podSelector:{matchLabels:{pod:"a"}},policyTypes:["Egress"],egress:[{to:[{ipBlock:{cidr:$c}}]}]}')"
	settle
	reach_all 1; reach "x/a" "*" 0; reach "x/a" "y/b" 1; loopback
	check tcp 80
	finish
fi

if begin "should enforce except clause while egress access to server in CIDR block"; then
	apply x deny-client-a-via-except-cidr-egress-rule "$(jq -cn --arg c "$CIDR" --arg e "${IP[y/b]}/32" \
		'{podSelector:{matchLabels:{pod:"a"}},policyTypes:["Egress"],egress:[{to:[{ipBlock:{cidr:$c,except:[$e]}}]}]}')"
	settle
	reach_all 1; reach "x/a" "y/b" 0
	check tcp 80
	finish
fi

if begin "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed"; then
	apply x deny-client-a-via-except-cidr-egress-rule "$(jq -cn --arg c "$CIDR" --arg e "${IP[y/b]}/32" \
		'{podSelector:{matchLabels:{pod:"a"}},policyTypes:["Egress"],egress:[{to:[{ipBlock:{cidr:$c,except:[$e]}}]}]}')"
	settle
	reach_all 1; reach "x/a" "y/b" 0
	check tcp 80
	apply x allow-client-a-via-cidr-egress-rule "$(jq -cn --arg c "${IP[y/b]}/32" \
		'{podSelector:{matchLabels:{pod:"a"}},policyTypes:["Egress"],egress:[{to:[{ipBlock:{cidr:$c}}]}]}')"
	settle
	reach_all 1
	check tcp 80
	finish
fi

if begin "[sluice] ingress ipBlock with except applies to pod IPs"; then
	apply x from-cidr-except "$(jq -cn --arg c "$CIDR" --arg e1 "${IP[y/b]}/32" --arg e2 "${IP[z/c]}/32" \
		'{podSelector:{},ingress:[{from:[{ipBlock:{cidr:$c,except:[$e1,$e2]}}],ports:[{port:80}]}]}')"
	settle
	reach_all 1; reach "*" "x/*" 1; reach "y/b" "x/*" 0; reach "z/c" "x/*" 0
	check tcp 80
	reach "*" "x/*" 0; loopback
	check tcp 81
	finish
fi

if begin "should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector"; then
	apply x deny-egress-a '{"podSelector":{"matchLabels":{"pod":"a"}},"policyTypes":["Egress"]}'
	apply x deny-ingress-b '{"podSelector":{"matchLabels":{"pod":"b"}},"policyTypes":["Ingress"]}'
	settle
	reach_all 1; reach "x/a" "*" 0; reach "*" "x/b" 0; loopback
	check tcp 80
	finish
fi

if begin "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP"; then
	apply x allow-only-sctp-ingress '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"ports":[{"port":80,"protocol":"SCTP"}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; loopback
	check tcp 80
	finish
fi

if begin "should not allow access by TCP when a policy specifies only UDP"; then
	apply x allow-only-udp-ingress '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"ports":[{"port":81,"protocol":"UDP"}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; loopback
	check tcp 81
	reach_all 1
	check udp 81
	finish
fi

if begin "should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label"; then
	apply x allow-client-a-via-ns-selector-for-immutable-ns-label '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"y"}}}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; reach "y/*" "x/a" 1; loopback
	check tcp 80
	finish
fi

if begin "should enforce policy based on NamespaceSelector with MatchExpressions using default ns label"; then
	apply x allow-client-a-via-ns-selector-with-match-expressions '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["y"]}]}}]}]}'
	settle
	reach_all 1; reach "y/*" "x/a" 0
	check tcp 80
	finish
fi

if begin "should enforce policy based on Ports range (endPort)"; then
	apply x allow-ingress-port-range '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns":"y"}}}],"ports":[{"port":81,"endPort":82,"protocol":"TCP"}]}]}'
	settle
	reach_all 1; reach "*" "x/a" 0; loopback
	check tcp 80
	reach "y/*" "x/a" 1
	check tcp 81
	finish
fi

if begin "[sluice] endPort covering both ports, UDP"; then
	apply x allow-udp-range '{"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns":"z"}}}],"ports":[{"port":80,"endPort":81,"protocol":"UDP"}]}]}'
	settle
	reach_all 1; reach "*" "x/*" 0; reach "z/*" "x/*" 1; loopback
	check udp 80; check udp 81
	reach "z/*" "x/*" 0; loopback
	check tcp 80
	finish
fi

if begin "[sluice] stateful: replies pass though the client's ingress is isolated"; then
	apply x deny-ingress '{"podSelector":{},"policyTypes":["Ingress"]}'
	apply y deny-egress '{"podSelector":{},"policyTypes":["Egress"]}'
	settle
	reach_all 1; reach "*" "x/*" 0; reach "y/*" "*" 0; loopback
	# x -> z: x's ingress is isolated, yet the replies from z come back;
	# z -> y: y's egress is isolated, yet y's replies go out.
	check tcp 80; check udp 81
	finish
fi

if begin "[sluice] Service traffic is judged on the backend pod, after translation"; then
	VIP=10.96.100.10
	svc=$(jq -cn --arg ip "$VIP" '{apiVersion:"v1",kind:"Service",metadata:{namespace:"x",name:"web"},
		spec:{clusterIP:$ip,ports:[{name:"http",port:8080,targetPort:80,protocol:"TCP"}]}}')
	slice=$(jq -cn --arg ip "${IP[x/a]}" '{apiVersion:"discovery.k8s.io/v1",kind:"EndpointSlice",
		metadata:{namespace:"x",name:"web-1",labels:{"kubernetes.io/service-name":"web"}},
		addressType:"IPv4",ports:[{name:"http",port:80,protocol:"TCP"}],
		endpoints:[{addresses:[$ip],conditions:{ready:true}}]}')
	if feed_ok "$CASE: Service x/web" "$svc" "$slice"; then
		apply x web-from-b '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}}],"ports":[{"port":80}]}]}'
		settle
		expect_reach "$CASE: x/b -> Service -> x/a:80 allowed" pod x b tcp "$VIP" 8080 x-a
		expect_no_reach "$CASE: y/b -> Service -> x/a:80 denied" pod y b tcp "$VIP" 8080
		expect_no_reach "$CASE: x/c -> Service -> x/a:80 denied" pod x c tcp "$VIP" 8080
		feed_ok "$CASE: delete Service" \
			"$(jq -c '{type:"DELETED",object:.}' <<<"$slice")" "$(jq -c '{type:"DELETED",object:.}' <<<"$svc")"
	fi
	finish
fi

if begin "[sluice] policies keep working while sluiced restarts"; then
	apply x deny-ingress '{"podSelector":{},"policyTypes":["Ingress"]}'
	settle
	reach_all 1; reach "*" "x/*" 0; loopback
	sluiced_stop "$NODE" TERM
	check tcp 80
	if expect_ok "$CASE: sluiced restarts" sluiced_start "$NODE"; then
		settle
		check tcp 80
		delete_policy x deny-ingress
		settle
		reach_all 1
		check tcp 80
	fi
	finish
fi

# ---- observability --------------------------------------------------------------

if begin "[sluice] drops counted, traced and explained"; then
	# Counted by the program that dropped: from_pod (dir egress) when the
	# client is a local pod, to_pod (dir ingress) otherwise.
	before=$(( $(metric "$NODE" policy-denied-ingress ingress) + $(metric "$NODE" policy-denied-ingress egress) ))
	apply x deny-ingress '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"b"}}}],"ports":[{"port":80}]}]}'
	settle
	# The verdict event names the policy (index << 12 | rule; rule 0 = the
	# isolating policy, no rule allowed).
	mon=$E2E_ROOT/monitor.json
	# (The ring buffer also holds earlier cases' events: filter on ours.)
	cnictl_j "$NODE" monitor --type policy >"$mon" 2>&1 &
	monpid=$!
	sleep 0.5
	probe pod y a tcp "${IP[x/a]}" 80 >/dev/null
	sleep 0.5
	kill "$monpid" 2>/dev/null; wait "$monpid" 2>/dev/null
	idx=$(cnictl_j "$NODE" policy list | jq -r '.[] | select(.name == "deny-ingress") | .index')
	expect_eq "$CASE: verdict event names the policy" \
		"$(jq -r --arg s "${IP[y/a]}" --arg d "${IP[x/a]}" \
			'select(.src? == $s and .dst? == $d and .dport? == 80)
			 | "\(.reason) \(.policy)"' "$mon" 2>/dev/null | tail -n1)" \
		"policy-denied-ingress $((idx * 4096))"
	after=$(( $(metric "$NODE" policy-denied-ingress ingress) + $(metric "$NODE" policy-denied-ingress egress) ))
	expect_ge "$CASE: policy-denied-ingress counted" "$after" $((before + 1))
	tr=$(cnictl_j "$NODE" policy trace --from y/a --to x/a --port 80/TCP)
	expect_eq "$CASE: trace y/a -> x/a denied by ingress" \
		"$(jq -r '"\(.verdict) \(.decidedBy) \(.ingress.policy) \(.ingress.rule)"' <<<"$tr")" \
		"denied ingress x/deny-ingress 0"
	tr=$(cnictl_j "$NODE" policy trace --from x/b --to x/a --port 80/TCP)
	expect_eq "$CASE: trace x/b -> x/a allowed by rule 1" \
		"$(jq -r '"\(.verdict) \(.ingress.policy) \(.ingress.rule) \(.ingress.match) \(.ingress.source)"' <<<"$tr")" \
		"allowed x/deny-ingress 1 identity maps"
	tr=$(cnictl_j "$NODE" policy trace --from "${IP[x/b]}" --to x/a --port 81/TCP)
	expect_eq "$CASE: trace by IP, other port denied" "$(jq -r '.verdict' <<<"$tr")" "denied"
	pl=$(cnictl_j "$NODE" policy get x/deny-ingress)
	expect_eq "$CASE: policy get resolves selected pods and peers" \
		"$(jq -c '[.selectedPods, [.ingress[0].peers[0].identities[].pods[]]]' <<<"$pl")" \
		'[["x/a"],["x/b"]]'
	expect_eq "$CASE: policy list" "$(cnictl_j "$NODE" policy list | jq -r 'map("\(.namespace)/\(.name)") | join(",")')" \
		"x/deny-ingress"
	dump=$(cnictl_j "$NODE" bpf map dump sluice_pol_ep)
	expect_match "$CASE: sluice_pol_ep decoded" "$dump" '"isolated":\["ingress"\]'
	expect_match "$CASE: sluice_pol_exact decoded" "$(cnictl_j "$NODE" bpf map dump sluice_pol_exact)" '"ports":"80"'
	finish
fi

# Kubelet creates the Pod object (labels, no IP yet) before the sandbox: the
# endpoint is compiled into policy before its ADD returns, so even the first
# packet of a pod in an isolated namespace is judged.
if begin "[sluice] a new pod in an isolated namespace is isolated when its ADD returns"; then
	apply x deny-egress '{"podSelector":{},"policyTypes":["Egress"]}'
	settle
	feed_ok "$CASE: Pod x/e before its sandbox" "$(jq -cn --arg node "$NODE" \
		'{apiVersion:"v1",kind:"Pod",metadata:{namespace:"x",name:"e",labels:{pod:"e"}},
		  spec:{nodeName:$node,containers:[{name:"c",image:"busybox"}]},status:{phase:"Pending"}}')"
	if pod_add "$NODE" x e >/dev/null; then
		expect_no_reach "$CASE: x/e -> x/a denied from its first packet" pod x e tcp "${IP[x/a]}" 80
	else
		e2e_failed "$CASE: add x/e" "$CNI_ERR"
	fi
	finish
fi

if begin "[sluice] a pod appearing is selected and matched within 1 s"; then
	apply x allow-from-d '{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"pod":"d"}}}]}]}'
	settle
	if pod_add "$NODE" x d >/dev/null; then
		IP[x/d]=$(pod_ip x d)
		expect_no_reach "$CASE: x/d before its Pod object" pod x d tcp "${IP[x/a]}" 80
		feed_ok "$CASE: Pod x/d" "$(pod_json x d)"
		settle
		expect_reach "$CASE: x/d -> x/a allowed" pod x d tcp "${IP[x/a]}" 80 x-a
		expect_no_reach "$CASE: x/b -> x/a still denied" pod x b tcp "${IP[x/a]}" 80
	else
		e2e_failed "$CASE: add x/d" "$CNI_ERR"
	fi
	finish
fi

e2e_finish
