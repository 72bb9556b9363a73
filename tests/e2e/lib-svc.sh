# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Helpers for the Service end-to-end tests (svc_*.sh): Service and
# EndpointSlice objects as the API server would send them, fed through the
# node's socket. Source after lib.sh.

# svc_obj NS NAME CLUSTER_IP PORTS_JSON [EXTRA_SPEC_JSON]: a v1 Service.
# PORTS_JSON e.g. '[{"name":"http","port":80,"targetPort":8080}]'.
svc_obj() {
	local extra=${5:-}
	[ -n "$extra" ] || extra='{}'
	jq -cn --arg ns "$1" --arg n "$2" --arg ip "$3" --argjson ports "$4" \
		--argjson extra "$extra" \
		'{apiVersion:"v1",kind:"Service",metadata:{namespace:$ns,name:$n},
		  spec:({clusterIP:$ip,ports:$ports} + $extra)}'
}

# ep IP [READY [NODE [SERVING [TERMINATING]]]]: one endpoint; "nil" leaves a
# condition out (the API's unknown).
ep() {
	jq -cn --arg ip "$1" --arg r "${2:-true}" --arg node "${3:-}" --arg s "${4:-nil}" \
		--arg t "${5:-nil}" \
		'def c($v): if $v == "nil" then null else ($v == "true") end;
		 {addresses:[$ip], conditions:({ready:c($r), serving:c($s), terminating:c($t)}
		   | with_entries(select(.value != null)))}
		 + (if $node == "" then {} else {nodeName:$node} end)'
}

# slice_obj NS NAME SERVICE PORTS_JSON EP_JSON...: a discovery/v1
# EndpointSlice of IPv4 endpoints. PORTS_JSON e.g. '[{"name":"http","port":8080}]'.
slice_obj() {
	local ns=$1 name=$2 svc=$3 ports=$4; shift 4
	local eps="[]"
	[ $# -gt 0 ] && eps=$(printf '%s\n' "$@" | jq -cs .)
	jq -cn --arg ns "$ns" --arg n "$name" --arg s "$svc" --argjson ports "$ports" \
		--argjson eps "$eps" \
		'{apiVersion:"discovery.k8s.io/v1",kind:"EndpointSlice",
		  metadata:{namespace:$ns,name:$n,labels:{"kubernetes.io/service-name":$s}},
		  addressType:"IPv4",endpoints:$eps,ports:$ports}'
}

# apply NODE VALUE...: feeds every value; fails (printing the replies)
# unless each one is answered {"ok":true}.
apply() {
	local node=$1 out; shift
	out=$(printf '%s\n' "$@" | feed "$node")
	if [ "$(grep -c '"ok":true' <<<"$out")" -ne $# ]; then
		printf '%s\n' "$out" >&2
		return 1
	fi
}

# delete_obj NODE VALUE: a DELETED watch event for VALUE.
delete_obj() {
	apply "$1" "$(jq -c '{type:"DELETED",object:.}' <<<"$2")"
}

# answers N WHERE... PROTO IP PORT: N probes; prints the sorted distinct
# replies (empty replies as "none"), one per line.
answers() {
	local n=$1 i; shift
	for ((i = 0; i < n; i++)); do
		probe "$@" || echo none
	done | sort -u
}

# svc_active NODE NS/NAME: the active backends of the Service's first
# frontend as "ip:port" lines, from cnictl -o json service get.
svc_active() {
	cnictl_j "$1" service get "$2" |
		jq -r '.frontends[0].backends[] | select(.active) | "\(.address):\(.port)"' | sort
}

# oneline: joins stdin's lines with single spaces (for logs and regexes).
oneline() { paste -sd' ' -; }
