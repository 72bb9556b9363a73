#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deploy/feeder.sh against the real sluiced, with a stand-in kubectl that
# answers `get --raw` with API-server-shaped Lists (items without kind, as
# the API sends them) and watch streams. Checks that what the feeder produces
# is accepted, that its initial-events-end BOOKMARK collects objects the list
# did not contain, and that watch events (ADDED, DELETED) apply.
#
#   fake kubectl ──(List, BOOKMARK, watch events)──▶ deploy/feeder.sh
#                                                       │ one socat per kind
#   ┌────────── node1 netns ──────────┐                 ▼
#   │ sluiced ◀── sluiced.sock ◀──────┼──────────────────┘
#   └─────────────────────────────────┘
source "$(dirname "$0")/lib.sh"

expect_ok "sluiced starts" node_up node1 || e2e_finish
fake=$E2E_ROOT/fake-kube
mkdir -p "$fake/bin" "$fake/data"

pod() {
	jq -cn --arg ns "$1" --arg n "$2" --arg ip "$3" --arg rv "$4" '{metadata:{namespace:$ns, name:$n,
		uid:("uid-" + $n), resourceVersion:$rv, labels:{app:$n}},
		spec:{nodeName:"node1", containers:[{name:"c"}]},
		status:{phase:"Running", podIP:$ip, podIPs:[{ip:$ip}]}}'
}
# Lists as the API server returns them: items carry no kind/apiVersion.
jq -n '{kind:"NamespaceList", apiVersion:"v1", metadata:{resourceVersion:"100"},
	items:[{metadata:{name:"default", resourceVersion:"5", labels:{"kubernetes.io/metadata.name":"default"}}},
	       {metadata:{name:"web", resourceVersion:"6", labels:{"kubernetes.io/metadata.name":"web", team:"a"}}}]}' \
	>"$fake/data/namespaces"
jq -n --argjson a "$(pod web a 10.244.1.10 10)" --argjson b "$(pod web b 10.244.1.11 11)" \
	'{kind:"PodList", apiVersion:"v1", metadata:{resourceVersion:"100"}, items:[$a, $b]}' >"$fake/data/pods"
jq -n '{kind:"NodeList", apiVersion:"v1", metadata:{resourceVersion:"100"},
	items:[{metadata:{name:"node1", resourceVersion:"3"}, spec:{podCIDR:"10.244.1.0/24", podCIDRs:["10.244.1.0/24"]},
	        status:{addresses:[{type:"InternalIP", address:"192.0.2.10"}]}}]}' >"$fake/data/nodes"
for k in services endpointslices networkpolicies; do
	jq -n '{kind:"List", apiVersion:"v1", metadata:{resourceVersion:"100"}, items:[]}' >"$fake/data/$k"
done
# The pod watch: c appears, a goes away.
{
	jq -cn --argjson o "$(pod web c 10.244.1.12 101)" '{type:"ADDED", object:($o + {kind:"Pod", apiVersion:"v1"})}'
	jq -cn --argjson o "$(pod web a 10.244.1.10 102)" '{type:"DELETED", object:($o + {kind:"Pod", apiVersion:"v1"})}'
} >"$fake/data/pods.watch"

cat >"$fake/bin/kubectl" <<EOF
#!/bin/sh
# stand-in: kubectl get --raw PATH
[ "\$1 \$2" = "get --raw" ] || { echo "fake kubectl: unexpected \$*" >&2; exit 1; }
path=\${3%%\?*}
res=\${path##*/}
echo "\$3" >>"$fake/requests"
case \$3 in
*watch=1*) [ -f "$fake/data/\$res.watch" ] && cat "$fake/data/\$res.watch"; exec sleep 60 ;;
*) exec cat "$fake/data/\$res" ;;
esac
EOF
chmod +x "$fake/bin/kubectl"

# A Pod the cluster no longer has: the feeder's first list must collect it.
stale=$(pod web stale 10.244.1.99 1 | jq -c '. + {kind:"Pod", apiVersion:"v1"}')
expect_eq "a stale pod fed before the feeder starts" "$(feed node1 <<<"$stale" | jq -r .ok)" true
objects() { request node1 '{"request":"status"}' | jq -r --arg k "$1" '.status.objects[$k] // 0'; }
expect_eq "controller knows 1 pod" "$(objects Pod)" 1

SLUICE_SOCKET=$(node_socket node1) KUBECTL=$fake/bin/kubectl \
	setsid "$E2E_REPO/deploy/feeder.sh" >"$E2E_ROOT/feeder.log" 2>&1 &
feeder=$!
E2E_PGIDS+=("$feeder")

pods_are() { [ "$(objects Pod)" = "$1" ]; }
expect_ok "list + watch converge: b and c, not a (deleted) nor stale (not listed)" retry_until 15 pods_are 2
expect_eq "namespaces from the list" "$(objects Namespace)" 2
expect_eq "node from the list" "$(objects Node)" 1
expect_eq "every kind was listed and watched" \
	"$(grep -c 'watch=1&allowWatchBookmarks=true&resourceVersion=100' "$fake/requests")" 6
expect_eq "the feeder reported no error from sluiced" "$(grep -c '"ok":false' "$E2E_ROOT/feeder.log")" 0
ids=$(request node1 '{"request":"identity.list"}')
e2e_log "identities: $(jq -c .identities <<<"$ids")"
expect_eq "identities cover b and c only" \
	"$(jq -c '[.identities[].pods[]?] | map(tostring) | sort' <<<"$ids" | tr -d ' ')" \
	"$(jq -cn '["web/b","web/c"]')"

# The feeder's process group: setsid made it the leader.
kill -TERM -- "-$feeder" 2>/dev/null
sed 's/^/#   feeder: /' "$E2E_ROOT/feeder.log" | head -n 20
e2e_finish
